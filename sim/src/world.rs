//! The world: nodes of the real `synod` core, a network, clients and faults,
//! driven by one event queue in virtual time.
//!
//! Events are ordered by (time µs, sequence number), so a run is a pure
//! function of the seed and the scenario. Every node gets its own clocks
//! (offset, drift, wall-clock skew) and its own RNG stream; the network, the
//! faults and the workload draw from independent streams.
//!
//! A run has two phases. Until `fault_phase_ms` faults are injected and clients
//! issue operations. Then everything heals: partitions end, crashed nodes
//! restart, the network stops losing, duplicating and delaying messages beyond
//! its base latency, and clients issue nothing new. Every outstanding operation
//! must end, and then one read per key (a "probe"), issued one at a time, must
//! succeed, all by `heal_deadline_ms` after the heal: that is liveness.
//!
//! Crash faults respect "at most F replicas of a replica set failed". A node
//! counts as failed from its crash until its catch-up after restart ends (it
//! votes again), so unfinished recoveries count, as docs/design.md asks.

use crate::checker::{self, Op, OpKind, Val, ABSENT};
use crate::diagram::Recording;
use crate::history::{self, Error as HErr, Event, HVal, Type, Values, F, NO_KEY};
use crate::invariants::{AcceptRec, Oracle, Violation};
use crate::rng::{stream, stream_seed, Stream};
use crate::scenario::{Action, Scenario};
use crate::typed;
use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::fmt::Write as _;
use synod::commands::{self, CallCtx, CoreCall, Plan, ScanCursors, Session, Step};
use synod::core::types::ERR_WRONGTYPE;
use synod::core::{
    Command, Config, DeliberateBug, Effects, Envelope, Input, Membership, Message, Node, Now,
    Outcome, Placement, Reply, SystemOp, Trace, MEMBERSHIP_KEY,
};
use synod::resp::Reply as Resp;

/// Wall-clock epoch of every run (2026-01-01), before skew.
const WALL_EPOCH_MS: u64 = 1_767_225_600_000;
/// A run that handles more events than this is stuck in a loop.
const EVENTS_MAX: u64 = 200_000_000;
/// Steps the linearizability search may take per key.
pub const CHECK_STEPS_MAX: u64 = 20_000_000;

/// What to run and what to record.
#[derive(Clone, Debug)]
pub struct Options {
    pub seed: u64,
    pub scenario: Scenario,
    pub bug: Option<DeliberateBug>,
    /// Record every delivered and dropped message and fault as JSON lines.
    pub trace: bool,
    /// Record a text timeline.
    pub timeline: bool,
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    /// An invariant broke or the history is not linearizable.
    Safety(String),
    /// Something did not finish after the heal.
    Liveness(String),
}

impl Verdict {
    /// True unless the run failed.
    pub fn passed(&self) -> bool {
        matches!(self, Verdict::Pass)
    }
    /// "pass", "safety" or "liveness".
    pub fn class(&self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Safety(_) => "safety",
            Verdict::Liveness(_) => "liveness",
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Verdict::Pass => write!(f, "PASS"),
            Verdict::Safety(s) => write!(f, "SAFETY FAILURE: {s}"),
            Verdict::Liveness(s) => write!(f, "LIVENESS FAILURE: {s}"),
        }
    }
}

/// Counters of one run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub events: u64,
    pub delivered: u64,
    pub dropped: u64,
    pub duplicated: u64,
    pub ops: u64,
    pub ops_ok: u64,
    pub ops_fail: u64,
    pub ops_info: u64,
    pub crashes: u64,
    pub recoveries: u64,
    pub partitions: u64,
    pub pauses: u64,
    pub virtual_us: u64,
    /// Keys whose linearizability search gave up (neither pass nor fail).
    pub check_gave_up: u64,
    /// Expiries and evictions recorded as deletes by system processes.
    pub system_ops: u64,
    /// Tombstones the live nodes had dropped when the tail after the heal
    /// ended (0 without a tail).
    pub tombstones_dropped: u64,
    /// Graceful shutdowns, crashes of a node still recovering, link events
    /// delivered late (`faults.link_event_p`), memory caps changed.
    pub shutdowns: u64,
    pub recrashes: u64,
    pub link_events: u64,
    pub memory_caps: u64,
    /// Messages a liar (`Action::Lie`) corrupted, and lies the others refused.
    pub lies: u64,
    pub lies_refused: u64,
    /// Membership changes started (and refused), and epochs reached.
    pub membership_changes: u64,
    pub membership_refused: u64,
    pub membership_epoch: u64,
}

/// The result of one run.
pub struct RunResult {
    pub verdict: Verdict,
    pub stats: Stats,
    /// The concrete scenario that ran (swarm choices made).
    pub scenario: Scenario,
    pub history: Vec<Event>,
    pub values: Values,
    pub keys: Vec<String>,
    /// JSON lines, if `Options::trace`.
    pub trace: Vec<u8>,
    /// Text timeline, if `Options::timeline`.
    pub timeline: String,
    /// Steps, messages, states and faults for pictures, if run by [`run_recorded`].
    pub recording: Option<Box<Recording>>,
}

impl RunResult {
    /// The history as JSON Lines (docs/design.md "Histories").
    pub fn history_jsonl(&self) -> String {
        history::to_jsonl(&self.history, &self.keys, &self.values)
    }
}

/// Runs one world to its verdict.
pub fn run(opts: &Options) -> Result<RunResult, String> {
    let scenario = opts.scenario.resolve(opts.seed);
    scenario.check()?;
    let mut w = World::new(opts, scenario, false)?;
    w.run();
    Ok(w.finish())
}

/// Runs one world and records it for pictures (`diagram`): every step,
/// message, operation, acceptor state and fault span.
pub fn run_recorded(opts: &Options) -> Result<RunResult, String> {
    let scenario = opts.scenario.resolve(opts.seed);
    scenario.check()?;
    let mut w = World::new(opts, scenario, true)?;
    w.run();
    Ok(w.finish())
}

#[derive(Clone, Copy, Debug)]
struct Clock {
    offset_us: u64,
    drift_ppm: i64,
    wall_skew_ms: i64,
}

impl Clock {
    fn mono_us(&self, t: u64) -> u64 {
        // In i64 while t × drift fits (runs shorter than ~100 days of
        // virtual time): the same truncating division as in i128, without
        // the 128-bit division this ran four times per event.
        let fast = i64::try_from(t).ok().and_then(|t| {
            let d = t.checked_mul(self.drift_ppm)? / 1_000_000;
            (self.offset_us as i64).checked_add(t)?.checked_add(d)
        });
        if let Some(v) = fast {
            return v.max(0) as u64;
        }
        let d = i128::from(t) * i128::from(self.drift_ppm) / 1_000_000;
        (i128::from(self.offset_us) + i128::from(t) + d).max(0) as u64
    }
    fn wall_ms(&self, t: u64) -> u64 {
        let local = self.mono_us(t).saturating_sub(self.offset_us) / 1_000;
        (WALL_EPOCH_MS as i64 + self.wall_skew_ms + local as i64) as u64
    }
    /// The first global time at which this clock reads at least `mono_us`.
    fn global_at(&self, mono_us: u64, now: u64) -> u64 {
        let rel = i128::from(mono_us) - i128::from(self.offset_us);
        let rate = 1_000_000 + i128::from(self.drift_ppm);
        let est = match i64::try_from(rel)
            .ok()
            .and_then(|r| r.checked_mul(1_000_000))
        {
            Some(x) => i128::from(x / rate as i64),
            None => rel * 1_000_000 / rate,
        };
        let mut t = est.max(i128::from(now)) as u64;
        while self.mono_us(t) < mono_us {
            t += 1;
        }
        t
    }
}

struct NodeSlot {
    node: Option<Node>,
    incarnation: u64,
    life: u32,
    /// Crashed at some point: counts as failed for the rest of the run.
    failed: bool,
    paused_until: u64,
    clock: Clock,
    /// Global time of the Tick event that is current, if any.
    wake: Option<u64>,
    crash_mid_accept: Option<usize>,
    /// Crash right after sending a Promise to this node; restart this much later.
    crash_after_promise: Option<(u32, u64)>,
    /// A graceful shutdown is draining this node: (restart after this
    /// long once stopped, if the shutdown was random; the drain deadline).
    draining: Option<(Option<u64>, u64)>,
}

/// When a message was sent: its number in send order (from 1) and the time.
/// Timelines and traces show it beside the delivery, so both orders are visible.
#[derive(Clone, Copy, Debug)]
struct Sent {
    n: u64,
    at_us: u64,
}

// Deliver is nearly every event: boxing its envelope would allocate once
// per message for the few small variants' sake.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
enum Ev {
    /// `mid`: the message's index in the recording (unused when not recording).
    Deliver {
        env: Envelope,
        dup: bool,
        mid: usize,
        sent: Sent,
    },
    Tick {
        node: u32,
    },
    Request {
        node: u32,
        id: u64,
    },
    ClientNext {
        client: usize,
    },
    PartitionRandom,
    PartitionEnd {
        id: u64,
    },
    CrashRandom,
    Restart {
        node: u32,
    },
    PauseRandom,
    Scheduled {
        index: usize,
    },
    MembershipRandom,
    Heal,
    Deadline,
    /// A link event reaches `node` (of life `life`) about `peer`: up with
    /// that incarnation, or down. `gen`: the newest event for the pair wins.
    Link {
        node: u32,
        life: u32,
        peer: u32,
        up: Option<u64>,
        gen: u64,
    },
    /// A shutting-down node may have drained.
    DrainCheck {
        node: u32,
    },
    MemoryCapRandom,
    /// The tail after the heal is over: probe every key again.
    TailEnd,
}

/// An operation in flight.
#[derive(Clone, Debug)]
struct Pending {
    client: usize,
    process: u64,
    node: u32,
    key: u32,
    f: F,
    value: HVal,
    command: Command,
    invoked_us: u64,
    /// A core operation of a multi-step command: (call id, index in its step).
    call: Option<(u64, usize)>,
    /// A listing page (`Input::ListKeys`) instead of a per-key request: not
    /// in the history itself (its command's listing event is).
    list: Option<(Option<Vec<u8>>, usize)>,
}

/// A client command with several core operations, run through the command
/// layer exactly as the runtime runs it (`commands::plan`, `CoreCall`):
/// MGET, MSET, KEYS, a whole SCAN, DBSIZE, FLUSHALL; and a client's
/// sequence of commands on one connection (its `session`): WATCH, MULTI,
/// queued commands, EXEC.
struct Call {
    client: usize,
    node: u32,
    /// The listing's `f` (its history event), or None (MGET, MSET).
    f: Option<F>,
    /// The listing event's process.
    process: u64,
    call: CoreCall,
    outcomes: Vec<Option<Outcome>>,
    /// Keys the listing returned (KEYS, SCAN), counted (DBSIZE) or tried to
    /// delete (FLUSHALL).
    listed: BTreeSet<u32>,
    /// FLUSHALL sent a delete: a failure after it is `info`.
    changed: bool,
    /// The connection's state across the commands of a sequence.
    session: Session,
    /// The sequence's commands still to send, after this one.
    script: std::collections::VecDeque<Vec<Vec<u8>>>,
}

/// A client's sequence of commands on one connection (`Call::script`).
struct Script {
    client: usize,
    node: u32,
    process: u64,
    session: Session,
    commands: std::collections::VecDeque<Vec<Vec<u8>>>,
    /// A transaction over several keys: (key, value) it would write. Its
    /// EXEC must be refused, and the history gets a `txn` that failed per key.
    cross: Vec<(u32, Val)>,
}

struct Client {
    process: u64,
    busy: bool,
}

const PROBE: usize = usize::MAX;
/// The index of the first typed family's weight in the workload's draw.
const TYPED_FIRST: usize = 18;
/// The transactions' weights in the workload's draw, after the typed
/// families': MULTI on one key, WATCH and MULTI, MULTI over two keys.
const TXN_MULTI: usize = TYPED_FIRST + typed::FAMILIES.len();
const TXN_WATCH: usize = TXN_MULTI + 1;
const TXN_CROSS: usize = TXN_MULTI + 2;
/// The client of scripted operations (`write` in a schedule).
const SCRIPT: usize = usize::MAX - 1;

struct World {
    seed: u64,
    sc: Scenario,
    bug: Option<DeliberateBug>,
    now: u64,
    seq: u64,
    queue: BinaryHeap<Reverse<(u64, u64, u32)>>,
    slab: Vec<Option<Ev>>,
    free: Vec<u32>,
    nodes: Vec<NodeSlot>,
    members: Vec<u32>,
    /// Node slots: members plus spares (ids 1..=total).
    total: u32,
    /// The next spare node to add.
    next_spare: u32,
    /// The membership register's values as coordinators sent them (ballot ->
    /// epoch), and its chosen ballots with their epochs: a later choice must
    /// never name an earlier epoch (a chosen change lost; the clients'
    /// oracle does not see the register, which no client touches).
    register_sent: BTreeMap<synod::core::Ballot, u64>,
    register_chosen: BTreeMap<synod::core::Ballot, u64>,
    /// Membership changes in flight: admin request id -> (coordinator, what).
    admin: BTreeMap<u64, (u32, String)>,
    keys: Vec<Vec<u8>>,
    key_names: Vec<String>,
    replica_sets: Vec<Vec<u32>>,
    /// Directed links blocked by active partitions: count per [from][to].
    blocked: Vec<Vec<u16>>,
    /// [x][y]: with link events on, a symmetric partition dropped the
    /// connection x-y and no link-up has been sent since; the partition
    /// that unblocks it last (maybe another one) sends it.
    link_cut: Vec<Vec<bool>>,
    partitions: BTreeMap<u64, Vec<(u32, u32)>>,
    partition_seq: u64,
    /// Directed links whose messages are held back: [from][to].
    holding: Vec<Vec<bool>>,
    /// The node that lies (`Action::Lie`), until the heal, and by how many
    /// rounds (None: far past any budget).
    liar: Option<u32>,
    lie_raise: Option<u64>,
    /// When the lies stop (None: at the heal).
    lie_until: Option<u64>,
    /// [from][to]: messages from `from` are refused by `to` until this
    /// time (µs), as the runtime closes a lying peer's link and backs off.
    refused_until: Vec<Vec<u64>>,
    /// Messages held back, in the order sent.
    held: Vec<(Envelope, Sent)>,
    /// Messages sent so far (numbers them in send order).
    sent_count: u64,
    /// [node][peer]: the generation of the newest link event scheduled.
    link_gen: Vec<Vec<u64>>,
    /// Ops invoked from here until a declare-lost must not succeed (more
    /// than F replicas of a set lost their memory at once).
    majority_lost: bool,
    /// The heal deadline now (the tail moves it).
    deadline_at: u64,
    /// The tail after the heal has run (second probes under way or done).
    tail_done: bool,
    healed: bool,
    net_rng: ChaCha8Rng,
    fault_rng: ChaCha8Rng,
    work_rng: ChaCha8Rng,
    clients: Vec<Client>,
    next_process: u64,
    issued: usize,
    writes: u64,
    last_written: Vec<Val>,
    pending: BTreeMap<u64, Pending>,
    /// Expiries waiting for their round to be chosen: (node, key, ballot) -> process.
    expiries: BTreeMap<(u32, u32, synod::core::Ballot), Vec<u64>>,
    /// Evictions in flight: (node, request id) -> (process, key).
    evictions: BTreeMap<(u32, u64), (u64, u32)>,
    /// Multi-step commands in flight, by call id.
    calls: BTreeMap<u64, Call>,
    next_call: u64,
    /// Each node's SCAN cursor table (lost with the node).
    cursors: Vec<ScanCursors>,
    next_request: u64,
    probe_key: usize,
    probing: bool,
    /// Every key's probe read succeeded.
    probes_done: bool,
    finished: bool,
    failure: Option<Verdict>,
    oracle: Oracle,
    history: Vec<Event>,
    values: Values,
    fx: Effects,
    touched: Vec<u32>,
    drop_kind: [f64; 14],
    stats: Stats,
    trace_on: bool,
    timeline_on: bool,
    trace: Vec<u8>,
    timeline: String,
    /// What pictures need, when recording (`run_recorded`).
    rec: Option<Box<Recording>>,
}

fn kind_index(m: &Message) -> usize {
    match m {
        Message::Prepare { .. } => 0,
        Message::Promise { .. } => 1,
        Message::Accept { .. } => 2,
        Message::Accepted { .. } => 3,
        Message::Reject { .. } => 4,
        Message::Confirm { .. } => 5,
        Message::Nack { .. } => 6,
        Message::Recover { .. } => 7,
        Message::KeyPage { .. } => 8,
        Message::ListKeys { .. } => 9,
        Message::KeyList { .. } => 10,
        Message::Read { .. } => 11,
        Message::ReadReply { .. } => 12,
        Message::Epoch { .. } => 13,
    }
}

const KINDS: [&str; 14] = [
    "Prepare",
    "Promise",
    "Accept",
    "Accepted",
    "Reject",
    "Confirm",
    "Nack",
    "Recover",
    "KeyPage",
    "ListKeys",
    "KeyList",
    "Read",
    "ReadReply",
    "Epoch",
];

/// The key index of a key the workload made ("k12" -> 12); None for the
/// membership register, which no client touches.
fn workload_key(key: &[u8]) -> Option<u32> {
    (!key.is_empty() && key != MEMBERSHIP_KEY).then(|| key_index(key))
}

/// The key index of a key the workload made ("k12" -> 12).
fn key_index(key: &[u8]) -> u32 {
    let mut n = 0u32;
    for &b in &key[1..] {
        n = n * 10 + u32::from(b - b'0');
    }
    n
}

impl World {
    fn new(opts: &Options, sc: Scenario, record: bool) -> Result<World, String> {
        let seed = opts.seed;
        let total = sc.nodes + sc.spare_nodes;
        let m = total as usize;
        let members: Vec<u32> = (1..=sc.nodes).collect();
        let placement = Placement::new(&members, sc.replicas);
        let keys: Vec<Vec<u8>> = (0..sc.keys).map(|i| format!("k{i}").into_bytes()).collect();
        let key_names = keys
            .iter()
            .map(|k| String::from_utf8_lossy(k).into_owned())
            .collect();
        let replica_sets = keys.iter().map(|k| placement.replicas_of(k)).collect();
        let mut clock_rng = stream(seed, Stream::Clocks);
        let mut nodes = Vec::with_capacity(m + 1);
        for _ in 0..=total {
            let skew = sc.faults.skew_max_ms as i64;
            let drift = sc.faults.drift_max_ppm.min(900_000) as i64;
            let clock = Clock {
                offset_us: clock_rng.random_range(0..1_000_000_000),
                drift_ppm: if drift > 0 {
                    clock_rng.random_range(-drift..=drift)
                } else {
                    0
                },
                wall_skew_ms: if skew > 0 {
                    clock_rng.random_range(-skew..=skew)
                } else {
                    0
                },
            };
            nodes.push(NodeSlot {
                node: None,
                incarnation: 0,
                life: 0,
                failed: false,
                paused_until: 0,
                clock,
                wake: None,
                crash_mid_accept: None,
                crash_after_promise: None,
                draining: None,
            });
        }
        let mut drop_kind = [0.0; 14];
        for (name, p) in &sc.net.drop_kind {
            let Some(i) = KINDS.iter().position(|k| k == name) else {
                return Err(format!(
                    "net.drop_kind: unknown message kind {name:?} (one of {KINDS:?})"
                ));
            };
            drop_kind[i] = *p;
        }
        // With membership changes, replica sets change during the run and a
        // count of holders no longer tells a quorum: chosen values are then
        // taken from the coordinators' traces only.
        let changes_membership = sc.schedule.iter().any(|e| {
            matches!(
                e.action,
                Action::AddNode | Action::RemoveNode { .. } | Action::ReplaceNode { .. }
            )
        });
        let quorum =
            if sc.spare_nodes > 0 || sc.faults.membership_every_ms > 0 || changes_membership {
                u32::MAX
            } else {
                (sc.replicas / 2 + 1) as u32
            };
        let mut w = World {
            seed,
            bug: opts.bug,
            now: 0,
            seq: 0,
            queue: BinaryHeap::new(),
            slab: Vec::new(),
            free: Vec::new(),
            nodes,
            members,
            total,
            next_spare: sc.nodes + 1,
            register_sent: BTreeMap::new(),
            register_chosen: BTreeMap::new(),
            admin: BTreeMap::new(),
            key_names,
            replica_sets,
            blocked: vec![vec![0; m + 1]; m + 1],
            link_cut: vec![vec![false; m + 1]; m + 1],
            partitions: BTreeMap::new(),
            partition_seq: 0,
            holding: vec![vec![false; m + 1]; m + 1],
            liar: None,
            lie_raise: None,
            lie_until: None,
            refused_until: vec![vec![0; m + 1]; m + 1],
            held: Vec::new(),
            sent_count: 0,
            link_gen: vec![vec![0; m + 1]; m + 1],
            majority_lost: false,
            deadline_at: 0,
            tail_done: false,
            healed: false,
            net_rng: stream(seed, Stream::Network),
            fault_rng: stream(seed, Stream::Faults),
            work_rng: stream(seed, Stream::Workload),
            clients: (0..sc.clients)
                .map(|i| Client {
                    process: i as u64,
                    busy: false,
                })
                .collect(),
            next_process: sc.clients as u64,
            issued: 0,
            writes: 0,
            last_written: vec![ABSENT; keys.len()],
            pending: BTreeMap::new(),
            expiries: BTreeMap::new(),
            evictions: BTreeMap::new(),
            calls: BTreeMap::new(),
            next_call: 1,
            cursors: (0..=m).map(|_| ScanCursors::default()).collect(),
            next_request: 1,
            probe_key: 0,
            probing: false,
            probes_done: false,
            finished: false,
            failure: None,
            oracle: Oracle::new(m, keys.len(), quorum),
            history: Vec::new(),
            values: Values::new(),
            fx: Effects::default(),
            touched: Vec::new(),
            drop_kind,
            stats: Stats::default(),
            trace_on: opts.trace,
            timeline_on: opts.timeline,
            trace: Vec::new(),
            timeline: String::new(),
            rec: None,
            keys,
            sc,
        };
        if record {
            w.rec = Some(Box::new(Recording::new(
                w.total,
                w.key_names.clone(),
                w.replica_sets.clone(),
                w.clients.len(),
            )));
        }
        for id in 1..=w.sc.nodes {
            w.start_node(id, true)?;
        }
        for a in 1..=w.sc.nodes {
            for b in 1..=w.sc.nodes {
                if a != b {
                    let inc = w.nodes[b as usize].incarnation;
                    w.handle(
                        a,
                        Input::PeerUp {
                            node: b,
                            incarnation: inc,
                        },
                    );
                }
            }
        }
        for c in 0..w.clients.len() {
            let at = w.work_rng.random_range(0..=w.sc.think_max_us);
            w.push(at, Ev::ClientNext { client: c });
        }
        let f = w.sc.faults.clone();
        if f.partition_every_ms > 0 {
            let at = w.exp_delay(f.partition_every_ms * 1_000);
            w.push(at, Ev::PartitionRandom);
        }
        if f.crash_every_ms > 0 {
            let at = w.exp_delay(f.crash_every_ms * 1_000);
            w.push(at, Ev::CrashRandom);
        }
        if f.pause_every_ms > 0 {
            let at = w.exp_delay(f.pause_every_ms * 1_000);
            w.push(at, Ev::PauseRandom);
        }
        if f.membership_every_ms > 0 && w.sc.nodes > 0 {
            let at = w.exp_delay(f.membership_every_ms * 1_000);
            w.push(at, Ev::MembershipRandom);
        }
        if f.memory_cap_every_ms > 0 {
            let at = w.exp_delay(f.memory_cap_every_ms * 1_000);
            w.push(at, Ev::MemoryCapRandom);
        }
        for i in 0..w.sc.schedule.len() {
            if w.sc.schedule[i].after_trigger_us.is_none() {
                let at = w.sc.schedule[i].at_ms * 1_000;
                w.push(at, Ev::Scheduled { index: i });
            }
        }
        let heal = w.sc.fault_phase_ms * 1_000;
        w.push(heal, Ev::Heal);
        Ok(w)
    }

    fn exp_delay(&mut self, mean_us: u64) -> u64 {
        let u: f64 = self.fault_rng.random_range(1e-9..1.0);
        ((-u.ln()) * mean_us as f64) as u64
    }

    fn config(&self, id: u32) -> Config {
        let mut cfg = Config::new(id, self.members.clone());
        // A node (re)starts from its configuration, as the runtime does: an
        // original node from the list the cluster started with (epoch 0), a
        // spare knowing no membership. It learns the current epoch from the
        // peers it reaches (the core's `Message::Epoch`, told on PeerUp and
        // on every message from another epoch), never from the simulator.
        if id > self.sc.nodes {
            cfg.membership = Some(Membership::default());
        }
        cfg.replicas = self.sc.replicas;
        cfg.phase_timeout_ms = self.sc.node.phase_timeout_ms;
        cfg.retry_budget_ms = self.sc.node.retry_budget_ms;
        cfg.retry_backoff_max_ms = self.sc.node.retry_backoff_max_ms;
        // Every value is "big": an Accept names by ballot each value a
        // replica's Promise showed it holds (`Accept::held`), so every run
        // takes that path.
        cfg.elide_value_min_bytes = 0;
        let life = self.nodes[id as usize].life;
        cfg.housekeeping_interval_ms = self.sc.node.housekeeping_interval_ms;
        cfg.tombstone_grace_ms = self.sc.node.tombstone_grace_ms;
        cfg.memory_max_bytes = self.sc.node.memory_max_bytes;
        cfg.round_jump_max = self.sc.node.round_jump_max;
        cfg.round_raise_per_sec = self.sc.node.round_raise_per_sec;
        cfg.eviction = synod::core::Eviction::from_name(&self.sc.node.eviction).unwrap_or_default();
        cfg.rng_seed = stream_seed(self.seed, Stream::Node { id, life });
        cfg.trace = true;
        cfg.bug = self.bug;
        cfg
    }

    fn start_node(&mut self, id: u32, bootstrap: bool) -> Result<(), String> {
        let slot = &mut self.nodes[id as usize];
        slot.life += 1;
        slot.incarnation += 1;
        let inc = slot.incarnation;
        let cfg = self.config(id);
        let node = Node::new(cfg, inc, bootstrap).map_err(|e| e.to_string())?;
        let slot = &mut self.nodes[id as usize];
        slot.node = Some(node);
        slot.wake = None;
        slot.paused_until = 0;
        Ok(())
    }

    fn push(&mut self, at: u64, ev: Ev) {
        let idx = match self.free.pop() {
            Some(i) => {
                self.slab[i as usize] = Some(ev);
                i
            }
            None => {
                self.slab.push(Some(ev));
                (self.slab.len() - 1) as u32
            }
        };
        self.seq += 1;
        self.queue.push(Reverse((at.max(self.now), self.seq, idx)));
    }

    fn run(&mut self) {
        while let Some(Reverse((at, _, idx))) = self.queue.pop() {
            self.now = at;
            let ev = self.slab[idx as usize].take();
            self.free.push(idx);
            let Some(ev) = ev else { continue };
            self.stats.events += 1;
            if self.stats.events > EVENTS_MAX {
                self.failure = Some(Verdict::Liveness(format!(
                    "more than {EVENTS_MAX} events: the run does not settle"
                )));
            }
            self.step(ev);
            if self.failure.is_some() || self.finished {
                break;
            }
        }
        self.stats.virtual_us = self.now;
    }

    fn finish(mut self) -> RunResult {
        let verdict = match self.failure.take() {
            Some(v) => v,
            None if !self.finished => {
                Verdict::Liveness("the event queue ran dry before the run ended".into())
            }
            None => self.check_history(),
        };
        if self.timeline_on {
            let _ = writeln!(self.timeline, "{:>12}  verdict: {verdict}", self.t());
        }
        if let Some(r) = self.rec.as_mut() {
            r.finish(verdict.to_string(), verdict.passed());
        }
        RunResult {
            verdict,
            stats: self.stats,
            scenario: self.sc,
            history: self.history,
            values: self.values,
            keys: self.key_names,
            trace: self.trace,
            timeline: self.timeline,
            recording: self.rec,
        }
    }

    fn check_history(&mut self) -> Verdict {
        let by_key = match history::ops_by_key(&self.history, &self.values) {
            Ok(m) => m,
            Err(e) => return Verdict::Safety(format!("malformed history: {e}")),
        };
        if let Some((inv, ok)) = history::succeeded_while_lost(&self.history) {
            return Verdict::Safety(format!(
                "availability: an operation (history lines {}..{}) succeeded while more than F replicas of every set were amnesiac, before declare-lost",
                inv + 1,
                ok + 1
            ));
        }
        let declared = history::loss_window(&self.history)
            .and_then(|(_, d)| d)
            .map(|d| d as u64);
        for (key, ops) in &by_key {
            match checker::check_with_loss(ops, declared, CHECK_STEPS_MAX, &mut self.values) {
                checker::Verdict::Linearizable => {}
                checker::Verdict::GaveUp { .. } => self.stats.check_gave_up += 1,
                checker::Verdict::Violation(stuck) => {
                    let op = &ops[stuck.op];
                    let shown = self.show_op(op);
                    let state = self.values.show(stuck.state);
                    if let Some(r) = self.rec.as_mut() {
                        r.nonlinearizable(*key, op.process, &shown, stuck.linearized, &state);
                    }
                    return Verdict::Safety(format!(
                        "linearizability: key {}: {} operations have no linearization; the longest attempt placed {} and then could not place process {} {} (history lines {}..{}) with the value at {}",
                        self.key_names[*key as usize],
                        ops.len(),
                        stuck.linearized,
                        op.process,
                        self.show_op(op),
                        op.call + 1,
                        op.ret + 1,
                        self.values.show(stuck.state),
                    ));
                }
            }
        }
        Verdict::Pass
    }

    fn show_op(&self, op: &Op) -> String {
        let v = |x| self.values.show(x);
        match op.kind {
            OpKind::Read(x) => format!("read -> {}", v(x)),
            OpKind::Write(x) => format!("write {}", v(x)),
            OpKind::Delete(e) => format!("delete (existed: {e:?})"),
            OpKind::Cas {
                expected,
                new,
                swapped,
            } => {
                format!("cas [{}, {}] (swapped: {swapped:?})", v(expected), v(new))
            }
            OpKind::Incr { delta, result } => format!("incr {delta} -> {result:?}"),
            OpKind::IncrFailed => "incr refused: not an integer".into(),
            OpKind::Append { suffix, len } => format!("append {} -> length {len:?}", v(suffix)),
            OpKind::GetDel(old) => format!("getdel -> {}", old.map_or("unknown".into(), v)),
            OpKind::SetNx { value, applied } => {
                format!("setnx {} (applied: {applied:?})", v(value))
            }
            OpKind::Txn { read, write } => format!(
                "txn: GET -> {}, SET {}",
                read.map_or("unknown".into(), v),
                v(write)
            ),
            OpKind::TxnOverType { write } => {
                format!("txn: GET -> WRONGTYPE, SET {}", v(write))
            }
            OpKind::Present(true) => "saw the key present (listed, or EXPIRE/TTL)".into(),
            OpKind::Present(false) => {
                "saw the key absent (left out of a listing, or EXPIRE/TTL)".into()
            }
            OpKind::Typed { f, args, result } => format!(
                "{} {} -> {}",
                f.name(),
                String::from_utf8_lossy(self.values.bytes(args)),
                result.map_or("unknown".into(), |r| String::from_utf8_lossy(
                    self.values.bytes(r)
                )
                .into_owned())
            ),
            OpKind::WrongType(t) => format!("WRONGTYPE (the value is not a {t:?})"),
        }
    }

    fn t(&self) -> String {
        format!("{}.{:03}ms", self.now / 1_000, self.now % 1_000)
    }

    /// The register's value at `ballot` was chosen: the epochs of its
    /// chosen values never go down as ballots go up (every change builds on
    /// the value chosen before it).
    fn register_chosen_at(&mut self, ballot: synod::core::Ballot) -> Result<(), Violation> {
        let Some(&epoch) = self.register_sent.get(&ballot) else {
            return Ok(());
        };
        self.register_chosen.insert(ballot, epoch);
        let below = self.register_chosen.range(..ballot).map(|(_, &e)| e).max();
        let above = self
            .register_chosen
            .range(ballot..)
            .skip(1)
            .map(|(_, &e)| e)
            .min();
        let lost = match (below.filter(|&b| b > epoch), above.filter(|&a| a < epoch)) {
            (Some(b), _) => Some(format!("epoch {b} was chosen at a lower ballot")),
            (None, Some(a)) => Some(format!("epoch {a} was chosen at a higher ballot")),
            (None, None) => None,
        };
        match lost {
            None => Ok(()),
            Some(why) => Err(Violation {
                invariant: "membership register keeps every chosen change",
                detail: format!(
                    "the register's value of epoch {epoch} was chosen at {ballot}, but {why}: \
                     a chosen membership change is lost"
                ),
            }),
        }
    }

    fn safety(&mut self, at_node: u32, what: &str, v: Violation) {
        if self.failure.is_none() {
            let msg = format!(
                "{} at t={} on node {at_node} after {what}: {}",
                v.invariant,
                self.t(),
                v.detail
            );
            self.note_fault("violation", &msg);
            if let Some(r) = self.rec.as_mut() {
                let key = self.touched.first().copied();
                r.violation(at_node, v.invariant, &v.detail, key);
            }
            self.failure = Some(Verdict::Safety(msg));
        }
    }

    // ---------------------------------------------------------------- events

    fn step(&mut self, ev: Ev) {
        match ev {
            Ev::Deliver {
                env,
                dup,
                mid,
                sent,
            } => self.deliver(env, dup, mid, sent),
            Ev::Tick { node } => {
                let slot = &mut self.nodes[node as usize];
                if slot.wake != Some(self.now) || slot.node.is_none() {
                    return;
                }
                if slot.paused_until > self.now {
                    let until = slot.paused_until;
                    slot.wake = Some(until);
                    self.push(until, Ev::Tick { node });
                    return;
                }
                slot.wake = None;
                if let Some(r) = self.rec.as_mut() {
                    r.lazy_step(self.now, node, format!("a timer fires at n{node}"));
                }
                self.handle(node, Input::Tick);
                if let Some(r) = self.rec.as_mut() {
                    r.end_handler();
                }
            }
            Ev::Request { node, id } => self.request_arrives(node, id),
            Ev::ClientNext { client } => self.client_next(client),
            Ev::PartitionRandom => self.partition_random(),
            Ev::PartitionEnd { id } => self.partition_end(id),
            Ev::CrashRandom => self.crash_random(),
            Ev::Restart { node } => self.restart(node),
            Ev::PauseRandom => self.pause_random(),
            Ev::Scheduled { index } => self.scheduled(index),
            Ev::MembershipRandom => self.membership_random(),
            Ev::Heal => self.heal(),
            Ev::Deadline => self.deadline(),
            Ev::Link {
                node,
                life,
                peer,
                up,
                gen,
            } => self.link_event(node, life, peer, up, gen),
            Ev::DrainCheck { node } => self.drain_check(node),
            Ev::MemoryCapRandom => self.memory_cap_random(),
            Ev::TailEnd => self.tail_end(),
        }
    }

    /// Byzantine-lite: turns `env` into a lie the receiver must refuse
    /// (keys stay the workload's own, which the checker indexes).
    fn lie(&mut self, env: &mut Envelope) {
        self.stats.lies += 1;
        if let Some(by) = self.lie_raise {
            // Inflating: a Prepare or Read at a round `by` past the truth, as
            // a coordinator with a broken clock would send; the receivers take
            // it (it fits their budget) and their clocks inflate. Nothing
            // else changes: a lie about an Accept's or Confirm's ballot is a
            // Byzantine coordinator, which Paxos does not survive (out of
            // scope, docs/security.md).
            if let Message::Prepare { ballot, .. } | Message::Read { ballot, .. } = &mut env.msg {
                ballot.round = ballot.round.saturating_add(by);
            }
            return;
        }
        let far = |b: &mut synod::core::Ballot| b.round = b.round.saturating_add(1 << 60);
        match &mut env.msg {
            Message::Prepare { ballot, .. }
            | Message::Read { ballot, .. }
            | Message::Confirm { ballot, .. } => far(ballot),
            // Values past value_len_max_bytes (16 MiB) cost too much to
            // make here; core tests cover them.
            Message::Accept {
                ballot,
                next_prepare,
                ..
            } => match next_prepare {
                Some(next) => far(next),
                None => far(ballot),
            },
            Message::Promise { crash_vector, .. } | Message::Accepted { crash_vector, .. } => {
                crash_vector.push((99, 1))
            }
            Message::Reject { promised, .. } => far(promised),
            _ => env.from_incarnation = 0,
        }
    }

    fn deliver(&mut self, env: Envelope, dup: bool, mid: usize, sent: Sent) {
        let to = env.to;
        if self.now < self.refused_until[env.from as usize][to as usize] {
            self.drop_msg(&env, sent, "refused");
            return;
        }
        let slot = &self.nodes[to as usize];
        if slot.node.is_none() {
            self.drop_msg(&env, sent, "node down");
            if let Some(r) = self.rec.as_mut() {
                r.lost(self.now, mid, &env, "node down", false);
            }
            return;
        }
        if slot.paused_until > self.now {
            let until = slot.paused_until;
            self.push(
                until,
                Ev::Deliver {
                    env,
                    dup,
                    mid,
                    sent,
                },
            );
            return;
        }
        if self.blocked[env.from as usize][to as usize] > 0 {
            self.drop_msg(&env, sent, "partition");
            if let Some(r) = self.rec.as_mut() {
                r.lost(self.now, mid, &env, "partition", false);
            }
            return;
        }
        if let Some(r) = self.rec.as_mut() {
            r.recv(self.now, mid, &env, dup);
        }
        self.stats.delivered += 1;
        if self.trace_on || self.timeline_on {
            let ev = if dup { "deliver-dup" } else { "deliver" };
            self.record_msg(&env, sent, ev, None);
        }
        if let Some(k) = workload_key(env.msg.key()) {
            self.touched.push(k);
        }
        self.handle(to, Input::Peer(env));
    }

    /// Feeds `input` to node `id` and carries out its effects.
    fn handle(&mut self, id: u32, input: Input) {
        let slot = &mut self.nodes[id as usize];
        let Some(node) = slot.node.as_mut() else {
            return;
        };
        let now = Now {
            mono_us: slot.clock.mono_us(self.now),
            wall_ms: slot.clock.wall_ms(self.now),
        };
        let what = if self.failure.is_none() {
            input_name(&input)
        } else {
            ""
        };
        let mut fx = std::mem::take(&mut self.fx);
        fx.clear();
        node.handle(now, input, &mut fx);
        let recovered = slot.failed && slot.draining.is_none() && node.is_voting();
        if !slot.failed && !node.is_voting() {
            // It stopped voting without a crash: an epoch named for the first
            // time a node restarted since it last voted (membership.rs), so
            // it catches up first. Until then it counts as failed, so the
            // faults keep within F of every replica set.
            slot.failed = true;
            let inc = slot.incarnation;
            self.note_fault(
                "recovering",
                &format!(
                    "node {id} (incarnation {inc}) must catch up before it votes in this epoch"
                ),
            );
            if let Some(r) = self.rec.as_mut() {
                let text = format!("recovering (incarnation {inc}): does not vote yet");
                r.span_start("recovering", id.into(), vec![id], text);
            }
        } else if recovered {
            // Catch-up finished: the node votes again and no longer counts as failed.
            slot.failed = false;
            let inc = slot.incarnation;
            self.stats.recoveries += 1;
            self.note_fault(
                "recovered",
                &format!("node {id} (incarnation {inc}) finished catch-up: voting again"),
            );
            if let Some(r) = self.rec.as_mut() {
                r.span_end("recovering", id.into());
            }
            if self.probes_done {
                self.maybe_finish();
            }
        }
        self.after_handle(id, &mut fx, what);
        self.fx = fx;
        if self.probes_done && !self.finished && self.admin.is_empty() {
            // A membership change may end after the probes.
            self.maybe_finish();
        }
    }

    fn after_handle(&mut self, id: u32, fx: &mut Effects, what: &'static str) {
        // A lie refused: the runtime closes the liar's link and refuses it
        // for a growing while (1 s first); here its messages to `id` are
        // dropped for 50 ms (the scenarios' timeouts are ~25x shorter than
        // the runtime's), and the heal ends it with every other fault.
        for (from, why) in fx.misbehaving.drain(..) {
            // (The liar's own core never saw its lies, so it may take the
            // honest peers' inflated rounds for lies: a faulty node's view.)
            if self.liar != Some(from) && self.liar != Some(id) {
                let v = crate::invariants::Violation {
                    invariant: "honest peers are never refused",
                    detail: format!("node {id} refused honest node {from}: {why}"),
                };
                self.safety(id, what, v);
                continue;
            }
            self.stats.lies_refused += 1;
            self.refused_until[from as usize][id as usize] = self.now + 50_000;
        }
        // Ghost state first: Accepts sent and values chosen at this coordinator.
        for t in fx.trace.drain(..) {
            let r = match t {
                Trace::AcceptSent {
                    key, ballot, value, ..
                } if key == MEMBERSHIP_KEY => {
                    let epoch = Membership::from_value(&value).map_or(0, |m| m.epoch);
                    self.register_sent.insert(ballot, epoch);
                    Ok(())
                }
                Trace::Chosen { key, ballot } if key == MEMBERSHIP_KEY => {
                    self.register_chosen_at(ballot)
                }
                Trace::AcceptSent {
                    key,
                    ballot,
                    value,
                    derived_from,
                    copied,
                } => {
                    let k = key_index(&key);
                    self.touched.push(k);
                    self.oracle.on_accept_sent(
                        k,
                        ballot,
                        AcceptRec {
                            value,
                            derived_from,
                            copied,
                            node: id,
                        },
                    )
                }
                Trace::Chosen { key, ballot } => {
                    let k = key_index(&key);
                    self.touched.push(k);
                    for process in self.expiries.remove(&(id, k, ballot)).unwrap_or_default() {
                        self.system_op_ends(process, k, Type::Ok);
                    }
                    self.oracle.on_chosen_trace(k, ballot)
                }
                Trace::Expired { key, ballot } => {
                    // The round deletes an expired value before its own
                    // change: a delete by the system, done if the round is chosen.
                    let k = key_index(&key);
                    let process = self.system_op_starts(k, "expiry");
                    self.expiries
                        .entry((id, k, ballot))
                        .or_default()
                        .push(process);
                    Ok(())
                }
                Trace::SystemInvoke { id: rid, key, op } => {
                    // Sweeps and tombstone rounds change nothing beyond an
                    // expiry (traced as such); an eviction is a delete.
                    if op == SystemOp::Evict {
                        let k = key_index(&key);
                        let process = self.system_op_starts(k, "eviction");
                        self.evictions.insert((id, rid), (process, k));
                    }
                    Ok(())
                }
                Trace::SystemDone {
                    id: rid, outcome, ..
                } => {
                    if let Some((process, k)) = self.evictions.remove(&(id, rid)) {
                        let ty = match outcome {
                            Outcome::Ok(Reply::Deleted(true)) => Type::Ok,
                            Outcome::Ok(_) | Outcome::Failed(_) => Type::Fail,
                            Outcome::Unknown(_) => Type::Info,
                        };
                        self.system_op_ends(process, k, ty);
                    }
                    Ok(())
                }
            };
            if let Err(v) = r {
                self.safety(id, what, v);
            }
        }
        for env in &fx.sends {
            if let Some(k) = workload_key(env.msg.key()) {
                self.touched.push(k);
            }
        }
        for (rid, _) in &fx.replies {
            if let Some(p) = self.pending.get(rid).filter(|p| p.key != NO_KEY) {
                self.touched.push(p.key);
            }
        }
        // Then the acceptor state of every key the event touched.
        self.touched.sort_unstable();
        self.touched.dedup();
        let touched = std::mem::take(&mut self.touched);
        let mut broken = None;
        if let Some(node) = self.nodes[id as usize].node.as_ref() {
            let acc = node.acceptor();
            let floor = acc.floor();
            if let Some(r) = self.rec.as_mut() {
                let voting = node.is_voting();
                for &k in &touched {
                    r.state(id, k, floor, acc.slot(&self.keys[k as usize]), voting);
                }
            }
            for &k in &touched {
                let slot = acc.slot(&self.keys[k as usize]);
                if let Err(v) = self.oracle.on_acceptor_state(id, k, floor, slot) {
                    broken = Some(v);
                    break;
                }
            }
        }
        self.touched = touched;
        self.touched.clear();
        if let Some(v) = broken {
            self.safety(id, what, v);
        }
        // Crash mid-accept: only the first `deliver` Accepts leave.
        let mut crash_now = false;
        if let Some(d) = self.nodes[id as usize].crash_mid_accept {
            if fx
                .sends
                .iter()
                .any(|e| matches!(e.msg, Message::Accept { .. }))
            {
                let mut accepts = 0;
                fx.sends.retain(|e| {
                    if matches!(e.msg, Message::Accept { .. }) {
                        accepts += 1;
                        accepts <= d
                    } else {
                        accepts < d
                    }
                });
                crash_now = true;
            }
        }
        let mut crash_after_promise = None;
        if let Some((to, restart_us)) = self.nodes[id as usize].crash_after_promise {
            if fx
                .sends
                .iter()
                .any(|e| e.to == to && matches!(e.msg, Message::Promise { .. }))
            {
                crash_after_promise = Some(restart_us);
            }
        }
        for env in fx.sends.drain(..) {
            self.send(env);
        }
        for (rid, outcome) in fx.replies.drain(..) {
            self.reply(rid, outcome);
        }
        let slot = &mut self.nodes[id as usize];
        match fx.wake_at_us {
            Some(mono) => {
                let at = slot.clock.global_at(mono, self.now);
                if slot.wake != Some(at) {
                    slot.wake = Some(at);
                    self.push(at, Ev::Tick { node: id });
                }
            }
            None => slot.wake = None,
        }
        if crash_now {
            self.nodes[id as usize].crash_mid_accept = None;
            if self.may_fail(id) {
                self.crash(id, "crash mid-accept");
            } else {
                self.note_fault(
                    "skip",
                    &format!("crash-mid-accept of node {id}: would exceed F failed replicas"),
                );
            }
        }
        if let Some(restart_us) = crash_after_promise {
            self.nodes[id as usize].crash_after_promise = None;
            if self.may_fail(id) {
                self.crash(id, "crash after promise");
                self.push(self.now + restart_us, Ev::Restart { node: id });
                self.fire_trigger();
            } else {
                self.note_fault(
                    "skip",
                    &format!("crash-after-promise of node {id}: would exceed F failed replicas"),
                );
            }
        }
    }

    /// The trigger fired: schedule every entry timed relative to it.
    fn fire_trigger(&mut self) {
        self.note_fault("trigger", "trigger fired");
        for i in 0..self.sc.schedule.len() {
            if let Some(d) = self.sc.schedule[i].after_trigger_us {
                self.push(self.now + d, Ev::Scheduled { index: i });
            }
        }
    }

    /// A node sends a message: it is numbered, and the network takes it.
    fn send(&mut self, env: Envelope) {
        self.sent_count += 1;
        let sent = Sent {
            n: self.sent_count,
            at_us: self.now,
        };
        self.transmit(env, sent);
    }

    /// The network takes a message (sent now, or earlier if it was held
    /// back): lose it, delay it, maybe duplicate it.
    fn transmit(&mut self, mut env: Envelope, sent: Sent) {
        if self.liar == Some(env.from)
            && !self.healed
            && self.lie_until.is_none_or(|t| self.now < t)
            && self.net_rng.random_bool(0.1)
        {
            self.lie(&mut env);
        }
        let (from, to) = (env.from as usize, env.to as usize);
        let mid = match self.rec.as_mut() {
            Some(r) => r.sent(&env, msg_detail(&env.msg), false),
            None => usize::MAX,
        };
        if self.blocked[from][to] > 0 {
            self.drop_msg(&env, sent, "partition");
            if let Some(r) = self.rec.as_mut() {
                r.lost(self.now, mid, &env, "partition", true);
            }
            return;
        }
        if self.holding[from][to] {
            if self.trace_on || self.timeline_on {
                self.record_msg(&env, sent, "hold", None);
            }
            if let Some(r) = self.rec.as_mut() {
                r.held(mid);
            }
            self.held.push((env, sent));
            return;
        }
        let net = &self.sc.net;
        if !self.healed {
            let p_kind = self.drop_kind[kind_index(&env.msg)];
            if (net.drop_p > 0.0 && self.net_rng.random_bool(net.drop_p))
                || (p_kind > 0.0 && self.net_rng.random_bool(p_kind))
            {
                self.drop_msg(&env, sent, "loss");
                if let Some(r) = self.rec.as_mut() {
                    r.lost(self.now, mid, &env, "loss", true);
                }
                return;
            }
        }
        let dup = !self.healed && net.dup_p > 0.0 && self.net_rng.random_bool(net.dup_p);
        if dup {
            self.stats.duplicated += 1;
            let d = self.delay();
            let dup_mid = match self.rec.as_mut() {
                Some(r) => r.sent(&env, msg_detail(&env.msg), true),
                None => usize::MAX,
            };
            self.push(
                self.now + d,
                Ev::Deliver {
                    env: env.clone(),
                    dup: true,
                    mid: dup_mid,
                    sent,
                },
            );
        }
        let d = self.delay();
        self.push(
            self.now + d,
            Ev::Deliver {
                env,
                dup: false,
                mid,
                sent,
            },
        );
    }

    fn delay(&mut self) -> u64 {
        let net = &self.sc.net;
        let mut d = if net.delay_max_us > net.delay_min_us {
            self.net_rng
                .random_range(net.delay_min_us..=net.delay_max_us)
        } else {
            net.delay_min_us
        };
        if !self.healed && net.spike_p > 0.0 && self.net_rng.random_bool(net.spike_p) {
            d += self.net_rng.random_range(0..=net.spike_max_us);
        }
        d.max(1)
    }

    fn drop_msg(&mut self, env: &Envelope, sent: Sent, why: &'static str) {
        self.stats.dropped += 1;
        if self.trace_on || self.timeline_on {
            self.record_msg(env, sent, "drop", Some(why));
        }
    }

    // --------------------------------------------------------------- clients

    fn client_next(&mut self, c: usize) {
        if self.healed || self.issued >= self.sc.ops {
            return;
        }
        self.issued += 1;
        let mut k = self.work_rng.random_range(0..self.keys.len()) as u32;
        let m = &self.sc.mix;
        let weights = [
            m.read,
            m.write,
            m.cas,
            m.delete,
            m.ttl_write,
            m.incr,
            m.append,
            m.getdel,
            m.setnx,
            m.expire,
            m.persist,
            m.ttl,
            m.mget,
            m.mset,
            m.keys,
            m.scan,
            m.dbsize,
            m.flushall,
            m.hash,
            m.set,
            m.zset,
            m.list,
            m.bits,
            m.multi,
            m.watch_multi,
            m.cross_multi,
        ];
        let total: u32 = weights.iter().sum();
        let mut pick = self.work_rng.random_range(0..total.max(1));
        let mut which = 0;
        while which + 1 < weights.len() && pick >= weights[which] {
            pick -= weights[which];
            which += 1;
        }
        // The coordinator is drawn where the register-only workload drew it
        // (after the value, except for a TTL), so its seeds replay unchanged.
        let mut picked = None;
        let mut wall_at = |w: &mut World| {
            let node = *picked.get_or_insert_with(|| w.pick_node());
            w.nodes[node as usize].clock.wall_ms(w.now)
        };
        let (f, value, command) = match which {
            0 => (F::Read, HVal::Null, Command::Get),
            1 => {
                let (bytes, id) = self.fresh_value();
                self.last_written[k as usize] = id;
                (F::Write, HVal::V(id), Command::Set(bytes.into()))
            }
            2 => {
                let expected = if self.work_rng.random_bool(0.15) {
                    ABSENT
                } else {
                    self.last_written[k as usize]
                };
                let (bytes, id) = self.fresh_value();
                self.last_written[k as usize] = id;
                let exp_bytes = (expected != ABSENT).then(|| self.values.bytes(expected).to_vec());
                let command = Command::Cas {
                    expected: exp_bytes,
                    new: bytes,
                };
                (F::Cas, HVal::Pair(expected, id), command)
            }
            3 => (F::Delete, HVal::Null, Command::Del),
            4 => {
                // PX: made absolute by the coordinator's wall clock, as the
                // command layer does.
                let (bytes, id) = self.fresh_value();
                self.last_written[k as usize] = id;
                let px = self.work_rng.random_range(1..=self.sc.ttl_max_ms);
                let wall = wall_at(self);
                let command = Command::SetWith {
                    data: bytes.into(),
                    expiry: synod::core::Expiry::At(wall + px),
                    cond: synod::core::SetCond::Always,
                    get: false,
                };
                (F::Write, HVal::V(id), command)
            }
            5 => {
                let delta = [1i64, 1, 2, -1, 7][self.work_rng.random_range(0..5)];
                (F::Incr, HVal::Int(delta), Command::IncrBy(delta))
            }
            6 => {
                // "+a7": never a prefix of a written value, never an integer.
                self.writes += 1;
                let bytes = format!("+a{}", self.writes).into_bytes();
                let id = self.values.intern(&bytes);
                (F::Append, HVal::V(id), Command::Append(bytes))
            }
            7 => (F::GetDel, HVal::Null, Command::GetDel),
            8 => {
                let (bytes, id) = self.fresh_value();
                let command = Command::SetWith {
                    data: bytes.into(),
                    expiry: synod::core::Expiry::Clear,
                    cond: synod::core::SetCond::IfAbsent,
                    get: false,
                };
                (F::SetNx, HVal::V(id), command)
            }
            9 => {
                let ms = self.work_rng.random_range(1..=self.sc.ttl_max_ms.max(1));
                let wall = wall_at(self);
                let command = Command::Expire {
                    at_ms: wall + ms,
                    cond: synod::core::ExpireCond::Always,
                };
                (F::Expire, HVal::Int(ms as i64), command)
            }
            10 => (F::Persist, HVal::Null, Command::Persist),
            11 => (F::Ttl, HVal::Null, Command::Ttl),
            TYPED_FIRST..TXN_MULTI => {
                // Mostly the family's own key (types still meet there, and
                // on every key some of the time), so that each type gets
                // long runs of commands that apply, not only WRONGTYPE.
                let family = which - TYPED_FIRST;
                if self.work_rng.random_bool(0.75) {
                    k = (family % self.keys.len()) as u32;
                }
                let wall = wall_at(self);
                match self.typed_op(family, k, wall) {
                    Some(op) => op,
                    None => return,
                }
            }
            _ => {
                let node = self.pick_node();
                self.clients[c].busy = true;
                self.start_command(c, node, which);
                return;
            }
        };
        let node = picked.unwrap_or_else(|| self.pick_node());
        let process = self.clients[c].process;
        self.clients[c].busy = true;
        self.invoke(c, process, node, k, f, value, command);
    }

    /// A typed command (typed.rs) of family `family` on key `k`: drawn,
    /// then planned by the command layer at the coordinator's wall clock
    /// `wall`, as the runtime plans it (one core request).
    fn typed_op(&mut self, family: usize, k: u32, wall: u64) -> Option<(F, HVal, Command)> {
        let mut fresh = Vec::new();
        let (f, args) = typed::draw(typed::FAMILIES[family], &mut self.work_rng, || {
            let v = format!("v{}", self.writes + 1 + fresh.len() as u64).into_bytes();
            fresh.push(v.clone());
            v
        });
        self.writes += fresh.len() as u64;
        for v in &fresh {
            self.values.intern(v);
        }
        let json = serde_json::Value::Array(
            args.iter()
                .map(|a| serde_json::Value::String(String::from_utf8_lossy(a).into_owned()))
                .collect(),
        );
        let value = HVal::Json(self.values.intern(json.to_string().as_bytes()));
        let mut resp = vec![f.name().as_bytes().to_vec(), self.keys[k as usize].clone()];
        resp.extend(args);
        let planned = match commands::plan(resp, wall, &mut Session::default()) {
            Plan::Core(call) => call.single().map(|(_, c)| c.clone()),
            _ => None,
        };
        let Some(command) = planned else {
            self.failure = Some(Verdict::Safety(format!(
                "the workload's {} was not planned as one core request",
                f.name()
            )));
            return None;
        };
        Some((F::Typed(f), value, command))
    }

    /// Starts a command with several core operations through the command
    /// layer: 12 MGET, 13 MSET, 14 KEYS, 15 SCAN, 16 DBSIZE, 17 FLUSHALL;
    /// or a transaction: TXN_MULTI, TXN_WATCH, TXN_CROSS.
    fn start_command(&mut self, c: usize, node: u32, which: usize) {
        if which >= TXN_MULTI {
            return self.start_transaction(c, node, which);
        }
        let n = self.keys.len();
        let mut some_keys = || -> Vec<u32> {
            let mut ks: Vec<u32> = (0..n as u32).collect();
            let take = self.work_rng.random_range(1..=n.min(3));
            for i in 0..take {
                let j = self.work_rng.random_range(i..n);
                ks.swap(i, j);
            }
            ks.truncate(take);
            ks
        };
        let (f, args): (Option<F>, Vec<Vec<u8>>) = match which {
            12 => {
                let mut args = vec![b"MGET".to_vec()];
                args.extend(
                    some_keys()
                        .into_iter()
                        .map(|k| self.keys[k as usize].clone()),
                );
                (None, args)
            }
            13 => {
                let mut args = vec![b"MSET".to_vec()];
                for k in some_keys() {
                    let (bytes, id) = self.fresh_value();
                    self.last_written[k as usize] = id;
                    args.push(self.keys[k as usize].clone());
                    args.push(bytes);
                }
                (None, args)
            }
            14 => (Some(F::Keys), vec![b"KEYS".to_vec(), b"*".to_vec()]),
            15 => (Some(F::Scan), scan_args(0)),
            16 => (Some(F::DbSize), vec![b"DBSIZE".to_vec()]),
            17 => (Some(F::FlushAll), vec![b"FLUSHALL".to_vec()]),
            _ => unreachable!("workload index {which}"),
        };
        let process = if c == SCRIPT {
            self.next_process += 1;
            self.next_process - 1
        } else {
            self.clients[c].process
        };
        let id = self.next_call;
        self.next_call += 1;
        if let Some(f) = f {
            self.stats.ops += 1;
            self.record_op(Event {
                process,
                ty: Type::Invoke,
                f,
                key: NO_KEY,
                value: HVal::Null,
                time_ns: self.now * 1_000,
                error: HErr::None,
            });
            if self.timeline_on || self.trace_on {
                let msg = format!("process {process} invokes {} via node {node}", f.name());
                self.note_fault("invoke", &msg);
            }
        }
        let Some(call) = self.plan(node, args) else {
            return;
        };
        self.calls.insert(
            id,
            Call {
                client: c,
                node,
                f,
                process,
                call,
                outcomes: Vec::new(),
                listed: BTreeSet::new(),
                changed: false,
                session: Session::default(),
                script: Default::default(),
            },
        );
        self.call_step(id, None);
    }

    /// A transaction, as a client sends it on one connection: TXN_MULTI:
    /// MULTI, GET k, SET k v, EXEC; TXN_WATCH: the same after WATCH k;
    /// TXN_CROSS: MULTI, SET k1 v1, SET k2 v2, EXEC over two keys (refused,
    /// nothing applied).
    fn start_transaction(&mut self, c: usize, node: u32, which: usize) {
        let n = self.keys.len() as u32;
        let k = self.work_rng.random_range(0..n);
        let key = |w: &World, k: u32| w.keys[k as usize].clone();
        let cmd = |words: &[&[u8]]| words.iter().map(|w| w.to_vec()).collect::<Vec<_>>();
        let mut commands = std::collections::VecDeque::new();
        let mut cross = Vec::new();
        if which == TXN_CROSS && n >= 2 {
            let other = (k + self.work_rng.random_range(1..n)) % n;
            commands.push_back(cmd(&[b"MULTI"]));
            for k in [k, other] {
                let (bytes, id) = self.fresh_value();
                cross.push((k, id));
                commands.push_back(cmd(&[b"SET", &key(self, k), &bytes]));
            }
        } else {
            if which == TXN_WATCH {
                commands.push_back(cmd(&[b"WATCH", &key(self, k)]));
            }
            let (bytes, id) = self.fresh_value();
            self.last_written[k as usize] = id;
            commands.push_back(cmd(&[b"MULTI"]));
            commands.push_back(cmd(&[b"GET", &key(self, k)]));
            commands.push_back(cmd(&[b"SET", &key(self, k), &bytes]));
        }
        commands.push_back(cmd(&[b"EXEC"]));
        let process = self.clients[c].process;
        for &(k, v) in &cross {
            // Recorded as the client sends it; refused below, at EXEC.
            let process = self.next_process;
            self.next_process += 1;
            self.stats.ops += 1;
            self.record_op(Event {
                process,
                ty: Type::Invoke,
                f: F::Txn,
                key: k,
                value: HVal::V(v),
                time_ns: self.now * 1_000,
                error: HErr::None,
            });
        }
        self.run_script(Script {
            client: c,
            node,
            process,
            session: Session::default(),
            commands,
            cross,
        });
    }

    /// Sends a sequence's commands in order on its session: those answered
    /// at once (MULTI, queued commands) go on to the next; one that needs
    /// the core (WATCH, EXEC) runs as a call, whose end resumes the rest
    /// (`call_done`). An error reply ends the sequence.
    fn run_script(&mut self, mut s: Script) {
        while let Some(args) = s.commands.pop_front() {
            let now_ms = self.nodes[s.node as usize].clock.wall_ms(self.now);
            match commands::plan(args, now_ms, &mut s.session) {
                Plan::Core(call) => {
                    if !s.cross.is_empty() {
                        self.failure = Some(Verdict::Safety(
                            "EXEC of a transaction over two keys was planned to run; it must be refused (CROSSSLOT) with nothing applied".into(),
                        ));
                        return;
                    }
                    let id = self.next_call;
                    self.next_call += 1;
                    self.calls.insert(
                        id,
                        Call {
                            client: s.client,
                            node: s.node,
                            f: None,
                            process: s.process,
                            call,
                            outcomes: Vec::new(),
                            listed: BTreeSet::new(),
                            changed: false,
                            session: s.session,
                            script: s.commands,
                        },
                    );
                    self.call_step(id, None);
                    return;
                }
                Plan::Reply(r) => {
                    let done = s.commands.is_empty() || matches!(r, Resp::Error(_));
                    if !done {
                        continue;
                    }
                    if !s.cross.is_empty() {
                        self.cross_refused(&s, &r);
                    }
                    let ty = match r {
                        Resp::Error(_) => Type::Fail,
                        _ => Type::Ok,
                    };
                    self.client_done(s.client, ty);
                    return;
                }
                other => {
                    self.failure = Some(Verdict::Safety(format!(
                        "a transaction's command was not planned as core operations: {other:?}"
                    )));
                    return;
                }
            }
        }
    }

    /// EXEC of a transaction over two keys answered `r`: it must be the
    /// CROSSSLOT refusal (nothing reached the core); each key's `txn` fails.
    fn cross_refused(&mut self, s: &Script, r: &Resp) {
        let refused = matches!(r, Resp::Error(e) if e.starts_with("CROSSSLOT"));
        if !refused {
            self.failure = Some(Verdict::Safety(format!(
                "EXEC of a transaction over two keys answered {r:?}, not CROSSSLOT"
            )));
            return;
        }
        // The invokes took the processes just below `next_process`, in order.
        let first = self.next_process - s.cross.len() as u64;
        for (i, &(k, v)) in s.cross.iter().enumerate() {
            self.stats.ops_fail += 1;
            self.record_op(Event {
                process: first + i as u64,
                ty: Type::Fail,
                f: F::Txn,
                key: k,
                value: HVal::V(v),
                time_ns: self.now * 1_000,
                error: HErr::None,
            });
        }
    }

    /// The command layer's plan for `args` at `node`'s wall clock.
    fn plan(&mut self, node: u32, args: Vec<Vec<u8>>) -> Option<CoreCall> {
        let now_ms = self.nodes[node as usize].clock.wall_ms(self.now);
        match commands::plan(args, now_ms, &mut Session::default()) {
            Plan::Core(call) => Some(call),
            other => {
                self.failure = Some(Verdict::Safety(format!(
                    "the workload's command was not planned as core operations: {other:?}"
                )));
                None
            }
        }
    }

    /// Runs the call's next step: `start` (None) or `resume` with the last
    /// step's outcomes; issues its operations or finishes the command.
    fn call_step(&mut self, id: u64, outcomes: Option<Vec<Outcome>>) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let node = call.node;
        let now_ms = self.nodes[node as usize].clock.wall_ms(self.now);
        let mut ctx = CallCtx {
            now_ms,
            cursors: &mut self.cursors[node as usize],
        };
        let step = match outcomes {
            None => call.call.start(&mut ctx),
            Some(o) => call.call.resume(o, &mut ctx),
        };
        let ops = match step {
            Step::Done(reply) => return self.call_done(id, reply),
            Step::Run(ops) => ops,
        };
        call.outcomes = vec![None; ops.len()];
        let flush = call.f == Some(F::FlushAll);
        for (i, op) in ops.into_iter().enumerate() {
            match op {
                commands::Op::List { after, count } => {
                    let rid = self.next_request;
                    self.next_request += 1;
                    self.pending.insert(
                        rid,
                        Pending {
                            client: usize::MAX - 2,
                            process: 0,
                            node,
                            key: NO_KEY,
                            f: F::Keys,
                            value: HVal::Null,
                            command: Command::Get,
                            invoked_us: self.now,
                            call: Some((id, i)),
                            list: Some((after, count)),
                        },
                    );
                    let lat = self.sc.net.delay_min_us.max(1);
                    self.push(self.now + lat, Ev::Request { node, id: rid });
                }
                commands::Op::Key(key, command) => {
                    let k = key_index(&key);
                    let (f, value) = match &command {
                        Command::Get => (F::Read, HVal::Null),
                        Command::Set(v) => (F::Write, HVal::V(self.values.intern(v))),
                        Command::Watch => (F::Watch, HVal::Null),
                        Command::Multi { commands, .. } => {
                            // The workload's transactions: GET k, SET k v.
                            let written = commands.iter().find_map(|c| match c {
                                Command::Set(v) => Some(self.values.intern(v)),
                                _ => None,
                            });
                            (F::Txn, HVal::V(written.unwrap_or(ABSENT)))
                        }
                        _ => (F::Delete, HVal::Null),
                    };
                    if flush {
                        if let Some(c) = self.calls.get_mut(&id) {
                            c.listed.insert(k);
                            c.changed = true;
                        }
                    }
                    let process = self.next_process;
                    self.next_process += 1;
                    let client = self.calls[&id].client;
                    let rid = self.invoke(client, process, node, k, f, value, command);
                    if let Some(p) = self.pending.get_mut(&rid) {
                        p.call = Some((id, i));
                    }
                }
            }
        }
    }

    /// One operation of a call ended.
    fn call_outcome(&mut self, id: u64, index: usize, key: u32, outcome: Outcome) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let live = match &outcome {
            Outcome::Ok(Reply::Value(v)) => v.is_some(),
            // A collection: live (the command layer counts it too).
            Outcome::Ok(Reply::Error(e)) => e == ERR_WRONGTYPE,
            _ => false,
        };
        if call.f == Some(F::DbSize) && live {
            call.listed.insert(key);
        }
        call.outcomes[index] = Some(outcome);
        if call.outcomes.iter().all(Option::is_some) {
            let outcomes = std::mem::take(&mut call.outcomes)
                .into_iter()
                .flatten()
                .collect();
            self.call_step(id, Some(outcomes));
        }
    }

    /// A call answered its client.
    fn call_done(&mut self, id: u64, reply: Resp) {
        let Some(mut call) = self.calls.remove(&id) else {
            return;
        };
        if self.nodes[call.node as usize].draining.is_some() {
            self.push(self.now, Ev::DrainCheck { node: call.node });
        }
        if !call.script.is_empty() && !matches!(reply, Resp::Error(_)) {
            // A sequence goes on with its next command (after WATCH: MULTI).
            return self.run_script(Script {
                client: call.client,
                node: call.node,
                process: call.process,
                session: call.session,
                commands: call.script,
                cross: Vec::new(),
            });
        }
        let mut ty = match &reply {
            Resp::Error(_) => Type::Fail,
            _ => Type::Ok,
        };
        match (call.f, &reply) {
            (Some(F::Keys), Resp::Array(keys)) => {
                call.listed = keys.iter().filter_map(|r| self.resp_key(r)).collect();
            }
            (Some(F::Scan), Resp::Array(page)) if page.len() == 2 => {
                if let Resp::Array(keys) = &page[1] {
                    let found: Vec<u32> = keys.iter().filter_map(|r| self.resp_key(r)).collect();
                    call.listed.extend(found);
                }
                let cursor = match &page[0] {
                    Resp::Bulk(b) => String::from_utf8_lossy(b).parse::<u64>().unwrap_or(0),
                    _ => 0,
                };
                if cursor != 0 {
                    // The scan goes on: the next SCAN call, same client.
                    if let Some(next) = self.plan(call.node, scan_args(cursor)) {
                        call.call = next;
                        self.calls.insert(id, call);
                        self.call_step(id, None);
                    }
                    return;
                }
            }
            (Some(F::DbSize), Resp::Integer(n)) => {
                if *n != call.listed.len() as i64 {
                    self.failure = Some(Verdict::Safety(format!(
                        "DBSIZE answered {n}, but {} keys read present",
                        call.listed.len()
                    )));
                }
            }
            (Some(F::FlushAll), Resp::Simple(_)) => {}
            (_, Resp::Error(why)) if call.changed => {
                ty = Type::Info;
                let _ = why;
            }
            (_, Resp::Error(_)) | (None, _) => {}
            (Some(f), other) => {
                self.failure = Some(Verdict::Safety(format!(
                    "{} answered an unexpected reply: {other:?}",
                    f.name()
                )));
            }
        }
        if let Some(f) = call.f {
            let value = if ty == Type::Ok {
                self.values
                    .lists
                    .push(call.listed.iter().copied().collect());
                HVal::Keys(self.values.lists.len() as u32 - 1)
            } else {
                HVal::Null
            };
            match ty {
                Type::Ok => self.stats.ops_ok += 1,
                Type::Fail => self.stats.ops_fail += 1,
                _ => self.stats.ops_info += 1,
            }
            self.record_op(Event {
                process: call.process,
                ty,
                f,
                key: NO_KEY,
                value,
                time_ns: self.now * 1_000,
                error: HErr::None,
            });
            if self.timeline_on || self.trace_on {
                let msg = format!(
                    "process {} {} {}: {}",
                    call.process,
                    f.name(),
                    match ty {
                        Type::Ok => "ok",
                        Type::Fail => "fail",
                        _ => "info",
                    },
                    history::show_value(&self.values, value)
                );
                self.note_fault("complete", &msg);
            }
        }
        self.client_done(call.client, ty);
    }

    /// The sim key a RESP key names.
    fn resp_key(&self, r: &Resp) -> Option<u32> {
        match r {
            Resp::Bulk(b) if b.first() == Some(&b'k') => Some(key_index(b)),
            _ => None,
        }
    }

    fn fresh_value(&mut self) -> (Vec<u8>, Val) {
        self.writes += 1;
        let bytes = format!("v{}", self.writes).into_bytes();
        let id = self.values.intern(&bytes);
        (bytes, id)
    }

    fn pick_node(&mut self) -> u32 {
        // Mostly members of the newest epoch; now and then any live node, so
        // removed and joining nodes are asked too (they must refuse).
        // (The draw only in runs with membership changes: other seeds replay
        // as before.) Never a node shutting down.
        let latest = self.latest_membership();
        let any = self.total > self.sc.nodes && self.work_rng.random_bool(0.05);
        let mut up: Vec<u32> = (1..=self.total)
            .filter(|&n| {
                let s = &self.nodes[n as usize];
                s.node.is_some() && s.draining.is_none()
            })
            .filter(|&n| any || latest.includes(n))
            .collect();
        if up.iter().any(|n| self.sc.coordinators.contains(n)) {
            up.retain(|n| self.sc.coordinators.contains(n));
        }
        if up.is_empty() {
            return 1;
        }
        up[self.work_rng.random_range(0..up.len())]
    }

    /// Issues one per-key operation; returns its request id.
    #[allow(clippy::too_many_arguments)]
    fn invoke(
        &mut self,
        client: usize,
        process: u64,
        node: u32,
        key: u32,
        f: F,
        value: HVal,
        command: Command,
    ) -> u64 {
        let id = self.next_request;
        self.next_request += 1;
        self.stats.ops += 1;
        self.record_op(Event {
            process,
            ty: Type::Invoke,
            f,
            key,
            value,
            time_ns: self.now * 1_000,
            error: HErr::None,
        });
        if self.timeline_on || self.trace_on {
            let msg = format!(
                "process {process} invokes {} {} {} via node {node}",
                f.name(),
                self.key_names[key as usize],
                history::show_value(&self.values, value)
            );
            self.note_fault("invoke", &msg);
        }
        if let Some(r) = self.rec.as_mut() {
            let text = format!(
                "{} {} {}",
                f.name(),
                self.key_names[key as usize],
                history::show_value(&self.values, value)
            );
            let lanes = self.clients.len();
            let lane = match client {
                SCRIPT => lanes,
                PROBE => lanes + 1,
                c => c,
            };
            let who = match client {
                SCRIPT => "a scripted client".to_string(),
                PROBE => "the probe".to_string(),
                c => format!("client c{c}"),
            };
            r.step(
                self.now,
                node,
                key as i32,
                "op",
                format!("{who} (process {process}) invokes {text} via n{node}"),
            );
            r.op_start(id, lane, process, node, key, text);
        }
        self.pending.insert(
            id,
            Pending {
                client,
                process,
                node,
                key,
                f,
                value,
                command,
                invoked_us: self.now,
                call: None,
                list: None,
            },
        );
        let lat = self.sc.net.delay_min_us.max(1);
        self.push(self.now + lat, Ev::Request { node, id });
        id
    }

    fn request_arrives(&mut self, node: u32, id: u64) {
        let slot = &self.nodes[node as usize];
        if slot.node.is_none() {
            self.complete(id, Type::Fail, None, "coordinator down: never sent");
            return;
        }
        if slot.paused_until > self.now {
            let until = slot.paused_until;
            self.push(until, Ev::Request { node, id });
            return;
        }
        let Some(p) = self.pending.get(&id) else {
            return;
        };
        if slot.draining.is_some() && p.call.is_none() && p.client != PROBE {
            // As the runtime: a command read after the drain began is not run.
            self.complete(id, Type::Fail, None, "not run: the node is shutting down");
            return;
        }
        if let Some((after, count)) = &p.list {
            let input = Input::ListKeys {
                id,
                after: after.clone(),
                count: *count,
            };
            self.handle(node, input);
            return;
        }
        let input = Input::Request {
            id,
            key: self.keys[p.key as usize].clone(),
            command: p.command.clone(),
        };
        if let Some(r) = self.rec.as_mut() {
            let text = format!(
                "n{node} takes process {}'s request: {} {} {}",
                p.process,
                p.f.name(),
                self.key_names[p.key as usize],
                history::show_value(&self.values, p.value)
            );
            r.step(self.now, node, p.key as i32, "request", text);
        }
        self.handle(node, input);
    }

    fn reply(&mut self, id: u64, outcome: Outcome) {
        if let Some((_, what)) = self.admin.remove(&id) {
            let text = match &outcome {
                Outcome::Ok(Reply::Integer(e)) => format!("{what}: started, joint epoch {e}"),
                Outcome::Ok(r) => {
                    self.stats.membership_refused += 1;
                    format!("{what}: refused ({r:?})")
                }
                Outcome::Failed(why) => {
                    self.stats.membership_refused += 1;
                    format!("{what}: refused ({why})")
                }
                Outcome::Unknown(why) => format!("{what}: outcome unknown ({why})"),
            };
            self.note_fault("membership", &text);
            return;
        }
        match outcome {
            Outcome::Ok(r) => self.complete(id, Type::Ok, Some(r), ""),
            Outcome::Failed(why) => self.complete(id, Type::Fail, None, &why),
            Outcome::Unknown(why) => self.complete(id, Type::Info, None, &why),
        }
    }

    /// An operation ends: record it, free its client (with a new process id after `info`).
    fn complete(&mut self, id: u64, ty: Type, reply: Option<Reply>, why: &str) {
        let Some(p) = self.pending.remove(&id) else {
            return;
        };
        if self.nodes[p.node as usize].draining.is_some() {
            self.push(self.now, Ev::DrainCheck { node: p.node });
        }
        // An operation of a multi-step command: its outcome goes back to the call.
        let for_call = p.call.map(|(call, index)| {
            let outcome = match (ty, &reply) {
                (Type::Ok, Some(r)) => Outcome::Ok(r.clone()),
                (Type::Fail, _) => Outcome::Failed(why.to_string()),
                _ => Outcome::Unknown(why.to_string()),
            };
            (call, index, outcome)
        });
        if p.list.is_some() {
            if let Some((call, index, outcome)) = for_call {
                self.call_outcome(call, index, p.key, outcome);
            }
            return;
        }
        let mut ty = ty;
        let mut error = HErr::None;
        let value = match (p.f, reply) {
            // Any command on a value of another type (a GET of a hash, an
            // HSET of a string): nothing changed; it saw the type.
            (_, Some(Reply::Error(e))) if e == ERR_WRONGTYPE => {
                ty = Type::Fail;
                error = HErr::WrongType;
                p.value
            }
            (F::Typed(_), Some(Reply::Nested(a))) => {
                let json = typed::answer_json(&a).to_string();
                HVal::Json(self.values.intern(json.as_bytes()))
            }
            (F::Typed(_), Some(Reply::Error(_))) => {
                ty = Type::Fail;
                p.value
            }
            (F::Read | F::GetDel, Some(Reply::Value(v))) => HVal::V(self.values.intern_opt(&v)),
            (F::Delete, Some(Reply::Deleted(b))) => HVal::Flag(b),
            (F::Cas, Some(Reply::Swapped(false))) => {
                ty = Type::Fail;
                error = HErr::Mismatch;
                p.value
            }
            (F::Incr, Some(Reply::Error(_))) => {
                // Not an integer: nothing changed, and the value was present.
                ty = Type::Fail;
                error = HErr::NotInteger;
                p.value
            }
            (F::Incr | F::Append, Some(Reply::Integer(n))) => HVal::Int(n),
            (F::Expire | F::Persist, Some(Reply::Integer(n))) => HVal::Flag(n == 1),
            (F::SetNx, Some(Reply::SetResult { applied, .. })) => HVal::Flag(applied),
            (F::Txn, Some(Reply::Multi(Some(replies)))) => match (replies.first(), p.value) {
                (Some(Reply::Value(old)), HVal::V(new)) => {
                    HVal::Pair(self.values.intern_opt(old), new)
                }
                // The key held a value of another type: GET answered
                // WRONGTYPE inside the transaction and SET overwrote it,
                // as in Redis.
                (Some(Reply::Error(e)), HVal::V(new)) if e == ERR_WRONGTYPE => {
                    error = HErr::WrongType;
                    HVal::V(new)
                }
                _ => {
                    self.failure = Some(Verdict::Safety(format!(
                        "a transaction (GET, SET) answered {replies:?}"
                    )));
                    p.value
                }
            },
            // Nil: the watched key changed, nothing was applied.
            (F::Txn, Some(Reply::Multi(None))) => HVal::Null,
            (F::Ttl, Some(Reply::Deadline(d))) => HVal::Int(match d {
                None => -2,
                Some(None) => -1,
                Some(Some(at)) => {
                    let wall = self.nodes[p.node as usize].clock.wall_ms(self.now);
                    at.saturating_sub(wall) as i64
                }
            }),
            _ => p.value,
        };
        match ty {
            Type::Ok => self.stats.ops_ok += 1,
            Type::Fail => self.stats.ops_fail += 1,
            _ => self.stats.ops_info += 1,
        }
        self.record_op(Event {
            process: p.process,
            ty,
            f: p.f,
            key: p.key,
            value,
            time_ns: self.now * 1_000,
            error,
        });
        if self.timeline_on || self.trace_on {
            let msg = format!(
                "process {} {}: {} {} {}{}{}",
                p.process,
                match ty {
                    Type::Ok => "ok",
                    Type::Fail => "fail",
                    Type::Info => "info",
                    Type::Invoke => "invoke",
                },
                p.f.name(),
                self.key_names[p.key as usize],
                history::show_value(&self.values, value),
                if why.is_empty() { "" } else { " — " },
                why
            );
            self.note_fault("complete", &msg);
        }
        if let Some(r) = self.rec.as_mut() {
            let (outcome, word) = match ty {
                Type::Ok => ("ok", "ok"),
                Type::Fail => ("fail", "failed"),
                _ => ("info", "unknown outcome"),
            };
            let result = format!(
                "{}{}{}",
                history::show_value(&self.values, value),
                if why.is_empty() { "" } else { " — " },
                why
            );
            r.step(
                self.now,
                p.node,
                p.key as i32,
                "op",
                format!(
                    "process {} {} {}: {word} {result}",
                    p.process,
                    p.f.name(),
                    self.key_names[p.key as usize]
                ),
            );
            r.op_end(id, outcome, result);
        }
        if p.client == PROBE {
            // A collection answers the probe's GET with WRONGTYPE: read.
            if ty != Type::Ok && error != HErr::WrongType {
                self.failure = Some(Verdict::Liveness(format!(
                    "after the heal, the probe read of key {} via node {} did not succeed: {} ({why})",
                    self.key_names[p.key as usize],
                    p.node,
                    match ty {
                        Type::Fail => "failed",
                        _ => "unknown",
                    }
                )));
                return;
            }
            self.probe_key += 1;
            self.next_probe();
            return;
        }
        if let Some((call, index, outcome)) = for_call {
            self.call_outcome(call, index, p.key, outcome);
            return;
        }
        if p.client == SCRIPT {
            return;
        }
        self.client_done(p.client, ty);
    }

    /// A client's command ended: it thinks, then issues the next.
    fn client_done(&mut self, client: usize, ty: Type) {
        if client == SCRIPT {
            return;
        }
        let c = &mut self.clients[client];
        c.busy = false;
        if ty == Type::Info {
            // Jepsen's rule: a process with an unknown outcome never issues again.
            c.process = self.next_process;
            self.next_process += 1;
        }
        if self.healed {
            self.maybe_start_probes();
        } else {
            let think = self.work_rng.random_range(0..=self.sc.think_max_us);
            self.push(self.now + think, Ev::ClientNext { client });
        }
    }

    /// A system operation (expiry or eviction) starts: a delete by a fresh process.
    fn system_op_starts(&mut self, key: u32, what: &str) -> u64 {
        let process = self.next_process;
        self.next_process += 1;
        self.stats.system_ops += 1;
        self.record_op(Event {
            process,
            ty: Type::Invoke,
            f: F::Delete,
            key,
            value: HVal::Null,
            time_ns: self.now * 1_000,
            error: HErr::None,
        });
        if self.timeline_on || self.trace_on {
            let msg = format!(
                "system process {process} ({what}) invokes delete {}",
                self.key_names[key as usize]
            );
            self.note_fault("invoke", &msg);
        }
        if let Some(r) = self.rec.as_mut() {
            let text = format!("delete {} ({what})", self.key_names[key as usize]);
            let step = format!("system process {process} starts: {text}");
            r.step(self.now, 0, key as i32, "op", step);
            r.system_op_start(process, key, text);
        }
        process
    }

    /// A system operation ends: `Ok` (deleted), `Fail` (no effect) or `Info`.
    fn system_op_ends(&mut self, process: u64, key: u32, ty: Type) {
        if let Some(r) = self.rec.as_mut() {
            let outcome = match ty {
                Type::Ok => "ok",
                Type::Fail => "fail",
                _ => "info",
            };
            let text = format!(
                "system process {process}: delete {} {outcome}",
                self.key_names[key as usize]
            );
            r.step(self.now, 0, key as i32, "op", text);
            r.system_op_end(process, outcome);
        }
        self.record_op(Event {
            process,
            ty,
            f: F::Delete,
            key,
            value: HVal::Null,
            time_ns: self.now * 1_000,
            error: HErr::None,
        });
    }

    fn record_op(&mut self, e: Event) {
        self.history.push(e);
    }

    // ---------------------------------------------------------------- faults

    /// True if crashing `id` keeps every replica set it belongs to within F failures.
    fn may_fail(&self, id: u32) -> bool {
        let f = self.sc.failures_allowed();
        if self.nodes[id as usize].failed || self.nodes[id as usize].node.is_none() {
            return false;
        }
        let failed_nodes = self.nodes.iter().filter(|s| s.failed).count();
        if failed_nodes >= self.sc.max_failed_nodes.unwrap_or(1) {
            return false;
        }
        let ok = |s: &Vec<u32>| {
            !s.contains(&id) || s.iter().filter(|&&n| self.nodes[n as usize].failed).count() < f
        };
        if !self.replica_sets.iter().all(ok) {
            return false;
        }
        // With membership changes, every replica set of every epoch a live
        // node is in (old and new lists) keeps within F failures too.
        if self.total == self.sc.nodes {
            return true;
        }
        let mut lists: Vec<Vec<u32>> = Vec::new();
        for m in self
            .nodes
            .iter()
            .filter_map(|s| s.node.as_ref())
            .map(|n| n.membership())
        {
            lists.push(m.members.clone());
            lists.extend(m.old.clone());
        }
        lists.sort();
        lists.dedup();
        lists.iter().filter(|l| !l.is_empty()).all(|l| {
            let p = Placement::new(l, self.sc.replicas.min(l.len()));
            self.keys.iter().all(|k| ok(&p.replicas_of(k)))
        })
    }

    /// True if `id` is up but still catching up after a restart (already
    /// counted as failed): crashing it again keeps the failure count.
    fn may_recrash(&self, id: u32) -> bool {
        let slot = &self.nodes[id as usize];
        slot.failed && slot.draining.is_none() && slot.node.as_ref().is_some_and(|n| !n.is_voting())
    }

    fn crash(&mut self, id: u32, why: &str) {
        let slot = &mut self.nodes[id as usize];
        if slot.node.take().is_none() {
            return;
        }
        slot.failed = true;
        slot.wake = None;
        slot.paused_until = 0;
        slot.draining = None;
        self.stats.crashes += 1;
        self.cursors[id as usize] = ScanCursors::default();
        self.oracle.on_crash(id);
        self.note_fault("crash", &format!("node {id} crashes ({why}): memory lost"));
        // Its evictions in flight may have been chosen (info); the next life
        // numbers its system operations afresh, so they must not wait for it.
        let evictions: Vec<_> = self
            .evictions
            .keys()
            .filter(|(node, _)| *node == id)
            .copied()
            .collect();
        for e in evictions {
            if let Some((process, k)) = self.evictions.remove(&e) {
                self.system_op_ends(process, k, Type::Info);
            }
        }
        if let Some(r) = self.rec.as_mut() {
            let text =
                format!("n{id} crashes ({why}): it forgets everything it promised and accepted");
            r.crashed(id, text, self.now);
        }
        // Clients connected to it: a write may have landed (info); a read did not.
        let lost: Vec<u64> = self
            .pending
            .iter()
            .filter(|(_, p)| p.node == id)
            .map(|(&rid, _)| rid)
            .collect();
        // An operator's change through it: the answer is lost (the change
        // may still have been chosen: the register tells).
        let admin: Vec<u64> = self
            .admin
            .iter()
            .filter(|(_, (c, _))| *c == id)
            .map(|(&rid, _)| rid)
            .collect();
        for rid in admin {
            if let Some((_, what)) = self.admin.remove(&rid) {
                let text = format!("{what}: outcome unknown (the coordinator crashed)");
                self.note_fault("membership", &text);
            }
        }
        for rid in lost {
            let f = self.pending[&rid].f;
            let read_only = matches!(f, F::Read | F::Ttl | F::Keys);
            let ty = if read_only { Type::Fail } else { Type::Info };
            self.complete(rid, ty, None, "connection to the coordinator dropped");
        }
        for n in 1..=self.total {
            if n != id {
                self.notify_link(n, id, false, false);
            }
        }
        self.note_majority_lost();
    }

    /// Tells `n` that its link to `peer` went up (with `peer`'s incarnation
    /// now) or down, as the runtime does when a connection drops or a
    /// handshake completes. Without `faults.link_event_p` at once; with it,
    /// up to `link_delay_max_us` late, and a down only with that
    /// probability (`always`: a link-up the runtime always delivers).
    fn notify_link(&mut self, n: u32, peer: u32, up: bool, always: bool) {
        let p = self.sc.faults.link_event_p;
        if self.nodes[n as usize].node.is_none() || (up && self.nodes[peer as usize].node.is_none())
        {
            return;
        }
        let inc = self.nodes[peer as usize].incarnation;
        if p <= 0.0 {
            let input = if up {
                Input::PeerUp {
                    node: peer,
                    incarnation: inc,
                }
            } else {
                Input::PeerDown { node: peer }
            };
            self.handle(n, input);
            return;
        }
        if !always && !self.fault_rng.random_bool(p.min(1.0)) {
            return;
        }
        let max = self.sc.faults.link_delay_max_us;
        let delay = if max > 0 {
            self.fault_rng.random_range(0..=max)
        } else {
            0
        };
        self.link_gen[n as usize][peer as usize] += 1;
        let ev = Ev::Link {
            node: n,
            life: self.nodes[n as usize].life,
            peer,
            up: up.then_some(inc),
            gen: self.link_gen[n as usize][peer as usize],
        };
        self.push(self.now + delay, ev);
    }

    /// A late link event arrives; a newer one for the same pair, a new life
    /// of either end, or a peer down again makes it void (the runtime's
    /// link generations).
    fn link_event(&mut self, n: u32, life: u32, peer: u32, up: Option<u64>, gen: u64) {
        let slot = &self.nodes[n as usize];
        if slot.node.is_none()
            || slot.life != life
            || self.link_gen[n as usize][peer as usize] != gen
        {
            return;
        }
        let input = match up {
            Some(inc) => {
                let p = &self.nodes[peer as usize];
                if p.node.is_none() || p.incarnation != inc {
                    return;
                }
                Input::PeerUp {
                    node: peer,
                    incarnation: inc,
                }
            }
            None => Input::PeerDown { node: peer },
        };
        self.stats.link_events += 1;
        if self.timeline_on || self.trace_on {
            let what = if up.is_some() { "up" } else { "down" };
            self.note_fault(
                "link",
                &format!("node {n} hears its link to node {peer} is {what}"),
            );
        }
        self.handle(n, input);
    }

    /// After a crash beyond F: once every replica set has more than F
    /// failed members, the history says so (an admin event), and until a
    /// `declare-lost` no operation invoked may succeed.
    fn note_majority_lost(&mut self) {
        if self.majority_lost {
            return;
        }
        let f = self.sc.replicas.saturating_sub(1) / 2;
        let lost = self
            .replica_sets
            .iter()
            .all(|s| s.iter().filter(|&&n| self.nodes[n as usize].failed).count() > f);
        if lost {
            self.majority_lost = true;
            self.admin_event(F::MajorityLost, Type::Ok);
            self.note_fault(
                "majority-lost",
                "more than F replicas of every replica set lost their memory: unavailable until declare-lost",
            );
        }
    }

    /// An admin event in the history (`key` null, an admin process).
    fn admin_event(&mut self, f: F, ty: Type) {
        let process = self.next_process;
        self.next_process += 1;
        for ty in [Type::Invoke, ty] {
            self.record_op(Event {
                process,
                ty,
                f,
                key: NO_KEY,
                value: HVal::Null,
                time_ns: self.now * 1_000,
                error: HErr::None,
            });
        }
    }

    /// Starts a graceful shutdown of `id` (`SHUTDOWN`): no new requests,
    /// those in flight answered, then it stops; restarts `restart_after_us`
    /// later if given.
    fn shutdown(&mut self, id: u32, restart_after_us: Option<u64>) {
        if !self.may_fail(id) {
            self.note_fault(
                "skip",
                &format!("shutdown of node {id}: would exceed F failed replicas"),
            );
            return;
        }
        // As the runtime: the retry budget plus 1 s for the requests in flight.
        let deadline = self.now + (self.sc.node.retry_budget_ms + 1_000) * 1_000;
        self.stats.shutdowns += 1;
        let slot = &mut self.nodes[id as usize];
        slot.failed = true;
        slot.draining = Some((restart_after_us, deadline));
        self.note_fault(
            "shutdown",
            &format!("node {id} shuts down: no new requests, answering those in flight"),
        );
        self.push(self.now, Ev::DrainCheck { node: id });
        self.push(deadline, Ev::DrainCheck { node: id });
    }

    /// A draining node stops once nothing it coordinates for a client is
    /// in flight, or at the drain deadline (what is left then ends as a
    /// crash leaves it: a write unknown).
    fn drain_check(&mut self, id: u32) {
        let Some((restart_after, deadline)) = self.nodes[id as usize].draining else {
            return;
        };
        let busy = self
            .pending
            .values()
            .any(|p| p.node == id && p.client != usize::MAX - 2)
            || self.calls.values().any(|c| c.node == id);
        if busy && self.now < deadline {
            return;
        }
        self.crash(id, "graceful shutdown: drained, stopped");
        if self.healed {
            self.restart(id);
        } else if let Some(after) = restart_after {
            self.push(self.now + after, Ev::Restart { node: id });
        }
    }

    /// `CONFIG SET maxmemory` on a random node: none, or between half and
    /// 1.2 x what every key with a value needs.
    fn memory_cap_random(&mut self) {
        if self.healed {
            return;
        }
        let id = self.fault_rng.random_range(1..=self.total);
        let full = self.keys.len() as f64 * (synod::core::acceptor::SLOT_OVERHEAD_BYTES + 6) as f64;
        let bytes = [0.0, 0.5, 0.8, 1.2][self.fault_rng.random_range(0..4)] * full;
        self.set_memory_cap(id, bytes as u64);
        let next = self.exp_delay(self.sc.faults.memory_cap_every_ms * 1_000);
        self.push(self.now + next, Ev::MemoryCapRandom);
    }

    fn set_memory_cap(&mut self, id: u32, max_bytes: u64) {
        if self.nodes[id as usize].node.is_none() {
            return;
        }
        let eviction = synod::core::Eviction::from_name(&self.sc.node.eviction).unwrap_or_default();
        self.stats.memory_caps += 1;
        self.note_fault(
            "config",
            &format!("CONFIG SET maxmemory {max_bytes} on node {id}"),
        );
        self.handle(
            id,
            Input::SetMemoryCap {
                max_bytes,
                eviction,
            },
        );
    }

    fn restart(&mut self, id: u32) {
        if self.nodes[id as usize].node.is_some() {
            return;
        }
        if let Err(e) = self.start_node(id, false) {
            self.failure = Some(Verdict::Safety(format!("cannot restart node {id}: {e}")));
            return;
        }
        let inc = self.nodes[id as usize].incarnation;
        self.note_fault(
            "restart",
            &format!("node {id} restarts as incarnation {inc} (not voting until caught up)"),
        );
        if let Some(r) = self.rec.as_mut() {
            r.span_end("down", id.into());
            let text = format!("recovering (incarnation {inc}): does not vote yet");
            r.span_start("recovering", id.into(), vec![id], text);
        }
        for n in 1..=self.total {
            if n != id && self.nodes[n as usize].node.is_some() {
                // Handshakes: both ends learn the link is up (late with
                // `link_event_p`, never lost).
                self.notify_link(id, n, true, true);
                self.notify_link(n, id, true, true);
            }
        }
    }

    // ------------------------------------------------------------ membership

    /// The newest membership epoch any live node is in.
    fn latest_membership(&self) -> Membership {
        self.nodes
            .iter()
            .filter_map(|s| s.node.as_ref())
            .map(|n| n.membership())
            .filter(|m| !m.members.is_empty())
            .max_by_key(|m| m.epoch)
            .cloned()
            .unwrap_or_else(|| Membership::initial(&self.members))
    }

    /// A membership change that has not ended, described.
    fn changing(&self) -> Option<String> {
        let m = self.latest_membership();
        let old = m.old.as_ref()?;
        Some(format!(
            "the membership change of epoch {} ({old:?} -> {:?}) has not ended: old members {:?} moved their keys",
            m.epoch, m.members, m.moved
        ))
    }

    /// A random membership change, as an operator would start one.
    fn membership_random(&mut self) {
        if self.healed {
            return;
        }
        let latest = self.latest_membership();
        let spare = self.next_spare <= self.total;
        let can_remove = latest.members.len() > self.sc.replicas;
        let mut choices = Vec::new();
        if spare {
            choices.push(0);
            choices.push(2);
        }
        if can_remove {
            choices.push(1);
        }
        if !choices.is_empty() {
            let pick = choices[self.fault_rng.random_range(0..choices.len())];
            let victim = latest.members[self.fault_rng.random_range(0..latest.members.len())];
            match pick {
                0 => self.change_membership(true, None, None),
                1 => self.change_membership(false, Some(victim), None),
                _ => self.change_membership(true, Some(victim), None),
            }
        }
        let next = self.exp_delay(self.sc.faults.membership_every_ms * 1_000);
        self.push(self.now + next, Ev::MembershipRandom);
    }

    /// Starts a membership change through a random live member (or
    /// `through`, if it is one): add the next spare (`add`), remove
    /// `remove`, or both (a replacement).
    fn change_membership(&mut self, add: bool, remove: Option<u32>, through: Option<u32>) {
        if self.healed {
            return;
        }
        let latest = self.latest_membership();
        let what = match (add, remove) {
            (true, None) => format!("add-node {}", self.next_spare),
            (false, Some(n)) => format!("remove-node {n}"),
            (true, Some(n)) => format!("replace-node {n} with {}", self.next_spare),
            (false, None) => return,
        };
        if latest.is_joint() || !self.admin.is_empty() {
            self.note_fault("skip", &format!("{what}: a membership change is running"));
            return;
        }
        if let Some(n) = remove.filter(|n| !latest.members.contains(n)) {
            self.note_fault("skip", &format!("{what}: node {n} is not a member"));
            return;
        }
        if add && self.next_spare > self.total {
            self.note_fault("skip", &format!("{what}: no spare node left"));
            return;
        }
        let coords: Vec<u32> = latest
            .members
            .iter()
            .copied()
            .filter(|&n| {
                let s = &self.nodes[n as usize];
                s.node.is_some() && s.draining.is_none()
            })
            .collect();
        if coords.is_empty() {
            return;
        }
        let coord = match through.filter(|n| coords.contains(n)) {
            Some(n) => n,
            None => coords[self.fault_rng.random_range(0..coords.len())],
        };
        let mut added = Vec::new();
        if add {
            // The spare starts empty, knowing no membership, and connects.
            let s = self.next_spare;
            self.next_spare += 1;
            if let Err(e) = self.start_node(s, true) {
                self.failure = Some(Verdict::Safety(format!("cannot start node {s}: {e}")));
                return;
            }
            let inc = self.nodes[s as usize].incarnation;
            for n in 1..=self.total {
                if n != s && self.nodes[n as usize].node.is_some() {
                    let theirs = self.nodes[n as usize].incarnation;
                    self.handle(
                        s,
                        Input::PeerUp {
                            node: n,
                            incarnation: theirs,
                        },
                    );
                    self.handle(
                        n,
                        Input::PeerUp {
                            node: s,
                            incarnation: inc,
                        },
                    );
                }
            }
            added.push(s);
        }
        let id = self.next_request;
        self.next_request += 1;
        self.stats.membership_changes += 1;
        let text = format!("{what} (through node {coord})");
        self.note_fault("membership", &text);
        self.admin.insert(id, (coord, text));
        self.handle(
            coord,
            Input::ChangeMembership {
                id,
                addrs: added.iter().map(|&n| (n, format!("sim:{n}"))).collect(),
                add: added,
                remove: remove.into_iter().collect(),
            },
        );
    }

    fn crash_random(&mut self) {
        if self.healed {
            return;
        }
        let f = &self.sc.faults;
        let (recrash_p, shutdown_p) = (f.recrash_p, f.shutdown_p);
        let recrash = recrash_p > 0.0 && self.fault_rng.random_bool(recrash_p.min(1.0));
        let candidates: Vec<u32> = (1..=self.total)
            .filter(|&n| {
                if recrash {
                    self.may_recrash(n)
                } else {
                    self.may_fail(n)
                }
            })
            .collect();
        if !candidates.is_empty() {
            let id = candidates[self.fault_rng.random_range(0..candidates.len())];
            let down = self.exp_delay(self.sc.faults.down_ms * 1_000).max(1);
            let graceful =
                !recrash && shutdown_p > 0.0 && self.fault_rng.random_bool(shutdown_p.min(1.0));
            if graceful {
                self.shutdown(id, Some(down));
            } else {
                self.stats.recrashes += u64::from(recrash);
                self.crash(
                    id,
                    if recrash {
                        "random, while recovering"
                    } else {
                        "random"
                    },
                );
                self.push(self.now + down, Ev::Restart { node: id });
            }
        }
        let next = self.exp_delay(self.sc.faults.crash_every_ms * 1_000);
        self.push(self.now + next, Ev::CrashRandom);
    }

    fn pause_random(&mut self) {
        if self.healed {
            return;
        }
        let id = self.fault_rng.random_range(1..=self.sc.nodes);
        let len = self.exp_delay(self.sc.faults.pause_ms * 1_000).max(1);
        self.pause(id, len);
        let next = self.exp_delay(self.sc.faults.pause_every_ms * 1_000);
        self.push(self.now + next, Ev::PauseRandom);
    }

    fn pause(&mut self, id: u32, len_us: u64) {
        let heal_at = self.sc.fault_phase_ms * 1_000;
        let until = (self.now + len_us).min(heal_at.max(self.now));
        let slot = &mut self.nodes[id as usize];
        if slot.node.is_none() || until <= slot.paused_until {
            return;
        }
        slot.paused_until = until;
        self.stats.pauses += 1;
        self.note_fault(
            "pause",
            &format!("node {id} pauses for {} µs", until - self.now),
        );
        if let Some(r) = self.rec.as_mut() {
            r.paused(
                id,
                until,
                format!("paused until {}.{:03} ms", until / 1000, until % 1000),
            );
        }
    }

    fn partition_random(&mut self) {
        if self.healed {
            return;
        }
        let m = self.total;
        if m >= 2 {
            // A random proper subset on one side.
            let mut side: Vec<bool> = (0..=m).map(|_| self.fault_rng.random_bool(0.5)).collect();
            side[0] = false;
            let ones = side.iter().filter(|&&b| b).count();
            if ones == 0 {
                side[self.fault_rng.random_range(1..=m) as usize] = true;
            } else if ones == m as usize {
                side[self.fault_rng.random_range(1..=m) as usize] = false;
            }
            let a: Vec<u32> = (1..=m).filter(|&n| side[n as usize]).collect();
            let b: Vec<u32> = (1..=m).filter(|&n| !side[n as usize]).collect();
            let one_way = self.fault_rng.random_bool(self.sc.faults.asymmetric_p);
            let mut links = Vec::new();
            for &x in &a {
                for &y in &b {
                    links.push((x, y));
                    if !one_way {
                        links.push((y, x));
                    }
                }
            }
            let desc = format!("{a:?} {} {b:?}", if one_way { "-/->" } else { "<-/->" });
            let id = self.add_partition(links, &desc);
            let len = self.exp_delay(self.sc.faults.partition_ms * 1_000).max(1);
            self.push(self.now + len, Ev::PartitionEnd { id });
        }
        let next = self.exp_delay(self.sc.faults.partition_every_ms * 1_000);
        self.push(self.now + next, Ev::PartitionRandom);
    }

    fn add_partition(&mut self, links: Vec<(u32, u32)>, desc: &str) -> u64 {
        self.partition_seq += 1;
        let id = self.partition_seq;
        for &(x, y) in &links {
            self.blocked[x as usize][y as usize] += 1;
        }
        // A connection cut both ways drops: its ends may hear of it.
        if self.sc.faults.link_event_p > 0.0 {
            for &(x, y) in &links {
                if links.contains(&(y, x)) {
                    self.link_cut[x as usize][y as usize] = true;
                    self.notify_link(x, y, false, false);
                }
            }
        }
        self.partitions.insert(id, links);
        self.stats.partitions += 1;
        self.note_fault("partition", &format!("partition #{id} forms: {desc}"));
        if let Some(r) = self.rec.as_mut() {
            let links = &self.partitions[&id];
            let mut count = vec![0usize; self.nodes.len()];
            for &(x, y) in links {
                count[x as usize] += 1;
                count[y as usize] += 1;
            }
            let most = count.iter().copied().max().unwrap_or(0);
            let cut: Vec<u32> = (1..=self.total)
                .filter(|&n| most > 0 && count[n as usize] == most)
                .collect();
            r.span_start("partition", id, cut, format!("partition #{id}: {desc}"));
        }
        id
    }

    fn partition_end(&mut self, id: u64) {
        if let Some(links) = self.partitions.remove(&id) {
            for &(x, y) in &links {
                self.blocked[x as usize][y as usize] -= 1;
            }
            // Reconnected: each end hears the link is up (always, maybe
            // late): the links this partition cut, then those an earlier
            // one cut that this one held blocked (a one-way cut too).
            if self.sc.faults.link_event_p > 0.0 {
                let open = |w: &World, a: usize, b: usize| {
                    w.link_cut[a][b] && w.blocked[a][b] == 0 && w.blocked[b][a] == 0
                };
                for &(x, y) in &links {
                    let (a, b) = (x as usize, y as usize);
                    if open(self, a, b) {
                        self.link_cut[a][b] = false;
                        self.notify_link(x, y, true, true);
                    }
                }
                for x in 1..=self.total {
                    for y in 1..=self.total {
                        if open(self, x as usize, y as usize) {
                            self.link_cut[x as usize][y as usize] = false;
                            self.notify_link(x, y, true, true);
                        }
                    }
                }
            }
            self.note_fault("heal", &format!("partition #{id} heals"));
            if let Some(r) = self.rec.as_mut() {
                r.span_end("partition", id);
            }
        }
    }

    fn scheduled(&mut self, index: usize) {
        if self.healed {
            return;
        }
        let action = self.sc.schedule[index].action.clone();
        match action {
            Action::Partition { groups } => {
                let group_of = |n: u32| {
                    groups
                        .iter()
                        .position(|g| g.contains(&n))
                        .unwrap_or(groups.len())
                };
                let mut links = Vec::new();
                for x in 1..=self.total {
                    for y in 1..=self.total {
                        if x != y && group_of(x) != group_of(y) {
                            links.push((x, y));
                        }
                    }
                }
                self.add_partition(links, &format!("groups {groups:?}"));
            }
            Action::Cut { from, to, ms } => {
                let links = from
                    .iter()
                    .flat_map(|&x| to.iter().filter(move |&&y| y != x).map(move |&y| (x, y)))
                    .collect();
                let id = self.add_partition(links, &format!("{from:?} -/-> {to:?}"));
                if let Some(ms) = ms {
                    self.push(self.now + ms * 1_000, Ev::PartitionEnd { id });
                }
            }
            Action::Hold { from, to } => {
                for &x in &from {
                    for &y in &to {
                        self.holding[x as usize][y as usize] = x != y;
                    }
                }
                self.note_fault(
                    "hold",
                    &format!("messages {from:?} -> {to:?} are held back"),
                );
                if let Some(r) = self.rec.as_mut() {
                    let text = format!("messages {from:?} -> {to:?} held back");
                    r.span_start("hold", 0, from.clone(), text);
                }
            }
            Action::Release => self.release(),
            Action::CrashAfterPromise {
                node,
                to,
                restart_after_us,
            } => {
                self.nodes[node as usize].crash_after_promise = Some((to, restart_after_us));
            }
            Action::Write { node, key } => {
                let (bytes, v) = self.fresh_value();
                self.last_written[key] = v;
                let process = self.next_process;
                self.next_process += 1;
                self.invoke(
                    SCRIPT,
                    process,
                    node,
                    key as u32,
                    F::Write,
                    HVal::V(v),
                    Command::Set(bytes.into()),
                );
            }
            Action::Delete { node, key } => {
                let process = self.next_process;
                self.next_process += 1;
                let (k, f) = (key as u32, F::Delete);
                self.invoke(SCRIPT, process, node, k, f, HVal::Null, Command::Del);
            }
            Action::Read { node, key } => {
                let process = self.next_process;
                self.next_process += 1;
                let (k, f) = (key as u32, F::Read);
                self.invoke(SCRIPT, process, node, k, f, HVal::Null, Command::Get);
            }
            Action::Keys { node } => self.start_command(SCRIPT, node, 14),
            Action::Heal => {
                let ids: Vec<u64> = self.partitions.keys().copied().collect();
                for id in ids {
                    self.partition_end(id);
                }
            }
            Action::Crash { node } => {
                if self.may_fail(node) || self.may_recrash(node) {
                    self.crash(node, "scheduled");
                } else {
                    self.note_fault(
                        "skip",
                        &format!("crash of node {node}: would exceed F failed replicas"),
                    );
                }
            }
            Action::Restart { node } => self.restart(node),
            Action::Pause { node, ms } => self.pause(node, ms * 1_000),
            Action::CrashMidAccept { node, deliver } => {
                self.nodes[node as usize].crash_mid_accept = Some(deliver);
            }
            Action::Lie { node, raise, ms } => {
                self.liar = Some(node);
                self.lie_raise = raise;
                self.lie_until = ms.map(|ms| self.now + ms * 1_000);
                self.note_fault("lie", &format!("node {node} starts lying"));
            }
            Action::AddNode => self.change_membership(true, None, None),
            Action::RemoveNode { node, through } => {
                self.change_membership(false, Some(node), through)
            }
            Action::ReplaceNode { node } => self.change_membership(true, Some(node), None),
            Action::DeclareLost { node } => self.declare_lost(node),
            Action::Shutdown { node } => self.shutdown(node, None),
            Action::MemoryCap { node, bytes } => self.set_memory_cap(node, bytes),
            Action::CrashBeyondF { node } => self.crash(node, "scheduled, beyond F"),
        }
    }

    /// `synod admin declare-lost` on `node`: refused (fail) if it votes
    /// already, as the runtime refuses it.
    fn declare_lost(&mut self, node: u32) {
        let recovering = self.nodes[node as usize]
            .node
            .as_ref()
            .is_some_and(|n| !n.is_voting());
        if !recovering {
            self.admin_event(F::DeclareLost, Type::Fail);
            return;
        }
        self.admin_event(F::DeclareLost, Type::Ok);
        self.majority_lost = false;
        self.oracle.on_declare_lost();
        self.note_fault(
            "declare-lost",
            &format!("the operator declares node {node}'s missing peers lost"),
        );
        self.handle(node, Input::DeclareLost);
    }

    /// Held messages leave, in the order they were sent.
    fn release(&mut self) {
        for row in &mut self.holding {
            row.fill(false);
        }
        if self.held.is_empty() {
            return;
        }
        self.note_fault(
            "release",
            &format!("{} held message(s) leave", self.held.len()),
        );
        if let Some(r) = self.rec.as_mut() {
            r.released();
            r.span_end("hold", 0);
        }
        for (env, sent) in std::mem::take(&mut self.held) {
            self.transmit(env, sent);
        }
    }

    fn heal(&mut self) {
        self.healed = true;
        for row in &mut self.refused_until {
            row.fill(0);
        }
        self.release();
        self.note_fault("heal-all", "fault phase over: partitions heal, crashed nodes restart, the network is reliable; no new operations");
        let ids: Vec<u64> = self.partitions.keys().copied().collect();
        for id in ids {
            self.partition_end(id);
        }
        for n in 1..=self.total {
            self.nodes[n as usize].crash_mid_accept = None;
            self.nodes[n as usize].crash_after_promise = None;
            // (A spare never started stays off.)
            if self.nodes[n as usize].node.is_none() && self.nodes[n as usize].life > 0 {
                self.restart(n);
            }
        }
        // The operator sets every changed memory cap back.
        if self.sc.faults.memory_cap_every_ms > 0
            || self
                .sc
                .schedule
                .iter()
                .any(|s| matches!(s.action, Action::MemoryCap { .. }))
        {
            for n in 1..=self.total {
                self.set_memory_cap(n, self.sc.node.memory_max_bytes);
            }
        }
        let deadline = self.now + self.sc.heal_deadline_ms * 1_000;
        self.deadline_at = deadline;
        self.push(deadline, Ev::Deadline);
        self.maybe_start_probes();
    }

    fn maybe_start_probes(&mut self) {
        if self.probing || self.clients.iter().any(|c| c.busy) {
            return;
        }
        self.probing = true;
        self.note_fault(
            "probe",
            "every operation ended; probing each key with one read",
        );
        self.next_probe();
    }

    fn next_probe(&mut self) {
        if self.probe_key >= self.keys.len() {
            self.probes_done = true;
            self.maybe_finish();
            return;
        }
        let k = self.probe_key as u32;
        // Rotate the coordinator over the members of the newest epoch that
        // know they are (a node restarted at the heal may not have learned
        // the epoch yet: it refuses clients until it does), past one shutting
        // down; the second probes after a tail start one on.
        let latest = self.latest_membership();
        let knowing: Vec<u32> = latest
            .members
            .iter()
            .copied()
            .filter(|&n| {
                self.nodes[n as usize]
                    .node
                    .as_ref()
                    .is_some_and(|x| x.membership().includes(n))
            })
            .collect();
        let m = if knowing.is_empty() {
            &latest.members
        } else {
            &knowing
        };
        let start = (k as usize + usize::from(self.tail_done)) % m.len();
        let mut node = m[start];
        for i in 0..m.len() {
            node = m[(start + i) % m.len()];
            if self.nodes[node as usize].draining.is_none() {
                break;
            }
        }
        let process = self.next_process;
        self.next_process += 1;
        self.invoke(PROBE, process, node, k, F::Read, HVal::Null, Command::Get);
    }

    /// The run ends once every probe succeeded and every node votes again
    /// (a restarted node finished its catch-up).
    fn maybe_finish(&mut self) {
        if self.probes_done && self.recovering().is_empty() && self.changing().is_none() {
            if self.sc.tail_ms > 0 && !self.tail_done {
                // Keep running (housekeeping drops tombstones), then probe again.
                self.tail_done = true;
                self.note_fault(
                    "tail",
                    &format!(
                        "probes done; running {} ms more, then probing again",
                        self.sc.tail_ms
                    ),
                );
                self.push(self.now + self.sc.tail_ms * 1_000, Ev::TailEnd);
                self.deadline_at = self.now + (self.sc.tail_ms + self.sc.heal_deadline_ms) * 1_000;
                self.push(self.deadline_at, Ev::Deadline);
                return;
            }
            self.finished = true;
        }
    }

    /// The tail is over: every key is probed once more.
    fn tail_end(&mut self) {
        self.stats.tombstones_dropped = (1..=self.total)
            .filter_map(|n| self.nodes[n as usize].node.as_ref())
            .map(|n| n.stats().tombstones_dropped)
            .sum();
        self.probes_done = false;
        self.probe_key = 0;
        self.next_probe();
    }

    /// Live nodes that have not finished catch-up, described.
    fn recovering(&self) -> Vec<String> {
        let latest = self.latest_membership();
        let settled = !latest.is_joint() && self.admin.is_empty();
        (1..=self.total)
            .filter_map(|id| {
                let slot = &self.nodes[id as usize];
                let node = slot.node.as_ref()?;
                if node.is_voting() {
                    return None;
                }
                let own = node.membership();
                if settled && !latest.includes(id) && !own.members.is_empty() && !own.includes(id) {
                    // A spare that restarted knowing no membership, and that
                    // no epoch names: it holds nothing, so it never votes
                    // and has nothing to catch up on.
                    return None;
                }
                let progress = match node.recovery_progress() {
                    Some(p) => format!(
                        "{} of {} peers' listings done, {} of {} listed keys repaired",
                        p.peers_done, p.peers_total, p.keys_repaired, p.keys_listed
                    ),
                    None => "no catch-up running".into(),
                };
                Some(format!(
                    "node {id} (incarnation {}) has not finished catch-up: {progress}",
                    slot.incarnation
                ))
            })
            .collect()
    }

    fn deadline(&mut self) {
        if self.finished || self.now < self.deadline_at {
            return;
        }
        let mut recovering = self.recovering();
        recovering.extend(self.changing());
        if self.pending.is_empty() && self.probes_done {
            self.failure = Some(Verdict::Liveness(format!(
                "{} ms after the heal, {}",
                self.sc.heal_deadline_ms,
                recovering.join("; ")
            )));
            return;
        }
        let stuck: Vec<String> = self
            .pending
            .values()
            .take(5)
            .map(|p| {
                format!(
                    "process {} {} {} {} via node {} (invoked at {}.{:03}ms)",
                    p.process,
                    p.f.name(),
                    self.key_names[p.key as usize],
                    history::show_value(&self.values, p.value),
                    p.node,
                    p.invoked_us / 1_000,
                    p.invoked_us % 1_000
                )
            })
            .collect();
        let also = if recovering.is_empty() {
            String::new()
        } else {
            format!("; and {}", recovering.join("; "))
        };
        self.failure = Some(Verdict::Liveness(format!(
            "{} ms after the heal, {} operation(s) had not ended: {}{also}",
            self.sc.heal_deadline_ms,
            self.pending.len(),
            stuck.join("; ")
        )));
    }

    // ------------------------------------------------------------- recording

    fn note_fault(&mut self, ev: &str, text: &str) {
        if let Some(r) = self.rec.as_mut() {
            if !matches!(ev, "invoke" | "complete" | "crash") {
                r.step(self.now, 0, -1, "fault", text.to_string());
            }
        }
        if self.trace_on {
            let line = serde_json::json!({"t_us": self.now, "ev": ev, "what": text});
            self.trace.extend_from_slice(line.to_string().as_bytes());
            self.trace.push(b'\n');
        }
        if self.timeline_on {
            let _ = writeln!(self.timeline, "{:>12}  ** {text}", self.t());
        }
    }

    fn record_msg(&mut self, env: &Envelope, sent: Sent, ev: &str, why: Option<&str>) {
        let key = String::from_utf8_lossy(env.msg.key()).into_owned();
        let detail = msg_detail(&env.msg);
        if self.trace_on {
            let mut line = serde_json::json!({
                "t_us": self.now,
                "ev": ev,
                "from": env.from,
                "to": env.to,
                "msg": env.msg.kind(),
                "key": key,
                "ballot": env.msg.ballot().to_string(),
                "detail": detail,
                "n": sent.n,
                "sent_us": sent.at_us,
            });
            if let Some(w) = why {
                line["reason"] = serde_json::Value::from(w);
            }
            self.trace.extend_from_slice(line.to_string().as_bytes());
            self.trace.push(b'\n');
        }
        if self.timeline_on {
            let mark = match (ev, why) {
                ("drop", Some(w)) => format!("  ✗ dropped ({w})"),
                ("deliver-dup", _) => "  (duplicate)".into(),
                ("hold", _) => "  (held back: delivered after the release)".into(),
                _ => String::new(),
            };
            let at = format!("{}.{:03}ms", sent.at_us / 1_000, sent.at_us % 1_000);
            let _ = writeln!(
                self.timeline,
                "{:>12}  #{:<5} {at:>11}  n{} → n{}  {:<8} {:<4} b={:<10} {detail}{mark}",
                self.t(),
                sent.n,
                env.from,
                env.to,
                env.msg.kind(),
                key,
                env.msg.ballot().to_string(),
            );
        }
    }
}

fn input_name(input: &Input) -> &'static str {
    match input {
        Input::Peer(env) => env.msg.kind(),
        Input::Request { .. } => "a client request",
        Input::Tick => "a timer",
        Input::PeerUp { .. } => "peer up",
        Input::PeerDown { .. } => "peer down",
        Input::DeclareLost => "declare-lost",
        Input::ListKeys { .. } => "a key listing",
        Input::SetMemoryCap { .. } => "config set maxmemory",
        Input::ChangeMembership { .. } => "a membership change",
    }
}

/// A register value for traces: the bytes, and the deadline if it has one.
pub fn show_value(v: &synod::core::Value) -> String {
    match v {
        Some(r) => match r.deadline() {
            Some(at) => format!("{}@exp{at}", r.data),
            None => format!("{}", r.data),
        },
        None => "nil".into(),
    }
}

fn msg_detail(m: &Message) -> String {
    match m {
        Message::Promise {
            accepted,
            confirmed,
            ..
        } => match accepted {
            Some((b, v)) => format!(
                "accepted=({b}, {}){}",
                show_value(v),
                if *confirmed { " confirmed" } else { "" }
            ),
            None => "accepted=none".into(),
        },
        Message::Accept {
            value,
            next_prepare,
            ..
        } => match next_prepare {
            Some(n) => format!("value={} next_prepare={n}", show_value(value)),
            None => format!("value={}", show_value(value)),
        },
        Message::Read { held: Some(h), .. } => format!("held={h}"),
        Message::ReadReply {
            accepted,
            confirmed,
            held,
            ..
        } => match accepted {
            Some((b, v)) => format!(
                "accepted=({b}, {}){}",
                if *held { "held".into() } else { show_value(v) },
                if *confirmed { " confirmed" } else { "" }
            ),
            None => "accepted=none".into(),
        },
        Message::Reject { promised, .. } => format!("promised={promised}"),
        Message::Accepted {
            next_promised: true,
            ..
        } => "next_promised".into(),
        Message::Confirm { all, .. } => format!("all={all}"),
        Message::Nack { reason, .. } => format!("{reason:?}"),
        _ => String::new(),
    }
}

/// `SCAN cursor COUNT 2`: small pages, so a scan takes several calls.
fn scan_args(cursor: u64) -> Vec<Vec<u8>> {
    vec![
        b"SCAN".to_vec(),
        cursor.to_string().into_bytes(),
        b"COUNT".to_vec(),
        b"2".to_vec(),
    ]
}

#[cfg(test)]
mod tests {
    use super::Clock;

    #[test]
    fn clock_arithmetic_matches_the_128_bit_formula() {
        let exact = |c: &Clock, t: u64| {
            let d = i128::from(t) * i128::from(c.drift_ppm) / 1_000_000;
            (i128::from(c.offset_us) + i128::from(t) + d).max(0) as u64
        };
        for drift_ppm in [-900_000, -12_345, -1, 0, 1, 777, 900_000] {
            for offset_us in [0, 1, 999_999_999] {
                let c = Clock {
                    offset_us,
                    drift_ppm,
                    wall_skew_ms: 0,
                };
                for t in [
                    0,
                    1,
                    999,
                    1_000_001,
                    123_456_789,
                    1 << 40,
                    1 << 62,
                    u64::MAX,
                ] {
                    assert_eq!(c.mono_us(t), exact(&c, t), "{c:?} at {t}");
                    let m = c.mono_us(t.min(1 << 40));
                    let rel = i128::from(m) - i128::from(c.offset_us);
                    let mut g =
                        (rel * 1_000_000 / (1_000_000 + i128::from(drift_ppm))).max(0) as u64;
                    while exact(&c, g) < m {
                        g += 1;
                    }
                    assert_eq!(c.global_at(m, 0), g, "{c:?} at {m}");
                }
            }
        }
    }
}
