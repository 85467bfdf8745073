//! Lineage: which changes built a value, so a retry can tell whether its own
//! earlier Accept took effect (the rule "UNKNOWN only when it is true").
//!
//! A register's chosen values form one chain: each round applies its change
//! to the highest value its Promises report (CASPaxos §2). A coordinator whose
//! Accept at ballot `s` landed on a minority cannot see from its retry's
//! Promises alone whether a rival built on that Accept: the rival's value
//! replaced it. So every value travels with its lineage: the ballots of the
//! last [`LINEAGE_MAX`] Accepts that *changed* the value, newest first
//! (an identity round, such as a read, a repair or a re-proposal, keeps its
//! base's lineage unchanged). [`Ballot::ZERO`] at the end marks the root: the
//! chain reached "nothing ever accepted", so it is complete. An empty lineage
//! means "not known" (a peer that did not say, or an entry this node dropped).
//!
//! The retry rule (`decide` in proposer.rs), given the lineage `L` of the value the retry
//! builds on and the ballots `S` of this request's own changing Accepts:
//! - some `s` in `S` is in `L`: the change took effect; re-propose the base
//!   unchanged and answer what `s` answered;
//! - every `s` in `S` is above the oldest entry of `L`: no `s` can be in the
//!   chain (it only holds smaller ballots below that entry): apply afresh;
//! - otherwise the chain is cut short where `s` could be: UNKNOWN.
//!
//! Once the retry's own Accept is chosen, the chain it joins is exactly `L`
//! plus itself, so the answer is true whatever happens later. Acceptors keep
//! lineages in a bounded side table ([`LineageTable`]), not in their slots:
//! a lineage is needed only while a retry is in flight, and the slot's size
//! is what a million keys cost. A key whose entry was dropped answers with an
//! empty lineage, and the rule falls back to the accepted ballot alone (the
//! rule as it was before lineages: never wrong, sometimes UNKNOWN).

use super::ballot::Ballot;
use super::command::Key;
use super::keymap::{key_map, KeyMap};
use std::collections::BTreeMap;

/// The ballots of the last changes that built a value, newest first; ends in
/// [`Ballot::ZERO`] if complete; empty if unknown.
pub type Lineage = Vec<Ballot>;

/// Changes a lineage remembers. Five coordinators duelling on one key stack
/// up to ~15 changes between two attempts of one of them (measured with
/// sim/scenarios/contended-5.toml: 8 left 1-2 % of operations UNKNOWN, 16
/// leaves 0-0.2 %). Costs 20 bytes per entry in each Promise and Accept.
pub const LINEAGE_MAX: usize = 16;

/// Keys whose lineage an acceptor keeps (at most ≈ 300 bytes each).
pub const LINEAGE_TABLE_MAX_KEYS: usize = 4_096;

/// The lineage of "nothing ever accepted": complete and empty.
pub fn root() -> Lineage {
    vec![Ballot::ZERO]
}

/// The lineage of a value built by a change at `ballot` on a base whose
/// lineage is `base` (if `base` is unknown, `ballot` alone is known).
pub fn extend(ballot: Ballot, base: &[Ballot]) -> Lineage {
    let mut l = Vec::with_capacity(LINEAGE_MAX.min(base.len() + 1));
    l.push(ballot);
    l.extend(base.iter().take(LINEAGE_MAX - 1).copied());
    l
}

/// An acceptor's lineages of its accepted values, for the keys written most
/// recently: key -> (accepted ballot, lineage). Bounded by key count; the key
/// written longest ago goes first (a key written again moves to the back, so
/// a hot key keeps its lineage however many cold keys pass by); an entry for
/// another ballot than the slot's is stale.
#[derive(Debug, Default)]
pub(crate) struct LineageTable {
    /// key -> (write sequence number, accepted ballot, lineage).
    entries: KeyMap<(u64, Ballot, Lineage)>,
    /// Write sequence number -> key: the eviction order, oldest first.
    order: BTreeMap<u64, Key>,
    next_seq: u64,
}

impl LineageTable {
    /// An empty table whose map hashes with `seed`.
    pub(crate) fn new(seed: u64) -> LineageTable {
        LineageTable {
            entries: key_map(seed),
            ..LineageTable::default()
        }
    }

    /// Records that `key` accepted `ballot` with `lineage`.
    pub(crate) fn record(&mut self, key: &[u8], ballot: Ballot, lineage: Lineage) {
        self.record_bounded(key, ballot, lineage, LINEAGE_TABLE_MAX_KEYS);
    }

    fn record_bounded(
        &mut self,
        key: &[u8],
        ballot: Ballot,
        mut lineage: Lineage,
        max_keys: usize,
    ) {
        if max_keys == 0 {
            return;
        }
        lineage.truncate(LINEAGE_MAX);
        let seq = self.next_seq;
        self.next_seq += 1;
        if let Some(e) = self.entries.get_mut(key) {
            // Written again: to the back of the eviction order.
            let key = self
                .order
                .remove(&e.0)
                .expect("every entry is in the order");
            *e = (seq, ballot, lineage);
            self.order.insert(seq, key);
            return;
        }
        while self.entries.len() >= max_keys {
            let Some((_, old)) = self.order.pop_first() else {
                break;
            };
            self.entries.remove(&old);
        }
        self.order.insert(seq, key.to_vec());
        self.entries.insert(key.to_vec(), (seq, ballot, lineage));
        debug_assert_eq!(self.entries.len(), self.order.len());
    }

    /// The lineage of `key`'s value accepted at `ballot` (empty: unknown).
    pub(crate) fn get(&self, key: &[u8], ballot: Ballot) -> Lineage {
        match self.entries.get(key) {
            Some((_, b, l)) if *b == ballot => l.clone(),
            _ => Vec::new(),
        }
    }

    /// Keys with an entry.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(round: u64, node: u32) -> Ballot {
        Ballot::new(round, node, 1)
    }

    #[test]
    fn extend_keeps_at_most_the_bound_and_marks_the_root() {
        assert_eq!(extend(b(1, 1), &root()), vec![b(1, 1), Ballot::ZERO]);
        assert_eq!(extend(b(2, 1), &[]), vec![b(2, 1)]);
        let long: Vec<Ballot> = (0..40).rev().map(|r| b(r + 1, 2)).collect();
        let l = extend(b(50, 1), &long);
        assert_eq!(l.len(), LINEAGE_MAX);
        assert_eq!(l[0], b(50, 1));
        assert_eq!(l[1], b(40, 2));
    }

    #[test]
    fn the_table_is_bounded_and_answers_only_for_its_ballot() {
        let mut t = LineageTable::default();
        t.record_bounded(b"a", b(1, 1), vec![b(1, 1)], 2);
        t.record_bounded(b"b", b(2, 1), vec![b(2, 1)], 2);
        t.record_bounded(b"a", b(3, 1), vec![b(3, 1)], 2);
        assert_eq!(t.get(b"a", b(3, 1)), vec![b(3, 1)]);
        assert_eq!(t.get(b"a", b(1, 1)), Vec::<Ballot>::new());
        t.record_bounded(b"c", b(4, 1), vec![b(4, 1)], 2);
        assert_eq!(t.len(), 2);
        assert_eq!(
            t.get(b"b", b(2, 1)),
            Vec::<Ballot>::new(),
            "the key written longest ago is dropped"
        );
        assert_eq!(t.get(b"a", b(3, 1)), vec![b(3, 1)]);
        assert_eq!(t.get(b"c", b(4, 1)), vec![b(4, 1)]);
    }

    /// Review finding: the table dropped the key first *inserted*, not the
    /// key written longest ago, so a hot key (the contended one a retry
    /// needs) lost its lineage once 4,096 new keys arrived, however often it
    /// was written ("the 4,096 keys written last", docs/design.md).
    #[test]
    fn a_key_written_again_outlives_one_written_once_before_it() {
        let mut t = LineageTable::default();
        t.record_bounded(b"hot", b(1, 1), vec![b(1, 1)], 2);
        t.record_bounded(b"cold", b(2, 1), vec![b(2, 1)], 2);
        t.record_bounded(b"hot", b(3, 1), vec![b(3, 1)], 2);
        t.record_bounded(b"new", b(4, 1), vec![b(4, 1)], 2);
        assert_eq!(
            t.get(b"hot", b(3, 1)),
            vec![b(3, 1)],
            "hot was written after cold"
        );
    }
}
