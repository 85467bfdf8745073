//! `Node::handle`: the one entry point of the protocol core.
//!
//! A driver (the TCP runtime or the simulator) owns sockets, clocks and
//! scheduling; it feeds the node one [`Input`] at a time with the current
//! [`Now`], and carries out the [`Effects`] the node asks for: messages to
//! send, replies to clients, and the time at which to call again with
//! [`Input::Tick`]. Same inputs, same outputs, byte for byte.
//!
//! This file holds the node's state, the checks every peer message passes
//! first, and the acceptor's side (Phases 1b and 2b); the coordinator's side
//! (Phases 1a and 2a, retries) is in `proposer.rs`.

use super::acceptor::Acceptor;
use super::ballot::{Ballot, Incarnation, NodeId, RoundClock};
use super::command::{Command, Key, Reply, Value};
use super::config::{Config, ConfigError};
use super::keymap::{key_map, KeyMap};
use super::message::{Envelope, Message, NackReason};
use super::placement::Placement;
use super::proposer::KeyCoord;
use super::recovery::Recovery;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, VecDeque};

/// The driver's clocks at the moment of an input.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Now {
    /// Monotonic time in µs: timers and timeouts. Never compared across nodes.
    pub mono_us: u64,
    /// Wall-clock time in ms since the Unix epoch: only for TTL deadlines.
    pub wall_ms: u64,
}

/// A client request's id, unique per node, chosen by the driver.
pub type RequestId = u64;

/// Something that happened, for the node to react to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// A message from a peer (or from this node itself).
    Peer(Envelope),
    /// A client asks to run `command` on `key`.
    Request {
        id: RequestId,
        key: Key,
        command: Command,
    },
    /// The time the node asked for in `Effects::wake_at_us` has come.
    Tick,
    /// A connection to `node` is up; `incarnation` is the one its handshake named.
    PeerUp {
        node: NodeId,
        incarnation: Incarnation,
    },
    /// The connection to `node` is down.
    PeerDown { node: NodeId },
    /// A client asks for a page of the cluster's keys after `after`, at most
    /// `count` (listing.rs); answered with `Reply::Keys`.
    ListKeys {
        id: RequestId,
        after: Option<Key>,
        count: usize,
    },
    /// The operator declared this node's missing peers lost: stop waiting for
    /// their catch-up listings and vote (`synod admin declare-lost`).
    DeclareLost,
    /// The operator changed the memory cap or the eviction policy
    /// (`CONFIG SET maxmemory` / `maxmemory-policy`); 0: no cap.
    SetMemoryCap {
        max_bytes: u64,
        eviction: super::config::Eviction,
    },
    /// The operator changes the membership (`synod admin add-node`,
    /// `remove-node`, `replace-node`): start a change adding `add` and
    /// removing `remove` (membership.rs). Answered with the joint epoch's
    /// number once the change started (it then runs by itself; progress in
    /// `Node::membership_progress`), or `Failed` with why it was refused.
    ChangeMembership {
        id: RequestId,
        add: Vec<NodeId>,
        remove: Vec<NodeId>,
        /// Peer addresses of added nodes, recorded in the register so that
        /// every member can dial them (`Membership::addrs`).
        addrs: Vec<(NodeId, String)>,
    },
}

/// How a client request ended, told honestly.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Chosen by a quorum: the command's reply.
    Ok(Reply),
    /// Certainly not applied (no Accept carrying the change was ever sent).
    Failed(String),
    /// Maybe applied: an Accept carrying the change may have landed.
    Unknown(String),
}

/// Events recorded for the simulator's checks and for debugging (when
/// `Config::trace` is on). They describe, never decide.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Trace {
    /// Phase 2a: this node sent Accept(key, ballot, value).
    AcceptSent {
        key: Key,
        ballot: Ballot,
        value: Value,
        /// The accepted ballot of the state the change was applied to (None: absent).
        derived_from: Option<Ballot>,
        /// True if the value is an earlier Accept of this request re-proposed
        /// unchanged (then `derived_from` is that earlier ballot).
        copied: bool,
    },
    /// A quorum accepted `ballot`: the value is chosen.
    Chosen { key: Key, ballot: Ballot },
    /// This node's Accept at `ballot` was built on a value whose deadline had
    /// passed: if chosen, the key expired (a delete by the system) just
    /// before the round's own change.
    Expired { key: Key, ballot: Ballot },
    /// The node proposed a system operation (sweep, eviction, tombstone round).
    SystemInvoke {
        id: RequestId,
        key: Key,
        op: super::housekeeping::SystemOp,
    },
    /// A system operation ended.
    SystemDone {
        id: RequestId,
        key: Key,
        outcome: Outcome,
    },
}

/// What the node wants its driver to do.
#[derive(Clone, Debug, Default)]
pub struct Effects {
    /// Messages to send, in order.
    pub sends: Vec<Envelope>,
    /// Replies to client requests.
    pub replies: Vec<(RequestId, Outcome)>,
    /// Call `handle(now, Input::Tick, ..)` at this monotonic time (µs).
    pub wake_at_us: Option<u64>,
    /// Trace events, if tracing is on.
    pub trace: Vec<Trace>,
    /// Peers that sent a message breaking the protocol (a round past the
    /// raise budget, a size past a limit, a stranger's id...), with why. The
    /// message changed no state; the driver closes that peer's link.
    pub misbehaving: Vec<(NodeId, String)>,
}

impl Effects {
    /// Empties every list, keeping the allocations.
    pub fn clear(&mut self) {
        self.sends.clear();
        self.replies.clear();
        self.wake_at_us = None;
        self.trace.clear();
        self.misbehaving.clear();
    }
}

/// What the node knows of a peer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PeerState {
    /// The highest incarnation seen for it (0: none yet).
    pub incarnation: Incarnation,
    /// Whether a connection is up.
    pub up: bool,
    /// The highest round any of its messages named that passed every check
    /// but the raise budget: what it says the cluster's clock has reached.
    /// A round claimed by more members than may lie is vouched for
    /// ([`Node::vouched_round`]).
    pub claimed_round: u64,
    /// When we last told it our epoch (µs), and which (membership.rs).
    pub epoch_told: (u64, u64),
}

/// Counters shown by INFO.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub requests: u64,
    pub requests_ok: u64,
    pub requests_failed: u64,
    pub requests_unknown: u64,
    pub rounds_started: u64,
    pub rounds_chosen: u64,
    pub attempts_retried: u64,
    pub phase_timeouts: u64,
    pub rejects_received: u64,
    pub nacks_received: u64,
    pub messages_received: u64,
    pub messages_dropped: u64,
    /// Peer messages refused as breaking the protocol (`Effects::misbehaving`).
    pub messages_refused: u64,
    /// Keys holding a live value on this node (as a replica).
    pub keys: u64,
    /// Slots without a live value (tombstones, promises) not yet dropped.
    pub tombstones: u64,
    /// Bytes used by keys, values and per-key overhead (what
    /// `memory_max_bytes` caps).
    pub memory_used_bytes: u64,
    /// Bytes held by the coordinator's cached phase 1s (fastpath.rs),
    /// bounded by `promise_cache_max_bytes` apart from the cap.
    pub promise_cache_bytes: u64,
    /// Keys with a cached phase 1 on this coordinator.
    pub promise_cache_keys: u64,
    /// Keys this node evicted (by consensus) under its memory cap.
    pub evicted_keys: u64,
    /// Expired values this node's chosen rounds deleted (sweeps, and any
    /// command that found its key expired).
    pub expired_keys: u64,
    /// Tombstones dropped after their `all` Confirm and grace.
    pub tombstones_dropped: u64,
    /// Writes refused at the memory cap (`-OOM` and Nack OutOfMemory).
    pub oom_refusals: u64,
    /// Rounds that went straight to Phase 2a on a cached phase 1 (fastpath.rs).
    pub fast_writes: u64,
    /// Reads answered by a fast read, without Prepare.
    pub fast_reads: u64,
    /// Fast reads that fell back to a full round.
    pub fast_read_fallbacks: u64,
}

/// Why `admit` refused a peer message.
enum Refusal {
    /// Normal in a live cluster (a message from before a restart): dropped.
    Stale(String),
    /// Breaks the protocol: refused, and the peer's link is closed.
    Bad(String),
}

/// What an armed timer is for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum TimerTarget {
    /// The running round of this key.
    Round(Key),
    /// Catch-up: re-ask peers whose page did not come.
    Recovery,
    /// The periodic housekeeper (TTL sweep, tombstone clean-up, eviction).
    Housekeeping,
    /// A cluster listing's timeout (listing.rs).
    Listing(u64),
}

/// Why `admit` refused a peer message, beyond `Refusal`: it came from another
/// membership epoch (its number).
const EPOCH_REFUSAL: &str = "from another membership epoch";

/// One node's protocol state: acceptor for its keys, coordinator for its clients.
pub struct Node {
    pub(crate) cfg: Config,
    pub(crate) incarnation: Incarnation,
    pub(crate) placement: Placement,
    pub(crate) clock: RoundClock,
    pub(crate) acceptor: Acceptor,
    pub(crate) voting: bool,
    pub(crate) peers: BTreeMap<NodeId, PeerState>,
    pub(crate) coords: KeyMap<KeyCoord>,
    /// (deadline µs, timer seq) -> what the timer is for.
    pub(crate) timers: BTreeMap<(u64, u64), TimerTarget>,
    /// Catch-up state while this node is recovering from a restart.
    pub(crate) recovery: Option<Recovery>,
    /// Outcomes of the node's own catch-up rounds, handled before `handle` returns.
    pub(crate) repairs_done: Vec<(RequestId, Outcome)>,
    pub(crate) timer_seq: u64,
    pub(crate) inflight: usize,
    pub(crate) rtt_us: u64,
    pub(crate) rng: ChaCha8Rng,
    pub(crate) now: Now,
    pub(crate) stats: Stats,
    pub(crate) housekeeping: super::housekeeping::Housekeeping,
    /// Cluster listings this node coordinates (listing.rs).
    pub(crate) listings: super::listing::Listings,
    /// The bound on cached piggybacked phase 1s (fastpath.rs).
    pub(crate) promise_cache: super::fastpath::PromiseCache,
    /// Bytes the driver holds for connections (replies owed to clients),
    /// counted against `memory_max_bytes` (`set_connection_bytes`).
    pub(crate) connection_bytes: u64,
    /// Writes waiting for eviction to make room (lru/lfu at the cap):
    /// (request, key, command, give up at µs).
    pub(crate) room_waiters: VecDeque<(RequestId, Key, super::command::Command, u64)>,
    /// Lineages of accepted values, for the keys written last (lineage.rs).
    pub(crate) lineages: super::lineage::LineageTable,
    /// The membership epoch this node is in (membership.rs).
    pub(crate) membership: super::membership::Membership,
    /// During a change: the old members' placement.
    pub(crate) old_placement: Option<Placement>,
    /// Moving keys during a change (membership.rs).
    pub(crate) mover: super::membership::Mover,
    local: VecDeque<Envelope>,
    /// This life stopped catching up by `declare-lost`: its "nothing
    /// accepted" for a key proves nothing (a survivor may hold the key).
    pub(crate) memory_incomplete: bool,
}

impl Node {
    /// A node in its `incarnation` (≥ 1). With `bootstrap` it votes at once
    /// (a fresh cluster); without, it has forgotten its promises and must not
    /// vote until it has caught up, so it answers Prepare and Accept with
    /// Nack(Recovering) and serves only as a coordinator.
    pub fn new(
        cfg: Config,
        incarnation: Incarnation,
        bootstrap: bool,
    ) -> Result<Node, ConfigError> {
        cfg.validate()?;
        // Deliberate bug: a restarted node votes at once, as if it remembered.
        let bootstrap =
            bootstrap || cfg.bug == Some(super::config::DeliberateBug::AmnesiacVotesAtOnce);
        if incarnation == 0 {
            return Err(ConfigError("incarnation must be >= 1".into()));
        }
        let membership = cfg
            .membership
            .clone()
            .unwrap_or_else(|| super::membership::Membership::initial(&cfg.members));
        let placement = Placement::new(&membership.members, cfg.replicas);
        let old_placement = membership
            .old
            .as_ref()
            .map(|o| Placement::new(o, cfg.replicas));
        let peers: BTreeMap<NodeId, PeerState> = membership
            .all()
            .iter()
            .filter(|&&n| n != cfg.node_id)
            .map(|&n| (n, PeerState::default()))
            .collect();
        // A node its epoch does not name replicates nothing: nothing to
        // catch up on until an epoch names it (membership.rs).
        let member = membership.includes(cfg.node_id);
        let recovery = (!bootstrap && member).then(|| Recovery::new(peers.keys().copied()));
        let clock = RoundClock::with_budget(cfg.round_jump_max);
        let hash_seed = cfg.hash_seed;
        Ok(Node {
            acceptor: Acceptor::new(cfg.bug),
            rng: ChaCha8Rng::seed_from_u64(cfg.rng_seed),
            rtt_us: cfg.rtt_initial_us.max(1),
            cfg,
            incarnation,
            placement,
            clock,
            // A restarted node that knows no membership (a joiner's
            // configuration) may have been a member: it votes only after
            // catching up in an epoch that names it (membership.rs).
            voting: bootstrap || (!member && !membership.members.is_empty()),
            peers,
            coords: key_map(hash_seed),
            timers: BTreeMap::new(),
            recovery,
            repairs_done: Vec::new(),
            timer_seq: 0,
            inflight: 0,
            now: Now::default(),
            stats: Stats::default(),
            housekeeping: Default::default(),
            listings: Default::default(),
            promise_cache: super::fastpath::PromiseCache::new(hash_seed),
            connection_bytes: 0,
            lineages: super::lineage::LineageTable::new(hash_seed),
            mover: super::membership::Mover::started(member, bootstrap),
            membership,
            old_placement,
            room_waiters: VecDeque::new(),
            local: VecDeque::new(),
            memory_incomplete: false,
        })
    }

    /// Handles one input at time `now`, appending what to do to `out`.
    pub fn handle(&mut self, now: Now, input: Input, out: &mut Effects) {
        self.now = now;
        match input {
            Input::Peer(env) if env.from == self.cfg.node_id => {
                // Our own messages never come from a driver: the local
                // acceptor's go through `local`. A peer claiming to be us
                // would skip every check below.
                self.stats.messages_received += 1;
                self.stats.messages_refused += 1;
                let why = format!("{} claiming to be from this node", env.msg.kind());
                out.misbehaving.push((env.from, why));
            }
            Input::Peer(env) => self.on_envelope(env, out),
            Input::Request { id, key, command } => self.on_request(id, key, command, out),
            Input::Tick => self.on_tick(out),
            Input::PeerUp { node, incarnation } => self.on_peer_up(node, incarnation, out),
            Input::PeerDown { node } => {
                if let Some(p) = self.peers.get_mut(&node) {
                    p.up = false;
                }
            }
            Input::ListKeys { id, after, count } => {
                self.on_list_keys_request(id, after, count, out)
            }
            Input::DeclareLost => self.declare_lost(),
            Input::SetMemoryCap {
                max_bytes,
                eviction,
            } => {
                self.cfg.memory_max_bytes = max_bytes;
                self.cfg.eviction = eviction;
            }
            Input::ChangeMembership {
                id,
                add,
                remove,
                addrs,
            } => self.change_membership(id, add, remove, addrs, out),
        }
        if self
            .recovery
            .as_ref()
            .is_some_and(|r| r.timer_armed().is_none())
        {
            self.recovery_poll(out);
        }
        loop {
            // The local acceptor: messages to ourselves are handled here, by the
            // same code as remote ones, before control returns to the driver.
            while let Some(env) = self.local.pop_front() {
                self.on_envelope(env, out);
            }
            if self.repairs_done.is_empty() {
                break;
            }
            for (id, outcome) in std::mem::take(&mut self.repairs_done) {
                if id & super::membership::MOVE_ID_BIT != 0 {
                    self.on_move_done(id, outcome, out);
                } else if id & super::housekeeping::SYSTEM_ID_BIT != 0 {
                    self.on_system_done(id, outcome, out);
                } else {
                    self.on_repair_done(id, outcome, out);
                }
            }
        }
        self.maybe_evict(out);
        self.membership_poll(out);
        while let Some(env) = self.local.pop_front() {
            self.on_envelope(env, out);
        }
        self.arm_housekeeping();
        self.stats.keys = self.acceptor.live_keys();
        self.stats.tombstones = self.acceptor.len() as u64 - self.stats.keys;
        self.stats.memory_used_bytes = self.acceptor.bytes_used();
        let (cached_keys, cached_bytes) = self.promise_cache.size();
        self.stats.promise_cache_keys = cached_keys as u64;
        self.stats.promise_cache_bytes = cached_bytes as u64;
        out.wake_at_us = self.next_wake_us();
    }

    /// When the node next needs a Tick, if ever.
    pub fn next_wake_us(&self) -> Option<u64> {
        self.timers.keys().next().map(|&(at, _)| at)
    }

    /// Tells the node how many bytes its driver holds for connections: they
    /// count against the memory cap, so writes get `-OOM` before clients
    /// that do not read their replies push the process past it.
    pub fn set_connection_bytes(&mut self, bytes: u64) {
        self.connection_bytes = bytes;
    }

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.cfg.node_id
    }

    /// This node's incarnation.
    pub fn incarnation(&self) -> Incarnation {
        self.incarnation
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// The key-to-replicas map.
    pub fn placement(&self) -> &Placement {
        &self.placement
    }

    /// The acceptor's state (for INFO and the simulator's invariants).
    pub fn acceptor(&self) -> &Acceptor {
        &self.acceptor
    }

    /// True if this node votes as an acceptor on every key (it is not recovering).
    pub fn is_voting(&self) -> bool {
        self.voting
    }

    /// True if this node votes on `key` (while recovering, per replica set).
    pub fn is_voting_for(&self, key: &[u8]) -> bool {
        self.votes_for(key)
    }

    /// What this node knows of each peer.
    pub fn peers(&self) -> &BTreeMap<NodeId, PeerState> {
        &self.peers
    }

    /// Counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The node-wide round clock.
    pub fn round_clock(&self) -> u64 {
        self.clock.current()
    }

    /// Client requests accepted and not yet answered.
    pub fn inflight(&self) -> usize {
        self.inflight
    }

    /// The current round-trip estimate in µs.
    pub fn rtt_us(&self) -> u64 {
        self.rtt_us
    }

    /// Queues `msg` for `to`: sent by the driver, or handled locally if `to` is us.
    pub(crate) fn send(&mut self, to: NodeId, msg: Message, out: &mut Effects) {
        let me = self.cfg.node_id;
        if to == me {
            self.local.push_back(Envelope {
                from: me,
                from_incarnation: self.incarnation,
                to: me,
                to_incarnation: self.incarnation,
                epoch: self.membership.epoch,
                msg,
            });
            return;
        }
        let Some(peer) = self.peers.get(&to) else {
            return;
        };
        if peer.incarnation == 0 {
            // No handshake yet: the addressee would drop it anyway.
            return;
        }
        out.sends.push(Envelope {
            from: me,
            from_incarnation: self.incarnation,
            to,
            to_incarnation: peer.incarnation,
            epoch: self.membership.epoch,
            msg,
        });
    }

    fn on_peer_up(&mut self, node: NodeId, incarnation: Incarnation, out: &mut Effects) {
        if node == self.cfg.node_id {
            return;
        }
        // A node the driver connected to (the runtime after a handshake):
        // a member of this epoch, or of another (it joins, or was removed);
        // messages from another epoch are not handled (membership.rs).
        let peer = self.peers.entry(node).or_default();
        peer.up = true;
        if incarnation > peer.incarnation {
            self.learn_incarnation(node, incarnation);
        }
        if self.membership.epoch > 0 || self.membership.members.is_empty() {
            // The membership changed since the list nodes start with: a peer
            // that (re)started from its configured list, or missed the
            // change, learns the epoch from the first node it reaches, as
            // part of connecting. A node that knows no membership (a joiner)
            // asks for it the same way (membership.rs, `on_epoch`).
            self.tell_epoch(node, out);
        }
        if self.recovery.is_some() {
            self.recovery_poll(out);
        }
    }

    /// A peer restarted: record its new incarnation before answering anything
    /// from it, and forget every vote its old incarnation gave to our rounds.
    fn learn_incarnation(&mut self, node: NodeId, incarnation: Incarnation) {
        let Some(p) = self.peers.get_mut(&node) else {
            return;
        };
        let old = std::mem::replace(&mut p.incarnation, incarnation);
        if old != 0 {
            log::info!("node {node} restarted: incarnation {old} -> {incarnation}");
            if self.cfg.bug != Some(super::config::DeliberateBug::OldIncarnationVotesCounted) {
                self.forget_votes_of(node);
            }
            self.restart_listing(node);
        }
    }

    /// First checks on every peer message: who, which incarnation, how far a jump.
    fn on_envelope(&mut self, env: Envelope, out: &mut Effects) {
        self.stats.messages_received += 1;
        match self.admit(&env) {
            Ok(()) => {
                if env.epoch != self.membership.epoch && !matches!(env.msg, Message::Epoch { .. }) {
                    // Deliberate bug `other-epoch-handled` (admit let it
                    // through): the epochs are still exchanged.
                    self.tell_epoch(env.from, out);
                }
            }
            Err(Refusal::Stale(why)) => {
                log::debug!("drop {} from {}: {why}", env.msg.kind(), env.from);
                self.stats.messages_dropped += 1;
                if why == EPOCH_REFUSAL {
                    // One of us is behind: ours goes to the sender, which
                    // adopts it if newer, or answers with its own (newer).
                    self.tell_epoch(env.from, out);
                }
                return;
            }
            Err(Refusal::Bad(why)) => {
                let why = format!("{} from node {}: {why}", env.msg.kind(), env.from);
                log::debug!("refuse {why}");
                self.stats.messages_refused += 1;
                out.misbehaving.push((env.from, why));
                return;
            }
        }
        if env.from != self.cfg.node_id && env.from_incarnation > self.peers[&env.from].incarnation
        {
            self.learn_incarnation(env.from, env.from_incarnation);
        }
        self.clock.observe(env.msg.max_round());
        let from = env.from;
        if let Message::Promise { crash_vector, .. } | Message::Accepted { crash_vector, .. } =
            &env.msg
        {
            self.learn_crash_vector(crash_vector);
        }
        match env.msg {
            Message::Epoch { membership } => self.on_epoch(from, *membership, out),
            Message::Prepare { key, ballot } => self.on_prepare(from, key, ballot, out),
            Message::Accept {
                key,
                ballot,
                value,
                next_prepare,
                lineage,
                held,
            } => {
                let Some(value) = self.resolve_held(&key, value, held) else {
                    // Named by a ballot we do not hold: ask for the bytes.
                    let nack = Message::Nack {
                        key,
                        ballot,
                        reason: NackReason::ValueMissing,
                    };
                    self.send(from, nack, out);
                    return;
                };
                self.on_accept(from, key, ballot, (value, lineage), next_prepare, out)
            }
            Message::Read { key, ballot, held } => self.on_read(from, key, ballot, held, out),
            Message::ReadReply {
                key,
                ballot,
                accepted,
                confirmed,
                held,
            } => {
                let accepted = match accepted {
                    Some((b, v)) if held => {
                        // Ours, if we still hold exactly b; else another
                        // answer to this read that carried b's value.
                        let found = self
                            .resolve_held(&key, v, Some(b))
                            .or_else(|| self.value_read_at(&key, ballot, b));
                        match found {
                            Some(v) => Some((b, v)),
                            None => {
                                log::debug!("read reply from {from} names {b}, whose value we no longer see: not counted");
                                return;
                            }
                        }
                    }
                    a => a,
                };
                self.on_read_reply(from, key, ballot, accepted, confirmed, out)
            }
            Message::Confirm { key, ballot, all } => self.on_confirm(key, ballot, all, out),
            Message::Promise {
                key,
                ballot,
                accepted,
                lineage,
                ..
            } => self.on_promise(from, key, ballot, accepted, lineage, out),
            Message::Accepted {
                key,
                ballot,
                next_promised,
                ..
            } => {
                if next_promised {
                    self.on_folded_promise(from, &key, ballot);
                }
                self.on_accepted(from, key, ballot, out)
            }
            Message::Recover { after } => self.on_recover(from, after, out),
            Message::KeyPage {
                after,
                keys,
                next,
                max_ballot,
            } => self.on_key_page(from, after, keys, next, max_ballot, out),
            Message::ListKeys { req, after, count } => {
                self.on_list_keys(from, req, after, count, out)
            }
            Message::KeyList { req, keys, next } => self.on_key_list(from, req, keys, next, out),
            Message::Reject {
                key,
                ballot,
                promised,
            } => {
                self.stats.rejects_received += 1;
                self.on_refusal(from, key, ballot, Some(promised), out)
            }
            Message::Nack {
                key,
                ballot,
                reason,
            } => {
                self.stats.nacks_received += 1;
                log::debug!("nack from {from}: {reason:?}");
                if reason == NackReason::ValueMissing {
                    self.resend_value(from, key, ballot, out);
                } else {
                    self.on_refusal(from, key, ballot, None, out)
                }
            }
        }
    }

    /// The value an Accept carries: its own, or, if it names one by ballot
    /// (`held`), the value this acceptor accepted at exactly that ballot
    /// (one value per ballot); None if it holds another ballot or none.
    fn resolve_held(&self, key: &[u8], value: Value, held: Option<Ballot>) -> Option<Value> {
        let Some(h) = held else {
            return Some(value);
        };
        let unchecked = self.cfg.bug == Some(super::config::DeliberateBug::ElidedValueUnchecked);
        match self.acceptor.slot(key).and_then(|s| s.accepted.as_ref()) {
            Some((b, v)) if *b == h || unchecked => Some(v.clone()),
            // Deliberate bug: nothing held reads as "absent".
            None if unchecked => Some(None),
            _ => None,
        }
    }

    /// Why `env` must be ignored, if it must. Checks only: a refused message
    /// changes no state (the round budget is spent only by an admitted one).
    fn admit(&mut self, env: &Envelope) -> Result<(), Refusal> {
        let me = self.cfg.node_id;
        if env.to != me {
            return Err(Refusal::Bad(format!("addressed to node {}", env.to)));
        }
        let bug =
            self.cfg.bug == Some(super::config::DeliberateBug::MessagesToOldIncarnationAccepted);
        if env.to_incarnation != self.incarnation && !bug {
            return Err(Refusal::Stale(format!(
                "addressed to incarnation {}, ours is {}",
                env.to_incarnation, self.incarnation
            )));
        }
        if env.from == me {
            if env.from_incarnation != self.incarnation || env.epoch != self.membership.epoch {
                return Err(Refusal::Stale(
                    "from an earlier incarnation or epoch of this node".into(),
                ));
            }
            return Ok(());
        }
        let Some(peer) = self.peers.get(&env.from) else {
            // A node we have not heard is connected. With membership
            // changes an honest node of another epoch (one joining, one
            // removed, or a member of an epoch we have not learnt) reaches
            // us before the driver reports the link: the runtime's inbound
            // connection carries frames before our outbound link is up.
            // Dropped, not punished; once the link is up it is a peer.
            return Err(Refusal::Stale(format!(
                "node {} is not a member, nor a connected peer",
                env.from
            )));
        };
        if env.from_incarnation < peer.incarnation {
            return Err(Refusal::Stale(format!(
                "from incarnation {} of node {}, which restarted as {}",
                env.from_incarnation, env.from, peer.incarnation
            )));
        }
        if env.from_incarnation == 0 {
            return Err(Refusal::Bad("incarnation 0".into()));
        }
        let other_epoch_handled =
            self.cfg.bug == Some(super::config::DeliberateBug::OtherEpochHandled);
        if env.epoch != self.membership.epoch
            && !matches!(env.msg, Message::Epoch { .. })
            && !other_epoch_handled
        {
            return Err(Refusal::Stale(EPOCH_REFUSAL.into()));
        }
        self.check_sizes(&env.msg).map_err(Refusal::Bad)?;
        let round = env.msg.max_round();
        if let Some(p) = self.peers.get_mut(&env.from) {
            p.claimed_round = p.claimed_round.max(round);
        }
        let (vouched, claimants) = self.vouched_round();
        let c = &self.cfg;
        match self.clock.check_raise(
            round,
            vouched,
            self.now.mono_us,
            c.round_jump_max,
            c.round_raise_per_sec,
        ) {
            Ok(()) => Ok(()),
            // Until enough members have named a round, a big one may be the
            // cluster's real clock (we restarted into it): dropped, not
            // punished; the peer's next message may be vouched for.
            Err(why) if claimants < self.vouchers_needed() => Err(Refusal::Stale(format!(
                "{why}; not yet vouched for by {} members",
                self.vouchers_needed()
            ))),
            Err(why) => Err(Refusal::Bad(why)),
        }
    }

    /// Members that must name a round before it counts as the cluster's:
    /// one more than the liars a replica set tolerates (F + 1, at least 2),
    /// so at least one of them is honest.
    fn vouchers_needed(&self) -> usize {
        ((self.placement.replicas() - 1) / 2 + 1).max(2)
    }

    /// The highest round that [`Node::vouchers_needed`] peers each claimed
    /// (0 if fewer have claimed any), and how many peers claimed a round.
    /// An honest member's clock only rose within its own raise budget, so a
    /// lone liar cannot raise this past the honest members' clocks; a node
    /// that restarted after a liar inflated them catches up to it at once.
    pub(crate) fn vouched_round(&self) -> (u64, usize) {
        let mut claims: Vec<u64> = self
            .peers
            .values()
            .map(|p| p.claimed_round)
            .filter(|&r| r > 0)
            .collect();
        claims.sort_unstable_by(|a, b| b.cmp(a));
        let need = self.vouchers_needed();
        (claims.get(need - 1).copied().unwrap_or(0), claims.len())
    }

    /// Keys, values, pages and crash vectors within the configured limits:
    /// this node never sends more, so a peer that does is broken or lying.
    fn check_sizes(&self, msg: &Message) -> Result<(), String> {
        let c = &self.cfg;
        let key = msg.key();
        if key.len() > c.key_len_max_bytes {
            return Err(format!(
                "key of {} bytes exceeds key_len_max_bytes = {}",
                key.len(),
                c.key_len_max_bytes
            ));
        }
        let value = match msg {
            Message::Accept { value, .. } => value.as_ref(),
            Message::Promise {
                accepted: Some((_, v)),
                ..
            }
            | Message::ReadReply {
                accepted: Some((_, v)),
                ..
            } => v.as_ref(),
            _ => None,
        };
        if let Some(v) = value {
            if v.data.len() > c.value_len_max_bytes {
                return Err(format!(
                    "value of {} bytes exceeds value_len_max_bytes = {}",
                    v.data.len(),
                    c.value_len_max_bytes
                ));
            }
        }
        let (keys, max, what): (&[Key], usize, &str) = match msg {
            Message::KeyPage { keys, .. } => {
                (keys, c.recovery_page_keys_max, "recovery_page_keys_max")
            }
            Message::KeyList { keys, .. } => (keys, c.list_keys_max, "list_keys_max"),
            _ => (&[], 0, ""),
        };
        if keys.len() > max {
            return Err(format!(
                "{} keys in one page exceed {what} = {max}",
                keys.len()
            ));
        }
        if let Some(k) = keys.iter().find(|k| k.len() > c.key_len_max_bytes) {
            return Err(format!(
                "a listed key of {} bytes exceeds key_len_max_bytes = {}",
                k.len(),
                c.key_len_max_bytes
            ));
        }
        if let Message::Promise { crash_vector, .. } | Message::Accepted { crash_vector, .. } = msg
        {
            let members = &self.membership;
            if crash_vector.len() > members.all().len()
                || crash_vector
                    .iter()
                    .any(|(n, i)| *i == 0 || !members.includes(*n))
            {
                return Err(
                    "crash vector names a non-member, incarnation 0 or too many nodes".into(),
                );
            }
        }
        if let Message::Epoch { membership } = msg {
            let m = membership;
            if m.members.len() > super::membership::MEMBERS_MAX
                || m.old
                    .as_ref()
                    .is_some_and(|o| o.len() > super::membership::MEMBERS_MAX)
                || m.moved.len() > super::membership::MEMBERS_MAX
                || m.addrs.len() > super::membership::MEMBERS_MAX
            {
                return Err("a membership of too many members".into());
            }
            if let Some((n, a)) = m
                .addrs
                .iter()
                .find(|(_, a)| super::membership::check_addr(a).is_err())
            {
                return Err(format!(
                    "a membership naming node {n} at a bad address ({} bytes)",
                    a.len()
                ));
            }
        }
        if let Message::Promise { lineage, .. } | Message::Accept { lineage, .. } = msg {
            if lineage.len() > super::lineage::LINEAGE_MAX {
                return Err(format!(
                    "lineage of {} ballots exceeds {}",
                    lineage.len(),
                    super::lineage::LINEAGE_MAX
                ));
            }
        }
        Ok(())
    }

    /// Why this node must not vote on `key`, if it must not.
    fn refuse_vote(&self, key: &[u8]) -> Option<NackReason> {
        if !self.is_replica_now(key, self.cfg.node_id) {
            Some(NackReason::NotReplica)
        } else if !self.votes_for(key) {
            Some(NackReason::Recovering)
        } else {
            None
        }
    }

    /// Rule 2, no mixed quorums: a voter tells which incarnations it knows
    /// for the key's other replicas. A newer one voids every vote the older
    /// incarnation gave our rounds, before this vote is counted (!).
    fn learn_crash_vector(&mut self, crash_vector: &[(NodeId, Incarnation)]) {
        if self.cfg.bug == Some(super::config::DeliberateBug::OldIncarnationVotesCounted) {
            return;
        }
        for &(node, incarnation) in crash_vector {
            if self
                .peers
                .get(&node)
                .is_some_and(|p| incarnation > p.incarnation)
            {
                self.learn_incarnation(node, incarnation);
            }
        }
    }

    /// The incarnations this node knows for `key`'s replicas other than itself.
    fn crash_vector(&self, key: &[u8]) -> Vec<(NodeId, Incarnation)> {
        // `peers` is in node order and excludes us: the vector comes out sorted.
        self.peers
            .iter()
            .filter(|(&n, p)| p.incarnation != 0 && self.is_replica_now(key, n))
            .map(|(&n, p)| (n, p.incarnation))
            .collect()
    }

    /// Attaches our crash vector to a Promise or Accepted, and to a Promise
    /// the lineage of the value it reports (lineage.rs).
    fn with_crash_vector(&self, mut reply: Message) -> Message {
        if let Message::Promise {
            key, crash_vector, ..
        }
        | Message::Accepted {
            key, crash_vector, ..
        } = &mut reply
        {
            *crash_vector = self.crash_vector(key);
        }
        if let Message::Promise {
            key,
            accepted: Some((b, _)),
            lineage,
            ..
        } = &mut reply
        {
            *lineage = self.lineages.get(key, *b);
        }
        reply
    }

    // Phase 1b: promise if the ballot is above every promise (acceptor.rs).
    fn on_prepare(&mut self, from: NodeId, key: Key, ballot: Ballot, out: &mut Effects) {
        let reply = match self.refuse_vote(&key) {
            Some(reason) => Message::Nack {
                key,
                ballot,
                reason,
            },
            None => {
                let reply = self.acceptor.on_prepare(&key, ballot);
                self.touch(&key);
                self.with_crash_vector(reply)
            }
        };
        self.send(from, reply, out);
    }

    /// Records an access to `key` for LRU/LFU.
    fn touch(&mut self, key: &[u8]) {
        if self.cfg.memory_max_bytes > 0 && self.cfg.eviction != super::config::Eviction::NoEviction
        {
            let coin = self.coin();
            let now_ms = (self.now.mono_us / 1_000) as u32;
            self.acceptor.touch(key, now_ms, coin);
        }
    }

    /// True if an Accept of `value` would take this node's live values past
    /// its memory ceiling: the cap plus a quarter (tombstones are not
    /// counted: they go by themselves after the grace). Under noeviction
    /// coordinators refuse writes at the cap itself (`-OOM`); under lru/lfu
    /// eviction starts below it, so the ceiling is only
    /// reached when eviction cannot keep up or has no quorum; it is not the
    /// cap itself because a replica that refuses Accepts also blocks other
    /// coordinators' rounds (repairs and reads of values it lags behind on).
    fn over_cap(&self, key: &[u8], value: &Value) -> bool {
        let max = self.cfg.memory_max_bytes;
        // The membership register is small and the cluster's own: never refused.
        max > 0 && key != super::membership::MEMBERSHIP_KEY && {
            let growth = self.acceptor.growth(key, value);
            growth > 0 && self.acceptor.live_bytes() + growth > max + max / 4
        }
    }

    // Phase 2b: accept unless a higher ballot was promised (acceptor.rs);
    // then Phase 1b for a piggybacked Prepare, whose answer goes first so the
    // coordinator holds it when the Accepted completes its quorum.
    fn on_accept(
        &mut self,
        from: NodeId,
        key: Key,
        ballot: Ballot,
        (value, lineage): (Value, super::lineage::Lineage),
        next_prepare: Option<Ballot>,
        out: &mut Effects,
    ) {
        // Only a change may be refused for memory: an identity round (a
        // read, repair, move or re-proposal) carries a value some replica
        // already accepted, which may be chosen, and refusing it would leave
        // the key with no round that can finish (a change names its own
        // ballot first in its lineage, lineage.rs).
        let changes = lineage.first() == Some(&ballot);
        let refusal = self.refuse_vote(&key).or_else(|| {
            (changes && self.over_cap(&key, &value)).then_some(NackReason::OutOfMemory)
        });
        let reply = match refusal {
            Some(reason) => {
                if reason == NackReason::OutOfMemory {
                    self.stats.oom_refusals += 1;
                }
                Message::Nack {
                    key,
                    ballot,
                    reason,
                }
            }
            None => {
                let mut reply = self.acceptor.on_accept(&key, ballot, value);
                if matches!(reply, Message::Accepted { .. }) {
                    self.lineages.record(&key, ballot, lineage);
                }
                self.touch(&key);
                if let Some(next) = next_prepare {
                    let promise = self.acceptor.on_piggybacked_prepare(&key, next);
                    match (&mut reply, &promise) {
                        // Accepted, then promised: the Promise would only echo
                        // this Accept's (ballot, value); one flag says it.
                        (
                            Message::Accepted { next_promised, .. },
                            Message::Promise {
                                accepted: Some((b, _)),
                                ..
                            },
                        ) if *b == ballot => *next_promised = true,
                        _ => {
                            let promise = self.with_crash_vector(promise);
                            self.send(from, promise, out);
                        }
                    }
                }
                self.with_crash_vector(reply)
            }
        };
        self.send(from, reply, out);
    }

    // Fast read: report the accepted ballot and value without touching
    // `promised` (!); a recovering node never answers (docs/design.md "Reads").
    // The value is left out when the reader holds it (`Read::held`).
    fn on_read(
        &mut self,
        from: NodeId,
        key: Key,
        ballot: Ballot,
        held: Option<Ballot>,
        out: &mut Effects,
    ) {
        let bug = self.cfg.bug == Some(super::config::DeliberateBug::RecoveringNodeAnswersRead);
        let refuse = self
            .refuse_vote(&key)
            .filter(|r| !(bug && *r == NackReason::Recovering));
        let reply = match refuse {
            Some(reason) => Message::Nack {
                key,
                ballot,
                reason,
            },
            None => {
                let (accepted, confirmed) = self.acceptor.read(&key);
                if accepted.is_none() && self.memory_incomplete {
                    // Declared lost: two such nodes would read "absent" while
                    // a survivor holds the key, and the next full round
                    // returns it. A full round (Prepare) settles the key.
                    let reason = NackReason::Recovering;
                    let reply = Message::Nack {
                        key,
                        ballot,
                        reason,
                    };
                    self.send(from, reply, out);
                    return;
                }
                self.touch(&key);
                let elide = matches!((&accepted, held), (Some((b, _)), Some(h)) if *b == h);
                Message::ReadReply {
                    key,
                    ballot,
                    accepted: if elide {
                        accepted.map(|(b, _)| (b, None))
                    } else {
                        accepted
                    },
                    confirmed,
                    held: elide,
                }
            }
        };
        self.send(from, reply, out);
    }

    // Confirm: mark chosen if the accepted ballot matches (acceptor.rs).
    fn on_confirm(&mut self, key: Key, ballot: Ballot, all: bool, out: &mut Effects) {
        if self.refuse_vote(&key).is_none() {
            self.acceptor.on_confirm(&key, ballot);
            self.acceptor.note_confirmed(&key);
            self.note_confirm(&key, ballot, all);
            if key.as_slice() == super::membership::MEMBERSHIP_KEY {
                // The register's value is chosen: adopt it (membership.rs).
                if let (Some((_, value)), true) = self.acceptor.read(&key) {
                    if let Some(m) = super::membership::Membership::from_value(&value) {
                        self.adopt_membership(m, out);
                    }
                }
            }
        }
    }

    /// Fires every timer that is due.
    fn on_tick(&mut self, out: &mut Effects) {
        while let Some((&(at, seq), _)) = self.timers.iter().next() {
            if at > self.now.mono_us {
                break;
            }
            match self.timers.remove(&(at, seq)) {
                Some(TimerTarget::Round(key)) => self.on_timer(key, seq, out),
                Some(TimerTarget::Housekeeping) => self.housekeep(out),
                Some(TimerTarget::Listing(req)) => self.on_listing_timeout(req, out),
                Some(TimerTarget::Recovery) => {
                    if let Some(r) = self.recovery.as_mut() {
                        r.disarm();
                    }
                    self.recovery_poll(out);
                }
                None => {}
            }
        }
    }
}
