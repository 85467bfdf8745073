// LAB: recovery after amnesia, easy level. docs/labs/recovery.md says what
// to do. Copy this file to src/lab/recovery/student.rs (scripts/lab-grade.sh
// recovery --level easy does it for you) and write the three rules there.
//
// Your functions replace three of src/core/recovery.rs's, which call them
// (read `votes_for`, `on_repair_done`, `on_listing_done` and
// `raise_floor_after_catch_up` there). The listing itself, the identity
// rounds and the Nack(Recovering) answers are given.

use crate::core::{Ballot, Outcome};

/// Rule 4: may a restarted node vote for a replica set of `replicas` nodes
/// (itself included), now that `done` of its OTHER members finished their
/// listings (every listed key had its identity round)? `quorum` is the
/// replica set's quorum.
pub(super) fn may_vote(done: usize, replicas: usize, quorum: usize) -> bool {
    // It needs a quorum of the others, or all of them when there are fewer
    // others than a quorum (N = 3: both others). With no other replica at
    // all nobody can vouch for what it forgot: never.
    let _ = (done, replicas, quorum);
    todo!("enough listings to vote")
}

/// Rule 4's floor, raised before the first vote.
pub(super) fn floor_after_catch_up(reported: Ballot, seen_round: u64) -> Ballot {
    // `reported`: the highest ballot any peer promised or accepted, as their
    // listings said. `seen_round`: the highest round this node has seen
    // (its own catch-up rounds included). The floor must be at or above
    // `reported` and above EVERY ballot of round `seen_round`, whatever its
    // node and incarnation: a Ballot is (round, node, incarnation), and
    // `crate::core::NodeId::MAX` and `crate::core::Incarnation::MAX` exist.
    let _ = (reported, seen_round);
    todo!("the floor")
}

/// Rule 3: does this outcome of a listed key's identity round count as
/// repaired?
pub(super) fn repair_done(outcome: &Outcome) -> bool {
    // Only a round that was chosen (`Outcome::Ok`) fenced the late Accepts
    // and re-established the value on a quorum. `Failed` and `Unknown` may
    // not have reached one: the round runs again.
    let _ = outcome;
    todo!("which outcomes count")
}

