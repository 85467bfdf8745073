//! Issue 14, live: an INCR loop through a healthy node while another node is
//! killed and restarted never ends UNKNOWN, and the counter equals the
//! successes. Before lineages, the restarted node's catch-up ran an identity
//! round on the key; an INCR whose Accept it overtook ended UNKNOWN although
//! it had been applied (the repair had carried it), and a client that
//! retried it counted twice. `scripts/incr-restart.sh` runs the 30 s version.

mod common;

use common::{eventually, Cluster};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

#[test]
fn incr_through_a_healthy_node_while_another_restarts_is_never_unknown() {
    let mut c = Cluster::start(3, 3);
    let stop = Arc::new(AtomicBool::new(false));
    let mut client = c.client(1);
    let flag = stop.clone();
    let looper = thread::spawn(move || {
        let (mut ok, mut failed, mut unknown) = (0u64, 0u64, 0u64);
        while !flag.load(Ordering::Relaxed) {
            match client.incr_by(b"counter", 1) {
                Ok(_) => ok += 1,
                Err(e) if e.is_unknown() => unknown += 1,
                Err(e) if e.is_failed() => failed += 1,
                Err(e) => panic!("INCR: {e}"),
            }
        }
        (ok, failed, unknown)
    });
    for _ in 0..2 {
        thread::sleep(Duration::from_millis(300));
        c.kill(3);
        thread::sleep(Duration::from_millis(300));
        c.restart(3);
        eventually(30, || {
            let info = c.client(3).info(Some("server")).ok()?;
            info.contains("role:voter").then_some(())
        });
    }
    thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    let (ok, failed, unknown) = looper.join().expect("loop");
    assert_eq!(unknown, 0, "{ok} ok, {failed} failed, {unknown} UNKNOWN");
    assert!(ok > 0, "no INCR succeeded");
    let counter = c.client(2).get(b"counter").unwrap().expect("counter");
    assert_eq!(
        String::from_utf8_lossy(&counter),
        ok.to_string(),
        "{failed} failed"
    );
}
