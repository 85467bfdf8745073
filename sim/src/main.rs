//! `synod-sim`: run, explore, shrink and benchmark simulated synod clusters.
//!
//! Exit status: 0 pass, 1 a safety or liveness failure, 2 bad usage.

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;
use synod::core::DeliberateBug;
use synod_sim::explore::{self, ExploreOptions};
use synod_sim::{checker, history, shrink, world, Options, Scenario};

#[derive(Parser)]
#[command(
    name = "synod-sim",
    version,
    about = "Deterministic simulator for synod"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run one world and print its verdict.
    Run {
        /// The seed: same seed and scenario, same run, byte for byte.
        #[arg(long)]
        seed: u64,
        /// A scenario file (default: swarm mode, picked from the seed).
        #[arg(long)]
        scenario: Option<PathBuf>,
        /// Break one protocol rule on purpose (see `synod-sim bugs`).
        #[arg(long)]
        bug: Option<String>,
        /// Write the history as JSON Lines (DESIGN.md "Histories").
        #[arg(long)]
        history: Option<PathBuf>,
        /// Write every delivered or dropped message and every fault as JSON Lines.
        #[arg(long)]
        trace: Option<PathBuf>,
        /// Print a text timeline of every message.
        #[arg(long)]
        timeline: bool,
        /// Run twice and compare the full traces byte for byte.
        #[arg(long)]
        check_determinism: bool,
        /// If the run fails, reduce it while it still fails and print the minimal case.
        #[arg(long)]
        shrink: bool,
    },
    /// Sweep a range of seeds.
    Explore {
        /// Seeds as A..B (B excluded).
        #[arg(long, default_value = "0..1000")]
        seeds: String,
        /// Worker threads (default: one per core).
        #[arg(long)]
        jobs: Option<usize>,
        #[arg(long)]
        bug: Option<String>,
        #[arg(long)]
        scenario: Option<PathBuf>,
        /// Stop after this many failures.
        #[arg(long, default_value_t = 1)]
        max_failures: usize,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
    },
    /// Delivered messages per second on one core.
    Bench {
        /// Seeds to run.
        #[arg(long, default_value_t = 300)]
        seeds: u64,
        #[arg(long)]
        scenario: Option<PathBuf>,
    },
    /// Check a JSON Lines history (ours or a live test's) for linearizability.
    Check {
        /// The history file.
        file: PathBuf,
    },
    /// List the deliberate bugs.
    Bugs,
}

fn usage(msg: &str) -> ExitCode {
    eprintln!("synod-sim: {msg}");
    ExitCode::from(2)
}

fn load_scenario(path: &Option<PathBuf>) -> Result<Scenario, String> {
    match path {
        None => Ok(Scenario::swarm_default()),
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .map_err(|e| format!("cannot read scenario {}: {e}", p.display()))?;
            Scenario::from_toml(&text).map_err(|e| format!("scenario {}: {e}", p.display()))
        }
    }
}

fn parse_bug(name: &Option<String>) -> Result<Option<DeliberateBug>, String> {
    match name {
        None => Ok(None),
        Some(n) => DeliberateBug::from_name(n).map(Some).ok_or_else(|| {
            let all: Vec<&str> = DeliberateBug::ALL.iter().map(|b| b.name()).collect();
            format!("unknown bug {n:?}; one of: {}", all.join(", "))
        }),
    }
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    match cli.cmd {
        Cmd::Run {
            seed,
            scenario,
            bug,
            history,
            trace,
            timeline,
            check_determinism,
            shrink,
        } => {
            let scenario_file = scenario.clone();
            let (sc, bug) = match (load_scenario(&scenario), parse_bug(&bug)) {
                (Ok(s), Ok(b)) => (s, b),
                (Err(e), _) | (_, Err(e)) => return usage(&e),
            };
            let opts = Options {
                seed,
                scenario: sc,
                bug,
                trace: trace.is_some() || check_determinism,
                timeline,
            };
            cmd_run(
                &opts,
                scenario_file,
                history,
                trace,
                check_determinism,
                shrink,
            )
        }
        Cmd::Explore {
            seeds,
            jobs,
            bug,
            scenario,
            max_failures,
            quiet,
        } => {
            let Some((a, b)) = seeds
                .split_once("..")
                .and_then(|(a, b)| Some((a.parse::<u64>().ok()?, b.parse::<u64>().ok()?)))
            else {
                return usage(&format!("--seeds {seeds:?}: expected A..B, e.g. 0..1000"));
            };
            if b <= a {
                return usage("--seeds A..B needs B > A");
            }
            let (sc, bug_v) = match (load_scenario(&scenario), parse_bug(&bug)) {
                (Ok(s), Ok(b)) => (s, b),
                (Err(e), _) | (_, Err(e)) => return usage(&e),
            };
            let opts = ExploreOptions {
                seeds: a..b,
                jobs: jobs
                    .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
                    .max(1),
                bug: bug_v,
                scenario: sc,
                max_failures: max_failures.max(1),
                progress: !quiet,
            };
            let report = explore::explore(&opts);
            for f in report.failures.iter().take(if quiet { 3 } else { 20 }) {
                println!("seed {}: {}", f.seed, f.verdict);
                println!(
                    "  replay: {}",
                    explore::replay_command(f.seed, bug.clone(), scenario.as_deref())
                );
            }
            println!("{}", report.summary());
            if max_failures > 1 && !report.failures.is_empty() {
                if let Some((median, worst)) = report.seeds_to_catch(&(a..b)) {
                    println!(
                        "{} of {} seeds failed; seeds needed to catch a failure from any start: median {median}, worst {worst}",
                        report.failures.len(),
                        report.seeds_run
                    );
                }
            }
            if report.errors > 0 {
                return ExitCode::from(2);
            }
            ExitCode::from(u8::from(!report.failures.is_empty()))
        }
        Cmd::Bench { seeds, scenario } => {
            let sc = match load_scenario(&scenario) {
                Ok(s) => s,
                Err(e) => return usage(&e),
            };
            let start = Instant::now();
            let (mut delivered, mut events, mut failures) = (0u64, 0u64, 0u64);
            for seed in 0..seeds {
                let r = match world::run(&Options {
                    seed,
                    scenario: sc.clone(),
                    bug: None,
                    trace: false,
                    timeline: false,
                }) {
                    Ok(r) => r,
                    Err(e) => return usage(&e),
                };
                delivered += r.stats.delivered;
                events += r.stats.events;
                failures += u64::from(!r.verdict.passed());
            }
            let secs = start.elapsed().as_secs_f64();
            println!(
                "bench: {seeds} seeds in {secs:.2}s on one core: {:.0} seeds/s, {:.0} delivered messages/s, {:.0} events/s ({failures} failures)",
                seeds as f64 / secs,
                delivered as f64 / secs,
                events as f64 / secs
            );
            ExitCode::SUCCESS
        }
        Cmd::Check { file } => {
            let text = match std::fs::read_to_string(&file) {
                Ok(t) => t,
                Err(e) => return usage(&format!("cannot read {}: {e}", file.display())),
            };
            let (events, keys, values) = match history::from_jsonl(&text) {
                Ok(x) => x,
                Err(e) => return usage(&e),
            };
            let by_key = match history::ops_by_key(&events) {
                Ok(m) => m,
                Err(e) => return usage(&e),
            };
            let mut bad = false;
            for (k, ops) in &by_key {
                let start = Instant::now();
                let v = checker::check(ops, world::CHECK_STEPS_MAX * 5);
                let ms = start.elapsed().as_secs_f64() * 1e3;
                match v {
                    checker::Verdict::Linearizable => {
                        println!(
                            "key {}: {} ops linearizable ({ms:.1} ms)",
                            keys[*k as usize],
                            ops.len()
                        )
                    }
                    checker::Verdict::GaveUp { steps } => println!(
                        "key {}: {} ops: gave up after {steps} steps",
                        keys[*k as usize],
                        ops.len()
                    ),
                    checker::Verdict::Violation(s) => {
                        bad = true;
                        let op = &ops[s.op];
                        println!(
                            "key {}: NOT linearizable: could not place process {} (lines {}..{}) after {} ops, value {}",
                            keys[*k as usize],
                            op.process,
                            op.call + 1,
                            if op.ret == u64::MAX { 0 } else { op.ret + 1 },
                            s.linearized,
                            values.show(s.state)
                        );
                    }
                }
            }
            ExitCode::from(u8::from(bad))
        }
        Cmd::Bugs => {
            for b in DeliberateBug::ALL {
                println!("{}", b.name());
            }
            ExitCode::SUCCESS
        }
    }
}

fn cmd_run(
    opts: &Options,
    scenario_file: Option<PathBuf>,
    history_path: Option<PathBuf>,
    trace_path: Option<PathBuf>,
    check_determinism: bool,
    do_shrink: bool,
) -> ExitCode {
    let start = Instant::now();
    let r = match world::run(opts) {
        Ok(r) => r,
        Err(e) => return usage(&e),
    };
    let secs = start.elapsed().as_secs_f64();
    if opts.timeline {
        print!("{}", r.timeline);
    }
    if let Some(p) = &history_path {
        if let Err(e) = std::fs::write(p, r.history_jsonl()) {
            return usage(&format!("cannot write {}: {e}", p.display()));
        }
    }
    if let Some(p) = &trace_path {
        if let Err(e) = std::fs::write(p, &r.trace) {
            return usage(&format!("cannot write {}: {e}", p.display()));
        }
    }
    let s = &r.stats;
    println!(
        "seed {} ({}): {} ops ({} ok, {} fail, {} info), {} messages delivered, {} dropped, {} duplicated, {} crashes, {} recoveries, {} partitions, {} pauses, {:.3} s virtual, {:.3} s real",
        opts.seed,
        r.scenario.name,
        s.ops,
        s.ops_ok,
        s.ops_fail,
        s.ops_info,
        s.delivered,
        s.dropped,
        s.duplicated,
        s.crashes,
        s.recoveries,
        s.partitions,
        s.pauses,
        s.virtual_us as f64 / 1e6,
        secs
    );
    if s.check_gave_up > 0 {
        println!(
            "note: the linearizability search gave up on {} key(s) (budget {} steps)",
            s.check_gave_up,
            world::CHECK_STEPS_MAX
        );
    }
    println!("{}", r.verdict);
    if check_determinism {
        let again = match world::run(opts) {
            Ok(r) => r,
            Err(e) => return usage(&e),
        };
        if again.trace != r.trace || again.history_jsonl() != r.history_jsonl() {
            let line = r
                .trace
                .split(|&b| b == b'\n')
                .zip(again.trace.split(|&b| b == b'\n'))
                .position(|(a, b)| a != b)
                .map_or(0, |i| i + 1);
            println!("NOT DETERMINISTIC: the two runs' traces first differ at line {line}");
            return ExitCode::from(1);
        }
        println!(
            "deterministic: two runs gave identical traces ({} bytes)",
            r.trace.len()
        );
    }
    if !r.verdict.passed() && do_shrink {
        let bug = opts.bug;
        let min = shrink::shrink(opts.seed, &r.scenario, bug, &r.verdict, 300);
        println!(
            "\nshrunk in {} runs: {} ops, {} clients, {} keys, fault phase {} ms, {} scheduled faults",
            min.runs,
            min.scenario.ops,
            min.scenario.clients,
            min.scenario.keys,
            min.scenario.fault_phase_ms,
            min.scenario.schedule.len()
        );
        println!("{}", min.verdict);
        println!("\n# minimal scenario: save as min.toml and replay with");
        println!(
            "#   synod-sim run --seed {} --scenario min.toml{} --timeline",
            opts.seed,
            bug.map(|b| format!(" --bug {}", b.name()))
                .unwrap_or_default()
        );
        println!("{}", min.scenario.to_toml());
        println!("# timeline of the minimal run\n{}", min.timeline);
    }
    let _ = scenario_file;
    ExitCode::from(u8::from(!r.verdict.passed()))
}
