//! Catch-up after a restart (docs/design.md, "Restart", rules 3-5).
//!
//! A restarted node has forgotten every promise and acceptance, so it must not
//! vote until it cannot contradict what its earlier incarnation said. It asks
//! each peer, page by page, for the keys the peer holds that it also
//! replicates (`Recover` -> `KeyPage`). For each listed key it runs a full
//! identity round (Prepare, Accept, Confirm) through the key's *other*
//! replicas: it does not count itself, so the round's quorum is made of nodes
//! that remember. That round's Prepare fences the late Accepts that the lost
//! promises would have refused, and its Accept re-establishes on a quorum any
//! value the old incarnation helped choose (any q other replicas meet the q
//! that chose it, minus at most the one that forgot).
//!
//! A peer's listing is "done" when its last page was listed and every key on
//! it had its round. The node votes for a key once, among the key's other
//! replicas, min(q, N-1) listings are done, after raising its floor above
//! every ballot the peers reported and every round it has seen. It votes for
//! every key (and lists for other restarted nodes) once that holds for every
//! replica set it could be in. Pages are pulled one at a
//! time, the next only after the last one's rounds finished: repair is paced
//! and serving continues.

use super::ballot::{Ballot, NodeId};
use super::command::{Command, Key};
use super::message::Message;
use super::node::{Effects, Node, Outcome, RequestId, TimerTarget};
use std::collections::{BTreeMap, BTreeSet};

/// A peer whose listing a catch-up still waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MissingListing {
    pub node: NodeId,
    /// Our link to it is up.
    pub up: bool,
    /// Its handshake was seen in this life.
    pub seen: bool,
    /// It sent pages: the listing waits for its keys' identity rounds (which
    /// need a quorum of the key's other replicas). A peer that is up and
    /// sent nothing is most likely recovering too (it does not list).
    pub answered: bool,
}

/// Why a catch-up cannot finish yet, for the operator (INFO, the log).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecoveryWait {
    /// Peers whose listing is not done.
    pub missing: Vec<MissingListing>,
    /// N, and how many of a replica set's other members must be done.
    pub replicas: usize,
    pub need: usize,
}

// The recovery lab (docs/labs/recovery.md): with `--features lab-recovery`,
// the student's versions of the three rule functions below, from the file
// named by SYNOD_LAB_RECOVERY at build time (scripts/lab-grade.sh sets it),
// replace the ones marked `cfg(not(feature = "lab-recovery"))`. Default
// builds never compile it.
#[cfg(feature = "lab-recovery")]
mod lab {
    include!(env!("SYNOD_LAB_RECOVERY"));
}
#[cfg(feature = "lab-recovery")]
use lab::{floor_after_catch_up, may_vote, repair_done};

/// Rule 4: a restarted node may vote for a replica set of `replicas` nodes
/// (itself included) once `done` of its other members finished their
/// listings, where a quorum of the others is needed (all of them when
/// there are fewer: both others when N = 3). Never with nobody to ask.
#[cfg(not(feature = "lab-recovery"))]
fn may_vote(done: usize, replicas: usize, quorum: usize) -> bool {
    let need = quorum.min(replicas.saturating_sub(1));
    need > 0 && done >= need
}

/// Rule 4's floor: above every ballot the peers reported (`reported`) and
/// every round this node has seen (`seen_round`, its own catch-up rounds
/// included), so no promise its old incarnation made can be contradicted.
#[cfg(not(feature = "lab-recovery"))]
fn floor_after_catch_up(reported: Ballot, seen_round: u64) -> Ballot {
    Ballot::new(seen_round, NodeId::MAX, super::ballot::Incarnation::MAX).max(reported)
}

/// Rule 3: a listed key's identity round counts as done only if it was
/// chosen. A round that failed, or whose outcome is unknown, may not have
/// reached a quorum: run it again.
#[cfg(not(feature = "lab-recovery"))]
fn repair_done(outcome: &Outcome) -> bool {
    matches!(outcome, Outcome::Ok(_))
}

/// Request ids with this bit set are the node's own catch-up rounds; drivers
/// must use ids below it for client requests.
pub const REPAIR_ID_BIT: RequestId = 1 << 63;

/// Progress of a catch-up, for INFO.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RecoveryProgress {
    /// Distinct keys peers listed so far.
    pub keys_listed: u64,
    /// Listed keys whose identity round finished (each key once, whichever
    /// peers listed it).
    pub keys_repaired: u64,
    /// Every peer has sent its last page: `keys_listed` is the total.
    pub listing_complete: bool,
    /// Peers whose listing is done.
    pub peers_done: usize,
    /// Peers to hear from.
    pub peers_total: usize,
}

/// One peer's listing.
#[derive(Clone, Debug, Default)]
struct Listing {
    /// Where the page to ask for next starts.
    cursor: Option<Key>,
    /// When the outstanding page request was sent, if one is.
    asked_at_us: Option<u64>,
    /// Identity rounds of the current page still running.
    pending: usize,
    /// After the current page: where the next starts (Some(None): it was the last).
    next: Option<Option<Key>>,
    done: bool,
    /// Bumped when the peer restarts mid-listing: its earlier answers are void.
    generation: u64,
}

/// A restarted node's catch-up state.
#[derive(Clone, Debug)]
pub(crate) struct Recovery {
    listings: BTreeMap<NodeId, Listing>,
    /// Running identity rounds: request id -> (peer, generation).
    repairs: BTreeMap<RequestId, (NodeId, u64, Key)>,
    next_repair: u64,
    max_reported: Ballot,
    progress: RecoveryProgress,
    timer: Option<(u64, u64)>,
    /// Every key listed so far, and those repaired: a key listed by several
    /// peers gets one identity round, not one per peer.
    listed: BTreeSet<Key>,
    repaired: BTreeSet<Key>,
}

impl Recovery {
    pub(crate) fn new(peers: impl Iterator<Item = NodeId>) -> Recovery {
        let listings: BTreeMap<NodeId, Listing> = peers.map(|p| (p, Listing::default())).collect();
        let progress = RecoveryProgress {
            peers_total: listings.len(),
            ..RecoveryProgress::default()
        };
        Recovery {
            listings,
            repairs: BTreeMap::new(),
            next_repair: 0,
            max_reported: Ballot::ZERO,
            progress,
            timer: None,
            listed: BTreeSet::new(),
            repaired: BTreeSet::new(),
        }
    }

    /// The armed poll timer, if any.
    pub(crate) fn timer_armed(&self) -> Option<(u64, u64)> {
        self.timer
    }

    /// Forgets the poll timer (it fired).
    pub(crate) fn disarm(&mut self) {
        self.timer = None;
    }

    /// The membership changed (membership.rs): list from new members too,
    /// and wait no longer for nodes that left.
    pub(crate) fn set_peers(&mut self, peers: impl Iterator<Item = NodeId>) {
        let peers: BTreeSet<NodeId> = peers.collect();
        self.listings.retain(|p, _| peers.contains(p));
        for p in peers {
            self.listings.entry(p).or_default();
        }
        self.progress.peers_total = self.listings.len();
        self.progress.peers_done = self.listings.values().filter(|l| l.done).count();
    }

    /// True if some listing is done (the others may be enough).
    pub(crate) fn recovery_progress_done(&self) -> bool {
        self.listings.values().any(|l| l.done)
    }

    /// How many of `others` have finished their listings.
    fn done_among(&self, others: impl Iterator<Item = NodeId>) -> usize {
        others
            .filter(|p| self.listings.get(p).is_some_and(|l| l.done))
            .count()
    }
}

impl Node {
    /// True if this node may vote on `key`: it is not recovering, or enough
    /// of the key's other replicas finished listing for it (rule 4).
    pub(crate) fn votes_for(&self, key: &[u8]) -> bool {
        let Some(rec) = &self.recovery else {
            return self.voting;
        };
        let me = self.cfg.node_id;
        // Each set the node is in (during a membership change, old and new).
        self.round_sets(key)
            .1
            .into_iter()
            .filter(|set| set.contains(&me))
            .all(|set| {
                let n = set.len();
                let done = rec.done_among(set.into_iter().filter(|&r| r != me));
                self.may_vote_here(done, n, n / 2 + 1)
            })
    }

    /// Rule 4 as this node applies it (the deliberate bug
    /// `ready-after-one-listing` needs only one finished listing).
    fn may_vote_here(&self, done: usize, replicas: usize, quorum: usize) -> bool {
        if self.cfg.bug == Some(super::config::DeliberateBug::ReadyAfterOneListing) {
            return done >= 1;
        }
        may_vote(done, replicas, quorum)
    }

    /// Catch-up progress, while recovering.
    pub fn recovery_progress(&self) -> Option<RecoveryProgress> {
        self.recovery.as_ref().map(|r| RecoveryProgress {
            listing_complete: r.listings.values().all(|l| l.done || l.next == Some(None)),
            ..r.progress
        })
    }

    /// While recovering: the peers whose listings are missing, and what a
    /// replica set needs (the runtime says so when catch-up stalls).
    pub fn recovery_wait(&self) -> Option<RecoveryWait> {
        let rec = self.recovery.as_ref()?;
        let n = self.placement.replicas();
        Some(RecoveryWait {
            missing: rec
                .listings
                .iter()
                .filter(|(_, l)| !l.done)
                .map(|(&id, l)| {
                    let p = self.peers.get(&id);
                    MissingListing {
                        node: id,
                        up: p.is_some_and(|p| p.up),
                        seen: p.is_some_and(|p| p.incarnation != 0),
                        answered: l.next.is_some() || l.cursor.is_some() || l.pending > 0,
                    }
                })
                .collect(),
            replicas: n,
            need: self.placement.quorum().min(n - 1),
        })
    }

    /// Asks every peer whose listing is neither done nor waiting for an
    /// answer (or waiting too long) for its next page, and re-arms the timer.
    pub(crate) fn recovery_poll(&mut self, out: &mut Effects) {
        let now = self.now.mono_us;
        let retry_us = self.cfg.recovery_retry_ms * 1_000;
        let Some(rec) = self.recovery.as_mut() else {
            return;
        };
        let mut asks = Vec::new();
        let peers = &self.peers;
        for (&peer, l) in rec.listings.iter_mut() {
            if peers.get(&peer).is_none_or(|p| p.incarnation == 0) {
                continue; // No handshake yet: PeerUp will ask.
            }
            let stale = l.asked_at_us.is_none_or(|t| now >= t + retry_us);
            if !l.done && l.pending == 0 && l.next.is_none() && stale {
                l.asked_at_us = Some(now);
                asks.push((peer, l.cursor.clone()));
            }
        }
        self.timer_seq += 1;
        let at = (now + retry_us, self.timer_seq);
        if let Some(old) = rec.timer.replace(at) {
            self.timers.remove(&old);
        }
        self.timers.insert(at, TimerTarget::Recovery);
        for (peer, after) in asks {
            self.send(peer, Message::Recover { after }, out);
        }
    }

    /// A restarted peer asks for the keys we hold that it replicates.
    pub(crate) fn on_recover(&mut self, from: NodeId, after: Option<Key>, out: &mut Effects) {
        if !self.voting {
            // Our own memory is as fresh as theirs: our listing would prove nothing.
            log::debug!("ignore Recover from {from}: this node is recovering too");
            return;
        }
        let placement = &self.placement;
        let old = self.old_placement.as_ref();
        let (keys, next) = self.acceptor.list_keys(
            after.as_deref(),
            |k| placement.is_replica(k, from) || old.is_some_and(|p| p.is_replica(k, from)),
            self.cfg.recovery_page_keys_max,
            self.cfg.recovery_scan_slots_max,
        );
        let max_ballot = self.acceptor.max_ballot();
        self.send(
            from,
            Message::KeyPage {
                after,
                keys,
                next,
                max_ballot,
            },
            out,
        );
    }

    /// A page of a peer's listing: run an identity round for each key.
    pub(crate) fn on_key_page(
        &mut self,
        from: NodeId,
        after: Option<Key>,
        keys: Vec<Key>,
        next: Option<Key>,
        max_ballot: Ballot,
        out: &mut Effects,
    ) {
        let Some(rec) = self.recovery.as_mut() else {
            return;
        };
        let Some(l) = rec.listings.get_mut(&from) else {
            return;
        };
        if l.done || l.asked_at_us.is_none() || l.next.is_some() || l.cursor != after {
            log::debug!("ignore KeyPage from {from}: not the page we asked for");
            return;
        }
        l.asked_at_us = None;
        l.next = Some(next);
        let generation = l.generation;
        rec.max_reported = rec.max_reported.max(max_ballot);
        let mut ids = Vec::with_capacity(keys.len());
        for key in keys {
            if rec.listed.insert(key.clone()) {
                rec.progress.keys_listed += 1;
            }
            if rec.repaired.contains(&key) {
                // Another peer listed it and its identity round is done: the
                // round fenced the lost promises on a quorum of the others.
                continue;
            }
            rec.next_repair += 1;
            let id = REPAIR_ID_BIT | rec.next_repair;
            rec.repairs.insert(id, (from, generation, key.clone()));
            ids.push((id, key));
        }
        if let Some(l) = rec.listings.get_mut(&from) {
            l.pending = ids.len();
        }
        if ids.is_empty() {
            self.page_finished(from, out);
        }
        for (id, key) in ids {
            self.enqueue(id, key, Command::Get, out);
        }
    }

    /// One of our identity rounds ended.
    pub(crate) fn on_repair_done(&mut self, id: RequestId, outcome: Outcome, out: &mut Effects) {
        let Some(rec) = self.recovery.as_mut() else {
            return;
        };
        let Some((peer, generation, key)) = rec.repairs.remove(&id) else {
            return;
        };
        let Some(l) = rec.listings.get_mut(&peer) else {
            return;
        };
        if l.generation != generation {
            return;
        }
        if !repair_done(&outcome) {
            // No quorum of the others yet: try again (the round paces itself).
            rec.next_repair += 1;
            let id = REPAIR_ID_BIT | rec.next_repair;
            rec.repairs.insert(id, (peer, generation, key.clone()));
            self.enqueue(id, key, Command::Get, out);
            return;
        }
        if rec.repaired.insert(key) {
            rec.progress.keys_repaired += 1;
        }
        l.pending -= 1;
        if l.pending == 0 {
            self.page_finished(peer, out);
        }
    }

    /// Every key of a page had its round: ask for the next page, or finish.
    fn page_finished(&mut self, peer: NodeId, out: &mut Effects) {
        let Some(rec) = self.recovery.as_mut() else {
            return;
        };
        let Some(l) = rec.listings.get_mut(&peer) else {
            return;
        };
        match l.next.take() {
            Some(Some(cursor)) => {
                l.cursor = Some(cursor);
                self.recovery_poll(out);
            }
            Some(None) => {
                l.done = true;
                rec.progress.peers_done += 1;
                log::info!("catch-up: node {peer}'s listing is done");
                self.on_listing_done();
            }
            None => {}
        }
    }

    /// Raises the floor (before any replica set starts counting this node's
    /// votes), and ends recovery once every replica set this node could be
    /// in has enough finished listings.
    pub(crate) fn on_listing_done(&mut self) {
        self.raise_floor_after_catch_up();
        // A replica set holds this node and N-1 peers. In the worst one, every
        // peer whose listing is not done is a member, so every set is ready
        // once at most (N-1) - need listings are missing. With N = 3 that is
        // all of them; with N = 5, all but one (so two nodes restarted
        // together, within F = 2, each finish without the other).
        let n = self.placement.replicas();
        let missing = self
            .recovery
            .as_ref()
            .map_or(0, |r| r.listings.values().filter(|l| !l.done).count());
        let worst_done = (n - 1).saturating_sub(missing);
        if self.may_vote_here(worst_done, n, self.placement.quorum()) {
            self.end_recovery("enough listings for every replica set");
        }
    }

    /// The floor goes above every ballot the peers reported and every round
    /// this node has seen (its catch-up rounds included).
    fn raise_floor_after_catch_up(&mut self) {
        let reported = self
            .recovery
            .as_ref()
            .map_or(Ballot::ZERO, |r| r.max_reported);
        self.clock.observe(reported.round);
        if self.cfg.bug == Some(super::config::DeliberateBug::FloorNotRaisedAfterCatchUp) {
            return;
        }
        let floor = floor_after_catch_up(reported, self.clock.current());
        self.acceptor.raise_floor(floor);
    }

    fn end_recovery(&mut self, why: &str) {
        if let Some(rec) = self.recovery.take() {
            if let Some(t) = rec.timer {
                self.timers.remove(&t);
            }
            log::info!(
                "catch-up finished ({why}): {} keys repaired; voting",
                rec.progress.keys_repaired
            );
        }
        self.voting = true;
    }

    /// The operator declared the missing replicas lost (`synod admin
    /// declare-lost`): vote without hearing from them. Values only the lost
    /// replicas held are gone; nothing is invented.
    pub(crate) fn declare_lost(&mut self) {
        if self.recovery.is_none() {
            return;
        }
        log::warn!("declare-lost: voting without a complete catch-up; data held only by lost replicas is gone");
        self.memory_incomplete = true;
        self.raise_floor_after_catch_up();
        self.end_recovery("declared lost");
    }

    /// A peer restarted while we listed it: its answers so far are void.
    pub(crate) fn restart_listing(&mut self, peer: NodeId) {
        if let Some(l) = self
            .recovery
            .as_mut()
            .and_then(|r| r.listings.get_mut(&peer))
        {
            if !l.done {
                *l = Listing {
                    generation: l.generation + 1,
                    ..Listing::default()
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::ballot::Incarnation;
    use crate::core::command::Reply;

    #[test]
    fn a_restarted_node_votes_once_a_quorum_of_the_others_listed() {
        // N = 3, q = 2: both others (q of N-1 = 2).
        assert!(!may_vote(0, 3, 2), "N=3, none of the others done");
        assert!(!may_vote(1, 3, 2), "N=3, one of the two others done");
        assert!(may_vote(2, 3, 2), "N=3, both others done");
        // N = 5, q = 3: three of the four others.
        assert!(!may_vote(2, 5, 3), "N=5, two of four others done");
        assert!(may_vote(3, 5, 3), "N=5, three of four others done");
    }

    #[test]
    fn a_node_with_nobody_to_ask_never_votes_by_catching_up() {
        assert!(!may_vote(0, 1, 1), "N=1: no other replica can vouch");
    }

    #[test]
    fn the_floor_after_catch_up_is_above_every_ballot_reported_or_seen() {
        let reported = Ballot::new(9, 2, 5);
        let floor = floor_after_catch_up(reported, 9);
        assert!(floor >= reported, "floor {floor} below reported {reported}");
        assert!(
            floor > Ballot::new(9, NodeId::MAX - 1, Incarnation::MAX),
            "floor {floor} leaves room for another round-9 ballot"
        );
        let seen = floor_after_catch_up(Ballot::new(3, 1, 1), 12);
        assert!(
            seen > Ballot::new(12, NodeId::MAX - 1, 1),
            "floor {seen} is not above round 12, which this node saw"
        );
        let far = Ballot::new(20, 1, 1);
        assert!(floor_after_catch_up(far, 12) >= far);
    }

    #[test]
    fn only_a_chosen_identity_round_counts_as_repaired() {
        assert!(repair_done(&Outcome::Ok(Reply::Value(None))));
        assert!(!repair_done(&Outcome::Failed("no quorum".into())));
        assert!(!repair_done(&Outcome::Unknown("contended".into())));
    }
}
