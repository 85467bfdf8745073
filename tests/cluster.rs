//! Real node processes on loopback: replication, failure, concurrency.

mod common;

use common::{eventually, Cluster};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;

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

/// A restarted node has forgotten its promises: it must not count itself.
/// With one other replica down too, no quorum exists, so a write through it
/// must fail rather than be acknowledged on the strength of its own vote.
#[test]
fn a_restarted_node_coordinates_but_never_votes() {
    let mut c = Cluster::start(3, 3);
    c.client(1).set(b"k", b"before").unwrap();
    c.restart(3);
    let info = c.client(3).info(None).unwrap();
    assert!(info.contains("role:recovering"), "{info}");
    // It coordinates through the two voters (after it has reconnected to them).
    eventually(10, || c.client(3).set(b"k", b"via-3").ok());
    assert_eq!(c.client(3).get(b"k").unwrap(), Some(b"via-3".to_vec()));
    // With node 1 gone, only node 2 votes: no quorum of {1, 2, 3}.
    c.kill(1);
    let err = c.client(3).set(b"k", b"must-not-stick").unwrap_err();
    assert!(err.is_failed() || err.is_unknown(), "{err}");
    let err = c.client(2).get(b"k").unwrap_err();
    assert!(err.is_failed(), "{err}");
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
