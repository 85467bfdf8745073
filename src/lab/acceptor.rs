//! LAB: write the acceptor yourself. Built only with `--features lab`, in
//! place of src/core/acceptor.rs (same interface; see docs/exercises/lab.md).
//! Grade it with `scripts/lab-grade.sh`. The default build never compiles
//! this file; the runtime and the simulator use src/core/acceptor.rs.
//!
//! Three rules are yours, marked `todo!()`: Phase 1b (`on_prepare`), Phase 2b
//! (`on_accept`) and Confirm (`on_confirm`). Everything else (byte counting,
//! listing, forgetting, learning) is given, as in the real acceptor.
//!
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
    /// Unused in the lab: deliberate bugs live in the real acceptor.
    #[allow(dead_code)]
    bug: Option<DeliberateBug>,
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
            bug,
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
        self.raise_floor(slot.promised);
        self.bytes -= slot.cost(key);
        self.live -= slot.holds_value() as u64;
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
            if slot.may_be_live() {
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

    /// Phase 1b: promise `ballot` if it is above every promise, else Reject.
    pub fn on_prepare(&mut self, key: &[u8], ballot: Ballot) -> Message {
        // Phase 1b. If `ballot` is above the effective promise
        // (`self.effective_promised(key)`: max of the key's promise and the
        // floor), raise `self.max_ballot`, set the key's `promised` to `ballot`
        // (use `self.with_slot`, which keeps the byte counts right) and answer
        // `Message::Promise` with the slot's accepted (ballot, value) and
        // confirmed mark (and an empty crash_vector: the node fills it in).
        // Otherwise answer `Message::Reject` naming the effective promise.
        // Compare whole ballots: (round, node, incarnation).
        let _ = (key, ballot);
        todo!("Phase 1b: promise or reject")
    }

    /// The Prepare piggybacked on an Accept (CASPaxos §2.2.1, the one-round-trip
    /// write): exactly Phase 1b. Given: once `on_prepare` is right, so is this.
    pub fn on_piggybacked_prepare(&mut self, key: &[u8], ballot: Ballot) -> Message {
        self.on_prepare(key, ballot)
    }

    /// Fast read: the accepted (ballot, value) and whether it is confirmed.
    /// Given, and it touches nothing: a read that raised `promised` would duel
    /// with writes (!). The fast read trusts your `on_confirm`'s mark.
    pub fn read(&self, key: &[u8]) -> (Option<(Ballot, Value)>, bool) {
        match self.slots.get(key) {
            Some(s) => (s.accepted.clone(), s.confirmed),
            None => (None, false),
        }
    }

    /// Phase 2b: accept `value` at `ballot` unless a higher ballot was promised.
    pub fn on_accept(&mut self, key: &[u8], ballot: Ballot, value: Value) -> Message {
        // Phase 2b. Reject (naming the effective promise) only if a HIGHER
        // ballot was promised: an Accept at exactly the promised ballot is the
        // coordinator that won Phase 1. Else raise `self.max_ballot`; in the
        // slot set promised = max(promised, ballot), accepted = (ballot, value),
        // confirmed = false; answer `Message::Accepted` (empty crash_vector,
        // `next_promised: false`: the node sets it when a piggybacked
        // Prepare, handled next by `on_piggybacked_prepare`, is promised too).
        let _ = (key, ballot, value);
        todo!("Phase 2b: accept or reject")
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
    pub fn on_confirm(&mut self, key: &[u8], ballot: Ballot) {
        // Mark the key's value confirmed only if its accepted ballot is exactly
        // `ballot`. A key without state stays without state.
        let _ = (key, ballot);
        todo!("Confirm: mark only a matching ballot")
    }
}

#[cfg(test)]
mod tests {
    //! The project's acceptor unit tests (src/core/acceptor.rs), less the
    //! deliberate-bug ones: the grader runs them against your acceptor.

    use super::*;

    fn b(round: u64, node: u32) -> Ballot {
        Ballot::new(round, node, 1)
    }
    fn val(s: &str) -> Value {
        Some(crate::core::command::Record::new(s.as_bytes()))
    }
    const K: &[u8] = b"k";

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
        assert!(matches!(a.on_prepare(K, b(5, 2)), Message::Promise { .. }));
        assert!(matches!(a.on_prepare(K, b(5, 1)), Message::Reject { .. }));
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
            }
        );
    }

    #[test]
    fn confirm_marks_only_a_matching_ballot() {
        let mut a = Acceptor::new(None);
        a.on_accept(K, b(2, 1), val("new"));
        a.on_confirm(K, b(1, 1)); // late Confirm of an older round
        assert!(!a.slot(K).unwrap().confirmed);
        a.on_confirm(K, b(2, 1));
        assert!(a.slot(K).unwrap().confirmed);
        a.on_accept(K, b(3, 1), val("newer"));
        assert!(
            !a.slot(K).unwrap().confirmed,
            "a new accept clears confirmed"
        );
    }

    #[test]
    fn the_floor_stands_for_keys_without_state_and_only_rises() {
        let mut a = Acceptor::new(None);
        a.raise_floor(b(7, 2));
        a.raise_floor(b(3, 1));
        assert_eq!(a.floor(), b(7, 2));
        assert!(
            matches!(a.on_prepare(K, b(7, 1)), Message::Reject { promised, .. } if promised == b(7, 2))
        );
        assert!(matches!(
            a.on_accept(K, b(6, 9), val("x")),
            Message::Reject { .. }
        ));
        assert!(matches!(a.on_prepare(K, b(8, 1)), Message::Promise { .. }));
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
        assert!(matches!(a.on_prepare(K, b(5, 1)), Message::Reject { .. }));
    }

    #[test]
    fn confirm_for_an_unknown_key_creates_no_state() {
        let mut a = Acceptor::new(None);
        a.on_confirm(K, b(1, 1));
        assert!(a.is_empty());
    }
}
