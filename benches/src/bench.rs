//! A load generator for comparing synod with Redis and etcd on one machine
//! (`synod-bench bench`, driven by `scripts/bench.sh`).
//!
//! One code path for every target: each client is a std thread with one
//! blocking TCP connection that writes `pipeline` requests, reads as many
//! replies, and records the batch's latency for each of them in its own
//! [`Histogram`]. A routed synod client (`--route key`) holds one connection
//! per node instead and sends each request to its key's home node
//! ([`synod::client::Routes`]), as a Redis Cluster client routes by slot. Requests are encoded once up front (one per key), so a client
//! spends its time in `write`/`read`, not in formatting: the generator must not
//! steal the CPU from the servers it measures on a small box, and it reports
//! its own CPU so a reader can check.
//!
//! Targets:
//! - `synod`, `redis`: RESP (`SET key value` / `GET key`) over raw TCP;
//! - `etcd`: its HTTP/JSON gRPC gateway (`POST /v3/kv/put`, `/v3/kv/range`,
//!   base64 keys and values) over keep-alive HTTP/1.1, pipelined on one raw
//!   connection like the RESP targets: bodies built with serde_json and
//!   base64, responses parsed with httparse (an HTTP client crate would not
//!   pipeline, and would measure itself);
//! - `echo`: a TCP echo server inside this process, sent the bytes of a SET
//!   request: the loopback round trip, the physical floor of any request.
//!
//! Only the window after `warmup` counts. Server CPU is read from
//! `/proc/PID/stat` (utime + stime) at the window's start and end.

use hdrhistogram::Histogram;
use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

/// What a run talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Synod,
    Redis,
    Etcd,
    Echo,
}

impl Target {
    pub fn name(self) -> &'static str {
        match self {
            Target::Synod => "synod",
            Target::Redis => "redis",
            Target::Etcd => "etcd",
            Target::Echo => "echo",
        }
    }
}

/// The operation every request performs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Set,
    Get,
}

impl Op {
    pub fn name(self) -> &'static str {
        match self {
            Op::Set => "set",
            Op::Get => "get",
        }
    }
}

/// How a client picks the node for a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// Client i sends everything to `addrs[i % len]`.
    None,
    /// Each request goes to its key's home node (synod only): every write to
    /// a key has one coordinator, which keeps its cached phase 1.
    Key,
}

impl Route {
    pub fn name(self) -> &'static str {
        match self {
            Route::None => "none",
            Route::Key => "key",
        }
    }
}

/// What to run.
#[derive(Clone, Debug)]
pub struct BenchOptions {
    pub target: Target,
    /// Server addresses; client i connects to `addrs[i % len]` (unused for
    /// echo), or to all of them with [`Route::Key`].
    pub addrs: Vec<String>,
    pub route: Route,
    pub op: Op,
    pub clients: usize,
    /// The measured window.
    pub duration: Duration,
    /// Run this long before the window opens (connections warm, caches filled).
    pub warmup: Duration,
    /// Keys `key:00000000 .. key:{keys-1}`, chosen uniformly at random.
    pub keys: usize,
    pub value_bytes: usize,
    /// Requests in flight per connection (1: one at a time).
    pub pipeline: usize,
    /// Write every key once before the run (for GET; for SET, so that the
    /// run starts with every key present). Routed runs write each key
    /// through its home node, whose cached phase 1 the run then finds.
    pub preload: bool,
    /// First writes: keys no run used before (a fresh name prefix per run),
    /// each client walking its own share of them in order, so that every
    /// request writes a key that does not exist yet (for SET). `keys` must
    /// cover the run; requests past it wrap around and are counted.
    pub fresh: bool,
    /// Server processes whose CPU is charged to the run.
    pub server_pids: Vec<u32>,
    /// Per read / write / connect.
    pub timeout: Duration,
}

/// What a run measured.
#[derive(Clone, Debug)]
pub struct BenchReport {
    pub target: Target,
    pub route: Route,
    pub op: Op,
    pub clients: usize,
    pub pipeline: usize,
    /// Successful operations in the window.
    pub ops: u64,
    /// Error replies and broken connections in the window.
    pub errors: u64,
    /// GETs that found no value.
    pub misses: u64,
    pub seconds: f64,
    /// Latency in nanoseconds.
    pub latency: Histogram<u64>,
    /// CPU this process spent in the window (µs).
    pub bench_cpu_us: f64,
    /// CPU the server processes spent in the window (µs), if pids were given.
    pub server_cpu_us: Option<f64>,
    /// First writes (`BenchOptions::fresh`).
    pub fresh: bool,
    /// Requests that reused a key in a fresh run (the key space was too small).
    pub wrapped: u64,
    /// Peer messages and bytes every synod node sent in the window, summed
    /// (INFO `messages_sent`, `bytes_sent`): the cost model.
    pub peer_traffic: Option<(u64, u64)>,
}

impl BenchReport {
    pub fn ops_per_sec(&self) -> f64 {
        self.ops as f64 / self.seconds.max(1e-9)
    }

    fn quantile_us(&self, q: f64) -> f64 {
        self.latency.value_at_quantile(q) as f64 / 1000.0
    }

    /// One `key=value` line that `scripts/bench.sh` collects and `--report` reads.
    pub fn to_line(&self) -> String {
        let per_op = |cpu: f64| cpu / (self.ops.max(1) as f64);
        let mut s = format!(
            "RESULT target={} route={} op={} clients={} pipeline={} ops={} errors={} misses={} seconds={:.3} ops_per_s={:.0} p50_us={:.1} p99_us={:.1} p999_us={:.1} bench_cpu_us_per_op={:.2}",
            self.target.name(),
            self.route.name(),
            self.op.name(),
            self.clients,
            self.pipeline,
            self.ops,
            self.errors,
            self.misses,
            self.seconds,
            self.ops_per_sec(),
            self.quantile_us(0.5),
            self.quantile_us(0.99),
            self.quantile_us(0.999),
            per_op(self.bench_cpu_us),
        );
        if let Some(cpu) = self.server_cpu_us {
            let _ = write!(s, " server_cpu_us_per_op={:.2}", per_op(cpu));
        }
        if self.fresh {
            let _ = write!(s, " keys=fresh wrapped={}", self.wrapped);
        }
        if let Some((msgs, bytes)) = self.peer_traffic {
            let _ = write!(
                s,
                " peer_msgs_per_op={:.2} peer_bytes_per_op={:.0}",
                per_op(msgs as f64),
                per_op(bytes as f64)
            );
        }
        s
    }
}

/// Runs one measurement.
pub fn run(opts: &BenchOptions) -> io::Result<BenchReport> {
    if opts.clients == 0 || opts.keys == 0 || opts.pipeline == 0 {
        return Err(invalid(
            "--clients, --keys and --pipeline must be at least 1",
        ));
    }
    if opts.route == Route::Key && opts.target != Target::Synod {
        return Err(invalid(
            "--route key needs --target synod (the home of a key is a synod node)",
        ));
    }
    let addrs: Vec<String> = if opts.target == Target::Echo {
        vec![start_echo_server()?]
    } else if opts.addrs.is_empty() {
        return Err(invalid("--addrs is required for this target"));
    } else {
        opts.addrs.clone()
    };
    let value: Vec<u8> = (0..opts.value_bytes)
        .map(|i| b'a' + (i % 26) as u8)
        .collect();
    let proto = match opts.target {
        Target::Synod | Target::Redis => Proto::Resp,
        Target::Etcd => Proto::Http,
        Target::Echo => Proto::Echo,
    };
    let host = addrs[0].clone();
    if opts.fresh && (opts.op != Op::Set || opts.preload) {
        return Err(invalid(
            "--fresh measures first writes: --op set, without --preload",
        ));
    }
    // A fresh run's keys carry a prefix no earlier run used.
    let prefix = if opts.fresh {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        format!("fresh:{nanos:x}:")
    } else {
        "key:".to_owned()
    };
    let key_of = |i: usize| format!("{prefix}{i:08}");
    let set_requests = Arc::new(encode_all(
        proto,
        Op::Set,
        opts.keys,
        &value,
        &host,
        &key_of,
    ));
    // Per key, the index in `addrs` of its home node (empty: unrouted).
    let home: Arc<Vec<usize>> = Arc::new(match opts.route {
        Route::None => Vec::new(),
        Route::Key => {
            let routes = synod::client::Routes::discover(&addrs, opts.timeout)
                .map_err(|e| io::Error::other(format!("--route key: {e}")))?;
            (0..opts.keys)
                .map(|i| routes.home(key_of(i).as_bytes()))
                .collect()
        }
    });
    if opts.preload && proto != Proto::Echo {
        preload(opts, &addrs, &home, &set_requests)?;
    }
    let requests = match (proto, opts.op) {
        // Echo sends the bytes of one SET request (a realistic size) and
        // expects them back.
        (Proto::Echo, _) => Arc::new(vec![set_requests[0].clone()]),
        (_, Op::Set) => set_requests,
        (_, Op::Get) => Arc::new(encode_all(
            proto,
            Op::Get,
            opts.keys,
            &value,
            &host,
            &key_of,
        )),
    };

    let start = Instant::now() + Duration::from_millis(50);
    let window_start = start + opts.warmup;
    let window_end = window_start + opts.duration;
    let barrier = Arc::new(Barrier::new(opts.clients + 1));
    let mut handles = Vec::with_capacity(opts.clients);
    for i in 0..opts.clients {
        let client_addrs = match opts.route {
            Route::None => vec![addrs[i % addrs.len()].clone()],
            Route::Key => addrs.clone(),
        };
        let requests = Arc::clone(&requests);
        let home = Arc::clone(&home);
        let barrier = Arc::clone(&barrier);
        let c = ClientRun {
            proto,
            op: opts.op,
            pipeline: opts.pipeline,
            window_start,
            window_end,
            timeout: opts.timeout,
            seed: 0x9e37_79b9_7f4a_7c15 ^ (i as u64 + 1).wrapping_mul(0xbf58_476d_1ce4_e5b9),
            // Fresh keys: client i writes keys i, i + clients, ... in order.
            walk: opts.fresh.then_some((i, opts.clients)),
        };
        handles.push(
            thread::Builder::new()
                .name(format!("bench-{i}"))
                .stack_size(256 * 1024)
                .spawn(move || c.run(&client_addrs, &home, &requests, &barrier))?,
        );
    }
    barrier.wait();
    let traffic = |addrs: &[String]| {
        (opts.target == Target::Synod)
            .then(|| peer_traffic(addrs, opts.timeout))
            .flatten()
    };
    sleep_until(window_start);
    let cpu0 = cpu_us(std::process::id());
    let server0: Option<Vec<f64>> = sample_pids(&opts.server_pids);
    let traffic0 = traffic(&addrs);
    sleep_until(window_end);
    let cpu1 = cpu_us(std::process::id());
    let server1 = sample_pids(&opts.server_pids);
    let traffic1 = traffic(&addrs);

    let mut latency = new_histogram();
    let (mut ops, mut errors, mut misses, mut wrapped) = (0, 0, 0, 0);
    let mut first_error = None;
    for h in handles {
        let r = h
            .join()
            .map_err(|_| io::Error::other("a client thread panicked"))?;
        latency.add(&r.latency).map_err(io::Error::other)?;
        ops += r.ops;
        errors += r.errors;
        misses += r.misses;
        wrapped += r.wrapped;
        if first_error.is_none() {
            first_error = r.first_error;
        }
    }
    if let Some(e) = first_error {
        eprintln!("bench: first error: {e}");
    }
    let server_cpu_us = match (server0, server1) {
        (Some(a), Some(b)) => Some(b.iter().zip(&a).map(|(b, a)| b - a).sum()),
        _ => None,
    };
    Ok(BenchReport {
        target: opts.target,
        route: opts.route,
        op: opts.op,
        clients: opts.clients,
        pipeline: opts.pipeline,
        ops,
        errors,
        misses,
        seconds: opts.duration.as_secs_f64(),
        latency,
        bench_cpu_us: match (cpu0, cpu1) {
            (Some(a), Some(b)) => b - a,
            _ => 0.0,
        },
        server_cpu_us,
        fresh: opts.fresh,
        wrapped,
        peer_traffic: traffic0
            .zip(traffic1)
            .map(|((m0, b0), (m1, b1))| (m1.saturating_sub(m0), b1.saturating_sub(b0))),
    })
}

/// Peer messages and bytes sent so far, summed over the nodes at `addrs`
/// (INFO's `messages_sent` and `bytes_sent`); None if a node did not answer.
fn peer_traffic(addrs: &[String], timeout: Duration) -> Option<(u64, u64)> {
    let (mut msgs, mut bytes) = (0, 0);
    for a in addrs {
        let info = synod::client::Client::connect_timeout(a.as_str(), timeout)
            .and_then(|mut c| c.info(Some("stats")))
            .ok()?;
        let field = |name: &str| {
            info.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
                .and_then(|v| v.trim().parse::<u64>().ok())
        };
        msgs += field("messages_sent")?;
        bytes += field("bytes_sent")?;
    }
    Some((msgs, bytes))
}

fn invalid(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg.to_owned())
}

fn new_histogram() -> Histogram<u64> {
    // 1 ns .. 60 s, 3 significant digits.
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("valid histogram bounds")
}

fn sleep_until(t: Instant) {
    let now = Instant::now();
    if t > now {
        thread::sleep(t - now);
    }
}

/// utime + stime of a process (all its threads), in µs; None if it is gone.
///
/// /proc counts in clock ticks of USER_HZ, which Linux fixes at 100 for
/// user space on every architecture.
pub fn cpu_us(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start at field 3.
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 * 10_000.0)
}

fn sample_pids(pids: &[u32]) -> Option<Vec<f64>> {
    if pids.is_empty() {
        return None;
    }
    pids.iter().map(|&p| cpu_us(p)).collect()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Proto {
    Resp,
    Http,
    Echo,
}

/// One encoded request per key.
fn encode_all(
    proto: Proto,
    op: Op,
    keys: usize,
    value: &[u8],
    host: &str,
    key_of: &dyn Fn(usize) -> String,
) -> Vec<Vec<u8>> {
    (0..keys)
        .map(|i| encode(proto, op, key_of(i).as_bytes(), value, host))
        .collect()
}

fn encode(proto: Proto, op: Op, key: &[u8], value: &[u8], host: &str) -> Vec<u8> {
    match (proto, op) {
        (Proto::Resp | Proto::Echo, Op::Set) => {
            let mut out = Vec::new();
            synod::resp::encode_command(&[b"SET", key, value], &mut out);
            out
        }
        (Proto::Resp | Proto::Echo, Op::Get) => {
            let mut out = Vec::new();
            synod::resp::encode_command(&[b"GET", key], &mut out);
            out
        }
        (Proto::Http, _) => {
            let (path, body) = match op {
                Op::Set => (
                    "/v3/kv/put",
                    serde_json::json!({ "key": base64(key), "value": base64(value) }),
                ),
                Op::Get => ("/v3/kv/range", serde_json::json!({ "key": base64(key) })),
            };
            let body = body.to_string();
            format!(
                "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .into_bytes()
        }
    }
}

/// Standard base64 with padding (etcd's JSON gateway encodes bytes so).
pub fn base64(data: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// How one reply ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Ok,
    Miss,
    Error,
}

fn parse_int(b: &[u8]) -> Result<i64, String> {
    std::str::from_utf8(b)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .ok_or_else(|| format!("bad number '{}'", b.escape_ascii()))
}

/// Parses one reply at the front of `buf`: (bytes used, outcome), or None if incomplete.
fn parse_reply(
    proto: Proto,
    op: Op,
    buf: &[u8],
    echo_len: usize,
) -> Result<Option<(usize, Outcome)>, String> {
    match proto {
        Proto::Echo => Ok((buf.len() >= echo_len).then_some((echo_len, Outcome::Ok))),
        Proto::Resp => parse_resp(buf),
        Proto::Http => parse_http(op, buf),
    }
}

fn parse_resp(buf: &[u8]) -> Result<Option<(usize, Outcome)>, String> {
    let Some(&kind) = buf.first() else {
        return Ok(None);
    };
    let Some(nl) = buf.iter().position(|&b| b == b'\n') else {
        return Ok(None);
    };
    let line = buf[1..nl].strip_suffix(b"\r").unwrap_or(&buf[1..nl]);
    match kind {
        b'+' | b':' => Ok(Some((nl + 1, Outcome::Ok))),
        b'-' => Ok(Some((nl + 1, Outcome::Error))),
        b'$' => {
            let len = parse_int(line)?;
            if len < 0 {
                return Ok(Some((nl + 1, Outcome::Miss)));
            }
            let end = nl + 1 + len as usize + 2;
            Ok((buf.len() >= end).then_some((end, Outcome::Ok)))
        }
        other => Err(format!("unexpected reply type '{}'", other.escape_ascii())),
    }
}

fn parse_http(op: Op, buf: &[u8]) -> Result<Option<(usize, Outcome)>, String> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut resp = httparse::Response::new(&mut headers);
    let body_start = match resp
        .parse(buf)
        .map_err(|e| format!("bad HTTP response: {e}"))?
    {
        httparse::Status::Complete(n) => n,
        httparse::Status::Partial => return Ok(None),
    };
    let status = resp.code.unwrap_or(0);
    let header = |name: &str| {
        resp.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| String::from_utf8_lossy(h.value).into_owned())
    };
    let chunked =
        header("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    let (end, body): (usize, Vec<u8>) = if chunked {
        let mut at = body_start;
        let mut body = Vec::new();
        loop {
            let (data, size) = match httparse::parse_chunk_size(&buf[at..])
                .map_err(|_| "bad chunk size".to_string())?
            {
                httparse::Status::Complete((n, size)) => (at + n, size as usize),
                httparse::Status::Partial => return Ok(None),
            };
            if buf.len() < data + size + 2 {
                return Ok(None);
            }
            if size == 0 {
                break (data + 2, body);
            }
            body.extend_from_slice(&buf[data..data + size]);
            at = data + size + 2;
        }
    } else {
        let len = match header("content-length") {
            Some(v) => v
                .trim()
                .parse::<usize>()
                .map_err(|e| format!("bad Content-Length: {e}"))?,
            None => 0,
        };
        if buf.len() < body_start + len {
            return Ok(None);
        }
        (body_start + len, buf[body_start..body_start + len].to_vec())
    };
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    let outcome = if status != 200 || json.get("error").is_some() {
        Outcome::Error
    } else if op == Op::Get && json.get("kvs").is_none() {
        Outcome::Miss
    } else {
        Outcome::Ok
    };
    Ok(Some((end, outcome)))
}

fn connect(addr: &str, timeout: Duration) -> io::Result<TcpStream> {
    let mut last = None;
    for a in addr.to_socket_addrs()? {
        match TcpStream::connect_timeout(&a, timeout) {
            Ok(s) => {
                s.set_nodelay(true)?;
                s.set_read_timeout(Some(timeout))?;
                s.set_write_timeout(Some(timeout))?;
                return Ok(s);
            }
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| invalid("no address")))
}

/// A connection with a read buffer that parses replies in place.
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    pos: usize,
    filled: usize,
    /// The text of the first error reply, for the report.
    first_error: Option<String>,
}

impl Conn {
    fn new(stream: TcpStream) -> Conn {
        Conn {
            stream,
            buf: vec![0; 64 * 1024],
            pos: 0,
            filled: 0,
            first_error: None,
        }
    }

    /// Reads the next reply.
    fn next(&mut self, proto: Proto, op: Op, echo_len: usize) -> Result<Outcome, String> {
        loop {
            if let Some((used, outcome)) =
                parse_reply(proto, op, &self.buf[self.pos..self.filled], echo_len)?
            {
                if outcome == Outcome::Error && self.first_error.is_none() {
                    let text = &self.buf[self.pos..self.pos + used.min(200)];
                    self.first_error = Some(String::from_utf8_lossy(text).trim().to_owned());
                }
                self.pos += used;
                if self.pos == self.filled {
                    self.pos = 0;
                    self.filled = 0;
                }
                return Ok(outcome);
            }
            if self.pos > 0 {
                self.buf.copy_within(self.pos..self.filled, 0);
                self.filled -= self.pos;
                self.pos = 0;
            }
            if self.filled == self.buf.len() {
                let len = self.buf.len();
                self.buf.resize(len * 2, 0);
            }
            let n = self
                .stream
                .read(&mut self.buf[self.filled..])
                .map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("connection closed by the server".into());
            }
            self.filled += n;
        }
    }
}

/// Writes every key once, a few connections at a time, pipelined: through
/// its home node if `home` is given (one connection per node), else spread
/// over the addresses.
fn preload(
    opts: &BenchOptions,
    addrs: &[String],
    home: &[usize],
    set_requests: &Arc<Vec<Vec<u8>>>,
) -> io::Result<()> {
    let proto = match opts.target {
        Target::Etcd => Proto::Http,
        _ => Proto::Resp,
    };
    // (address, the keys it writes) per connection.
    let work: Vec<(String, Vec<usize>)> = if home.is_empty() {
        let conns = opts.clients.clamp(1, 16);
        (0..conns)
            .map(|c| {
                let keys = (c..set_requests.len()).step_by(conns).collect();
                (addrs[c % addrs.len()].clone(), keys)
            })
            .collect()
    } else {
        (0..addrs.len())
            .map(|n| {
                let keys = (0..set_requests.len()).filter(|&k| home[k] == n).collect();
                (addrs[n].clone(), keys)
            })
            .collect()
    };
    let mut handles = Vec::new();
    for (addr, mine) in work {
        let reqs = Arc::clone(set_requests);
        let timeout = opts.timeout;
        handles.push(thread::spawn(move || -> Result<(), String> {
            let mut conn = Conn::new(connect(&addr, timeout).map_err(|e| e.to_string())?);
            for batch in mine.chunks(32) {
                let mut out = Vec::new();
                for &k in batch {
                    out.extend_from_slice(&reqs[k]);
                }
                conn.stream.write_all(&out).map_err(|e| e.to_string())?;
                for _ in batch {
                    if conn.next(proto, Op::Set, 0)? == Outcome::Error {
                        return Err("error reply during preload".into());
                    }
                }
            }
            Ok(())
        }));
    }
    for h in handles {
        h.join()
            .map_err(|_| io::Error::other("preload thread panicked"))?
            .map_err(|e| io::Error::other(format!("preload: {e}")))?;
    }
    Ok(())
}

struct ClientRun {
    proto: Proto,
    op: Op,
    pipeline: usize,
    window_start: Instant,
    window_end: Instant,
    timeout: Duration,
    seed: u64,
    /// In order from the first key by a stride (fresh keys), instead of at random.
    walk: Option<(usize, usize)>,
}

struct ClientResult {
    latency: Histogram<u64>,
    ops: u64,
    errors: u64,
    misses: u64,
    wrapped: u64,
    first_error: Option<String>,
}

impl ClientRun {
    /// Runs one client: one connection per address; request `k` goes to
    /// `addrs[home[k]]` (to `addrs[0]` if `home` is empty).
    fn run(
        self,
        addrs: &[String],
        home: &[usize],
        requests: &[Vec<u8>],
        barrier: &Barrier,
    ) -> ClientResult {
        let mut r = ClientResult {
            latency: new_histogram(),
            ops: 0,
            errors: 0,
            misses: 0,
            wrapped: 0,
            first_error: None,
        };
        let mut next_key = self.walk.map_or(0, |(first, _)| first);
        let streams: Vec<io::Result<TcpStream>> =
            addrs.iter().map(|a| connect(a, self.timeout)).collect();
        barrier.wait();
        let mut conns = Vec::with_capacity(streams.len());
        for (addr, s) in addrs.iter().zip(streams) {
            match s {
                Ok(s) => conns.push(Conn::new(s)),
                Err(e) => {
                    r.errors += 1;
                    r.first_error = Some(format!("connect {addr}: {e}"));
                    return r;
                }
            }
        }
        let echo_len = requests[0].len();
        let mut rng = self.seed | 1;
        // Per connection: the batch's bytes and how many replies it owes.
        let mut outs: Vec<Vec<u8>> = (0..conns.len())
            .map(|_| Vec::with_capacity(requests[0].len() * self.pipeline * 2))
            .collect();
        let mut owed = vec![0usize; conns.len()];
        loop {
            if Instant::now() >= self.window_end {
                return r;
            }
            for (out, n) in outs.iter_mut().zip(&mut owed) {
                out.clear();
                *n = 0;
            }
            for _ in 0..self.pipeline {
                let k = if let Some((first, stride)) = self.walk {
                    let k = next_key;
                    next_key += stride;
                    if next_key >= requests.len() {
                        next_key = first;
                        r.wrapped += 1;
                    }
                    k
                } else {
                    // xorshift64*: cheap, good enough to spread keys.
                    rng ^= rng >> 12;
                    rng ^= rng << 25;
                    rng ^= rng >> 27;
                    (rng.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % requests.len()
                };
                let c = home.get(k).copied().unwrap_or(0);
                outs[c].extend_from_slice(&requests[k]);
                owed[c] += 1;
            }
            let t0 = Instant::now();
            let mut outcomes = [0u64; 3];
            let mut failed = None;
            for (conn, out) in conns.iter_mut().zip(&outs) {
                if failed.is_none() && !out.is_empty() {
                    if let Err(e) = conn.stream.write_all(out) {
                        failed = Some(e.to_string());
                    }
                }
            }
            for (conn, &n) in conns.iter_mut().zip(&owed) {
                for _ in 0..n {
                    if failed.is_some() {
                        break;
                    }
                    match conn.next(self.proto, self.op, echo_len) {
                        Ok(o) => outcomes[o as usize] += 1,
                        Err(e) => failed = Some(e),
                    }
                }
            }
            let t1 = Instant::now();
            let counted = t1 >= self.window_start && t1 < self.window_end;
            if let Some(e) = failed {
                if counted || t1 < self.window_start {
                    r.errors += 1;
                    r.first_error.get_or_insert(e);
                }
                return r;
            }
            if counted {
                let good = outcomes[Outcome::Ok as usize] + outcomes[Outcome::Miss as usize];
                r.ops += good;
                r.misses += outcomes[Outcome::Miss as usize];
                r.errors += outcomes[Outcome::Error as usize];
                if good > 0 {
                    let ns = (t1 - t0).as_nanos().clamp(1, 60_000_000_000) as u64;
                    let _ = r.latency.record_n(ns, good);
                }
                if outcomes[Outcome::Error as usize] > 0 && r.first_error.is_none() {
                    let text = conns.iter().find_map(|c| c.first_error.as_deref());
                    r.first_error = Some(format!("error reply: {}", text.unwrap_or("?")));
                }
            }
        }
    }
}

/// Starts a loopback echo server on an ephemeral port; returns its address.
fn start_echo_server() -> io::Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?.to_string();
    thread::Builder::new()
        .name("echo-accept".into())
        .spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut s) = stream else { continue };
                let _ = s.set_nodelay(true);
                let _ = thread::Builder::new()
                    .stack_size(128 * 1024)
                    .spawn(move || {
                        let mut buf = vec![0u8; 64 * 1024];
                        while let Ok(n) = s.read(&mut buf) {
                            if n == 0 || s.write_all(&buf[..n]).is_err() {
                                break;
                            }
                        }
                    });
            }
        })?;
    Ok(addr)
}

/// One parsed `RESULT` line.
#[derive(Clone, Debug, Default)]
pub struct Row {
    pub target: String,
    /// `key`, `none`, or empty (lines written before routing existed).
    pub route: String,
    pub op: String,
    pub clients: u64,
    pub pipeline: u64,
    pub ops_per_s: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    pub errors: u64,
    pub misses: u64,
    pub bench_cpu: f64,
    pub server_cpu: Option<f64>,
    /// `fresh` for first writes (`--fresh`), else empty.
    pub keys: String,
    /// Peer messages and bytes per operation, summed over the nodes (synod).
    pub peer_msgs: Option<f64>,
    pub peer_bytes: Option<f64>,
}

/// Reads the `RESULT ...` lines of a results file (other lines are ignored).
pub fn parse_rows(text: &str) -> Vec<Row> {
    let mut rows = Vec::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("RESULT ") else {
            continue;
        };
        let mut r = Row::default();
        for kv in rest.split_whitespace() {
            let Some((k, v)) = kv.split_once('=') else {
                continue;
            };
            let f = || v.parse::<f64>().unwrap_or(f64::NAN);
            let n = || v.parse::<u64>().unwrap_or(0);
            match k {
                "target" => r.target = v.to_owned(),
                "route" => r.route = v.to_owned(),
                "op" => r.op = v.to_owned(),
                "clients" => r.clients = n(),
                "pipeline" => r.pipeline = n(),
                "ops_per_s" => r.ops_per_s = f(),
                "p50_us" => r.p50_us = f(),
                "p99_us" => r.p99_us = f(),
                "p999_us" => r.p999_us = f(),
                "errors" => r.errors = n(),
                "misses" => r.misses = n(),
                "bench_cpu_us_per_op" => r.bench_cpu = f(),
                "server_cpu_us_per_op" => r.server_cpu = Some(f()),
                "keys" => r.keys = v.to_owned(),
                "peer_msgs_per_op" => r.peer_msgs = Some(f()),
                "peer_bytes_per_op" => r.peer_bytes = Some(f()),
                _ => {}
            }
        }
        rows.push(r);
    }
    rows
}

/// The name a row is shown and compared under: its target, except that
/// unrouted synod rows are "synod unrouted" beside the routed "synod" ones,
/// and first writes (fresh keys) are "synod first writes".
pub fn series(r: &Row) -> &str {
    match (r.target.as_str(), r.route.as_str(), r.keys.as_str()) {
        ("synod", "none", "fresh") => "synod unrouted first writes",
        ("synod", _, "fresh") => "synod first writes",
        ("synod", "none", _) => "synod unrouted",
        _ => &r.target,
    }
}

fn find_row<'a>(rows: &'a [Row], series_name: &str, op: &str, clients: u64) -> Option<&'a Row> {
    rows.iter()
        .find(|r| series(r) == series_name && r.op == op && r.clients == clients && r.pipeline == 1)
}

/// The ratio lines, each against its issue-16 target, and the cost model.
pub fn ratio_lines(rows: &[Row]) -> Vec<String> {
    let mut out = Vec::new();
    let mut line = |name: &str, v: Option<f64>, goal: Option<(&str, f64)>| {
        let shown = v.map_or("n/a".to_owned(), |v| {
            if v >= 10.0 {
                format!("{v:.1}")
            } else {
                format!("{v:.2}")
            }
        });
        let verdict = match (v, goal) {
            (_, None) => "for reference".to_owned(),
            (None, Some((op, g))) => format!("target {op} {g}: n/a (not measured)"),
            (Some(v), Some((op, g))) => {
                let met = if op == ">=" { v >= g } else { v <= g };
                format!("target {op} {g}: {}", if met { "met" } else { "MISSED" })
            }
        };
        out.push(format!("{name}: {shown}   ({verdict})"));
    };
    let row = |t: &str, op: &str, c: u64| find_row(rows, t, op, c);
    let ratio = |a: Option<f64>, b: Option<f64>| a.zip(b).map(|(a, b)| a / b);
    let p50 = |t: &str, op: &str| row(t, op, 1).map(|r| r.p50_us);
    let echo = row("echo", "set", 1).map(|r| r.p50_us);
    let ops = |t: &str, op: &str| row(t, op, 50).map(|r| r.ops_per_s);
    let cpu = |t: &str, op: &str, c: u64| row(t, op, c).and_then(|r| r.server_cpu);
    // Latency at one client, against the loopback echo of the same run.
    line(
        "single-client SET p50 / echo, repeated writes (routed)",
        ratio(p50("synod", "set"), echo),
        Some(("<=", 3.0)),
    );
    line(
        "  stretch",
        ratio(p50("synod", "set"), echo),
        Some(("<=", 2.0)),
    );
    line(
        "single-client SET p50 / echo, first writes (routed)",
        ratio(p50("synod first writes", "set"), echo),
        Some(("<=", 4.0)),
    );
    line(
        "single-client GET p50 / echo (routed)",
        ratio(p50("synod", "get"), echo),
        Some(("<=", 2.0)),
    );
    line(
        "single-client SET p50 / echo, unrouted",
        ratio(p50("synod unrouted", "set"), echo),
        None,
    );
    line(
        "single-client GET p50 / echo, unrouted",
        ratio(p50("synod unrouted", "get"), echo),
        None,
    );
    line(
        "single-client SET CPU/op, 3 nodes / redis",
        ratio(cpu("synod", "set", 1), cpu("redis", "set", 1)),
        Some(("<=", 5.0)),
    );
    // Throughput at 50 clients.
    for (t, label) in [("synod", ""), ("synod unrouted", " unrouted")] {
        line(
            &format!("SET 50 clients{label} / redis"),
            ratio(ops(t, "set"), ops("redis", "set")),
            Some((">=", 0.5)),
        );
        line(
            &format!("SET 50 clients{label} / etcd"),
            ratio(ops(t, "set"), ops("etcd", "set")),
            Some((">=", 10.0)),
        );
        line(
            &format!("GET 50 clients{label} / redis"),
            ratio(ops(t, "get"), ops("redis", "get")),
            Some((">=", 0.7)),
        );
    }
    line(
        "SET 50 clients CPU/op, 3 nodes / redis",
        ratio(cpu("synod", "set", 50), cpu("redis", "set", 50)),
        Some(("<=", 3.0)),
    );
    out.push(String::new());
    out.push(cost_model(rows));
    out
}

/// The cost model: peer messages and bytes per operation (INFO counters,
/// summed over the nodes) against the protocol's minimum with N = 3.
fn cost_model(rows: &[Row]) -> String {
    let mut s = String::from(
        "cost model (peer messages and bytes per operation, all nodes, INFO counters; N = 3):\n",
    );
    // The minimum: a repeated write through the key's home, whose phase 1
    // is cached, is one Accept to each of the N-1 other replicas and their
    // answers; a first write adds a Prepare round; a fast read asks the N-1
    // others once. A Confirm per replica is extra unless it rides on a later
    // message.
    for (name, t, op, min) in [
        ("SET repeated (routed)", "synod", "set", 4),
        ("SET first write (routed)", "synod first writes", "set", 8),
        ("GET (routed)", "synod", "get", 4),
        ("SET repeated (unrouted)", "synod unrouted", "set", 4),
        ("GET (unrouted)", "synod unrouted", "get", 4),
    ] {
        for c in [1, 50] {
            let Some(r) = find_row(rows, t, op, c) else {
                continue;
            };
            let (Some(m), Some(b)) = (r.peer_msgs, r.peer_bytes) else {
                continue;
            };
            let _ = writeln!(
                s,
                "  {name:<26} {c:>2} clients: {m:>5.2} msgs/op ({:.2}x the minimum {min}), {b:>5.0} bytes/op",
                m / f64::from(min),
            );
        }
    }
    s
}

/// The markdown table of every run.
pub fn markdown_table(rows: &[Row]) -> String {
    let mut s = String::from(
        "| op | clients | target | ops/s | p50 µs | p99 µs | p99.9 µs | server CPU µs/op | bench CPU µs/op | peer msgs/op | peer B/op | errors |\n|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in rows {
        let op = if r.target == "echo" {
            "echo".to_owned()
        } else {
            r.op.to_uppercase()
        };
        let clients = if r.pipeline > 1 {
            format!("{} (P{})", r.clients, r.pipeline)
        } else {
            r.clients.to_string()
        };
        let _ = writeln!(
            s,
            "| {op} | {clients} | {} | {:.0} | {:.0} | {:.0} | {:.0} | {} | {:.1} | {} | {} | {} |",
            series(r),
            r.ops_per_s,
            r.p50_us,
            r.p99_us,
            r.p999_us,
            r.server_cpu.map_or("-".into(), |c| format!("{c:.1}")),
            r.bench_cpu,
            r.peer_msgs.map_or("-".into(), |c| format!("{c:.2}")),
            r.peer_bytes.map_or("-".into(), |c| format!("{c:.0}")),
            r.errors,
        );
    }
    s
}

/// A bar chart of ops/s (log scale) per target, grouped by op and client count.
pub fn svg_plot(rows: &[Row]) -> String {
    let (targets, colors): (Vec<&str>, Vec<&str>) = [
        ("echo", "#9e9e9e"),
        ("redis", "#d62728"),
        ("synod", "#1f77b4"),
        ("synod unrouted", "#9ecae1"),
        ("etcd", "#2ca02c"),
    ]
    .into_iter()
    .filter(|(t, _)| rows.iter().any(|r| series(r) == *t))
    .unzip();
    let mut groups: Vec<(String, u64)> = Vec::new();
    for r in rows
        .iter()
        .filter(|r| r.pipeline == 1 && r.target != "echo")
    {
        if !groups.contains(&(r.op.clone(), r.clients)) {
            groups.push((r.op.clone(), r.clients));
        }
    }
    let (w, h) = (860.0, 420.0);
    let (left, right, top, bottom) = (70.0, 20.0, 40.0, 70.0);
    let plot_w = w - left - right;
    let plot_h = h - top - bottom;
    let max = rows
        .iter()
        .map(|r| r.ops_per_s)
        .filter(|v| v.is_finite())
        .fold(10.0f64, f64::max);
    let (lo, hi) = (1.0f64, max.log10().ceil().max(2.0));
    let y = |v: f64| top + plot_h * (1.0 - (v.max(1.0).log10() - lo) / (hi - lo));
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n<text x=\"{}\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">ops/s by target and client count (log scale; echo = loopback floor)</text>\n",
        w / 2.0
    );
    let mut e = lo;
    while e <= hi + 1e-9 {
        let yy = y(10f64.powf(e));
        let _ = writeln!(
            s,
            "<line x1=\"{left}\" y1=\"{yy:.1}\" x2=\"{}\" y2=\"{yy:.1}\" stroke=\"#ddd\"/><text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            w - right,
            left - 6.0,
            yy + 4.0,
            match e as i32 {
                1 => "10".to_owned(),
                2 => "100".to_owned(),
                3 => "1k".to_owned(),
                4 => "10k".to_owned(),
                5 => "100k".to_owned(),
                6 => "1M".to_owned(),
                k => format!("1e{k}"),
            }
        );
        e += 1.0;
    }
    let gw = plot_w / groups.len().max(1) as f64;
    let bw = gw * 0.8 / targets.len() as f64;
    for (gi, (op, clients)) in groups.iter().enumerate() {
        let gx = left + gw * gi as f64 + gw * 0.1;
        for (ti, t) in targets.iter().enumerate() {
            let row = if *t == "echo" {
                find_row(rows, "echo", "set", *clients)
            } else {
                find_row(rows, t, op, *clients)
            };
            let Some(r) = row else { continue };
            let x = gx + bw * ti as f64;
            let yy = y(r.ops_per_s);
            let _ = writeln!(
                s,
                "<rect x=\"{x:.1}\" y=\"{yy:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{}\"><title>{t} {} {clients} clients: {:.0} ops/s</title></rect><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"9\">{}</text>",
                bw - 2.0,
                (top + plot_h - yy).max(0.0),
                colors[ti],
                op.to_uppercase(),
                r.ops_per_s,
                x + bw / 2.0 - 1.0,
                yy - 3.0,
                short(r.ops_per_s)
            );
        }
        let _ = writeln!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{} {} cl.</text>",
            gx + gw * 0.4,
            top + plot_h + 18.0,
            op.to_uppercase(),
            clients
        );
    }
    for (ti, t) in targets.iter().enumerate() {
        let x = left + 150.0 * ti as f64;
        let yy = h - 22.0;
        let _ = writeln!(
            s,
            "<rect x=\"{x}\" y=\"{}\" width=\"12\" height=\"12\" fill=\"{}\"/><text x=\"{}\" y=\"{yy}\">{t}</text>",
            yy - 10.0,
            colors[ti],
            x + 16.0
        );
    }
    s.push_str("</svg>\n");
    s
}

fn short(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resp_replies_parse_incrementally() {
        assert_eq!(parse_resp(b"+OK\r\n").unwrap(), Some((5, Outcome::Ok)));
        assert_eq!(parse_resp(b"+OK\r").unwrap(), None);
        assert_eq!(parse_resp(b"$-1\r\n").unwrap(), Some((5, Outcome::Miss)));
        assert_eq!(
            parse_resp(b"$3\r\nabc\r\n+OK").unwrap(),
            Some((9, Outcome::Ok))
        );
        assert_eq!(parse_resp(b"$3\r\nab").unwrap(), None);
        assert_eq!(
            parse_resp(b"-FAILED x\r\n").unwrap(),
            Some((11, Outcome::Error))
        );
        assert!(parse_resp(b"?\r\n").is_err());
    }

    #[test]
    fn http_responses_parse_with_length_or_chunks() {
        let r = b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\n{\"kvs\":[1,2]}HTTP";
        assert_eq!(
            parse_http(Op::Get, r).unwrap(),
            Some((r.len() - 4, Outcome::Ok))
        );
        assert_eq!(parse_http(Op::Get, &r[..30]).unwrap(), None);
        let miss = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}";
        assert_eq!(
            parse_http(Op::Get, miss).unwrap(),
            Some((miss.len(), Outcome::Miss))
        );
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n";
        assert_eq!(
            parse_http(Op::Set, chunked).unwrap(),
            Some((chunked.len(), Outcome::Ok))
        );
        let err = b"HTTP/1.1 400 Bad\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(
            parse_http(Op::Set, err).unwrap(),
            Some((err.len(), Outcome::Error))
        );
    }

    #[test]
    fn echo_measures_a_round_trip() {
        let opts = BenchOptions {
            target: Target::Echo,
            addrs: vec![],
            route: Route::None,
            op: Op::Set,
            clients: 2,
            duration: Duration::from_millis(200),
            warmup: Duration::from_millis(50),
            keys: 10,
            value_bytes: 100,
            pipeline: 2,
            preload: false,
            fresh: false,
            server_pids: vec![std::process::id()],
            timeout: Duration::from_secs(2),
        };
        let r = run(&opts).unwrap();
        assert!(r.ops > 0 && r.errors == 0, "{}", r.to_line());
        let rows = parse_rows(&r.to_line());
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].target, "echo");
        assert!(rows[0].server_cpu.is_some());
        assert!(markdown_table(&rows).contains("| echo | 2 (P2) | echo |"));
    }

    #[test]
    fn report_has_ratio_lines_and_a_plot() {
        let text = "\
RESULT target=echo op=set clients=1 pipeline=1 ops_per_s=40000 p50_us=20
RESULT target=redis op=set clients=50 pipeline=1 ops_per_s=80000 p50_us=500 server_cpu_us_per_op=10
RESULT target=synod op=set clients=50 pipeline=1 ops_per_s=20000 p50_us=2000 server_cpu_us_per_op=100
RESULT target=etcd op=set clients=50 pipeline=1 ops_per_s=1000 p50_us=5000
RESULT target=synod op=set clients=1 pipeline=1 ops_per_s=5000 p50_us=60 peer_msgs_per_op=6.00 peer_bytes_per_op=700
RESULT target=synod route=key op=set clients=1 pipeline=1 ops_per_s=2000 p50_us=90 keys=fresh wrapped=0
";
        let rows = parse_rows(text);
        let lines = ratio_lines(&rows).join("\n");
        for want in [
            "SET 50 clients / redis: 0.25   (target >= 0.5: MISSED)",
            "SET 50 clients / etcd: 20.0   (target >= 10: met)",
            "single-client SET p50 / echo, repeated writes (routed): 3.00   (target <= 3: met)",
            "single-client SET p50 / echo, first writes (routed): 4.50   (target <= 4: MISSED)",
            "SET 50 clients CPU/op, 3 nodes / redis: 10.0   (target <= 3: MISSED)",
            "GET 50 clients / redis: n/a   (target >= 0.7: n/a (not measured))",
            "SET repeated (routed)       1 clients:  6.00 msgs/op (1.50x the minimum 4),   700 bytes/op",
        ] {
            assert!(lines.contains(want), "missing '{want}' in:\n{lines}");
        }
        let table = markdown_table(&rows);
        assert!(
            table.contains("| SET | 1 | synod first writes | 2000 | 90 |"),
            "{table}"
        );
        let svg = svg_plot(&rows);
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("synod SET 50 clients: 20000 ops/s"));
    }

    #[test]
    fn routed_and_unrouted_synod_rows_are_two_series_and_ratios_use_the_routed() {
        let text = "\
RESULT target=redis route=none op=set clients=50 pipeline=1 ops_per_s=40000 p50_us=500
RESULT target=synod route=key op=set clients=50 pipeline=1 ops_per_s=20000 p50_us=2000
RESULT target=synod route=none op=set clients=50 pipeline=1 ops_per_s=10000 p50_us=4000
";
        let rows = parse_rows(text);
        let table = markdown_table(&rows);
        assert!(table.contains("| SET | 50 | synod | 20000 |"), "{table}");
        assert!(
            table.contains("| SET | 50 | synod unrouted | 10000 |"),
            "{table}"
        );
        let lines = ratio_lines(&rows).join("\n");
        assert!(lines.contains("SET 50 clients / redis: 0.50"), "{lines}");
        assert!(
            lines.contains("SET 50 clients unrouted / redis: 0.25"),
            "{lines}"
        );
        let svg = svg_plot(&rows);
        assert!(svg.contains("synod unrouted SET 50 clients: 10000 ops/s"));
    }

    #[test]
    fn routing_is_refused_for_other_targets() {
        let opts = BenchOptions {
            target: Target::Redis,
            addrs: vec!["127.0.0.1:1".into()],
            route: Route::Key,
            op: Op::Set,
            clients: 1,
            duration: Duration::from_millis(10),
            warmup: Duration::ZERO,
            keys: 1,
            value_bytes: 1,
            pipeline: 1,
            preload: false,
            fresh: false,
            server_pids: vec![],
            timeout: Duration::from_millis(100),
        };
        let e = run(&opts).unwrap_err();
        assert!(e.to_string().contains("--target synod"), "{e}");
    }
}
