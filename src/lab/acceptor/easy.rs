// LAB: the acceptor, easy level. docs/labs/acceptor.md says what to do.
// Copy this file to src/lab/acceptor/student.rs (scripts/lab-grade.sh
// acceptor --level easy does it for you) and write the three rules there.
//
// Your code is compiled, only by the grader, in place of three methods of
// src/core/acceptor.rs, as a child module of it: you may use the acceptor's
// private fields (`slots`, `floor`, `max_ballot`) and helpers (`with_slot`,
// `effective_promised`), exactly as the real acceptor does. Everything else
// (byte counting, listings, forgetting, learning, the piggybacked Prepare
// and the fast read) is given, and leans on these three.

use super::Acceptor;
use crate::core::{Ballot, Message, Value};

impl Acceptor {
    /// Phase 1b: promise `ballot` if it is above every promise, else Reject.
    pub fn on_prepare(&mut self, key: &[u8], ballot: Ballot) -> Message {
        // If `ballot` is above the effective promise
        // (`self.effective_promised(key)`: max of the key's promise and the
        // floor), raise `self.max_ballot`, set the key's `promised` to
        // `ballot` (use `self.with_slot`, which keeps the byte counts right)
        // and answer `Message::Promise` with the slot's accepted (ballot,
        // value) and confirmed mark (and an empty crash_vector and lineage:
        // the node fills them in). Otherwise answer `Message::Reject` naming the
        // effective promise. Compare whole ballots: (round, node, incarnation).
        let _ = (key, ballot);
        todo!("Phase 1b: promise or reject")
    }

    /// Phase 2b: accept `value` at `ballot` unless a higher ballot was promised.
    pub fn on_accept(&mut self, key: &[u8], ballot: Ballot, value: Value) -> Message {
        // Reject (naming the effective promise) only if a HIGHER ballot was
        // promised: an Accept at exactly the promised ballot is the
        // coordinator that won Phase 1. Else raise `self.max_ballot`; in the
        // slot set promised = max(promised, ballot), accepted = (ballot,
        // value), confirmed = false; answer `Message::Accepted` (empty
        // crash_vector, `next_promised: false`: the node sets it when a
        // piggybacked Prepare, handled next, is promised too).
        let _ = (key, ballot, value);
        todo!("Phase 2b: accept or reject")
    }

    /// Confirm: mark the value chosen, only if the accepted ballot is the one named.
    pub fn on_confirm(&mut self, key: &[u8], ballot: Ballot) {
        // Mark the key's value confirmed only if its accepted ballot is
        // exactly `ballot` (a late Confirm of an older round must not mark a
        // newer, possibly unchosen, value: fast reads trust the mark). A key
        // without state stays without state.
        let _ = (key, ballot);
        todo!("Confirm: mark only a matching ballot")
    }
}
