//! The wire vocabulary between nodes: the phases of "Paxos Made Simple" plus
//! Confirm (CASPaxos) and Nack. Replies are matched to rounds by (key, ballot).

use super::ballot::{Ballot, Incarnation, NodeId};
use super::command::{Key, Value};
use serde::{Deserialize, Serialize};

/// Why a node refused to take part without naming a higher ballot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum NackReason {
    /// The node restarted and has not caught up: it must not vote yet.
    Recovering,
    /// The node does not hold this key.
    NotReplica,
}

/// One protocol message about one key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Message {
    /// Phase 1a: "promise to ignore ballots below `ballot`".
    Prepare { key: Key, ballot: Ballot },
    /// Phase 1b: the promise, with the highest accepted (ballot, value), if any.
    Promise {
        key: Key,
        ballot: Ballot,
        accepted: Option<(Ballot, Value)>,
        confirmed: bool,
    },
    /// Phase 2a: "accept `value` at `ballot`".
    Accept {
        key: Key,
        ballot: Ballot,
        value: Value,
    },
    /// Phase 2b: the acceptor accepted `ballot`.
    Accepted { key: Key, ballot: Ballot },
    /// Refusal of a Prepare or Accept at `ballot`: the acceptor promised `promised`.
    Reject {
        key: Key,
        ballot: Ballot,
        promised: Ballot,
    },
    /// After a quorum accepted `ballot`: the value is chosen. `all`: every replica accepted.
    Confirm { key: Key, ballot: Ballot, all: bool },
    /// Refusal that names no ballot.
    Nack {
        key: Key,
        ballot: Ballot,
        reason: NackReason,
    },
}

impl Message {
    /// The key this message is about.
    pub fn key(&self) -> &Key {
        match self {
            Message::Prepare { key, .. }
            | Message::Promise { key, .. }
            | Message::Accept { key, .. }
            | Message::Accepted { key, .. }
            | Message::Reject { key, .. }
            | Message::Confirm { key, .. }
            | Message::Nack { key, .. } => key,
        }
    }

    /// The ballot of the round this message belongs to.
    pub fn ballot(&self) -> Ballot {
        match self {
            Message::Prepare { ballot, .. }
            | Message::Promise { ballot, .. }
            | Message::Accept { ballot, .. }
            | Message::Accepted { ballot, .. }
            | Message::Reject { ballot, .. }
            | Message::Confirm { ballot, .. }
            | Message::Nack { ballot, .. } => *ballot,
        }
    }

    /// The highest round this message names (for the round clock and the jump bound).
    pub fn max_round(&self) -> u64 {
        let mut r = self.ballot().round;
        match self {
            Message::Promise {
                accepted: Some((b, _)),
                ..
            } => r = r.max(b.round),
            Message::Reject { promised, .. } => r = r.max(promised.round),
            _ => {}
        }
        r
    }

    /// The message kind's name, as in the paper.
    pub fn kind(&self) -> &'static str {
        match self {
            Message::Prepare { .. } => "Prepare",
            Message::Promise { .. } => "Promise",
            Message::Accept { .. } => "Accept",
            Message::Accepted { .. } => "Accepted",
            Message::Reject { .. } => "Reject",
            Message::Confirm { .. } => "Confirm",
            Message::Nack { .. } => "Nack",
        }
    }
}

/// A message with its addressing: who sent it, in which incarnation, and the
/// incarnation the sender knows for the addressee. A node drops envelopes
/// addressed to another of its incarnations, and envelopes from an older
/// incarnation of the sender than one it has already seen.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// The sender.
    pub from: NodeId,
    /// The sender's incarnation.
    pub from_incarnation: Incarnation,
    /// The addressee.
    pub to: NodeId,
    /// The addressee's incarnation as the sender knows it.
    pub to_incarnation: Incarnation,
    /// The message.
    pub msg: Message,
}
