//! Membership change: the cluster's member list is itself a Paxos register.
//!
//! The register is the reserved key [`MEMBERSHIP_KEY`], replicated on every
//! member (placement.rs), so changing the membership is a round like any
//! other. Its value is a [`Membership`]: an epoch number, the member list,
//! and during a change the old list too. Every peer message carries its
//! sender's epoch (`Envelope::epoch`); a message from another epoch is not
//! handled (node.rs `admit`): the one behind learns the newer epoch from a
//! `Message::Epoch`.
//!
//! A change from members A to members B goes through two epochs:
//!
//! 1. **Joint** (epoch e+1, written by a round of epoch e): a key whose
//!    replica set differs between A and B (R_A(k) != R_B(k)) needs, in every
//!    round, a quorum of R_A(k) AND a quorum of R_B(k) (!); Prepares and
//!    Accepts go to both sets. Every old member, once it votes in the joint
//!    epoch, *moves* each key it holds whose set changes: a full identity
//!    round under joint quorums, which re-establishes the latest value on a
//!    quorum of the new set. Then it records itself as moved in the register.
//! 2. **Final** (epoch e+2): written by the round that records enough old
//!    members as moved: all but at most q-1 of them (q = ⌊N/2⌋+1), so that
//!    every quorum of every old replica set contains one that moved. From
//!    then on single quorums of B suffice, and a node drops the keys it no
//!    longer replicates, raising its floor to their promise first (!).
//!
//! Why it is safe: quorums of consecutive epochs intersect (an A quorum meets
//! a joint quorum, a joint quorum meets a B quorum). A and B quorums need
//! not, so no value chosen by an epoch-e round may be missed by the final
//! epoch: an old member refuses epoch-e messages once it is in the joint
//! epoch, so every acceptance it gave in epoch e precedes its move scan, and
//! every A quorum contains a member that moved. The proof is in
//! docs/design.md ("Membership change").

use super::ballot::NodeId;
use super::command::{Command, Key, Record, Reply, Value};
use super::message::Message;
use super::node::{Effects, Node, Outcome, RequestId};
use super::placement::Placement;
use super::recovery::REPAIR_ID_BIT;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};

/// Request ids with this bit (and `REPAIR_ID_BIT`) are the node's own move
/// rounds and reports; drivers use ids below `1 << 61` for clients.
pub const MOVE_ID_BIT: RequestId = 1 << 61;

/// Move rounds one node runs at once: paced so client traffic keeps going.
const MOVES_INFLIGHT: usize = 32;

/// How long after adopting an epoch a node keeps telling every member about
/// it (each housekeeping run), so a member that missed the broadcast learns
/// it even if nothing else reaches it.
const TELL_FOR_US: u64 = 5_000_000;

/// A node tells one peer its epoch at most this often (µs), however many
/// messages from another epoch it gets.
const TELL_EVERY_US: u64 = 10_000;

/// The reserved key of the membership register. Clients cannot use it.
pub const MEMBERSHIP_KEY: &[u8] = b"\xffsynod:membership";

/// Members at most in one membership (bounds what a peer may send).
pub const MEMBERS_MAX: usize = 1024;

/// One epoch of the cluster's membership.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    /// 0 for the list every node starts with; +1 per step of a change.
    pub epoch: u64,
    /// The members (during a change: the new ones), sorted.
    pub members: Vec<NodeId>,
    /// During a change (the joint epoch): the old members, sorted.
    pub old: Option<Vec<NodeId>>,
    /// During a change: old members that moved every key they hold.
    pub moved: Vec<NodeId>,
    /// Peer addresses of nodes added by a change (`synod admin add-node ID
    /// ADDR`), sorted by id, so every member can dial them; the nodes the
    /// cluster started with are in each node's configuration. Opaque to the
    /// core: the runtime dials them.
    pub addrs: Vec<(NodeId, String)>,
}

/// Longest peer address a membership may name.
pub const ADDR_MAX: usize = 255;

/// Why `addr` cannot be a peer address in the register, if it cannot.
pub fn check_addr(addr: &str) -> Result<(), String> {
    if addr.is_empty()
        || addr.len() > ADDR_MAX
        || addr
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == ',' || c == '@' || c == '=')
    {
        return Err(format!(
            "ERR bad peer address {addr:?}: 1 to {ADDR_MAX} bytes, HOST:PORT, no spaces, ',', '@' or '='"
        ));
    }
    Ok(())
}

/// A change to the membership register: the change function of its rounds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MembershipOp {
    /// Start a change to `members`, if the register still holds `from`
    /// (the coordinator's view, which stands for an absent register when its
    /// epoch is 0) and no change is running.
    Change {
        from: Membership,
        members: Vec<NodeId>,
        /// Peer addresses of the added nodes.
        addrs: Vec<(NodeId, String)>,
    },
    /// Old member `node` moved every key it holds in joint epoch `epoch`;
    /// once all old members but `may_lag` did, the change ends (the final
    /// epoch).
    Moved {
        epoch: u64,
        node: NodeId,
        may_lag: usize,
        /// The membership the node knows (stands for an absent register).
        from: Membership,
    },
}

fn sorted(v: &[NodeId]) -> Vec<NodeId> {
    let mut v = v.to_vec();
    v.sort_unstable();
    v.dedup();
    v
}

impl Membership {
    /// Epoch 0: the list every node is started with.
    pub fn initial(members: &[NodeId]) -> Membership {
        Membership {
            epoch: 0,
            members: sorted(members),
            old: None,
            moved: Vec::new(),
            addrs: Vec::new(),
        }
    }

    /// The peer address the register gives for `node`, if any.
    pub fn addr_of(&self, node: NodeId) -> Option<&str> {
        self.addrs
            .iter()
            .find(|(n, _)| *n == node)
            .map(|(_, a)| a.as_str())
    }

    /// Keeps the addresses of this epoch's nodes only, sorted.
    fn keep_addrs(&mut self) {
        let all = self.all();
        self.addrs.retain(|(n, _)| all.contains(n));
        self.addrs.sort();
        self.addrs.dedup_by_key(|(n, _)| *n);
    }

    /// True during a change (the joint epoch).
    pub fn is_joint(&self) -> bool {
        self.old.is_some()
    }

    /// True if `node` is a member of this epoch, old or new.
    pub fn includes(&self, node: NodeId) -> bool {
        self.members.binary_search(&node).is_ok()
            || self
                .old
                .as_ref()
                .is_some_and(|o| o.binary_search(&node).is_ok())
    }

    /// Every node of the epoch, old and new, sorted.
    pub fn all(&self) -> Vec<NodeId> {
        let mut v = self.members.clone();
        if let Some(o) = &self.old {
            v.extend_from_slice(o);
        }
        sorted(&v)
    }

    /// The register's value for this membership.
    pub fn to_value(&self) -> Value {
        let list = |v: &[NodeId]| {
            v.iter()
                .map(|n| n.to_string())
                .collect::<Vec<_>>()
                .join(",")
        };
        let mut s = format!("epoch={} members={}", self.epoch, list(&self.members));
        if let Some(o) = &self.old {
            s.push_str(&format!(" old={} moved={}", list(o), list(&self.moved)));
        }
        if !self.addrs.is_empty() {
            let a: Vec<String> = self.addrs.iter().map(|(n, a)| format!("{n}@{a}")).collect();
            s.push_str(&format!(" addrs={}", a.join(",")));
        }
        Some(Record::new(s.into_bytes()))
    }

    /// Parses the register's value (None: not a membership).
    pub fn from_value(value: &Value) -> Option<Membership> {
        let data = value.as_ref()?.data.as_str()?;
        let text = std::str::from_utf8(data).ok()?;
        let list = |s: &str| -> Option<Vec<NodeId>> {
            if s.is_empty() {
                return Some(Vec::new());
            }
            let v: Option<Vec<NodeId>> = s.split(',').map(|n| n.parse().ok()).collect();
            let v = v?;
            (v.len() <= MEMBERS_MAX).then(|| sorted(&v))
        };
        let mut m = Membership::default();
        let mut old = None;
        for field in text.split(' ') {
            let (name, val) = field.split_once('=')?;
            match name {
                "epoch" => m.epoch = val.parse().ok()?,
                "members" => m.members = list(val)?,
                "old" => old = Some(list(val)?),
                "moved" => m.moved = list(val)?,
                "addrs" => {
                    for item in val.split(',').filter(|i| !i.is_empty()) {
                        let (n, a) = item.split_once('@')?;
                        check_addr(a).ok()?;
                        m.addrs.push((n.parse().ok()?, a.to_string()));
                    }
                    if m.addrs.len() > MEMBERS_MAX {
                        return None;
                    }
                }
                _ => return None,
            }
        }
        m.old = old;
        (!m.members.is_empty()).then_some(m)
    }

    /// Applies `op` to the register's current value (`current`), as a
    /// change function: the new value and the reply.
    pub fn apply(op: &MembershipOp, current: &Value) -> (Value, Reply) {
        let stored = |from: &Membership| match current {
            None if from.epoch == 0 => Some(from.clone()),
            v => Membership::from_value(v),
        };
        match op {
            MembershipOp::Change {
                from,
                members,
                addrs,
            } => {
                let Some(cur) = stored(from) else {
                    return (
                        current.clone(),
                        Reply::Error("ERR membership register unreadable".into()),
                    );
                };
                if cur.is_joint() {
                    return (
                        current.clone(),
                        Reply::Error(format!(
                            "ERR a membership change is running (epoch {}): wait until it ends",
                            cur.epoch
                        )),
                    );
                }
                if cur.epoch != from.epoch {
                    return (
                        current.clone(),
                        Reply::Error(format!(
                            "ERR the membership changed meanwhile (now epoch {}): try again",
                            cur.epoch
                        )),
                    );
                }
                let mut next = Membership {
                    epoch: cur.epoch + 1,
                    members: sorted(members),
                    old: Some(cur.members.clone()),
                    moved: Vec::new(),
                    addrs: addrs.iter().cloned().chain(cur.addrs.clone()).collect(),
                };
                next.keep_addrs();
                (next.to_value(), Reply::Integer(next.epoch as i64))
            }
            MembershipOp::Moved {
                epoch,
                node,
                may_lag,
                from,
            } => {
                let Some(mut cur) = stored(from) else {
                    return (
                        current.clone(),
                        Reply::Error("ERR membership register unreadable".into()),
                    );
                };
                if cur.epoch != *epoch || !cur.is_joint() {
                    // Already past it (or never there): nothing to record.
                    return (current.clone(), Reply::Integer(cur.epoch as i64));
                }
                let old = cur.old.clone().unwrap_or_default();
                if old.contains(node) && !cur.moved.contains(node) {
                    cur.moved.push(*node);
                    cur.moved.sort_unstable();
                }
                let lagging = old.iter().filter(|n| !cur.moved.contains(n)).count();
                if lagging <= *may_lag {
                    cur = Membership {
                        epoch: cur.epoch + 1,
                        members: cur.members,
                        old: None,
                        moved: Vec::new(),
                        addrs: cur.addrs,
                    };
                    cur.keep_addrs();
                }
                (cur.to_value(), Reply::Integer(cur.epoch as i64))
            }
        }
    }
}

/// Progress of a membership change as one node sees it (INFO).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MembershipProgress {
    /// The epoch this node is in and its lists.
    pub membership: Membership,
    /// Keys this node had to move in the joint epoch, and those moved.
    pub keys_to_move: u64,
    pub keys_moved: u64,
    /// This node recorded itself as moved in the register.
    pub reported: bool,
}

/// A node's side of membership changes: the keys it moves during the joint
/// epoch, and whom it still tells about its epoch.
#[derive(Debug, Default)]
pub(crate) struct Mover {
    /// The joint epoch the scan below is for (0: none).
    epoch: u64,
    todo: VecDeque<Key>,
    running: BTreeMap<RequestId, Key>,
    /// Moves that ended without certainly being chosen: started again at the
    /// next housekeeping run, not at once (a round failing within one step,
    /// say with no quorum reachable, must not loop).
    failed: Vec<Key>,
    /// The report failed: sent again at the next housekeeping run.
    report_failed: bool,
    next_id: u64,
    total: u64,
    done: u64,
    /// The round recording this node as moved, while it runs.
    report: Option<RequestId>,
    reported: bool,
    /// Until when (µs) to keep telling every member our epoch.
    tell_until_us: u64,
    /// This node was a member of an epoch it adopted (else it is joining).
    pub(crate) member_once: bool,
    /// Started empty as a new node (`bootstrap`), not restarted: it may vote
    /// at once when an epoch first names it.
    fresh: bool,
}

impl Mover {
    /// A node's mover at start: `member` if its first epoch names it.
    pub(crate) fn started(member: bool, fresh: bool) -> Mover {
        Mover {
            member_once: member,
            fresh,
            ..Mover::default()
        }
    }
}

impl Node {
    /// The membership epoch this node is in.
    pub fn membership(&self) -> &Membership {
        &self.membership
    }

    /// The membership change as this node sees it.
    pub fn membership_progress(&self) -> MembershipProgress {
        let m = &self.mover;
        let current = m.epoch == self.membership.epoch;
        MembershipProgress {
            membership: self.membership.clone(),
            keys_to_move: if current { m.total } else { 0 },
            keys_moved: if current { m.done } else { 0 },
            reported: current && m.reported,
        }
    }

    /// True if `node` replicates `key` in this epoch, in the new or the old list.
    pub(crate) fn is_replica_now(&self, key: &[u8], node: NodeId) -> bool {
        self.placement.is_replica(key, node)
            || self
                .old_placement
                .as_ref()
                .is_some_and(|p| p.is_replica(key, node))
    }

    /// A round's addressees (the key's replicas, then any old replicas not
    /// among them) and the sets that must each give a quorum: the replicas,
    /// and during a change whose old replica set differs, the old set (!).
    pub(crate) fn round_sets(&self, key: &[u8]) -> (Vec<NodeId>, Vec<Vec<NodeId>>) {
        let new = self.placement.replicas_of(key);
        let Some(old) = self.old_placement.as_ref().map(|p| p.replicas_of(key)) else {
            return (new.clone(), vec![new]);
        };
        let mut a = new.clone();
        let mut b = old.clone();
        a.sort_unstable();
        b.sort_unstable();
        if a == b {
            return (new.clone(), vec![new]);
        }
        let mut all = new.clone();
        all.extend(old.iter().filter(|n| !new.contains(n)));
        (all, vec![new, old])
    }

    /// True if `key`'s replica set changes in the running membership change.
    pub(crate) fn moving(&self, key: &[u8]) -> bool {
        self.old_placement.is_some() && self.round_sets(key).1.len() > 1
    }

    /// Why this node must not serve clients, if it must not: it is not a
    /// member (yet, or any more).
    pub(crate) fn check_serving(&self) -> Result<(), String> {
        let m = &self.membership;
        if m.includes(self.cfg.node_id) {
            return Ok(());
        }
        let list = format!("{:?}", m.members);
        if self.mover.member_once {
            Err(format!(
                "ERR this node was removed from the cluster (membership epoch {}); connect to a member: nodes {list}",
                m.epoch
            ))
        } else {
            Err(format!(
                "ERR this node is not a member of the cluster yet (membership epoch {} has nodes {list}): run `synod admin add-node` on a member",
                m.epoch
            ))
        }
    }

    /// The operator asks to add and remove nodes: start the change (its
    /// joint epoch) by a round on the register, or refuse with why.
    pub(crate) fn change_membership(
        &mut self,
        id: RequestId,
        add: Vec<NodeId>,
        remove: Vec<NodeId>,
        addrs: Vec<(NodeId, String)>,
        out: &mut Effects,
    ) {
        let checked = addrs
            .iter()
            .try_for_each(|(n, a)| {
                if !add.contains(n) {
                    return Err(format!("ERR an address for node {n}, which is not added"));
                }
                check_addr(a)
            })
            .and_then(|()| self.plan_change(&add, &remove));
        match checked {
            Err(why) => out.replies.push((id, Outcome::Failed(why))),
            Ok(members) => {
                let op = MembershipOp::Change {
                    from: self.membership.clone(),
                    members,
                    addrs,
                };
                self.enqueue(id, MEMBERSHIP_KEY.to_vec(), Command::Membership(op), out);
            }
        }
    }

    /// The new member list, or why the change is refused.
    fn plan_change(&self, add: &[NodeId], remove: &[NodeId]) -> Result<Vec<NodeId>, String> {
        self.check_serving()?;
        let m = &self.membership;
        if m.is_joint() {
            return Err(format!(
                "ERR a membership change is running (epoch {}, {} of {} old members moved their keys): wait until it ends",
                m.epoch,
                m.moved.len(),
                m.old.as_ref().map_or(0, Vec::len)
            ));
        }
        if let Some(n) = remove.iter().find(|n| !m.members.contains(n)) {
            return Err(format!(
                "ERR node {n} is not a member (members: {:?})",
                m.members
            ));
        }
        if let Some(n) = add.iter().find(|n| m.members.contains(n)) {
            return Err(format!("ERR node {n} is already a member"));
        }
        let mut members: Vec<NodeId> = m
            .members
            .iter()
            .filter(|n| !remove.contains(n))
            .chain(add)
            .copied()
            .collect();
        members.sort_unstable();
        members.dedup();
        if members == m.members {
            return Err("ERR nothing to change".into());
        }
        let n = self.cfg.replicas;
        if members.len() < n {
            return Err(format!(
                "ERR refused: {} members would be left for {n} replicas per key, so a replica set would be short of nodes; add a node first",
                members.len()
            ));
        }
        // During the change every round on a moving key needs a quorum of
        // its old and of its new replicas: with more than F of either list
        // unreachable, some replica set would have no quorum.
        let f = (n - 1) / 2;
        let me = self.cfg.node_id;
        let down = |list: &[NodeId]| -> Vec<NodeId> {
            list.iter()
                .copied()
                .filter(|&x| x != me && !self.peers.get(&x).is_some_and(|p| p.up))
                .collect()
        };
        for (which, list) in [("old", &m.members), ("new", &members)] {
            let d = down(list);
            if d.len() > f {
                return Err(format!(
                    "ERR refused: nodes {d:?} of the {which} membership are unreachable from this node; with more than {f} of them down a replica set would have no quorum during the change; bring them up (or remove them one at a time) first"
                ));
            }
        }
        Ok(members)
    }

    /// A peer told us its membership.
    pub(crate) fn on_epoch(&mut self, from: NodeId, m: Membership, out: &mut Effects) {
        if m.members.is_empty() {
            // The peer knows no membership (it joins, or restarted as one
            // that did): it asks for ours.
            if !self.membership.members.is_empty() {
                self.tell_epoch(from, out);
            }
            return;
        }
        if m.epoch > self.membership.epoch || self.membership.members.is_empty() {
            self.adopt_membership(m, out);
        } else if m.epoch < self.membership.epoch {
            self.tell_epoch(from, out);
        }
    }

    /// Sends our membership to `to`, at most every `TELL_EVERY_US`.
    pub(crate) fn tell_epoch(&mut self, to: NodeId, out: &mut Effects) {
        let now = self.now.mono_us;
        let epoch = self.membership.epoch;
        let Some(p) = self.peers.get_mut(&to) else {
            return;
        };
        let (e, at) = p.epoch_told;
        if e == epoch && at != 0 && now < at + TELL_EVERY_US {
            return;
        }
        p.epoch_told = (epoch, now.max(1));
        let membership = Box::new(self.membership.clone());
        self.send(to, Message::Epoch { membership }, out);
    }

    /// A membership round this node coordinated was chosen: adopt it and
    /// tell every node of the old and the new lists.
    pub(crate) fn on_membership_chosen(&mut self, m: Membership, out: &mut Effects) {
        let mut tell = self.membership.all();
        tell.extend(m.all());
        tell.sort_unstable();
        tell.dedup();
        self.adopt_membership(m, out);
        for n in tell {
            if n != self.cfg.node_id {
                self.tell_epoch(n, out);
            }
        }
    }

    /// Moves to a newer epoch (chosen by the register): new placement,
    /// rounds restarted on the new sets, and in the final epoch the keys this
    /// node no longer replicates forgotten, the floor raised first (!).
    pub(crate) fn adopt_membership(&mut self, m: Membership, out: &mut Effects) {
        let knew = !self.membership.members.is_empty();
        if (knew && m.epoch <= self.membership.epoch) || m.members.is_empty() {
            return;
        }
        let me = self.cfg.node_id;
        log::info!(
            "membership epoch {} -> {}: members {:?}{}",
            self.membership.epoch,
            m.epoch,
            m.members,
            m.old
                .as_ref()
                .map_or(String::new(), |o| format!(" (changing from {o:?})"))
        );
        self.placement = Placement::new(&m.members, self.cfg.replicas);
        self.old_placement = m.old.as_ref().map(|o| Placement::new(o, self.cfg.replicas));
        self.membership = m;
        if self.membership.includes(me) && !self.mover.member_once {
            self.mover.member_once = true;
            if !self.mover.fresh && self.recovery.is_none() {
                // A restarted node an epoch names for the first time it
                // knows of: its previous life may have voted in it, so it
                // catches up before it votes (docs/design.md "Restart").
                let peers = self.membership.all().into_iter().filter(|&n| n != me);
                self.recovery = Some(super::recovery::Recovery::new(peers));
                self.voting = false;
            }
        }
        let all = self.membership.all();
        for &n in &all {
            if n != me {
                self.peers.entry(n).or_default();
            }
        }
        if let Some(rec) = self.recovery.as_mut() {
            rec.set_peers(all.iter().copied().filter(|&n| n != me));
            if rec.recovery_progress_done() {
                // The listings it still waited for were of nodes that left.
                self.on_listing_done();
            }
        }
        // Cached phase 1s were promised in another epoch.
        self.promise_cache = Default::default();
        // Votes counted so far were given in the old epoch: every running
        // attempt starts again on the new sets (abandoning one is safe).
        let now = self.now.mono_us;
        let keys: Vec<Key> = self
            .coords
            .iter()
            .filter(|(_, c)| c.round.is_some())
            .map(|(k, _)| k.clone())
            .collect();
        for key in keys {
            let (replicas, sets) = self.round_sets(&key);
            if let Some(round) = self.round_mut(&key) {
                round.replicas = replicas;
                round.sets = sets;
                round.phase = super::proposer::Phase::BackingOff;
            }
            self.arm_timer(&key, now);
        }
        self.mover.tell_until_us = now + TELL_FOR_US;
        let forget_early = self.cfg.bug == Some(super::config::DeliberateBug::ForgetBeforeMoved);
        if !self.membership.is_joint() || forget_early {
            // Final epoch: keys this node no longer replicates go (the
            // acceptor raises its floor to each one's promise first).
            // Deliberate bug: an old replica forgets as the change starts.
            let gone: Vec<Key> = self
                .acceptor
                .slots()
                .map(|(k, _)| k)
                .filter(|k| !self.placement.is_replica(k, me))
                .cloned()
                .collect();
            for key in gone {
                self.acceptor.forget(&key);
            }
        }
        self.restart_listings(out);
    }

    /// Drives this node's moves in a joint epoch: once it votes, it moves
    /// every key it holds whose replica set changes (an identity round under
    /// joint quorums), a bounded number at a time, then records itself as
    /// moved in the register.
    pub(crate) fn membership_poll(&mut self, out: &mut Effects) {
        let me = self.cfg.node_id;
        let Some(old) = self.membership.old.clone() else {
            return;
        };
        if !old.contains(&me) || self.recovery.is_some() || !self.voting {
            return;
        }
        let epoch = self.membership.epoch;
        if self.mover.epoch != epoch {
            // The scan: after adopting the joint epoch, so every acceptance
            // this node gave in the old epoch is in the acceptor now (!).
            let todo: VecDeque<Key> = self
                .acceptor
                .slots()
                .filter(|(k, s)| {
                    s.accepted.is_some() && k.as_slice() != MEMBERSHIP_KEY && self.moving(k)
                })
                .map(|(k, _)| k.clone())
                .collect();
            self.mover = Mover {
                epoch,
                total: todo.len() as u64,
                todo,
                member_once: self.mover.member_once,
                fresh: self.mover.fresh,
                tell_until_us: self.mover.tell_until_us,
                ..Mover::default()
            };
        }
        while self.mover.running.len() < MOVES_INFLIGHT {
            let Some(key) = self.mover.todo.pop_front() else {
                break;
            };
            self.mover.next_id += 1;
            let id = REPAIR_ID_BIT | MOVE_ID_BIT | self.mover.next_id;
            self.mover.running.insert(id, key.clone());
            // A full identity round (repairs never take the fast paths).
            self.enqueue(id, key, Command::Get, out);
        }
        if self.mover.todo.is_empty()
            && self.mover.running.is_empty()
            && self.mover.failed.is_empty()
            && !self.mover.reported
            && !self.mover.report_failed
            && self.mover.report.is_none()
        {
            self.mover.next_id += 1;
            let id = REPAIR_ID_BIT | MOVE_ID_BIT | self.mover.next_id;
            self.mover.report = Some(id);
            let n = self.cfg.replicas.min(old.len());
            let op = MembershipOp::Moved {
                epoch,
                node: me,
                may_lag: n / 2,
                from: self.membership.clone(),
            };
            self.enqueue(id, MEMBERSHIP_KEY.to_vec(), Command::Membership(op), out);
        }
    }

    /// A move round or the report ended.
    pub(crate) fn on_move_done(&mut self, id: RequestId, outcome: Outcome, out: &mut Effects) {
        let ok = matches!(outcome, Outcome::Ok(_));
        if self.mover.report == Some(id) {
            self.mover.report = None;
            self.mover.reported = matches!(outcome, Outcome::Ok(Reply::Integer(_)));
            self.mover.report_failed = !self.mover.reported;
        } else if let Some(key) = self.mover.running.remove(&id) {
            if ok {
                self.mover.done += 1;
            } else {
                // Not certainly chosen: move it again, at the next
                // housekeeping run.
                self.mover.failed.push(key);
            }
        }
        self.membership_poll(out);
    }

    /// Each housekeeping run: for a while after an epoch change (and all
    /// through a joint epoch), tell every node of the epoch about it.
    pub(crate) fn membership_tick(&mut self, out: &mut Effects) {
        if !self.mover.failed.is_empty() || self.mover.report_failed {
            let failed = std::mem::take(&mut self.mover.failed);
            self.mover.todo.extend(failed);
            self.mover.report_failed = false;
            self.membership_poll(out);
        }
        if self.membership.members.is_empty() {
            // Knowing no membership: keep asking every node we are connected
            // to (an answer may be lost).
            let peers: Vec<NodeId> = self.peers.keys().copied().collect();
            for n in peers {
                self.tell_epoch(n, out);
            }
            return;
        }
        if !self.membership.is_joint() && self.now.mono_us > self.mover.tell_until_us {
            return;
        }
        for n in self.membership.all() {
            if n != self.cfg.node_id {
                self.tell_epoch(n, out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_membership_survives_its_value() {
        for m in [
            Membership::initial(&[3, 1, 2]),
            Membership {
                epoch: 7,
                members: vec![1, 3, 4],
                old: Some(vec![1, 2, 3]),
                moved: vec![1],
                addrs: vec![
                    (4, "10.0.0.4:7104".into()),
                    (5, "node5.example:7105".into()),
                ],
            },
            Membership {
                epoch: 8,
                members: vec![1, 3, 4],
                old: Some(vec![1, 2, 3]),
                moved: vec![],
                addrs: vec![],
            },
        ] {
            assert_eq!(Membership::from_value(&m.to_value()), Some(m));
        }
        assert_eq!(Membership::from_value(&None), None);
        assert_eq!(Membership::from_value(&Some(Record::new("epoch=x"))), None);
        assert_eq!(
            Membership::from_value(&Some(Record::new("epoch=1 members="))),
            None
        );
    }

    #[test]
    fn a_change_goes_joint_then_final_once_enough_old_members_moved() {
        let m0 = Membership::initial(&[1, 2, 3]);
        let change = MembershipOp::Change {
            from: m0.clone(),
            members: vec![1, 2, 3, 4],
            addrs: vec![(4, "127.0.0.1:7104".into())],
        };
        let (v1, r) = Membership::apply(&change, &None);
        assert_eq!(r, Reply::Integer(1));
        let m1 = Membership::from_value(&v1).unwrap();
        assert_eq!(m1.old, Some(vec![1, 2, 3]));
        assert_eq!(m1.addr_of(4), Some("127.0.0.1:7104"));
        // A second change while this one runs is refused.
        let (same, r) = Membership::apply(&change, &v1);
        assert_eq!(same, v1);
        assert!(matches!(r, Reply::Error(_)));
        let moved = |node| MembershipOp::Moved {
            epoch: 1,
            node,
            may_lag: 1,
            from: m1.clone(),
        };
        let (v2, _) = Membership::apply(&moved(1), &v1);
        assert_eq!(Membership::from_value(&v2).unwrap().moved, vec![1]);
        // A new member's report does not count.
        let (v3, _) = Membership::apply(&moved(4), &v2);
        assert_eq!(v3, v2);
        let (v4, r) = Membership::apply(&moved(3), &v3);
        assert_eq!(r, Reply::Integer(2));
        let m2 = Membership::from_value(&v4).unwrap();
        assert_eq!(m2.addr_of(4), Some("127.0.0.1:7104"));
        assert_eq!((m2.epoch, m2.old, m2.members), (2, None, vec![1, 2, 3, 4]));
        // A late report changes nothing.
        assert_eq!(Membership::apply(&moved(2), &v4).0, v4);
    }
}
