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

/// A retry never applies a change twice (docs/protocol.md, "A retry never
/// applies a change twice, and knows whether it applied"). `sent`: the
/// changing Accepts earlier attempts of this round sent (each with its
/// ballot and the replies it would give). `highest`: the highest accepted
/// ballot the new attempt's Promises report. `lineage`: that value's
/// lineage, the ballots of the last changes that built it, newest first,
/// ending in `Ballot::ZERO` if the chain reaches "nothing ever accepted";
/// empty if unknown.
pub(super) fn decide(sent: &[SentAccept], highest: Option<Ballot>, lineage: &[Ballot]) -> Decision {
    // No `highest` (nothing accepted anywhere): `Decision::Fresh`.
    // Let the chain be `lineage`, or just `[highest]` if `lineage` is empty.
    // If some `sent[i].ballot` is in the chain, our change is in the state
    // we build on: `Decision::Repropose(i)` (re-propose it unchanged, keep
    // `sent[i]`'s replies). Else, if every sent ballot is above the chain's
    // oldest entry, none of them can be in it: `Decision::Fresh`. Else the
    // chain is cut short where ours could be: `Decision::Unknown`.
    let _ = (sent, highest, lineage);
    todo!("fresh, repropose or unknown")
}
