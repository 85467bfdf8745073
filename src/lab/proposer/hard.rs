// LAB: the proposer, hard level. docs/labs/proposer.md says what to do.
// Copy this file to src/lab/proposer/student.rs (scripts/lab-grade.sh
// proposer --level hard does it for you) and write the four rules there.
//
// Your functions replace four of src/core/proposer.rs's; read how that file
// calls them. Rules: "Paxos Made Simple" §2.2 (Phase 1a, Phase 2a, P2c),
// docs/design.md "One Paxos register per key" steps 2 and 4 and "A retry never applies a
// change twice (!)".

use super::{Decision, SentAccept};
use crate::core::{Ballot, Message, NodeId, Value};
use std::collections::BTreeMap;

/// Quorum size.
pub(super) fn majority(replicas: usize) -> usize {
    let _ = replicas;
    todo!()
}

/// Phase 1a.
pub(super) fn phase_1a(key: &[u8], ballot: Ballot, replicas: &[NodeId]) -> Vec<(NodeId, Message)> {
    let _ = (key, ballot, replicas);
    todo!()
}

/// Phase 2a's base value (P2c).
pub(super) fn highest_accepted(
    promises: &BTreeMap<NodeId, Option<(Ballot, Value)>>,
) -> Option<(Ballot, Value)> {
    let _ = promises;
    todo!()
}

/// A retry never applies a change twice (!).
pub(super) fn decide(sent: &[SentAccept], highest: Option<Ballot>, lineage: &[Ballot]) -> Decision {
    let _ = (sent, highest, lineage);
    todo!()
}
