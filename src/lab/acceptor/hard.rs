// LAB: the acceptor, hard level. docs/labs/acceptor.md says what to do.
// Copy this file to src/lab/acceptor/student.rs (scripts/lab-grade.sh
// acceptor --level hard does it for you) and write the three rules there.
//
// Your code is a child module of src/core/acceptor.rs: read that file's
// types (Acceptor, Slot) and given methods; the rules are yours.
//
// Rules: "Paxos Made Simple" §2.2 (P1a, Phase 1b, Phase 2b) and docs/design.md
// "One Paxos register per key" steps 1, 3 and 4 (Confirm); CASPaxos §2, and
// the fast-read rule there for what the confirmed mark promises.

use super::Acceptor;
use crate::core::{Ballot, Message, Value};

impl Acceptor {
    /// Phase 1b.
    pub fn on_prepare(&mut self, key: &[u8], ballot: Ballot) -> Message {
        let _ = (key, ballot);
        todo!()
    }

    /// Phase 2b.
    pub fn on_accept(&mut self, key: &[u8], ballot: Ballot, value: Value) -> Message {
        let _ = (key, ballot, value);
        todo!()
    }

    /// Confirm (!).
    pub fn on_confirm(&mut self, key: &[u8], ballot: Ballot) {
        let _ = (key, ballot);
        todo!()
    }
}
