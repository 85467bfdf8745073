//! The coordinator's side: Phases 1a and 2a, one round per key at a time,
//! composition of queued requests, retries with backoff, and the rule that a
//! retry never applies a change twice.
//!
//! A round runs through attempts. Each attempt takes a fresh ballot from the
//! node-wide round clock, sends Prepare to the key's replicas, and on a
//! quorum of Promises applies the batch's composed change to the value with
//! the highest accepted ballot (CASPaxos §2) and sends Accept. A quorum of
//! Accepted means the value is chosen: every request in the batch gets its
//! reply, and Confirm goes to the replicas. A quorum made impossible by
//! Rejects ends the attempt; the next starts after a jittered backoff. A
//! phase with no quorum after `phase_timeout_ms` (or three smoothed round trips,
//! if longer: `phase_base_us`) is retried at once.

use super::ballot::{Ballot, NodeId};
use super::command::{Command, Key, Reply, Value};
use super::config::DeliberateBug;
use super::lineage::{extend, root, Lineage};
use super::message::Message;
use super::node::{Effects, Node, Outcome, RequestId, TimerTarget, Trace};
use super::recovery::REPAIR_ID_BIT;
use rand::RngExt;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// Redis's refusal at the memory cap, word for word (clients match on `OOM`).
pub const ERR_OOM: &str = "OOM command not allowed when used memory > 'maxmemory'.";

/// A request waiting for, or taking part in, a round.
#[derive(Clone, Debug)]
pub(crate) struct Pending {
    pub(super) id: RequestId,
    pub(super) command: Command,
}

/// The coordinator's state for one key.
#[derive(Debug, Default)]
pub(crate) struct KeyCoord {
    /// Requests that arrived while a round ran, in arrival order.
    queue: VecDeque<Pending>,
    pub(super) round: Option<Round>,
}

/// An Accept this round sent whose value differs from the state it was built
/// on: if it landed anywhere, the batch's change may have taken effect. Its
/// ballot names the change in lineages (lineage.rs).
#[derive(Clone, Debug)]
#[cfg_attr(feature = "lab-proposer", allow(dead_code))] // a student's rule may not read every field
struct SentAccept {
    ballot: Ballot,
    replies: Vec<Reply>,
}

#[derive(Debug)]
pub(super) enum Phase {
    /// Fast read sent; collecting ReadReplies (fastpath.rs).
    Reading {
        replies: super::fastpath::ReadReplies,
        refused: BTreeSet<NodeId>,
    },
    /// Phase 1a sent; collecting Promises (replica -> its accepted pair).
    Preparing {
        promises: BTreeMap<NodeId, Option<(Ballot, Value)>>,
        /// Accepted ballot -> the lineage of its value, as reported.
        lineages: BTreeMap<Ballot, Lineage>,
        refused: BTreeSet<NodeId>,
    },
    /// Phase 2a sent; collecting Accepted.
    Accepting {
        value: Value,
        /// The lineage the Accept carried.
        lineage: Lineage,
        replies: Vec<Reply>,
        accepted: BTreeSet<NodeId>,
        refused: BTreeSet<NodeId>,
        /// Expiries this Accept carries out (counted when chosen).
        expiries: u64,
    },
    /// Waiting out a backoff before the next attempt.
    BackingOff,
}

#[derive(Debug)]
pub(super) struct Round {
    pub(super) ballot: Ballot,
    pub(super) batch: Vec<Pending>,
    /// Every node the round's messages go to: the key's replicas, and during
    /// a membership change its old replicas too.
    pub(super) replicas: Vec<NodeId>,
    /// The sets each of which must give a quorum: the key's replicas, and
    /// during a change whose old replica set differs, that one too (!).
    pub(super) sets: Vec<Vec<NodeId>>,
    pub(super) phase: Phase,
    pub(super) attempts: u32,
    pub(super) phase_started_us: u64,
    /// When the round started (µs).
    started_us: u64,
    /// When it gives up: `retry_budget_ms` after the start, extended by the
    /// transfer time of the biggest phase (`arm_phase`).
    deadline_us: u64,
    sent: Vec<SentAccept>,
    /// The one armed timer: (deadline µs, seq).
    timer: Option<(u64, u64)>,
}

/// What a retry must do, given the highest accepted ballot its Promises
/// report and that value's lineage (lineage.rs).
#[derive(Debug, PartialEq, Eq)]
#[cfg_attr(feature = "lab-proposer", allow(dead_code))] // an unfinished rule constructs none
enum Decision {
    /// No earlier Accept of ours is in the chain: apply the change.
    Fresh,
    /// Our change at `sent[i]` is in the chain (our own Accept is the latest
    /// state, or a rival or a repair built on it): re-propose that state
    /// unchanged and answer what `sent[i]` answered.
    Repropose(usize),
    /// The chain is cut short where an earlier Accept of ours could be.
    Unknown,
}

// The proposer lab (docs/labs/proposer.md): with `--features lab-proposer`,
// the student's versions of the four rule functions below, from the file
// named by SYNOD_LAB_PROPOSER at build time (scripts/lab-grade.sh sets it),
// replace the ones marked `cfg(not(feature = "lab-proposer"))`. A child
// module: it sees this file's private types. Default builds never compile it.
#[cfg(feature = "lab-proposer")]
mod lab {
    include!(env!("SYNOD_LAB_PROPOSER"));
}
#[cfg(feature = "lab-proposer")]
use lab::{decide, highest_accepted, majority, phase_1a};

/// Votes that make a quorum of `replicas`: ⌊N/2⌋+1, so that any two quorums
/// share a replica (Paxos Made Simple §2.2).
#[cfg(not(feature = "lab-proposer"))]
fn majority(replicas: usize) -> usize {
    replicas / 2 + 1
}

/// Phase 1a: a Prepare of `ballot` for `key` to every replica.
#[cfg(not(feature = "lab-proposer"))]
fn phase_1a(key: &[u8], ballot: Ballot, replicas: &[NodeId]) -> Vec<(NodeId, Message)> {
    replicas
        .iter()
        .map(|&r| {
            let prepare = Message::Prepare {
                key: key.to_vec(),
                ballot,
            };
            (r, prepare)
        })
        .collect()
}

/// Phase 2a's base: the value with the highest accepted ballot among the
/// Promises (None if no replica accepted anything) (!).
#[cfg(not(feature = "lab-proposer"))]
fn highest_accepted(
    promises: &BTreeMap<NodeId, Option<(Ballot, Value)>>,
) -> Option<(Ballot, Value)> {
    promises.values().flatten().max_by_key(|(b, _)| *b).cloned()
}

/// The rule "a retry never applies a change twice" (docs/design.md) (!),
/// told by lineages (lineage.rs): `sent` are this request's changing
/// Accepts, `highest` the highest accepted ballot among the retry's Promises
/// and `lineage` that value's lineage, newest first (empty: unknown, and the
/// accepted ballot alone stands for it).
#[cfg(not(feature = "lab-proposer"))]
fn decide(sent: &[SentAccept], highest: Option<Ballot>, lineage: &[Ballot]) -> Decision {
    let Some(h) = highest else {
        return Decision::Fresh;
    };
    let head = [h];
    let chain: &[Ballot] = if lineage.is_empty() { &head } else { lineage };
    if let Some(i) = sent.iter().position(|s| chain.contains(&s.ballot)) {
        return Decision::Repropose(i);
    }
    // Below its oldest entry the chain holds only smaller ballots.
    let oldest = chain.iter().min().copied().unwrap_or(h);
    if sent.iter().all(|s| s.ballot > oldest) {
        Decision::Fresh
    } else {
        Decision::Unknown
    }
}

/// Votes needed among a set of `len` replicas.
fn quorum_of(bug: Option<DeliberateBug>, len: usize) -> usize {
    if bug == Some(DeliberateBug::MinorityQuorum) {
        return (len / 2).max(1);
    }
    majority(len)
}

/// The sets that must each give a quorum: during a membership change, the
/// old set as well as the new one (!), unless the deliberate bug.
fn counted_sets(bug: Option<DeliberateBug>, sets: &[Vec<NodeId>]) -> &[Vec<NodeId>] {
    if bug == Some(DeliberateBug::JointUsesNewQuorumOnly) {
        &sets[..sets.len().min(1)]
    } else {
        sets
    }
}

/// True if the nodes `has` holds form a quorum of every set in `sets`.
pub(super) fn quorum_met(
    bug: Option<DeliberateBug>,
    sets: &[Vec<NodeId>],
    has: impl Fn(NodeId) -> bool,
) -> bool {
    counted_sets(bug, sets)
        .iter()
        .all(|s| s.iter().filter(|&&n| has(n)).count() >= quorum_of(bug, s.len()))
}

/// True if some set in `sets` can no longer give a quorum once the nodes
/// `refused` holds are left out.
fn quorum_impossible(
    bug: Option<DeliberateBug>,
    sets: &[Vec<NodeId>],
    refused: impl Fn(NodeId) -> bool,
) -> bool {
    counted_sets(bug, sets)
        .iter()
        .any(|s| s.iter().filter(|&&n| !refused(n)).count() < quorum_of(bug, s.len()))
}

impl Node {
    /// Votes needed: ⌊N/2⌋+1 (or ⌊N/2⌋ under the minority-quorum bug).
    pub(super) fn quorum(&self) -> usize {
        if self.cfg.bug == Some(DeliberateBug::MinorityQuorum) {
            return (self.placement.replicas() / 2).max(1);
        }
        majority(self.placement.replicas())
    }

    pub(super) fn has_bug(&self, bug: DeliberateBug) -> bool {
        self.cfg.bug == Some(bug)
    }

    /// A client request: queue it behind the key's round, or start one.
    pub(crate) fn on_request(
        &mut self,
        id: RequestId,
        key: Key,
        command: Command,
        out: &mut Effects,
    ) {
        self.stats.requests += 1;
        if let Err(why) = self.check_request(&key, &command) {
            self.stats.requests_failed += 1;
            if why == ERR_OOM {
                self.stats.oom_refusals += 1;
            }
            out.replies.push((id, Outcome::Failed(why)));
            return;
        }
        if command.may_grow() && self.at_cap_evicting() {
            // lru/lfu at the cap: the write waits for eviction to make room
            // (Redis evicts before it writes), or for the retry budget; it
            // is then refused with -OOM, certainly not applied.
            let until_us = self.now.mono_us + self.cfg.retry_budget_ms * 1_000;
            self.inflight += 1;
            self.room_waiters.push_back((id, key, command, until_us));
            self.maybe_evict(out);
            return;
        }
        let grows = command.may_grow();
        self.enqueue(id, key, command, out);
        if grows {
            // Under lru/lfu, evict as writes arrive, not once per tick.
            self.maybe_evict(out);
        }
    }

    /// Under lru/lfu: the live values are at the cap, and this node evicts
    /// (it votes: a recovering node does not evict, so nothing would make
    /// room for a write that waited).
    fn at_cap_evicting(&self) -> bool {
        let max = self.cfg.memory_max_bytes;
        self.voting
            && max > 0
            && self.cfg.eviction != super::config::Eviction::NoEviction
            && self.acceptor.live_bytes() + self.connection_bytes >= max
    }

    /// Lets writes that waited for room go, while there is room; refuses
    /// those that waited their whole retry budget (-OOM, not applied).
    pub(crate) fn release_room_waiters(&mut self, out: &mut Effects) {
        let now = self.now.mono_us;
        while let Some((_, _, _, until_us)) = self.room_waiters.front() {
            let expired = *until_us <= now;
            if !expired && self.at_cap_evicting() {
                break;
            }
            let Some((id, key, command, _)) = self.room_waiters.pop_front() else {
                break;
            };
            self.inflight -= 1;
            if expired {
                self.stats.requests_failed += 1;
                self.stats.oom_refusals += 1;
                out.replies.push((id, Outcome::Failed(ERR_OOM.into())));
            } else {
                self.enqueue(id, key, command, out);
            }
        }
    }

    /// Queues a request behind the key's round, or starts one.
    pub(crate) fn enqueue(&mut self, id: RequestId, key: Key, command: Command, out: &mut Effects) {
        let coord = self.coords.entry(key.clone()).or_default();
        coord.queue.push_back(Pending { id, command });
        self.inflight += 1;
        if coord.round.is_none() {
            self.start_round(key, out);
        }
    }

    fn check_request(&self, key: &[u8], command: &Command) -> Result<(), String> {
        self.check_serving()?;
        if key == super::membership::MEMBERSHIP_KEY || matches!(command, Command::Membership(_)) {
            return Err("ERR this key is reserved for the cluster's membership".into());
        }
        if key.len() > self.cfg.key_len_max_bytes {
            return Err(format!(
                "key of {} bytes exceeds key_len_max_bytes = {}",
                key.len(),
                self.cfg.key_len_max_bytes
            ));
        }
        let value_len = command.payload_len();
        if value_len > self.cfg.value_len_max_bytes {
            return Err(format!(
                "value of {value_len} bytes exceeds value_len_max_bytes = {}",
                self.cfg.value_len_max_bytes
            ));
        }
        // At the cap, noeviction refuses growth, as Redis does; lru and lfu
        // evict instead (by consensus, housekeeping.rs) and refuse only at
        // the hard ceiling, the cap plus a quarter, where replicas refuse
        // Accepts too (node.rs `over_cap`): eviction could not keep up.
        let max = self.cfg.memory_max_bytes;
        // Live values only: tombstones go by themselves after the grace, and
        // counting them made writes at the cap wait for that (issue 14).
        let used = self.acceptor.live_bytes() + self.connection_bytes;
        let evicting = self.cfg.eviction != super::config::Eviction::NoEviction;
        let limit = if evicting { max + max / 4 } else { max };
        if max > 0 && command.may_grow() && used >= limit {
            return Err(ERR_OOM.into());
        }
        if self.inflight >= self.cfg.inflight_max_requests {
            return Err(format!(
                "node busy: {} requests in flight (inflight_max_requests)",
                self.inflight
            ));
        }
        let queued = self.coords.get(key).map_or(0, |c| c.queue.len());
        if queued >= self.cfg.key_queue_max_requests {
            return Err(format!(
                "key busy: {queued} requests queued (key_queue_max_requests)"
            ));
        }
        Ok(())
    }

    /// Starts a round for `key` with every queued request (up to the batch bound).
    fn start_round(&mut self, key: Key, out: &mut Effects) {
        let (replicas, sets) = self.round_sets(&key);
        let deadline_us = self.now.mono_us + self.cfg.retry_budget_ms * 1_000;
        let batch_max = self.cfg.batch_max_requests;
        let Some(coord) = self.coords.get_mut(&key) else {
            return;
        };
        debug_assert!(coord.round.is_none(), "one round per key per coordinator");
        let n = coord.queue.len().min(batch_max);
        if n == 0 {
            self.coords.remove(&key);
            return;
        }
        let batch: Vec<Pending> = coord.queue.drain(..n).collect();
        coord.round = Some(Round {
            ballot: Ballot::ZERO,
            batch,
            replicas,
            sets,
            phase: Phase::BackingOff,
            attempts: 0,
            phase_started_us: self.now.mono_us,
            started_us: self.now.mono_us,
            deadline_us,
            sent: Vec::new(),
            timer: None,
        });
        self.stats.rounds_started += 1;
        // Fast paths first (fastpath.rs): a read without Prepare, or a write
        // on the phase 1 piggybacked on our last Accept; else Phase 1a.
        if self.fast_read_applies(&key) {
            self.begin_read(key, out);
        } else if self.use_cached_promises(&key) {
            self.phase_two(key, out);
        } else {
            self.begin_attempt(key, out);
        }
    }

    /// Phase 1a: a fresh ballot, Prepare to every replica.
    pub(super) fn begin_attempt(&mut self, key: Key, out: &mut Effects) {
        let Some(ballot) = self.clock.next(self.cfg.node_id, self.incarnation) else {
            log::error!("round clock exhausted");
            self.give_up(key, out);
            return;
        };
        let now = self.now.mono_us;
        let Some(round) = self.round_mut(&key) else {
            return;
        };
        round.ballot = ballot;
        round.attempts += 1;
        round.phase_started_us = now;
        round.phase = Phase::Preparing {
            promises: BTreeMap::new(),
            lineages: BTreeMap::new(),
            refused: BTreeSet::new(),
        };
        let replicas = round.replicas.clone();
        // The Promises carry the value: about as big as ours, if we hold one.
        let bytes = self.held_len(&key) * self.remote_count(&replicas);
        self.arm_phase(&key, bytes);
        for (r, prepare) in phase_1a(&key, ballot, &replicas) {
            self.send(r, prepare, out);
        }
    }

    pub(super) fn round_mut(&mut self, key: &[u8]) -> Option<&mut Round> {
        self.coords.get_mut(key).and_then(|c| c.round.as_mut())
    }

    /// The running round for `key` if it is at `ballot` and `from` is one of its replicas.
    pub(super) fn round_for(
        &mut self,
        key: &[u8],
        ballot: Ballot,
        from: NodeId,
    ) -> Option<&mut Round> {
        let round = self.round_mut(key)?;
        (round.ballot == ballot && round.replicas.contains(&from)).then_some(round)
    }

    /// Phase 1b arrives at the coordinator.
    pub(crate) fn on_promise(
        &mut self,
        from: NodeId,
        key: Key,
        ballot: Ballot,
        accepted: Option<(Ballot, Value)>,
        lineage: Lineage,
        out: &mut Effects,
    ) {
        let one_replica_reads = self.has_bug(DeliberateBug::ReadFromOneReplica);
        let bug = self.cfg.bug;
        let Some(round) = self.round_for(&key, ballot, from) else {
            // Not a running round's: maybe the answer to a piggybacked Prepare.
            self.on_cached_promise(from, &key, ballot, accepted, lineage);
            return;
        };
        let Phase::Preparing {
            promises, lineages, ..
        } = &mut round.phase
        else {
            return;
        };
        if let Some((b, _)) = &accepted {
            if !lineage.is_empty() {
                lineages.insert(*b, lineage);
            }
        }
        let len = match &accepted {
            Some((_, Some(r))) => r.data.len(),
            _ => 0,
        };
        promises.insert(from, accepted);
        let read_only = round.batch.iter().all(|p| p.command.is_read_only());
        let enough = if one_replica_reads && read_only {
            !promises.is_empty()
        } else {
            let (sets, promises) = (&round.sets, &*promises);
            quorum_met(bug, sets, |n| promises.contains_key(&n))
        };
        if enough {
            self.phase_two(key, out);
        } else {
            // The other Promises are likely as big as this one.
            let waiting = round.replicas.len() - promises.len();
            self.extend_phase(&key, len * waiting);
        }
    }

    /// Phase 2a: apply the batch's change to the highest accepted value, send Accept.
    pub(super) fn phase_two(&mut self, key: Key, out: &mut Effects) {
        let ignore_accepted = self.has_bug(DeliberateBug::IgnoreAcceptedValue);
        let reapply = self.has_bug(DeliberateBug::RetryReappliesChange);
        let lineage_cut = self.has_bug(DeliberateBug::LineageNotCarried);
        let one_replica_reads = self.has_bug(DeliberateBug::ReadFromOneReplica);
        let expired_without_round = self.has_bug(DeliberateBug::ExpiredReadWithoutRound);
        let trace = self.cfg.trace;
        let now = self.now.mono_us;
        let wall_ms = self.now.wall_ms;
        let value_len_max = self.cfg.value_len_max_bytes;
        let elide_min = self.cfg.elide_value_min_bytes;
        let elide_bug = self.has_bug(DeliberateBug::ElidedValueUnchecked);
        let Some(round) = self.round_mut(&key) else {
            return;
        };
        let Phase::Preparing {
            promises, lineages, ..
        } = &mut round.phase
        else {
            return;
        };
        let sample_us = now.saturating_sub(round.phase_started_us);
        // The value with the highest accepted ballot among the Promises.
        let mut highest = highest_accepted(promises);
        if ignore_accepted {
            highest = None;
        }
        let (derived_from, base) = match highest {
            Some((b, v)) => (Some(b), v),
            None => (None, None),
        };
        let base_lineage = match derived_from {
            // Unknown: the accepted ballot alone stands for it (as `decide`
            // reads an empty lineage), and identity rounds keep it, so the
            // key's version stays put across reads and WATCH's own round.
            Some(b) => lineages.remove(&b).unwrap_or_else(|| vec![b]),
            None => root(),
        };
        let read_only = round.batch.iter().all(|p| p.command.is_read_only());
        let decision = if read_only || reapply {
            Decision::Fresh
        } else {
            decide(&round.sent, derived_from, &base_lineage)
        };
        let ballot = round.ballot;
        // Expiries this round carries out (each a delete by the system).
        let mut expiries = 0;
        let (value, replies, copied) = match decision {
            Decision::Unknown => {
                log::debug!("retry found other changes above our accept, lineage cut short: outcome unknown");
                self.finish_round(key, |_| Outcome::Unknown(
                    "contended: other writes were accepted above this one's earlier attempt and their lineage does not reach back to it; it may or may not have been applied".into(),
                ), out);
                return;
            }
            Decision::Repropose(i) => {
                // Our change is in the chain: make that state chosen, unchanged.
                (base.clone(), round.sent[i].replies.clone(), true)
            }
            Decision::Fresh => {
                let mut value = base.clone();
                let mut replies = Vec::with_capacity(round.batch.len());
                for p in &round.batch {
                    if value.as_ref().is_some_and(|r| r.is_expired(wall_ms)) {
                        // The change sees "absent": the key expires first.
                        expiries += 1;
                    }
                    // The key's version here: the last change's ballot
                    // (this round's, once the batch changed the value).
                    let version = if value != base {
                        ballot
                    } else {
                        match base_lineage.first() {
                            Some(b) => *b,
                            None => derived_from.unwrap_or(Ballot::ZERO),
                        }
                    };
                    let (next, reply) = match &p.command {
                        // Eviction deletes only the value it sampled: the
                        // accepted ballot must still be the one it saw.
                        Command::Evict { seen } if derived_from != Some(*seen) || value != base => {
                            (value.clone(), Reply::Deleted(false))
                        }
                        Command::Watch => (
                            p.command.apply(&value, wall_ms, value_len_max).0,
                            Reply::Version(version),
                        ),
                        // A watched key changed since WATCH: nothing runs.
                        Command::Multi { watch: Some(w), .. } if *w != version => {
                            (value.clone(), Reply::Multi(None))
                        }
                        _ => p.command.apply(&value, wall_ms, value_len_max),
                    };
                    value = next;
                    replies.push(reply);
                }
                if value.as_ref().is_some_and(|r| r.is_expired(wall_ms)) {
                    // Written with a deadline already past: store the tombstone.
                    value = None;
                    expiries += 1;
                }
                (value, replies, false)
            }
        };
        if expiries > 0 && read_only && expired_without_round {
            // Deliberate bug: answer "absent" before the tombstone is chosen.
            if trace {
                for _ in 0..expiries {
                    out.trace.push(Trace::Expired {
                        key: key.clone(),
                        ballot,
                    });
                }
            }
            self.finish_round(key, |i| Outcome::Ok(replies[i].clone()), out);
            return;
        }
        // A change is named by its ballot in the lineage; an identity round
        // (a read, a repair, a re-proposal) keeps its base's lineage.
        let changed = !copied && value != base;
        let lineage = if changed && !lineage_cut {
            extend(ballot, &base_lineage)
        } else if changed {
            // Deliberate bug: the lineage starts afresh at every change, so a
            // rival's value no longer shows that it was built on ours.
            extend(ballot, &root())
        } else {
            base_lineage
        };
        if changed {
            round.sent.push(SentAccept {
                ballot,
                replies: replies.clone(),
            });
        }
        if one_replica_reads && read_only {
            // Deliberate bug: answer a read from whatever replica answered first.
            self.observe_rtt(sample_us);
            self.finish_round(key, |i| Outcome::Ok(replies[i].clone()), out);
            return;
        }
        // A replica whose Promise showed it holds the value unchanged at
        // `derived_from` gets the value named by that ballot (message.rs
        // `Accept::held`), not the bytes again.
        let len = value.as_ref().map_or(0, |r| r.data.len());
        let holders: BTreeSet<NodeId> = match derived_from {
            Some(h) if len >= elide_min && value == base => promises
                .iter()
                .filter(|(_, p)| elide_bug || p.as_ref().is_some_and(|(b, _)| *b == h))
                .map(|(n, _)| *n)
                .collect(),
            _ => BTreeSet::new(),
        };
        round.phase = Phase::Accepting {
            value: value.clone(),
            lineage: lineage.clone(),
            replies,
            accepted: BTreeSet::new(),
            refused: BTreeSet::new(),
            expiries,
        };
        round.phase_started_us = now;
        let replicas = round.replicas.clone();
        self.observe_rtt(sample_us);
        if self.cfg.trace {
            out.trace.push(Trace::AcceptSent {
                key: key.clone(),
                ballot,
                value: value.clone(),
                derived_from,
                copied,
            });
            for _ in 0..expiries {
                out.trace.push(Trace::Expired {
                    key: key.clone(),
                    ballot,
                });
            }
        }
        let me = self.cfg.node_id;
        let copies = replicas
            .iter()
            .filter(|&&r| r != me && !holders.contains(&r))
            .count();
        self.arm_phase(&key, len * copies);
        // CASPaxos §2.2.1: the Prepare of our next ballot rides on the Accept.
        let next_prepare = self.piggyback_ballot(&key, (ballot, &value), &lineage);
        for r in replicas {
            let held = holders.contains(&r).then_some(derived_from).flatten();
            self.send(
                r,
                Message::Accept {
                    key: key.clone(),
                    ballot,
                    value: if held.is_some() { None } else { value.clone() },
                    next_prepare,
                    lineage: lineage.clone(),
                    held,
                },
                out,
            );
        }
    }

    /// A replica did not hold the ballot our Accept named its value by
    /// (`Nack(ValueMissing)`): send it the value itself, same ballot.
    pub(crate) fn resend_value(
        &mut self,
        from: NodeId,
        key: Key,
        ballot: Ballot,
        out: &mut Effects,
    ) {
        let Some(round) = self.round_for(&key, ballot, from) else {
            return;
        };
        let Phase::Accepting {
            value,
            lineage,
            accepted,
            ..
        } = &round.phase
        else {
            return;
        };
        if accepted.contains(&from) {
            return;
        }
        let accept = Message::Accept {
            key: key.clone(),
            ballot,
            value: value.clone(),
            next_prepare: None,
            lineage: lineage.clone(),
            held: None,
        };
        let len = value.as_ref().map_or(0, |r| r.data.len());
        self.extend_phase(&key, len);
        self.send(from, accept, out);
    }

    /// Phase 2b arrives at the coordinator: on a quorum the value is chosen.
    pub(crate) fn on_accepted(
        &mut self,
        from: NodeId,
        key: Key,
        ballot: Ballot,
        out: &mut Effects,
    ) {
        let now = self.now.mono_us;
        let bug = self.cfg.bug;
        let Some(round) = self.round_for(&key, ballot, from) else {
            self.late_accepted(from, &key, ballot, out);
            return;
        };
        let Phase::Accepting {
            accepted,
            replies,
            value,
            lineage,
            expiries,
            ..
        } = &mut round.phase
        else {
            return;
        };
        accepted.insert(from);
        if !quorum_met(bug, &round.sets, |n| accepted.contains(&n)) {
            return;
        }
        let expiries = *expiries;
        let all = accepted.len() == round.replicas.len();
        let replies = std::mem::take(replies);
        let value = std::mem::take(value);
        let lineage = std::mem::take(lineage);
        let replicas = round.replicas.clone();
        // A tombstone chosen before all replicas answered: keep counting late
        // Accepteds, so that a Confirm can say `all` and the tombstone can go.
        let linger = (value.is_none() && !all).then(|| super::housekeeping::Linger {
            ballot,
            replicas: replicas.clone(),
            accepted: accepted.clone(),
            until_us: 0,
        });
        let sample_us = now.saturating_sub(round.phase_started_us);
        self.stats.rounds_chosen += 1;
        self.stats.expired_keys += expiries;
        self.observe_rtt(sample_us);
        if let Some(mut l) = linger {
            l.until_us = now + self.cfg.retry_budget_ms * 1_000;
            self.linger(key.clone(), l);
        }
        if self.cfg.trace {
            out.trace.push(Trace::Chosen {
                key: key.clone(),
                ballot,
            });
        }
        // A recovering replica keeps what it saw chosen, as a learner: the
        // value is chosen, so holding it accepted is what a voter would hold.
        let me = self.cfg.node_id;
        let membership = (key.as_slice() == super::membership::MEMBERSHIP_KEY)
            .then(|| super::membership::Membership::from_value(&value))
            .flatten();
        if replicas.contains(&me) && !self.votes_for(&key) {
            self.acceptor.learn(&key, ballot, value);
            self.lineages.record(&key, ballot, lineage);
        }
        // Confirm goes out before the next round's Prepare.
        for r in replicas {
            self.send(
                r,
                Message::Confirm {
                    key: key.clone(),
                    ballot,
                    all,
                },
                out,
            );
        }
        self.finish_round(key, |i| Outcome::Ok(replies[i].clone()), out);
        if let Some(m) = membership {
            // A membership round was chosen: adopt it, and tell every node
            // of the old and new lists (membership.rs).
            self.on_membership_chosen(m, out);
        }
    }

    /// A Reject (with the acceptor's promise) or a Nack (without) for our round.
    pub(crate) fn on_refusal(
        &mut self,
        from: NodeId,
        key: Key,
        ballot: Ballot,
        promised: Option<Ballot>,
        out: &mut Effects,
    ) {
        if promised == Some(ballot) {
            // The acceptor already promised exactly this ballot: this answers a
            // duplicate of our own Prepare. Its Promise counts; this does not.
            log::debug!("ignore reject naming our own ballot {ballot}");
            return;
        }
        self.drop_cached_promises(&key, ballot);
        let bug = self.cfg.bug;
        let Some(round) = self.round_for(&key, ballot, from) else {
            return;
        };
        if matches!(round.phase, Phase::Reading { .. }) {
            self.on_read_refusal(from, key, out);
            return;
        }
        let refused = match &mut round.phase {
            Phase::Preparing {
                refused, promises, ..
            } => {
                if promises.contains_key(&from) {
                    return;
                }
                refused
            }
            Phase::Accepting {
                refused, accepted, ..
            } => {
                if accepted.contains(&from) {
                    return;
                }
                refused
            }
            Phase::BackingOff | Phase::Reading { .. } => return,
        };
        refused.insert(from);
        let (sets, refused) = (&round.sets, &*refused);
        if quorum_impossible(bug, sets, |n| refused.contains(&n)) {
            self.back_off(key, out);
        }
    }

    /// The attempt cannot reach a quorum: wait a jittered, growing delay.
    fn back_off(&mut self, key: Key, out: &mut Effects) {
        let now = self.now.mono_us;
        let base_us = (2 * self.rtt_us).max(20);
        let max_us = (self.cfg.retry_backoff_max_ms * 1_000).max(base_us);
        let Some(round) = self.round_mut(&key) else {
            return;
        };
        if now >= round.deadline_us {
            self.give_up(key, out);
            return;
        }
        let exp = round.attempts.saturating_sub(1).min(20);
        let ceiling_us = base_us.saturating_mul(1 << exp).min(max_us);
        round.phase = Phase::BackingOff;
        let delay_us = self.rng.random_range(ceiling_us / 2..=ceiling_us);
        self.stats.attempts_retried += 1;
        self.arm_timer(&key, now + delay_us);
    }

    /// A round's timer fired: a phase timed out, or a backoff ended.
    pub(crate) fn on_timer(&mut self, key: Key, seq: u64, out: &mut Effects) {
        let now = self.now.mono_us;
        let Some(round) = self.round_mut(&key) else {
            return;
        };
        if round.timer.map(|(_, s)| s) != Some(seq) {
            return;
        }
        round.timer = None;
        let timed_out = !matches!(round.phase, Phase::BackingOff);
        let expired = now >= round.deadline_us;
        if timed_out {
            self.stats.phase_timeouts += 1;
        }
        if expired {
            self.give_up(key, out);
        } else {
            self.stats.attempts_retried += 1;
            self.begin_attempt(key, out);
        }
    }

    /// The retry budget is spent: tell each request what may have happened.
    fn give_up(&mut self, key: Key, out: &mut Effects) {
        let budget_ms = self.cfg.retry_budget_ms;
        let Some(round) = self.round_mut(&key) else {
            return;
        };
        let maybe_applied = !round.sent.is_empty();
        self.finish_round(
            key,
            |_| {
                if maybe_applied {
                    Outcome::Unknown(format!(
                        "no quorum confirmed within {budget_ms} ms after an Accept was sent; the write may or may not have been applied"
                    ))
                } else {
                    Outcome::Failed(format!(
                        "no quorum of replicas answered within {budget_ms} ms; not applied"
                    ))
                }
            },
            out,
        );
    }

    /// Ends the round: replies with `outcome(i)` for the i-th batched request,
    /// then starts the next round if requests are queued.
    pub(super) fn finish_round(
        &mut self,
        key: Key,
        outcome: impl Fn(usize) -> Outcome,
        out: &mut Effects,
    ) {
        let Some(coord) = self.coords.get_mut(&key) else {
            return;
        };
        let Some(round) = coord.round.take() else {
            return;
        };
        if let Some(t) = round.timer {
            self.timers.remove(&t);
        }
        for (i, p) in round.batch.iter().enumerate() {
            let o = outcome(i);
            if p.id & REPAIR_ID_BIT != 0 {
                self.repairs_done.push((p.id, o));
                continue;
            }
            match &o {
                Outcome::Ok(_) => self.stats.requests_ok += 1,
                Outcome::Failed(_) => self.stats.requests_failed += 1,
                Outcome::Unknown(_) => self.stats.requests_unknown += 1,
            }
            out.replies.push((p.id, o));
        }
        self.inflight -= round.batch.len();
        self.start_round(key, out);
    }

    /// Arms the round's one timer at `at_us`, disarming any other.
    pub(super) fn arm_timer(&mut self, key: &Key, at_us: u64) {
        self.timer_seq += 1;
        let seq = self.timer_seq;
        let old = match self.coords.get_mut(key).and_then(|c| c.round.as_mut()) {
            Some(round) => round.timer.replace((at_us, seq)),
            None => return,
        };
        if let Some(t) = old {
            self.timers.remove(&t);
        }
        self.timers
            .insert((at_us, seq), TimerTarget::Round(key.clone()));
    }

    /// µs to move `bytes` between nodes at `transfer_bytes_per_ms`.
    pub(super) fn transfer_us(&self, bytes: usize) -> u64 {
        (bytes as u64).saturating_mul(1_000) / self.cfg.transfer_bytes_per_ms.max(1)
    }

    /// Bytes of `key`'s value as this node holds it (0: none): about what
    /// each replica's Promise or ReadReply will carry.
    pub(super) fn held_len(&self, key: &[u8]) -> usize {
        match self.acceptor.slot(key).and_then(|s| s.accepted.as_ref()) {
            Some((_, Some(r))) => r.data.len(),
            _ => 0,
        }
    }

    /// Replicas other than this node: the copies a phase sends over links.
    pub(super) fn remote_count(&self, replicas: &[NodeId]) -> usize {
        replicas.iter().filter(|&&r| r != self.cfg.node_id).count()
    }

    /// Arms the round's timer for a phase that moves `bytes` between nodes:
    /// `phase_timeout_ms` plus their transfer time. The round's deadline
    /// grows to let this phase finish and to give the retry budget the same
    /// transfer time, but a round never lives past half of
    /// `tombstone_grace_ms` (the tombstone rule, housekeeping.rs, needs
    /// every round to have given up before a tombstone can go).
    pub(super) fn arm_phase(&mut self, key: &Key, bytes: usize) {
        let now = self.now.mono_us;
        let transfer_us = self.transfer_us(bytes);
        let phase_us = self.phase_base_us() + transfer_us;
        let budget_us = self.cfg.retry_budget_ms * 1_000;
        let life_us = (self.cfg.tombstone_grace_ms * 1_000 / 2).max(budget_us);
        let Some(round) = self.round_mut(key) else {
            return;
        };
        if transfer_us > 0 {
            let want = (round.started_us + budget_us + transfer_us).max(now + phase_us);
            round.deadline_us = round.deadline_us.max(want.min(round.started_us + life_us));
        }
        // Never past the round's longest life (a round with small values
        // never gets near it: its timer is the plain phase timeout).
        let at = (now + phase_us).min((round.started_us + life_us).max(now + 1));
        self.arm_timer(key, at);
    }

    /// A phase's answer showed it moves more bytes than the timer allowed
    /// (a Promise or ReadReply with a big value): push the timer out so
    /// that `bytes` more can arrive, never earlier than it was.
    pub(super) fn extend_phase(&mut self, key: &Key, bytes: usize) {
        let now = self.now.mono_us;
        let transfer_us = self.transfer_us(bytes);
        let at = now + self.phase_base_us() + transfer_us;
        let current = self
            .round_mut(key)
            .and_then(|r| r.timer)
            .map_or(0, |(t, _)| t);
        // Small values move in no time: the phase keeps its plain timeout.
        if transfer_us > 0 && at > current {
            self.arm_phase(key, bytes);
        }
    }

    /// How long a phase moving small values waits for its quorum:
    /// `phase_timeout_ms`, or three of the phases' smoothed round trips when
    /// that is longer (a node starved of CPU answers in hundreds of ms; a
    /// fixed 50 ms made every round retry again and again behind the
    /// others' messages until its budget ran out), at most a quarter of the
    /// retry budget so that a round still has retries left.
    pub(super) fn phase_base_us(&self) -> u64 {
        let plain_us = self.cfg.phase_timeout_ms * 1_000;
        let cap_us = (self.cfg.retry_budget_ms * 1_000 / 4).max(plain_us);
        plain_us.max(self.rtt_us.saturating_mul(3)).min(cap_us)
    }

    pub(super) fn observe_rtt(&mut self, sample_us: u64) {
        self.rtt_us = ((self.rtt_us * 7 + sample_us) / 8).max(1);
    }

    /// A peer restarted: votes its old incarnation gave our running rounds
    /// are void, since it has forgotten them.
    pub(crate) fn forget_votes_of(&mut self, node: NodeId) {
        self.promise_cache.forget_votes_of(node);
        for coord in self.coords.values_mut() {
            let Some(round) = coord.round.as_mut() else {
                continue;
            };
            match &mut round.phase {
                Phase::Reading { replies, refused } => {
                    replies.remove(&node);
                    refused.remove(&node);
                }
                Phase::Preparing {
                    promises, refused, ..
                } => {
                    promises.remove(&node);
                    refused.remove(&node);
                }
                Phase::Accepting {
                    accepted, refused, ..
                } => {
                    accepted.remove(&node);
                    refused.remove(&node);
                }
                Phase::BackingOff => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::Record;

    fn sent(round: u64) -> SentAccept {
        SentAccept {
            ballot: Ballot::new(round, 1, 1),
            replies: vec![Reply::Done],
        }
    }

    fn b(round: u64, node: NodeId) -> Ballot {
        Ballot::new(round, node, 1)
    }

    #[test]
    fn a_quorum_is_a_strict_majority() {
        for (n, q) in [(1, 1), (2, 2), (3, 2), (4, 3), (5, 3), (7, 4)] {
            assert_eq!(majority(n), q, "quorum of {n} replicas");
        }
    }

    #[test]
    fn phase_1a_sends_one_prepare_of_the_ballot_to_every_replica() {
        let mut sent = phase_1a(b"k", b(7, 2), &[3, 1, 2]);
        sent.sort_by_key(|(to, _)| *to);
        let prepare = |to| {
            let msg = Message::Prepare {
                key: b"k".to_vec(),
                ballot: b(7, 2),
            };
            (to, msg)
        };
        assert_eq!(sent, vec![prepare(1), prepare(2), prepare(3)]);
    }

    #[test]
    fn phase_2a_builds_on_the_highest_accepted_ballot() {
        let v = |s: &str| Some(Record::new(s.as_bytes()));
        let mut promises = BTreeMap::new();
        promises.insert(1, Some((b(3, 1), v("old"))));
        promises.insert(2, None);
        promises.insert(3, Some((b(3, 2), v("newer"))));
        assert_eq!(highest_accepted(&promises), Some((b(3, 2), v("newer"))));
        promises.insert(4, Some((b(2, 9), v("oldest"))));
        assert_eq!(highest_accepted(&promises), Some((b(3, 2), v("newer"))));
        // A tombstone is a value: the highest accepted one is the base.
        promises.insert(5, Some((b(4, 1), None)));
        assert_eq!(highest_accepted(&promises), Some((b(4, 1), None)));
    }

    #[test]
    fn phase_2a_with_nothing_accepted_starts_from_absent() {
        let mut promises = BTreeMap::new();
        assert_eq!(highest_accepted(&promises), None);
        promises.insert(1, None);
        promises.insert(2, None);
        assert_eq!(highest_accepted(&promises), None);
    }

    #[test]
    fn first_attempt_is_fresh() {
        assert_eq!(decide(&[], None, &[]), Decision::Fresh);
        assert_eq!(
            decide(&[], Some(Ballot::new(9, 2, 1)), &[]),
            Decision::Fresh
        );
    }

    #[test]
    fn own_accept_found_is_reproposed() {
        assert_eq!(
            decide(&[sent(3), sent(5)], Some(Ballot::new(5, 1, 1)), &[]),
            Decision::Repropose(1)
        );
    }

    #[test]
    fn state_below_every_own_accept_is_fresh() {
        assert_eq!(
            decide(&[sent(3), sent(5)], Some(Ballot::new(2, 2, 1)), &[]),
            Decision::Fresh
        );
        assert_eq!(decide(&[sent(3)], None, &[]), Decision::Fresh);
    }

    #[test]
    fn foreign_state_above_an_own_accept_is_unknown() {
        assert_eq!(
            decide(&[sent(3)], Some(Ballot::new(4, 2, 1)), &[]),
            Decision::Unknown
        );
        assert_eq!(
            decide(&[sent(3), sent(5)], Some(Ballot::new(4, 2, 1)), &[]),
            Decision::Unknown
        );
    }

    #[test]
    fn a_rival_built_on_an_own_accept_shows_it_in_its_lineage() {
        // A rival (5.2) built on our Accept at 3.1: it is in the lineage.
        assert_eq!(
            decide(
                &[sent(3)],
                Some(b(6, 2)),
                &[b(6, 2), b(4, 3), b(3, 1), b(1, 2)]
            ),
            Decision::Repropose(0)
        );
        // An identity round (a repair) copied our value: the same lineage.
        assert_eq!(
            decide(&[sent(3)], Some(b(8, 2)), &[b(3, 1), b(1, 2)]),
            Decision::Repropose(0)
        );
    }

    #[test]
    fn a_rival_chain_that_skips_an_own_accept_is_fresh() {
        // Reaching below our ballot without it, or to the root.
        assert_eq!(
            decide(&[sent(3)], Some(b(6, 2)), &[b(6, 2), b(2, 3)]),
            Decision::Fresh
        );
        assert_eq!(
            decide(&[sent(3)], Some(b(4, 2)), &[b(4, 2), Ballot::ZERO]),
            Decision::Fresh
        );
    }

    #[test]
    fn a_chain_cut_short_above_an_own_accept_is_unknown() {
        assert_eq!(
            decide(&[sent(3)], Some(b(9, 2)), &[b(9, 2), b(7, 3), b(5, 2)]),
            Decision::Unknown
        );
    }
}
