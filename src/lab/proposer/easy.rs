// LAB: the proposer, easy level. docs/labs/proposer.md says what to do.
// Copy this file to src/lab/proposer/student.rs (scripts/lab-grade.sh
// proposer --level easy does it for you) and write the four rules there.
//
// Your functions replace four of src/core/proposer.rs's, which call them
// (read `begin_attempt`, `on_promise`, `phase_two` and `on_accepted` there
// to see how). This file is a child module of proposer.rs: `SentAccept`
// and `Decision` are its types.

use super::{Decision, SentAccept};
use crate::core::{Ballot, Message, NodeId, Value};
use std::collections::BTreeMap;

/// Votes that make a quorum of `replicas` replicas.
pub(super) fn majority(replicas: usize) -> usize {
    // Any two quorums must share a replica: more than half. ⌊N/2⌋+1.
    let _ = replicas;
    todo!("quorum size")
}

/// Phase 1a: the messages that start an attempt at `ballot`.
pub(super) fn phase_1a(key: &[u8], ballot: Ballot, replicas: &[NodeId]) -> Vec<(NodeId, Message)> {
    // One `Message::Prepare { key, ballot }` to every replica, as
    // (replica, message) pairs; the coordinator's own node is among the
    // replicas if it holds the key, and gets one too.
    let _ = (key, ballot, replicas);
    todo!("Prepare to every replica")
}

/// Phase 2a's base: what the Promises say was accepted last.
pub(super) fn highest_accepted(
    promises: &BTreeMap<NodeId, Option<(Ballot, Value)>>,
) -> Option<(Ballot, Value)> {
    // Each Promise carries its replica's accepted (ballot, value), or None.
    // Return the pair with the HIGHEST ballot (a value of None is a
    // tombstone, and counts like any value), or None if no replica accepted
    // anything. The coordinator applies its change to that value: a value
    // that may have been chosen is never replaced by one built on older state.
    let _ = promises;
    todo!("the highest accepted (ballot, value)")
}

/// A retry never applies a change twice (docs/design.md, "A retry never applies
/// a change twice"). `sent`: the Accepts earlier attempts of this round sent
/// (each with its ballot, its value and the replies it would give).
/// `highest`: the highest accepted ballot the new attempt's Promises report.
pub(super) fn decide(sent: &[SentAccept], highest: Option<Ballot>) -> Decision {
    // If `highest` is the ballot of one of our own Accepts, `sent[i]`, that
    // value is the latest state and contains our change:
    // `Decision::Repropose(i)`. Else, if some Accept of ours is BELOW
    // `highest`, another coordinator's value was accepted after ours, which
    // may or may not have landed: `Decision::Unknown`. Else (nothing sent,
    // or `highest` below every Accept we sent): `Decision::Fresh`.
    // `s.ballot` is a SentAccept's ballot.
    let _ = (sent, highest);
    todo!("fresh, repropose or unknown")
}
