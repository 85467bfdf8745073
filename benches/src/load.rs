//! A load driver for live tests: concurrent clients on a small key space that
//! record a history in the JSON Lines shape of docs/design.md ("Histories"), for
//! `synod-sim check` to audit. `scripts/nemesis.sh` runs it (as `synod-bench load`)
//! while it injects faults.
//!
//! Each client has one operation outstanding at a time (get / set / cas / del
//! on keys `k0..k{keys-1}`), with values unique over the whole run. Outcomes:
//! - a reply → `ok` (a CAS that did not swap is `fail` with `"error":"mismatch"`,
//!   as docs/design.md says);
//! - `-FAILED ...` → `fail` (certainly not applied);
//! - anything else (`-UNKNOWN`, another error, a timeout, a dropped
//!   connection) → `info` for a write, `fail` for a read. After an `info` the
//!   client continues under a new process id, and always on a new connection
//!   (a late reply on the old one must never be taken for the next answer).
//!
//! Connecting is not part of an operation: an operation is invoked only on an
//! open connection, so a node that is down costs no history lines.
//!
//! Phases: the clients run until `--heal-file` appears (the nemesis has healed
//! every fault and every node votes); then, for `--post-heal-secs`, every
//! operation they invoke must succeed. One that does not is a *stuck operation
//! after heal* and makes the run fail. `--max-secs` bounds the whole run.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use serde_json::Value;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};
use synod::client::{Client, ClientError};

/// Process ids of system operations start here (docs/design.md); clients stay below.
const SYSTEM_PROCESS_BASE: u64 = 1_000_000;

/// What to run.
#[derive(Clone, Debug)]
pub struct LoadOptions {
    /// Client addresses of the nodes; clients spread over them.
    pub nodes: Vec<String>,
    /// Concurrent clients (one outstanding operation each).
    pub clients: usize,
    /// Keys `k0..k{keys-1}`.
    pub keys: usize,
    /// Where to write the history (JSON Lines).
    pub history: PathBuf,
    /// Seeds the operation mix.
    pub seed: u64,
    /// Connect, read and write timeout per operation.
    pub timeout: Duration,
    /// Pause between one client's operations.
    pub think: Duration,
    /// Once this file exists, the post-heal phase starts.
    pub heal_file: Option<PathBuf>,
    /// How long the post-heal phase lasts.
    pub post_heal: Duration,
    /// Stop after this long whatever happens (then `timed_out` is set).
    pub max: Duration,
}

/// Counts of one run.
#[derive(Clone, Debug, Default)]
pub struct LoadReport {
    pub ok: u64,
    pub fail: u64,
    pub info: u64,
    /// ok / fail / info per function: read, write, cas, delete.
    pub by_f: [[u64; 3]; 4],
    /// Operations invoked after the heal.
    pub post_heal_ops: u64,
    /// Of those, the ones that got no answer: timed out, connection lost, no
    /// quorum, refused (losing a race to a concurrent write is an answer).
    pub post_heal_stuck: u64,
    /// The first few of them, for people.
    pub post_heal_examples: Vec<String>,
    /// True if the heal file never appeared before `max`.
    pub timed_out: bool,
    /// Process ids used (clients plus replacements after an info).
    pub processes: u64,
    pub elapsed: Duration,
}

impl LoadReport {
    /// True if the run must fail: something stuck after heal, or no heal at all.
    pub fn failed(&self) -> bool {
        self.post_heal_stuck > 0 || self.timed_out
    }

    /// `key=value` lines, one per count (what `scripts/nemesis.sh` parses).
    pub fn to_lines(&self) -> String {
        let names = ["read", "write", "cas", "delete"];
        let mut s = format!(
            "ops_total={}\nops_ok={}\nops_fail={}\nops_unknown={}\n",
            self.ok + self.fail + self.info,
            self.ok,
            self.fail,
            self.info
        );
        for (i, n) in names.iter().enumerate() {
            let [o, f, u] = self.by_f[i];
            s.push_str(&format!("ops_{n}=ok:{o} fail:{f} unknown:{u}\n"));
        }
        s.push_str(&format!(
            "processes={}\npost_heal_ops={}\npost_heal_stuck={}\ntimed_out={}\nelapsed_s={:.1}\n",
            self.processes,
            self.post_heal_ops,
            self.post_heal_stuck,
            self.timed_out,
            self.elapsed.as_secs_f64()
        ));
        for e in &self.post_heal_examples {
            s.push_str(&format!("post_heal_stuck_example={e}\n"));
        }
        s
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Ty {
    Invoke,
    Ok,
    Fail,
    Info,
}

#[derive(Clone, Copy)]
enum Func {
    Read,
    Write,
    Cas,
    Delete,
}

impl Func {
    fn name(self) -> &'static str {
        match self {
            Func::Read => "read",
            Func::Write => "write",
            Func::Cas => "cas",
            Func::Delete => "delete",
        }
    }
    fn index(self) -> usize {
        self as usize
    }
}

/// A value or nil as the history's JSON.
fn json_opt(v: Option<&[u8]>) -> Value {
    v.map_or(Value::Null, |b| Value::from(String::from_utf8_lossy(b)))
}

/// One line of the history, fields in the order DESIGN's "Histories" gives.
#[derive(Serialize)]
struct Line<'a> {
    process: u64,
    #[serde(rename = "type")]
    ty: &'a str,
    f: &'a str,
    key: &'a str,
    value: &'a Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
    time: u64,
}

/// One writer under one lock: stamps the monotonic time and appends the line.
struct History {
    out: Mutex<BufWriter<File>>,
    start: Instant,
}

impl History {
    /// `mismatch`: a CAS that failed its comparison (it read another value).
    fn record(&self, process: u64, ty: Ty, f: Func, key: &str, value: &Value, mismatch: bool) {
        let ty = match ty {
            Ty::Invoke => "invoke",
            Ty::Ok => "ok",
            Ty::Fail => "fail",
            Ty::Info => "info",
        };
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        let time = self.start.elapsed().as_nanos() as u64;
        let line = Line {
            process,
            ty,
            f: f.name(),
            key,
            value,
            error: mismatch.then_some("mismatch"),
            time,
        };
        // A full disk shows at flush; the line order is what matters here.
        let _ = serde_json::to_writer(&mut *out, &line);
        let _ = writeln!(out);
    }
}

struct Shared {
    opts: LoadOptions,
    history: History,
    next_process: AtomicU64,
    /// Set once the heal file appears: (ns since start).
    healed_at: AtomicU64,
    stop: AtomicBool,
    report: Mutex<LoadReport>,
}

const NOT_HEALED: u64 = u64::MAX;

/// Runs the clients until the post-heal phase ends (or `max`); writes the history.
pub fn run(opts: LoadOptions) -> std::io::Result<LoadReport> {
    if opts.nodes.is_empty() || opts.clients == 0 || opts.keys == 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "need at least one node, one client and one key",
        ));
    }
    if opts.clients as u64 >= SYSTEM_PROCESS_BASE / 2 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "too many clients",
        ));
    }
    let file = File::create(&opts.history)?;
    let shared = Arc::new(Shared {
        history: History {
            out: Mutex::new(BufWriter::new(file)),
            start: Instant::now(),
        },
        next_process: AtomicU64::new(opts.clients as u64),
        healed_at: AtomicU64::new(NOT_HEALED),
        stop: AtomicBool::new(false),
        report: Mutex::new(LoadReport::default()),
        opts,
    });
    let workers: Vec<_> = (0..shared.opts.clients)
        .map(|i| {
            let s = Arc::clone(&shared);
            thread::Builder::new()
                .name(format!("load-client-{i}"))
                .spawn(move || client_loop(&s, i))
        })
        .collect::<Result<_, _>>()?;

    // The conductor: watch for the heal file, end the post-heal phase, bound the run.
    let start = shared.history.start;
    let mut timed_out = false;
    loop {
        thread::sleep(Duration::from_millis(50));
        let now = start.elapsed();
        let healed = shared.healed_at.load(Ordering::SeqCst);
        if healed == NOT_HEALED {
            if let Some(f) = &shared.opts.heal_file {
                if f.exists() {
                    shared
                        .healed_at
                        .store(now.as_nanos() as u64, Ordering::SeqCst);
                    continue;
                }
            } else {
                // No heal file: the whole run is "healed" from the start.
                shared.healed_at.store(0, Ordering::SeqCst);
                continue;
            }
        } else if now >= Duration::from_nanos(healed) + shared.opts.post_heal {
            break;
        }
        if now >= shared.opts.max {
            timed_out = shared.healed_at.load(Ordering::SeqCst) == NOT_HEALED;
            break;
        }
    }
    shared.stop.store(true, Ordering::SeqCst);
    for w in workers {
        let _ = w.join();
    }
    shared
        .history
        .out
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .flush()?;
    let mut r = shared
        .report
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    r.timed_out = timed_out;
    r.processes = shared.next_process.load(Ordering::SeqCst);
    r.elapsed = start.elapsed();
    Ok(r)
}

enum Outcome {
    Ok(Value),
    Fail,
    /// A CAS whose comparison failed: `fail`, with `"error":"mismatch"`.
    Mismatch,
    Info,
}

fn client_loop(s: &Shared, index: usize) {
    let o = &s.opts;
    let mut rng =
        ChaCha8Rng::seed_from_u64(s.opts.seed ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut process = index as u64;
    let mut seq: u64 = 0;
    let mut node = index % o.nodes.len();
    let mut conn: Option<Client> = None;
    // The last value this client saw per key: what its CASes expect.
    let mut seen: Vec<Option<Vec<u8>>> = vec![None; o.keys];
    while !s.stop.load(Ordering::SeqCst) {
        let c = match conn.as_mut() {
            Some(c) => c,
            None => match Client::connect_timeout(o.nodes[node].as_str(), o.timeout) {
                Ok(c) => conn.insert(c),
                Err(_) => {
                    node = (node + 1) % o.nodes.len();
                    thread::sleep(Duration::from_millis(50));
                    continue;
                }
            },
        };
        let k = rng.random_range(0..o.keys);
        let key = format!("k{k}");
        let roll = rng.random_range(0..100u32);
        let f = match roll {
            0..40 => Func::Read,
            40..70 => Func::Write,
            70..90 => Func::Cas,
            _ => Func::Delete,
        };
        seq += 1;
        let fresh = format!("c{index}-{seq}");
        let expected: Option<Vec<u8>> = if rng.random_range(0..4u32) == 0 {
            None
        } else {
            seen[k].clone()
        };
        let invoke_value = match f {
            Func::Read | Func::Delete => Value::Null,
            Func::Write => Value::from(fresh.as_str()),
            Func::Cas => Value::from(vec![
                json_opt(expected.as_deref()),
                Value::from(fresh.as_str()),
            ]),
        };
        let healed_at = s.healed_at.load(Ordering::SeqCst);
        let invoked_at = s.history.start.elapsed().as_nanos() as u64;
        let post_heal = healed_at != NOT_HEALED && invoked_at >= healed_at;
        s.history
            .record(process, Ty::Invoke, f, &key, &invoke_value, false);
        let result: Result<Outcome, ClientError> = match f {
            Func::Read => c.get(key.as_bytes()).map(|v| {
                let text = json_opt(v.as_deref());
                seen[k] = v;
                Outcome::Ok(text)
            }),
            Func::Write => c.set(key.as_bytes(), fresh.as_bytes()).map(|()| {
                seen[k] = Some(fresh.clone().into_bytes());
                Outcome::Ok(invoke_value.clone())
            }),
            Func::Cas => c
                .cas(key.as_bytes(), expected.as_deref(), fresh.as_bytes())
                .map(|swapped| {
                    if swapped {
                        seen[k] = Some(fresh.clone().into_bytes());
                        Outcome::Ok(invoke_value.clone())
                    } else {
                        Outcome::Mismatch
                    }
                }),
            Func::Delete => c.del(&[key.as_bytes()]).map(|n| {
                seen[k] = None;
                Outcome::Ok(Value::from(i64::from(n > 0)))
            }),
        };
        let mut drop_conn = false;
        let (outcome, why) = match result {
            Ok(out) => (out, String::new()),
            Err(e) if e.is_failed() => (Outcome::Fail, e.to_string()),
            Err(e) => {
                // Unknown outcome: a server's UNKNOWN, another error reply, or
                // the connection failing. Anything but a clean reply retires
                // this connection.
                drop_conn = !matches!(e, ClientError::Server(_));
                match f {
                    Func::Read => (Outcome::Fail, e.to_string()),
                    _ => (Outcome::Info, e.to_string()),
                }
            }
        };
        let (ty, value) = match &outcome {
            Outcome::Ok(v) => (Ty::Ok, v.clone()),
            Outcome::Fail | Outcome::Mismatch => (Ty::Fail, invoke_value.clone()),
            Outcome::Info => (Ty::Info, invoke_value.clone()),
        };
        let mismatch = matches!(outcome, Outcome::Mismatch);
        s.history.record(process, ty, f, &key, &value, mismatch);
        {
            let mut r = s.report.lock().unwrap_or_else(|p| p.into_inner());
            let slot = match ty {
                Ty::Ok => 0,
                Ty::Fail => 1,
                _ => 2,
            };
            match slot {
                0 => r.ok += 1,
                1 => r.fail += 1,
                _ => r.info += 1,
            }
            r.by_f[f.index()][slot] += 1;
            if post_heal {
                r.post_heal_ops += 1;
                // Answered: a success, a CAS whose comparison failed, or losing
                // a race to a concurrent write ("contended"). Stuck: no answer
                // in time, no quorum, or any other refusal.
                let answered = matches!(outcome, Outcome::Ok(_))
                    || (matches!(f, Func::Cas) && why.is_empty())
                    || why.contains("contended");
                if !answered {
                    r.post_heal_stuck += 1;
                    if r.post_heal_examples.len() < 5 {
                        r.post_heal_examples.push(format!(
                            "process {process} {} {key} via {}: {}",
                            f.name(),
                            o.nodes[node],
                            if why.is_empty() { "failed" } else { &why }
                        ));
                    }
                }
            }
        }
        if ty == Ty::Info {
            process = s.next_process.fetch_add(1, Ordering::SeqCst);
            drop_conn = true;
        }
        if drop_conn {
            conn = None;
            node = (node + 1) % o.nodes.len();
        } else if rng.random_range(0..50u32) == 0 {
            // Now and then move to another node, so every node coordinates.
            conn = None;
            node = rng.random_range(0..o.nodes.len());
        }
        if !o.think.is_zero() {
            thread::sleep(o.think);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_lines_are_json_in_the_documented_field_order() {
        let value = Value::from(vec![json_opt(None), Value::from("a\"b\n")]);
        let line = Line {
            process: 3,
            ty: "fail",
            f: "cas",
            key: "k1",
            value: &value,
            error: Some("mismatch"),
            time: 7,
        };
        assert_eq!(
            serde_json::to_string(&line).unwrap(),
            r#"{"process":3,"type":"fail","f":"cas","key":"k1","value":[null,"a\"b\n"],"error":"mismatch","time":7}"#
        );
    }

    #[test]
    fn refuses_nonsense() {
        let o = LoadOptions {
            nodes: vec![],
            clients: 1,
            keys: 1,
            history: PathBuf::from("/dev/null"),
            seed: 0,
            timeout: Duration::from_millis(10),
            think: Duration::ZERO,
            heal_file: None,
            post_heal: Duration::ZERO,
            max: Duration::from_millis(10),
        };
        assert!(run(o).is_err());
    }
}
