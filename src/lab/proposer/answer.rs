// LAB: the proposer, the ANSWER KEY (for teachers; a student should start
// from easy.rs or hard.rs). A correct solution as a student would write it:
// the same rules as the core's own in src/core/proposer.rs.
// scripts/test.sh writes it into each level's skeleton
// (scripts/lab-answer.sh) and grades that file with scripts/lab-grade.sh: a
// correct answer must get full marks.

use super::{Decision, SentAccept};
use crate::core::{Ballot, Message, NodeId, Value};
use std::collections::BTreeMap;

/// Quorum size.
pub(super) fn majority(replicas: usize) -> usize {
    replicas / 2 + 1
}

/// Phase 1a.
pub(super) fn phase_1a(key: &[u8], ballot: Ballot, replicas: &[NodeId]) -> Vec<(NodeId, Message)> {
    replicas
        .iter()
        .map(|&r| {
            let prepare = Message::Prepare {
                key: key.to_vec(),
                ballot,
            };
            (r, prepare)
        })
        .collect()
}

/// Phase 2a's base value (P2c).
pub(super) fn highest_accepted(
    promises: &BTreeMap<NodeId, Option<(Ballot, Value)>>,
) -> Option<(Ballot, Value)> {
    let mut best: Option<(Ballot, Value)> = None;
    for (b, v) in promises.values().flatten() {
        if best.as_ref().is_none_or(|(top, _)| b > top) {
            best = Some((*b, v.clone()));
        }
    }
    best
}

/// A retry never applies a change twice (!).
pub(super) fn decide(sent: &[SentAccept], highest: Option<Ballot>, lineage: &[Ballot]) -> Decision {
    let Some(h) = highest else {
        return Decision::Fresh;
    };
    let head = [h];
    let chain: &[Ballot] = if lineage.is_empty() { &head } else { lineage };
    if let Some(i) = sent.iter().position(|s| chain.contains(&s.ballot)) {
        return Decision::Repropose(i);
    }
    let oldest = chain.iter().min().copied().unwrap_or(h);
    if sent.iter().all(|s| s.ballot > oldest) {
        Decision::Fresh
    } else {
        Decision::Unknown
    }
}
