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
    Node(
        Command::new(env!("CARGO_BIN_EXE_synod"))
            .arg("node")
            .args(args)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
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
