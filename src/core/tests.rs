//! Rule-by-rule tests of `Node::handle`, in the openraft style: one input,
//! then the exact list of effects it must produce.

use super::acceptor::SLOT_OVERHEAD_BYTES;
use super::*;

const K: &[u8] = b"k";
const INC: Incarnation = 1;

fn b(round: u64, node: NodeId) -> Ballot {
    Ballot::new(round, node, INC)
}
fn val(s: &str) -> Value {
    Some(Record::new(s.as_bytes()))
}
fn bytes(s: &str) -> Option<Vec<u8>> {
    Some(s.as_bytes().to_vec())
}
fn at(mono_us: u64) -> Now {
    Now {
        mono_us,
        wall_ms: 0,
    }
}

/// `cfg` without the fast paths (fastpath.rs has its own tests below): the
/// rule-by-rule tests here follow the classic two-phase round.
fn classic(mut cfg: Config) -> Config {
    cfg.fast_reads = false;
    cfg.piggyback_prepare = false;
    cfg
}

/// A voting node `id` of `members` whose peers all said hello in incarnation 1.
fn node_of(id: NodeId, members: &[NodeId], bootstrap: bool) -> Node {
    let mut n = Node::new(classic(Config::new(id, members.to_vec())), INC, bootstrap).unwrap();
    for &m in members {
        if m != id {
            step(
                &mut n,
                0,
                Input::PeerUp {
                    node: m,
                    incarnation: INC,
                },
            );
        }
    }
    n
}
fn node(id: NodeId) -> Node {
    node_of(id, &[1, 2, 3], true)
}

/// As [`node`], after each peer named round 1 (a Prepare of another key),
/// as in any running cluster: a round past the budget is then a lie, not
/// possibly the cluster's clock (`Node::vouched_round`).
fn node_heard(id: NodeId) -> Node {
    let mut n = node(id);
    for p in [1, 2, 3] {
        if p != id {
            let msg = Message::Prepare {
                key: b"heard".to_vec(),
                ballot: b(1, p),
            };
            deliver(&mut n, p, msg);
        }
    }
    n
}

fn step(n: &mut Node, mono_us: u64, input: Input) -> Effects {
    let mut out = Effects::default();
    n.handle(at(mono_us), input, &mut out);
    out
}

fn env(from: NodeId, to: NodeId, msg: Message) -> Envelope {
    Envelope {
        from,
        from_incarnation: INC,
        to,
        to_incarnation: INC,
        epoch: 0,
        msg,
    }
}
fn deliver(n: &mut Node, from: NodeId, msg: Message) -> Effects {
    let to = n.id();
    step(n, 1_000, Input::Peer(env(from, to, msg)))
}
/// (to, message) of every send, in order, lineages left out (the tests of
/// lineage look at `out.sends` themselves).
fn sent(out: &Effects) -> Vec<(NodeId, Message)> {
    out.sends
        .iter()
        .map(|e| {
            let mut msg = e.msg.clone();
            if let Message::Promise { lineage, .. } | Message::Accept { lineage, .. } = &mut msg {
                lineage.clear();
            }
            (e.to, msg)
        })
        .collect()
}
fn request(n: &mut Node, id: RequestId, command: Command) -> Effects {
    step(
        n,
        1_000,
        Input::Request {
            id,
            key: K.to_vec(),
            command,
        },
    )
}
fn prepare(ballot: Ballot) -> Message {
    Message::Prepare {
        key: K.to_vec(),
        ballot,
    }
}
fn promise(ballot: Ballot, accepted: Option<(Ballot, Value)>) -> Message {
    Message::Promise {
        key: K.to_vec(),
        ballot,
        accepted,
        confirmed: false,
        crash_vector: vec![],
        lineage: vec![],
    }
}
fn accept(ballot: Ballot, value: Value) -> Message {
    Message::Accept {
        key: K.to_vec(),
        ballot,
        value,
        next_prepare: None,
        lineage: vec![],
        held: None,
    }
}
fn accepted(ballot: Ballot) -> Message {
    Message::Accepted {
        key: K.to_vec(),
        ballot,
        crash_vector: vec![],
        next_promised: false,
    }
}
/// `msg` carrying the crash vector "each of `nodes` in incarnation 1".
fn with_cv(mut msg: Message, nodes: &[NodeId]) -> Message {
    if let Message::Promise { crash_vector, .. } | Message::Accepted { crash_vector, .. } = &mut msg
    {
        *crash_vector = nodes.iter().map(|&n| (n, INC)).collect();
    }
    msg
}
fn reject(ballot: Ballot, promised: Ballot) -> Message {
    Message::Reject {
        key: K.to_vec(),
        ballot,
        promised,
    }
}
fn confirm(ballot: Ballot, all: bool) -> Message {
    Message::Confirm {
        key: K.to_vec(),
        ballot,
        all,
    }
}
fn to_peers(msg: Message) -> Vec<(NodeId, Message)> {
    vec![(2, msg.clone()), (3, msg)]
}

// ---- Acceptor rules, through the node ----

#[test]
fn phase_1b_promises_a_higher_ballot() {
    let mut n = node(2);
    let out = deliver(&mut n, 1, prepare(b(1, 1)));
    assert_eq!(
        sent(&out),
        vec![(1, with_cv(promise(b(1, 1), None), &[1, 3]))]
    );
}

#[test]
fn phase_1b_rejects_a_lower_ballot_naming_the_promise() {
    let mut n = node(2);
    deliver(&mut n, 3, prepare(b(5, 3)));
    let out = deliver(&mut n, 1, prepare(b(4, 1)));
    assert_eq!(sent(&out), vec![(1, reject(b(4, 1), b(5, 3)))]);
}

#[test]
fn phase_2b_accepts_at_or_above_the_promise_and_rejects_below() {
    let mut n = node(2);
    deliver(&mut n, 1, prepare(b(5, 1)));
    let out = deliver(&mut n, 1, accept(b(5, 1), val("x")));
    assert_eq!(sent(&out), vec![(1, with_cv(accepted(b(5, 1)), &[1, 3]))]);
    let out = deliver(&mut n, 3, accept(b(4, 3), val("y")));
    assert_eq!(sent(&out), vec![(3, reject(b(4, 3), b(5, 1)))]);
    assert_eq!(
        n.acceptor().slot(K).unwrap().accepted,
        Some((b(5, 1), val("x")))
    );
}

#[test]
fn a_non_replica_refuses_with_nack_and_keeps_no_state() {
    // With members 1..5, "greeting" lives on 1, 5, 3 (pinned in placement.rs).
    let mut n = node_of(2, &[1, 2, 3, 4, 5], true);
    let key = b"greeting".to_vec();
    let out = deliver(
        &mut n,
        1,
        Message::Prepare {
            key: key.clone(),
            ballot: b(1, 1),
        },
    );
    assert_eq!(
        sent(&out),
        vec![(
            1,
            Message::Nack {
                key,
                ballot: b(1, 1),
                reason: NackReason::NotReplica
            }
        )]
    );
    assert!(n.acceptor().is_empty());
}

#[test]
fn a_restarted_node_refuses_to_vote_until_it_has_caught_up() {
    let mut n = node_of(2, &[1, 2, 3], false);
    let nack = |ballot| Message::Nack {
        key: K.to_vec(),
        ballot,
        reason: NackReason::Recovering,
    };
    assert_eq!(
        sent(&deliver(&mut n, 1, prepare(b(1, 1)))),
        vec![(1, nack(b(1, 1)))]
    );
    assert_eq!(
        sent(&deliver(&mut n, 1, accept(b(1, 1), val("x")))),
        vec![(1, nack(b(1, 1)))]
    );
    assert!(n.acceptor().is_empty());
}

// ---- Admission: incarnations and bounds ----

#[test]
fn a_message_from_an_older_incarnation_is_dropped() {
    let mut n = node(2);
    step(
        &mut n,
        0,
        Input::PeerUp {
            node: 1,
            incarnation: 5,
        },
    );
    let out = step(&mut n, 1_000, Input::Peer(env(1, 2, prepare(b(1, 1)))));
    assert!(out.sends.is_empty());
    assert_eq!(n.stats().messages_dropped, 1);
}

#[test]
fn a_message_addressed_to_another_incarnation_is_dropped() {
    let mut n = node(2);
    let mut e = env(1, 2, prepare(b(1, 1)));
    e.to_incarnation = INC + 1;
    assert!(step(&mut n, 1_000, Input::Peer(e)).sends.is_empty());
    assert!(n.acceptor().is_empty());
}

#[test]
fn a_message_from_a_newer_incarnation_is_recorded_then_answered() {
    let mut n = node(2);
    let mut e = env(1, 2, prepare(b(1, 1)));
    e.from_incarnation = 9;
    let out = step(&mut n, 1_000, Input::Peer(e));
    assert_eq!(out.sends.len(), 1);
    assert_eq!(
        out.sends[0].to_incarnation, 9,
        "replies go to the new incarnation"
    );
    assert_eq!(n.peers()[&1].incarnation, 9);
}

#[test]
fn a_round_jumping_past_round_jump_max_is_refused_and_reported() {
    let mut n = node_heard(2);
    let far = b(
        n.config().round_jump_max + n.config().round_raise_per_sec,
        1,
    );
    let out = deliver(&mut n, 1, prepare(far));
    assert!(out.sends.is_empty());
    assert_eq!(n.round_clock(), 1, "the clock did not move");
    assert_eq!(
        out.misbehaving.len(),
        1,
        "the driver is told to close the link"
    );
    assert!(
        out.misbehaving[0].1.contains("round_jump_max"),
        "{:?}",
        out.misbehaving
    );
    assert_eq!(n.stats().messages_refused, 1);
}

/// The review's finding: a liar inflated the clocks, then node 1 restarted
/// (clock 0, a fresh budget). The honest peers' rounds are far past its
/// budget, yet it must not refuse them until the budget refills (years at
/// the defaults): a round two peers vouch for is the cluster's.
#[test]
fn a_restarted_node_takes_a_round_enough_peers_vouch_for() {
    let mut n = node_of(1, &[1, 2, 3], false);
    let far = n.config().round_jump_max * 4;
    // The first peer alone cannot tell it: dropped, not punished.
    let out = deliver(&mut n, 2, prepare(b(far, 2)));
    assert!(out.misbehaving.is_empty(), "{:?}", out.misbehaving);
    assert_eq!(n.round_clock(), 0);
    // A second peer names a round at least as high: both vouch for `far`.
    let out = deliver(&mut n, 3, prepare(b(far + 10, 3)));
    assert!(out.misbehaving.is_empty(), "{:?}", out.misbehaving);
    assert_eq!(n.round_clock(), far + 10);
    // And node 2's rounds pass again.
    let out = deliver(&mut n, 2, prepare(b(far + 20, 2)));
    assert!(out.misbehaving.is_empty(), "{:?}", out.misbehaving);
    assert_eq!(n.round_clock(), far + 20);
}

/// One liar cannot vouch for itself: with the other peer at round 1, its
/// huge rounds stay lies however often it repeats them.
#[test]
fn a_lone_liar_cannot_vouch_for_its_own_rounds() {
    let mut n = node_heard(1);
    let far = n.config().round_jump_max * 4;
    for i in 0..5 {
        let out = deliver(&mut n, 2, prepare(b(far + i, 2)));
        assert_eq!(out.misbehaving.len(), 1, "lie {i} refused");
    }
    assert_eq!(n.round_clock(), 1);
}

/// The attack of issue 15: ~65,000 envelopes, each naming a round as far
/// past the clock as allowed, drove it to u64::MAX and every write failed.
/// Now the raise budget caps how far peers push it, and writes go on.
#[test]
fn a_member_cannot_exhaust_the_round_clock() {
    let mut n = node_heard(1);
    let (max, rate) = (n.config().round_jump_max, n.config().round_raise_per_sec);
    let mut refused = 0;
    for i in 0..70_000u64 {
        let now = 1_000 + i * 1_000; // one every ms: 70 s in all
        let round = n.round_clock().saturating_add(max);
        let msg = if i % 2 == 0 {
            prepare(b(round, 2))
        } else {
            Message::Read {
                key: K.to_vec(),
                ballot: b(round, 2),
                held: None,
            }
        };
        let out = step(&mut n, now, Input::Peer(env(2, 1, msg)));
        refused += out.misbehaving.len();
    }
    let limit = max + rate * 71;
    assert!(
        n.round_clock() <= limit,
        "clock {} above {limit}",
        n.round_clock()
    );
    assert!(refused >= 69_000, "only {refused} refused");
    // The node still makes ballots, far from the limit.
    let out = step(
        &mut n,
        71_000_000,
        Input::Request {
            id: 7,
            key: b"other".to_vec(),
            command: Command::Set(b"v".into()),
        },
    );
    assert!(out
        .sends
        .iter()
        .any(|e| matches!(e.msg, Message::Prepare { .. })));
}

#[test]
fn a_value_or_key_past_the_limits_is_refused_and_changes_nothing() {
    let mut n = node(2);
    let big = Some(Record::new(vec![0u8; n.config().value_len_max_bytes + 1]));
    let out = deliver(&mut n, 1, accept(b(1, 1), big));
    assert!(out.sends.is_empty());
    assert_eq!(out.misbehaving.len(), 1);
    assert!(n.acceptor().slot(K).is_none(), "no state created");
    assert_eq!(n.round_clock(), 0);
    let long_key = vec![b'k'; n.config().key_len_max_bytes + 1];
    let out = deliver(
        &mut n,
        1,
        Message::Prepare {
            key: long_key,
            ballot: b(1, 1),
        },
    );
    assert_eq!(out.misbehaving.len(), 1);
    assert!(out.misbehaving[0].1.contains("key_len_max_bytes"));
}

#[test]
fn a_crash_vector_naming_a_stranger_or_incarnation_zero_is_refused() {
    let mut n = node(1);
    request(&mut n, 7, Command::Set(b"v".into()));
    for cv in [vec![(9, 5)], vec![(3, 0)]] {
        let msg = Message::Promise {
            key: K.to_vec(),
            ballot: b(1, 1),
            accepted: None,
            confirmed: false,
            crash_vector: cv,
            lineage: vec![],
        };
        let out = deliver(&mut n, 2, msg);
        assert_eq!(out.misbehaving.len(), 1);
        assert!(out.sends.is_empty(), "the promise was not counted");
    }
    assert_eq!(n.peers()[&3].incarnation, INC);
}

/// Found by the `node` fuzz target: an envelope claiming to come from the
/// node itself skipped every check (the runtime's handshake never lets a
/// peer claim our id, but the core must not rely on it).
#[test]
fn a_peer_message_claiming_to_be_from_this_node_is_refused() {
    let mut n = node(2);
    let out = deliver(&mut n, 2, prepare(b(u64::MAX - 1, 2)));
    assert_eq!(out.misbehaving.len(), 1);
    assert!(out.sends.is_empty());
    assert_eq!(n.round_clock(), 0);
}

#[test]
fn a_lineage_longer_than_the_bound_is_refused() {
    let mut n = node(2);
    let mut acc = accept(b(1, 1), val("v"));
    if let Message::Accept { lineage, .. } = &mut acc {
        *lineage = vec![b(1, 1); super::lineage::LINEAGE_MAX + 1];
    }
    let out = deliver(&mut n, 1, acc);
    assert_eq!(out.misbehaving.len(), 1);
    assert!(out.sends.is_empty(), "nothing accepted");
}

#[test]
fn a_refused_message_does_not_teach_an_incarnation() {
    let mut n = node_heard(2);
    let far = n.config().round_jump_max + n.config().round_raise_per_sec;
    let mut e = env(1, 2, prepare(b(far, 1)));
    e.from_incarnation = u64::MAX - 1;
    let out = step(&mut n, 1_000, Input::Peer(e));
    assert_eq!(out.misbehaving.len(), 1);
    assert_eq!(n.peers()[&1].incarnation, INC, "node 1 is not cut off");
}

// ---- Coordinator rules ----// ---- Coordinator rules ----

#[test]
fn a_request_starts_phase_1a_with_a_ballot_from_the_round_clock() {
    let mut n = node(1);
    let out = request(&mut n, 7, Command::Set(b"v".into()));
    // The local acceptor already promised inside handle; peers get Prepare.
    assert_eq!(sent(&out), to_peers(prepare(b(1, 1))));
    assert_eq!(out.wake_at_us, Some(1_000 + 50_000), "phase timeout armed");
    assert!(out.replies.is_empty());
}

#[test]
fn a_quorum_of_promises_starts_phase_2a_and_a_quorum_of_accepted_answers() {
    let mut n = node(1);
    request(&mut n, 7, Command::Set(b"v".into()));
    let out = deliver(&mut n, 2, promise(b(1, 1), None));
    assert_eq!(sent(&out), to_peers(accept(b(1, 1), val("v"))));
    let out = deliver(&mut n, 3, promise(b(1, 1), None));
    assert!(out.sends.is_empty(), "late promise changes nothing");
    let out = deliver(&mut n, 2, accepted(b(1, 1)));
    assert_eq!(out.replies, vec![(7, Outcome::Ok(Reply::Done))]);
    assert_eq!(sent(&out), to_peers(confirm(b(1, 1), false)));
    assert_eq!(
        out.wake_at_us,
        Some(100_000),
        "no round timer left: only the housekeeper's, armed at the first input"
    );
    assert!(
        n.acceptor().slot(K).unwrap().confirmed,
        "the local replica confirmed too"
    );
}

#[test]
fn confirm_says_all_only_when_every_replica_accepted() {
    // Node 2 coordinates "greeting", held by 1, 5, 3: quorum at the second Accepted.
    let mut c = node_of(2, &[1, 2, 3, 4, 5], true);
    let key = b"greeting".to_vec();
    step(
        &mut c,
        1_000,
        Input::Request {
            id: 1,
            key: key.clone(),
            command: Command::Del,
        },
    );
    let bal = b(1, 2);
    for from in [1, 5] {
        deliver(
            &mut c,
            from,
            Message::Promise {
                key: key.clone(),
                ballot: bal,
                accepted: None,
                confirmed: false,
                crash_vector: vec![],
                lineage: vec![],
            },
        );
    }
    deliver(
        &mut c,
        1,
        Message::Accepted {
            key: key.clone(),
            ballot: bal,
            crash_vector: vec![],
            next_promised: false,
        },
    );
    let out = deliver(
        &mut c,
        5,
        Message::Accepted {
            key: key.clone(),
            ballot: bal,
            crash_vector: vec![],
            next_promised: false,
        },
    );
    let conf = Message::Confirm {
        key: key.clone(),
        ballot: bal,
        all: false,
    };
    assert_eq!(
        sent(&out),
        vec![(1, conf.clone()), (5, conf.clone()), (3, conf)]
    );
    assert_eq!(out.replies, vec![(1, Outcome::Ok(Reply::Deleted(false)))]);

    // With N = 2 the quorum is everyone: all = true.
    let mut n = Node::new(
        Config {
            replicas: 2,
            ..Config::new(1, vec![1, 2])
        },
        INC,
        true,
    )
    .unwrap();
    step(
        &mut n,
        0,
        Input::PeerUp {
            node: 2,
            incarnation: INC,
        },
    );
    request(&mut n, 1, Command::Del);
    deliver(&mut n, 2, promise(b(1, 1), None));
    let out = deliver(&mut n, 2, accepted(b(1, 1)));
    assert_eq!(sent(&out), vec![(2, confirm(b(1, 1), true))]);
}

#[test]
fn phase_2a_adopts_the_value_with_the_highest_accepted_ballot() {
    // Node 2 coordinates "greeting" (replicas 1, 5, 3; quorum 2).
    let mut c = node_of(2, &[1, 2, 3, 4, 5], true);
    let key = b"greeting".to_vec();
    step(
        &mut c,
        1_000,
        Input::Request {
            id: 1,
            key: key.clone(),
            command: Command::Get,
        },
    );
    let bal = b(1, 2);
    let p = |acc: Option<(Ballot, Value)>| Message::Promise {
        key: key.clone(),
        ballot: bal,
        accepted: acc,
        confirmed: false,
        crash_vector: vec![],
        lineage: vec![],
    };
    assert!(
        deliver(&mut c, 1, p(Some((Ballot::new(0, 3, 1), val("older")))))
            .sends
            .is_empty()
    );
    let out = deliver(&mut c, 3, p(Some((Ballot::new(0, 5, 1), val("newer")))));
    let acc = Message::Accept {
        key: key.clone(),
        ballot: bal,
        value: val("newer"),
        next_prepare: None,
        lineage: vec![],
        held: None,
    };
    assert_eq!(
        sent(&out),
        vec![(1, acc.clone()), (5, acc.clone()), (3, acc)]
    );
}

#[test]
fn votes_are_counted_once_per_replica_and_never_from_non_replicas() {
    let mut c = node_of(2, &[1, 2, 3, 4, 5], true);
    let key = b"greeting".to_vec();
    step(
        &mut c,
        1_000,
        Input::Request {
            id: 1,
            key: key.clone(),
            command: Command::Set(b"v".into()),
        },
    );
    let bal = b(1, 2);
    let p = Message::Promise {
        key: key.clone(),
        ballot: bal,
        accepted: None,
        confirmed: false,
        crash_vector: vec![],
        lineage: vec![],
    };
    assert!(deliver(&mut c, 1, p.clone()).sends.is_empty());
    assert!(
        deliver(&mut c, 1, p.clone()).sends.is_empty(),
        "a duplicate is not a second vote"
    );
    assert!(
        deliver(&mut c, 4, p.clone()).sends.is_empty(),
        "4 is not a replica of the key"
    );
    assert_eq!(
        deliver(&mut c, 5, p).sends.len(),
        3,
        "1 and 5 are a quorum of {{1, 5, 3}}"
    );
}

#[test]
fn a_reject_naming_the_rounds_own_ballot_is_ignored() {
    let mut n = node(1);
    request(&mut n, 7, Command::Set(b"v".into()));
    // A duplicated Prepare(1.1) reached 2 after 2 had promised 1.1 itself.
    let out = deliver(&mut n, 2, reject(b(1, 1), b(1, 1)));
    assert!(out.sends.is_empty());
    let out = deliver(&mut n, 3, reject(b(1, 1), b(1, 1)));
    assert!(out.sends.is_empty());
    assert_eq!(
        out.wake_at_us,
        Some(51_000),
        "still waiting out the phase, no backoff"
    );
    assert_eq!(
        sent(&deliver(&mut n, 2, promise(b(1, 1), None))),
        to_peers(accept(b(1, 1), val("v")))
    );
}

#[test]
fn a_retry_after_rejects_jumps_past_the_promised_round() {
    let mut n = node(1);
    request(&mut n, 7, Command::Set(b"v".into()));
    assert!(
        deliver(&mut n, 2, reject(b(1, 1), b(10, 3)))
            .sends
            .is_empty(),
        "one refusal: 1 and 3 can still promise"
    );
    let out = deliver(&mut n, 3, reject(b(1, 1), b(10, 3)));
    assert!(out.sends.is_empty(), "quorum impossible: back off first");
    let wake = out.wake_at_us.unwrap();
    assert!(
        (1_000..=1_000 + 5_000).contains(&wake),
        "backoff {wake} within retry_backoff_max_ms"
    );
    let out = step(&mut n, wake, Input::Tick);
    assert_eq!(sent(&out), to_peers(prepare(b(11, 1))));
}

/// Drives node 1 to send Accept(1.1, x) for `command`, which then lands only
/// on node 1 itself; 2 and 3 refuse, having promised `promised`.
fn accept_lands_on_a_minority(command: Command, promised: Ballot) -> (Node, u64) {
    let mut n = node(1);
    request(&mut n, 7, command);
    let out = deliver(&mut n, 2, promise(b(1, 1), None));
    assert_eq!(out.sends.len(), 2, "Accept sent");
    deliver(&mut n, 2, reject(b(1, 1), promised));
    let out = deliver(&mut n, 3, reject(b(1, 1), promised));
    (n, out.wake_at_us.unwrap())
}

#[test]
fn a_retry_that_finds_its_own_accept_reproposes_it_and_keeps_its_result() {
    // Regression for the (!) rule: CAS(absent -> x) whose first Accept landed
    // on a minority must not be re-applied on the retry (it would see x and
    // report a failed comparison for its own write).
    let cas = Command::Cas {
        expected: None,
        new: b"x".to_vec(),
    };
    let (mut n, wake) = accept_lands_on_a_minority(cas, b(5, 2));
    step(&mut n, wake, Input::Tick);
    let retry = b(6, 1);
    // Node 1's local acceptor holds (1.1, x): the highest accepted is our own.
    let out = deliver(&mut n, 2, promise(retry, None));
    assert_eq!(sent(&out), to_peers(accept(retry, val("x"))));
    let out = deliver(&mut n, 2, accepted(retry));
    assert_eq!(out.replies, vec![(7, Outcome::Ok(Reply::Swapped(true)))]);
}

#[test]
fn a_retry_that_finds_a_foreign_value_above_its_accept_answers_unknown() {
    let cas = Command::Cas {
        expected: None,
        new: b"x".to_vec(),
    };
    let (mut n, wake) = accept_lands_on_a_minority(cas, b(5, 2));
    step(&mut n, wake, Input::Tick);
    let out = deliver(&mut n, 2, promise(b(6, 1), Some((b(5, 2), val("y")))));
    assert!(
        out.sends.is_empty(),
        "no Accept: we cannot tell what happened"
    );
    assert!(matches!(&out.replies[..], [(7, Outcome::Unknown(_))]));
}

/// A Promise whose accepted value reports `lineage`.
fn promise_with_lineage(
    ballot: Ballot,
    accepted: Option<(Ballot, Value)>,
    lineage: Vec<Ballot>,
) -> Message {
    let mut p = promise(ballot, accepted);
    if let Message::Promise { lineage: l, .. } = &mut p {
        *l = lineage;
    }
    p
}

#[test]
fn a_retry_that_finds_a_rival_built_on_its_accept_keeps_its_result() {
    // Issue 14: a rival (node 2, ballot 5.2) adopted our minority Accept at
    // 1.1 and applied its own change on top. Its lineage names 1.1, so our
    // CAS took effect: the retry re-proposes the rival's value unchanged and
    // answers "swapped" (before lineages: UNKNOWN).
    let cas = Command::Cas {
        expected: None,
        new: b"x".to_vec(),
    };
    let (mut n, wake) = accept_lands_on_a_minority(cas, b(5, 2));
    step(&mut n, wake, Input::Tick);
    let retry = b(6, 1);
    let rival = promise_with_lineage(
        retry,
        Some((b(5, 2), val("y"))),
        vec![b(5, 2), b(1, 1), Ballot::ZERO],
    );
    let out = deliver(&mut n, 2, rival);
    assert_eq!(sent(&out), to_peers(accept(retry, val("y"))));
    // The identity re-proposal keeps the rival's lineage.
    for e in &out.sends {
        let Message::Accept { lineage, .. } = &e.msg else {
            panic!("expected an Accept, got {:?}", e.msg);
        };
        assert_eq!(lineage, &vec![b(5, 2), b(1, 1), Ballot::ZERO]);
    }
    let out = deliver(&mut n, 2, accepted(retry));
    assert_eq!(out.replies, vec![(7, Outcome::Ok(Reply::Swapped(true)))]);
}

#[test]
fn a_retry_whose_rival_chain_skips_its_accept_applies_afresh() {
    // The rival's chain reaches the root without 1.1: our CAS never took
    // effect, so it runs again on y (and fails cleanly) instead of UNKNOWN.
    let cas = Command::Cas {
        expected: None,
        new: b"x".to_vec(),
    };
    let (mut n, wake) = accept_lands_on_a_minority(cas, b(5, 2));
    step(&mut n, wake, Input::Tick);
    let retry = b(6, 1);
    let rival = promise_with_lineage(
        retry,
        Some((b(5, 2), val("y"))),
        vec![b(5, 2), Ballot::ZERO],
    );
    let out = deliver(&mut n, 2, rival);
    assert_eq!(sent(&out), to_peers(accept(retry, val("y"))));
    let out = deliver(&mut n, 2, accepted(retry));
    assert_eq!(out.replies, vec![(7, Outcome::Ok(Reply::Swapped(false)))]);
}

#[test]
fn an_accept_carries_its_change_on_top_of_its_base_lineage_and_promises_report_it() {
    let mut n = node(1);
    request(&mut n, 7, Command::Set(b"v".into()));
    let out = deliver(
        &mut n,
        2,
        promise_with_lineage(
            b(1, 1),
            Some((b(0, 3), val("u"))),
            vec![b(0, 3), Ballot::ZERO],
        ),
    );
    let Message::Accept { lineage, .. } = &out.sends[0].msg else {
        panic!("expected an Accept");
    };
    assert_eq!(lineage, &vec![b(1, 1), b(0, 3), Ballot::ZERO]);
    // An acceptor keeps it and reports it in its next Promise.
    let mut a = node(2);
    deliver(&mut a, 1, out.sends[0].msg.clone());
    let out = deliver(&mut a, 3, prepare(b(2, 3)));
    let Message::Promise { lineage, .. } = &out.sends[0].msg else {
        panic!("expected a Promise");
    };
    assert_eq!(lineage, &vec![b(1, 1), b(0, 3), Ballot::ZERO]);
}

#[test]
fn a_retry_below_every_own_accept_applies_the_change_afresh() {
    // Node 2 coordinates "greeting" (replicas 1, 5, 3) without a local vote.
    let mut c = node_of(2, &[1, 2, 3, 4, 5], true);
    let key = b"greeting".to_vec();
    let cas = Command::Cas {
        expected: None,
        new: b"x".to_vec(),
    };
    step(
        &mut c,
        1_000,
        Input::Request {
            id: 7,
            key: key.clone(),
            command: cas,
        },
    );
    let first = b(1, 2);
    let p = |ballot, acc| Message::Promise {
        key: key.clone(),
        ballot,
        accepted: acc,
        confirmed: false,
        crash_vector: vec![],
        lineage: vec![],
    };
    deliver(&mut c, 1, p(first, None));
    deliver(&mut c, 5, p(first, None)); // Accept(1.2, x) goes out; only 1 takes it.
    deliver(
        &mut c,
        5,
        Message::Reject {
            key: key.clone(),
            ballot: first,
            promised: b(3, 4),
        },
    );
    let out = deliver(
        &mut c,
        3,
        Message::Reject {
            key: key.clone(),
            ballot: first,
            promised: b(3, 4),
        },
    );
    step(&mut c, out.wake_at_us.unwrap(), Input::Tick);
    // The retry's quorum {5, 3} saw only a value below our Accept: "base" at 0.5.
    let retry = b(4, 2);
    deliver(
        &mut c,
        5,
        p(retry, Some((Ballot::new(0, 5, INC), val("base")))),
    );
    let out = deliver(&mut c, 3, p(retry, None));
    // Applied afresh: the comparison fails against "base", which is re-proposed.
    let acc = Message::Accept {
        key: key.clone(),
        ballot: retry,
        value: val("base"),
        next_prepare: None,
        lineage: vec![],
        held: None,
    };
    assert_eq!(
        sent(&out),
        vec![(1, acc.clone()), (5, acc.clone()), (3, acc)]
    );
    deliver(
        &mut c,
        5,
        Message::Accepted {
            key: key.clone(),
            ballot: retry,
            crash_vector: vec![],
            next_promised: false,
        },
    );
    let out = deliver(
        &mut c,
        3,
        Message::Accepted {
            key: key.clone(),
            ballot: retry,
            crash_vector: vec![],
            next_promised: false,
        },
    );
    assert_eq!(out.replies, vec![(7, Outcome::Ok(Reply::Swapped(false)))]);
}

#[test]
fn requests_arriving_during_a_round_are_composed_into_the_next_one() {
    let mut n = node(1);
    request(&mut n, 1, Command::Set(b"a".into()));
    assert!(request(
        &mut n,
        2,
        Command::Cas {
            expected: bytes("a"),
            new: b"b".to_vec()
        }
    )
    .sends
    .is_empty());
    assert!(request(&mut n, 3, Command::Get).sends.is_empty());
    deliver(&mut n, 2, promise(b(1, 1), None));
    let out = deliver(&mut n, 2, accepted(b(1, 1)));
    assert_eq!(out.replies, vec![(1, Outcome::Ok(Reply::Done))]);
    // One round for both queued requests: Prepare at the next ballot.
    let mut want = to_peers(confirm(b(1, 1), false));
    want.extend(to_peers(prepare(b(2, 1))));
    assert_eq!(sent(&out), want);
    let out = deliver(&mut n, 3, promise(b(2, 1), None));
    assert_eq!(sent(&out), to_peers(accept(b(2, 1), val("b"))));
    let out = deliver(&mut n, 3, accepted(b(2, 1)));
    assert_eq!(
        out.replies,
        vec![
            (2, Outcome::Ok(Reply::Swapped(true))),
            (3, Outcome::Ok(Reply::Value(bytes("b"))))
        ]
    );
}

#[test]
fn a_restarted_coordinator_never_counts_itself() {
    let mut n = node_of(1, &[1, 2, 3], false);
    request(&mut n, 7, Command::Set(b"v".into()));
    assert!(
        deliver(&mut n, 2, promise(b(1, 1), None)).sends.is_empty(),
        "its own Nack is not a vote"
    );
    assert_eq!(
        sent(&deliver(&mut n, 3, promise(b(1, 1), None))),
        to_peers(accept(b(1, 1), val("v")))
    );
    assert!(n.acceptor().is_empty());
}

#[test]
fn a_phase_timeout_retries_with_a_higher_ballot() {
    let mut n = node(1);
    request(&mut n, 7, Command::Get);
    let out = step(&mut n, 51_000, Input::Tick);
    assert_eq!(sent(&out), to_peers(prepare(b(2, 1))));
    assert_eq!(n.stats().phase_timeouts, 1);
}

#[test]
fn the_budget_spent_without_an_accept_answers_failed() {
    let mut n = node(1);
    request(&mut n, 7, Command::Set(b"v".into()));
    let mut t = 1_000;
    let mut replies = vec![];
    while replies.is_empty() {
        t += 50_000;
        replies = step(&mut n, t, Input::Tick).replies;
    }
    assert!(
        matches!(&replies[..], [(7, Outcome::Failed(_))]),
        "{replies:?}"
    );
    assert!(t >= 1_000 + 2_000_000, "not before retry_budget_ms");
}

#[test]
fn the_budget_spent_after_an_accept_answers_unknown() {
    let mut n = node(1);
    request(&mut n, 7, Command::Set(b"v".into()));
    deliver(&mut n, 2, promise(b(1, 1), None));
    let mut t = 1_000;
    let mut replies = vec![];
    while replies.is_empty() {
        t += 50_000;
        replies = step(&mut n, t, Input::Tick).replies;
    }
    assert!(
        matches!(&replies[..], [(7, Outcome::Unknown(_))]),
        "{replies:?}"
    );
}

#[test]
fn oversized_keys_and_values_are_refused_at_once() {
    let mut n = node(1);
    let big = vec![0u8; n.config().value_len_max_bytes + 1];
    let out = request(&mut n, 7, Command::Set(big.into()));
    assert!(out.sends.is_empty());
    assert!(
        matches!(&out.replies[..], [(7, Outcome::Failed(why))] if why.contains("value_len_max_bytes"))
    );
}

#[test]
fn the_same_inputs_give_the_same_outputs() {
    let run = || {
        let mut n = node(1);
        let mut log = vec![];
        for i in 0..5 {
            log.push(format!(
                "{:?}",
                sent(&request(&mut n, i, Command::Set(vec![i as u8].into())))
            ));
            log.push(format!(
                "{:?}",
                sent(&deliver(&mut n, 2, reject(b(1, 1), b(9, 2))))
            ));
            log.push(format!(
                "{:?}",
                sent(&deliver(&mut n, 3, reject(b(1, 1), b(9, 3))))
            ));
            log.push(format!("{:?}", step(&mut n, 3_000, Input::Tick).wake_at_us));
        }
        log
    };
    assert_eq!(run(), run());
}

// ---- Restart: catch-up, crash vectors ----

fn recover(after: Option<&[u8]>) -> Message {
    Message::Recover {
        after: after.map(|a| a.to_vec()),
    }
}
fn page(after: Option<&[u8]>, keys: &[&[u8]], next: Option<&[u8]>, max_ballot: Ballot) -> Message {
    Message::KeyPage {
        after: after.map(|a| a.to_vec()),
        keys: keys.iter().map(|k| k.to_vec()).collect(),
        next: next.map(|n| n.to_vec()),
        max_ballot,
    }
}

#[test]
fn a_restarted_node_asks_each_peer_for_its_listing() {
    let mut n = Node::new(classic(Config::new(3, vec![1, 2, 3])), INC, false).unwrap();
    let out = step(
        &mut n,
        0,
        Input::PeerUp {
            node: 1,
            incarnation: INC,
        },
    );
    assert_eq!(sent(&out), vec![(1, recover(None))]);
    let out = step(
        &mut n,
        10,
        Input::PeerUp {
            node: 2,
            incarnation: INC,
        },
    );
    assert_eq!(sent(&out), vec![(2, recover(None))]);
    // Unanswered requests are sent again after recovery_retry_ms.
    let out = step(&mut n, 10 + 200_000, Input::Tick);
    assert_eq!(sent(&out), vec![(1, recover(None)), (2, recover(None))]);
    assert_eq!(n.recovery_progress().unwrap().peers_total, 2);
}

#[test]
fn a_voter_lists_in_bounded_pages_the_keys_the_asker_replicates() {
    // Members 1..5: "greeting" is on 1, 5, 3; "a" on 5, 3, 1; "k42" on 3, 1, 2.
    let mut n = node_of(1, &[1, 2, 3, 4, 5], true);
    for key in [&b"a"[..], b"greeting", b"k42"] {
        deliver(
            &mut n,
            3,
            Message::Prepare {
                key: key.to_vec(),
                ballot: b(4, 3),
            },
        );
    }
    n.cfg.recovery_page_keys_max = 2;
    let out = deliver(&mut n, 5, recover(None));
    assert_eq!(
        sent(&out),
        vec![(
            5,
            page(None, &[b"a", b"greeting"], Some(b"greeting"), b(4, 3))
        )]
    );
    let out = deliver(&mut n, 5, recover(Some(b"greeting")));
    assert_eq!(
        sent(&out),
        vec![(5, page(Some(b"greeting"), &[], None, b(4, 3)))]
    );
    let out = deliver(&mut n, 2, recover(None));
    assert_eq!(sent(&out), vec![(2, page(None, &[b"k42"], None, b(4, 3)))]);
}

#[test]
fn a_recovering_node_does_not_answer_recover() {
    let mut n = node_of(2, &[1, 2, 3], false);
    assert!(deliver(&mut n, 1, recover(None))
        .sends
        .iter()
        .all(|e| !matches!(e.msg, Message::KeyPage { .. })));
}

#[test]
fn catch_up_runs_an_identity_round_per_listed_key_then_votes_above_every_reported_ballot() {
    let mut n = node_of(3, &[1, 2, 3], false);
    // Node 1 lists K and reports it promised up to 9.1.
    let out = deliver(&mut n, 1, page(None, &[K], None, b(9, 1)));
    // Phase 1a of the identity round, to the others: its own vote would not count.
    let r = b(10, 3);
    // (Sends go in the key's rendezvous order: 2, then 1.)
    assert_eq!(sent(&out), vec![(2, prepare(r)), (1, prepare(r))]);
    deliver(&mut n, 1, promise(r, Some((b(9, 1), val("v")))));
    let out = deliver(&mut n, 2, promise(r, None));
    assert_eq!(
        sent(&out),
        vec![(2, accept(r, val("v"))), (1, accept(r, val("v")))]
    );
    deliver(&mut n, 1, accepted(r));
    let out = deliver(&mut n, 2, accepted(r));
    assert_eq!(
        sent(&out),
        vec![(2, confirm(r, false)), (1, confirm(r, false))]
    );
    assert!(out.replies.is_empty(), "a catch-up round answers no client");
    let slot = n.acceptor().slot(K).unwrap();
    assert_eq!(slot.accepted, Some((r, val("v"))), "installed as a learner");
    assert!(slot.confirmed);
    let progress = n.recovery_progress().unwrap();
    assert_eq!(
        (
            progress.keys_listed,
            progress.keys_repaired,
            progress.peers_done
        ),
        (1, 1, 1)
    );
    assert!(
        !n.is_voting_for(K),
        "with N = 3 both others must have listed"
    );
    deliver(&mut n, 2, page(None, &[], None, b(3, 2)));
    assert!(n.is_voting() && n.recovery_progress().is_none());
    // The floor is above every round seen: late ballots are refused.
    let out = deliver(&mut n, 2, prepare(b(10, 2)));
    assert!(matches!(&sent(&out)[..], [(2, Message::Reject { .. })]));
    let out = deliver(&mut n, 2, prepare(b(11, 2)));
    assert!(matches!(&sent(&out)[..], [(2, Message::Promise { .. })]));
}

#[test]
fn with_five_replicas_two_restarted_nodes_each_finish_without_the_other() {
    // N = 5, q = 3: three finished listings of the four others are enough for
    // every replica set, so node 5 need not wait for node 1 (also restarted).
    let members = [1, 2, 3, 4, 5];
    let cfg = Config {
        replicas: 5,
        ..Config::new(5, members.to_vec())
    };
    let mut n = Node::new(cfg, INC, false).unwrap();
    for m in 1..=4 {
        step(
            &mut n,
            0,
            Input::PeerUp {
                node: m,
                incarnation: INC,
            },
        );
    }
    for m in [2, 3] {
        deliver(&mut n, m, page(None, &[], None, b(1, m)));
        assert!(!n.is_voting());
    }
    deliver(&mut n, 4, page(None, &[], None, b(1, 4)));
    assert!(n.is_voting(), "node 1's listing is not needed");
    // Now it lists for node 1.
    let out = deliver(&mut n, 1, recover(None));
    assert!(matches!(&sent(&out)[..], [(1, Message::KeyPage { .. })]));
}

#[test]
fn a_duplicate_or_unasked_page_is_ignored() {
    let mut n = node_of(3, &[1, 2, 3], false);
    deliver(&mut n, 1, page(None, &[], Some(b"m"), b(1, 1)));
    // A second copy of the same answer must not be taken for the page after "m".
    let out = deliver(&mut n, 1, page(None, &[K], None, b(1, 1)));
    assert!(out
        .sends
        .iter()
        .all(|e| !matches!(e.msg, Message::Prepare { .. })));
    assert_eq!(n.recovery_progress().unwrap().keys_listed, 0);
}

#[test]
fn declare_lost_makes_a_recovering_node_vote() {
    let mut n = node_of(3, &[1, 2, 3], false);
    assert!(!n.is_voting());
    step(&mut n, 5, Input::DeclareLost);
    assert!(n.is_voting());
    assert_eq!(sent(&deliver(&mut n, 1, prepare(b(1, 1)))).len(), 1);
}

#[test]
fn a_node_declared_lost_never_vouches_for_an_absent_key_in_a_fast_read() {
    // Found by the simulator (sim/scenarios/majority-restart.toml, seed
    // 1094): two declared-lost nodes both answered "nothing accepted", the
    // read said nil, and the survivor's value came back on the next round.
    let mut n = node_of(3, &[1, 2, 3], false);
    step(&mut n, 5, Input::DeclareLost);
    let read = Message::Read {
        key: K.to_vec(),
        ballot: b(9, 1),
        held: None,
    };
    let out = sent(&deliver(&mut n, 1, read.clone()));
    assert!(
        matches!(
            out.as_slice(),
            [(
                1,
                Message::Nack {
                    reason: NackReason::Recovering,
                    ..
                }
            )]
        ),
        "{out:?}"
    );
    // Once it holds the key, it answers with what it holds.
    deliver(&mut n, 1, prepare(b(10, 1)));
    deliver(&mut n, 1, accept(b(10, 1), val("x")));
    let out = sent(&deliver(&mut n, 1, read));
    assert!(
        matches!(
            out.as_slice(),
            [(
                1,
                Message::ReadReply {
                    accepted: Some(_),
                    ..
                }
            )]
        ),
        "{out:?}"
    );
}

#[test]
fn the_amnesiac_bug_votes_at_once() {
    let cfg = Config {
        bug: Some(DeliberateBug::AmnesiacVotesAtOnce),
        ..Config::new(3, vec![1, 2, 3])
    };
    let n = Node::new(cfg, INC, false).unwrap();
    assert!(n.is_voting());
}

/// Coordinator 2 runs a round on "greeting" (replicas 1, 5, 3; quorum 2) and
/// gets a Promise from node 1 in incarnation 1. Node 5's Promise says node 1
/// has restarted as incarnation 7: node 1's vote came from a memory that is
/// gone and must not be counted with 5's (!).
fn crash_vector_voids_an_old_vote(bug: Option<DeliberateBug>) -> Effects {
    let cfg = Config {
        bug,
        ..Config::new(2, vec![1, 2, 3, 4, 5])
    };
    let mut c = Node::new(cfg, INC, true).unwrap();
    for m in [1, 3, 4, 5] {
        step(
            &mut c,
            0,
            Input::PeerUp {
                node: m,
                incarnation: INC,
            },
        );
    }
    let key = b"greeting".to_vec();
    step(
        &mut c,
        1_000,
        Input::Request {
            id: 1,
            key: key.clone(),
            command: Command::Set(b"v".into()),
        },
    );
    let p = |cv: Vec<(NodeId, Incarnation)>| Message::Promise {
        key: key.clone(),
        ballot: b(1, 2),
        accepted: None,
        confirmed: false,
        crash_vector: cv,
        lineage: vec![],
    };
    deliver(&mut c, 1, p(vec![(3, INC), (5, INC)]));
    deliver(&mut c, 5, p(vec![(1, 7), (3, INC)]))
}

#[test]
fn a_crash_vector_voids_votes_of_a_dead_incarnation() {
    let out = crash_vector_voids_an_old_vote(None);
    assert!(out.sends.is_empty(), "5 alone is not a quorum: no Accept");
}

#[test]
fn the_old_incarnation_bug_counts_the_dead_vote() {
    let out = crash_vector_voids_an_old_vote(Some(DeliberateBug::OldIncarnationVotesCounted));
    assert_eq!(
        out.sends.len(),
        3,
        "Accept sent on the strength of a forgotten promise"
    );
}

// ---- Forgetting safely (housekeeping.rs) ----

fn node_cfg(id: NodeId, change: impl FnOnce(&mut Config)) -> Node {
    let mut cfg = Config::new(id, vec![1, 2, 3]);
    change(&mut cfg);
    let mut n = Node::new(cfg, INC, true).unwrap();
    for m in [1, 2, 3] {
        if m != id {
            step(
                &mut n,
                0,
                Input::PeerUp {
                    node: m,
                    incarnation: INC,
                },
            );
        }
    }
    n
}
fn step_at(n: &mut Node, mono_us: u64, wall_ms: u64, input: Input) -> Effects {
    let mut out = Effects::default();
    n.handle(Now { mono_us, wall_ms }, input, &mut out);
    out
}
fn msg_for(key: &[u8], msg: Message) -> Message {
    match msg {
        Message::Accept {
            ballot,
            value,
            next_prepare,
            ..
        } => Message::Accept {
            key: key.to_vec(),
            ballot,
            value,
            next_prepare,
            lineage: vec![],
            held: None,
        },
        Message::Prepare { ballot, .. } => Message::Prepare {
            key: key.to_vec(),
            ballot,
        },
        other => other,
    }
}

#[test]
fn a_tombstone_is_dropped_only_after_an_all_confirm_and_the_grace_with_the_floor_at_its_promise() {
    let mut n = node(2);
    deliver(&mut n, 1, accept(b(5, 1), None));
    deliver(&mut n, 3, prepare(b(6, 3))); // promised now above accepted
    deliver(&mut n, 1, confirm(b(5, 1), false));
    step(&mut n, 3_000_000, Input::Tick);
    assert!(n.acceptor().slot(K).is_some(), "no all-Confirm: kept");
    deliver(&mut n, 1, confirm(b(5, 1), true));
    step(&mut n, 3_500_000, Input::Tick);
    assert!(n.acceptor().slot(K).is_some(), "within the grace: kept");
    step(&mut n, 6_100_000, Input::Tick);
    assert_eq!(n.acceptor().slot(K), None, "dropped after the grace");
    assert_eq!(
        n.acceptor().floor(),
        b(6, 3),
        "floor raised to the promise (!)"
    );
    assert_eq!(n.acceptor().effective_promised(K), b(6, 3));
    assert_eq!(n.stats().tombstones_dropped, 1);
    // A stale proposer's Accept below the forgotten promise is refused.
    let out = deliver(&mut n, 1, accept(b(6, 1), val("stale")));
    assert_eq!(sent(&out), vec![(1, reject(b(6, 1), b(6, 3)))]);
}

#[test]
fn a_confirm_for_another_ballot_does_not_make_a_tombstone_droppable() {
    let mut n = node(2);
    deliver(&mut n, 1, accept(b(5, 1), None));
    deliver(&mut n, 3, accept(b(7, 3), val("new")));
    deliver(&mut n, 1, confirm(b(5, 1), true));
    step(&mut n, 9_000_000, Input::Tick);
    assert_eq!(
        n.acceptor().slot(K).unwrap().accepted,
        Some((b(7, 3), val("new")))
    );
}

#[test]
fn a_tombstone_round_that_hears_from_every_replica_late_still_confirms_all() {
    let mut n = node(1);
    request(&mut n, 9, Command::Del);
    deliver(&mut n, 2, promise(b(1, 1), Some((b(0, 2), val("v")))));
    let out = deliver(&mut n, 2, accepted(b(1, 1)));
    assert_eq!(out.replies, vec![(9, Outcome::Ok(Reply::Deleted(true)))]);
    assert_eq!(sent(&out), to_peers(confirm(b(1, 1), false)));
    // Node 3's Accepted comes after the round ended: now every replica has it.
    let out = deliver(&mut n, 3, accepted(b(1, 1)));
    assert_eq!(sent(&out), to_peers(confirm(b(1, 1), true)));
}

#[test]
fn the_first_live_replica_sweeps_an_expired_value_nobody_reads() {
    let first = Placement::new(&[1, 2, 3], 3).replicas_of(K)[0];
    let mut n = node(first);
    let others: Vec<NodeId> = [1, 2, 3].into_iter().filter(|&m| m != first).collect();
    let expiring = Some(Record {
        data: b"v".to_vec().into(),
        expires_at_ms: Some(crate::core::command::deadline_at(500)),
    });
    step_at(
        &mut n,
        1_000,
        0,
        Input::Peer(env(
            others[0],
            first,
            accept(b(1, others[0]), expiring.clone()),
        )),
    );
    let out = step_at(&mut n, 150_000, 400, Input::Tick);
    assert!(out.sends.is_empty(), "not expired yet at wall 400 ms");
    let out = step_at(&mut n, 250_000, 600, Input::Tick);
    let mut prepares: Vec<NodeId> = out
        .sends
        .iter()
        .filter(|e| matches!(e.msg, Message::Prepare { .. }))
        .map(|e| e.to)
        .collect();
    prepares.sort_unstable();
    assert_eq!(
        prepares, others,
        "the sweeper's round goes to the other replicas"
    );
    let Message::Prepare { ballot, .. } = out.sends[0].msg.clone() else {
        unreachable!()
    };
    let p = Message::Promise {
        key: K.to_vec(),
        ballot,
        accepted: Some((b(1, others[0]), expiring)),
        confirmed: false,
        crash_vector: vec![],
        lineage: vec![],
    };
    let out = step_at(&mut n, 251_000, 600, Input::Peer(env(others[0], first, p)));
    let accepts: Vec<&Message> = out.sends.iter().map(|e| &e.msg).collect();
    assert!(
        accepts
            .iter()
            .all(|m| matches!(m, Message::Accept { value: None, .. })),
        "the sweep writes the tombstone: {accepts:?}"
    );
    let out = step_at(
        &mut n,
        252_000,
        600,
        Input::Peer(env(
            others[0],
            first,
            Message::Accepted {
                key: K.to_vec(),
                ballot,
                crash_vector: vec![],
                next_promised: false,
            },
        )),
    );
    assert!(
        out.replies.is_empty(),
        "a system operation answers no client"
    );
    assert_eq!(n.stats().expired_keys, 1);
}

#[test]
fn a_replica_that_is_not_first_leaves_the_sweep_to_the_first() {
    let order = Placement::new(&[1, 2, 3], 3).replicas_of(K);
    let second = order[1];
    let mut n = node(second);
    let expired = Some(Record {
        data: b"v".to_vec().into(),
        expires_at_ms: Some(crate::core::command::deadline_at(10)),
    });
    step_at(
        &mut n,
        1_000,
        0,
        Input::Peer(env(order[0], second, accept(b(1, order[0]), expired))),
    );
    let out = step_at(&mut n, 250_000, 600, Input::Tick);
    assert!(
        out.sends.is_empty(),
        "node {second} is not the first live replica"
    );
    // The first replica goes down: the second takes over.
    step_at(&mut n, 260_000, 600, Input::PeerDown { node: order[0] });
    let out = step_at(&mut n, 400_000, 700, Input::Tick);
    assert!(
        out.sends
            .iter()
            .any(|e| matches!(e.msg, Message::Prepare { .. })),
        "with the first replica down, node {second} sweeps"
    );
}

#[test]
fn under_the_cap_lru_eviction_proposes_a_delete_of_the_least_recently_used_key() {
    // Three 1-byte keys with 10-byte values: `cost` bytes each with the slot's
    // overhead. A cap of 3 × cost: eviction starts at 90 % (2.7 × cost), after
    // the third key; the ceiling (cap + 25 %) is above all three.
    let cost = SLOT_OVERHEAD_BYTES + 11;
    let mut n = node_cfg(1, |c| {
        c.memory_max_bytes = 3 * cost;
        c.eviction = Eviction::Lru;
    });
    for (i, key) in [b"a", b"b", b"c"].iter().enumerate() {
        let t = 1_000 * (i as u64 + 1);
        let out = step(
            &mut n,
            t,
            Input::Peer(env(2, 1, msg_for(*key, accept(b(1, 2), val("0123456789"))))),
        );
        let evicts = out
            .sends
            .iter()
            .filter(|e| matches!(e.msg, Message::Prepare { .. }))
            .count();
        assert_eq!(
            evicts,
            if i < 2 { 0 } else { 2 },
            "after key {i}: {:?}",
            sent(&out)
        );
        if i == 2 {
            assert!(
                out.sends
                    .iter()
                    .filter(|e| matches!(e.msg, Message::Prepare { .. }))
                    .all(|e| e.msg.key() == b"a"),
                "the least recently used key is evicted: {:?}",
                sent(&out)
            );
        }
    }
}

#[test]
fn an_eviction_whose_key_was_written_since_it_sampled_deletes_nothing() {
    let mut n = node_cfg(1, |c| {
        c.memory_max_bytes = 560;
        c.eviction = Eviction::Lru;
    });
    for (i, key) in [b"a", b"b", b"c"].iter().enumerate() {
        step(
            &mut n,
            1_000 * (i as u64 + 1),
            Input::Peer(env(2, 1, msg_for(*key, accept(b(1, 2), val("0123456789"))))),
        );
    }
    // The eviction of "a" saw ballot 1.2; a newer write at 9.3 is reported.
    let Some((_, Slot { promised, .. })) = n
        .acceptor()
        .slots()
        .find(|(k, _)| k.as_slice() == b"a")
        .map(|(k, s)| (k.clone(), s.clone()))
    else {
        panic!("no slot for a")
    };
    let p = Message::Promise {
        key: b"a".to_vec(),
        ballot: promised,
        accepted: Some((b(9, 3), val("fresh"))),
        confirmed: true,
        crash_vector: vec![],
        lineage: vec![],
    };
    let out = step(&mut n, 5_000, Input::Peer(env(2, 1, p)));
    let values: Vec<&Value> = out
        .sends
        .iter()
        .filter_map(|e| match &e.msg {
            Message::Accept { value, .. } => Some(value),
            _ => None,
        })
        .collect();
    assert!(!values.is_empty(), "phase 2 ran: {:?}", sent(&out));
    assert!(
        values.iter().all(|v| **v == val("fresh")),
        "the newer value is kept, not deleted: {values:?}"
    );
}

/// An Accept of a change: its lineage names its own ballot first.
fn accept_change(ballot: Ballot, value: Value) -> Message {
    let mut msg = accept(ballot, value);
    if let Message::Accept { lineage, .. } = &mut msg {
        *lineage = vec![ballot, Ballot::ZERO];
    }
    msg
}

#[test]
fn past_the_memory_ceiling_an_accept_that_adds_bytes_is_refused() {
    let mut n = node_cfg(2, |c| c.memory_max_bytes = 400);
    let big = Some(Record::new(vec![b'x'; 1_000]));
    let out = deliver(&mut n, 1, accept_change(b(1, 1), big));
    assert_eq!(
        sent(&out),
        vec![(
            1,
            Message::Nack {
                key: K.to_vec(),
                ballot: b(1, 1),
                reason: NackReason::OutOfMemory
            }
        )]
    );
    // A tombstone frees bytes: always accepted.
    let out = deliver(&mut n, 1, accept_change(b(2, 1), None));
    assert!(matches!(sent(&out)[0].1, Message::Accepted { .. }));
}

#[test]
fn past_the_memory_ceiling_an_identity_round_is_still_accepted() {
    // Found by the simulator (swarm seed 4391): a value one replica accepted
    // may be chosen, so every later round must re-propose it; a replica that
    // refused those identity rounds for memory left the key with no round
    // that could finish, and reads of it failed forever. Only changes are
    // refused at the ceiling.
    let mut n = node_cfg(2, |c| c.memory_max_bytes = 400);
    let big = Some(Record::new(vec![b'x'; 1_000]));
    let mut msg = accept(b(3, 1), big);
    if let Message::Accept { lineage, .. } = &mut msg {
        // Built by a change at ballot 2 (accepted elsewhere), re-proposed at 3.
        *lineage = vec![b(2, 3), Ballot::ZERO];
    }
    let out = deliver(&mut n, 1, msg);
    assert!(
        matches!(sent(&out)[0].1, Message::Accepted { .. }),
        "{:?}",
        sent(&out)
    );
}

#[test]
fn at_the_cap_a_write_is_refused_with_redis_oom_error_but_reads_and_deletes_run() {
    // One key with a 10-byte value costs SLOT_OVERHEAD_BYTES + 11: a cap 20
    // bytes below that is exceeded, and its ceiling (cap + 25 %) is not.
    let mut n = node_cfg(1, |c| c.memory_max_bytes = SLOT_OVERHEAD_BYTES + 11 - 20);
    deliver(&mut n, 2, accept(b(1, 2), val("0123456789")));
    let out = request(&mut n, 1, Command::Set(b"more".into()));
    assert_eq!(
        out.replies,
        vec![(1, Outcome::Failed(super::proposer::ERR_OOM.into()))]
    );
    let out = request(&mut n, 2, Command::Get);
    assert!(out.replies.is_empty(), "a read runs its round");
    assert!(!out.sends.is_empty());
}

#[test]
fn connection_buffers_count_against_the_cap() {
    let mut n = node_cfg(1, |c| c.memory_max_bytes = 1_000_000);
    let out = request(&mut n, 1, Command::Set(b"v".into()));
    assert!(out.replies.is_empty(), "under the cap: the write runs");
    // Replies owed to clients that do not read fill the cap: writes get -OOM.
    n.set_connection_bytes(1_000_000);
    let out = step(
        &mut n,
        1_000,
        Input::Request {
            id: 2,
            key: b"other".to_vec(),
            command: Command::Set(b"v".into()),
        },
    );
    assert_eq!(
        out.replies,
        vec![(2, Outcome::Failed(super::proposer::ERR_OOM.into()))]
    );
    let out = step(
        &mut n,
        1_000,
        Input::Request {
            id: 3,
            key: b"other".to_vec(),
            command: Command::Del,
        },
    );
    assert!(out.replies.is_empty(), "a delete still runs");
}

// ---- Cluster listing (listing.rs) ----

fn holds(n: &mut Node, from: NodeId, key: &str, value: Value) {
    let msg = Message::Accept {
        key: key.as_bytes().to_vec(),
        ballot: b(1, from),
        value,
        next_prepare: None,
        lineage: vec![],
        held: None,
    };
    deliver(n, from, msg);
}
/// A Confirm from `from` of the ballot `holds` accepted `key` at.
fn deliver_confirm(n: &mut Node, from: NodeId, key: &str) {
    let msg = Message::Confirm {
        key: key.as_bytes().to_vec(),
        ballot: b(1, from),
        all: false,
    };
    deliver(n, from, msg);
    assert!(n.acceptor().slot(key.as_bytes()).unwrap().confirmed);
}
fn keys(s: &[&str]) -> Vec<Key> {
    s.iter().map(|k| k.as_bytes().to_vec()).collect()
}
fn list(n: &mut Node, mono_us: u64, id: RequestId, after: Option<&str>, count: usize) -> Effects {
    let after = after.map(|a| a.as_bytes().to_vec());
    step(n, mono_us, Input::ListKeys { id, after, count })
}
fn key_list(req: u64, listed: &[&str], next: Option<&str>) -> Message {
    Message::KeyList {
        req,
        keys: keys(listed),
        next: next.map(|k| k.as_bytes().to_vec()),
    }
}
fn listed(ks: &[&str], next: Option<&str>) -> Outcome {
    Outcome::Ok(Reply::Keys {
        keys: keys(ks),
        next: next.map(|k| k.as_bytes().to_vec()),
    })
}

#[test]
fn a_listing_asks_every_member_and_answers_once_all_but_n_minus_q_did() {
    let mut n = node(1);
    holds(&mut n, 2, "a", val("1"));
    holds(&mut n, 2, "gone", None);
    deliver_confirm(&mut n, 2, "gone"); // a chosen tombstone is not listed
    let out = list(&mut n, 2_000, 7, None, 10);
    let ask = Message::ListKeys {
        req: 1,
        after: None,
        count: 10,
    };
    // Its own answer went through the local acceptor path: 1 of the 2 needed.
    assert_eq!(sent(&out), to_peers(ask));
    assert!(out.replies.is_empty());
    let out = deliver(&mut n, 2, key_list(1, &["a", "b"], None));
    assert_eq!(out.replies, vec![(7, listed(&["a", "b"], None))]);
    // The third answer, late, is ignored: the listing is over.
    let out = deliver(&mut n, 3, key_list(1, &["c"], None));
    assert!(out.replies.is_empty() && out.sends.is_empty());
}

#[test]
fn a_member_lists_its_live_keys_after_the_cursor_bounded_by_count() {
    let mut n = node(2);
    for k in ["a", "b", "c", "d"] {
        holds(&mut n, 1, k, val("v"));
    }
    holds(&mut n, 1, "bb", None);
    deliver_confirm(&mut n, 1, "bb");
    let ask = |after: Option<&str>, count| Message::ListKeys {
        req: 9,
        after: after.map(|a| a.as_bytes().to_vec()),
        count,
    };
    assert_eq!(
        sent(&deliver(&mut n, 1, ask(Some("a"), 2))),
        vec![(1, key_list(9, &["b", "c"], Some("c")))]
    );
    assert_eq!(
        sent(&deliver(&mut n, 1, ask(Some("c"), 2))),
        vec![(1, key_list(9, &["d"], None))]
    );
}

/// A lagging replica still lists a key whose tombstone it has not accepted:
/// the listing returns it as a candidate (the command layer reads each key),
/// and a page is cut where any answer stopped early, so nothing is skipped.
#[test]
fn a_lagging_replica_adds_candidates_and_an_early_stop_cuts_the_page() {
    let mut n = node(1);
    holds(&mut n, 2, "a", val("1"));
    holds(&mut n, 2, "x", None);
    holds(&mut n, 2, "z", val("1"));
    list(&mut n, 2_000, 7, None, 10);
    // Node 2 lags on "x" and stopped early at "x" (its scan bound).
    let out = deliver(&mut n, 2, key_list(1, &["a", "x"], Some("x")));
    assert_eq!(out.replies, vec![(7, listed(&["a", "x"], Some("x")))]);
    // The next page starts after the cut.
    let out = list(&mut n, 3_000, 8, Some("x"), 10);
    assert_eq!(
        sent(&out),
        to_peers(Message::ListKeys {
            req: 2,
            after: Some(b"x".to_vec()),
            count: 10
        })
    );
    let out = deliver(&mut n, 3, key_list(2, &[], None));
    assert_eq!(out.replies, vec![(8, listed(&["z"], None))]);
}

/// With N = 3 of M = 5 members, a listing needs all members but N - q = 1:
/// one missing node is tolerated, two are not (a key could have its whole
/// quorum among them), and the listing fails at its timeout.
#[test]
fn a_listing_tolerates_n_minus_q_missing_members_and_fails_on_more() {
    let members = [1, 2, 3, 4, 5];
    let mut n = node_of(1, &members, true);
    list(&mut n, 0, 7, None, 10);
    deliver(&mut n, 2, key_list(1, &["b"], None));
    let out = deliver(&mut n, 3, key_list(1, &["c"], None));
    assert!(out.replies.is_empty(), "3 of 5 answered, 4 needed");
    let out = deliver(&mut n, 4, key_list(1, &["d"], None));
    assert_eq!(out.replies, vec![(7, listed(&["b", "c", "d"], None))]);

    list(&mut n, 10_000, 8, None, 10);
    deliver(&mut n, 2, key_list(2, &["b"], None));
    deliver(&mut n, 3, key_list(2, &["c"], None));
    let timeout_us = 10_000 + n.config().list_timeout_ms * 1_000;
    assert!(step(&mut n, timeout_us - 1, Input::Tick).replies.is_empty());
    let out = step(&mut n, timeout_us, Input::Tick);
    assert_eq!(out.replies.len(), 1);
    assert!(
        matches!(&out.replies[0], (8, Outcome::Failed(why)) if why.contains("only 3 of 5 members")),
        "{:?}",
        out.replies
    );
}

#[test]
fn a_recovering_member_does_not_answer_a_listing() {
    let mut n = node_of(2, &[1, 2, 3], false);
    let out = deliver(
        &mut n,
        1,
        Message::ListKeys {
            req: 1,
            after: None,
            count: 10,
        },
    );
    assert!(out
        .sends
        .iter()
        .all(|e| !matches!(e.msg, Message::KeyList { .. })));
}

#[test]
fn listings_are_bounded_in_page_size_and_number() {
    let mut n = node(1);
    let max = n.config().list_keys_max;
    for count in [0, max + 1] {
        let out = list(&mut n, 0, 7, None, count);
        assert!(out.sends.is_empty());
        assert!(matches!(&out.replies[..], [(7, Outcome::Failed(_))]));
    }
    for id in 0..n.config().listings_max as u64 {
        assert!(list(&mut n, 0, id, None, 1).replies.is_empty());
    }
    let out = list(&mut n, 0, 99, None, 1);
    assert!(
        matches!(&out.replies[..], [(99, Outcome::Failed(why))] if why.contains("listings_max")),
        "{:?}",
        out.replies
    );
}

/// An answer naming keys at or before the cursor is not an answer to this page.
#[test]
fn an_answer_with_keys_before_the_cursor_is_ignored() {
    let mut n = node(1);
    list(&mut n, 0, 7, Some("m"), 10);
    let out = deliver(&mut n, 2, key_list(1, &["a"], None));
    assert!(out.replies.is_empty());
    let out = deliver(&mut n, 2, key_list(1, &["n"], None));
    assert_eq!(out.replies, vec![(7, listed(&["n"], None))]);
}

/// Three classic nodes and a hand-run network: `input` hands one input to a
/// node, then delivers every envelope it causes that `link` lets through
/// (dropping the rest) until nothing is in flight. Time stands still, so no
/// timer fires.
struct Trio {
    nodes: Vec<Node>,
    replies: Vec<(RequestId, Outcome)>,
}

impl Trio {
    fn new() -> Trio {
        Trio {
            nodes: (1..=3).map(node).collect(),
            replies: Vec::new(),
        }
    }
    fn input(&mut self, at: NodeId, input: Input, link: impl Fn(&Envelope) -> bool) {
        let out = step(&mut self.nodes[at as usize - 1], 1_000, input);
        let mut queue: std::collections::VecDeque<Envelope> = out.sends.into();
        self.replies.extend(out.replies);
        while let Some(e) = queue.pop_front() {
            if !link(&e) {
                continue;
            }
            let to = e.to as usize - 1;
            let out = step(&mut self.nodes[to], 1_000, Input::Peer(e));
            queue.extend(out.sends);
            self.replies.extend(out.replies);
        }
    }
    fn request(
        &mut self,
        at: NodeId,
        id: RequestId,
        command: Command,
        link: impl Fn(&Envelope) -> bool,
    ) {
        let key = K.to_vec();
        self.input(at, Input::Request { id, key, command }, link);
    }
    fn reply(&self, id: RequestId) -> Option<&Outcome> {
        self.replies.iter().find(|r| r.0 == id).map(|r| &r.1)
    }
}

/// Regression (issue 13): a member listed only keys whose accepted value was
/// live, so an unchosen tombstone accepted by a minority hid a key whose live
/// value was still the chosen one. SET k=v1 is chosen on {1, 2} while 3 is
/// cut off; DEL k through 1 loses its Accepts to the peers, so only 1 holds
/// the tombstone; a listing through 3 answered by {1, 3} returned no keys,
/// while a GET through {2, 3} still reads v1 (and FLUSHALL, which deletes
/// what is listed, would have left k alive). A member now lists every key it
/// holds an accepted value for, except a confirmed (chosen) tombstone.
#[test]
fn a_listing_returns_a_live_key_hidden_behind_an_unchosen_tombstone() {
    let mut t = Trio::new();
    t.request(1, 1, Command::Set(b"v1".into()), |e| {
        e.from != 3 && e.to != 3
    });
    assert_eq!(t.reply(1), Some(&Outcome::Ok(Reply::Done)));
    t.request(1, 2, Command::Del, |e| {
        !matches!(e.msg, Message::Accept { .. })
    });
    assert_eq!(
        t.reply(2),
        None,
        "the DEL is still running, its Accepts lost"
    );
    let n1 = t.nodes[0].acceptor().slot(K).unwrap();
    assert!(matches!(n1.accepted, Some((_, None))) && !n1.confirmed);
    t.input(
        3,
        Input::ListKeys {
            id: 3,
            after: None,
            count: 10,
        },
        |e| e.from != 2 && e.to != 2,
    );
    assert_eq!(t.reply(3), Some(&listed(&["k"], None)));
    t.request(3, 4, Command::Get, |e| e.from != 1 && e.to != 1);
    assert_eq!(t.reply(4), Some(&Outcome::Ok(Reply::Value(bytes("v1")))));
}

/// What a member lists: live values and unconfirmed tombstones (the key may
/// still be live), never a confirmed tombstone (chosen: the key is deleted).
#[test]
fn a_member_lists_unconfirmed_tombstones_but_not_confirmed_ones() {
    let mut n = node(2);
    holds(&mut n, 1, "a", val("v"));
    holds(&mut n, 1, "b", None);
    holds(&mut n, 1, "c", None);
    deliver_confirm(&mut n, 1, "c");
    let ask = Message::ListKeys {
        req: 9,
        after: None,
        count: 10,
    };
    assert_eq!(
        sent(&deliver(&mut n, 1, ask)),
        vec![(1, key_list(9, &["a", "b"], None))]
    );
}

// ---- Fast paths (fastpath.rs), with the default configuration ----

/// Node `id` of {1, 2, 3} with the fast paths on (the default).
fn fast_node(id: NodeId) -> Node {
    let mut n = Node::new(Config::new(id, vec![1, 2, 3]), INC, true).unwrap();
    for m in [1, 2, 3] {
        if m != id {
            step(
                &mut n,
                0,
                Input::PeerUp {
                    node: m,
                    incarnation: INC,
                },
            );
        }
    }
    n
}
fn accept_then_prepare(ballot: Ballot, value: Value, next: Ballot) -> Message {
    Message::Accept {
        key: K.to_vec(),
        ballot,
        value,
        next_prepare: Some(next),
        lineage: vec![],
        held: None,
    }
}
fn read_reply(ballot: Ballot, accepted: Option<(Ballot, Value)>, confirmed: bool) -> Message {
    Message::ReadReply {
        key: K.to_vec(),
        ballot,
        accepted,
        confirmed,
        held: false,
    }
}

#[test]
fn an_accept_carries_the_next_prepare_and_the_accepted_says_it_was_promised() {
    let mut n = fast_node(2);
    let out = deliver(&mut n, 1, accept_then_prepare(b(1, 1), val("v"), b(2, 1)));
    let mut folded = with_cv(accepted(b(1, 1)), &[1, 3]);
    if let Message::Accepted { next_promised, .. } = &mut folded {
        *next_promised = true;
    }
    assert_eq!(sent(&out), vec![(1, folded)]);
    let slot = n.acceptor().slot(K).unwrap();
    assert_eq!(
        (slot.promised, slot.accepted.clone()),
        (b(2, 1), Some((b(1, 1), val("v")))),
        "promised stays above accepted: a dropped slot must raise the floor to it"
    );
}

#[test]
fn a_refused_accept_still_answers_its_piggybacked_prepare_on_its_own() {
    let mut n = fast_node(2);
    deliver(&mut n, 3, prepare(b(5, 3)));
    let out = deliver(&mut n, 1, accept_then_prepare(b(1, 1), val("v"), b(6, 1)));
    assert_eq!(
        sent(&out),
        vec![
            (1, with_cv(promise(b(6, 1), None), &[1, 3])),
            (1, reject(b(1, 1), b(5, 3))),
        ]
    );
}

#[test]
fn a_repeated_write_takes_one_round_trip_on_the_piggybacked_promises() {
    let mut n = fast_node(1);
    request(&mut n, 7, Command::Set(b"a".into()));
    let out = deliver(&mut n, 2, promise(b(1, 1), None));
    assert_eq!(
        sent(&out),
        to_peers(accept_then_prepare(b(1, 1), val("a"), b(2, 1)))
    );
    // Node 2 accepted and promised b(2, 1): one Accepted says both.
    let mut folded = accepted(b(1, 1));
    if let Message::Accepted { next_promised, .. } = &mut folded {
        *next_promised = true;
    }
    let out = deliver(&mut n, 2, folded);
    assert_eq!(out.replies, vec![(7, Outcome::Ok(Reply::Done))]);
    // The next write of the key: Phase 2a at once, at the prepared ballot.
    let out = request(&mut n, 8, Command::Set(b"b".into()));
    assert_eq!(
        sent(&out),
        to_peers(accept_then_prepare(b(2, 1), val("b"), b(3, 1)))
    );
    assert_eq!(n.stats().fast_writes, 1);
}

#[test]
fn cached_promises_of_a_peer_whose_link_went_down_do_not_make_a_quorum() {
    let mut n = fast_node(1);
    request(&mut n, 7, Command::Set(b"a".into()));
    deliver(&mut n, 2, promise(b(1, 1), None));
    let mut folded = accepted(b(1, 1));
    if let Message::Accepted { next_promised, .. } = &mut folded {
        *next_promised = true;
    }
    deliver(&mut n, 2, folded);
    // Node 2's link goes down: its promise of b(2, 1) may still hold, but an
    // Accept sent on it would reach only our own acceptor, and the write
    // would end unknown. Two phases instead: a Prepare nobody answers fails
    // cleanly, "not applied".
    step(&mut n, 10, Input::PeerDown { node: 2 });
    let out = request(&mut n, 8, Command::Set(b"b".into()));
    assert!(
        sent(&out)
            .iter()
            .all(|(_, m)| matches!(m, Message::Prepare { .. })),
        "two phases: {:?}",
        sent(&out)
    );
    assert_eq!(n.stats().fast_writes, 0);
}

#[test]
fn a_reject_of_the_piggybacked_prepare_drops_the_cached_promises() {
    let mut n = fast_node(1);
    request(&mut n, 7, Command::Set(b"a".into()));
    deliver(&mut n, 2, promise(b(1, 1), None));
    deliver(&mut n, 2, reject(b(2, 1), b(5, 3)));
    deliver(&mut n, 2, accepted(b(1, 1)));
    let out = request(&mut n, 8, Command::Set(b"b".into()));
    assert!(
        sent(&out)
            .iter()
            .all(|(_, m)| matches!(m, Message::Prepare { .. })),
        "two phases again: {:?}",
        sent(&out)
    );
    assert_eq!(n.stats().fast_writes, 0);
}

#[test]
fn a_fast_read_answers_from_a_quorum_on_one_confirmed_ballot_without_prepare() {
    let mut n = fast_node(1);
    let out = request(&mut n, 7, Command::Get);
    let ballot = b(1, 1);
    assert_eq!(
        sent(&out),
        to_peers(Message::Read {
            key: K.to_vec(),
            ballot,
            held: None,
        })
    );
    // Our own replica holds nothing; so does node 2: absent, from a quorum.
    let out = deliver(&mut n, 2, read_reply(ballot, None, false));
    assert_eq!(out.replies, vec![(7, Outcome::Ok(Reply::Value(None)))]);
    assert!(out.sends.is_empty());
    assert_eq!(
        n.acceptor().effective_promised(K),
        Ballot::ZERO,
        "no promise"
    );
}

#[test]
fn a_fast_read_without_a_confirmed_quorum_falls_back_to_a_full_round() {
    let mut n = fast_node(1);
    request(&mut n, 7, Command::Get);
    let ballot = b(1, 1);
    let out = deliver(
        &mut n,
        2,
        read_reply(ballot, Some((b(5, 2), val("x"))), true),
    );
    assert!(out.sends.is_empty(), "node 3 may still agree with us");
    let out = deliver(
        &mut n,
        3,
        read_reply(ballot, Some((b(6, 3), val("y"))), false),
    );
    assert!(out.replies.is_empty());
    assert!(
        sent(&out)
            .iter()
            .all(|(_, m)| matches!(m, Message::Prepare { .. }))
            && !out.sends.is_empty(),
        "a full round: {:?}",
        sent(&out)
    );
    assert_eq!(n.stats().fast_read_fallbacks, 1);
}

#[test]
fn a_fast_read_of_an_expired_value_falls_back_to_the_round_that_writes_its_tombstone() {
    let mut n = fast_node(1);
    let expired = Some(Record {
        data: b"old".to_vec().into(),
        expires_at_ms: Some(crate::core::command::deadline_at(1)),
    });
    // Our own replica and node 2 agree on a confirmed, expired value.
    deliver(&mut n, 2, accept(b(1, 2), expired.clone()));
    deliver(&mut n, 2, confirm(b(1, 2), true));
    let now = Now {
        mono_us: 2_000,
        wall_ms: 5,
    };
    let mut out = Effects::default();
    n.handle(
        now,
        Input::Request {
            id: 7,
            key: K.to_vec(),
            command: Command::Get,
        },
        &mut out,
    );
    let ballot = match &sent(&out)[0].1 {
        Message::Read { ballot, .. } => *ballot,
        m => panic!("expected a Read, got {m:?}"),
    };
    let mut out = Effects::default();
    n.handle(
        now,
        Input::Peer(env(
            2,
            1,
            read_reply(ballot, Some((b(1, 2), expired)), true),
        )),
        &mut out,
    );
    assert!(out.replies.is_empty(), "no \"absent\" before the tombstone");
    assert!(sent(&out)
        .iter()
        .any(|(_, m)| matches!(m, Message::Prepare { .. })));
}

#[test]
fn the_cached_phase_1s_are_bounded_in_keys_and_bytes_oldest_first() {
    let cfg = Config {
        promise_cache_max_keys: 2,
        ..Config::new(1, vec![1, 2, 3])
    };
    let mut n = Node::new(cfg, INC, true).unwrap();
    for m in [2, 3] {
        step(
            &mut n,
            0,
            Input::PeerUp {
                node: m,
                incarnation: INC,
            },
        );
    }
    let write = |n: &mut Node, id: RequestId, key: &[u8]| {
        let out = step(
            n,
            1_000,
            Input::Request {
                id,
                key: key.to_vec(),
                command: Command::Set(b"v".into()),
            },
        );
        let ballot = out.sends[0].msg.ballot();
        deliver(
            n,
            2,
            Message::Promise {
                key: key.to_vec(),
                ballot,
                accepted: None,
                confirmed: false,
                crash_vector: vec![],
                lineage: vec![],
            },
        );
    };
    write(&mut n, 1, b"a");
    write(&mut n, 2, b"b");
    assert_eq!(n.promise_cache.size().0, 2);
    write(&mut n, 3, b"c");
    let (keys, bytes) = n.promise_cache.size();
    assert_eq!(keys, 2, "the oldest entry (a) made room for c");
    assert!(bytes > 0 && bytes < 2 * 1024);
}

#[test]
fn a_transaction_is_one_composed_change_and_a_stale_watch_applies_nothing() {
    let mut n = node(1);
    let tx = |watch| Command::Multi {
        commands: vec![Command::Set(b"1".into()), Command::IncrBy(1)],
        watch,
    };
    request(&mut n, 7, tx(None));
    let out = deliver(&mut n, 2, promise(b(1, 1), None));
    assert_eq!(sent(&out), to_peers(accept(b(1, 1), val("2"))));
    let out = deliver(&mut n, 2, accepted(b(1, 1)));
    assert_eq!(
        out.replies,
        vec![(
            7,
            Outcome::Ok(Reply::Multi(Some(vec![Reply::Done, Reply::Integer(2)])))
        )]
    );
    // WATCH reads the version: the ballot of the last change, 1.1.
    request(&mut n, 8, Command::Watch);
    let last = Some((b(1, 1), val("2")));
    let lineage = vec![b(1, 1), Ballot::ZERO];
    deliver(
        &mut n,
        2,
        promise_with_lineage(b(2, 1), last.clone(), lineage.clone()),
    );
    let out = deliver(&mut n, 2, accepted(b(2, 1)));
    assert_eq!(out.replies, vec![(8, Outcome::Ok(Reply::Version(b(1, 1))))]);
    // A transaction watching another version changes nothing: nil.
    request(&mut n, 9, tx(Some(b(0, 2))));
    let out = deliver(
        &mut n,
        2,
        promise_with_lineage(b(3, 1), last.clone(), lineage.clone()),
    );
    assert_eq!(sent(&out), to_peers(accept(b(3, 1), val("2"))));
    let out = deliver(&mut n, 2, accepted(b(3, 1)));
    assert_eq!(out.replies, vec![(9, Outcome::Ok(Reply::Multi(None)))]);
    // Watching the current version: it runs.
    request(&mut n, 10, tx(Some(b(1, 1))));
    let out = deliver(&mut n, 2, promise_with_lineage(b(4, 1), last, lineage));
    assert_eq!(sent(&out), to_peers(accept(b(4, 1), val("2"))));
    let out = deliver(&mut n, 2, accepted(b(4, 1)));
    assert_eq!(
        out.replies,
        vec![(
            10,
            Outcome::Ok(Reply::Multi(Some(vec![Reply::Done, Reply::Integer(2)])))
        )]
    );
}

/// Found in review: a WATCH on a key whose lineage no replica still holds
/// (the side table keeps 4,096 keys) answers the accepted ballot as the
/// version, then its own identity round re-accepts the value at a newer
/// ballot, so the EXEC that follows sees another "version" and answers nil
/// although nothing changed the key (redis-py's transaction() would retry
/// forever). Fixed: an unknown base lineage stands for [accepted ballot].
#[test]
fn watch_then_exec_on_a_key_whose_lineage_was_dropped_runs() {
    let mut n = node(1);
    let prepared = |out: &Effects| {
        out.sends
            .iter()
            .find_map(|e| match &e.msg {
                Message::Prepare { ballot, .. } => Some(*ballot),
                _ => None,
            })
            .expect("a Prepare")
    };
    // SET k v, chosen at 1.1.
    let out = request(&mut n, 7, Command::Set(b"v".into()));
    let b1 = prepared(&out);
    deliver(&mut n, 2, promise(b1, None));
    let out = deliver(&mut n, 2, accepted(b1));
    assert_eq!(out.replies, vec![(7, Outcome::Ok(Reply::Done))]);
    // 4,096 other keys are written through this acceptor: k's lineage entry
    // is dropped here (and, alike, at node 2).
    for i in 0..super::lineage::LINEAGE_TABLE_MAX_KEYS {
        let key = format!("other{i}");
        deliver(
            &mut n,
            2,
            msg_for(key.as_bytes(), accept(b(1, 2), val("x"))),
        );
    }
    // WATCH k.
    let out = request(&mut n, 8, Command::Watch);
    let bw = prepared(&out);
    deliver(&mut n, 2, promise(bw, Some((b1, val("v")))));
    let out = deliver(&mut n, 2, accepted(bw));
    let Some((8, Outcome::Ok(Reply::Version(version)))) = out.replies.first().cloned() else {
        panic!("WATCH answered {:?}", out.replies);
    };
    // MULTI; SET k w; EXEC, with nothing written in between.
    let out = request(
        &mut n,
        9,
        Command::Multi {
            commands: vec![Command::Set(b"w".into())],
            watch: Some(version),
        },
    );
    let be = prepared(&out);
    // Node 2 reports what it holds: WATCH's identity Accept, whose lineage
    // was empty (nobody knew it).
    deliver(&mut n, 2, promise(be, Some((bw, val("v")))));
    let out = deliver(&mut n, 2, accepted(be));
    assert_eq!(
        out.replies,
        vec![(9, Outcome::Ok(Reply::Multi(Some(vec![Reply::Done]))))],
        "EXEC after WATCH, nothing changed k in between (WATCH said version {version})"
    );
}

// ---- A value named by its ballot (Accept::held) ----

fn accept_held(ballot: Ballot, held: Ballot) -> Message {
    Message::Accept {
        key: K.to_vec(),
        ballot,
        value: None,
        next_prepare: None,
        lineage: vec![],
        held: Some(held),
    }
}

fn read_naming(held: Option<Ballot>) -> Message {
    Message::Read {
        key: K.to_vec(),
        ballot: b(3, 1),
        held,
    }
}

#[test]
fn a_read_naming_the_ballot_a_replica_accepted_is_answered_without_the_value() {
    let mut n = node(2);
    deliver(&mut n, 1, accept(b(1, 1), val("x")));
    let out = deliver(&mut n, 1, read_naming(Some(b(1, 1))));
    let elided = Message::ReadReply {
        key: K.to_vec(),
        ballot: b(3, 1),
        accepted: Some((b(1, 1), None)),
        confirmed: false,
        held: true,
    };
    assert_eq!(sent(&out), vec![(1, elided)]);
    // Another ballot named, or none: the bytes travel.
    for held in [Some(b(1, 3)), None] {
        let out = deliver(&mut n, 1, read_naming(held));
        let full = Message::ReadReply {
            key: K.to_vec(),
            ballot: b(3, 1),
            accepted: Some((b(1, 1), val("x"))),
            confirmed: false,
            held: false,
        };
        assert_eq!(sent(&out), vec![(1, full)], "Read naming {held:?}");
    }
}

/// Node 1 holds "x" at 1.2, confirmed, and reads with `held` (threshold 1
/// byte); node 2's answer leaves the value out.
fn reader_holding_x() -> (Node, Ballot) {
    let mut n = fast_node(1);
    n.cfg.elide_value_min_bytes = 1;
    deliver(&mut n, 2, accept(b(1, 2), val("x")));
    deliver(&mut n, 2, confirm(b(1, 2), true));
    let out = request(&mut n, 7, Command::Get);
    let ballot = match &sent(&out)[..] {
        [(2, Message::Read { ballot, held, .. }), (3, Message::Read { .. })] => {
            assert_eq!(*held, Some(b(1, 2)), "the Read names the value held");
            *ballot
        }
        s => panic!("expected Reads, got {s:?}"),
    };
    (n, ballot)
}

fn elided_reply(ballot: Ballot) -> Message {
    Message::ReadReply {
        key: K.to_vec(),
        ballot,
        accepted: Some((b(1, 2), None)),
        confirmed: true,
        held: true,
    }
}

#[test]
fn a_read_answered_without_the_value_takes_the_readers_own_bytes() {
    let (mut n, ballot) = reader_holding_x();
    let out = deliver(&mut n, 2, elided_reply(ballot));
    assert_eq!(
        out.replies,
        vec![(7, Outcome::Ok(Reply::Value(bytes("x"))))]
    );
}

#[test]
fn an_answer_naming_a_ballot_the_reader_no_longer_holds_takes_that_ballots_value() {
    let (mut n, ballot) = reader_holding_x();
    // Before node 2 answers, node 1 accepts "y" at 4.3 (not chosen).
    deliver(&mut n, 3, accept(b(4, 3), val("y")));
    let out = deliver(&mut n, 2, elided_reply(ballot));
    // 1.2's value is "x" (the reader's own answer to its Read said so);
    // taking what the reader holds now would answer the unchosen "y".
    assert_eq!(
        out.replies,
        vec![(7, Outcome::Ok(Reply::Value(bytes("x"))))]
    );
}

#[test]
fn an_accept_naming_the_held_ballot_accepts_that_value() {
    let mut n = node(2);
    deliver(&mut n, 1, accept(b(1, 1), val("x")));
    let out = deliver(&mut n, 1, accept_held(b(2, 1), b(1, 1)));
    assert_eq!(sent(&out), vec![(1, with_cv(accepted(b(2, 1)), &[1, 3]))]);
    let slot = n.acceptor.slot(K).expect("slot");
    assert_eq!(slot.accepted, Some((b(2, 1), val("x"))));
}

#[test]
fn an_accept_naming_a_ballot_not_held_is_refused_and_changes_nothing() {
    let mut n = node(2);
    deliver(&mut n, 1, accept(b(1, 1), val("x")));
    let before = n.acceptor.slot(K).cloned();
    let out = deliver(&mut n, 3, accept_held(b(2, 3), b(1, 3)));
    let nack = Message::Nack {
        key: K.to_vec(),
        ballot: b(2, 3),
        reason: NackReason::ValueMissing,
    };
    assert_eq!(sent(&out), vec![(3, nack)]);
    assert_eq!(n.acceptor.slot(K).cloned(), before, "nothing changed");
}

#[test]
fn a_retry_names_its_value_by_ballot_to_the_replicas_that_hold_it() {
    let mut n = node(1);
    n.cfg.elide_value_min_bytes = 1;
    request(&mut n, 7, Command::Set(b"x".into()));
    deliver(&mut n, 2, promise(b(1, 1), None));
    // Node 2 accepts (its Accepted is lost); node 3 had promised higher.
    let out = deliver(&mut n, 3, reject(b(1, 1), b(5, 3)));
    assert!(out.sends.is_empty());
    // The phase times out: a retry, Prepare(6.1).
    let out = step(&mut n, 51_000, Input::Tick);
    assert_eq!(sent(&out), to_peers(prepare(b(6, 1))));
    // Node 2 reports our own Accept: the retry re-proposes it, and node 2
    // (which holds 1.1) gets it by ballot; node 3 gets the bytes.
    let out = deliver(&mut n, 2, promise(b(6, 1), Some((b(1, 1), val("x")))));
    assert_eq!(
        sent(&out),
        vec![
            (2, accept_held(b(6, 1), b(1, 1))),
            (3, accept(b(6, 1), val("x"))),
        ]
    );
    // A replica that no longer holds it asks for the bytes: sent at once.
    let nack = Message::Nack {
        key: K.to_vec(),
        ballot: b(6, 1),
        reason: NackReason::ValueMissing,
    };
    let out = deliver(&mut n, 2, nack);
    assert_eq!(sent(&out), vec![(2, accept(b(6, 1), val("x")))]);
    let out = deliver(&mut n, 2, accepted(b(6, 1)));
    assert_eq!(out.replies, vec![(7, Outcome::Ok(Reply::Done))]);
}

// ---- Membership change (membership.rs) ----

/// Node `id` in the joint epoch 1 of a change from {1,2,3} to {2,3,4}
/// (N = 3: every key moves from the old three to the new three).
fn joint_node(id: NodeId) -> Node {
    let mut cfg = classic(Config::new(id, vec![1, 2, 3]));
    cfg.membership = Some(Membership {
        epoch: 1,
        members: vec![2, 3, 4],
        old: Some(vec![1, 2, 3]),
        moved: vec![],
        addrs: vec![],
    });
    let mut n = Node::new(cfg, INC, true).unwrap();
    for m in [1, 2, 3, 4] {
        if m != id {
            step(
                &mut n,
                0,
                Input::PeerUp {
                    node: m,
                    incarnation: INC,
                },
            );
        }
    }
    n
}

fn env_in(epoch: u64, from: NodeId, to: NodeId, msg: Message) -> Envelope {
    Envelope {
        epoch,
        ..env(from, to, msg)
    }
}

#[test]
fn a_moving_key_needs_a_quorum_of_its_old_and_of_its_new_replicas() {
    let mut n = joint_node(2);
    let out = request(&mut n, 7, Command::Set(b"v".into()));
    let prepared: Vec<NodeId> = sent(&out).iter().map(|(to, _)| *to).collect();
    assert_eq!(
        prepared.len(),
        3,
        "old and new replicas but itself: {prepared:?}"
    );
    let ballot = match &out.sends[0].msg {
        Message::Prepare { ballot, .. } => *ballot,
        m => panic!("{m:?}"),
    };
    // Itself (2) and 4: a quorum of the new set {2,3,4}, not of the old {1,2,3}.
    let out = step(
        &mut n,
        1_000,
        Input::Peer(env_in(1, 4, 2, promise(ballot, None))),
    );
    assert!(
        !out.sends
            .iter()
            .any(|e| matches!(e.msg, Message::Accept { .. })),
        "phase 2 on the new set's quorum alone"
    );
    let out = step(
        &mut n,
        1_000,
        Input::Peer(env_in(1, 1, 2, promise(ballot, None))),
    );
    assert!(out
        .sends
        .iter()
        .any(|e| matches!(e.msg, Message::Accept { .. })));
}

#[test]
fn a_message_from_another_epoch_is_not_handled_and_the_epochs_are_exchanged() {
    let mut n = joint_node(2);
    // From epoch 0: not promised; our epoch goes back (it went on PeerUp
    // too, so past the rate limit).
    let to = n.id();
    let out = step(&mut n, 20_000, Input::Peer(env(1, to, prepare(b(5, 1)))));
    assert!(n.acceptor().slot(K).is_none());
    match &sent(&out)[..] {
        [(1, Message::Epoch { membership })] => assert_eq!(membership.epoch, 1),
        s => panic!("{s:?}"),
    }
    // From epoch 3: not handled either; told ours, it answers with its own,
    // which this node adopts.
    let out = step(
        &mut n,
        40_000,
        Input::Peer(env_in(3, 3, 2, prepare(b(6, 3)))),
    );
    assert!(n.acceptor().slot(K).is_none());
    assert_eq!(out.sends.len(), 1);
    let newer = Membership {
        epoch: 3,
        members: vec![3, 4, 5],
        old: None,
        moved: vec![],
        addrs: vec![],
    };
    let msg = Message::Epoch {
        membership: Box::new(newer.clone()),
    };
    step(&mut n, 2_000, Input::Peer(env_in(3, 3, 2, msg)));
    assert_eq!(n.membership(), &newer);
    // Node 2 is no longer a member: it refuses clients, saying why.
    let out = request(&mut n, 9, Command::Get);
    match &out.replies[..] {
        [(9, Outcome::Failed(why))] => assert!(why.contains("removed from the cluster"), "{why}"),
        r => panic!("{r:?}"),
    }
}

/// Node 2 (epoch 1) tells restarted node `to` (incarnation INC + 1) `m`.
fn tell_restarted(n: &mut Node, to: NodeId, m: &Membership) {
    let msg = Message::Epoch {
        membership: Box::new(m.clone()),
    };
    let env = Envelope {
        to_incarnation: INC + 1,
        ..env_in(1, 2, to, msg)
    };
    step(n, 1_000, Input::Peer(env));
}

#[test]
fn a_restarted_node_learns_the_epoch_from_the_peers_it_connects_to() {
    // Node 2 in the joint epoch 1 tells every peer it connects to.
    let n2 = joint_node(2);
    let joint = n2.membership().clone();
    // Node 1 restarts from its configured list (epoch 0): it learns epoch 1
    // from the handshake's Epoch, and catches up before voting.
    let mut n1 = Node::new(classic(Config::new(1, vec![1, 2, 3])), INC + 1, false).unwrap();
    let up = |n: &mut Node, m| {
        step(
            n,
            0,
            Input::PeerUp {
                node: m,
                incarnation: INC,
            },
        )
    };
    let out = up(&mut n1, 2);
    assert!(
        sent(&out)
            .iter()
            .all(|(_, m)| !matches!(m, Message::Epoch { .. })),
        "a node in epoch 0 tells nobody on PeerUp"
    );
    let mut joiner = joint_node(2);
    let out = up(&mut joiner, 5);
    match &sent(&out)[..] {
        [(5, Message::Epoch { membership })] => assert_eq!(membership.epoch, 1),
        s => panic!("{s:?}"),
    }
    tell_restarted(&mut n1, 1, &joint);
    assert_eq!(n1.membership(), &joint);
    assert!(!n1.is_voting());
    // A spare restarted knowing no membership asks for it on PeerUp, and
    // does not vote before it caught up in an epoch that names it.
    let mut cfg = classic(Config::new(4, vec![1, 2, 3]));
    cfg.membership = Some(Membership::default());
    let mut n4 = Node::new(cfg, INC + 1, false).unwrap();
    assert!(!n4.is_voting());
    let out = up(&mut n4, 2);
    match &sent(&out)[..] {
        [(2, Message::Epoch { membership })] => assert!(membership.members.is_empty()),
        s => panic!("{s:?}"),
    }
    tell_restarted(&mut n4, 4, &joint);
    assert_eq!(n4.membership(), &joint);
    assert!(!n4.is_voting());
    assert!(n4.recovery_progress().is_some(), "catches up first");
}

#[test]
fn a_change_is_refused_when_it_would_leave_too_few_members_or_a_set_without_a_quorum() {
    let mut n = node(1);
    let out = step(
        &mut n,
        1_000,
        Input::ChangeMembership {
            id: 1,
            add: vec![],
            remove: vec![3],
            addrs: vec![],
        },
    );
    match &out.replies[..] {
        [(1, Outcome::Failed(why))] => assert!(why.contains("2 members would be left"), "{why}"),
        r => panic!("{r:?}"),
    }
    step(&mut n, 1_000, Input::PeerDown { node: 2 });
    step(&mut n, 1_000, Input::PeerDown { node: 3 });
    step(
        &mut n,
        1_000,
        Input::PeerUp {
            node: 4,
            incarnation: INC,
        },
    );
    let out = step(
        &mut n,
        1_000,
        Input::ChangeMembership {
            id: 2,
            add: vec![4],
            remove: vec![],
            addrs: vec![(4, "127.0.0.1:7104".into())],
        },
    );
    match &out.replies[..] {
        [(2, Outcome::Failed(why))] => assert!(why.contains("unreachable"), "{why}"),
        r => panic!("{r:?}"),
    }
}

// ---- Phase timers (proposer.rs `phase_base_us`) ----

#[test]
fn a_phase_waits_three_round_trips_when_they_are_longer_but_at_most_a_quarter_of_the_budget() {
    let mut n = node_cfg(1, |c| {
        c.phase_timeout_ms = 50;
        c.retry_budget_ms = 2_000;
        c.rtt_initial_us = 100;
    });
    assert_eq!(
        n.phase_base_us(),
        50_000,
        "fast peers: the configured timeout"
    );
    // A starved node answers in about 100 ms: the phase waits three of them.
    for _ in 0..64 {
        n.observe_rtt(100_000);
    }
    let base = n.phase_base_us();
    assert!(
        (290_000..=300_000).contains(&base),
        "3 x smoothed RTT (~100 ms): {base}"
    );
    // Ever slower answers: never more than a quarter of the retry budget.
    for _ in 0..64 {
        n.observe_rtt(10_000_000);
    }
    assert_eq!(n.phase_base_us(), 500_000);
    // Fast again: back to the configured timeout.
    for _ in 0..256 {
        n.observe_rtt(100);
    }
    assert_eq!(n.phase_base_us(), 50_000);
}
