//! Ballots: the totally ordered proposal numbers of Paxos ("Paxos Made Simple", §2.2).
//!
//! A ballot is `(round, node, incarnation)`, compared in that order. The node id
//! breaks ties between two coordinators that picked the same round; the
//! incarnation separates a node's lives, so a restarted node never reuses a
//! ballot it may have used before it forgot everything.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A node's identifier in the membership list.
pub type NodeId = u32;

/// One life of a node: changes at every restart, never decreases.
pub type Incarnation = u64;

/// A Paxos proposal number, ordered by round, then node, then incarnation.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Ballot {
    /// The round taken from the coordinator's node-wide round clock.
    pub round: u64,
    /// The coordinator that owns this ballot (the tie-break).
    pub node: NodeId,
    /// The coordinator's incarnation when it made the ballot.
    pub incarnation: Incarnation,
}

impl Ballot {
    /// The ballot below every real ballot: "nothing promised yet".
    pub const ZERO: Ballot = Ballot {
        round: 0,
        node: 0,
        incarnation: 0,
    };

    /// Builds a ballot.
    pub fn new(round: u64, node: NodeId, incarnation: Incarnation) -> Ballot {
        Ballot {
            round,
            node,
            incarnation,
        }
    }

    /// True for `Ballot::ZERO`.
    pub fn is_zero(&self) -> bool {
        *self == Ballot::ZERO
    }
}

impl fmt::Display for Ballot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.round, self.node)?;
        if self.incarnation != 0 {
            write!(f, "@{}", self.incarnation % 100_000)?;
        }
        Ok(())
    }
}

/// The node-wide round clock: one counter for all keys.
///
/// Every ballot the node sees raises it, so a fresh ballot outranks everything
/// the node has heard of; a per-key clock would pay an extra Reject on the first
/// touch of every key.
#[derive(Clone, Debug, Default)]
pub struct RoundClock {
    round: u64,
}

impl RoundClock {
    /// The highest round seen or used so far.
    pub fn current(&self) -> u64 {
        self.round
    }

    /// Raises the clock to at least `round`.
    pub fn observe(&mut self, round: u64) {
        if round > self.round {
            self.round = round;
        }
    }

    /// A new ballot above every round seen; `None` only if the clock would overflow.
    pub fn next(&mut self, node: NodeId, incarnation: Incarnation) -> Option<Ballot> {
        self.round = self.round.checked_add(1)?;
        Some(Ballot::new(self.round, node, incarnation))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ballots_order_by_round_then_node_then_incarnation() {
        assert!(Ballot::new(2, 1, 1) > Ballot::new(1, 9, 9));
        assert!(Ballot::new(2, 2, 1) > Ballot::new(2, 1, 9));
        assert!(Ballot::new(2, 2, 2) > Ballot::new(2, 2, 1));
        assert!(Ballot::new(1, 1, 1) > Ballot::ZERO);
    }

    #[test]
    fn clock_jumps_past_every_observed_round() {
        let mut clock = RoundClock::default();
        assert_eq!(clock.next(1, 7), Some(Ballot::new(1, 1, 7)));
        clock.observe(41);
        assert_eq!(clock.next(1, 7), Some(Ballot::new(42, 1, 7)));
        clock.observe(3);
        assert_eq!(clock.next(1, 7), Some(Ballot::new(43, 1, 7)));
    }

    #[test]
    fn clock_refuses_to_overflow() {
        let mut clock = RoundClock::default();
        clock.observe(u64::MAX);
        assert_eq!(clock.next(1, 1), None);
    }
}
