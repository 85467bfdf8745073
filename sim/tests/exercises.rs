//! Every exercise's committed example (docs/exercises/<bug>.min.toml) is a
//! real counterexample of its rule: it fails under the bug at its seed and
//! passes without it, and it uses no feature the rule is not about (no
//! eviction or TTL unless the rule is about them). `synod-sim exercises
//! --search` (scripts/figures.sh) picks the simplest such run over every
//! scenario; this test keeps the committed ones honest as the code changes.

use synod::core::DeliberateBug;
use synod_sim::exercises::{about_eviction, about_ttl, seed_of};
use synod_sim::{world, Options, Scenario};

fn dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/exercises")
}

#[test]
fn every_exercise_example_fails_under_its_bug_and_passes_without_it() {
    let mut checked = 0;
    for bug in DeliberateBug::ALL {
        let name = bug.name();
        let path = dir().join(format!("{name}.min.toml"));
        let Ok(text) = std::fs::read_to_string(&path) else {
            // A bug added since the pages were generated: scripts/figures.sh
            // writes its page and example.
            eprintln!(
                "{name}: no example yet ({}): run scripts/figures.sh",
                path.display()
            );
            continue;
        };
        let seed = seed_of(&text).unwrap_or_else(|| panic!("{name}: no '# seed: N' line"));
        let sc = Scenario::from_toml(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        let run = |bug| {
            world::run(&Options {
                seed,
                scenario: sc.clone(),
                bug,
                trace: false,
                timeline: false,
            })
            .unwrap_or_else(|e| panic!("{name}: {e}"))
        };
        let bad = run(Some(bug));
        assert!(
            !bad.verdict.passed(),
            "{name}: its example no longer fails under the bug (seed {seed}); regenerate with scripts/figures.sh"
        );
        let good = run(None);
        assert!(
            good.verdict.passed(),
            "{name}: its example fails without the bug too: {}",
            good.verdict
        );
        assert!(
            sc.node.memory_max_bytes == 0 || about_eviction(bug),
            "{name}: its example evicts, but the rule is not about eviction"
        );
        assert!(
            sc.mix.ttl_write == 0 || about_ttl(bug),
            "{name}: its example writes with TTLs, but the rule is not about expiry"
        );
        checked += 1;
    }
    assert!(
        checked >= 14,
        "only {checked} examples found in {}",
        dir().display()
    );
}
