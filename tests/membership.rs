//! Membership change on real processes (issue 19's walk, scaled down):
//! three nodes, keys written, node 4 added, node 1 removed, node 2 killed;
//! every key is then readable and writable through nodes 3 and 4.
//! No timing asserts: each step waits for its condition with a generous
//! deadline.

mod common;

use common::{eventually, Cluster};
use synod::client::{Client, ClientError};
use synod::resp::Reply;

const KEYS: usize = 2_000;

/// One INFO cluster field of `c`'s node.
fn field(c: &mut Client, name: &str) -> Option<String> {
    let info = c.info(Some("cluster")).ok()?;
    info.lines().find_map(|l| {
        l.trim()
            .strip_prefix(&format!("{name}:"))
            .map(str::to_string)
    })
}

/// Waits until the node behind `c` is in a final epoch of at least `epoch`.
fn wait_final(c: &mut Client, epoch: i64) {
    eventually(120, || {
        let e: i64 = field(c, "membership_epoch")?.parse().ok()?;
        let state = field(c, "membership_state")?;
        (e >= epoch && state == "stable").then_some(())
    });
}

/// Starts a change through `c`: the joint epoch's number.
fn change(c: &mut Client, args: &[&[u8]]) -> i64 {
    let mut cmd: Vec<&[u8]> = vec![b"ADMIN"];
    cmd.extend_from_slice(args);
    eventually(60, || match c.command(&cmd) {
        Ok(Reply::Integer(e)) => Some(e),
        Ok(r) => panic!("unexpected answer {r:?}"),
        // Refused while the links come up: asked again.
        Err(ClientError::Server(why)) if why.contains("unreachable") => None,
        Err(e) => panic!("change refused: {e}"),
    })
}

/// Retries an operation a few times: a round in flight when an epoch
/// changes may end FAILED or UNKNOWN (then it is retried, as a client would).
fn retry<T>(mut f: impl FnMut() -> Result<T, ClientError>) -> T {
    let mut last = None;
    for _ in 0..20 {
        match f() {
            Ok(t) => return t,
            Err(e) => last = Some(e),
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("still failing after 20 tries: {last:?}");
}

#[test]
fn add_remove_then_lose_a_node_keeps_every_key() {
    let mut c = Cluster::start(3, 3);
    let key = |i: usize| format!("key:{i}").into_bytes();
    let val = |i: usize, gen: u32| format!("value-{gen}-{i}").into_bytes();
    {
        let mut clients: Vec<Client> = (1..=3).map(|n| c.client(n)).collect();
        for i in 0..KEYS {
            let cl = &mut clients[i % 3];
            retry(|| cl.set(&key(i), &val(i, 1)));
        }
    }

    // Node 4 joins: started empty with --join, added through node 3.
    let four = c.spawn_joiner();
    assert_eq!(four, 4);
    let mut via3 = c.client(3);
    let peer4 = c.peer_addr(4).to_string();
    let e = change(&mut via3, &[b"ADD-NODE", b"4", peer4.as_bytes()]);
    wait_final(&mut via3, e + 1);
    let mut via4 = c.client(4);
    wait_final(&mut via4, e + 1);
    assert_eq!(field(&mut via3, "members").as_deref(), Some("1,2,3,4"));

    // Node 1 leaves, then refuses clients with the core's error.
    let e = change(&mut via3, &[b"REMOVE-NODE", b"1"]);
    wait_final(&mut via3, e + 1);
    wait_final(&mut via4, e + 1);
    assert_eq!(field(&mut via3, "members").as_deref(), Some("2,3,4"));
    let refused = eventually(30, || match c.client(1).get(&key(0)) {
        Err(ClientError::Server(why)) if why.contains("removed from the cluster") => Some(why),
        _ => None,
    });
    assert!(refused.contains("connect to a member"), "{refused}");
    c.kill(1);

    // Node 2 dies: nodes 3 and 4 are a quorum of every replica set.
    c.kill(2);
    let mut clients = [c.client(3), c.client(4)];
    for i in 0..KEYS {
        let cl = &mut clients[i % 2];
        let got = retry(|| cl.get(&key(i)));
        assert_eq!(got, Some(val(i, 1)), "key {i} through node {}", 3 + i % 2);
    }
    for i in 0..KEYS {
        let cl = &mut clients[(i + 1) % 2];
        retry(|| cl.set(&key(i), &val(i, 2)));
    }
    for i in (0..KEYS).step_by(7) {
        let cl = &mut clients[i % 2];
        assert_eq!(retry(|| cl.get(&key(i))), Some(val(i, 2)), "key {i}");
    }
}
