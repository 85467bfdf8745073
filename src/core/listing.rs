//! Listing the keys of the whole cluster, a bounded page at a time (for KEYS,
//! SCAN, DBSIZE and FLUSHALL).
//!
//! Keys live on N of the M members (placement.rs), and a chosen value is held
//! by at least a quorum q of its key's replicas. A listing asks every member
//! (itself included, through the local acceptor path) for its keys after a
//! cursor (`ListKeys` -> `KeyList`), and completes once all members but at
//! most N - q answered: then at least q of every key's N replicas answered,
//! and any q meet the q that chose the key's value, so no chosen key is
//! missed. A member that is recovering from a restart does not answer (its
//! memory proves nothing), so it counts as missing. Too few answers within
//! `list_timeout_ms`: `Outcome::Failed`.
//!
//! During a membership change (the joint epoch, membership.rs) a key's
//! chosen value may sit on a quorum of its *old* replicas only, until it is
//! moved: the listing asks every member, old and new, and completes once all
//! new members but N - q and all old members but N - q answered (!) (twin:
//! `listing-ignores-old-members`). Every answer it counts was given in the
//! coordinator's epoch (a message from another epoch is not handled), and
//! when the coordinator moves to another epoch its running listings start
//! again, so no listing mixes answers of two epochs.
//!
//! Each member lists at most `count` keys that may be live: every key whose
//! accepted value is a value, or a tombstone not yet confirmed (a tombstone
//! accepted by a minority may sit above the live value that is still the
//! chosen one), examining at most `recovery_scan_slots_max` slots, and says
//! where it stopped (`next`). Only a confirmed tombstone, which is chosen,
//! and a bare promise are left out. The merged page is the union of the
//! answers, cut at the smallest `next` among answers that stopped early (so
//! no key below the cut is skipped) and at `count` keys; its cursor is the
//! cut (None: the listing is complete).
//!
//! The guarantee, for the keys between the cursor and the cut: **every key
//! live for the whole listing is returned.** (Its latest chosen value at the
//! listing's start is held by a quorum, which meets the answering members in
//! one replica; that replica has since accepted the same ballot or a higher
//! one, and it leaves the key out only for a confirmed tombstone, chosen
//! during the listing.) A listing is only a candidate set: a lagging replica
//! may still list a key deleted since, and a value accepted by a minority may
//! be listed before it is chosen. The command layer reads each candidate
//! through its own round (src/commands/keys.rs), so **every key KEYS, SCAN or DBSIZE
//! returns was live at some point during the command**, and FLUSHALL deletes
//! every key live for its whole run. The simulator checks both halves
//! (sim/src/checker.rs).

use super::ballot::NodeId;
use super::command::{Key, Reply};
use super::message::Message;
use super::node::{Effects, Node, Outcome, RequestId, TimerTarget};
use std::collections::{BTreeMap, BTreeSet};

/// One listing this node coordinates.
#[derive(Clone, Debug)]
pub(crate) struct Listing {
    /// The client request this listing answers.
    id: RequestId,
    after: Option<Key>,
    count: usize,
    /// Members that answered.
    answered: BTreeSet<NodeId>,
    /// Keys from every answer so far.
    keys: BTreeSet<Key>,
    /// The smallest `next` among answers that stopped early.
    cut: Option<Key>,
    /// The armed timeout: (deadline µs, seq).
    timer: (u64, u64),
}

/// The listings a node coordinates, by listing number.
#[derive(Clone, Debug, Default)]
pub(crate) struct Listings {
    running: BTreeMap<u64, Listing>,
    next_req: u64,
}

/// Merges one member's answer into `cut` and `keys`: `next` is where that
/// member stopped (None: it listed everything after the cursor).
fn merge(keys: &mut BTreeSet<Key>, cut: &mut Option<Key>, listed: Vec<Key>, next: Option<Key>) {
    keys.extend(listed);
    if let Some(next) = next {
        if cut.as_ref().is_none_or(|c| next < *c) {
            *cut = Some(next);
        }
    }
}

/// The page a finished listing answers: the keys up to the cut, at most `count`.
fn page(keys: BTreeSet<Key>, cut: Option<Key>, count: usize) -> (Vec<Key>, Option<Key>) {
    let mut page: Vec<Key> = keys
        .into_iter()
        .take_while(|k| cut.as_ref().is_none_or(|c| k <= c))
        .collect();
    if page.len() > count {
        page.truncate(count);
        let last = page.last().cloned();
        return (page, last);
    }
    (page, cut)
}

impl Node {
    /// True once `answered` completes a listing: all members but N - q, and
    /// during a membership change all old members but N - q as well (!): a
    /// value chosen before the change sits on a quorum of the old replica
    /// set only, until it is moved.
    fn listing_complete(&self, answered: &BTreeSet<NodeId>) -> bool {
        let enough = |p: &super::placement::Placement| {
            let slack = p.replicas() - p.quorum();
            let heard = p.members().iter().filter(|n| answered.contains(n)).count();
            heard + slack >= p.members().len()
        };
        let bug = self.cfg.bug == Some(super::config::DeliberateBug::ListingIgnoresOldMembers);
        enough(&self.placement) && (bug || self.old_placement.as_ref().is_none_or(enough))
    }

    /// This node moved to another membership epoch: answers counted so far
    /// were given in the old one, so every running listing starts again,
    /// asking the new epoch's members (old and new) (!).
    pub(crate) fn restart_listings(&mut self, out: &mut Effects) {
        let running: Vec<(u64, Option<Key>, usize)> = self
            .listings
            .running
            .iter_mut()
            .map(|(&req, l)| {
                l.answered.clear();
                l.keys.clear();
                l.cut = None;
                (req, l.after.clone(), l.count)
            })
            .collect();
        for (req, after, count) in running {
            self.ask_for_keys(req, after, count, out);
        }
    }

    /// Sends one listing's `ListKeys` to every member of the epoch, old and new.
    fn ask_for_keys(&mut self, req: u64, after: Option<Key>, count: usize, out: &mut Effects) {
        let ask_old = self.cfg.bug != Some(super::config::DeliberateBug::ListingIgnoresOldMembers);
        let members = if ask_old {
            self.membership.all()
        } else {
            self.placement.members().to_vec()
        };
        for member in members {
            let msg = Message::ListKeys {
                req,
                after: after.clone(),
                count: count as u32,
            };
            self.send(member, msg, out);
        }
    }

    /// A client asks for a page of the cluster's keys after `after`.
    pub(crate) fn on_list_keys_request(
        &mut self,
        id: RequestId,
        after: Option<Key>,
        count: usize,
        out: &mut Effects,
    ) {
        self.stats.requests += 1;
        let max = self.cfg.list_keys_max;
        if count == 0 || count > max {
            self.stats.requests_failed += 1;
            let why =
                format!("a listing page must hold 1 to {max} keys (list_keys_max), not {count}");
            out.replies.push((id, Outcome::Failed(why)));
            return;
        }
        if self.listings.running.len() >= self.cfg.listings_max {
            self.stats.requests_failed += 1;
            let why = format!(
                "node busy: {} key listings running (listings_max)",
                self.listings.running.len()
            );
            out.replies.push((id, Outcome::Failed(why)));
            return;
        }
        self.listings.next_req += 1;
        let req = self.listings.next_req;
        self.timer_seq += 1;
        let timer = (
            self.now.mono_us + self.cfg.list_timeout_ms * 1_000,
            self.timer_seq,
        );
        self.timers.insert(timer, TimerTarget::Listing(req));
        self.listings.running.insert(
            req,
            Listing {
                id,
                after: after.clone(),
                count,
                answered: BTreeSet::new(),
                keys: BTreeSet::new(),
                cut: None,
                timer,
            },
        );
        self.ask_for_keys(req, after, count, out);
    }

    /// A member (maybe this node) asks for our live keys after `after`.
    pub(crate) fn on_list_keys(
        &mut self,
        from: NodeId,
        req: u64,
        after: Option<Key>,
        count: u32,
        out: &mut Effects,
    ) {
        if !self.voting {
            // Our memory is fresh from a restart: a listing of it proves nothing.
            log::debug!("ignore ListKeys from {from}: this node is recovering");
            return;
        }
        let count = (count as usize).min(self.cfg.list_keys_max);
        if count == 0 {
            log::debug!("ignore ListKeys from {from}: count 0");
            return;
        }
        let (keys, next) =
            self.acceptor
                .list_live_keys(after.as_deref(), count, self.cfg.recovery_scan_slots_max);
        self.send(from, Message::KeyList { req, keys, next }, out);
    }

    /// A member's answer to one of our listings.
    pub(crate) fn on_key_list(
        &mut self,
        from: NodeId,
        req: u64,
        keys: Vec<Key>,
        next: Option<Key>,
        out: &mut Effects,
    ) {
        let Some(l) = self.listings.running.get_mut(&req) else {
            log::debug!("ignore KeyList {req} from {from}: no such listing running");
            return;
        };
        if keys.len() > l.count || !l.answered.insert(from) {
            log::debug!("ignore KeyList {req} from {from}: duplicate or oversized");
            return;
        }
        if let Some(after) = &l.after {
            if keys.iter().any(|k| k <= after) || next.as_ref().is_some_and(|n| n <= after) {
                log::debug!("ignore KeyList {req} from {from}: keys not after the cursor");
                l.answered.remove(&from);
                return;
            }
        }
        merge(&mut l.keys, &mut l.cut, keys, next);
        let answered = std::mem::take(&mut l.answered);
        let complete = self.listing_complete(&answered);
        if let Some(l) = self.listings.running.get_mut(&req) {
            l.answered = answered;
        }
        if !complete {
            return;
        }
        let Some(l) = self.listings.running.remove(&req) else {
            return;
        };
        self.timers.remove(&l.timer);
        let (keys, next) = page(l.keys, l.cut, l.count);
        self.stats.requests_ok += 1;
        out.replies
            .push((l.id, Outcome::Ok(Reply::Keys { keys, next })));
    }

    /// A listing's timeout fired: too few members answered.
    pub(crate) fn on_listing_timeout(&mut self, req: u64, out: &mut Effects) {
        let Some(l) = self.listings.running.remove(&req) else {
            return;
        };
        self.stats.requests_failed += 1;
        let why = format!(
            "only {} of {} members answered a key listing within {} ms (all but N - quorum are needed); nothing listed",
            l.answered.len(),
            self.membership.all().len(),
            self.cfg.list_timeout_ms
        );
        out.replies.push((l.id, Outcome::Failed(why)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(s: &str) -> Key {
        s.as_bytes().to_vec()
    }
    fn ks(s: &[&str]) -> Vec<Key> {
        s.iter().map(|x| k(x)).collect()
    }

    #[test]
    fn the_page_is_cut_at_the_smallest_early_stop() {
        let (mut keys, mut cut) = (BTreeSet::new(), None);
        merge(&mut keys, &mut cut, ks(&["a", "c"]), Some(k("c")));
        merge(&mut keys, &mut cut, ks(&["b", "d", "e"]), None);
        merge(&mut keys, &mut cut, ks(&["a"]), Some(k("b")));
        assert_eq!(page(keys, cut, 10), (ks(&["a", "b"]), Some(k("b"))));
    }

    #[test]
    fn the_page_is_complete_when_no_answer_stopped_early() {
        let (mut keys, mut cut) = (BTreeSet::new(), None);
        merge(&mut keys, &mut cut, ks(&["b", "a"]), None);
        merge(&mut keys, &mut cut, ks(&["c"]), None);
        assert_eq!(page(keys, cut, 10), (ks(&["a", "b", "c"]), None));
    }

    #[test]
    fn the_page_holds_at_most_count_keys_and_resumes_after_the_last() {
        let (mut keys, mut cut) = (BTreeSet::new(), None);
        merge(&mut keys, &mut cut, ks(&["a", "b"]), None);
        merge(&mut keys, &mut cut, ks(&["c", "d"]), None);
        assert_eq!(page(keys, cut, 3), (ks(&["a", "b", "c"]), Some(k("c"))));
    }
}
