//! The TCP runtime: the only place that names async-std.
//!
//! A thin driver around the pure [`Node`](crate::core::Node), in the manner of
//! quinn over quinn-proto. One event-loop task owns the node (no lock around
//! the core) and is fed, through one bounded channel, by small connection tasks:
//!
//! - **peer dialers** (`peer.rs`), one per other member: connect with jittered
//!   exponential backoff, handshake, then *send only* on that connection,
//!   draining the peer's bounded send queue;
//! - **peer acceptors**: handshake, then *receive only*: decode frames and pass
//!   their envelopes to the loop;
//! - **client connections** (`client_conn.rs`): RESP2 in, replies written back
//!   in command order.
//!
//! A message carrying a big value (`peer::OFFLOAD_MIN_BYTES`) goes on a
//! second connection to its peer, the bulk link, so a 16 MiB frame on the
//! wire does not hold up the small frames behind it; its frame is encoded and
//! tagged, or checked and decoded, on async-std's blocking pool, so the
//! executor thread (one by default) stays free for the loop and every other
//! connection.
//!
//! Each turn the loop waits for an event or the node's next timer, drains every
//! event already queued (up to `turn_events_max`), calls `Node::handle` for
//! each, and only then flushes: all messages for one peer produced in the turn
//! leave as one `Frame::Batch`, so one write per peer per turn (`event_loop.rs`).

mod client_conn;
mod event_loop;
mod metrics_http;
mod peer;
pub mod tls;

use crate::auth::{self, ClusterSecret};
use crate::codec::{self, FRAME_SIZE_MAX_BYTES};
use crate::commands::Acl;
use crate::core::{Config, Eviction, Incarnation, Node, NodeId, Placement};
use crate::metrics::Metrics;
use crate::resp::RespLimits;
use async_std::channel;
use async_std::net::{TcpListener, TcpStream};
use async_std::task;
use parking_lot::Mutex;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Every bound and timing of the runtime, with its default and why.
#[derive(Clone, Debug)]
pub struct RuntimeConfig {
    /// Largest peer frame accepted or sent. Checked on the length prefix before
    /// anything is allocated; at most [`codec::FRAME_SIZE_MAX_BYTES`] (bincode's
    /// compile-time decode limit), and by default equal to it. Must hold one
    /// Accept of the largest value a client may store.
    pub frame_size_max_bytes: usize,
    /// Frames waiting for one peer at most. On overflow a Confirm-only frame is
    /// dropped first, else the newest frame; both are counted. 1024 turns of
    /// backlog is far beyond a healthy peer and short of a memory problem.
    pub send_queue_max_frames: usize,
    /// Bytes waiting for one peer at most (same overflow rule). 256 MiB.
    pub send_queue_max_bytes: usize,
    /// Events waiting for the event loop at most; connection tasks wait when it
    /// is full, which slows the sockets down instead of growing memory.
    pub event_queue_max_events: usize,
    /// Events handled in one loop turn at most before flushing, so one burst
    /// cannot delay the flush (and every peer's Accepts) indefinitely.
    pub turn_events_max: usize,
    /// Commands one client may have outstanding (sent, reply not yet written).
    /// Past it we stop reading from that client; a reply is never dropped.
    pub client_pipeline_max: usize,
    /// Client connections at most (Redis's `maxclients`); more are refused
    /// with Redis's error.
    pub client_connections_max: usize,
    /// Reply bytes one client may owe (sent by us, not yet read by it) before
    /// its connection is closed (Redis's `client-output-buffer-limit`, the
    /// hard limit; 0: none). 64 MiB: four of the largest values.
    pub client_output_buffer_limit_bytes: usize,
    /// A client that sends nothing for this long is disconnected (Redis's
    /// `timeout`, in ms here; 0: never, Redis's default).
    pub client_idle_timeout_ms: u64,
    /// A command started but not finished within this long closes the
    /// connection: a half-sent 60 MB bulk cannot hold its buffer for ever.
    pub client_request_deadline_ms: u64,
    /// Inbound peer connections at most (handshaking or established).
    pub peer_inbound_connections_max: usize,
    /// Inbound peer connections still in their handshake at most: strangers
    /// cannot hold every slot with half-finished handshakes.
    pub peer_handshakes_max: usize,
    /// Messages in one peer frame at most; a frame with more closes the link
    /// (the sender splits its batches to fit). Bounds the work one frame
    /// makes the event loop do before it flushes.
    pub frame_messages_max: usize,
    /// Bytes read from a peer socket per read call: large, since one read may
    /// carry a whole batch.
    pub peer_read_chunk_bytes: usize,
    /// Bytes read from a client socket per read call: small, since there may be
    /// thousands of clients.
    pub client_read_chunk_bytes: usize,
    /// A handshake not finished in this long closes the connection.
    pub handshake_timeout_ms: u64,
    /// A connect attempt not finished in this long is abandoned.
    pub connect_timeout_ms: u64,
    /// First reconnect delay; doubles (jittered) per failure.
    pub reconnect_backoff_min_ms: u64,
    /// Reconnect delay ceiling: a restarted peer is found within about this long.
    pub reconnect_backoff_max_ms: u64,
    /// Bounds of the RESP2 parser (per client connection).
    pub resp: RespLimits,
    /// Executor threads (async-std's `ASYNC_STD_THREAD_COUNT`, used if that
    /// variable is unset and this is the process's first runtime); 0:
    /// async-std's default, one per core. The default, 1: the event loop and
    /// the connection tasks wake each other on one thread, with no request
    /// hand-off between threads (each would be a futex wake and a context
    /// switch, which cost more than the protocol itself: docs/bench/README.md).
    /// The event loop owns the node, so a second thread would only run the
    /// connection tasks' parsing and encoding beside it; one thread caps a
    /// node at about one core.
    pub executor_threads: usize,
    /// A frame to a peer holding only Confirms waits up to this long for
    /// other messages to that peer to share it (0: sent at the turn's end).
    /// A Confirm only enables fast reads and tombstone clean-up, so a short
    /// wait costs at most a fallback read; it saves a send and a wake-up per
    /// peer per write when the next message to that peer comes soon.
    pub confirm_hold_us: u64,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            frame_size_max_bytes: FRAME_SIZE_MAX_BYTES,
            send_queue_max_frames: 1024,
            send_queue_max_bytes: 256 * 1024 * 1024,
            event_queue_max_events: 4096,
            turn_events_max: 1024,
            client_pipeline_max: 1024,
            client_connections_max: 10_000,
            client_output_buffer_limit_bytes: 64 * 1024 * 1024,
            client_idle_timeout_ms: 0,
            client_request_deadline_ms: 30_000,
            peer_inbound_connections_max: 256,
            peer_handshakes_max: 16,
            frame_messages_max: 65_536,
            peer_read_chunk_bytes: 256 * 1024,
            client_read_chunk_bytes: 16 * 1024,
            handshake_timeout_ms: 2_000,
            connect_timeout_ms: 1_000,
            reconnect_backoff_min_ms: 50,
            reconnect_backoff_max_ms: 500,
            resp: RespLimits::default(),
            executor_threads: 1,
            confirm_hold_us: 1_000,
        }
    }
}

/// Room for an envelope's fields besides its key and value.
const ENVELOPE_OVERHEAD_BYTES: usize = 4096;

impl RuntimeConfig {
    /// Checks each bound and their relations to each other and to the core's.
    pub fn validate(&self, core: &Config) -> Result<(), RuntimeError> {
        let fail = |why: String| Err(RuntimeError::Config(why));
        let positive = [
            ("frame_size_max_bytes", self.frame_size_max_bytes as u64),
            ("send_queue_max_frames", self.send_queue_max_frames as u64),
            ("send_queue_max_bytes", self.send_queue_max_bytes as u64),
            ("event_queue_max_events", self.event_queue_max_events as u64),
            ("turn_events_max", self.turn_events_max as u64),
            ("client_pipeline_max", self.client_pipeline_max as u64),
            ("client_connections_max", self.client_connections_max as u64),
            (
                "peer_inbound_connections_max",
                self.peer_inbound_connections_max as u64,
            ),
            ("peer_handshakes_max", self.peer_handshakes_max as u64),
            ("frame_messages_max", self.frame_messages_max as u64),
            ("peer_read_chunk_bytes", self.peer_read_chunk_bytes as u64),
            (
                "client_read_chunk_bytes",
                self.client_read_chunk_bytes as u64,
            ),
            ("handshake_timeout_ms", self.handshake_timeout_ms),
            ("connect_timeout_ms", self.connect_timeout_ms),
            ("reconnect_backoff_min_ms", self.reconnect_backoff_min_ms),
        ];
        if let Some((name, _)) = positive.iter().find(|(_, v)| *v == 0) {
            return fail(format!("{name} must be > 0"));
        }
        if self.frame_size_max_bytes > FRAME_SIZE_MAX_BYTES {
            return fail(format!(
                "frame_size_max_bytes = {} exceeds {} (bincode's compile-time decode limit, \
                 codec::FRAME_SIZE_MAX_BYTES)",
                self.frame_size_max_bytes, FRAME_SIZE_MAX_BYTES
            ));
        }
        let one_accept = core
            .value_len_max_bytes
            .saturating_add(core.key_len_max_bytes)
            .saturating_add(ENVELOPE_OVERHEAD_BYTES);
        if self.frame_size_max_bytes < one_accept {
            return fail(format!(
                "frame_size_max_bytes = {} cannot hold one Accept of the largest value \
                 (value_len_max_bytes {} + key_len_max_bytes {} + {} bytes of overhead)",
                self.frame_size_max_bytes,
                core.value_len_max_bytes,
                core.key_len_max_bytes,
                ENVELOPE_OVERHEAD_BYTES
            ));
        }
        if self.send_queue_max_bytes < self.frame_size_max_bytes {
            return fail(format!(
                "send_queue_max_bytes = {} is below frame_size_max_bytes = {}: a largest \
                 frame could never be queued",
                self.send_queue_max_bytes, self.frame_size_max_bytes
            ));
        }
        if self.reconnect_backoff_max_ms < self.reconnect_backoff_min_ms {
            return fail(format!(
                "reconnect_backoff_max_ms = {} is below reconnect_backoff_min_ms = {}",
                self.reconnect_backoff_max_ms, self.reconnect_backoff_min_ms
            ));
        }
        self.resp
            .validate()
            .map_err(|e| RuntimeError::Config(e.to_string()))
    }
}

/// How to run one node.
#[derive(Clone, Debug)]
pub struct NodeOptions {
    /// This node's id; must be a key of `peers`.
    pub node_id: NodeId,
    /// Where clients connect (RESP2).
    pub client_addr: SocketAddr,
    /// Where peers connect; must equal `peers[node_id]`.
    pub peer_addr: SocketAddr,
    /// Every member, this node included: id -> `HOST:PORT`, where HOST is an
    /// IP or a name (resolved at every connect attempt).
    pub peers: BTreeMap<NodeId, String>,
    /// N: replicas per key.
    pub replicas: usize,
    /// The cluster's name, compared in the handshake.
    pub cluster_id: String,
    /// Fresh cluster: vote at once. Without it the node has restarted, must not
    /// vote, and serves as a coordinator only (docs/design.md, Restart).
    pub bootstrap: bool,
    /// A node joining a running cluster (`--join`): it starts knowing no
    /// membership, learns it from the peers in `peers` it reaches, and
    /// serves once `synod admin add-node` made it a member. `peers` names
    /// it and at least one member.
    pub join: bool,
    /// Memory cap for this node's keys and values in bytes (0: none).
    pub memory_max_bytes: u64,
    /// What to do at the cap.
    pub eviction: Eviction,
    /// The cluster secret (auth.rs): peers prove they hold it and tag every
    /// frame. None: the peer port takes loopback connections only.
    pub secret: Option<ClusterSecret>,
    /// Where to serve Prometheus metrics over HTTP (None: nowhere).
    pub metrics_addr: Option<SocketAddr>,
    /// SLOWLOG records commands slower than this (µs; 0: all, -1: none).
    pub slowlog_slower_than_us: i64,
    /// SLOWLOG entries kept at most.
    pub slowlog_max_len: usize,
    /// The log level (CONFIG SET loglevel changes it live).
    pub log_level: log::LevelFilter,
    /// Client users and rights (commands/acl.rs); the default: one user,
    /// no password, every right.
    pub acl: Arc<Acl>,
    /// Redis's protected mode: with no password for the default user,
    /// clients from addresses other than loopback are refused.
    pub protected_mode: bool,
    /// TLS for the client port and the peer link (tls.rs); off by default.
    pub tls: tls::TlsOptions,
    /// The runtime's bounds.
    pub runtime: RuntimeConfig,
}

impl NodeOptions {
    /// Options with default bounds, three replicas (or fewer members) and cluster id "synod".
    pub fn new(
        node_id: NodeId,
        client_addr: SocketAddr,
        peers: BTreeMap<NodeId, SocketAddr>,
        bootstrap: bool,
    ) -> NodeOptions {
        let peer_addr = peers
            .get(&node_id)
            .copied()
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
        NodeOptions {
            node_id,
            client_addr,
            peer_addr,
            replicas: peers.len().clamp(1, 3),
            peers: peers
                .into_iter()
                .map(|(id, a)| (id, a.to_string()))
                .collect(),
            cluster_id: "synod".into(),
            bootstrap,
            join: false,
            memory_max_bytes: 0,
            eviction: Eviction::NoEviction,
            secret: None,
            metrics_addr: None,
            slowlog_slower_than_us: 10_000,
            slowlog_max_len: 128,
            log_level: log::LevelFilter::Info,
            acl: Arc::new(Acl::default()),
            protected_mode: true,
            tls: tls::TlsOptions::default(),
            runtime: RuntimeConfig::default(),
        }
    }

    /// Checks the membership; the error text is one line a user can act on.
    pub fn validate(&self) -> Result<(), RuntimeError> {
        let fail = |why: String| Err(RuntimeError::Config(why));
        let Some(own) = self.peers.get(&self.node_id) else {
            let ids: Vec<_> = self.peers.keys().collect();
            return fail(format!(
                "--id {} is not in --peers (ids {ids:?}); list every member, this node included",
                self.node_id
            ));
        };
        // Our entry is how the others reach us: an IP must be the one we
        // listen on (or we listen on every address); a name must at least
        // name our port.
        let same = match own.parse::<SocketAddr>() {
            Ok(a) => {
                a == self.peer_addr
                    || (self.peer_addr.ip().is_unspecified() && a.port() == self.peer_addr.port())
            }
            Err(_) => {
                own.rsplit_once(':')
                    .and_then(|(_, p)| p.parse::<u16>().ok())
                    == Some(self.peer_addr.port())
            }
        };
        if !same {
            return fail(format!(
                "--peer-addr {} differs from this node's entry in --peers ({own})",
                self.peer_addr
            ));
        }
        if self.replicas == 0 || self.replicas > self.peers.len() {
            return fail(format!(
                "--replicas {} must be between 1 and the number of members ({})",
                self.replicas,
                self.peers.len()
            ));
        }
        let mut seen = HashMap::new();
        for (id, addr) in &self.peers {
            if let Some(other) = seen.insert(addr.as_str(), *id) {
                return fail(format!(
                    "nodes {other} and {id} share the peer address {addr}"
                ));
            }
        }
        if self.client_addr == self.peer_addr {
            return fail(format!(
                "--client-addr and --peer-addr are both {}",
                self.client_addr
            ));
        }
        if self.cluster_id.is_empty() || self.cluster_id.len() > 256 {
            return fail("--cluster-id must be 1 to 256 bytes".into());
        }
        Ok(())
    }

    /// The core's configuration for this node.
    pub fn core_config(&self, incarnation: Incarnation) -> Config {
        let mut cfg = Config::new(self.node_id, self.peers.keys().copied().collect());
        cfg.replicas = self.replicas;
        if self.join {
            // Knowing no membership: learnt from the peers (membership.rs).
            cfg.membership = Some(crate::core::Membership::default());
        }
        cfg.memory_max_bytes = self.memory_max_bytes;
        cfg.eviction = self.eviction;
        // Distinct jitter streams per node and life.
        cfg.rng_seed = incarnation ^ (u64::from(self.node_id) << 48);
        // Secret, unlike the incarnation (INFO shows it): clients must not
        // be able to choose keys whose hashes collide (core/keymap.rs).
        cfg.hash_seed = rand::random();
        cfg
    }
}

/// Why a node could not start.
#[derive(Debug)]
pub enum RuntimeError {
    /// Options or bounds that cannot work.
    Config(String),
    /// A listening socket could not be opened.
    Bind {
        what: &'static str,
        addr: SocketAddr,
        error: std::io::Error,
    },
}

impl fmt::Display for RuntimeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RuntimeError::Config(why) => write!(f, "invalid configuration: {why}"),
            RuntimeError::Bind { what, addr, error } => write!(
                f,
                "cannot listen on {what} address {addr}: {error} (is another node or \
                 process using it?)"
            ),
        }
    }
}

impl std::error::Error for RuntimeError {}

/// Runtime counters, shown by INFO next to the core's.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub frames_sent: AtomicU64,
    pub messages_sent: AtomicU64,
    pub bytes_sent: AtomicU64,
    pub frames_dropped: AtomicU64,
    pub messages_dropped: AtomicU64,
    pub messages_dropped_link_down: AtomicU64,
    pub frames_received: AtomicU64,
    pub bytes_received: AtomicU64,
    pub bad_peer_connections: AtomicU64,
    pub peer_handshakes_refused: AtomicU64,
    pub peer_auth_refused: AtomicU64,
    pub peer_connections_refused_protected: AtomicU64,
    pub peer_connections_backed_off: AtomicU64,
    pub peer_links_closed_bad_messages: AtomicU64,
    pub peer_connect_failures: AtomicU64,
    pub client_connections_accepted: AtomicU64,
    pub client_connections_refused: AtomicU64,
    pub client_connections_refused_protected: AtomicU64,
    pub clients_connected: AtomicU64,
    pub bad_client_connections: AtomicU64,
    pub client_commands: AtomicU64,
    pub client_output_buffer_disconnections: AtomicU64,
    /// Bytes of replies owed to every client now (a gauge): counted against
    /// the memory cap (Redis 7's maxmemory-clients idea).
    pub client_output_buffers_bytes: AtomicU64,
    pub client_timeouts: AtomicU64,
    pub loop_turns: AtomicU64,
    pub loop_events: AtomicU64,
}

impl Counters {
    pub fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }

    pub fn inc(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// Every counter by name, for INFO.
    pub fn snapshot(&self) -> Vec<(&'static str, u64)> {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        vec![
            ("frames_sent", g(&self.frames_sent)),
            ("messages_sent", g(&self.messages_sent)),
            ("bytes_sent", g(&self.bytes_sent)),
            ("frames_dropped", g(&self.frames_dropped)),
            ("messages_dropped_queue_full", g(&self.messages_dropped)),
            (
                "messages_dropped_link_down",
                g(&self.messages_dropped_link_down),
            ),
            ("frames_received", g(&self.frames_received)),
            ("bytes_received", g(&self.bytes_received)),
            ("bad_peer_connections", g(&self.bad_peer_connections)),
            ("peer_handshakes_refused", g(&self.peer_handshakes_refused)),
            ("peer_auth_refused", g(&self.peer_auth_refused)),
            (
                "peer_connections_refused_protected",
                g(&self.peer_connections_refused_protected),
            ),
            (
                "peer_connections_backed_off",
                g(&self.peer_connections_backed_off),
            ),
            (
                "peer_links_closed_bad_messages",
                g(&self.peer_links_closed_bad_messages),
            ),
            ("peer_connect_failures", g(&self.peer_connect_failures)),
            (
                "client_connections_accepted",
                g(&self.client_connections_accepted),
            ),
            (
                "client_connections_refused",
                g(&self.client_connections_refused),
            ),
            (
                "client_connections_refused_protected",
                g(&self.client_connections_refused_protected),
            ),
            ("bad_client_connections", g(&self.bad_client_connections)),
            ("client_commands", g(&self.client_commands)),
            (
                "client_output_buffer_disconnections",
                g(&self.client_output_buffer_disconnections),
            ),
            ("client_timeouts", g(&self.client_timeouts)),
            (
                "client_output_buffers_bytes",
                g(&self.client_output_buffers_bytes),
            ),
            ("loop_turns", g(&self.loop_turns)),
            ("loop_events", g(&self.loop_events)),
        ]
    }
}

/// State shared by the loop and the connection tasks (never the core's state).
pub(crate) struct Shared {
    pub opts: NodeOptions,
    pub incarnation: Incarnation,
    /// `Placement::replication_fingerprint(N)`, for our Hello.
    pub membership_hash: u64,
    /// The node's membership epoch, published by the loop (for our Hello).
    pub epoch: AtomicU64,
    pub counters: Counters,
    /// The incarnation the loop knows for each peer (for our Hello).
    pub known_incarnations: Mutex<BTreeMap<NodeId, Incarnation>>,
    /// Every open socket, so `stop` can close them all.
    pub sockets: Mutex<HashMap<u64, TcpStream>>,
    pub next_socket_id: AtomicU64,
    pub stopping: AtomicBool,
    /// The peers we dial: their send queues (filled by the loop, drained by
    /// the dialers), bulk queues, traffic counters and addresses. Created
    /// for the start list, and by the loop when an epoch (or an add-node)
    /// names a node; closed when a node leaves (`Shared::add_peer`,
    /// `Shared::retire_peer`).
    pub links: Mutex<BTreeMap<NodeId, Arc<PeerLink>>>,
    /// Dialer tasks started after the node started, so `stop` ends them.
    pub extra_tasks: Mutex<Vec<task::JoinHandle<()>>>,
    /// Who may open a peer connection now (back-off, peer.rs).
    pub gate: peer::Gate,
    /// Client users, as `opts.acl` at start, changed by ACL SETUSER.
    pub users: crate::commands::Users,
    /// Established inbound peer connections: socket id -> (node, stream).
    pub inbound: Mutex<HashMap<u64, (NodeId, TcpStream)>>,
    /// Per-command counters, error counts and the SLOWLOG (metrics.rs).
    pub metrics: Mutex<Metrics>,
    /// SLOWLOG thresholds, changed live by CONFIG SET.
    pub slowlog_slower_than_us: AtomicI64,
    pub slowlog_max_len: AtomicU64,
    /// Shutting down: client readers answer what they already read and stop.
    pub draining: AtomicBool,
    /// Client sockets (a subset of `sockets`), so a shutdown can stop their reads.
    pub client_sockets: Mutex<HashMap<u64, TcpStream>>,
    /// Asks for a graceful shutdown (SHUTDOWN, a signal), with the reason.
    pub shutdown_tx: channel::Sender<String>,
    /// Scripts loaded on this node (SCRIPT LOAD, EVAL), for EVALSHA.
    pub scripts: crate::commands::ScriptCache,
    /// TLS configurations loaded from `opts.tls`'s files (None where off).
    pub tls: tls::Tls,
}

/// One peer we dial: its queues, counters and address.
pub(crate) struct PeerLink {
    /// Where we dial it (`HOST:PORT`).
    pub addr: String,
    /// Frames for it, drained by the dialer of the main link.
    pub queue: Arc<peer::SendQueue>,
    /// Frames carrying big values, drained by a second connection to the
    /// peer (the bulk link): a 16 MiB frame being written does not hold up
    /// the small frames behind it (peer.rs).
    pub bulk: Arc<peer::SendQueue>,
    /// Messages and bytes (INFO, /metrics).
    pub counters: PeerCounters,
    /// Set when the node left the membership: its dialers stop.
    pub retired: AtomicBool,
}

/// Traffic with one peer.
#[derive(Debug, Default)]
pub(crate) struct PeerCounters {
    pub messages_sent: AtomicU64,
    pub bytes_sent: AtomicU64,
    pub messages_received: AtomicU64,
    pub bytes_received: AtomicU64,
}

impl Shared {
    /// The link to `node`, if we dial it.
    pub fn link(&self, node: NodeId) -> Option<Arc<PeerLink>> {
        self.links.lock().get(&node).cloned()
    }

    /// Starts dialing `node` at `addr` (its main and bulk links), unless we
    /// already do. Returns false if we already did.
    pub fn add_peer(
        self: &Arc<Self>,
        node: NodeId,
        addr: &str,
        events: &channel::Sender<event_loop::Event>,
    ) -> bool {
        if node == self.opts.node_id || self.stopping() {
            return false;
        }
        let link = {
            let mut links = self.links.lock();
            if links.contains_key(&node) {
                return false;
            }
            let link = Arc::new(PeerLink {
                addr: addr.to_string(),
                queue: Arc::new(peer::SendQueue::new()),
                bulk: Arc::new(peer::SendQueue::new()),
                counters: PeerCounters::default(),
                retired: AtomicBool::new(false),
            });
            links.insert(node, link.clone());
            link
        };
        let mut tasks = self.extra_tasks.lock();
        for bulk in [false, true] {
            tasks.push(task::spawn(peer::dial_loop(
                node,
                link.clone(),
                self.clone(),
                events.clone(),
                bulk,
            )));
        }
        true
    }

    /// Stops dialing `node` (it left the membership): its queues close and
    /// its dialers end; frames still queued for it are dropped.
    pub fn retire_peer(&self, node: NodeId) {
        let Some(link) = self.links.lock().remove(&node) else {
            return;
        };
        link.retired.store(true, Ordering::Relaxed);
        link.queue.close();
        link.bulk.close();
        link.queue.wake();
        link.bulk.wake();
    }

    /// Our handshake, naming what we know of `peer`.
    pub fn hello(&self, peer: Option<NodeId>) -> codec::Hello {
        let known = peer
            .and_then(|p| self.known_incarnations.lock().get(&p).copied())
            .unwrap_or(0);
        codec::Hello {
            magic: codec::MAGIC,
            protocol_version: codec::PROTOCOL_VERSION,
            cluster_id: self.opts.cluster_id.clone(),
            membership_hash: self.membership_hash,
            membership_epoch: self.epoch.load(Ordering::Relaxed),
            node_id: self.opts.node_id,
            incarnation: self.incarnation,
            known_peer_incarnation: known,
            authenticated: self.opts.secret.is_some(),
            nonce: auth::nonce(),
        }
    }

    /// Remembers an established inbound connection from `node` until the
    /// returned guard is dropped, so a bad message can close it.
    pub fn register_inbound(self: &Arc<Self>, node: NodeId, stream: &TcpStream) -> InboundGuard {
        let id = self.next_socket_id.fetch_add(1, Ordering::Relaxed);
        self.inbound.lock().insert(id, (node, stream.clone()));
        InboundGuard {
            shared: self.clone(),
            id,
        }
    }

    /// Shuts every inbound connection from `node`; returns how many.
    pub fn close_inbound(&self, node: NodeId) -> usize {
        let m = self.inbound.lock();
        let mut n = 0;
        for (from, s) in m.values() {
            if *from == node {
                let _ = s.shutdown(std::net::Shutdown::Both);
                n += 1;
            }
        }
        n
    }

    /// Remembers `stream` until the returned guard is dropped.
    pub fn register(self: &Arc<Self>, stream: &TcpStream) -> SocketGuard {
        let id = self.next_socket_id.fetch_add(1, Ordering::Relaxed);
        self.sockets.lock().insert(id, stream.clone());
        SocketGuard {
            shared: self.clone(),
            id,
        }
    }

    /// As [`Shared::register`], for a client connection.
    pub fn register_client(self: &Arc<Self>, stream: &TcpStream) -> ClientGuard {
        let guard = self.register(stream);
        self.client_sockets.lock().insert(guard.id, stream.clone());
        ClientGuard(guard)
    }

    pub fn stopping(&self) -> bool {
        self.stopping.load(Ordering::Relaxed)
    }

    pub fn draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }
}

/// Forgets a client socket when its connection task ends.
pub(crate) struct ClientGuard(SocketGuard);

impl Drop for ClientGuard {
    fn drop(&mut self) {
        self.0.shared.client_sockets.lock().remove(&self.0.id);
    }
}

/// Forgets a socket when its connection task ends.
pub(crate) struct SocketGuard {
    shared: Arc<Shared>,
    id: u64,
}

impl Drop for SocketGuard {
    fn drop(&mut self) {
        self.shared.sockets.lock().remove(&self.id);
    }
}

/// Forgets an inbound connection when its task ends.
pub(crate) struct InboundGuard {
    shared: Arc<Shared>,
    id: u64,
}

impl Drop for InboundGuard {
    fn drop(&mut self) {
        self.shared.inbound.lock().remove(&self.id);
    }
}

/// A running node.
pub struct NodeHandle {
    shared: Arc<Shared>,
    client_addr: SocketAddr,
    peer_addr: SocketAddr,
    tasks: Vec<task::JoinHandle<()>>,
    stop_tx: channel::Sender<event_loop::Event>,
    /// The client port's accept loop, stopped first by a shutdown.
    client_accept: Option<task::JoinHandle<()>>,
    shutdown_rx: channel::Receiver<String>,
}

/// Asks a running node to shut down gracefully (from a signal handler's thread).
#[derive(Clone)]
pub struct ShutdownTrigger(channel::Sender<String>);

impl ShutdownTrigger {
    /// Requests the shutdown, giving the reason the log will name.
    pub fn request(&self, why: &str) {
        let _ = self.0.try_send(why.to_string());
    }
}

/// How a graceful shutdown went.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Client requests in flight when it began, answered with their outcome.
    pub finished: usize,
    /// Those still undecided at the drain deadline, answered UNKNOWN.
    pub unknown: usize,
    /// Client connections still open when it began.
    pub clients: usize,
}

impl NodeHandle {
    /// The bound client address.
    pub fn client_addr(&self) -> SocketAddr {
        self.client_addr
    }

    /// The bound peer address.
    pub fn peer_addr(&self) -> SocketAddr {
        self.peer_addr
    }

    /// This life's incarnation.
    pub fn incarnation(&self) -> Incarnation {
        self.shared.incarnation
    }

    /// Stops the node: closes the listeners, every connection and the event loop.
    pub fn stop(self) {
        self.shared.stopping.store(true, Ordering::Relaxed);
        let _ = self.stop_tx.try_send(event_loop::Event::Stop);
        task::block_on(async {
            if let Some(t) = self.client_accept {
                t.cancel().await;
            }
            for t in self.tasks {
                t.cancel().await;
            }
            let extra = std::mem::take(&mut *self.shared.extra_tasks.lock());
            for t in extra {
                t.cancel().await;
            }
        });
        for (_, s) in self.shared.sockets.lock().drain() {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
    }

    /// Something that asks this node to shut down (SHUTDOWN does the same).
    pub fn shutdown_trigger(&self) -> ShutdownTrigger {
        ShutdownTrigger(self.shared.shutdown_tx.clone())
    }

    /// Blocks until a shutdown is requested, then shuts down gracefully and
    /// logs one line saying how it went.
    pub fn run_until_shutdown(self) -> ShutdownReport {
        let why = task::block_on(self.shutdown_rx.recv()).unwrap_or_else(|_| "unknown".into());
        self.shutdown(&why)
    }

    /// Stops gracefully: stop accepting clients, stop reading from them
    /// (commands already read are answered), let in-flight requests finish
    /// (those undecided at the retry budget are answered UNKNOWN), wait for
    /// every reply to be written, then close peers and the loop.
    pub fn shutdown(mut self, why: &str) -> ShutdownReport {
        let sh = self.shared.clone();
        log::info!("shutting down ({why}): no new clients; answering the requests in flight");
        sh.draining.store(true, Ordering::Relaxed);
        let clients = sh.client_sockets.lock().len();
        let deadline = Duration::from_millis(self.core_retry_budget_ms().saturating_add(1_000));
        let report = task::block_on(async {
            if let Some(t) = self.client_accept.take() {
                t.cancel().await;
            }
            for s in sh.client_sockets.lock().values() {
                let _ = s.shutdown(std::net::Shutdown::Read);
            }
            let (tx, rx) = channel::bounded(1);
            let _ = self
                .stop_tx
                .send(event_loop::Event::Drain { tx, deadline })
                .await;
            let (finished, unknown) = rx.recv().await.unwrap_or((0, 0));
            // Every reply handed to a writer is written before its socket closes.
            let start = std::time::Instant::now();
            while !sh.client_sockets.lock().is_empty() && start.elapsed() < Duration::from_secs(3) {
                task::sleep(Duration::from_millis(10)).await;
            }
            ShutdownReport {
                finished,
                unknown,
                clients,
            }
        });
        let peers = sh.inbound.lock().len();
        self.stop();
        log::info!(
            "shutdown ({why}) complete: {} in-flight requests answered ({} of them UNKNOWN: \
             undecided at the deadline), {} client connections and {} inbound peer links \
             closed",
            report.finished,
            report.unknown,
            report.clients,
            peers
        );
        report
    }

    fn core_retry_budget_ms(&self) -> u64 {
        let sh = &self.shared;
        sh.opts.core_config(sh.incarnation).retry_budget_ms
    }

    /// Blocks until the node stops (it runs until the process ends).
    pub fn wait(self) {
        task::block_on(async {
            for t in self.tasks {
                t.await;
            }
        });
    }
}

/// The incarnation of a life starting now: wall-clock ns, at least 1.
pub fn fresh_incarnation() -> Incarnation {
    let ns = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    u64::try_from(ns).unwrap_or(u64::MAX).max(1)
}

/// Wall-clock ms since the Unix epoch.
pub(crate) fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Starts a node on async-std's executor and returns once both ports listen.
pub fn start_node(opts: NodeOptions) -> Result<NodeHandle, RuntimeError> {
    opts.validate()?;
    // Read by async-std when its executor first starts (below), once per process.
    if opts.runtime.executor_threads > 0 && std::env::var_os("ASYNC_STD_THREAD_COUNT").is_none() {
        std::env::set_var(
            "ASYNC_STD_THREAD_COUNT",
            opts.runtime.executor_threads.to_string(),
        );
    }
    let incarnation = fresh_incarnation();
    let core_cfg = opts.core_config(incarnation);
    opts.runtime.validate(&core_cfg)?;
    let node =
        Node::new(core_cfg, incarnation, opts.bootstrap).map_err(|e| RuntimeError::Config(e.0))?;
    let tls = tls::Tls::load(&opts.tls).map_err(RuntimeError::Config)?;
    let (client_listener, peer_listener) = task::block_on(async {
        let client =
            TcpListener::bind(opts.client_addr)
                .await
                .map_err(|error| RuntimeError::Bind {
                    what: "client",
                    addr: opts.client_addr,
                    error,
                })?;
        let peer = TcpListener::bind(opts.peer_addr)
            .await
            .map_err(|error| RuntimeError::Bind {
                what: "peer",
                addr: opts.peer_addr,
                error,
            })?;
        Ok::<_, RuntimeError>((client, peer))
    })?;
    let metrics_listener =
        match opts.metrics_addr {
            Some(addr) => Some(task::block_on(TcpListener::bind(addr)).map_err(|error| {
                RuntimeError::Bind {
                    what: "metrics",
                    addr,
                    error,
                }
            })?),
            None => None,
        };
    let client_addr = client_listener.local_addr().unwrap_or(opts.client_addr);
    let peer_addr = peer_listener.local_addr().unwrap_or(opts.peer_addr);

    let (shutdown_tx, shutdown_rx) = channel::bounded(16);
    let shared = Arc::new(Shared {
        incarnation,
        membership_hash: Placement::replication_fingerprint(opts.replicas),
        epoch: AtomicU64::new(0),
        counters: Counters::default(),
        known_incarnations: Mutex::new(BTreeMap::new()),
        sockets: Mutex::new(HashMap::new()),
        next_socket_id: AtomicU64::new(0),
        stopping: AtomicBool::new(false),
        links: Mutex::new(BTreeMap::new()),
        extra_tasks: Mutex::new(Vec::new()),
        gate: peer::Gate::default(),
        users: crate::commands::Users::new((*opts.acl).clone()),
        inbound: Mutex::new(HashMap::new()),
        metrics: Mutex::new(Metrics::default()),
        slowlog_slower_than_us: AtomicI64::new(opts.slowlog_slower_than_us),
        slowlog_max_len: AtomicU64::new(opts.slowlog_max_len as u64),
        draining: AtomicBool::new(false),
        client_sockets: Mutex::new(HashMap::new()),
        shutdown_tx,
        scripts: Default::default(),
        tls,
        opts,
    });
    let o = &shared.opts;
    log::info!(
        "node {} incarnation {} listening: clients on {client_addr}, peers on {peer_addr}; \
         {} {:?}, {} replicas per key, cluster '{}'",
        o.node_id,
        incarnation,
        if o.join {
            "joining (knowing no membership) through peers"
        } else {
            "members"
        },
        o.peers.keys().collect::<Vec<_>>(),
        o.replicas,
        o.cluster_id
    );
    if o.secret.is_none() && !o.tls.cluster {
        log::warn!(
            "no --secret-file: peers are not authenticated, so the peer port takes \
             connections from loopback only (docs/security.md)"
        );
    }
    if o.tls.clients || o.tls.cluster {
        log::info!(
            "TLS: client port {}, peer link {} (certificate {}, CA {})",
            if o.tls.clients { "TLS only" } else { "plain" },
            if o.tls.cluster { "mutual TLS" } else { "plain" },
            o.tls.cert_file,
            if o.tls.ca_cert_file.is_empty() {
                "none"
            } else {
                &o.tls.ca_cert_file
            }
        );
    }
    if o.bootstrap {
        log::info!("started with --bootstrap: votes as an acceptor at once");
    } else {
        log::info!(
            "started without --bootstrap: this node is recovering; it has forgotten its \
             promises, so it does not vote and serves as a coordinator only"
        );
    }

    let (events_tx, events_rx) = channel::bounded(o.runtime.event_queue_max_events);
    let mut tasks = Vec::new();
    tasks.push(task::spawn(event_loop::run(
        node,
        shared.clone(),
        events_rx,
        events_tx.clone(),
        client_addr,
        peer_addr,
    )));
    let client_accept = Some(task::spawn(client_conn::accept_loop(
        client_listener,
        shared.clone(),
        events_tx.clone(),
    )));
    if let Some(listener) = metrics_listener {
        if let Ok(a) = listener.local_addr() {
            log::info!("metrics on http://{a}/metrics, health on http://{a}/health");
        }
        tasks.push(task::spawn(metrics_http::accept_loop(
            listener,
            shared.clone(),
            events_tx.clone(),
        )));
    }
    tasks.push(task::spawn(peer::accept_loop(
        peer_listener,
        shared.clone(),
        events_tx.clone(),
    )));
    for (&id, addr) in &o.peers {
        shared.add_peer(id, addr, &events_tx);
    }
    Ok(NodeHandle {
        shared,
        client_addr,
        peer_addr,
        tasks,
        stop_tx: events_tx,
        client_accept,
        shutdown_rx,
    })
}

/// Runs a node until a shutdown is requested (SHUTDOWN, or `trigger`), then
/// shuts it down gracefully.
pub fn run_node(opts: NodeOptions) -> Result<ShutdownReport, RuntimeError> {
    Ok(start_node(opts)?.run_until_shutdown())
}

/// A jittered delay in [d/2, d] (so reconnecting nodes do not move in lockstep).
pub(crate) fn jittered(d: Duration, rng: &mut impl rand::Rng) -> Duration {
    use rand::RngExt;
    let ms = d.as_millis().max(1) as u64;
    Duration::from_millis(rng.random_range(ms / 2..=ms))
}

#[cfg(test)]
mod tests;
