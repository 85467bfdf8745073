//! The `synod-sim` binary: exit codes, history export, replay commands.

use std::process::Command;

fn sim(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_synod-sim"))
        .args(args)
        .output()
        .expect("run synod-sim");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn run_exits_0_on_pass_1_on_failure_2_on_bad_usage() {
    let (code, out) = sim(&["run", "--seed", "1"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("PASS"), "{out}");
    let (code, out) = sim(&["run", "--seed", "0", "--bug", "minority-quorum"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("SAFETY FAILURE"), "{out}");
    let (code, out) = sim(&["run", "--seed", "0", "--bug", "no-such-bug"]);
    assert_eq!(code, 2, "{out}");
    let (code, _) = sim(&["run"]);
    assert_eq!(code, 2);
    let (code, _) = sim(&["run", "--seed", "1", "--scenario", "/nonexistent.toml"]);
    assert_eq!(code, 2);
}

#[test]
fn history_is_written_in_the_shared_jsonl_shape_and_checks() {
    let dir = std::env::temp_dir().join(format!("synod-sim-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let h = dir.join("h.jsonl");
    let t = dir.join("t.jsonl");
    let (code, out) = sim(&[
        "run",
        "--seed",
        "3",
        "--history",
        h.to_str().unwrap(),
        "--trace",
        t.to_str().unwrap(),
        "--check-determinism",
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("deterministic"), "{out}");
    let text = std::fs::read_to_string(&h).unwrap();
    let first = text.lines().next().unwrap();
    assert!(
        first.starts_with("{\"process\":") && first.contains("\"type\":\"invoke\""),
        "{first}"
    );
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        for field in ["process", "type", "f", "key", "value", "time"] {
            assert!(v.get(field).is_some(), "{field} missing in {line}");
        }
    }
    let trace = std::fs::read_to_string(&t).unwrap();
    assert!(trace.lines().count() > 100);
    let (code, out) = sim(&["check", h.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("linearizable"), "{out}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn explore_prints_the_replay_command_of_each_failure() {
    let (code, out) = sim(&[
        "explore",
        "--seeds",
        "0..20",
        "--bug",
        "ignore-accepted-value",
        "--quiet",
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("replay: synod-sim run --seed 0 --bug ignore-accepted-value"),
        "{out}"
    );
    assert!(
        out.contains("seeds/s") && out.contains("delivered messages/s"),
        "{out}"
    );
    let (code, out) = sim(&["explore", "--seeds", "0..20", "--jobs", "2", "--quiet"]);
    assert_eq!(code, 0, "{out}");
    let (code, _) = sim(&["explore", "--seeds", "5..1"]);
    assert_eq!(code, 2);
}

#[test]
fn timeline_shows_one_line_per_message_with_send_and_delivery_order() {
    let (code, out) = sim(&["run", "--seed", "1", "--timeline"]);
    assert_eq!(code, 0);
    assert!(
        out.starts_with("# timeline in DELIVERY order") && out.contains("in SEND order"),
        "the timeline does not say its order: {out}"
    );
    assert!(out.contains("Accept"), "no Accept lines");
    // Each message line: delivery time, #N (send order), send time.
    let ms = |s: &str| s.trim_end_matches("ms").parse::<f64>().unwrap();
    let mut lines = 0;
    let (mut last_t, mut inversions) = (0.0, 0);
    let mut numbers = std::collections::BTreeSet::new();
    for l in out.lines().filter(|l| l.contains(" → n")) {
        let f: Vec<&str> = l.split_whitespace().collect();
        let (t, n, sent) = (ms(f[0]), f[1], ms(f[2]));
        let n: u64 = n.strip_prefix('#').expect(l).parse().expect(l);
        assert!(sent <= t, "sent after it was delivered: {l}");
        assert!(t >= last_t, "lines not in delivery order: {l}");
        if numbers.range(n + 1..).next().is_some() {
            inversions += 1; // delivered after a message sent later
        }
        numbers.insert(n);
        last_t = t;
        lines += 1;
    }
    assert!(lines > 100, "{lines} message lines");
    assert!(
        inversions > 0,
        "send order never differs from delivery order: the #N column shows nothing"
    );
}

#[test]
fn shrink_prints_a_minimal_scenario_and_its_timeline() {
    let (code, out) = sim(&["run", "--seed", "0", "--bug", "minority-quorum", "--shrink"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("# minimal scenario"), "{out}");
    assert!(out.contains("# timeline of the minimal run"), "{out}");
}

#[test]
fn explore_quiet_says_how_many_failures_it_did_not_list() {
    let (code, out) = sim(&[
        "explore",
        "--seeds",
        "0..40",
        "--bug",
        "ignore-accepted-value",
        "--max-failures",
        "5",
        "--quiet",
    ]);
    assert_eq!(code, 1, "{out}");
    let listed = out.lines().filter(|l| l.starts_with("seed ")).count();
    assert_eq!(listed, 3, "{out}");
    assert!(
        out.contains("... and 2 more failure(s) not listed: seed(s) "),
        "{out}"
    );
}

#[test]
fn bugs_lists_each_bug_with_its_rule_and_its_page() {
    let (code, out) = sim(&["bugs"]);
    assert_eq!(code, 0, "{out}");
    for b in synod::core::DeliberateBug::ALL {
        let name = b.name();
        let at = out
            .find(&format!("{name}\n"))
            .unwrap_or_else(|| panic!("{name}: {out}"));
        let entry: Vec<&str> = out[at..].lines().take(3).collect();
        assert!(
            entry[1].starts_with("  breaks: ") && entry[1].len() > 20,
            "{entry:?}"
        );
        assert_eq!(entry[2], format!("  page:   docs/exercises/{name}.md"));
    }
}

#[test]
fn check_refuses_an_empty_history() {
    let (code, out) = sim(&["check", "/dev/null"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("no operations in this history"), "{out}");
}

#[test]
fn shrink_out_writes_a_minimal_scenario_that_replays_the_failure() {
    let dir = std::env::temp_dir().join(format!("synod-sim-shrink-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let min = dir.join("min.toml");
    let (code, out) = sim(&[
        "run",
        "--seed",
        "0",
        "--bug",
        "minority-quorum",
        "--shrink",
        "--out",
        min.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{out}");
    let text = std::fs::read_to_string(&min).unwrap();
    assert!(text.starts_with("# Minimal case of seed 0"), "{text}");
    let m = min.to_str().unwrap();
    let (code, out) = sim(&[
        "run",
        "--seed",
        "0",
        "--scenario",
        m,
        "--bug",
        "minority-quorum",
    ]);
    assert_eq!(code, 1, "the minimal case no longer fails: {out}");
    let (code, out) = sim(&["run", "--seed", "0", "--scenario", m]);
    assert_eq!(code, 0, "the minimal case fails without the bug: {out}");
    let (code, _) = sim(&["run", "--seed", "0", "--out", m]);
    assert_eq!(code, 2, "--out without --shrink is bad usage");
    std::fs::remove_dir_all(&dir).ok();
}
