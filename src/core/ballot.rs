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
///
/// A peer may lie, so how far peers can raise the clock is bounded by a
/// budget: in all, peers raise it by at most `Config::round_jump_max` plus
/// `Config::round_raise_per_sec` for every second the node has run. An
/// honest cluster raises a node's clock by the rounds the others started,
/// millions per second at most, far below the refill; a member pushing huge
/// ballots is refused once the budget is spent. The budget is not capped: a
/// node whose clock a liar inflated passes the inflation on to honest nodes,
/// whose budgets (as old as theirs) absorb it. At the default 2^30 rounds
/// per second, reaching `u64::MAX` takes over 500 years of uptime. Should the clock
/// ever reach its limit, `next` returns `None` and the node's rounds fail
/// with a clear error (no wrap-around, no panic); only a wiped cluster starts
/// again from round 0.
#[derive(Clone, Debug, Default)]
pub struct RoundClock {
    round: u64,
    /// Rounds peers may still raise the clock by; refilled over time.
    budget: u64,
    /// When `budget` was last refilled (µs, the driver's monotonic clock);
    /// None until the first raise: a driver's clock need not start at 0 with
    /// the node (the simulator's runs on across restarts), and a restarted
    /// node's budget must not count the time before it started.
    refilled_at_us: Option<u64>,
}

impl RoundClock {
    /// A clock at round 0 whose raise budget starts full at `budget`.
    pub fn with_budget(budget: u64) -> RoundClock {
        RoundClock {
            round: 0,
            budget,
            refilled_at_us: None,
        }
    }

    /// The highest round seen or used so far.
    pub fn current(&self) -> u64 {
        self.round
    }

    /// Raises the clock to at least `round`, with no budget check (our own
    /// state, e.g. a catch-up floor already admitted).
    pub fn observe(&mut self, round: u64) {
        if round > self.round {
            self.round = round;
        }
    }

    /// Checks that a peer may raise the clock to `round` now: up to
    /// `vouched` (a round enough members claimed, node.rs) for free, and the
    /// raise beyond that must fit in the budget (started at `max`, refilled
    /// at `per_sec`). Spends it if it may; changes nothing if it may not.
    pub fn check_raise(
        &mut self,
        round: u64,
        vouched: u64,
        now_us: u64,
        max: u64,
        per_sec: u64,
    ) -> Result<(), String> {
        let raise = round.saturating_sub(self.round.max(vouched));
        if raise == 0 {
            return Ok(());
        }
        let elapsed = now_us.saturating_sub(self.refilled_at_us.unwrap_or(now_us));
        let refill = u128::from(elapsed) * u128::from(per_sec) / 1_000_000;
        let budget = (u128::from(self.budget) + refill).min(u128::from(u64::MAX)) as u64;
        if raise > budget {
            return Err(format!(
                "round {round} jumps {raise} past our clock {} (vouched for: {vouched}), more \
                 than the {budget} rounds peers may raise it by now (round_jump_max = {max}, \
                 round_raise_per_sec = {per_sec})",
                self.round
            ));
        }
        self.budget = budget - raise;
        self.refilled_at_us = Some(self.refilled_at_us.map_or(now_us, |t| t.max(now_us)));
        Ok(())
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
    fn peers_raise_the_clock_only_within_the_budget() {
        let mut clock = RoundClock::with_budget(100);
        assert!(clock.check_raise(60, 0, 0, 100, 10).is_ok());
        clock.observe(60);
        // 40 left: a raise of 50 is refused and changes nothing.
        assert!(clock.check_raise(110, 0, 0, 100, 10).is_err());
        assert_eq!(clock.current(), 60);
        // Rounds at or below the clock cost nothing.
        assert!(clock.check_raise(60, 0, 0, 100, 10).is_ok());
        // One second later 10 more rounds are allowed: 50 in all.
        assert!(clock.check_raise(110, 0, 1_000_000, 100, 10).is_ok());
        clock.observe(110);
        assert!(clock.check_raise(111, 0, 1_000_000, 100, 10).is_err());
        // In all, peers raise it by at most 100 + 10 per second.
        assert!(clock
            .check_raise(10_101, 0, 1_000_000_000, 100, 10)
            .is_err());
        assert!(clock.check_raise(10_100, 0, 1_000_000_000, 100, 10).is_ok());
        clock.observe(10_100);
        assert!(clock
            .check_raise(10_101, 0, 1_000_000_000, 100, 10)
            .is_err());
    }

    #[test]
    fn a_vouched_round_is_free_and_the_budget_counts_from_it() {
        let mut clock = RoundClock::with_budget(100);
        // Far past the budget, but enough members vouched for 1,000,000.
        assert!(clock.check_raise(1_000_000, 0, 0, 100, 10).is_err());
        assert!(clock.check_raise(1_000_000, 1_000_000, 0, 100, 10).is_ok());
        // Beyond the vouched round, the budget still applies (none spent yet).
        assert!(clock.check_raise(1_000_100, 1_000_000, 0, 100, 10).is_ok());
        assert!(clock.check_raise(1_000_101, 1_000_000, 0, 100, 10).is_err());
    }

    #[test]
    fn clock_refuses_to_overflow() {
        let mut clock = RoundClock::default();
        clock.observe(u64::MAX);
        assert_eq!(clock.next(1, 1), None);
    }
}
