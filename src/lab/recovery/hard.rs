// LAB: recovery after amnesia, hard level. docs/labs/recovery.md says what
// to do. Copy this file to src/lab/recovery/student.rs (scripts/lab-grade.sh
// recovery --level hard does it for you) and write the three rules there.
//
// Your functions replace three of src/core/recovery.rs's; read how that file
// calls them. Rules: docs/design.md "Restart" rules 3 (catch-up) and 4
// (readiness per replica set, and the floor).

use crate::core::{Ballot, Outcome};

/// Rule 4: enough listings to vote?
pub(super) fn may_vote(done: usize, replicas: usize, quorum: usize) -> bool {
    let _ = (done, replicas, quorum);
    todo!()
}

/// Rule 4: the floor.
pub(super) fn floor_after_catch_up(reported: Ballot, seen_round: u64) -> Ballot {
    let _ = (reported, seen_round);
    todo!()
}

/// Rule 3: repaired?
pub(super) fn repair_done(outcome: &Outcome) -> bool {
    let _ = outcome;
    todo!()
}

