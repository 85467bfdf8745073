//! Sweeping seeds: many worlds, one verdict each, on J threads, with a
//! progress bar and, for each failure, the command that replays it.

use crate::scenario::Scenario;
use crate::world::{self, Options, Verdict};
use indicatif::{ProgressBar, ProgressStyle};
use std::ops::Range;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;
use synod::core::DeliberateBug;

/// What to sweep.
#[derive(Clone, Debug)]
pub struct ExploreOptions {
    pub seeds: Range<u64>,
    pub jobs: usize,
    pub bug: Option<DeliberateBug>,
    pub scenario: Scenario,
    /// Stop once this many seeds failed (every lower seed is still run).
    pub max_failures: usize,
    pub progress: bool,
}

/// One failing seed.
#[derive(Clone, Debug)]
pub struct Failure {
    pub seed: u64,
    pub verdict: Verdict,
}

/// The sweep's outcome.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub seeds_run: u64,
    /// Sorted by seed.
    pub failures: Vec<Failure>,
    pub delivered: u64,
    pub secs: f64,
    /// Seeds whose scenario could not run (bad configuration).
    pub errors: u64,
    pub first_error: Option<String>,
    /// Seeds where the linearizability search gave up on some key.
    pub check_gave_up: Vec<u64>,
}

impl Report {
    /// The summary line: seeds/s and delivered messages/s.
    pub fn summary(&self) -> String {
        let secs = self.secs.max(1e-9);
        let mut s = format!(
            "explored {} seeds in {:.1}s: {:.0} seeds/s, {:.0} delivered messages/s, {} failure(s)",
            self.seeds_run,
            self.secs,
            self.seeds_run as f64 / secs,
            self.delivered as f64 / secs,
            self.failures.len()
        );
        if !self.check_gave_up.is_empty() {
            let mut seeds = self.check_gave_up.clone();
            seeds.sort_unstable();
            seeds.truncate(10);
            s.push_str(&format!(
                ", linearizability search gave up on {} seed(s) {seeds:?}",
                self.check_gave_up.len()
            ));
        }
        if let Some(e) = &self.first_error {
            s.push_str(&format!(", {} seed(s) could not run: {e}", self.errors));
        }
        s
    }
}

impl Report {
    /// Seeds a sweep needs to catch a failure, from each starting seed of the
    /// range: (median, worst), from the gaps between failing seeds. `None` if
    /// nothing failed.
    pub fn seeds_to_catch(&self, range: &Range<u64>) -> Option<(u64, u64)> {
        if self.failures.is_empty() {
            return None;
        }
        // From start s, a sweep needs (next failing seed ≥ s) - s + 1 seeds.
        let mut needed = Vec::new();
        let mut fi = 0;
        for s in range.start..range.end {
            while fi < self.failures.len() && self.failures[fi].seed < s {
                fi += 1;
            }
            if fi == self.failures.len() {
                break;
            }
            needed.push(self.failures[fi].seed - s + 1);
        }
        needed.sort_unstable();
        Some((needed[needed.len() / 2], *needed.last()?))
    }
}

/// The command line that replays `seed`.
pub fn replay_command(seed: u64, bug: Option<String>, scenario: Option<&Path>) -> String {
    let mut c = format!("synod-sim run --seed {seed}");
    if let Some(p) = scenario {
        c.push_str(&format!(" --scenario {}", p.display()));
    }
    if let Some(b) = bug {
        c.push_str(&format!(" --bug {b}"));
    }
    c.push_str(" --timeline");
    c
}

/// Runs every seed of the range (until `max_failures`), on `jobs` threads.
pub fn explore(opts: &ExploreOptions) -> Report {
    let start = Instant::now();
    let next = AtomicU64::new(opts.seeds.start);
    let stop = AtomicBool::new(false);
    let report = Mutex::new(Report::default());
    let bar = if opts.progress {
        let b = ProgressBar::new(opts.seeds.end - opts.seeds.start);
        if let Ok(style) = ProgressStyle::with_template(
            "{elapsed_precise} [{bar:40}] {pos}/{len} seeds, {per_sec}, eta {eta} {msg}",
        ) {
            b.set_style(style.progress_chars("=> "));
        }
        b
    } else {
        ProgressBar::hidden()
    };
    std::thread::scope(|s| {
        for _ in 0..opts.jobs {
            s.spawn(|| loop {
                if stop.load(Ordering::SeqCst) {
                    return;
                }
                let seed = next.fetch_add(1, Ordering::SeqCst);
                if seed >= opts.seeds.end {
                    return;
                }
                // A panic in the node (a lab's unfinished rule, or a bug) is
                // this seed's failure, not the end of the sweep.
                let result = std::panic::catch_unwind(|| {
                    world::run(&Options {
                        seed,
                        scenario: opts.scenario.clone(),
                        bug: opts.bug,
                        trace: false,
                        timeline: false,
                    })
                });
                let mut r = report.lock().unwrap_or_else(|e| e.into_inner());
                r.seeds_run += 1;
                let result = match result {
                    Ok(result) => result,
                    Err(panic) => {
                        let msg = panic
                            .downcast_ref::<&str>()
                            .map(|s| s.to_string())
                            .or_else(|| panic.downcast_ref::<String>().cloned())
                            .unwrap_or_else(|| "(no message)".into());
                        r.failures.push(Failure {
                            seed,
                            verdict: Verdict::Safety(format!("the node panicked: {msg}")),
                        });
                        if r.failures.len() >= opts.max_failures {
                            stop.store(true, Ordering::SeqCst);
                        }
                        bar.inc(1);
                        continue;
                    }
                };
                match result {
                    Ok(res) => {
                        r.delivered += res.stats.delivered;
                        if res.stats.check_gave_up > 0 {
                            r.check_gave_up.push(seed);
                        }
                        if !res.verdict.passed() {
                            r.failures.push(Failure {
                                seed,
                                verdict: res.verdict,
                            });
                            bar.set_message(format!("{} failure(s)", r.failures.len()));
                            if r.failures.len() >= opts.max_failures {
                                stop.store(true, Ordering::SeqCst);
                            }
                        }
                    }
                    Err(e) => {
                        r.errors += 1;
                        r.first_error.get_or_insert(e);
                        stop.store(true, Ordering::SeqCst);
                    }
                }
                bar.inc(1);
            });
        }
    });
    bar.finish_and_clear();
    let mut r = report.into_inner().unwrap_or_else(|e| e.into_inner());
    r.failures.sort_by_key(|f| f.seed);
    r.failures.truncate(opts.max_failures);
    r.secs = start.elapsed().as_secs_f64();
    r
}

/// The lowest failing seed in `seeds`, if any (single-threaded, for tests).
pub fn first_failure(
    scenario: &Scenario,
    bug: Option<DeliberateBug>,
    seeds: Range<u64>,
) -> Option<Failure> {
    for seed in seeds {
        let r = world::run(&Options {
            seed,
            scenario: scenario.clone(),
            bug,
            trace: false,
            timeline: false,
        })
        .ok()?;
        if !r.verdict.passed() {
            return Some(Failure {
                seed,
                verdict: r.verdict,
            });
        }
    }
    None
}
