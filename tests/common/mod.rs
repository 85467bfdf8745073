//! A local cluster of real `synod node` processes on loopback, for tests.
//! Every process is killed when the `Cluster` is dropped, pass or fail.

#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};
use synod::client::Client;

pub const CLUSTER_ID: &str = "test-cluster";

/// The cluster secret every test node is started with (docs/security.md).
pub const SECRET: &str = "test-secret-0123456789abcdef";

/// A file holding [`SECRET`], mode 600, shared by every test cluster of
/// this test binary.
pub fn secret_file() -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    static ONCE: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    ONCE.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("synod-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("cluster.secret");
        std::fs::write(&path, SECRET).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        path
    })
    .clone()
}

/// One node's process and addresses.
pub struct NodeProc {
    pub id: u32,
    pub client: SocketAddr,
    pub peer: SocketAddr,
    child: Option<Child>,
}

/// N node processes, all members of one cluster.
pub struct Cluster {
    pub nodes: Vec<NodeProc>,
    replicas: usize,
    /// Extra `synod node` flags given to every node.
    extra: Vec<String>,
    /// (user, password) the harness's own clients AUTH with, if any.
    auth: Option<(String, String)>,
    /// The CA file the harness's own clients trust, for nodes whose client
    /// port speaks TLS only (`--tls-clients yes`).
    tls_ca: Option<String>,
}

/// A port the OS says is free right now.
/// `n` distinct free ports: every listener stays bound until all are
/// chosen. (One port at a time, the kernel may hand the same port out twice,
/// and a cluster whose --peers list names one address twice refuses to
/// start; its test then talked to whatever else listened there.)
fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect()
}

impl Cluster {
    /// Starts `n` nodes with `--bootstrap` (a fresh cluster) and waits until each answers PING.
    pub fn start(n: u32, replicas: usize) -> Cluster {
        Cluster::start_with(n, replicas, &[])
    }

    /// As [`Cluster::start`], with extra `synod node` flags for every node.
    pub fn start_with(n: u32, replicas: usize, extra: &[&str]) -> Cluster {
        Cluster::start_with_auth(n, replicas, extra, None)
    }

    /// As [`Cluster::start_with`], for nodes that require AUTH: the
    /// harness's own clients (readiness, links) log in as `auth`.
    pub fn start_with_auth(
        n: u32,
        replicas: usize,
        extra: &[&str],
        auth: Option<(&str, &str)>,
    ) -> Cluster {
        Cluster::start_full(n, replicas, extra, auth, None)
    }

    /// As [`Cluster::start_with`], for nodes whose client port speaks TLS:
    /// the harness's clients connect with TLS, trusting `ca_file`.
    pub fn start_tls(n: u32, replicas: usize, extra: &[&str], ca_file: &str) -> Cluster {
        Cluster::start_full(n, replicas, extra, None, Some(ca_file))
    }

    fn start_full(
        n: u32,
        replicas: usize,
        extra: &[&str],
        auth: Option<(&str, &str)>,
        tls_ca: Option<&str>,
    ) -> Cluster {
        let ports = free_ports(2 * n as usize);
        let nodes = (1..=n)
            .map(|id| NodeProc {
                id,
                client: format!("127.0.0.1:{}", ports[2 * (id as usize - 1)])
                    .parse()
                    .unwrap(),
                peer: format!("127.0.0.1:{}", ports[2 * (id as usize - 1) + 1])
                    .parse()
                    .unwrap(),
                child: None,
            })
            .collect();
        let extra = extra.iter().map(|s| s.to_string()).collect();
        let mut c = Cluster {
            nodes,
            replicas,
            extra,
            auth: auth.map(|(u, p)| (u.to_string(), p.to_string())),
            tls_ca: tls_ca.map(str::to_string),
        };
        for id in 1..=n {
            c.spawn(id, true);
        }
        for id in 1..=n {
            c.wait_ready(id);
        }
        c.wait_linked(Duration::from_secs(10));
        c
    }

    /// Waits (at most `max`, then carries on) until every node's links to
    /// all the others are up: a loaded machine can take longer than a
    /// request's retry budget to connect the last pair after start-up.
    pub fn wait_linked(&self, max: Duration) {
        let start = Instant::now();
        let want = format!("peers_up:{}", self.nodes.len() - 1);
        let linked = |id: u32| {
            self.connect(id, Duration::from_millis(500))
                .and_then(|mut c| {
                    self.login(&mut c)?;
                    c.info(None)
                })
                .is_ok_and(|info| info.lines().any(|l| l.trim() == want))
        };
        while start.elapsed() < max {
            if (1..=self.nodes.len() as u32).all(linked) {
                return;
            }
            sleep(Duration::from_millis(20));
        }
    }

    fn peers_flag(&self) -> String {
        self.nodes
            .iter()
            .map(|p| format!("{}={}", p.id, p.peer))
            .collect::<Vec<_>>()
            .join(",")
    }

    fn spawn(&mut self, id: u32, bootstrap: bool) {
        let peers = self.peers_flag();
        let replicas = self.replicas.to_string();
        let node = &mut self.nodes[id as usize - 1];
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_synod"));
        cmd.args(["node", "--id", &id.to_string()])
            .args(["--client-addr", &node.client.to_string()])
            .args(["--peer-addr", &node.peer.to_string()])
            .args([
                "--peers",
                &peers,
                "--replicas",
                &replicas,
                "--cluster-id",
                CLUSTER_ID,
            ])
            .arg("--secret-file")
            .arg(secret_file())
            .args(&self.extra)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if bootstrap {
            cmd.arg("--bootstrap");
        }
        node.child = Some(cmd.spawn().expect("spawn synod node"));
    }

    /// Starts one more node, `--join --bootstrap` (empty, knowing no
    /// membership; `--peers` names every node so far and itself), and waits
    /// until it answers PING. Returns its id; `synod admin add-node` makes
    /// it a member.
    pub fn spawn_joiner(&mut self) -> u32 {
        let ports = free_ports(2);
        let id = self.nodes.len() as u32 + 1;
        self.nodes.push(NodeProc {
            id,
            client: format!("127.0.0.1:{}", ports[0]).parse().unwrap(),
            peer: format!("127.0.0.1:{}", ports[1]).parse().unwrap(),
            child: None,
        });
        self.extra.push("--join".into());
        self.spawn(id, true);
        self.extra.pop();
        self.wait_ready(id);
        id
    }

    /// Waits until node `id` answers PING (10 s at most).
    pub fn wait_ready(&self, id: u32) {
        let start = Instant::now();
        loop {
            if let Ok(mut c) = self.connect(id, Duration::from_millis(500)) {
                if self.login(&mut c).is_ok() && c.ping().is_ok() {
                    return;
                }
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "node {id} did not start"
            );
            sleep(Duration::from_millis(50));
        }
    }

    /// AUTH as the harness's user, if the nodes require one.
    fn login(&self, c: &mut Client) -> Result<(), synod::client::ClientError> {
        if let Some((user, pass)) = &self.auth {
            c.command(&[b"AUTH", user.as_bytes(), pass.as_bytes()])?;
        }
        Ok(())
    }

    /// Node `id`'s client address.
    pub fn addr(&self, id: u32) -> SocketAddr {
        self.nodes[id as usize - 1].client
    }

    /// Node `id`'s peer address.
    pub fn peer_addr(&self, id: u32) -> SocketAddr {
        self.nodes[id as usize - 1].peer
    }

    /// A client connected to node `id`.
    pub fn client(&self, id: u32) -> Client {
        self.connect(id, Duration::from_millis(synod::client::DEFAULT_TIMEOUT_MS))
            .expect("connect")
    }

    /// A connection to node `id` (over TLS if the cluster's client ports speak it).
    fn connect(&self, id: u32, timeout: Duration) -> Result<Client, synod::client::ClientError> {
        match &self.tls_ca {
            None => Client::connect_timeout(self.addr(id), timeout),
            Some(ca) => Client::connect_tls(&self.addr(id).to_string(), timeout, ca),
        }
    }

    /// SIGKILL node `id` and reap it.
    pub fn kill(&mut self, id: u32) {
        if let Some(mut child) = self.nodes[id as usize - 1].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts node `id` again, WITHOUT `--bootstrap`: a restarted node.
    pub fn restart(&mut self, id: u32) {
        self.kill(id);
        self.spawn(id, false);
        self.wait_ready(id);
    }

    /// True while node `id`'s process runs.
    pub fn is_running(&mut self, id: u32) -> bool {
        match self.nodes[id as usize - 1].child.as_mut() {
            Some(c) => c.try_wait().ok().flatten().is_none(),
            None => false,
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for id in 1..=self.nodes.len() as u32 {
            self.kill(id);
        }
    }
}

/// Retries `f` until it returns Some, for at most `secs` seconds.
pub fn eventually<T>(secs: u64, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(t) = f() {
            return t;
        }
        assert!(
            start.elapsed() < Duration::from_secs(secs),
            "condition not met within {secs} s"
        );
        sleep(Duration::from_millis(50));
    }
}
