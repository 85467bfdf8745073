//! The coordinator's fast paths (docs/design.md, "Reads").
//!
//! - **One round trip for a repeated write.** Every Accept carries the
//!   Prepare of the coordinator's next ballot for the key (CASPaxos §2.2.1);
//!   each acceptor handles the Accept, then that Prepare, and answers both.
//!   The Promises collected are an ordinary phase 1, kept per key in a
//!   [`Cached`] entry: the next round for the key on this coordinator goes
//!   straight to Phase 2a if a quorum promised. Any Reject drops the entry;
//!   a rejected Accept falls back to two phases (the retry rules of
//!   `proposer.rs` hold as for any attempt). Entries are bounded in number
//!   (`promise_cache_max_keys`, oldest first) and age (`promise_cache_ttl_ms`).
//! - **Fast reads.** A round of plain GETs first sends `Read` to the replicas,
//!   which answer their accepted ballot, whether a Confirm marked it, and the
//!   value, without touching `promised` (!). If a quorum reports the same
//!   accepted ballot and each marks it confirmed, that value is chosen and no
//!   later one was chosen before the read began (Paxos Quorum Reads, Charapko
//!   et al. 2019); "nothing accepted" from a quorum reads as absent. Otherwise,
//!   or if the value has expired by our wall clock (its tombstone must be
//!   chosen first (!)), the round falls back to a full Paxos round.

use super::ballot::{Ballot, NodeId};
use super::command::{Command, Key, Value};
use super::config::DeliberateBug;
use super::housekeeping::SYSTEM_ID_BIT;
use super::keymap::{key_map, KeyMap};
use super::lineage::Lineage;
use super::message::Message;
use super::node::{Effects, Node, Outcome};
use super::proposer::Phase;
use super::recovery::REPAIR_ID_BIT;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// A phase 1 for the coordinator's next ballot of one key, collected from
/// the Promises that answered the Prepare piggybacked on its last Accept.
#[derive(Debug)]
pub(crate) struct Cached {
    /// The ballot prepared (`Ballot::ZERO`: spent or dropped).
    ballot: Ballot,
    /// The Accept that carried the Prepare: what an acceptor that accepted
    /// it and then promised reports (its Promise is folded into the Accepted).
    carrier: (Ballot, Value),
    /// Accepted ballot -> lineage of its value: the carrier's, and those
    /// the Promises of their own reported (lineage.rs).
    lineages: BTreeMap<Ballot, Lineage>,
    /// Replica -> its accepted (ballot, value), from Promises of their own.
    promises: BTreeMap<NodeId, Option<(Ballot, Value)>>,
    /// Replicas whose promise rode on their Accepted: each reports `carrier`
    /// (kept once, not per replica).
    folded: BTreeSet<NodeId>,
    /// When the Prepare was sent (µs, monotonic).
    sent_us: u64,
}

/// The cached phase 1s, one per key, bounded: every key of `entries` (live
/// or spent) appears once in `order`, oldest first. Kept apart from the
/// coordinator's rounds so that their map stays as small as the rounds in
/// flight.
#[derive(Debug, Default)]
pub(crate) struct PromiseCache {
    entries: KeyMap<Cached>,
    order: VecDeque<Key>,
    /// Keys and carried values held, for `promise_cache_max_bytes`.
    bytes: usize,
}

/// What one entry costs besides its value and the two copies of its key (in
/// `entries` and in `order`): the map node, the ballot pairs, the promise
/// sets and the allocator's rounding. Measured: a coordinator's RSS grew by
/// about 600 bytes per cached key of 14 bytes with a 100-byte value
/// (scripts/bench-memory.sh with the cache on and off, docs/bench/memory.md).
const CACHED_OVERHEAD_BYTES: usize = 480;

fn cached_bytes(key: &[u8], value: &Value) -> usize {
    CACHED_OVERHEAD_BYTES + 2 * key.len() + value.as_ref().map_or(0, |r| r.data.len())
}

impl PromiseCache {
    /// An empty cache whose map hashes with `seed`.
    pub(crate) fn new(seed: u64) -> PromiseCache {
        PromiseCache {
            entries: key_map(seed),
            ..PromiseCache::default()
        }
    }

    /// Keys with an entry, and the bytes they hold.
    pub(crate) fn size(&self) -> (usize, usize) {
        (self.entries.len(), self.bytes)
    }

    /// A restarted replica forgot its promises: its votes are void (!).
    pub(crate) fn forget_votes_of(&mut self, node: NodeId) {
        for c in self.entries.values_mut() {
            c.promises.remove(&node);
            c.folded.remove(&node);
        }
    }
}

/// Fast-read answers: replica -> (its accepted (ballot, value), confirmed).
pub(super) type ReadReplies = BTreeMap<NodeId, (Option<(Ballot, Value)>, bool)>;

/// What a fast read's answers so far decide.
#[derive(Debug, PartialEq, Eq)]
enum ReadVerdict {
    /// A quorum agrees on a confirmed ballot (or on nothing accepted): this value.
    Value(Value),
    /// More answers may still make a quorum.
    Wait,
    /// No quorum can agree: run a full round.
    FullRound,
}

/// The fast-read rule (!): a quorum of answers with the same accepted ballot,
/// each confirmed; "nothing accepted" needs no mark. `pending` answers may
/// still come. The deliberate bugs bend it.
fn read_verdict(
    replies: &ReadReplies,
    pending: usize,
    quorum: usize,
    bug: Option<DeliberateBug>,
) -> ReadVerdict {
    let highest = || {
        replies
            .values()
            .filter_map(|(a, _)| a.as_ref())
            .max_by_key(|(b, _)| *b)
            .and_then(|(_, v)| v.clone())
    };
    match bug {
        Some(DeliberateBug::ReadFromOneReplica) if !replies.is_empty() => {
            return ReadVerdict::Value(highest());
        }
        Some(DeliberateBug::FastReadTrustsUnconfirmed) if replies.len() >= quorum => {
            return ReadVerdict::Value(highest());
        }
        _ => {}
    }
    // Votes per accepted ballot, among answers that may count.
    let mut groups: BTreeMap<Option<Ballot>, usize> = BTreeMap::new();
    for (accepted, confirmed) in replies.values() {
        let ballot = accepted.as_ref().map(|(b, _)| *b);
        if ballot.is_none() || *confirmed {
            *groups.entry(ballot).or_default() += 1;
        }
    }
    if let Some((&ballot, _)) = groups.iter().find(|(_, &n)| n >= quorum) {
        let value = replies
            .values()
            .find_map(|(a, _)| a.as_ref().filter(|(b, _)| Some(*b) == ballot))
            .and_then(|(_, v)| v.clone());
        return ReadVerdict::Value(value);
    }
    let best = groups.values().copied().max().unwrap_or(0);
    if best + pending >= quorum {
        ReadVerdict::Wait
    } else {
        ReadVerdict::FullRound
    }
}

impl Node {
    /// The round just started for `key` may try a fast read: fast reads are
    /// on, and every request is a client GET (catch-up and system rounds
    /// need their full round).
    pub(super) fn fast_read_applies(&mut self, key: &[u8]) -> bool {
        // Not on the membership register (its quorum is of all members),
        // nor on a key moving in a membership change (joint quorums).
        if !self.cfg.fast_reads || key == super::membership::MEMBERSHIP_KEY || self.moving(key) {
            return false;
        }
        // Deliberate bug: catch-up rounds read fast too, skipping their Prepare.
        let skip = if self.cfg.bug == Some(super::config::DeliberateBug::RepairWithoutPrepare) {
            SYSTEM_ID_BIT
        } else {
            REPAIR_ID_BIT | SYSTEM_ID_BIT
        };
        let Some(round) = self.round_mut(key) else {
            return false;
        };
        round.attempts == 0
            && round
                .batch
                .iter()
                .all(|p| matches!(p.command, Command::Get) && p.id & skip == 0)
    }

    /// Fast read: `Read` to every replica; answers matched by a fresh ballot.
    pub(super) fn begin_read(&mut self, key: Key, out: &mut Effects) {
        let Some(ballot) = self.clock.next(self.cfg.node_id, self.incarnation) else {
            self.begin_attempt(key, out);
            return;
        };
        let now = self.now.mono_us;
        let Some(round) = self.round_mut(&key) else {
            return;
        };
        round.ballot = ballot;
        round.phase_started_us = now;
        round.phase = Phase::Reading {
            replies: BTreeMap::new(),
            refused: BTreeSet::new(),
        };
        let replicas = round.replicas.clone();
        // A value we hold (big enough to be worth it) is named by its
        // ballot: replicas that accepted that ballot answer without it.
        let len = self.held_len(&key);
        let held = match self.acceptor.slot(&key).and_then(|s| s.accepted.as_ref()) {
            Some((b, _)) if len >= self.cfg.elide_value_min_bytes => Some(*b),
            _ => None,
        };
        // Otherwise the ReadReplies carry the value: about as big as ours.
        let bytes = if held.is_some() {
            0
        } else {
            len * self.remote_count(&replicas)
        };
        self.arm_phase(&key, bytes);
        for r in replicas {
            self.send(
                r,
                Message::Read {
                    key: key.clone(),
                    ballot,
                    held,
                },
                out,
            );
        }
    }

    /// The value another answer to our read at `read` reported for ballot
    /// `b` (one value per ballot): an answer that left out b's value can
    /// take it from there when we no longer hold b ourselves.
    pub(super) fn value_read_at(&mut self, key: &[u8], read: Ballot, b: Ballot) -> Option<Value> {
        let round = self.round_mut(key).filter(|r| r.ballot == read)?;
        let Phase::Reading { replies, .. } = &round.phase else {
            return None;
        };
        replies.values().find_map(|(accepted, _)| match accepted {
            Some((ab, v)) if *ab == b => Some(v.clone()),
            _ => None,
        })
    }

    /// A replica's answer to our fast read.
    pub(crate) fn on_read_reply(
        &mut self,
        from: NodeId,
        key: Key,
        ballot: Ballot,
        accepted: Option<(Ballot, Value)>,
        confirmed: bool,
        out: &mut Effects,
    ) {
        let Some(round) = self.round_for(&key, ballot, from) else {
            log::debug!("ignore read reply {ballot} from {from}: no such read");
            return;
        };
        let Phase::Reading { replies, .. } = &mut round.phase else {
            return;
        };
        let len = match &accepted {
            Some((_, Some(r))) => r.data.len(),
            _ => 0,
        };
        replies.insert(from, (accepted, confirmed));
        let waiting = round.replicas.len().saturating_sub(replies.len());
        self.judge_read(key.clone(), out);
        // If the read goes on, the other replies are likely as big as this one.
        let same = self
            .round_mut(&key)
            .is_some_and(|r| r.ballot == ballot && matches!(r.phase, Phase::Reading { .. }));
        if same {
            self.extend_phase(&key, len * waiting);
        }
    }

    /// A replica refused our fast read (Nack: recovering, not a replica).
    pub(super) fn on_read_refusal(&mut self, from: NodeId, key: Key, out: &mut Effects) {
        let Some(round) = self.round_mut(&key) else {
            return;
        };
        let Phase::Reading { replies, refused } = &mut round.phase else {
            return;
        };
        if !replies.contains_key(&from) {
            refused.insert(from);
        }
        self.judge_read(key, out);
    }

    /// Ends the fast read if its answers decide it: with the value, or by
    /// falling back to a full round.
    fn judge_read(&mut self, key: Key, out: &mut Effects) {
        let quorum = self.quorum();
        let bug = self.cfg.bug;
        let now = self.now;
        let value_len_max = self.cfg.value_len_max_bytes;
        let Some(round) = self.round_mut(&key) else {
            return;
        };
        let Phase::Reading { replies, refused } = &round.phase else {
            return;
        };
        let pending = round.replicas.len() - replies.len() - refused.len();
        let value = match read_verdict(replies, pending, quorum, bug) {
            ReadVerdict::Wait => return,
            ReadVerdict::FullRound => {
                self.stats.fast_read_fallbacks += 1;
                self.begin_attempt(key, out);
                return;
            }
            ReadVerdict::Value(v) => v,
        };
        let sample_us = now.mono_us.saturating_sub(round.phase_started_us);
        // The tombstone must be chosen before anyone hears "absent" (!); the
        // deliberate bug answers "absent" at once.
        if value.as_ref().is_some_and(|r| r.is_expired(now.wall_ms))
            && bug != Some(DeliberateBug::ExpiredReadWithoutRound)
        {
            self.stats.fast_read_fallbacks += 1;
            self.begin_attempt(key, out);
            return;
        }
        let replies: Vec<_> = round
            .batch
            .iter()
            .map(|p| p.command.apply(&value, now.wall_ms, value_len_max).1)
            .collect();
        self.observe_rtt(sample_us);
        self.stats.fast_reads += 1;
        self.finish_round(key, |i| Outcome::Ok(replies[i].clone()), out);
    }

    /// Takes the cached phase 1 for the round just started on `key`, if a
    /// quorum promised and nothing says it is stale: the round is then in
    /// Phase 1 at the cached ballot with those Promises, ready for Phase 2a.
    pub(super) fn use_cached_promises(&mut self, key: &[u8]) -> bool {
        if key == super::membership::MEMBERSHIP_KEY || self.moving(key) {
            return false;
        }
        let quorum = self.quorum();
        let now_us = self.now.mono_us;
        let ttl_us = self.cfg.promise_cache_ttl_ms.saturating_mul(1_000);
        // Our own acceptor saw a higher Prepare since: another coordinator
        // took the key, and the cached ballot would only earn Rejects.
        let local_promise = (self.placement.is_replica(key, self.cfg.node_id)
            && self.votes_for(key))
        .then(|| self.acceptor.effective_promised(key));
        let Some(cache) = self.promise_cache.entries.get_mut(key) else {
            return false;
        };
        let ballot = std::mem::replace(&mut cache.ballot, Ballot::ZERO);
        let mut promises = std::mem::take(&mut cache.promises);
        let lineages = std::mem::take(&mut cache.lineages);
        for voter in std::mem::take(&mut cache.folded) {
            promises.insert(voter, Some(cache.carrier.clone()));
        }
        let fresh = now_us.saturating_sub(cache.sent_us) <= ttl_us;
        let unseen = local_promise.is_none_or(|p| p <= ballot);
        // Promises of peers whose link is down since do not make a quorum
        // for Phase 2: the two phases then fail cleanly ("not applied")
        // instead of an Accept that reaches only our own acceptor (unknown).
        let me = self.cfg.node_id;
        let live = promises
            .keys()
            .filter(|&&n| n == me || self.peers.get(&n).is_some_and(|p| p.up))
            .count();
        if ballot == Ballot::ZERO || live < quorum || !fresh || !unseen {
            return false;
        }
        let Some(round) = self.coords.get_mut(key).and_then(|c| c.round.as_mut()) else {
            return false;
        };
        // Catch-up rounds run their own Prepare after the restart (!).
        let repair = |id: u64| id & (REPAIR_ID_BIT | SYSTEM_ID_BIT) == REPAIR_ID_BIT;
        let bug = self.cfg.bug == Some(super::config::DeliberateBug::RepairWithoutPrepare);
        if !bug && round.batch.iter().any(|p| repair(p.id)) {
            return false;
        }
        round.ballot = ballot;
        round.attempts += 1;
        round.phase_started_us = now_us;
        round.phase = Phase::Preparing {
            promises,
            lineages,
            refused: BTreeSet::new(),
        };
        self.stats.fast_writes += 1;
        true
    }

    /// A Promise for no running round: record it if it answers the Prepare
    /// piggybacked on our last Accept for the key.
    pub(super) fn on_cached_promise(
        &mut self,
        from: NodeId,
        key: &[u8],
        ballot: Ballot,
        accepted: Option<(Ballot, Value)>,
        lineage: Lineage,
    ) {
        if !self.is_replica_now(key, from) {
            return;
        }
        match self.promise_cache.entries.get_mut(key) {
            Some(c) if c.ballot == ballot && ballot != Ballot::ZERO => {
                if let Some((b, _)) = &accepted {
                    if !lineage.is_empty() {
                        c.lineages.entry(*b).or_insert(lineage);
                    }
                }
                c.promises.insert(from, accepted);
            }
            _ => log::debug!("ignore promise {ballot} from {from}: no such round"),
        }
    }

    /// An Accepted saying its sender also promised our piggybacked Prepare:
    /// a Promise reporting the carrying Accept's (ballot, value).
    pub(crate) fn on_folded_promise(&mut self, from: NodeId, key: &[u8], accept_ballot: Ballot) {
        if !self.is_replica_now(key, from) {
            return;
        }
        match self.promise_cache.entries.get_mut(key) {
            Some(c) if c.carrier.0 == accept_ballot && c.ballot != Ballot::ZERO => {
                c.folded.insert(from);
            }
            _ => log::debug!("ignore folded promise after {accept_ballot} from {from}"),
        }
    }

    /// A Reject or Nack naming the cached ballot of `key`: drop the cache.
    pub(super) fn drop_cached_promises(&mut self, key: &[u8], ballot: Ballot) {
        if let Some(c) = self.promise_cache.entries.get_mut(key) {
            if c.ballot == ballot {
                c.ballot = Ballot::ZERO;
                c.promises.clear();
                c.folded.clear();
            }
        }
    }

    /// The ballot to prepare on the Accept being sent for `key`, recorded as
    /// the key's cache entry (None: piggybacking is off or the clock is spent).
    pub(super) fn piggyback_ballot(
        &mut self,
        key: &[u8],
        carrier: (Ballot, &Value),
        carrier_lineage: &Lineage,
    ) -> Option<Ballot> {
        if !self.cfg.piggyback_prepare {
            return None;
        }
        let ballot = self.clock.next(self.cfg.node_id, self.incarnation)?;
        let sent_us = self.now.mono_us;
        let (keys_max, bytes_max) = (
            self.cfg.promise_cache_max_keys,
            self.cfg.promise_cache_max_bytes,
        );
        let cost = cached_bytes(key, carrier.1);
        let cache = &mut self.promise_cache;
        if keys_max == 0 || cost > bytes_max {
            // Too big to cache: the old entry is spent (it keeps its bytes
            // and its place in `order`, so the two stay in step).
            if let Some(old) = cache.entries.get_mut(key) {
                old.ballot = Ballot::ZERO;
                old.promises.clear();
                old.folded.clear();
            }
            return None;
        }
        // An entry replaced keeps its place in `order` (no O(n) removal).
        let mut in_order = match cache.entries.remove(key) {
            Some(old) => {
                cache.bytes -= cached_bytes(key, &old.carrier.1);
                true
            }
            None => false,
        };
        // Make room by dropping the oldest entries.
        while cache.entries.len() >= keys_max || cache.bytes + cost > bytes_max {
            let Some(old) = cache.order.pop_front() else {
                break;
            };
            if old == key {
                in_order = false;
            } else if let Some(c) = cache.entries.remove(&old) {
                cache.bytes -= cached_bytes(&old, &c.carrier.1);
            }
        }
        if !in_order {
            cache.order.push_back(key.to_vec());
        }
        cache.bytes += cost;
        cache.entries.insert(
            key.to_vec(),
            Cached {
                ballot,
                carrier: (carrier.0, carrier.1.clone()),
                lineages: BTreeMap::from([(carrier.0, carrier_lineage.clone())]),
                promises: BTreeMap::new(),
                folded: BTreeSet::new(),
                sent_us,
            },
        );
        Some(ballot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::command::Record;

    fn b(round: u64) -> Ballot {
        Ballot::new(round, 1, 1)
    }
    /// (replica, accepted (round, value), confirmed).
    type Answer<'a> = (NodeId, Option<(u64, &'a str)>, bool);

    fn answers(list: &[Answer]) -> ReadReplies {
        list.iter()
            .map(|&(n, a, c)| (n, (a.map(|(r, v)| (b(r), Some(Record::new(v)))), c)))
            .collect()
    }
    fn value(s: &str) -> ReadVerdict {
        ReadVerdict::Value(Some(Record::new(s)))
    }

    #[test]
    fn a_quorum_on_one_confirmed_ballot_reads_its_value() {
        let r = answers(&[(1, Some((5, "x")), true), (2, Some((5, "x")), true)]);
        assert_eq!(read_verdict(&r, 1, 2, None), value("x"));
    }

    #[test]
    fn an_unconfirmed_answer_does_not_count() {
        let r = answers(&[(1, Some((5, "x")), true), (2, Some((5, "x")), false)]);
        assert_eq!(read_verdict(&r, 1, 2, None), ReadVerdict::Wait);
        assert_eq!(read_verdict(&r, 0, 2, None), ReadVerdict::FullRound);
    }

    #[test]
    fn different_ballots_fall_back_to_a_full_round() {
        let r = answers(&[
            (1, Some((5, "x")), true),
            (2, Some((6, "y")), true),
            (3, None, false),
        ]);
        assert_eq!(read_verdict(&r, 0, 2, None), ReadVerdict::FullRound);
    }

    #[test]
    fn a_quorum_with_nothing_accepted_reads_absent() {
        let r = answers(&[(1, None, false), (2, None, false)]);
        assert_eq!(read_verdict(&r, 1, 2, None), ReadVerdict::Value(None));
    }

    #[test]
    fn the_unconfirmed_bug_reads_a_minority_value() {
        let r = answers(&[(1, Some((6, "new")), false), (2, Some((5, "old")), true)]);
        assert_eq!(read_verdict(&r, 0, 2, None), ReadVerdict::FullRound);
        assert_eq!(
            read_verdict(&r, 0, 2, Some(DeliberateBug::FastReadTrustsUnconfirmed)),
            value("new")
        );
    }
}
