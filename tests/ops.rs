//! Running a node as an operator does: a config file with flags over it,
//! CONFIG GET/SET, host names in --peers.

mod common;

use common::eventually;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use synod::client::Client;
use synod::resp::Reply;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A `synod node` process, killed when dropped.
struct Node(Child);

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(args: &[&str]) -> Node {
    spawn_logging(args, None)
}

/// As `spawn`, logging at info level to `log` if given.
fn spawn_logging(args: &[&str], log: Option<&std::path::Path>) -> Node {
    let (level, stderr) = match log {
        Some(p) => ("info", Stdio::from(std::fs::File::create(p).unwrap())),
        None => ("warn", Stdio::null()),
    };
    Node(
        Command::new(env!("CARGO_BIN_EXE_synod"))
            .arg("node")
            .args(args)
            .env("RUST_LOG", level)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("spawn synod node"),
    )
}

fn connect(addr: &str) -> Client {
    eventually(10, || {
        let mut c = Client::connect_timeout(addr, Duration::from_secs(10)).ok()?;
        c.ping().ok()?;
        Some(c)
    })
}

fn cmd(c: &mut Client, args: &[&str]) -> Reply {
    let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    match c.command(&args) {
        Ok(r) => r,
        Err(synod::client::ClientError::Server(e)) => Reply::Error(e),
        Err(e) => panic!("{args:?}: {e}"),
    }
}

fn pair(k: &str, v: &str) -> Reply {
    Reply::Array(vec![
        Reply::Bulk(k.as_bytes().to_vec()),
        Reply::Bulk(v.as_bytes().to_vec()),
    ])
}

fn temp_file(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("synod-ops-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn a_config_file_sets_every_flag_flags_override_it_and_config_get_set_answer_live() {
    let (client, peer) = (free_port(), free_port());
    let file = temp_file(
        "one.toml",
        &format!(
            "id = 1\nclient-addr = \"127.0.0.1:{client}\"\npeer-addr = \"127.0.0.1:{peer}\"\n\
             peers = [\"1=localhost:{peer}\"]\nreplicas = 1\nbootstrap = true\n\
             maxmemory = \"64mb\"\nmaxmemory-policy = \"allkeys-lru\"\nslowlog-max-len = 7\n"
        ),
    );
    let _node = spawn(&[
        "--config",
        file.to_str().unwrap(),
        "--max-memory-bytes",
        "32mb",
    ]);
    let mut c = connect(&format!("127.0.0.1:{client}"));
    // The flag wins over the file; the file's other keys hold.
    assert_eq!(
        cmd(&mut c, &["CONFIG", "GET", "maxmemory"]),
        pair("maxmemory", &(32u64 << 20).to_string())
    );
    assert_eq!(
        cmd(&mut c, &["CONFIG", "GET", "maxmemory-policy"]),
        pair("maxmemory-policy", "allkeys-lru")
    );
    assert_eq!(
        cmd(&mut c, &["config", "get", "slowlog-max-len"]),
        pair("slowlog-max-len", "7")
    );
    assert_eq!(
        cmd(&mut c, &["config", "get", "peers"]),
        pair("peers", &format!("1=localhost:{peer}"))
    );
    // Live changes: the cap is enforced at once (a 1-byte cap refuses a write).
    assert_eq!(cmd(&mut c, &["SET", "k", "v"]), Reply::ok());
    assert_eq!(
        cmd(
            &mut c,
            &[
                "CONFIG",
                "SET",
                "maxmemory",
                "1",
                "maxmemory-policy",
                "noeviction"
            ]
        ),
        Reply::ok()
    );
    assert_eq!(
        cmd(&mut c, &["CONFIG", "GET", "maxmemory"]),
        pair("maxmemory", "1")
    );
    match cmd(&mut c, &["SET", "k2", "v"]) {
        Reply::Error(e) => assert!(e.starts_with("OOM "), "{e}"),
        r => panic!("a write past a 1-byte cap answered {r:?}"),
    }
    assert_eq!(
        cmd(&mut c, &["CONFIG", "SET", "maxmemory", "0"]),
        Reply::ok()
    );
    assert_eq!(cmd(&mut c, &["SET", "k2", "v"]), Reply::ok());
    // What cannot change live says so, as Redis does.
    assert_eq!(
        cmd(&mut c, &["CONFIG", "SET", "replicas", "3"]),
        Reply::Error(
            "ERR CONFIG SET failed (possibly related to argument 'replicas') - can't set immutable config".into()
        )
    );
}

#[test]
fn a_bad_config_file_is_refused_with_the_key_at_fault() {
    let file = temp_file("bad.toml", "id = 1\nmaxmemory = \"lots\"\n");
    let out = Command::new(env!("CARGO_BIN_EXE_synod"))
        .args(["node", "--config", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("maxmemory: 'lots' is not a memory value"),
        "{err}"
    );
}

#[test]
fn peers_named_by_host_name_form_a_cluster() {
    let ports: Vec<(u16, u16)> = (0..3).map(|_| (free_port(), free_port())).collect();
    let peers = ports
        .iter()
        .enumerate()
        .map(|(i, (_, p))| format!("{}=localhost:{p}", i + 1))
        .collect::<Vec<_>>()
        .join(",");
    let _nodes: Vec<Node> = ports
        .iter()
        .enumerate()
        .map(|(i, (c, p))| {
            spawn(&[
                "--id",
                &(i + 1).to_string(),
                "--client-addr",
                &format!("127.0.0.1:{c}"),
                "--peer-addr",
                &format!("127.0.0.1:{p}"),
                "--peers",
                &peers,
                "--bootstrap",
            ])
        })
        .collect();
    let mut one = connect(&format!("127.0.0.1:{}", ports[0].0));
    let mut two = connect(&format!("127.0.0.1:{}", ports[1].0));
    eventually(20, || one.set(b"named", b"yes").ok());
    assert_eq!(two.get(b"named").unwrap(), Some(b"yes".to_vec()));
    let info = eventually(20, || {
        let info = two.info(Some("cluster")).ok()?;
        info.contains("peers_up:2").then_some(info)
    });
    assert!(info.contains("replicas:3"), "{info}");
    assert!(
        info.contains(&format!("addr=localhost:{}", ports[0].1)),
        "{info}"
    );
}

/// Starts `n` nodes (fresh cluster) on loopback, node i with `extra(i)` flags;
/// returns them and their client addresses.
fn cluster(n: usize, extra: impl Fn(usize) -> Vec<String>) -> (Vec<Node>, Vec<String>) {
    cluster_logging(n, extra, None)
}

/// As `cluster`, node 1 logging to `log` if given.
fn cluster_logging(
    n: usize,
    extra: impl Fn(usize) -> Vec<String>,
    log: Option<&std::path::Path>,
) -> (Vec<Node>, Vec<String>) {
    let ports: Vec<(u16, u16)> = (0..n).map(|_| (free_port(), free_port())).collect();
    let peers = ports
        .iter()
        .enumerate()
        .map(|(i, (_, p))| format!("{}=127.0.0.1:{p}", i + 1))
        .collect::<Vec<_>>()
        .join(",");
    let nodes = ports
        .iter()
        .enumerate()
        .map(|(i, (c, p))| {
            let mut args: Vec<String> = [
                "--id",
                &(i + 1).to_string(),
                "--client-addr",
                &format!("127.0.0.1:{c}"),
                "--peer-addr",
                &format!("127.0.0.1:{p}"),
                "--peers",
                &peers,
                "--bootstrap",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
            args.extend(extra(i + 1));
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            spawn_logging(&args, if i == 0 { log } else { None })
        })
        .collect();
    let addrs = ports
        .iter()
        .map(|(c, _)| format!("127.0.0.1:{c}"))
        .collect();
    (nodes, addrs)
}

/// One HTTP GET; returns (status line, body).
fn http_get(addr: &str, path: &str) -> (String, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connect to the metrics port");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP response");
    (
        head.lines().next().unwrap_or("").to_string(),
        body.to_string(),
    )
}

/// Parses Prometheus text with the Prometheus project's own Python parser
/// (prometheus_client; scripts/test.sh installs it): one line per sample,
/// `name{k="v",...} value` with labels sorted, or the parser's error.
fn parse_with_prometheus_client(text: &str) -> Vec<String> {
    use std::io::Write;
    let script = r#"
import sys
from prometheus_client.parser import text_string_to_metric_families
for fam in text_string_to_metric_families(sys.stdin.read()):
    for s in fam.samples:
        labels = ",".join('%s="%s"' % (k, v) for k, v in sorted(s.labels.items()))
        print("%s{%s} %s %s" % (s.name, labels, repr(float(s.value)), fam.type))
"#;
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 (scripts/test.sh installs it with prometheus_client)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "prometheus_client refused the exposition: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn sample(samples: &[String], prefix: &str) -> f64 {
    let line = samples
        .iter()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no sample {prefix} in\n{}", samples.join("\n")));
    line.split(' ').nth(1).unwrap().parse().unwrap()
}

#[test]
fn metrics_are_prometheus_text_that_a_real_parser_reads() {
    let metrics: Vec<String> = (0..3)
        .map(|_| format!("127.0.0.1:{}", free_port()))
        .collect();
    let m = metrics.clone();
    let (_nodes, addrs) = cluster(3, move |i| vec!["--metrics-addr".into(), m[i - 1].clone()]);
    let mut c = connect(&addrs[0]);
    eventually(20, || c.set(b"warm", b"up").ok());
    for a in &addrs {
        let mut n = connect(a);
        eventually(20, || {
            n.info(Some("cluster"))
                .ok()?
                .contains("peers_up:2")
                .then_some(())
        });
    }
    for i in 0..20 {
        c.set(format!("k{i}").as_bytes(), b"v").unwrap();
        assert_eq!(
            c.get(format!("k{i}").as_bytes()).unwrap(),
            Some(b"v".to_vec())
        );
    }
    assert!(matches!(cmd(&mut c, &["nosuchcommand"]), Reply::Error(_)));
    // Replies are accounted once written: the scrape sees them all.
    let samples = eventually(10, || {
        let (status, body) = http_get(&metrics[0], "/metrics");
        assert_eq!(status, "HTTP/1.1 200 OK");
        let s = parse_with_prometheus_client(&body);
        let sets = sample(&s, r#"synod_commands_total{cmd="set",outcome="ok"}"#);
        // Node 3's replies reach node 1 once its own link to node 1 is up.
        let from3 = sample(&s, r#"synod_peer_bytes_received_total{peer="3"}"#);
        (sets >= 21.0 && from3 > 0.0).then_some(s)
    });
    assert_eq!(
        sample(&samples, r#"synod_commands_total{cmd="get",outcome="ok"}"#),
        20.0
    );
    assert_eq!(
        sample(
            &samples,
            r#"synod_command_duration_seconds_count{cmd="get"}"#
        ),
        20.0
    );
    assert_eq!(
        sample(
            &samples,
            r#"synod_command_duration_seconds_bucket{cmd="get",le="+Inf"}"#
        ),
        20.0
    );
    assert!(samples.iter().any(
        |l| l.starts_with("synod_command_duration_seconds_bucket") && l.ends_with("histogram")
    ));
    assert_eq!(sample(&samples, r#"synod_errors_total{error="ERR"}"#), 1.0);
    assert_eq!(sample(&samples, "synod_voting{}"), 1.0);
    assert!(sample(&samples, "synod_rounds_chosen_total{}") >= 21.0);
    assert!(sample(&samples, r#"synod_peer_messages_sent_total{peer="2"}"#) > 0.0);
    assert!(sample(&samples, r#"synod_peer_bytes_received_total{peer="3"}"#) > 0.0);
    assert_eq!(sample(&samples, r#"synod_peer_up{peer="2"}"#), 1.0);
    // Every node serves it; /health says the node votes.
    for addr in &metrics {
        let (status, body) = http_get(addr, "/health");
        assert_eq!(status, "HTTP/1.1 200 OK", "{body}");
    }
    assert_eq!(http_get(&metrics[1], "/nosuch").0, "HTTP/1.1 404 Not Found");
    // INFO shows the same counts in Redis 7's sections.
    let info = c.info(Some("commandstats")).unwrap();
    assert!(info.contains("cmdstat_get:calls=20,"), "{info}");
    let info = c.info(Some("errorstats")).unwrap();
    assert!(info.contains("errorstat_ERR:count=1"), "{info}");
    let info = c.info(Some("latencystats")).unwrap();
    assert!(info.contains("latency_percentiles_usec_get:p50="), "{info}");
    // SLOWLOG with a 0 µs threshold records everything, newest first.
    assert_eq!(
        cmd(&mut c, &["CONFIG", "SET", "slowlog-log-slower-than", "0"]),
        Reply::ok()
    );
    cmd(&mut c, &["GET", "k1"]);
    let Reply::Array(entries) = cmd(&mut c, &["SLOWLOG", "GET", "2"]) else {
        panic!()
    };
    assert_eq!(entries.len(), 2);
    let Reply::Array(newest) = &entries[0] else {
        panic!()
    };
    assert_eq!(
        newest[3],
        Reply::Array(vec![
            Reply::Bulk(b"GET".to_vec()),
            Reply::Bulk(b"k1".to_vec())
        ])
    );
    assert_eq!(cmd(&mut c, &["CONFIG", "RESETSTAT"]), Reply::ok());
    assert_eq!(cmd(&mut c, &["SLOWLOG", "LEN"]), Reply::Integer(1));
}

#[test]
fn a_catch_up_that_cannot_finish_says_why_and_names_the_declare_lost_command() {
    let mut cl = common::Cluster::start(3, 3);
    cl.client(1).set(b"before", b"the crash").unwrap();
    // Two of three replicas lose their memory at once: each waits for the
    // other's listing, which a recovering node never gives.
    cl.kill(2);
    cl.kill(3);
    cl.restart(2);
    cl.restart(3);
    let addr = cl.addr(2).to_string();
    let info = eventually(30, || {
        let info = cl.client(2).info(Some("server")).ok()?;
        info.contains("recovery_blocked:").then_some(info)
    });
    let line = info
        .lines()
        .find(|l| l.starts_with("recovery_blocked:"))
        .unwrap();
    for needle in [
        "catch-up stalled for ",
        "node 3 (link up but no listing: it is most likely recovering too)",
        "a replica set of N=3 needs 2 of its other members caught up",
        "node 1 (it listed its keys; their rounds wait for a quorum of the other replicas)",
        "at least 1 of nodes {1,3}",
        &format!("run: synod admin declare-lost --node {addr}"),
    ] {
        assert!(line.contains(needle), "missing {needle:?} in {line}");
    }
    assert!(info.contains("role:recovering"), "{info}");
    assert!(
        info.contains(
            "recovery:0/1 keys repaired (listed so far; the total is not known yet), 0/2"
        ),
        "{info}"
    );
    // The command it names works.
    assert_eq!(
        cmd(&mut cl.client(2), &["ADMIN", "DECLARE-LOST"]),
        Reply::ok()
    );
    let info = cl.client(2).info(Some("server")).unwrap();
    assert!(
        info.contains("role:voter") && !info.contains("recovery_blocked"),
        "{info}"
    );
}

#[test]
fn sigterm_under_load_answers_every_client_and_exits_0() {
    let log = std::env::temp_dir().join(format!("synod-ops-{}-term.log", std::process::id()));
    let (mut nodes, addrs) = cluster_logging(3, |_| vec![], Some(&log));
    let mut probe = connect(&addrs[0]);
    eventually(20, || probe.set(b"ready", b"1").ok());
    // Eight clients write their own key as fast as node 1 answers.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let addr = addrs[0].clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut c =
                    Client::connect_timeout(addr.as_str(), Duration::from_secs(10)).unwrap();
                let key = format!("load{t}");
                let (mut acked, mut i) = (0u64, 0u64);
                loop {
                    i += 1;
                    match c.set(key.as_bytes(), i.to_string().as_bytes()) {
                        Ok(()) => acked = i,
                        Err(synod::client::ClientError::Server(e))
                            if e.starts_with("FAILED") || e.starts_with("UNKNOWN") => {}
                        // The node closed the connection: nothing was left unanswered.
                        Err(synod::client::ClientError::Closed) => return (key, acked, i),
                        Err(synod::client::ClientError::Io(e))
                            if matches!(
                                e.kind(),
                                std::io::ErrorKind::ConnectionReset
                                    | std::io::ErrorKind::BrokenPipe
                                    | std::io::ErrorKind::UnexpectedEof
                            ) =>
                        {
                            return (key, acked, i)
                        }
                        Err(e) => panic!("client {t}: {e} (a command left unanswered?)"),
                    }
                    if stop.load(std::sync::atomic::Ordering::Relaxed) {
                        return (key, acked, i);
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1_500));
    let node1 = &mut nodes[0].0;
    let status = Command::new("kill")
        .args(["-TERM", &node1.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = eventually(20, || node1.try_wait().unwrap());
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert_eq!(exit.code(), Some(0), "exit status {exit:?}");
    let mut other = connect(&addrs[1]);
    for th in threads {
        let (key, acked, sent) = th.join().expect("a client thread failed");
        assert!(
            acked > 0,
            "{key}: no write acknowledged before the shutdown"
        );
        // Every acknowledged write survives (a later UNKNOWN one may have landed too).
        let v: u64 = String::from_utf8(other.get(key.as_bytes()).unwrap().unwrap())
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            v >= acked && v <= sent,
            "{key}: read {v}, acknowledged {acked}, sent {sent}"
        );
    }
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("shutting down (SIGTERM)") && text.contains("shutdown (SIGTERM) complete: "),
        "{text}"
    );
}
