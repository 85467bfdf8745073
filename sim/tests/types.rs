//! The data types and bit commands in the workload (issue 18): the checker's
//! model of each type catches a change applied twice (the retry twin) when
//! only typed commands run, and a history carries them. (The correct build
//! passing data-types.toml is in correct.rs, with every scenario file.)

mod common;

use synod::core::DeliberateBug;
use synod_sim::explore::first_failure;
use synod_sim::history::from_jsonl;
use synod_sim::{run, Options, Verdict};

#[test]
fn a_retry_that_reapplies_a_typed_change_is_caught() {
    let mut sc = common::scenario("data-types");
    // Only typed commands: the catch is the types' model's.
    sc.mix.read = 0;
    sc.mix.write = 0;
    sc.mix.delete = 0;
    let found = first_failure(&sc, Some(DeliberateBug::RetryReappliesChange), 0..30);
    let f = found.expect("the retry twin is caught within 30 seeds");
    assert!(matches!(f.verdict, Verdict::Safety(_)), "{}", f.verdict);
}

#[test]
fn a_typed_history_carries_its_commands_and_wrongtype_answers() {
    let sc = common::scenario("data-types");
    let r = run(&Options {
        seed: 1,
        scenario: sc,
        bug: None,
        trace: false,
        timeline: false,
    })
    .unwrap();
    assert!(r.verdict.passed(), "{}", r.verdict);
    let text = r.history_jsonl();
    for f in [
        "\"f\":\"hset\"",
        "\"f\":\"sadd\"",
        "\"f\":\"zincrby\"",
        "\"f\":\"rpush\"",
        "\"f\":\"setbit\"",
    ] {
        assert!(text.contains(f), "no {f} in the history");
    }
    assert!(text.contains("\"error\":\"wrongtype\""));
    // The file alone parses back (what `synod-sim check` reads).
    let (events, _, _) = from_jsonl(&text).unwrap();
    assert_eq!(events.len(), text.lines().count());
}
