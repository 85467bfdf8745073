//! The shrinker reduces a known failure while it keeps failing the same way.

use synod::core::DeliberateBug;
use synod_sim::shrink::shrink;
use synod_sim::{run, Options, Scenario, Verdict};

#[test]
fn shrinker_reduces_a_minority_quorum_failure() {
    let bug = Some(DeliberateBug::MinorityQuorum);
    let seed = 0;
    let sc = Scenario::swarm_default().resolve(seed);
    let r = run(&Options {
        seed,
        scenario: sc.clone(),
        bug,
        trace: false,
        timeline: false,
    })
    .unwrap();
    assert!(matches!(r.verdict, Verdict::Safety(_)), "{}", r.verdict);
    let min = shrink(seed, &sc, bug, &r.verdict, 200);
    assert!(matches!(min.verdict, Verdict::Safety(_)));
    assert!(
        min.scenario.ops < sc.ops / 4,
        "ops {} -> {}",
        sc.ops,
        min.scenario.ops
    );
    assert!(min.scenario.clients <= sc.clients);
    assert!(!min.timeline.is_empty());
    // The printed scenario replays the minimal failure.
    let again = Scenario::from_toml(&min.scenario.to_toml()).unwrap();
    let replay = run(&Options {
        seed,
        scenario: again,
        bug,
        trace: false,
        timeline: false,
    })
    .unwrap();
    assert_eq!(replay.verdict, min.verdict);
}

#[test]
fn shrinker_drops_faults_a_failure_does_not_need() {
    // ignore-accepted-value fails without any fault: the shrinker should turn
    // every fault off.
    let bug = Some(DeliberateBug::IgnoreAcceptedValue);
    let seed = 2;
    let mut sc = Scenario::default();
    sc.net.drop_p = 0.05;
    sc.net.dup_p = 0.05;
    sc.faults.partition_every_ms = 50;
    let r = run(&Options {
        seed,
        scenario: sc.clone(),
        bug,
        trace: false,
        timeline: false,
    })
    .unwrap();
    assert!(!r.verdict.passed());
    let min = shrink(seed, &sc, bug, &r.verdict, 200);
    assert_eq!(min.scenario.net.drop_p, 0.0);
    assert_eq!(min.scenario.net.dup_p, 0.0);
    assert_eq!(min.scenario.faults.partition_every_ms, 0);
    assert!(min.scenario.ops <= 10, "ops {}", min.scenario.ops);
}
