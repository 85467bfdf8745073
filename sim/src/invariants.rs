//! Safety invariants checked after every event, each a small named function.
//!
//! The oracle sees every Accept a coordinator sends (with its ghost
//! derivation, `Trace::AcceptSent`) and, after each event, the acceptor state of
//! the keys the event touched at the node that handled it. From those it keeps:
//! the value of each (key, ballot), each acceptor's last effective promise and
//! accepted ballot, how many replicas currently hold each accepted ballot, and
//! the ballots known chosen. Only what changed is re-checked.

use crate::fxhash::FxHashMap;
use std::collections::BTreeSet;
use synod::core::{Ballot, Slot, Value};

/// An Accept a coordinator sent (Phase 2a), with its ghost derivation.
#[derive(Clone, Debug)]
pub struct AcceptRec {
    pub value: Value,
    /// The accepted ballot of the state the change was applied to (None: absent),
    /// or, if `copied`, the earlier Accept of the same request it re-proposes.
    pub derived_from: Option<Ballot>,
    pub copied: bool,
    /// The coordinator.
    pub node: u32,
}

/// What the oracle last saw of one acceptor's state for one key.
#[derive(Clone, Copy, Debug, Default)]
pub struct Seen {
    pub effective_promised: Ballot,
    pub accepted: Option<Ballot>,
}

/// The global view the invariants are checked against.
pub struct Oracle {
    /// Votes needed to choose: ⌊N/2⌋+1 (the true quorum, whatever bug runs).
    pub quorum: u32,
    /// (key, ballot) -> the Accept sent at it.
    pub accepts: FxHashMap<(u32, Ballot), AcceptRec>,
    /// (key, ballot) -> acceptors currently holding it as accepted.
    pub holders: FxHashMap<(u32, Ballot), u32>,
    /// Per key: ballots known chosen.
    pub chosen: Vec<BTreeSet<Ballot>>,
    /// [node][key]: last seen acceptor state, reset at each restart.
    pub seen: Vec<Vec<Seen>>,
    /// [node]: last seen floor.
    pub floor: Vec<Ballot>,
    /// Set at the first `declare-lost` (a majority restart): the highest
    /// ballot any Accept had then. Values chosen at or below it may be gone
    /// (docs/design.md "Restart", rule 5), so a value chosen above it is
    /// checked against the values chosen above it only; built on anything
    /// at or below it, it was built on what the survivors held.
    pub lost_below: Option<Ballot>,
}

/// A broken invariant: its name and a one-line diagnosis.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    pub invariant: &'static str,
    pub detail: String,
}

type Check = Result<(), Violation>;

fn fail(invariant: &'static str, detail: String) -> Check {
    Err(Violation { invariant, detail })
}

fn show(b: Option<Ballot>) -> String {
    b.map_or("none (absent)".into(), |b| b.to_string())
}

impl Oracle {
    /// An oracle for `nodes` nodes (ids 1..=nodes), `keys` keys, quorum `quorum`.
    pub fn new(nodes: usize, keys: usize, quorum: u32) -> Oracle {
        Oracle {
            quorum,
            accepts: FxHashMap::default(),
            holders: FxHashMap::default(),
            chosen: vec![BTreeSet::new(); keys],
            seen: vec![vec![Seen::default(); keys]; nodes + 1],
            floor: vec![Ballot::ZERO; nodes + 1],
            lost_below: None,
        }
    }

    /// The operator declared lost replicas: history before now may be gone.
    pub fn on_declare_lost(&mut self) {
        if self.lost_below.is_none() {
            self.lost_below = Some(
                self.accepts
                    .keys()
                    .map(|&(_, b)| b)
                    .max()
                    .unwrap_or(Ballot::ZERO),
            );
        }
    }

    /// Phase 2a seen at a coordinator: record it; at most one value per (key, ballot).
    pub fn on_accept_sent(&mut self, key: u32, ballot: Ballot, rec: AcceptRec) -> Check {
        if let Some(old) = self.accepts.get(&(key, ballot)) {
            return one_value_per_ballot(key, ballot, &old.value, &rec.value, "a second Accept");
        }
        self.accepts.insert((key, ballot), rec);
        Ok(())
    }

    /// A coordinator saw a quorum of Accepted (`Trace::Chosen`).
    pub fn on_chosen_trace(&mut self, key: u32, ballot: Ballot) -> Check {
        self.mark_chosen(key, ballot)
    }

    /// The node crashed: its acceptor state is gone, and so are its votes.
    pub fn on_crash(&mut self, node: u32) {
        for (k, s) in self.seen[node as usize].iter_mut().enumerate() {
            if let Some(b) = s.accepted {
                if let Some(c) = self.holders.get_mut(&(k as u32, b)) {
                    *c -= 1;
                }
            }
            *s = Seen::default();
        }
        self.floor[node as usize] = Ballot::ZERO;
    }

    /// After an event at `node`: check its state for `key` against what was seen before.
    pub fn on_acceptor_state(
        &mut self,
        node: u32,
        key: u32,
        floor: Ballot,
        slot: Option<&Slot>,
    ) -> Check {
        let n = node as usize;
        floor_never_decreases(node, self.floor[n], floor)?;
        self.floor[n] = floor;
        let effective = slot.map_or(floor, |s| s.promised.max(floor));
        let before = self.seen[n][key as usize];
        effective_promised_never_decreases(node, key, before.effective_promised, effective)?;
        let accepted = slot.and_then(|s| s.accepted.as_ref());
        accepted_at_most_promised(node, key, accepted.map(|a| a.0), effective)?;
        let accepted_ballot = accepted.map(|a| a.0);
        self.seen[n][key as usize] = Seen {
            effective_promised: effective,
            accepted: accepted_ballot,
        };
        if accepted_ballot != before.accepted {
            if let Some(old) = before.accepted {
                if let Some(c) = self.holders.get_mut(&(key, old)) {
                    *c -= 1;
                }
            }
            if let Some((b, v)) = accepted {
                match self.accepts.get(&(key, *b)) {
                    Some(rec) => one_value_per_ballot(key, *b, &rec.value, v, "an acceptor's state")?,
                    None => {
                        return fail(
                            "accept_was_sent",
                            format!(
                                "key k{key}: node {node} accepted ballot {b}, which no coordinator sent an Accept for"
                            ),
                        )
                    }
                }
                let c = self.holders.entry((key, *b)).or_insert(0);
                *c += 1;
                if *c >= self.quorum {
                    self.mark_chosen(key, *b)?;
                }
            }
        }
        if let Some(s) = slot {
            confirmed_only_if_chosen(node, key, s, &self.chosen[key as usize])?;
        }
        Ok(())
    }

    /// `ballot` is chosen for `key`: check the chain at it and at the next chosen ballot.
    fn mark_chosen(&mut self, key: u32, ballot: Ballot) -> Check {
        if !self.chosen[key as usize].insert(ballot) {
            return Ok(());
        }
        self.chain(key, ballot)?;
        let next = self.chosen[key as usize]
            .range((
                std::ops::Bound::Excluded(ballot),
                std::ops::Bound::Unbounded,
            ))
            .next()
            .copied();
        if let Some(next) = next {
            self.chain(key, next)?;
        }
        Ok(())
    }

    /// The chosen state a value at `ballot` was really built on.
    ///
    /// Follow the ghost derivation down: an Accept is built on its
    /// `derived_from` (a copy re-proposes it unchanged, a change applies to it).
    /// A base that was never chosen carries its own change on its own base, so
    /// keep following until a chosen ballot (or absent) is reached: the changes
    /// passed on the way are ones that took effect without being chosen on their
    /// own (e.g. an Accept that landed on a minority and was adopted by the next
    /// round, CASPaxos §2).
    pub fn base_of(&self, key: u32, ballot: Ballot) -> Result<Option<Ballot>, String> {
        let mut at = ballot;
        for _ in 0..100_000 {
            let Some(rec) = self.accepts.get(&(key, at)) else {
                return Err(format!("no Accept recorded at {at}"));
            };
            let Some(from) = rec.derived_from else {
                if rec.copied {
                    return Err(format!("the copy at {at} names no earlier Accept"));
                }
                return Ok(None);
            };
            if from >= at {
                return Err(format!(
                    "the Accept at {at} derives from {from}, not below it"
                ));
            }
            if self.lost_below.is_some_and(|l| ballot > l && from <= l) {
                return Ok(None); // Built on what survived the loss.
            }
            if self.chosen[key as usize].contains(&from) {
                return Ok(Some(from));
            }
            at = from;
        }
        Err("derivation chain too long".into())
    }

    fn chain(&self, key: u32, ballot: Ballot) -> Check {
        let chosen = &self.chosen[key as usize];
        let below = chosen.range(..ballot).next_back().copied();
        let below = match self.lost_below {
            Some(l) if ballot > l => below.filter(|b| *b > l),
            _ => below,
        };
        let mut base = self.base_of(key, ballot);
        // A dropped tombstone (docs/design.md "Forgetting safely") reads as absent:
        // a value built on "absent" where the latest chosen value is a
        // tombstone was built on the same state.
        let absent = |b: Option<Ballot>| {
            b.is_none_or(|b| {
                self.accepts
                    .get(&(key, b))
                    .is_some_and(|r| r.value.is_none())
            })
        };
        if let Ok(b) = base {
            if b != below && absent(b) && below.is_some() && absent(below) {
                base = Ok(below);
            }
        }
        chain_invariant(key, ballot, base, below)
    }
}

/// At most one value per (key, ballot).
pub fn one_value_per_ballot(key: u32, b: Ballot, a: &Value, other: &Value, what: &str) -> Check {
    if a == other {
        return Ok(());
    }
    fail(
        "one_value_per_ballot",
        format!(
            "key k{key}: ballot {b} carries {} and, in {what}, {}",
            crate::world::show_value(a),
            crate::world::show_value(other)
        ),
    )
}

/// The node-wide floor never decreases within an incarnation.
pub fn floor_never_decreases(node: u32, before: Ballot, now: Ballot) -> Check {
    if now >= before {
        return Ok(());
    }
    fail(
        "floor_never_decreases",
        format!("node {node}: floor fell from {before} to {now}"),
    )
}

/// max(promised, floor) never decreases within an incarnation.
pub fn effective_promised_never_decreases(
    node: u32,
    key: u32,
    before: Ballot,
    now: Ballot,
) -> Check {
    if now >= before {
        return Ok(());
    }
    fail(
        "effective_promised_never_decreases",
        format!("node {node}, key k{key}: effective promise fell from {before} to {now}"),
    )
}

/// The accepted ballot is at most the effective promise.
pub fn accepted_at_most_promised(
    node: u32,
    key: u32,
    accepted: Option<Ballot>,
    promised: Ballot,
) -> Check {
    match accepted {
        Some(a) if a > promised => fail(
            "accepted_at_most_promised",
            format!("node {node}, key k{key}: accepted {a} above effective promise {promised}"),
        ),
        _ => Ok(()),
    }
}

/// A value marked confirmed is at a chosen ballot (fast reads will trust the mark).
pub fn confirmed_only_if_chosen(
    node: u32,
    key: u32,
    slot: &Slot,
    chosen: &BTreeSet<Ballot>,
) -> Check {
    if !slot.confirmed {
        return Ok(());
    }
    match &slot.accepted {
        Some((b, _)) if chosen.contains(b) => Ok(()),
        other => fail(
            "confirmed_only_if_chosen",
            format!(
                "node {node}, key k{key}: value at {} marked confirmed, but that ballot is not chosen",
                show(other.as_ref().map(|a| a.0))
            ),
        ),
    }
}

/// A value chosen at b derives from the highest value chosen below b.
pub fn chain_invariant(
    key: u32,
    ballot: Ballot,
    base: Result<Option<Ballot>, String>,
    below: Option<Ballot>,
) -> Check {
    match base {
        Err(why) => fail(
            "chain_invariant",
            format!("key k{key}: value chosen at {ballot} has no derivation: {why}"),
        ),
        Ok(base) if base == below => Ok(()),
        Ok(base) => fail(
            "chain_invariant",
            format!(
                "key k{key}: value chosen at {ballot} was built on {} but the highest value chosen below it is at {}{}",
                show(base),
                show(below),
                if base < below {
                    " (that chosen write is lost)"
                } else {
                    " (built on a value that was never chosen)"
                }
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(round: u64, node: u32) -> Ballot {
        Ballot::new(round, node, 1)
    }
    fn rec(v: &str, derived_from: Option<Ballot>, copied: bool) -> AcceptRec {
        AcceptRec {
            value: Some(synod::core::Record::new(v.as_bytes())),
            derived_from,
            copied,
            node: 1,
        }
    }
    fn slot(promised: Ballot, accepted: Option<(Ballot, &str)>, confirmed: bool) -> Slot {
        Slot {
            promised,
            accepted: accepted.map(|(b, v)| (b, Some(synod::core::Record::new(v.as_bytes())))),
            confirmed,
            ..Slot::default()
        }
    }

    /// Three acceptors, quorum 2; `n1` and `n2` accept `ballot`.
    fn choose(o: &mut Oracle, ballot: Ballot, v: &str) -> Check {
        for n in [1, 2] {
            o.on_acceptor_state(
                n,
                0,
                Ballot::ZERO,
                Some(&slot(ballot, Some((ballot, v)), false)),
            )?;
        }
        Ok(())
    }

    #[test]
    fn a_chain_of_chosen_values_passes() {
        let mut o = Oracle::new(3, 1, 2);
        o.on_accept_sent(0, b(1, 1), rec("a", None, false)).unwrap();
        choose(&mut o, b(1, 1), "a").unwrap();
        o.on_accept_sent(0, b(2, 2), rec("b", Some(b(1, 1)), false))
            .unwrap();
        choose(&mut o, b(2, 2), "b").unwrap();
        assert!(o.chosen[0].contains(&b(2, 2)));
    }

    #[test]
    fn a_value_built_on_an_older_chosen_value_breaks_the_chain() {
        let mut o = Oracle::new(3, 1, 2);
        o.on_accept_sent(0, b(1, 1), rec("a", None, false)).unwrap();
        choose(&mut o, b(1, 1), "a").unwrap();
        o.on_accept_sent(0, b(2, 2), rec("b", None, false)).unwrap();
        let err = choose(&mut o, b(2, 2), "b").unwrap_err();
        assert_eq!(err.invariant, "chain_invariant");
        assert!(err.detail.contains("lost"), "{}", err.detail);
    }

    #[test]
    fn an_adopted_minority_accept_carries_its_change_through() {
        // 1.1 chosen; 2.1 landed on one acceptor only; 3.2 adopted it. Legal.
        let mut o = Oracle::new(3, 1, 2);
        o.on_accept_sent(0, b(1, 1), rec("a", None, false)).unwrap();
        choose(&mut o, b(1, 1), "a").unwrap();
        o.on_accept_sent(0, b(2, 1), rec("a+x", Some(b(1, 1)), false))
            .unwrap();
        o.on_accept_sent(0, b(3, 2), rec("a+x+y", Some(b(2, 1)), false))
            .unwrap();
        choose(&mut o, b(3, 2), "a+x+y").unwrap();
    }

    #[test]
    fn a_copy_of_a_chosen_accept_is_the_identity_on_it() {
        let mut o = Oracle::new(3, 1, 2);
        o.on_accept_sent(0, b(1, 1), rec("a", None, false)).unwrap();
        choose(&mut o, b(1, 1), "a").unwrap();
        o.on_accept_sent(0, b(2, 1), rec("a", Some(b(1, 1)), true))
            .unwrap();
        choose(&mut o, b(2, 1), "a").unwrap();
        assert_eq!(o.base_of(0, b(2, 1)), Ok(Some(b(1, 1))));
    }

    #[test]
    fn two_values_at_one_ballot_are_refused() {
        let mut o = Oracle::new(3, 1, 2);
        o.on_accept_sent(0, b(1, 1), rec("a", None, false)).unwrap();
        let err = o
            .on_acceptor_state(
                2,
                0,
                Ballot::ZERO,
                Some(&slot(b(1, 1), Some((b(1, 1), "z")), false)),
            )
            .unwrap_err();
        assert_eq!(err.invariant, "one_value_per_ballot");
    }

    #[test]
    fn a_promise_that_falls_is_refused() {
        let mut o = Oracle::new(3, 1, 2);
        o.on_acceptor_state(1, 0, Ballot::ZERO, Some(&slot(b(5, 2), None, false)))
            .unwrap();
        let err = o
            .on_acceptor_state(1, 0, Ballot::ZERO, Some(&slot(b(5, 1), None, false)))
            .unwrap_err();
        assert_eq!(err.invariant, "effective_promised_never_decreases");
        // A crash resets what the oracle expects: a new incarnation starts over.
        o.on_crash(1);
        o.on_acceptor_state(1, 0, Ballot::ZERO, None).unwrap();
    }

    #[test]
    fn accepted_above_the_promise_is_refused() {
        let mut o = Oracle::new(3, 1, 2);
        o.on_accept_sent(0, b(6, 1), rec("a", None, false)).unwrap();
        let err = o
            .on_acceptor_state(
                1,
                0,
                Ballot::ZERO,
                Some(&slot(b(5, 1), Some((b(6, 1), "a")), false)),
            )
            .unwrap_err();
        assert_eq!(err.invariant, "accepted_at_most_promised");
    }

    #[test]
    fn a_confirmed_mark_on_an_unchosen_value_is_refused() {
        let mut o = Oracle::new(3, 1, 2);
        o.on_accept_sent(0, b(1, 1), rec("a", None, false)).unwrap();
        let err = o
            .on_acceptor_state(
                1,
                0,
                Ballot::ZERO,
                Some(&slot(b(1, 1), Some((b(1, 1), "a")), true)),
            )
            .unwrap_err();
        assert_eq!(err.invariant, "confirmed_only_if_chosen");
    }
}
