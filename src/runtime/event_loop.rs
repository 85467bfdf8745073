//! The event loop: the one task that owns the node.
//!
//! A turn: wait for an event or the node's next timer; drain what is already
//! queued (up to `turn_events_max`), handing each to `Node::handle`; then
//! flush. Messages are gathered per peer during the turn and leave as one
//! `Frame::Batch` per peer (one write per peer per turn, unless the peer's
//! writer is still busy, in which case it coalesces several turns into one
//! write). Client outcomes are folded into RESP replies as they complete.

use super::client_conn::ReplyTx;
use super::peer::{Outgoing, Push, OFFLOAD_MIN_BYTES};
use super::{wall_ms, Counters, Shared};
use crate::codec::{encode_frame_max, CodecError, Frame};
use crate::commands::{
    info_text, redact_info, CallCtx, ConfigRequest, CoreCall, InfoSnapshot, Op, PeerInfo,
    ScanCursors, Step,
};
use crate::core::{
    Ballot, Effects, Envelope, Incarnation, Input, Message, Node, NodeId, Now, Outcome,
    RecoveryProgress,
};
use crate::resp::Reply;
use crate::runtime::NodeOptions;
use crate::settings;
use async_std::channel::{Receiver, RecvError, Sender};
use async_std::task;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::future::{poll_fn, Future};
use std::net::SocketAddr;
use std::pin::{pin, Pin};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

/// A bound on what an envelope's fields besides its value take encoded (its
/// key is under 1 KiB in nearly every use; an estimate for the queue's byte
/// bound, the encoded frame is checked against `frame_size_max_bytes`).
const ENVELOPE_ESTIMATE_BYTES: usize = 1024;

/// Bytes of values a message carries (what makes a frame big).
fn value_bytes(msg: &Message) -> usize {
    let len = |v: &crate::core::Value| v.as_ref().map_or(0, |r| r.data.len());
    match msg {
        Message::Accept { value, .. } => len(value),
        Message::Promise {
            accepted: Some((_, v)),
            ..
        }
        | Message::ReadReply {
            accepted: Some((_, v)),
            ..
        } => len(v),
        _ => 0,
    }
}

/// Accepts on a bulk link remembered per peer for their Confirm (big values
/// are few; an older one forgotten only loses the ordering, never a message).
const BULK_ACCEPTS_TRACKED: usize = 64;

/// The answer to a command that arrives while the node shuts down.
pub(crate) const NOT_RUN: &str =
    "FAILED the node is shutting down; not run: send it to another node";

/// A catch-up with no progress for this long is reported (log, INFO).
const STALL_REPORT_EVERY: Duration = Duration::from_secs(5);

/// A node that left the membership is still dialled this long, so that the
/// epoch that removed it (and any message queued for it) reaches it.
const RETIRE_AFTER: Duration = Duration::from_secs(10);

/// `add-node` waits this long for our link to the new node before it gives
/// up (the node must be started with `--join` first).
const ADD_NODE_REACH: Duration = Duration::from_secs(3);

/// Something for the event loop to do.
pub(crate) enum Event {
    /// Envelopes from an inbound peer connection (already checked to be from `from`).
    PeerBatch { envelopes: Vec<Envelope> },
    /// Our outbound connection to `node` finished its handshake.
    LinkUp {
        node: NodeId,
        incarnation: Incarnation,
        gen: u64,
    },
    /// Our outbound connection `gen` to `node` closed.
    LinkDown { node: NodeId, gen: u64 },
    /// An inbound connection from `node` opened (+1) or closed (-1).
    Inbound { node: NodeId, delta: i64 },
    /// A client command needing the core.
    Client {
        tx: ReplyTx,
        seq: u64,
        call: CoreCall,
    },
    /// An operator declared this node's missing peers lost.
    DeclareLost { tx: ReplyTx, seq: u64 },
    /// An operator adds and removes nodes (`ADMIN ADD-NODE` / `REMOVE-NODE`
    /// / `REPLACE-NODE`): (id, peer address) of each added node.
    ChangeMembership {
        tx: ReplyTx,
        seq: u64,
        add: Vec<(NodeId, String)>,
        remove: Vec<NodeId>,
    },
    /// A client asks for INFO.
    Info {
        tx: ReplyTx,
        seq: u64,
        sections: Vec<String>,
        /// The client has no admin rights: hide what an outsider could use.
        redact: bool,
    },
    /// A scrape of the metrics endpoint: answer with the Prometheus text.
    Scrape { tx: Sender<String> },
    /// GET /health: whether this node votes, and a line saying so.
    Health { tx: Sender<(bool, String)> },
    /// A client's CONFIG GET / SET / RESETSTAT.
    Config {
        tx: ReplyTx,
        seq: u64,
        req: ConfigRequest,
    },
    /// Shutting down: answer the calls in flight (UNKNOWN for those still
    /// undecided after `deadline`), report (answered, unknown), then stop.
    Drain {
        tx: Sender<(usize, usize)>,
        deadline: Duration,
    },
    /// Shut down.
    Stop,
}

/// A client command whose core operations are running, one step at a time.
struct PendingCall {
    tx: ReplyTx,
    seq: u64,
    call: CoreCall,
    /// False until `start` ran.
    started: bool,
    /// Outcomes of the running step, in its order.
    outcomes: Vec<Option<Outcome>>,
    remaining: usize,
}

/// What the loop knows of its link to a peer.
#[derive(Default)]
struct Link {
    up: bool,
    gen: u64,
    incarnation: Incarnation,
    inbound: usize,
}

/// A membership change waiting for our links to the nodes it adds.
struct AdminWait {
    tx: ReplyTx,
    seq: u64,
    add: Vec<(NodeId, String)>,
    remove: Vec<NodeId>,
    deadline: Instant,
}

/// A graceful shutdown in progress.
struct Drain {
    /// Told (answered, of them UNKNOWN) once every call is answered.
    tx: Sender<(usize, usize)>,
    deadline: Instant,
    /// Calls in flight when it began.
    at_start: usize,
}

struct Loop {
    node: Node,
    shared: Arc<Shared>,
    effects: Effects,
    start: Instant,
    client_addr: SocketAddr,
    peer_addr: SocketAddr,
    next_request_id: u64,
    calls: HashMap<u64, PendingCall>,
    /// Core request id -> (call id, index of the request in its call).
    requests: HashMap<u64, (u64, usize)>,
    links: BTreeMap<NodeId, Link>,
    /// Messages produced this turn, per peer.
    outbox: BTreeMap<NodeId, Vec<Envelope>>,
    /// Confirm-only outboxes held back for company, and since when (µs).
    held_since: BTreeMap<NodeId, u64>,
    /// Incarnations last published to `shared.known_incarnations`.
    published: BTreeMap<NodeId, Incarnation>,
    /// Calls ready for their next step (new, or every outcome of the last step in).
    ready: VecDeque<u64>,
    /// SCAN cursors handed to this node's clients.
    cursors: ScanCursors,
    /// Peers found misbehaving in the batch being handled.
    closing: BTreeSet<NodeId>,
    /// The settings as they are now: `shared.opts` changed by CONFIG SET.
    live: NodeOptions,
    /// Catch-up progress last seen, and since when it has not changed.
    progress_seen: Option<(RecoveryProgress, Instant)>,
    /// When a stalled catch-up was last reported in the log.
    stall_logged: Option<Instant>,
    /// A graceful shutdown in progress: whom to tell, the deadline, and the
    /// calls in flight when it began.
    drain: Option<Drain>,
    /// For dialers started while running (nodes an epoch names).
    events_tx: Sender<Event>,
    /// The membership epoch the peer links were last matched to.
    synced_epoch: Option<u64>,
    /// Nodes dialled for an `add-node` not yet in the epoch: id -> address.
    pending_adds: BTreeMap<NodeId, String>,
    /// Per peer, the (key, ballot) of Accepts sent on its bulk link whose
    /// Confirm has not followed yet, newest last, at most
    /// [`BULK_ACCEPTS_TRACKED`]: that Confirm goes on the bulk link too, so
    /// it cannot overtake its Accept (an acceptor ignores a Confirm of a
    /// ballot it has not accepted, and the value then stays unconfirmed
    /// there: fast reads of it fall back to full rounds that bring the big
    /// value back from every replica).
    bulk_accepts: HashMap<NodeId, VecDeque<(Vec<u8>, Ballot)>>,
    /// Changes waiting for their links, and changes handed to the core
    /// (request id -> whom to answer, and the nodes it adds).
    admin_waiting: Vec<AdminWait>,
    admin_requests: HashMap<u64, (ReplyTx, u64, Vec<NodeId>)>,
    /// Nodes no longer in the epoch, and when we stop dialling them.
    retiring: BTreeMap<NodeId, Instant>,
}

/// Runs the loop until `Event::Stop` or every sender is gone.
pub(crate) async fn run(
    node: Node,
    shared: Arc<Shared>,
    events: Receiver<Event>,
    events_tx: Sender<Event>,
    client_addr: SocketAddr,
    peer_addr: SocketAddr,
) {
    let links = shared
        .links
        .lock()
        .keys()
        .map(|&id| (id, Link::default()))
        .collect();
    let live = shared.opts.clone();
    let mut lp = Loop {
        live,
        progress_seen: None,
        stall_logged: None,
        drain: None,
        node,
        shared,
        effects: Effects::default(),
        start: Instant::now(),
        client_addr,
        peer_addr,
        next_request_id: 1,
        calls: HashMap::new(),
        requests: HashMap::new(),
        links,
        outbox: BTreeMap::new(),
        held_since: BTreeMap::new(),
        published: BTreeMap::new(),
        ready: VecDeque::new(),
        cursors: ScanCursors::default(),
        closing: BTreeSet::new(),
        events_tx,
        synced_epoch: None,
        pending_adds: BTreeMap::new(),
        bulk_accepts: HashMap::new(),
        admin_waiting: Vec::new(),
        admin_requests: HashMap::new(),
        retiring: BTreeMap::new(),
    };
    let turn_events_max = lp.shared.opts.runtime.turn_events_max;
    let mut alarm = Alarm::default();
    loop {
        let first = match lp.next_wake_us() {
            Some(at) => {
                alarm.arm(at, lp.mono_us());
                alarm.or_event(&events).await
            }
            None => events.recv().await.map(Some),
        };
        let Ok(first) = first else {
            log::info!("event loop: every event source is gone; stopping");
            return;
        };
        Counters::inc(&lp.shared.counters.loop_turns);
        let mut pending = first;
        let mut handled = 0;
        while let Some(ev) = pending.take() {
            if matches!(ev, Event::Stop) {
                log::info!("event loop: stopping");
                return;
            }
            lp.on_event(ev);
            lp.drive();
            handled += 1;
            if handled < turn_events_max {
                pending = events.try_recv().ok();
            }
        }
        Counters::add(&lp.shared.counters.loop_events, handled as u64);
        lp.watch_recovery();
        if lp.drained() {
            lp.flush();
            // Calls queued behind the drain were read before the readers
            // stopped: they are refused, never left without an answer.
            while let Ok(ev) = events.try_recv() {
                if let Event::Client { tx, seq, .. } = ev {
                    tx.send(seq, Reply::error(NOT_RUN));
                }
            }
            log::debug!("event loop: drained; stopping");
            return;
        }
        if lp.node.next_wake_us().is_some_and(|at| at <= lp.mono_us()) {
            lp.handle(Input::Tick);
            lp.drive();
        }
        lp.sync_peers();
        lp.poll_admin();
        lp.flush();
    }
}

/// The loop's wake-up timer, kept across turns. Each new timer costs the
/// reactor a wake-up of its own (async-io notifies its poller on every timer
/// insert: an eventfd write, then an extra epoll round of five syscalls), and
/// a turn's deadline is nearly always the same or later than the last one's
/// (a round's timeout, the housekeeping tick), so a new timer is set only when
/// the deadline moves earlier. A timer left armed for an earlier deadline
/// than now needed only wakes the loop for a turn with nothing due, once.
#[derive(Default)]
struct Alarm {
    /// The armed deadline (µs on the loop's clock) and its timer.
    armed: Option<(u64, Sleep)>,
}

/// A timer future (`task::sleep`), boxed so that it can be kept across turns.
type Sleep = Pin<Box<dyn Future<Output = ()> + Send>>;

impl Alarm {
    /// Makes sure the loop wakes by `at_us` (`now_us`: the loop's clock).
    fn arm(&mut self, at_us: u64, now_us: u64) {
        if self
            .armed
            .as_ref()
            .is_some_and(|(armed, _)| *armed <= at_us)
        {
            return;
        }
        // The deadline is fixed now: the sleep's own clock starts at its
        // first poll, which waits while events keep the loop busy.
        let deadline = Instant::now() + Duration::from_micros(at_us.saturating_sub(now_us));
        let sleep =
            async move { task::sleep(deadline.saturating_duration_since(Instant::now())).await };
        self.armed = Some((at_us, Box::pin(sleep)));
    }

    /// The next event, or None once the armed deadline passes (the timer is
    /// then spent). Err: every sender is gone.
    async fn or_event(&mut self, events: &Receiver<Event>) -> Result<Option<Event>, RecvError> {
        let mut recv = pin!(events.recv());
        let fired = poll_fn(|cx| {
            if let Poll::Ready(r) = recv.as_mut().poll(cx) {
                return Poll::Ready(Some(r));
            }
            if let Some((_, timer)) = self.armed.as_mut() {
                if timer.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(None);
                }
            }
            Poll::Pending
        })
        .await;
        match fired {
            Some(r) => r.map(Some),
            None => {
                self.armed = None;
                Ok(None)
            }
        }
    }
}

impl Loop {
    fn mono_us(&self) -> u64 {
        self.start.elapsed().as_micros() as u64
    }

    fn now(&self) -> Now {
        Now {
            mono_us: self.mono_us(),
            wall_ms: wall_ms(),
        }
    }

    /// Feeds one input to the node and routes what it asks for.
    fn handle(&mut self, input: Input) {
        let now = self.now();
        self.effects.clear();
        let owed = &self.shared.counters.client_output_buffers_bytes;
        self.node
            .set_connection_bytes(owed.load(std::sync::atomic::Ordering::Relaxed));
        self.node.handle(now, input, &mut self.effects);
        for env in self.effects.sends.drain(..) {
            self.outbox.entry(env.to).or_default().push(env);
        }
        for (node, why) in self.effects.misbehaving.drain(..) {
            if self.closing.insert(node) {
                let d = self.shared.gate.strike_node(node);
                let closed = self.shared.close_inbound(node);
                Counters::inc(&self.shared.counters.peer_links_closed_bad_messages);
                log::warn!(
                    "node {node} broke the protocol: {why}; closed its {closed} inbound \
                     connection(s), refusing it for {} ms",
                    d.as_millis()
                );
            }
        }
        // Taken and given back, so the allocation is reused every turn.
        let mut replies = std::mem::take(&mut self.effects.replies);
        for (id, outcome) in replies.drain(..) {
            self.on_outcome(id, outcome);
        }
        self.effects.replies = replies;
    }

    fn on_event(&mut self, ev: Event) {
        match ev {
            Event::PeerBatch { envelopes } => {
                let Some(from) = envelopes.first().map(|e| e.from) else {
                    return;
                };
                for env in envelopes {
                    self.handle(Input::Peer(env));
                    if self.closing.contains(&from) {
                        break; // The rest of a misbehaving peer's frame is not read.
                    }
                }
                self.closing.clear();
            }
            Event::LinkUp {
                node,
                incarnation,
                gen,
            } => self.on_link_up(node, incarnation, gen),
            Event::LinkDown { node, gen } => {
                let Some(link) = self.links.get_mut(&node) else {
                    return;
                };
                if link.gen != gen || !link.up {
                    return; // A later connection is already up.
                }
                link.up = false;
                log::info!("link to node {node} is down");
                self.handle(Input::PeerDown { node });
            }
            Event::Inbound { node, delta } => {
                if let Some(link) = self.links.get_mut(&node) {
                    link.inbound = (link.inbound as i64 + delta).max(0) as usize;
                }
            }
            Event::Client { tx, seq, call } => self.on_client(tx, seq, call),
            Event::ChangeMembership {
                tx,
                seq,
                add,
                remove,
            } => self.on_change_membership(tx, seq, add, remove),
            Event::DeclareLost { tx, seq } => {
                let reply = if self.node.is_voting() {
                    Reply::error("ERR this node is not recovering: nothing to declare lost")
                } else {
                    log::warn!("operator declared this node's missing peers lost");
                    self.handle(Input::DeclareLost);
                    Reply::ok()
                };
                tx.send(seq, reply);
            }
            Event::Info {
                tx,
                seq,
                sections,
                redact,
            } => {
                let mut snap = self.info_snapshot();
                {
                    let m = self.shared.metrics.lock();
                    snap.commandstats = m.commandstats();
                    snap.errorstats = m.errorstats();
                    snap.latencystats = m.latencystats();
                }
                let mut text = info_text(&snap, &sections);
                if redact {
                    text = redact_info(&text);
                }
                tx.send(seq, Reply::Bulk(text.into_bytes()));
            }
            Event::Scrape { tx } => {
                let snap = self.info_snapshot();
                let text = self
                    .shared
                    .metrics
                    .lock()
                    .prometheus(&snap, self.live.memory_max_bytes);
                let _ = tx.try_send(text);
            }
            Event::Health { tx } => {
                let answer = if self.node.is_voting() {
                    (true, "ok: voting\n".to_string())
                } else {
                    let why = self
                        .recovery_blocked()
                        .unwrap_or_else(|| "catching up after a restart".into());
                    (false, format!("recovering: {why}\n"))
                };
                let _ = tx.try_send(answer);
            }
            Event::Config { tx, seq, req } => {
                let reply = self.on_config(req);
                tx.send(seq, reply);
            }
            Event::Drain { tx, deadline } => {
                self.drain = Some(Drain {
                    tx,
                    deadline: Instant::now() + deadline,
                    at_start: self.calls.len(),
                });
            }
            Event::Stop => {}
        }
    }

    /// During a shutdown: true once every call in flight is answered (those
    /// still undecided at the deadline UNKNOWN), after reporting.
    fn drained(&mut self) -> bool {
        let Some(Drain {
            deadline, at_start, ..
        }) = self.drain
        else {
            return false;
        };
        let mut unknown = 0;
        if !self.calls.is_empty() {
            if Instant::now() < deadline {
                return false;
            }
            for (_, pc) in self.calls.drain() {
                unknown += 1;
                pc.tx.send(
                    pc.seq,
                    Reply::error(
                        "UNKNOWN the node shut down before the outcome was known; it may \
                         have been applied",
                    ),
                );
            }
            self.requests.clear();
        }
        if let Some(d) = self.drain.take() {
            let _ = d.tx.try_send((at_start, unknown));
        }
        true
    }

    /// CONFIG: reads and changes the live settings, and acts on a change.
    fn on_config(&mut self, req: ConfigRequest) -> Reply {
        match req {
            ConfigRequest::Get(patterns) => settings::config_get(&self.live, &patterns),
            ConfigRequest::Set(pairs) => {
                let before = self.live.clone();
                let changed = match settings::config_set(&mut self.live, &pairs) {
                    Ok(c) => c,
                    Err(e) => return e,
                };
                for s in changed {
                    log::info!(
                        "CONFIG SET {} {} (was {})",
                        s.name,
                        (s.get)(&self.live),
                        (s.get)(&before)
                    );
                }
                let (max_bytes, eviction) = (self.live.memory_max_bytes, self.live.eviction);
                if (max_bytes, eviction) != (before.memory_max_bytes, before.eviction) {
                    self.handle(Input::SetMemoryCap {
                        max_bytes,
                        eviction,
                    });
                }
                if self.live.log_level != before.log_level {
                    log::set_max_level(self.live.log_level);
                }
                let sh = &self.shared;
                sh.slowlog_slower_than_us
                    .store(self.live.slowlog_slower_than_us, Ordering::Relaxed);
                sh.slowlog_max_len
                    .store(self.live.slowlog_max_len as u64, Ordering::Relaxed);
                Reply::ok()
            }
            ConfigRequest::ResetStat => {
                self.shared.metrics.lock().reset();
                Reply::ok()
            }
        }
    }

    fn on_link_up(&mut self, node: NodeId, incarnation: Incarnation, gen: u64) {
        if self.shared.link(node).is_none() {
            return; // No longer dialled (it left the membership).
        }
        // Dialers may start before the loop first reads the list.
        let link = self.links.entry(node).or_default();
        if link.incarnation != 0 && link.incarnation != incarnation {
            log::info!(
                "node {node} has a new incarnation {incarnation} (was {}); its send queue \
                 starts empty",
                link.incarnation
            );
        }
        link.up = true;
        link.gen = gen;
        link.incarnation = incarnation;
        // A new connection (or a new incarnation) starts with an empty queue: a
        // queue kept across a partition would deliver exactly the late Accepts
        // the protocol guards against.
        if let Some(l) = self.shared.link(node) {
            l.queue.open(gen);
        }
        log::info!("link to node {node} (incarnation {incarnation}) is up");
        self.handle(Input::PeerUp { node, incarnation });
    }

    fn on_client(&mut self, tx: ReplyTx, seq: u64, call: CoreCall) {
        let call_id = self.next_request_id;
        self.next_request_id += 1;
        self.calls.insert(
            call_id,
            PendingCall {
                tx,
                seq,
                call,
                started: false,
                outcomes: Vec::new(),
                remaining: 0,
            },
        );
        self.ready.push_back(call_id);
    }

    /// Steps every ready call: its first step, or the next one once every
    /// outcome of the last is in. Running a step's operations may make calls
    /// ready again (outcomes can come at once); the loop runs until none is.
    fn drive(&mut self) {
        while let Some(call_id) = self.ready.pop_front() {
            let Some(pc) = self.calls.get_mut(&call_id) else {
                continue;
            };
            let mut ctx = CallCtx {
                now_ms: wall_ms(),
                cursors: &mut self.cursors,
            };
            let step = if pc.started {
                let outcomes = std::mem::take(&mut pc.outcomes);
                pc.call
                    .resume(outcomes.into_iter().flatten().collect(), &mut ctx)
            } else {
                pc.started = true;
                pc.call.start(&mut ctx)
            };
            let ops = match step {
                Step::Done(reply) => {
                    if let Some(pc) = self.calls.remove(&call_id) {
                        // Unbounded, but never more than client_pipeline_max per
                        // connection; fails only if the client is gone.
                        pc.tx.send(pc.seq, reply);
                    }
                    continue;
                }
                Step::Run(ops) => ops,
            };
            pc.outcomes = vec![None; ops.len()];
            pc.remaining = ops.len();
            if ops.is_empty() {
                self.ready.push_back(call_id);
                continue;
            }
            for (i, op) in ops.into_iter().enumerate() {
                let id = self.next_request_id;
                self.next_request_id += 1;
                self.requests.insert(id, (call_id, i));
                self.handle(match op {
                    Op::Key(key, command) => Input::Request { id, key, command },
                    Op::List { after, count } => Input::ListKeys { id, after, count },
                });
            }
        }
    }

    fn on_outcome(&mut self, id: u64, outcome: Outcome) {
        if let Some((tx, seq, added)) = self.admin_requests.remove(&id) {
            let reply = match outcome {
                Outcome::Ok(crate::core::Reply::Integer(epoch)) => {
                    log::info!("membership change started: joint epoch {epoch}");
                    Reply::Integer(epoch)
                }
                Outcome::Ok(crate::core::Reply::Error(why)) | Outcome::Failed(why) => {
                    log::warn!("membership change refused: {why}");
                    Reply::error(why)
                }
                Outcome::Ok(other) => Reply::error(format!("ERR unexpected answer {other:?}")),
                Outcome::Unknown(why) => Reply::error(format!(
                    "UNKNOWN the change may have started: {why}; see INFO membership_epoch"
                )),
            };
            tx.send(seq, reply);
            for n in added {
                self.pending_adds.remove(&n);
            }
            // Dialers of nodes the change did not add are retired.
            self.synced_epoch = None;
            return;
        }
        let Some((call_id, i)) = self.requests.remove(&id) else {
            log::debug!("outcome for unknown request {id}");
            return;
        };
        let Some(call) = self.calls.get_mut(&call_id) else {
            return;
        };
        if call.outcomes[i].replace(outcome).is_none() {
            call.remaining -= 1;
        }
        if call.remaining == 0 {
            self.ready.push_back(call_id);
        }
    }

    /// When the loop must run next without an event: the node's timer, or
    /// the end of a Confirm hold.
    fn next_wake_us(&self) -> Option<u64> {
        let hold_us = self.shared.opts.runtime.confirm_hold_us;
        let drain_at = self
            .drain
            .as_ref()
            .map(|d| d.deadline.saturating_duration_since(self.start).as_micros() as u64);
        let admin_at = self
            .admin_waiting
            .iter()
            .map(|w| w.deadline.saturating_duration_since(self.start).as_micros() as u64)
            .min();
        let held = self
            .held_since
            .values()
            .min()
            .map(|&t| t + hold_us)
            .into_iter()
            .chain(drain_at)
            .chain(admin_at)
            .min();
        match (self.node.next_wake_us(), held) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Sends every peer's messages of this turn as one frame (split only if
    /// too large). A Confirm-only frame waits up to `confirm_hold_us` for
    /// other messages to that peer.
    fn flush(&mut self) {
        let max = self.shared.opts.runtime.frame_size_max_bytes;
        let hold_us = self.shared.opts.runtime.confirm_hold_us;
        let now = self.mono_us();
        let outbox = std::mem::take(&mut self.outbox);
        for (peer, envs) in outbox {
            if envs.is_empty() {
                continue;
            }
            let confirms_only = envs
                .iter()
                .all(|e| matches!(e.msg, Message::Confirm { .. }));
            if confirms_only && hold_us > 0 {
                let since = *self.held_since.entry(peer).or_insert(now);
                if now < since + hold_us {
                    self.outbox.insert(peer, envs);
                    continue;
                }
            }
            self.held_since.remove(&peer);
            let up = self.links.get(&peer).is_some_and(|l| l.up);
            let Some(link) = self.shared.link(peer) else {
                Counters::add(
                    &self.shared.counters.messages_dropped_link_down,
                    envs.len() as u64,
                );
                continue;
            };
            let queue = link.queue.clone();
            if !up {
                Counters::add(
                    &self.shared.counters.messages_dropped_link_down,
                    envs.len() as u64,
                );
                continue;
            }
            self.send_batch(peer, &queue, envs, max);
        }
        self.publish_incarnations();
    }

    fn send_batch(
        &mut self,
        peer: NodeId,
        queue: &super::peer::SendQueue,
        envs: Vec<Envelope>,
        max: usize,
    ) {
        let n = envs.len();
        let per_frame = self.shared.opts.runtime.frame_messages_max;
        if n > per_frame {
            // The receiver refuses more in one frame.
            let mut envs = envs;
            let rest = envs.split_off(per_frame);
            self.send_batch(peer, queue, envs, max);
            self.send_batch(peer, queue, rest, max);
            return;
        }
        let confirm_only = envs
            .iter()
            .all(|e| matches!(e.msg, Message::Confirm { .. }));
        let rt = &self.shared.opts.runtime;
        let (max_frames, max_bytes) = (rt.send_queue_max_frames, rt.send_queue_max_bytes);
        let tracked = self.bulk_accepts.get(&peer);
        let behind_bulk = |msg: &Message| match msg {
            Message::Confirm { key, ballot, .. } => {
                tracked.is_some_and(|t| t.iter().any(|(k, b)| k == key && b == ballot))
            }
            m => value_bytes(m) >= OFFLOAD_MIN_BYTES,
        };
        if envs.iter().any(|e| behind_bulk(&e.msg)) {
            // Messages with big values leave apart from the others, on the
            // bulk link when it is up; the dialer encodes and tags them off
            // the executor thread (peer.rs). So do the Confirms of Accepts
            // sent there. The rest go on as usual.
            let (big, small): (Vec<Envelope>, Vec<Envelope>) =
                envs.into_iter().partition(|e| behind_bulk(&e.msg));
            if !small.is_empty() {
                self.send_batch(peer, queue, small, max);
            }
            let n = big.len();
            let len: usize = big
                .iter()
                .map(|e| value_bytes(&e.msg) + ENVELOPE_ESTIMATE_BYTES)
                .sum();
            let bulk = self
                .shared
                .link(peer)
                .map(|l| l.bulk.clone())
                .filter(|b| b.is_open());
            let tracked = self.bulk_accepts.entry(peer).or_default();
            for e in &big {
                match &e.msg {
                    Message::Confirm { key, ballot, .. } => {
                        tracked.retain(|(k, b)| !(k == key && b == ballot));
                    }
                    Message::Accept { key, ballot, .. } if bulk.is_some() => {
                        if tracked.len() == BULK_ACCEPTS_TRACKED {
                            tracked.pop_front();
                        }
                        tracked.push_back((key.clone(), *ballot));
                    }
                    _ => {}
                }
            }
            let to = bulk.as_deref().unwrap_or(queue);
            let frame = Outgoing::Batch(big);
            let pushed = to.push_frame(frame, len, n, false, max_frames, max_bytes);
            self.count_push(peer, n, pushed);
            return;
        }
        let frame = Frame::Batch(envs);
        let mut bytes = Vec::new();
        match encode_frame_max(&frame, max, &mut bytes) {
            Ok(()) => {}
            Err(CodecError::FrameTooLarge { .. }) if n > 1 => {
                let Frame::Batch(mut envs) = frame else {
                    return;
                };
                let second = envs.split_off(n / 2);
                self.send_batch(peer, queue, envs, max);
                self.send_batch(peer, queue, second, max);
                return;
            }
            Err(e) => {
                log::error!("cannot send {n} message(s) to node {peer}: {e}; dropped");
                Counters::inc(&self.shared.counters.frames_dropped);
                Counters::add(&self.shared.counters.messages_dropped, n as u64);
                return;
            }
        }
        let pushed = queue.push(bytes, n, confirm_only, max_frames, max_bytes);
        self.count_push(peer, n, pushed);
    }

    /// Counts what became of `n` messages offered to `peer`'s queue.
    fn count_push(&self, peer: NodeId, n: usize, pushed: Push) {
        let c = &self.shared.counters;
        match pushed {
            Push::Queued => {}
            Push::DroppedOlderConfirms { messages } => {
                Counters::inc(&c.frames_dropped);
                Counters::add(&c.messages_dropped, messages as u64);
            }
            Push::DroppedNewest => {
                log::debug!("send queue to node {peer} is full: dropped {n} message(s)");
                Counters::inc(&c.frames_dropped);
                Counters::add(&c.messages_dropped, n as u64);
            }
            Push::Closed => {
                Counters::add(&c.messages_dropped_link_down, n as u64);
            }
        }
    }

    /// Tells the connection tasks which incarnations we know (for their Hello).
    fn publish_incarnations(&mut self) {
        let changed = self
            .node
            .peers()
            .iter()
            .any(|(id, p)| self.published.get(id) != Some(&p.incarnation));
        if changed {
            self.published = self
                .node
                .peers()
                .iter()
                .map(|(&id, p)| (id, p.incarnation))
                .collect();
            *self.shared.known_incarnations.lock() = self.published.clone();
        }
    }

    /// Notes catch-up progress; while it stalls, says why in the log every
    /// few seconds (and INFO says it on every call).
    fn watch_recovery(&mut self) {
        let Some(p) = self.node.recovery_progress() else {
            self.progress_seen = None;
            return;
        };
        let now = Instant::now();
        if self.progress_seen.as_ref().is_none_or(|(q, _)| *q != p) {
            self.progress_seen = Some((p, now));
        }
        let Some(why) = self.recovery_blocked() else {
            return;
        };
        if self
            .stall_logged
            .is_none_or(|t| now.duration_since(t) >= STALL_REPORT_EVERY)
        {
            self.stall_logged = Some(now);
            log::warn!("{why}");
        }
    }

    /// Why catch-up has made no progress for [`STALL_REPORT_EVERY`], if so.
    fn recovery_blocked(&self) -> Option<String> {
        let (p, since) = self.progress_seen.as_ref()?;
        let stalled = since.elapsed();
        if stalled < STALL_REPORT_EVERY {
            return None;
        }
        let w = self.node.recovery_wait()?;
        let missing: Vec<String> = w
            .missing
            .iter()
            .map(|m| {
                let id = m.node;
                match (m.up, m.seen, m.answered) {
                    (_, _, true) => format!(
                        "node {id} (it listed its keys; their rounds wait for a quorum of the \
                         other replicas)"
                    ),
                    (false, ..) => format!("node {id} (link down)"),
                    (true, true, false) => format!(
                        "node {id} (link up but no listing: it is most likely recovering too)"
                    ),
                    (true, false, false) => format!("node {id} (link up, no handshake yet)"),
                }
            })
            .collect();
        let ids: Vec<String> = w.missing.iter().map(|m| m.node.to_string()).collect();
        Some(format!(
            "catch-up stalled for {} s ({}/{} keys repaired, {}/{} peer listings done): waiting \
             for {}; a replica set of N={} needs {} of its other members caught up, so the \
             sets holding this node and at least {} of nodes {{{}}} lack a quorum and this \
             node does not vote for their keys. If those nodes lost their memory (restarted \
             together), run: synod admin declare-lost --node {} (data only they held is gone)",
            stalled.as_secs(),
            p.keys_repaired,
            p.keys_listed,
            p.peers_done,
            p.peers_total,
            missing.join(", "),
            w.replicas,
            w.need,
            w.replicas.saturating_sub(w.need),
            ids.join(","),
            self.client_addr
        ))
    }

    fn info_snapshot(&self) -> InfoSnapshot {
        let node = &self.node;
        let (keys, tombstones) = (node.stats().keys, node.stats().tombstones);
        let o = &self.shared.opts;
        let dialled = self.shared.links.lock().clone();
        let traffic = |id: NodeId, f: fn(&super::PeerCounters) -> &std::sync::atomic::AtomicU64| {
            dialled.get(&id).map_or(0, |l| {
                f(&l.counters).load(std::sync::atomic::Ordering::Relaxed)
            })
        };
        let peers = node
            .peers()
            .iter()
            .map(|(&id, p)| {
                let link = self.links.get(&id);
                PeerInfo {
                    node: id,
                    addr: dialled
                        .get(&id)
                        .map(|l| l.addr.clone())
                        .or_else(|| o.peers.get(&id).cloned())
                        .unwrap_or_default(),
                    up: link.is_some_and(|l| l.up),
                    inbound: link.map_or(0, |l| l.inbound),
                    incarnation: p.incarnation,
                    messages_sent: traffic(id, |c| &c.messages_sent),
                    bytes_sent: traffic(id, |c| &c.bytes_sent),
                    messages_received: traffic(id, |c| &c.messages_received),
                    bytes_received: traffic(id, |c| &c.bytes_received),
                }
            })
            .collect();
        let c = &self.shared.counters;
        InfoSnapshot {
            node_id: node.id(),
            incarnation: node.incarnation(),
            voting: node.is_voting(),
            uptime_s: self.start.elapsed().as_secs(),
            client_addr: self.client_addr.to_string(),
            peer_addr: self.peer_addr.to_string(),
            cluster_id: o.cluster_id.clone(),
            members: node.placement().members().to_vec(),
            replicas: node.placement().replicas(),
            quorum: node.placement().quorum(),
            membership_hash: node.placement().fingerprint(),
            peers,
            keys,
            tombstones,
            round_clock: node.round_clock(),
            rtt_us: node.rtt_us(),
            inflight: node.inflight() as u64,
            clients_connected: c
                .clients_connected
                .load(std::sync::atomic::Ordering::Relaxed),
            stats: node.stats().clone(),
            recovery: node.recovery_progress(),
            runtime: c.snapshot(),
            commandstats: Vec::new(),
            errorstats: Vec::new(),
            latencystats: Vec::new(),
            recovery_blocked: self.recovery_blocked(),
            membership: node.membership_progress(),
        }
    }

    /// An operator asks to add and remove nodes: dial the added nodes first
    /// (their addresses are new to us), then hand the change to the core
    /// once our links to them are up (`poll_admin`).
    fn on_change_membership(
        &mut self,
        tx: ReplyTx,
        seq: u64,
        add: Vec<(NodeId, String)>,
        remove: Vec<NodeId>,
    ) {
        let me = self.node.id();
        for (id, addr) in &add {
            let bad = if *id == me || self.node.membership().includes(*id) {
                Some(format!("ERR node {id} is already a member"))
            } else {
                crate::core::check_addr(addr).err()
            };
            if let Some(why) = bad {
                tx.send(seq, Reply::error(why));
                return;
            }
        }
        for (id, addr) in &add {
            if let Some(l) = self.shared.link(*id) {
                if l.addr != *addr {
                    // Dialled at another address (an earlier attempt): the
                    // operator's latest word counts.
                    self.shared.retire_peer(*id);
                    self.links.remove(id);
                }
            }
            log::info!("add-node {id}: dialling it at {addr}");
            self.pending_adds.insert(*id, addr.clone());
            self.retiring.remove(id);
            self.dial(*id, addr);
        }
        self.admin_waiting.push(AdminWait {
            tx,
            seq,
            add,
            remove,
            deadline: Instant::now() + ADD_NODE_REACH,
        });
    }

    /// Starts dialling `node` unless we do.
    fn dial(&mut self, node: NodeId, addr: &str) {
        self.links.entry(node).or_default();
        self.shared.add_peer(node, addr, &self.events_tx);
    }

    /// Hands each waiting change to the core once the links to the nodes it
    /// adds are up, or refuses it at its deadline.
    fn poll_admin(&mut self) {
        if self.admin_waiting.is_empty() {
            return;
        }
        let now = Instant::now();
        let waiting = std::mem::take(&mut self.admin_waiting);
        for w in waiting {
            let down: Vec<&(NodeId, String)> = w
                .add
                .iter()
                .filter(|(id, _)| !self.links.get(id).is_some_and(|l| l.up))
                .collect();
            if !down.is_empty() && now < w.deadline {
                self.admin_waiting.push(w);
                continue;
            }
            if let Some((id, addr)) = down.first() {
                let why = format!(
                    "ERR cannot reach node {id} at {addr} within {} s: start it first with \
                     --join (same --secret-file, --cluster-id and --replicas, --peers naming \
                     itself and a member), and give its peer address",
                    ADD_NODE_REACH.as_secs()
                );
                log::warn!("add-node {id}: {why}");
                w.tx.send(w.seq, Reply::error(why));
                for (id, _) in &w.add {
                    self.pending_adds.remove(id);
                }
                self.synced_epoch = None;
                continue;
            }
            let id = self.next_request_id;
            self.next_request_id += 1;
            let added: Vec<NodeId> = w.add.iter().map(|(n, _)| *n).collect();
            self.admin_requests.insert(id, (w.tx, w.seq, added.clone()));
            self.handle(Input::ChangeMembership {
                id,
                add: added,
                remove: w.remove,
                addrs: w.add,
            });
        }
    }

    /// Matches the peers we dial to the membership: dial every node of the
    /// epoch (at the address the register gives for added nodes, else the
    /// configured one), and stop dialling a node that left, a while after.
    fn sync_peers(&mut self) {
        let now = Instant::now();
        let me = self.node.id();
        let (known, epoch) = {
            let m = self.node.membership();
            (!m.members.is_empty(), m.epoch)
        };
        if known && self.synced_epoch != Some(epoch) {
            self.synced_epoch = Some(epoch);
            self.shared.epoch.store(epoch, Ordering::Relaxed);
            let m = self.node.membership().clone();
            for n in m.all() {
                if n == me {
                    continue;
                }
                self.retiring.remove(&n);
                if self.shared.link(n).is_some() {
                    continue;
                }
                let addr = m
                    .addr_of(n)
                    .map(str::to_string)
                    .or_else(|| self.shared.opts.peers.get(&n).cloned())
                    .or_else(|| self.pending_adds.get(&n).cloned());
                match addr {
                    Some(a) => {
                        log::info!("membership epoch {}: dialling node {n} at {a}", m.epoch);
                        self.dial(n, &a);
                    }
                    None => log::warn!(
                        "membership epoch {} names node {n}, whose peer address this node \
                         does not know (not in --peers nor in the register)",
                        m.epoch
                    ),
                }
            }
            let dialled: Vec<NodeId> = self.shared.links.lock().keys().copied().collect();
            for n in dialled {
                if !m.includes(n) && !self.pending_adds.contains_key(&n) {
                    self.retiring.entry(n).or_insert(now + RETIRE_AFTER);
                }
            }
        }
        if self.retiring.is_empty() {
            return;
        }
        let due: Vec<NodeId> = self
            .retiring
            .iter()
            .filter(|(_, &at)| at <= now)
            .map(|(&n, _)| n)
            .collect();
        for n in due {
            self.retiring.remove(&n);
            let m = self.node.membership();
            if (m.includes(n) && !m.members.is_empty()) || self.pending_adds.contains_key(&n) {
                continue;
            }
            log::info!(
                "node {n} is not in membership epoch {}: no longer dialled",
                m.epoch
            );
            self.shared.retire_peer(n);
            if self.links.remove(&n).is_some_and(|l| l.up) {
                self.handle(Input::PeerDown { node: n });
            }
        }
    }
}
