// LAB: recovery after amnesia, the ANSWER KEY (for teachers; a student
// should start from easy.rs or hard.rs). A correct solution as a student
// would write it: the same rules as the core's own in src/core/recovery.rs.
// scripts/test.sh writes it into each level's skeleton
// (scripts/lab-answer.sh) and grades that file with scripts/lab-grade.sh: a
// correct answer must get full marks.

use crate::core::{Ballot, Outcome};

/// Rule 4: enough listings to vote?
pub(super) fn may_vote(done: usize, replicas: usize, quorum: usize) -> bool {
    let others = replicas.saturating_sub(1);
    let need = quorum.min(others);
    need > 0 && done >= need
}

/// Rule 4: the floor.
pub(super) fn floor_after_catch_up(reported: Ballot, seen_round: u64) -> Ballot {
    let above_seen = Ballot::new(
        seen_round,
        crate::core::NodeId::MAX,
        crate::core::Incarnation::MAX,
    );
    above_seen.max(reported)
}

/// Rule 3: repaired?
pub(super) fn repair_done(outcome: &Outcome) -> bool {
    matches!(outcome, Outcome::Ok(_))
}
