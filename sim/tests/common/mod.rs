//! Helpers shared by the simulator's integration tests.
#![allow(dead_code)]

use std::path::PathBuf;
use synod_sim::{run, Options, RunResult, Scenario};

/// A scenario file of `sim/scenarios/`.
pub fn scenario(name: &str) -> Scenario {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(format!("{name}.toml"));
    let text = std::fs::read_to_string(&path).expect("scenario file");
    Scenario::from_toml(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every scenario file's name.
pub fn scenario_names() -> Vec<String> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("scenarios dir")
        .filter_map(|e| {
            let p = e.ok()?.path();
            let stem = p.file_stem()?.to_string_lossy().into_owned();
            (p.extension()? == "toml").then_some(stem)
        })
        .collect();
    names.sort();
    names
}

/// Runs `seed` of scenario `sc` (named `name` in messages) on the correct
/// build and requires the run to pass its checks.
pub fn run_passing(name: &str, sc: &Scenario, seed: u64) -> RunResult {
    let r = run(&Options {
        seed,
        scenario: sc.clone(),
        bug: None,
        trace: false,
        timeline: false,
    })
    .unwrap();
    assert!(r.verdict.passed(), "{name} seed {seed}: {}", r.verdict);
    r
}
