//! The wire vocabulary between nodes: the phases of "Paxos Made Simple" plus
//! Confirm (CASPaxos) and Nack. Replies are matched to rounds by (key, ballot).

use super::ballot::{Ballot, Incarnation, NodeId};
use super::command::{Key, Value};
use super::lineage::Lineage;
use super::membership::Membership;
use serde::{Deserialize, Serialize};

/// Why a node refused to take part without naming a higher ballot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum NackReason {
    /// The node restarted and has not caught up: it must not vote yet.
    Recovering,
    /// The node does not hold this key.
    NotReplica,
    /// The node is at its memory cap and the Accept would add bytes.
    OutOfMemory,
    /// An Accept named its value by a ballot (`held`) that this node does
    /// not hold: send the value itself.
    ValueMissing,
}

/// One protocol message about one key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Message {
    /// Phase 1a: "promise to ignore ballots below `ballot`".
    Prepare { key: Key, ballot: Ballot },
    /// Phase 1b: the promise, with the highest accepted (ballot, value), if any.
    /// `crash_vector`: the incarnations the sender knows for the key's other
    /// replicas, so the coordinator can void votes of incarnations now dead (!).
    Promise {
        key: Key,
        ballot: Ballot,
        accepted: Option<(Ballot, Value)>,
        confirmed: bool,
        crash_vector: CrashVector,
        /// The lineage of the accepted value (lineage.rs; empty: unknown).
        lineage: Lineage,
    },
    /// Phase 2a: "accept `value` at `ballot`". `next_prepare`: the Prepare
    /// (Phase 1a) of the coordinator's next ballot for the key, handled right
    /// after the Accept (CASPaxos §2.2.1: one round trip for the next write);
    /// its Promise rides on the Accepted (`next_promised`), or, if the Accept
    /// was refused, goes as its own Promise or Reject before that refusal.
    Accept {
        key: Key,
        ballot: Ballot,
        value: Value,
        next_prepare: Option<Ballot>,
        /// The changes that built `value`, newest first (lineage.rs): kept by
        /// the acceptor, reported in its Promises, so a retry can tell
        /// whether its own earlier change took effect.
        lineage: Lineage,
        /// `Some(h)`: the value is the one the acceptor accepted at ballot
        /// `h` (one value per ballot), so `value` is left empty and not
        /// sent again: a retry or identity round of a big value the
        /// replica's Promise showed it holds. Without `h` it answers
        /// `Nack(ValueMissing)` and changes nothing.
        held: Option<Ballot>,
    },
    /// Phase 2b: the acceptor accepted `ballot` (with its crash vector, as Promise).
    /// `next_promised`: it also promised the Accept's `next_prepare`; its
    /// accepted pair is then exactly this Accept's, so that Promise (Phase 1b)
    /// rides here instead of in a message of its own.
    Accepted {
        key: Key,
        ballot: Ballot,
        crash_vector: CrashVector,
        next_promised: bool,
    },
    /// Refusal of a Prepare or Accept at `ballot`: the acceptor promised `promised`.
    Reject {
        key: Key,
        ballot: Ballot,
        promised: Ballot,
    },
    /// After a quorum accepted `ballot`: the value is chosen. `all`: every replica accepted.
    Confirm { key: Key, ballot: Ballot, all: bool },
    /// Fast read: "tell me your accepted ballot and value"; does not touch
    /// `promised` (!). `ballot` only matches the answer to the read.
    /// `held: Some(h)`: the reader itself accepted a value at ballot `h`
    /// (one value per ballot), so a replica whose accepted ballot is `h`
    /// leaves the value out of its answer (`ReadReply::held`): a read of a
    /// big value a replica coordinates moves no value bytes.
    Read {
        key: Key,
        ballot: Ballot,
        held: Option<Ballot>,
    },
    /// Answer to `Read`: the accepted (ballot, value), if any, and whether a
    /// Confirm marked exactly that ballot chosen.
    ReadReply {
        key: Key,
        ballot: Ballot,
        accepted: Option<(Ballot, Value)>,
        confirmed: bool,
        /// The accepted ballot is the Read's `held`: the value is left
        /// empty and the reader takes its own, only if it still holds
        /// exactly that ballot (otherwise the answer is not counted).
        held: bool,
    },
    /// Refusal that names no ballot.
    Nack {
        key: Key,
        ballot: Ballot,
        reason: NackReason,
    },
    /// Catch-up, from a restarted node: "list the keys you hold that I
    /// replicate, in key order after `after`".
    Recover { after: Option<Key> },
    /// Catch-up answer: one bounded page of keys, those after `after` (echoed
    /// from the Recover, so a duplicate answer cannot be mistaken for the next page); `next` is where the next page
    /// starts (None: the listing is complete); `max_ballot` is the highest of
    /// the sender's floor and every ballot it ever promised.
    KeyPage {
        after: Option<Key>,
        keys: Vec<Key>,
        next: Option<Key>,
        max_ballot: Ballot,
    },
    /// Cluster listing (KEYS, SCAN): "list up to `count` of your live keys
    /// after `after`"; `req` numbers the asker's listing.
    ListKeys {
        req: u64,
        after: Option<Key>,
        count: u32,
    },
    /// Answer to `ListKeys`: live keys in key order; `next` is where the
    /// sender stopped early (None: it listed every key after the cursor).
    KeyList {
        req: u64,
        keys: Vec<Key>,
        next: Option<Key>,
    },
    /// The sender's membership (membership.rs): sent when a message came
    /// from another epoch, and by the coordinator of a membership round once
    /// it is chosen. The receiver adopts a newer one and answers an older one
    /// with its own. The only message handled whatever its envelope's epoch.
    Epoch { membership: Box<Membership> },
}

/// (replica, incarnation) pairs: what a voter knows of the key's other replicas.
pub type CrashVector = Vec<(NodeId, Incarnation)>;

impl Message {
    /// The key this message is about (empty for catch-up and listing messages, which span keys).
    pub fn key(&self) -> &[u8] {
        match self {
            Message::Prepare { key, .. }
            | Message::Promise { key, .. }
            | Message::Accept { key, .. }
            | Message::Accepted { key, .. }
            | Message::Reject { key, .. }
            | Message::Confirm { key, .. }
            | Message::Read { key, .. }
            | Message::ReadReply { key, .. }
            | Message::Nack { key, .. } => key,
            Message::Recover { .. }
            | Message::KeyPage { .. }
            | Message::ListKeys { .. }
            | Message::KeyList { .. }
            | Message::Epoch { .. } => &[],
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
            | Message::Read { ballot, .. }
            | Message::ReadReply { ballot, .. }
            | Message::Nack { ballot, .. } => *ballot,
            Message::KeyPage { max_ballot, .. } => *max_ballot,
            Message::Recover { .. }
            | Message::ListKeys { .. }
            | Message::KeyList { .. }
            | Message::Epoch { .. } => Ballot::ZERO,
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
            Message::ReadReply {
                accepted: Some((b, _)),
                ..
            } => r = r.max(b.round),
            Message::Accept {
                next_prepare: Some(n),
                ..
            } => r = r.max(n.round),
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
            Message::Read { .. } => "Read",
            Message::ReadReply { .. } => "ReadReply",
            Message::Nack { .. } => "Nack",
            Message::Recover { .. } => "Recover",
            Message::KeyPage { .. } => "KeyPage",
            Message::ListKeys { .. } => "ListKeys",
            Message::KeyList { .. } => "KeyList",
            Message::Epoch { .. } => "Epoch",
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
    /// The sender's membership epoch (membership.rs): a message from another
    /// epoch is not handled (!).
    pub epoch: u64,
    /// The message.
    pub msg: Message,
}
