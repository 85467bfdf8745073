//! The acceptor: per-key promised / accepted / confirmed state and the rules of
//! Phases 1b and 2b ("Paxos Made Simple", §2.2), plus Confirm (CASPaxos).
//!
//! A node-wide `floor` stands for every key the acceptor holds no state for:
//! such a key behaves as if promised = floor, accepted = none. The effective
//! promise of a key is `max(promised, floor)` and never decreases within an
//! incarnation. Forgetting a key ([`Acceptor::forget`]) first raises the
//! floor to the key's promise (!), so the rule survives the forgetting.
//!
//! The acceptor also keeps the figures a cache needs: bytes used (keys,
//! values and per-key overhead, tombstones included), live keys, and per-key
//! access recency and frequency for eviction. Every replica sees every round
//! on its keys (Prepare or Accept), so these count all accesses, not just the
//! ones this node coordinated.

use super::ballot::Ballot;
use super::command::{Key, Value};
use super::config::DeliberateBug;
use super::message::Message;
use std::collections::BTreeMap;

// The acceptor lab (docs/labs/acceptor.md): with `--features lab-acceptor`,
// the student's Phase 1b, Phase 2b and Confirm, from the file named by the
// SYNOD_LAB_ACCEPTOR environment variable at build time (scripts/lab-grade.sh
// sets it), replace the three marked `cfg(not(feature = "lab-acceptor"))`
// below. A child module: it sees the acceptor's private fields, as this file
// does. Default builds never compile it.
#[cfg(feature = "lab-acceptor")]
mod lab {
    include!(env!("SYNOD_LAB_ACCEPTOR"));
}

/// What one acceptor remembers about one key.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Slot {
    /// The highest ballot promised (Phase 1b) or accepted (Phase 2b).
    pub promised: Ballot,
    /// The last accepted (ballot, value).
    pub accepted: Option<(Ballot, Value)>,
    /// True once a Confirm named exactly the accepted ballot: the value is chosen.
    pub confirmed: bool,
    /// Last access, in ms of the node's monotonic clock (wrapping): for LRU.
    pub last_access_ms: u32,
    /// Logarithmic access counter, as Redis's LFU (starts at 5): for LFU.
    pub lfu: u8,
}

/// Bytes a key costs beyond its key and value bytes: the slot, the map
/// entry's share of tree nodes, the vectors' headers and the allocator's
/// rounding. Measured with `scripts/bench-memory.sh`: a replica's RSS grows by
/// 226 (random order) to 259 (key order) bytes per key beyond key and value
/// (docs/bench/memory.md), so the cap bounds what the process really holds.
pub const SLOT_OVERHEAD_BYTES: u64 = 256;

/// Redis's initial LFU counter: new keys are not evicted first at once.
const LFU_INIT: u8 = 5;

impl Slot {
    /// What the slot costs in memory, with its key.
    fn cost(&self, key: &[u8]) -> u64 {
        let value = match &self.accepted {
            Some((_, Some(r))) => r.data.len() as u64,
            _ => 0,
        };
        SLOT_OVERHEAD_BYTES + key.len() as u64 + value
    }

    /// True if the accepted value is a live value (not a tombstone).
    pub fn holds_value(&self) -> bool {
        matches!(self.accepted, Some((_, Some(_))))
    }

    /// True unless the slot holds only a promise or a confirmed tombstone:
    /// what a cluster listing must return.
    pub fn may_be_live(&self) -> bool {
        match &self.accepted {
            Some((_, Some(_))) => true,
            Some((_, None)) => !self.confirmed,
            None => false,
        }
    }
}

/// The acceptor half of a node.
#[derive(Clone, Debug, Default)]
pub struct Acceptor {
    slots: BTreeMap<Key, Slot>,
    floor: Ballot,
    /// The highest ballot ever promised or accepted, or the floor: reported to
    /// a restarted peer, which raises its own floor above it before voting.
    max_ballot: Ballot,
    /// Sum of the slots' costs.
    bytes: u64,
    /// Slots holding a live value.
    live: u64,
    /// Sum of the costs of the slots holding a live value: what eviction
    /// can free. The rest (tombstones, bare promises) goes by itself.
    live_bytes: u64,
    bug: Option<DeliberateBug>,
    /// With the fast-read-on-confirmed-field bug only: the last (ballot,
    /// value) a Confirm marked, per key.
    last_confirmed: BTreeMap<Key, (Ballot, Value)>,
}

impl Acceptor {
    /// An empty acceptor; `bug` breaks one rule on purpose (simulator only).
    pub fn new(bug: Option<DeliberateBug>) -> Acceptor {
        Acceptor {
            slots: BTreeMap::new(),
            floor: Ballot::ZERO,
            max_ballot: Ballot::ZERO,
            bytes: 0,
            live: 0,
            live_bytes: 0,
            bug,
            last_confirmed: BTreeMap::new(),
        }
    }

    /// Bytes used by keys, values and per-key overhead (tombstones included).
    pub fn bytes_used(&self) -> u64 {
        self.bytes
    }

    /// Keys holding a live value (tombstones excluded; expired values not yet
    /// swept included).
    pub fn live_keys(&self) -> u64 {
        self.live
    }

    /// Bytes of the slots holding a live value (tombstones and bare
    /// promises excluded): what eviction can free.
    pub fn live_bytes(&self) -> u64 {
        self.live_bytes
    }

    /// Runs `change` on the slot of `key` (created if absent), keeping the
    /// byte and key counts right.
    fn with_slot<R>(&mut self, key: &[u8], change: impl FnOnce(&mut Slot) -> R) -> R {
        let (before, was_live, slot) = match self.slots.get_mut(key) {
            Some(slot) => (slot.cost(key), slot.holds_value(), slot),
            None => {
                let slot = self.slots.entry(key.to_vec()).or_insert(Slot {
                    lfu: LFU_INIT,
                    ..Slot::default()
                });
                (0, false, slot)
            }
        };
        let r = change(slot);
        let after = slot.cost(key);
        let is_live = slot.holds_value();
        self.bytes = self.bytes - before + after;
        self.live = self.live + is_live as u64 - was_live as u64;
        self.live_bytes =
            self.live_bytes + if is_live { after } else { 0 } - if was_live { before } else { 0 };
        r
    }

    /// Records an access to `key` at `now_ms` (monotonic ms): recency for LRU,
    /// and Redis's probabilistic logarithmic counter for LFU (`coin` in 0..1
    /// is the caller's random draw, so the core stays deterministic).
    pub fn touch(&mut self, key: &[u8], now_ms: u32, coin: f64) {
        let Some(slot) = self.slots.get_mut(key) else {
            return;
        };
        let idle_min = now_ms.wrapping_sub(slot.last_access_ms) / 60_000;
        slot.lfu = slot.lfu.saturating_sub(idle_min.min(255) as u8);
        let base = slot.lfu.saturating_sub(LFU_INIT) as f64;
        if slot.lfu < 255 && coin < 1.0 / (base * 10.0 + 1.0) {
            slot.lfu += 1;
        }
        slot.last_access_ms = now_ms;
    }

    /// Forgets `key` entirely, after raising the floor to its promise (!): the
    /// effective promise of the key then stays where it was. Returns false if
    /// the key had no state.
    pub fn forget(&mut self, key: &[u8]) -> bool {
        let Some(slot) = self.slots.remove(key) else {
            return false;
        };
        // Deliberate bugs: forget without the floor, or with the floor at the
        // accepted ballot, so the promise goes backwards.
        match self.bug {
            Some(DeliberateBug::DropTombstoneWithoutFloor) => {}
            Some(DeliberateBug::FloorFromAccepted) => {
                self.raise_floor(slot.accepted.as_ref().map_or(Ballot::ZERO, |a| a.0))
            }
            _ => self.raise_floor(slot.promised),
        }
        self.last_confirmed.remove(key);
        self.bytes -= slot.cost(key);
        self.live -= slot.holds_value() as u64;
        if slot.holds_value() {
            self.live_bytes -= slot.cost(key);
        }
        true
    }

    /// The slot after `after` (exclusive), wrapping to the first: for
    /// housekeeping passes that walk the keys a bounded step at a time.
    pub fn next_slot(&self, after: Option<&[u8]>) -> Option<(&Key, &Slot)> {
        use std::ops::Bound::{Excluded, Unbounded};
        let start = match after {
            Some(k) => Excluded(k),
            None => Unbounded,
        };
        self.slots
            .range::<[u8], _>((start, Unbounded))
            .next()
            .or_else(|| self.slots.iter().next())
    }

    /// The highest of the floor and every ballot promised or accepted.
    pub fn max_ballot(&self) -> Ballot {
        self.max_ballot
    }

    /// Raises the node-wide floor to at least `ballot` (never lowers it).
    pub fn raise_floor(&mut self, ballot: Ballot) {
        self.floor = self.floor.max(ballot);
        self.max_ballot = self.max_ballot.max(self.floor);
    }

    /// One page of catch-up listing: keys after `after` (exclusive) for which
    /// `wanted` holds, at most `keys_max` of them, examining at most
    /// `scan_max` slots. Returns the keys and where the next page starts
    /// (None: nothing is left).
    pub fn list_keys(
        &self,
        after: Option<&[u8]>,
        wanted: impl Fn(&[u8]) -> bool,
        keys_max: usize,
        scan_max: usize,
    ) -> (Vec<Key>, Option<Key>) {
        use std::ops::Bound::{Excluded, Unbounded};
        let start = match after {
            Some(k) => Excluded(k),
            None => Unbounded,
        };
        let mut keys = Vec::new();
        let mut last: Option<&Key> = None;
        for (scanned, (k, _)) in self.slots.range::<[u8], _>((start, Unbounded)).enumerate() {
            if keys.len() >= keys_max || scanned >= scan_max {
                return (keys, last.cloned());
            }
            if wanted(k) {
                keys.push(k.clone());
            }
            last = Some(k);
        }
        (keys, None)
    }

    /// One page of a cluster listing: keys after `after` (exclusive) that may
    /// be live, at most `keys_max`, examining at most `scan_max` slots.
    /// Returns the keys and where this acceptor stopped (None: nothing is
    /// left after the page).
    ///
    /// A key may be live unless its accepted value is a confirmed (chosen)
    /// tombstone or it holds only a promise. An unconfirmed tombstone is
    /// listed: it may have landed on a minority only, while the live value
    /// below it is still the chosen one (the listing's guarantee, in
    /// core/listing.rs, rests on this; the command layer reads each key).
    pub fn list_live_keys(
        &self,
        after: Option<&[u8]>,
        keys_max: usize,
        scan_max: usize,
    ) -> (Vec<Key>, Option<Key>) {
        use std::ops::Bound::{Excluded, Unbounded};
        let start = match after {
            Some(k) => Excluded(k),
            None => Unbounded,
        };
        let mut keys = Vec::new();
        let mut last: Option<&Key> = None;
        for (scanned, (k, slot)) in self.slots.range::<[u8], _>((start, Unbounded)).enumerate() {
            if keys.len() >= keys_max || scanned >= scan_max {
                return (keys, last.cloned());
            }
            // Deliberate bug: list live values only, as before issue 13.
            let listed = if self.bug == Some(DeliberateBug::ListingSkipsUnconfirmedTombstones) {
                slot.holds_value()
            } else {
                slot.may_be_live()
            };
            // The membership register is the cluster's, not a client's key.
            if listed && k.as_slice() != super::membership::MEMBERSHIP_KEY {
                keys.push(k.clone());
            }
            last = Some(k);
        }
        (keys, None)
    }

    /// The node-wide floor.
    pub fn floor(&self) -> Ballot {
        self.floor
    }

    /// The state held for `key`, if any.
    pub fn slot(&self, key: &[u8]) -> Option<&Slot> {
        self.slots.get(key)
    }

    /// Every key with state, in key order.
    pub fn slots(&self) -> impl Iterator<Item = (&Key, &Slot)> {
        self.slots.iter()
    }

    /// Number of keys with state (tombstones included).
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// True if no key has state.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// max(promised, floor): the promise this acceptor keeps for `key`.
    pub fn effective_promised(&self, key: &[u8]) -> Ballot {
        match self.slots.get(key) {
            Some(s) => s.promised.max(self.floor),
            None => self.floor,
        }
    }

    /// `a` outranks `b`. With the tie-break bug, rounds alone are compared.
    fn above(&self, a: Ballot, b: Ballot) -> bool {
        if self.bug == Some(DeliberateBug::NoBallotTieBreak) {
            return a.round > b.round;
        }
        a > b
    }

    /// Phase 1b may promise `ballot` over `promised`. With the tie-break bug,
    /// rounds alone are compared, so a Prepare of the promised round reads as a
    /// retransmission and is promised again: two coordinators that picked the
    /// same round both win Phase 1 (and, by `above`, Phase 2).
    fn may_promise(&self, ballot: Ballot, promised: Ballot) -> bool {
        if self.bug == Some(DeliberateBug::NoBallotTieBreak) {
            return ballot.round >= promised.round;
        }
        self.above(ballot, promised)
    }

    /// Phase 1b: promise `ballot` if it is above every promise, else Reject.
    #[cfg(not(feature = "lab-acceptor"))]
    pub fn on_prepare(&mut self, key: &[u8], ballot: Ballot) -> Message {
        let promised = self.effective_promised(key);
        if !self.may_promise(ballot, promised) {
            log::debug!("reject prepare {ballot}: promised {promised}");
            return Message::Reject {
                key: key.to_vec(),
                ballot,
                promised,
            };
        }
        self.max_ballot = self.max_ballot.max(ballot);
        self.with_slot(key, |slot| {
            slot.promised = ballot;
            Message::Promise {
                key: key.to_vec(),
                ballot,
                accepted: slot.accepted.clone(),
                confirmed: slot.confirmed,
                crash_vector: Vec::new(),
                lineage: Vec::new(),
            }
        })
    }

    /// The Prepare piggybacked on an Accept (CASPaxos §2.2.1): Phase 1b as
    /// [`Acceptor::on_prepare`]. With the piggyback bug, the Promise is
    /// answered but not kept: `promised` stays where the Accept left it.
    pub fn on_piggybacked_prepare(&mut self, key: &[u8], ballot: Ballot) -> Message {
        if self.bug != Some(DeliberateBug::PiggybackPromiseNotKept) {
            return self.on_prepare(key, ballot);
        }
        let promised = self.effective_promised(key);
        let slot = self.slots.get(key);
        if !self.may_promise(ballot, promised) || slot.is_none() {
            return self.on_prepare(key, ballot);
        }
        let slot = slot.expect("checked above");
        Message::Promise {
            key: key.to_vec(),
            ballot,
            accepted: slot.accepted.clone(),
            confirmed: slot.confirmed,
            crash_vector: Vec::new(),
            lineage: Vec::new(),
        }
    }

    /// Fast read: the accepted (ballot, value) and whether it is confirmed.
    /// Touches nothing: a read that raised `promised` would duel with writes (!).
    pub fn read(&self, key: &[u8]) -> (Option<(Ballot, Value)>, bool) {
        match self.slots.get(key) {
            // Deliberate bug: answer the last confirmed value, not the accepted one.
            Some(s) if !s.confirmed && self.last_confirmed.contains_key(key) => {
                (self.last_confirmed.get(key).cloned(), true)
            }
            Some(s) => (s.accepted.clone(), s.confirmed),
            None => (None, false),
        }
    }

    /// With the fast-read-on-confirmed-field bug: remembers the accepted
    /// value of `key` as its "last confirmed" one once a Confirm marked it.
    pub fn note_confirmed(&mut self, key: &[u8]) {
        if self.bug != Some(DeliberateBug::FastReadOnConfirmedField) {
            return;
        }
        if let Some(Slot {
            accepted: Some(a),
            confirmed: true,
            ..
        }) = self.slots.get(key)
        {
            self.last_confirmed.insert(key.to_vec(), a.clone());
        }
    }

    /// Phase 2b: accept `value` at `ballot` unless a higher ballot was promised.
    #[cfg(not(feature = "lab-acceptor"))]
    pub fn on_accept(&mut self, key: &[u8], ballot: Ballot, value: Value) -> Message {
        let promised = self.effective_promised(key);
        if self.above(promised, ballot) {
            log::debug!("reject accept {ballot}: promised {promised}");
            return Message::Reject {
                key: key.to_vec(),
                ballot,
                promised,
            };
        }
        self.max_ballot = self.max_ballot.max(ballot);
        self.with_slot(key, |slot| {
            slot.promised = slot.promised.max(ballot);
            slot.accepted = Some((ballot, value));
            slot.confirmed = false;
        });
        Message::Accepted {
            key: key.to_vec(),
            ballot,
            crash_vector: Vec::new(),
            next_promised: false,
        }
    }

    /// A learner's install: `value` was chosen at `ballot` (a quorum of other
    /// replicas accepted it). Used by a recovering node, which does not vote:
    /// it ends up holding exactly what an acceptor of that round would hold.
    pub fn learn(&mut self, key: &[u8], ballot: Ballot, value: Value) {
        self.max_ballot = self.max_ballot.max(ballot);
        self.with_slot(key, |slot| {
            if slot.accepted.as_ref().is_some_and(|(b, _)| *b >= ballot) {
                return;
            }
            slot.promised = slot.promised.max(ballot);
            slot.accepted = Some((ballot, value));
            slot.confirmed = true;
        });
    }

    /// The bytes an Accept of `value` for `key` would add (0 if it frees some).
    pub fn growth(&self, key: &[u8], value: &Value) -> u64 {
        let now = self.slots.get(key).map_or(0, |s| s.cost(key));
        let data = value.as_ref().map_or(0, |r| r.data.len() as u64);
        (SLOT_OVERHEAD_BYTES + key.len() as u64 + data).saturating_sub(now)
    }

    /// Confirm: mark the value chosen, only if the accepted ballot is the one named (!).
    ///
    /// A Confirm for an older ballot arriving after a newer Accept must not mark
    /// the newer, possibly unchosen, value as confirmed: fast reads trust the mark.
    #[cfg(not(feature = "lab-acceptor"))]
    pub fn on_confirm(&mut self, key: &[u8], ballot: Ballot) {
        let bug = self.bug == Some(DeliberateBug::ConfirmWithoutMatchingBallot);
        if let Some(slot) = self.slots.get_mut(key) {
            match &slot.accepted {
                Some((b, _)) if *b == ballot || bug => slot.confirmed = true,
                _ => log::debug!("ignore confirm {ballot}: accepted is another ballot"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(round: u64, node: u32) -> Ballot {
        Ballot::new(round, node, 1)
    }
    fn val(s: &str) -> Value {
        Some(crate::core::command::Record::new(s.as_bytes()))
    }
    const K: &[u8] = b"k";

    #[test]
    fn a_slot_fits_88_bytes() {
        // 11 slots and keys per B-tree leaf: at 88 bytes a leaf fits a
        // 1,264-byte allocation, at 96 it took 1,344 (docs/bench/memory.md).
        assert!(
            std::mem::size_of::<Slot>() <= 88,
            "{}",
            std::mem::size_of::<Slot>()
        );
    }

    #[test]
    fn promises_a_higher_ballot_with_nothing_accepted() {
        let mut a = Acceptor::new(None);
        assert_eq!(
            a.on_prepare(K, b(1, 1)),
            Message::Promise {
                key: K.to_vec(),
                ballot: b(1, 1),
                accepted: None,
                confirmed: false,
                crash_vector: vec![],
                lineage: vec![],
            }
        );
        assert_eq!(a.effective_promised(K), b(1, 1));
    }

    #[test]
    fn rejects_a_prepare_at_or_below_its_promise_naming_the_promise() {
        let mut a = Acceptor::new(None);
        a.on_prepare(K, b(5, 2));
        for lower in [b(5, 2), b(5, 1), b(4, 9)] {
            assert_eq!(
                a.on_prepare(K, lower),
                Message::Reject {
                    key: K.to_vec(),
                    ballot: lower,
                    promised: b(5, 2)
                }
            );
        }
        assert_eq!(a.effective_promised(K), b(5, 2));
    }

    #[test]
    fn ties_on_round_are_broken_by_node_id() {
        let mut a = Acceptor::new(None);
        a.on_prepare(K, b(5, 1));
        let m = a.on_prepare(K, b(5, 2));
        assert!(
            matches!(m, Message::Promise { .. }),
            "Prepare 5.2 after 5.1: {m:?}"
        );
        let m = a.on_prepare(K, b(5, 1));
        assert!(
            matches!(m, Message::Reject { .. }),
            "Prepare 5.1 after 5.2: {m:?}"
        );
    }

    #[test]
    fn tie_break_bug_lets_two_coordinators_share_a_round() {
        let mut a = Acceptor::new(Some(DeliberateBug::NoBallotTieBreak));
        a.on_prepare(K, b(5, 2));
        assert!(matches!(
            a.on_accept(K, b(5, 1), val("x")),
            Message::Accepted { .. }
        ));
    }

    #[test]
    fn tie_break_bug_lets_two_coordinators_both_win_phase_one() {
        let mut a = Acceptor::new(Some(DeliberateBug::NoBallotTieBreak));
        a.on_prepare(K, b(5, 2));
        assert!(matches!(a.on_prepare(K, b(5, 1)), Message::Promise { .. }));
        assert!(matches!(a.on_prepare(K, b(4, 3)), Message::Reject { .. }));
    }

    #[test]
    fn accepts_at_or_above_its_promise() {
        let mut a = Acceptor::new(None);
        a.on_prepare(K, b(3, 1));
        assert_eq!(
            a.on_accept(K, b(3, 1), val("x")),
            Message::Accepted {
                key: K.to_vec(),
                ballot: b(3, 1),
                crash_vector: vec![],
                next_promised: false,
            }
        );
        assert_eq!(
            a.on_accept(K, b(4, 2), val("y")),
            Message::Accepted {
                key: K.to_vec(),
                ballot: b(4, 2),
                crash_vector: vec![],
                next_promised: false,
            }
        );
        let s = a.slot(K).unwrap();
        assert_eq!(s.accepted, Some((b(4, 2), val("y"))));
        assert_eq!(s.promised, b(4, 2));
    }

    #[test]
    fn rejects_an_accept_below_its_promise() {
        let mut a = Acceptor::new(None);
        a.on_prepare(K, b(3, 2));
        assert_eq!(
            a.on_accept(K, b(3, 1), val("x")),
            Message::Reject {
                key: K.to_vec(),
                ballot: b(3, 1),
                promised: b(3, 2)
            }
        );
        assert_eq!(a.slot(K).unwrap().accepted, None);
    }

    #[test]
    fn promise_reports_the_accepted_value() {
        let mut a = Acceptor::new(None);
        a.on_accept(K, b(1, 1), val("x"));
        a.on_confirm(K, b(1, 1));
        assert_eq!(
            a.on_prepare(K, b(2, 2)),
            Message::Promise {
                key: K.to_vec(),
                ballot: b(2, 2),
                accepted: Some((b(1, 1), val("x"))),
                confirmed: true,
                crash_vector: vec![],
                lineage: vec![],
            }
        );
    }

    #[test]
    fn confirm_marks_only_a_matching_ballot() {
        let mut a = Acceptor::new(None);
        a.on_accept(K, b(2, 1), val("new"));
        a.on_confirm(K, b(1, 1)); // late Confirm of an older round
        let s = a.slot(K).unwrap();
        assert!(
            !s.confirmed,
            "Confirm 1.1 marked the value accepted at 2.1: {s:?}"
        );
        a.on_confirm(K, b(2, 1));
        let s = a.slot(K).unwrap();
        assert!(
            s.confirmed,
            "Confirm 2.1 did not mark the value accepted at 2.1: {s:?}"
        );
        a.on_accept(K, b(3, 1), val("newer"));
        let s = a.slot(K).unwrap();
        assert!(!s.confirmed, "a new Accept must clear confirmed: {s:?}");
    }

    #[test]
    fn confirm_bug_marks_any_ballot() {
        let mut a = Acceptor::new(Some(DeliberateBug::ConfirmWithoutMatchingBallot));
        a.on_accept(K, b(2, 1), val("new"));
        a.on_confirm(K, b(1, 1));
        assert!(a.slot(K).unwrap().confirmed);
    }

    #[test]
    fn the_floor_stands_for_keys_without_state_and_only_rises() {
        let mut a = Acceptor::new(None);
        a.raise_floor(b(7, 2));
        a.raise_floor(b(3, 1));
        assert_eq!(a.floor(), b(7, 2));
        let m = a.on_prepare(K, b(7, 1));
        assert!(
            matches!(m, Message::Reject { promised, .. } if promised == b(7, 2)),
            "Prepare 7.1 under floor 7.2: {m:?}"
        );
        let m = a.on_accept(K, b(6, 9), val("x"));
        assert!(
            matches!(m, Message::Reject { .. }),
            "Accept 6.9 under floor 7.2: {m:?}"
        );
        let m = a.on_prepare(K, b(8, 1));
        assert!(
            matches!(m, Message::Promise { .. }),
            "Prepare 8.1 over floor 7.2: {m:?}"
        );
        assert_eq!(a.max_ballot(), b(8, 1));
    }

    #[test]
    fn listing_pages_are_bounded_and_resume_after_the_cursor() {
        let mut a = Acceptor::new(None);
        for k in ["a", "b", "c", "d", "e"] {
            a.on_prepare(k.as_bytes(), b(1, 1));
        }
        let vowel = |k: &[u8]| k == b"a" || k == b"e";
        assert_eq!(
            a.list_keys(None, |_| true, 2, 100),
            (vec![b"a".to_vec(), b"b".to_vec()], Some(b"b".to_vec()))
        );
        assert_eq!(
            a.list_keys(Some(b"b"), |_| true, 2, 100),
            (vec![b"c".to_vec(), b"d".to_vec()], Some(b"d".to_vec()))
        );
        assert_eq!(
            a.list_keys(Some(b"d"), |_| true, 2, 100),
            (vec![b"e".to_vec()], None)
        );
        // A scan bound cuts a page short even when few keys match.
        assert_eq!(
            a.list_keys(None, vowel, 10, 3),
            (vec![b"a".to_vec()], Some(b"c".to_vec()))
        );
        assert_eq!(
            a.list_keys(Some(b"c"), vowel, 10, 3),
            (vec![b"e".to_vec()], None)
        );
    }

    #[test]
    fn a_live_listing_skips_chosen_tombstones_and_bare_promises() {
        let mut a = Acceptor::new(None);
        a.on_accept(b"a", b(1, 1), val("x"));
        a.on_accept(b"b", b(1, 1), None);
        a.on_confirm(b"b", b(1, 1));
        a.on_prepare(b"c", b(1, 1));
        a.on_accept(b"d", b(1, 1), val("y"));
        a.on_accept(b"e", b(1, 1), val("z"));
        // An unconfirmed tombstone may sit above a live chosen value: listed.
        a.on_accept(b"f", b(1, 1), None);
        assert_eq!(
            a.list_live_keys(None, 10, 100),
            (
                vec![b"a".to_vec(), b"d".to_vec(), b"e".to_vec(), b"f".to_vec()],
                None
            )
        );
        assert_eq!(
            a.list_live_keys(None, 2, 100),
            (vec![b"a".to_vec(), b"d".to_vec()], Some(b"d".to_vec()))
        );
        // The scan bound stops at the last slot examined, listed or not.
        assert_eq!(
            a.list_live_keys(Some(b"a"), 10, 2),
            (vec![], Some(b"c".to_vec()))
        );
    }

    #[test]
    fn a_learner_install_never_moves_backwards() {
        let mut a = Acceptor::new(None);
        a.learn(K, b(5, 2), val("v5"));
        let s = a.slot(K).unwrap();
        assert_eq!(
            (s.promised, &s.accepted, s.confirmed),
            (b(5, 2), &Some((b(5, 2), val("v5"))), true)
        );
        a.learn(K, b(4, 1), val("older"));
        assert_eq!(a.slot(K).unwrap().accepted, Some((b(5, 2), val("v5"))));
        let m = a.on_prepare(K, b(5, 1));
        assert!(
            matches!(m, Message::Reject { .. }),
            "Prepare 5.1 after learning 5.2: {m:?}"
        );
    }

    #[test]
    fn confirm_for_an_unknown_key_creates_no_state() {
        let mut a = Acceptor::new(None);
        a.on_confirm(K, b(1, 1));
        assert!(a.is_empty(), "a Confirm created state: {:?}", a.slot(K));
    }
}
