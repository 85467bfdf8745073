// LAB: the acceptor, the ANSWER KEY (for teachers; a student should start
// from easy.rs or hard.rs). A correct solution as a student would write it:
// the same rules as the core's own in src/core/acceptor.rs, without its
// deliberate-bug switches. scripts/test.sh writes it into each level's
// skeleton (scripts/lab-answer.sh) and grades that file with
// scripts/lab-grade.sh: a correct answer must get full marks.

use super::Acceptor;
use crate::core::{Ballot, Message, Value};

impl Acceptor {
    /// Phase 1b.
    pub fn on_prepare(&mut self, key: &[u8], ballot: Ballot) -> Message {
        let promised = self.effective_promised(key);
        if ballot <= promised {
            return Message::Reject {
                key: key.to_vec(),
                ballot,
                promised,
            };
        }
        self.max_ballot = self.max_ballot.max(ballot);
        self.with_slot(key, |slot| {
            slot.promised = ballot;
            Message::Promise {
                key: key.to_vec(),
                ballot,
                accepted: slot.accepted.clone(),
                confirmed: slot.confirmed,
                crash_vector: Vec::new(),
                lineage: Vec::new(),
            }
        })
    }

    /// Phase 2b.
    pub fn on_accept(&mut self, key: &[u8], ballot: Ballot, value: Value) -> Message {
        let promised = self.effective_promised(key);
        if promised > ballot {
            return Message::Reject {
                key: key.to_vec(),
                ballot,
                promised,
            };
        }
        self.max_ballot = self.max_ballot.max(ballot);
        self.with_slot(key, |slot| {
            slot.promised = slot.promised.max(ballot);
            slot.accepted = Some((ballot, value));
            slot.confirmed = false;
        });
        Message::Accepted {
            key: key.to_vec(),
            ballot,
            crash_vector: Vec::new(),
            next_promised: false,
        }
    }

    /// Confirm (!).
    pub fn on_confirm(&mut self, key: &[u8], ballot: Ballot) {
        if let Some(slot) = self.slots.get_mut(key) {
            if slot.accepted.as_ref().is_some_and(|(b, _)| *b == ballot) {
                slot.confirmed = true;
            }
        }
    }
}
