//! Liveness is checked after the heal: every operation ends and every key
//! answers a read. Losing more than F replicas of a replica set (two of three,
//! neither of which can vote again before catch-up exists) must show up as a
//! liveness failure that names the key and the coordinator, never as a pass.

use synod_sim::{run, Options, Scenario, Verdict};

#[test]
fn losing_two_of_three_replicas_is_a_liveness_failure_naming_key_and_node() {
    let sc = Scenario::from_toml(
        r#"
        name = "two-of-three-crash"
        max_failed_per_set = 2
        [[schedule]]
        at_ms = 50
        action = "crash"
        node = 1
        [[schedule]]
        at_ms = 60
        action = "crash"
        node = 2
        "#,
    )
    .unwrap();
    let r = run(&Options {
        seed: 1,
        scenario: sc,
        bug: None,
        trace: false,
        timeline: false,
    })
    .unwrap();
    let Verdict::Liveness(why) = &r.verdict else {
        panic!("expected a liveness failure, got {}", r.verdict);
    };
    assert!(why.contains("key k0") && why.contains("via node"), "{why}");
    assert_eq!(r.stats.crashes, 2);
}

#[test]
fn one_crash_of_three_keeps_every_key_available() {
    let sc = Scenario::from_toml(
        r#"
        [[schedule]]
        at_ms = 50
        action = "crash"
        node = 1
        [[schedule]]
        at_ms = 60
        action = "crash"
        node = 2
        "#,
    )
    .unwrap();
    // The second crash would exceed F = 1 and is skipped.
    let r = run(&Options {
        seed: 1,
        scenario: sc,
        bug: None,
        trace: false,
        timeline: true,
    })
    .unwrap();
    assert!(r.verdict.passed(), "{}", r.verdict);
    assert_eq!(r.stats.crashes, 1);
    assert!(r.timeline.contains("would exceed F"), "skip not reported");
}
