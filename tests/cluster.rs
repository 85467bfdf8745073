//! Real node processes on loopback: replication, failure, concurrency.

mod common;

use common::{eventually, Cluster};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;
use synod::client::Client;

#[test]
fn a_value_set_on_one_node_is_read_from_every_other() {
    let c = Cluster::start(3, 3);
    c.client(1).set(b"greeting", b"hello").unwrap();
    for id in 1..=3 {
        assert_eq!(
            c.client(id).get(b"greeting").unwrap(),
            Some(b"hello".to_vec()),
            "node {id}"
        );
    }
    assert_eq!(c.client(2).del(&[b"greeting", b"never-set"]).unwrap(), 1);
    for id in 1..=3 {
        assert_eq!(
            c.client(id).get(b"greeting").unwrap(),
            None,
            "node {id} after DEL"
        );
    }
}

#[test]
fn with_one_of_three_killed_every_key_stays_readable_and_writable() {
    let mut c = Cluster::start(3, 3);
    for i in 0..50 {
        c.client(1)
            .set(format!("k{i}").as_bytes(), format!("v{i}").as_bytes())
            .unwrap();
    }
    c.kill(3);
    for i in 0..50 {
        let key = format!("k{i}");
        let mut client = c.client(1 + (i % 2));
        assert_eq!(
            client.get(key.as_bytes()).unwrap(),
            Some(format!("v{i}").into_bytes()),
            "{key}"
        );
        client.set(key.as_bytes(), b"after-kill").unwrap();
    }
    for i in 0..50 {
        let got = c.client(2).get(format!("k{i}").as_bytes()).unwrap();
        assert_eq!(got, Some(b"after-kill".to_vec()));
    }
}

/// Four clients increment one counter by CAS through three different nodes.
/// No update may be lost (the counter is at least the number of successful
/// CASes) and none applied twice (at most that plus the UNKNOWN outcomes).
#[test]
fn concurrent_cas_increments_lose_no_update_and_apply_none_twice() {
    let c = Cluster::start(3, 3);
    c.client(1).set(b"counter", b"0").unwrap();
    let ok = Arc::new(AtomicU64::new(0));
    let unknown = Arc::new(AtomicU64::new(0));
    let handles: Vec<_> = (0..4u32)
        .map(|i| {
            let addr = c.addr(1 + i % 3);
            let (ok, unknown) = (ok.clone(), unknown.clone());
            thread::spawn(move || {
                let mut client = synod::client::Client::connect(addr).unwrap();
                let mut done = 0;
                while done < 100 {
                    let current = match client.get(b"counter") {
                        Ok(v) => v.unwrap(),
                        Err(e) if e.is_failed() => continue,
                        Err(e) => panic!("get: {e}"),
                    };
                    let n: u64 = String::from_utf8(current.clone()).unwrap().parse().unwrap();
                    let next = (n + 1).to_string();
                    match client.cas(b"counter", Some(&current), next.as_bytes()) {
                        Ok(true) => {
                            ok.fetch_add(1, Ordering::SeqCst);
                            done += 1;
                        }
                        Ok(false) => {}
                        Err(e) if e.is_unknown() => {
                            unknown.fetch_add(1, Ordering::SeqCst);
                            done += 1;
                        }
                        Err(e) if e.is_failed() => {}
                        Err(e) => panic!("cas: {e}"),
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let (ok, unknown) = (ok.load(Ordering::SeqCst), unknown.load(Ordering::SeqCst));
    let value = c.client(2).get(b"counter").unwrap().unwrap();
    let counter: u64 = String::from_utf8(value).unwrap().parse().unwrap();
    assert!(
        ok <= counter && counter <= ok + unknown,
        "counter {counter}, successful CASes {ok}, unknown {unknown}"
    );
    assert_eq!(ok + unknown, 400);
}

fn role(c: &Cluster, id: u32) -> String {
    let info = c.client(id).info(Some("server")).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("role:"))
        .unwrap_or("?")
        .trim()
        .to_string()
}

/// kill -9 of a node loses no acknowledged write: the restarted node catches
/// up from the others, votes again, and then the cluster survives losing a
/// different node with every value intact.
#[test]
fn a_restarted_node_catches_up_votes_again_and_no_acknowledged_write_is_lost() {
    let mut c = Cluster::start(3, 3);
    for i in 0..200 {
        c.client(1).set(format!("k{i}").as_bytes(), b"v1").unwrap();
    }
    c.kill(3);
    for i in 0..100 {
        c.client(2).set(format!("k{i}").as_bytes(), b"v2").unwrap();
    }
    c.restart(3);
    eventually(20, || (role(&c, 3) == "voter").then_some(()));
    // Node 1 goes: every key now needs node 3's vote, and its memory is new.
    c.kill(1);
    for i in 0..200 {
        let want: &[u8] = if i < 100 { b"v2" } else { b"v1" };
        let key = format!("k{i}");
        assert_eq!(
            c.client(3).get(key.as_bytes()).unwrap().as_deref(),
            Some(want),
            "{key}"
        );
    }
    c.client(3).set(b"k0", b"v3").unwrap();
    assert_eq!(c.client(2).get(b"k0").unwrap(), Some(b"v3".to_vec()));
}

/// Two of three replicas restarted: more than F lost their memory, so they
/// cannot catch up from each other and stay out (safe, unavailable) until an
/// operator declares the lost memory lost.
///
/// Flaky once under load (CI, two busy loops on 2 cores): node 2 was
/// restarted while node 3's old life still listed, and a fixed 1.5 s sleep
/// stood for "they had time to catch up"; single requests with 5 s client
/// timeouts and 10 s retry windows could run out on a slow box. Now both go
/// down before either starts, the test waits on state (links up, node 1's
/// listing heard), and every request that may end UNKNOWN or slow is retried
/// within a generous deadline; the one request that must not succeed waits
/// for the server's answer however slow it is.
#[test]
fn more_than_f_restarted_stay_unavailable_until_declare_lost() {
    let mut c = Cluster::start(3, 3);
    eventually(60, || c.client(1).set(b"k", b"before").ok());
    // Both down before either comes back: restarted one after the other, the
    // first could (rightly) catch up from the second's old memory.
    c.kill(2);
    c.kill(3);
    c.restart(2);
    c.restart(3);
    // Each restarted node is linked to both others and has heard node 1's
    // listing (the key): all it can learn. The other restarted node lists
    // nothing while recovering, and the key's repair round finds no quorum of
    // voters, so neither may vote.
    for id in [2, 3] {
        eventually(60, || {
            let info = c.client(id).info(None).ok()?;
            (info.lines().any(|l| l.trim() == "peers_up:2") && keys_listed(&info) >= 1)
                .then_some(())
        });
        assert_eq!(role(&c, id), "recovering", "node {id}");
    }
    // The one voter cannot choose: FAILED or UNKNOWN, never OK. A patient
    // client, so that a slow answer is still the server's answer.
    let patient = |id| Client::connect_timeout(c.addr(id), Duration::from_secs(60)).unwrap();
    let err = patient(1).set(b"k", b"during").unwrap_err();
    assert!(err.is_failed() || err.is_unknown(), "{err}");
    let reply = patient(2).command(&[b"ADMIN", b"DECLARE-LOST"]).unwrap();
    assert_eq!(reply, synod::resp::Reply::Simple("OK".into()));
    assert_eq!(role(&c, 2), "voter");
    // Node 1 remembered "before" (or "during", if that Accept landed on it).
    // Under a loaded machine one attempt may end UNKNOWN; retry.
    let got = eventually(60, || c.client(2).get(b"k").ok()).unwrap();
    assert!(got == b"before" || got == b"during", "{got:?}");
    eventually(60, || c.client(2).set(b"k", b"after").ok());
    let got = eventually(60, || c.client(1).get(b"k").ok());
    assert_eq!(got, Some(b"after".to_vec()));
}

/// The keys a recovering node has heard listed so far (INFO `recovery:`
/// "R/L keys repaired ..."); 0 once it votes or before it heard any.
fn keys_listed(info: &str) -> u64 {
    info.lines()
        .find_map(|l| l.trim().strip_prefix("recovery:"))
        .and_then(|r| r.split_once('/'))
        .and_then(|(_, rest)| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[test]
fn five_nodes_three_replicas_serve_every_key_from_every_node() {
    let mut c = Cluster::start(5, 3);
    for i in 0..40 {
        c.client(1 + i % 5)
            .set(format!("key{i}").as_bytes(), b"x")
            .unwrap();
    }
    c.kill(4);
    for i in 0..40 {
        let id = [1, 2, 3, 5][i % 4];
        assert_eq!(
            c.client(id).get(format!("key{i}").as_bytes()).unwrap(),
            Some(b"x".to_vec())
        );
    }
}

/// The routed client fails over: with a key's home killed, its reads and
/// writes go to the key's next replica (in the order every routed client
/// uses), without an error, and the answers are those of the cluster.
#[test]
fn a_routed_client_fails_over_to_the_next_replica_when_the_home_is_down() {
    let mut c = Cluster::start(3, 3);
    let addrs: Vec<String> = (1..=3).map(|id| c.addr(id).to_string()).collect();
    let mut routed = synod::client::Cluster::connect(&addrs).unwrap();
    let placement = synod::core::Placement::new(&[1, 2, 3], 3);
    // Keys whose home is node 1, each written through it.
    let keys: Vec<String> = (0..500)
        .map(|i| format!("fo{i}"))
        .filter(|k| placement.replicas_of(k.as_bytes())[0] == 1)
        .take(12)
        .collect();
    assert_eq!(keys.len(), 12);
    for k in &keys {
        routed.set(k.as_bytes(), b"before").unwrap();
    }
    c.kill(1);
    // The next replica of each key, and its request count before.
    let next = |k: &String| placement.replicas_of(k.as_bytes())[1];
    let before: Vec<u64> = (1..=3)
        .map(|id| if id == 1 { 0 } else { stat(&c, id, "requests") })
        .collect();
    for k in &keys {
        assert_eq!(
            routed.get(k.as_bytes()).unwrap(),
            Some(b"before".to_vec()),
            "{k}"
        );
        routed.set(k.as_bytes(), b"after").unwrap();
        assert!(routed.del(k.as_bytes()).unwrap(), "{k}");
        routed.set(k.as_bytes(), b"last").unwrap();
    }
    for id in 2..=3u32 {
        // Each key's GET, SET, DEL and SET ran at its next replica (INFO
        // counts a key's operations where they ran; a GET is a request too).
        let want = 4 * keys.iter().filter(|k| next(k) == id).count() as u64;
        let got = stat(&c, id, "requests") - before[id as usize - 1];
        assert!(
            got >= want,
            "node {id}: {got} requests, want at least {want}"
        );
    }
    for k in &keys {
        assert_eq!(
            c.client(2).get(k.as_bytes()).unwrap(),
            Some(b"last".to_vec()),
            "{k}"
        );
    }
}

/// One INFO counter of node `id`.
fn stat(c: &Cluster, id: u32, name: &str) -> u64 {
    let info = c.client(id).info(Some("stats")).unwrap();
    info.lines()
        .find_map(|l| l.trim_end().strip_prefix(&format!("{name}:")))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("node {id}: no {name} in INFO"))
}

/// A routed client (synod::client::Cluster) sends each key to its home node,
/// the key's first replica: reads and writes work through it, every write to
/// one key goes through that node alone, and all but the first take the
/// one-round-trip path (INFO fast_writes grows there and nowhere else).
#[test]
fn a_routed_client_sends_every_write_of_a_key_to_its_home_replica() {
    let c = Cluster::start(5, 3);
    // Out of id order: the client maps addresses to ids through INFO.
    let order = [3, 1, 5, 2, 4];
    let addrs: Vec<String> = order.iter().map(|&id| c.addr(id).to_string()).collect();
    let mut routed = synod::client::Cluster::connect(&addrs).unwrap();
    let placement = synod::core::Placement::new(&[1, 2, 3, 4, 5], 3);
    for i in 0..30 {
        let key = format!("key{i}");
        let home = routed.routes().home(key.as_bytes());
        assert_eq!(
            routed.routes().node_id(home),
            placement.replicas_of(key.as_bytes())[0]
        );
        routed
            .set(key.as_bytes(), format!("v{i}").as_bytes())
            .unwrap();
    }
    for i in 0..30 {
        let key = format!("key{i}");
        let want = Some(format!("v{i}").into_bytes());
        assert_eq!(routed.get(key.as_bytes()).unwrap(), want);
        // Routing is an optimisation: any node still serves any key.
        assert_eq!(c.client(1 + i % 5).get(key.as_bytes()).unwrap(), want);
    }

    let key = b"key7";
    let home = routed.routes().node_id(routed.routes().home(key));
    let before: Vec<(u64, u64)> = (1..=5)
        .map(|id| (stat(&c, id, "requests"), stat(&c, id, "fast_writes")))
        .collect();
    const WRITES: u64 = 10;
    for n in 0..WRITES {
        routed.set(key, format!("again{n}").as_bytes()).unwrap();
    }
    for id in 1..=5u32 {
        let (requests0, fast0) = before[id as usize - 1];
        let (requests, fast) = (stat(&c, id, "requests"), stat(&c, id, "fast_writes"));
        if id == home {
            assert_eq!(requests - requests0, WRITES, "home node {id}");
            // The key was written here before, so its phase 1 is cached;
            // allow one write to have fallen back to two phases.
            assert!(
                fast - fast0 >= WRITES - 1,
                "node {id}: {} fast writes",
                fast - fast0
            );
        } else {
            assert_eq!(
                (requests, fast),
                (requests0, fast0),
                "node {id} is not home"
            );
        }
    }
    assert_eq!(routed.get(key).unwrap(), Some(b"again9".to_vec()));
}
