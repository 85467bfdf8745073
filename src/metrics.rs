//! What a node measures about the commands it answers, and how it shows it:
//! INFO `commandstats`, `errorstats` and `latencystats` in Redis 7's format,
//! SLOWLOG, and the Prometheus text exposition format (`--metrics-addr`).
//!
//! Pure: the runtime records each command once its reply is written
//! ([`Metrics::record`]) and asks for the text.

use crate::commands::{stats_fields, InfoSnapshot};
use crate::resp::Reply;
use hdrhistogram::Histogram;
use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;

/// How a command ended, as a client saw its reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    /// A normal reply.
    Ok,
    /// `-FAILED ...`: certainly not applied.
    Failed,
    /// `-UNKNOWN ...`: may have been applied.
    Unknown,
    /// Any other error reply (bad arguments, OOM, ...).
    Error,
}

impl Outcome {
    /// The outcome of a reply.
    pub fn of(reply: &Reply) -> Outcome {
        match reply {
            Reply::Error(e) if e.starts_with("FAILED") => Outcome::Failed,
            Reply::Error(e) if e.starts_with("UNKNOWN") => Outcome::Unknown,
            Reply::Error(_) => Outcome::Error,
            _ => Outcome::Ok,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Failed => "failed",
            Outcome::Unknown => "unknown",
            Outcome::Error => "error",
        }
    }
}

/// Upper bounds of the Prometheus latency buckets, in µs (50 µs to 10 s).
const BUCKETS_US: [u64; 16] = [
    50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000, 2_500_000, 10_000_000,
];

/// One command's counters.
#[derive(Clone, Debug)]
struct CommandStat {
    /// Replies by outcome.
    outcomes: BTreeMap<Outcome, u64>,
    usec: u64,
    /// Latency in µs, 1 µs to 1 hour at 3 significant digits.
    latency: Histogram<u64>,
}

impl CommandStat {
    fn new() -> CommandStat {
        CommandStat {
            outcomes: BTreeMap::new(),
            usec: 0,
            latency: Histogram::new_with_bounds(1, 3_600_000_000, 3)
                .expect("static histogram bounds are valid"),
        }
    }

    fn calls(&self) -> u64 {
        self.outcomes.values().sum()
    }
}

/// One SLOWLOG entry, as Redis keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlowEntry {
    pub id: u64,
    /// Unix time (s) the command started.
    pub at_s: u64,
    pub duration_us: u64,
    /// The command and its arguments: at most 32, each at most 128 bytes,
    /// as Redis trims them.
    pub args: Vec<Vec<u8>>,
    pub client_addr: String,
    pub client_name: String,
}

/// What a node keeps about the commands it answered.
#[derive(Clone, Debug, Default)]
pub struct Metrics {
    commands: BTreeMap<&'static str, CommandStat>,
    /// Error replies by their first word (ERR, OOM, FAILED, UNKNOWN, ...).
    errors: BTreeMap<String, u64>,
    slowlog: VecDeque<SlowEntry>,
    slowlog_next_id: u64,
}

/// Trims a command's arguments as Redis's SLOWLOG does.
pub fn slowlog_args(args: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = args
        .iter()
        .take(if args.len() > 32 { 31 } else { 32 })
        .map(|a| {
            if a.len() > 128 {
                let mut t = a[..128].to_vec();
                t.extend_from_slice(format!("... ({} more bytes)", a.len() - 128).as_bytes());
                t
            } else {
                a.clone()
            }
        })
        .collect();
    if args.len() > 32 {
        out.push(format!("... ({} more arguments)", args.len() - 31).into_bytes());
    }
    out
}

impl Metrics {
    /// Records one answered command: `name` None for an unknown command
    /// (counted in errorstats only, as Redis does).
    pub fn record(&mut self, name: Option<&'static str>, reply: &Reply, duration_us: u64) {
        let outcome = Outcome::of(reply);
        if let Reply::Error(e) = reply {
            let word = e.split(' ').next().unwrap_or("ERR");
            let word = if word.is_empty() { "ERR" } else { word };
            // Bounded: Redis caps distinct error codes at 128; past that, ERR.
            let word = if self.errors.len() >= 128 && !self.errors.contains_key(word) {
                "ERR"
            } else {
                word
            };
            *self.errors.entry(word.to_string()).or_default() += 1;
        }
        let Some(name) = name else { return };
        let stat = self.commands.entry(name).or_insert_with(CommandStat::new);
        *stat.outcomes.entry(outcome).or_default() += 1;
        stat.usec += duration_us;
        stat.latency.saturating_record(duration_us.max(1));
    }

    /// Adds a SLOWLOG entry if `duration_us` exceeds the threshold (µs; -1:
    /// never), keeping at most `max_len`.
    pub fn maybe_slow(
        &mut self,
        slower_than_us: i64,
        max_len: usize,
        entry: impl FnOnce(u64) -> SlowEntry,
        duration_us: u64,
    ) {
        if slower_than_us < 0 || duration_us < slower_than_us as u64 {
            return;
        }
        let id = self.slowlog_next_id;
        self.slowlog_next_id += 1;
        self.slowlog.push_front(entry(id));
        self.slowlog.truncate(max_len);
    }

    /// Whether a command of this duration would be logged.
    pub fn is_slow(slower_than_us: i64, duration_us: u64) -> bool {
        slower_than_us >= 0 && duration_us >= slower_than_us as u64
    }

    /// CONFIG RESETSTAT: zero every counter and the SLOWLOG.
    pub fn reset(&mut self) {
        self.commands.clear();
        self.errors.clear();
        self.slowlog.clear();
    }

    /// SLOWLOG GET [count] (count < 0: all; default 10).
    pub fn slowlog_get(&self, count: i64) -> Reply {
        let n = if count < 0 {
            self.slowlog.len()
        } else {
            count as usize
        };
        Reply::Array(
            self.slowlog
                .iter()
                .take(n)
                .map(|e| {
                    Reply::Array(vec![
                        Reply::Integer(e.id as i64),
                        Reply::Integer(e.at_s as i64),
                        Reply::Integer(e.duration_us as i64),
                        Reply::Array(e.args.iter().cloned().map(Reply::Bulk).collect()),
                        Reply::Bulk(e.client_addr.clone().into_bytes()),
                        Reply::Bulk(e.client_name.clone().into_bytes()),
                    ])
                })
                .collect(),
        )
    }

    pub fn slowlog_len(&self) -> usize {
        self.slowlog.len()
    }

    pub fn slowlog_reset(&mut self) {
        self.slowlog.clear();
    }

    /// INFO `commandstats` lines: `cmdstat_get` ->
    /// `calls=..,usec=..,usec_per_call=..,rejected_calls=0,failed_calls=..`.
    /// Redis's failed_calls are error replies; ours include FAILED and UNKNOWN.
    pub fn commandstats(&self) -> Vec<(String, String)> {
        self.commands
            .iter()
            .map(|(name, s)| {
                let calls = s.calls();
                let failed = calls - s.outcomes.get(&Outcome::Ok).copied().unwrap_or(0);
                (
                    format!("cmdstat_{name}"),
                    format!(
                        "calls={calls},usec={},usec_per_call={:.2},rejected_calls=0,failed_calls={failed}",
                        s.usec,
                        s.usec as f64 / calls.max(1) as f64
                    ),
                )
            })
            .collect()
    }

    /// INFO `errorstats` lines: `errorstat_ERR` -> `count=..`.
    pub fn errorstats(&self) -> Vec<(String, String)> {
        self.errors
            .iter()
            .map(|(k, n)| (format!("errorstat_{k}"), format!("count={n}")))
            .collect()
    }

    /// INFO `latencystats` lines: `latency_percentiles_usec_get` ->
    /// `p50=..,p99=..,p99.9=..`.
    pub fn latencystats(&self) -> Vec<(String, String)> {
        self.commands
            .iter()
            .map(|(name, s)| {
                let q = |p: f64| s.latency.value_at_quantile(p) as f64;
                (
                    format!("latency_percentiles_usec_{name}"),
                    format!(
                        "p50={:.3},p99={:.3},p99.9={:.3}",
                        q(0.50),
                        q(0.99),
                        q(0.999)
                    ),
                )
            })
            .collect()
    }

    /// The Prometheus text exposition format (version 0.0.4) of the node's
    /// state and these counters.
    pub fn prometheus(&self, s: &InfoSnapshot, memory_max_bytes: u64) -> String {
        let mut out = String::new();
        fn family(out: &mut String, name: &str, kind: &str, help: &str) {
            let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n");
        }
        family(
            &mut out,
            "synod_info",
            "gauge",
            "Always 1; labels name the node and its version.",
        );
        let text = format!(
            "synod_info{{node_id=\"{}\",cluster_id=\"{}\",version=\"{}\"}} 1\n",
            s.node_id,
            escape(&s.cluster_id),
            crate::commands::VERSION
        );
        let gauges: [(&str, &str, u64); 10] = [
            (
                "synod_voting",
                "1 if this node votes; 0 while it catches up after a restart.",
                u64::from(s.voting),
            ),
            (
                "synod_uptime_seconds",
                "Seconds since the node started.",
                s.uptime_s,
            ),
            (
                "synod_connected_clients",
                "Open client connections.",
                s.clients_connected,
            ),
            (
                "synod_requests_in_flight",
                "Core requests this node coordinates now.",
                s.inflight,
            ),
            (
                "synod_keys",
                "Keys holding a value on this replica.",
                s.keys,
            ),
            (
                "synod_tombstones",
                "Keys whose accepted value is a tombstone.",
                s.tombstones,
            ),
            (
                "synod_memory_used_bytes",
                "Bytes of keys and values held (the cap counts these).",
                s.stats.memory_used_bytes,
            ),
            (
                "synod_memory_max_bytes",
                "The memory cap (0: none).",
                memory_max_bytes,
            ),
            (
                "synod_promise_cache_bytes",
                "Bytes held by cached piggybacked promises.",
                s.stats.promise_cache_bytes,
            ),
            (
                "synod_slowlog_length",
                "Entries in the SLOWLOG.",
                self.slowlog.len() as u64,
            ),
        ];
        out.push_str(&text);
        for (name, help, v) in gauges {
            let _ = write!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}\n"
            );
        }
        // Catch-up.
        let r = s.recovery.unwrap_or_default();
        for (name, help, v) in [
            (
                "synod_recovery_keys_listed",
                "Catch-up: distinct keys peers listed so far.",
                r.keys_listed,
            ),
            (
                "synod_recovery_keys_repaired",
                "Catch-up: listed keys repaired.",
                r.keys_repaired,
            ),
            (
                "synod_recovery_peers_done",
                "Catch-up: peers whose listing is done.",
                r.peers_done as u64,
            ),
            (
                "synod_recovery_peers_total",
                "Catch-up: peers to hear from (0: not recovering).",
                r.peers_total as u64,
            ),
        ] {
            let _ = write!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}\n"
            );
        }
        // The core's counters, then the runtime's: all only ever grow.
        for (k, v) in stats_fields(&s.stats)
            .into_iter()
            .chain(s.runtime.iter().copied())
        {
            let name = format!("synod_{k}_total");
            let _ = write!(
                out,
                "# HELP {name} INFO field {k}.\n# TYPE {name} counter\n{name} {v}\n"
            );
        }
        // Per peer.
        type Get = fn(&crate::commands::PeerInfo) -> u64;
        let peer_families: [(&str, &str, Get); 5] = [
            ("synod_peer_up", "gauge", |p| u64::from(p.up)),
            ("synod_peer_messages_sent_total", "counter", |p| {
                p.messages_sent
            }),
            ("synod_peer_bytes_sent_total", "counter", |p| p.bytes_sent),
            ("synod_peer_messages_received_total", "counter", |p| {
                p.messages_received
            }),
            ("synod_peer_bytes_received_total", "counter", |p| {
                p.bytes_received
            }),
        ];
        for (name, kind, get) in peer_families {
            let _ = write!(out, "# HELP {name} Per peer.\n# TYPE {name} {kind}\n");
            for p in &s.peers {
                let _ = writeln!(out, "{name}{{peer=\"{}\"}} {}", p.node, get(p));
            }
        }
        // Per command.
        let name = "synod_commands_total";
        family(&mut out, name, "counter", "Commands answered, by command and outcome (ok, error, failed: certainly not applied, unknown: may have been applied).");
        for (cmd, st) in &self.commands {
            for (o, n) in &st.outcomes {
                let _ = writeln!(out, "{name}{{cmd=\"{cmd}\",outcome=\"{}\"}} {n}", o.label());
            }
        }
        let name = "synod_command_duration_seconds";
        family(
            &mut out,
            name,
            "histogram",
            "Time from reading a command to writing its reply.",
        );
        for (cmd, st) in &self.commands {
            let h = &st.latency;
            let mut cum = 0u64;
            let mut lo = 0u64;
            for b in BUCKETS_US {
                cum += h.count_between(lo, b);
                lo = b + 1;
                let _ = writeln!(
                    out,
                    "{name}_bucket{{cmd=\"{cmd}\",le=\"{}\"}} {cum}",
                    b as f64 / 1e6
                );
            }
            let _ = writeln!(
                out,
                "{name}_bucket{{cmd=\"{cmd}\",le=\"+Inf\"}} {}",
                h.len()
            );
            let _ = writeln!(out, "{name}_sum{{cmd=\"{cmd}\"}} {}", st.usec as f64 / 1e6);
            let _ = writeln!(out, "{name}_count{{cmd=\"{cmd}\"}} {}", h.len());
        }
        let name = "synod_errors_total";
        family(
            &mut out,
            name,
            "counter",
            "Error replies by their first word (ERR, OOM, FAILED, UNKNOWN, ...).",
        );
        for (k, n) in &self.errors {
            let _ = writeln!(out, "{name}{{error=\"{}\"}} {n}", escape(k));
        }
        out
    }
}

/// A Prometheus label value: backslash, quote and newline escaped.
fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_read_as_redis_prints_them() {
        let mut m = Metrics::default();
        m.record(Some("get"), &Reply::Bulk(b"v".to_vec()), 100);
        m.record(Some("get"), &Reply::Nil, 300);
        m.record(Some("set"), &Reply::error("FAILED no quorum"), 2_000);
        m.record(None, &Reply::error("ERR unknown command 'x'"), 1);
        assert_eq!(
            m.commandstats(),
            vec![
                (
                    "cmdstat_get".to_string(),
                    "calls=2,usec=400,usec_per_call=200.00,rejected_calls=0,failed_calls=0"
                        .to_string()
                ),
                (
                    "cmdstat_set".to_string(),
                    "calls=1,usec=2000,usec_per_call=2000.00,rejected_calls=0,failed_calls=1"
                        .to_string()
                ),
            ]
        );
        assert_eq!(
            m.errorstats(),
            vec![
                ("errorstat_ERR".to_string(), "count=1".to_string()),
                ("errorstat_FAILED".to_string(), "count=1".to_string())
            ]
        );
        let lat = m.latencystats();
        assert_eq!(lat[0].0, "latency_percentiles_usec_get");
        assert!(
            lat[0].1.starts_with("p50=100.000,p99=300.000"),
            "{}",
            lat[0].1
        );
        m.reset();
        assert!(m.commandstats().is_empty() && m.errorstats().is_empty());
    }

    #[test]
    fn the_slowlog_keeps_the_newest_and_trims_arguments_as_redis() {
        let mut m = Metrics::default();
        for d in [5, 50, 500, 5_000] {
            let args = slowlog_args(&[b"get".to_vec(), vec![b'k'; 200]]);
            m.maybe_slow(
                40,
                2,
                |id| SlowEntry {
                    id,
                    at_s: 1,
                    duration_us: d,
                    args,
                    client_addr: "127.0.0.1:1".into(),
                    client_name: String::new(),
                },
                d,
            );
        }
        assert_eq!(m.slowlog_len(), 2);
        let Reply::Array(entries) = m.slowlog_get(10) else {
            panic!()
        };
        let Reply::Array(newest) = &entries[0] else {
            panic!()
        };
        assert_eq!(newest[0], Reply::Integer(2));
        assert_eq!(newest[2], Reply::Integer(5_000));
        let Reply::Array(args) = &newest[3] else {
            panic!()
        };
        assert_eq!(
            args[1],
            Reply::Bulk([vec![b'k'; 128], b"... (72 more bytes)".to_vec()].concat())
        );
        let many: Vec<Vec<u8>> = (0..40).map(|i| vec![b'a' + (i % 26) as u8]).collect();
        let t = slowlog_args(&many);
        assert_eq!(t.len(), 32);
        assert_eq!(t[31], b"... (9 more arguments)".to_vec());
        m.slowlog_reset();
        assert_eq!(m.slowlog_len(), 0);
    }
}
