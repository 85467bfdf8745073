//! Same seed, same run, byte for byte; and a failing seed replays identically.

mod common;

use synod::core::DeliberateBug;
use synod_sim::{run, Options, Scenario};

fn traced(seed: u64, scenario: Scenario, bug: Option<DeliberateBug>) -> (Vec<u8>, String, String) {
    let r = run(&Options {
        seed,
        scenario,
        bug,
        trace: true,
        timeline: true,
    })
    .unwrap();
    let h = r.history_jsonl();
    (r.trace, h, r.timeline)
}

#[test]
fn same_seed_gives_identical_trace_bytes() {
    for seed in [0, 7, 42, 1234] {
        let a = traced(seed, Scenario::swarm_default(), None);
        let b = traced(seed, Scenario::swarm_default(), None);
        assert!(!a.0.is_empty());
        assert!(a == b, "seed {seed} is not deterministic");
    }
}

#[test]
fn scenarios_with_crashes_and_partitions_are_deterministic() {
    for name in ["crash-mid-accept", "partition-heal"] {
        let a = traced(3, common::scenario(name), None);
        let b = traced(3, common::scenario(name), None);
        assert!(a == b, "{name} is not deterministic");
    }
}

#[test]
fn a_failing_seed_replays_identically() {
    let a = traced(
        0,
        Scenario::swarm_default(),
        Some(DeliberateBug::MinorityQuorum),
    );
    let b = traced(
        0,
        Scenario::swarm_default(),
        Some(DeliberateBug::MinorityQuorum),
    );
    assert!(a.2.contains("verdict: SAFETY FAILURE"), "{}", a.2);
    assert!(a == b);
}

#[test]
fn different_seeds_give_different_runs() {
    let a = traced(1, Scenario::swarm_default(), None);
    let b = traced(2, Scenario::swarm_default(), None);
    assert_ne!(a.0, b.0);
}
