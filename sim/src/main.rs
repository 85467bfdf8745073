//! `synod-sim`: run, explore, shrink and benchmark simulated synod clusters.
//!
//! Exit status: 0 pass, 1 a safety or liveness failure, 2 bad usage.

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;
use synod::core::DeliberateBug;
use synod_sim::diagram::{self, Filter};
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
        /// Write the history as JSON Lines (docs/design.md "Histories").
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
        /// With --shrink: also write the minimal scenario to this file (TOML,
        /// with the replay command in its header).
        #[arg(long, requires = "shrink")]
        out: Option<PathBuf>,
        /// Draw a spacetime (Lamport) diagram of the run as SVG (of the
        /// minimal run with --shrink).
        #[arg(long)]
        svg: Option<PathBuf>,
        /// Write a self-contained HTML page: the diagram, filters, and
        /// next/previous/play over the steps with each node's acceptor state.
        #[arg(long)]
        html: Option<PathBuf>,
        #[command(flatten)]
        view: ViewArgs,
    },
    /// Step through a run in the terminal, one step per Enter (q quits).
    Step {
        /// A scenario file (default: swarm mode, picked from the seed).
        scenario: Option<PathBuf>,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        #[arg(long)]
        bug: Option<String>,
        /// Print every step at once (no key presses): for tests and docs.
        #[arg(long)]
        all: bool,
        #[command(flatten)]
        view: ViewArgs,
    },
    /// Write one exercise page per deliberate bug (docs/exercises).
    Exercises {
        /// Output directory.
        #[arg(long, default_value = "docs/exercises")]
        out: PathBuf,
        /// Only these bugs (default: every one in DeliberateBug::ALL).
        #[arg(long)]
        bug: Vec<String>,
        /// Seeds to try per bug and scenario when looking for a failure.
        #[arg(long, default_value_t = 100)]
        seeds: u64,
        /// Search every scenario for the simplest example even where the
        /// committed one still holds.
        #[arg(long)]
        search: bool,
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
    /// Draw a JSON Lines history (ours or a live cluster's) as a timeline
    /// page: one chart per key, faults shaded (Jepsen's timeline.html).
    Timeline {
        /// The history file.
        file: PathBuf,
        /// A fault log (scripts/nemesis.sh writes HISTORY.faults.jsonl).
        #[arg(long)]
        faults: Option<PathBuf>,
        /// The page to write.
        #[arg(long)]
        out: PathBuf,
        /// Only this window, in ms after the first event: A..B.
        #[arg(long)]
        window: Option<String>,
        /// Only these keys (e.g. --key k0 --key k3).
        #[arg(long)]
        key: Vec<String>,
    },
}

/// What part of a run to draw or step through.
#[derive(clap::Args, Clone, Debug, Default)]
struct ViewArgs {
    /// Only this key's messages and operations (faults are always shown).
    #[arg(long)]
    key: Option<String>,
    /// Only messages to or from these nodes (e.g. --node 1 --node 3, or --node 1,3).
    #[arg(long, value_delimiter = ',')]
    node: Vec<u32>,
    /// Only steps in this window of virtual time, in ms: A..B (either end may be empty).
    #[arg(long)]
    window: Option<String>,
}

impl ViewArgs {
    fn filter(&self) -> Result<Filter, String> {
        Ok(Filter {
            key: self.key.clone(),
            nodes: self.node.clone(),
            window_us: match &self.window {
                Some(w) => Some(Filter::parse_window_ms(w)?),
                None => None,
            },
        })
    }
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
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    // The core's warnings (a declare-lost, say) belong to one run; a sweep
    // of hundreds of seeds would print them hundreds of times.
    let level = match cli.cmd {
        Cmd::Explore { .. } | Cmd::Bench { .. } => "error",
        _ => "warn",
    };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(level)).init();
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
            out,
            svg,
            html,
            view,
        } => {
            let filter = match view.filter() {
                Ok(f) => f,
                Err(e) => return usage(&e),
            };
            let pictures = Pictures { svg, html, filter };
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
                shrink.then_some(out),
                &pictures,
            )
        }
        Cmd::Step {
            scenario,
            seed,
            bug,
            all,
            view,
        } => {
            let (sc, bug_v) = match (load_scenario(&scenario), parse_bug(&bug)) {
                (Ok(s), Ok(b)) => (s, b),
                (Err(e), _) | (_, Err(e)) => return usage(&e),
            };
            let filter = match view.filter() {
                Ok(f) => f,
                Err(e) => return usage(&e),
            };
            let opts = Options {
                seed,
                scenario: sc,
                bug: bug_v,
                trace: false,
                timeline: false,
            };
            let r = match world::run_recorded(&opts) {
                Ok(r) => r,
                Err(e) => return usage(&e),
            };
            let mut rec = *r.recording.expect("recorded");
            rec.title = title(&opts, &r.scenario.name);
            rec.command = diagram::record::replay(seed, bug, scenario.as_deref());
            let stdin = std::io::stdin();
            let mut out = std::io::stdout().lock();
            let res = if all {
                diagram::step::print_all(&rec, &filter, &mut out)
            } else {
                diagram::step::interactive(&rec, &filter, &mut stdin.lock(), &mut out)
            };
            if let Err(e) = res {
                if e.kind() != std::io::ErrorKind::BrokenPipe {
                    return usage(&format!("step: {e}"));
                }
            }
            ExitCode::from(u8::from(!r.verdict.passed()))
        }
        Cmd::Exercises {
            out,
            bug,
            seeds,
            search,
        } => {
            let bugs: Vec<DeliberateBug> = if bug.is_empty() {
                DeliberateBug::ALL.to_vec()
            } else {
                let mut v = Vec::new();
                for b in &bug {
                    match parse_bug(&Some(b.clone())) {
                        Ok(Some(b)) => v.push(b),
                        Ok(None) => {}
                        Err(e) => return usage(&e),
                    }
                }
                v
            };
            match synod_sim::exercises::write_all(&out, &bugs, seeds, search) {
                Ok(uncaught) if uncaught.is_empty() => ExitCode::SUCCESS,
                Ok(uncaught) => {
                    eprintln!(
                        "synod-sim: no failure found for: {} (their pages say so)",
                        uncaught.join(", ")
                    );
                    ExitCode::from(1)
                }
                Err(e) => usage(&e),
            }
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
            let listed = if quiet { 3 } else { 20 };
            for f in report.failures.iter().take(listed) {
                println!("seed {}: {}", f.seed, f.verdict);
                println!(
                    "  replay: {}",
                    explore::replay_command(f.seed, bug.clone(), scenario.as_deref())
                );
            }
            if report.failures.len() > listed {
                let rest: Vec<String> = report.failures[listed..]
                    .iter()
                    .map(|f| f.seed.to_string())
                    .collect();
                println!(
                    "... and {} more failure(s) not listed: seed(s) {}",
                    rest.len(),
                    rest.join(", ")
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
            let (events, keys, mut values) = match history::from_jsonl(&text) {
                Ok(x) => x,
                Err(e) => return usage(&e),
            };
            let by_key = match history::ops_by_key(&events, &values) {
                Ok(m) => m,
                Err(e) => return usage(&e),
            };
            if by_key.is_empty() {
                return usage(&format!(
                    "{}: no operations in this history: nothing to check",
                    file.display()
                ));
            }
            let mut bad = false;
            if let Some((inv, ok)) = history::succeeded_while_lost(&events) {
                bad = true;
                println!(
                    "NOT available as designed: the operation of lines {}..{} succeeded while more than F replicas of every set were amnesiac, before declare-lost",
                    inv + 1,
                    ok + 1
                );
            }
            let declared = history::loss_window(&events)
                .and_then(|(_, d)| d)
                .map(|d| d as u64);
            for (k, ops) in &by_key {
                let start = Instant::now();
                let v = checker::check_with_loss(
                    ops,
                    declared,
                    world::CHECK_STEPS_MAX * 5,
                    &mut values,
                );
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
        Cmd::Timeline {
            file,
            faults,
            out,
            window,
            key,
        } => {
            let read = |p: &PathBuf| {
                std::fs::read_to_string(p).map_err(|e| format!("cannot read {}: {e}", p.display()))
            };
            let text = match read(&file) {
                Ok(t) => t,
                Err(e) => return usage(&e),
            };
            let (events, keys, values) = match history::from_jsonl(&text) {
                Ok(x) => x,
                Err(e) => return usage(&e),
            };
            if events.is_empty() {
                return usage(&format!("{}: no operations to draw", file.display()));
            }
            let faults = match faults.as_ref().map(read).transpose() {
                Ok(Some(t)) => match diagram::timeline::faults_from_jsonl(&t) {
                    Ok(f) => f,
                    Err(e) => return usage(&e),
                },
                Ok(None) => Vec::new(),
                Err(e) => return usage(&e),
            };
            let window_ns = match window.as_deref().map(Filter::parse_window_ms).transpose() {
                Ok(w) => w.map(|(a, b)| (a.saturating_mul(1_000), b.saturating_mul(1_000))),
                Err(e) => return usage(&e),
            };
            let view = diagram::timeline::View {
                window_ns,
                keys: key,
            };
            let title = format!("history {}", file.display());
            let page = diagram::timeline::render(&title, &events, &keys, &values, &faults, &view);
            if let Err(e) = std::fs::write(&out, page.html) {
                return usage(&format!("cannot write {}: {e}", out.display()));
            }
            println!(
                "timeline: {} ({} keys, {} faults)",
                out.display(),
                page.label_boxes.len(),
                faults.len()
            );
            ExitCode::SUCCESS
        }
        Cmd::Bugs => {
            for b in DeliberateBug::ALL {
                println!("{}", b.name());
                println!("  breaks: {}", synod_sim::exercises::rule(b));
                println!("  page:   docs/exercises/{}.md", b.name());
            }
            ExitCode::SUCCESS
        }
    }
}

/// The first line of every `--timeline`: what order its lines are in.
const TIMELINE_ORDER: &str = "\
# timeline in DELIVERY order: a message's line is at the time it was delivered (or dropped, or held back),
# so a reply can come before a request sent earlier. #N numbers the messages in SEND order and `sent` is
# the time it was sent: sort on #N to read the run in send order. Faults and operations (**) at the time
# they happened.
#       time  #N            sent  message";

/// Pictures a run asks for.
struct Pictures {
    svg: Option<PathBuf>,
    html: Option<PathBuf>,
    filter: Filter,
}

impl Pictures {
    fn wanted(&self) -> bool {
        self.svg.is_some() || self.html.is_some()
    }
}

fn title(opts: &Options, scenario: &str) -> String {
    format!(
        "synod-sim: scenario {scenario}, seed {}{}",
        opts.seed,
        opts.bug
            .map(|b| format!(", deliberate bug {}", b.name()))
            .unwrap_or_default()
    )
}

/// Writes the SVG and HTML pictures of a recorded run.
fn write_pictures(
    p: &Pictures,
    r: world::RunResult,
    opts: &Options,
    scenario_file: Option<&std::path::Path>,
) -> Result<(), String> {
    let Some(rec) = r.recording else {
        return Ok(());
    };
    let mut rec = *rec;
    rec.title = title(opts, &r.scenario.name);
    rec.command = diagram::record::replay(
        opts.seed,
        opts.bug.map(|b| b.name().to_string()),
        scenario_file,
    );
    if let Some(path) = &p.svg {
        let svg = diagram::svg::render(&rec, &p.filter, &diagram::svg::SvgOptions::standalone());
        std::fs::write(path, svg).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        println!("diagram: {}", path.display());
    }
    if let Some(path) = &p.html {
        let page = diagram::html::render(&rec, &p.filter);
        std::fs::write(path, page).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        println!("page: {}", path.display());
    }
    Ok(())
}

fn cmd_run(
    opts: &Options,
    scenario_file: Option<PathBuf>,
    history_path: Option<PathBuf>,
    trace_path: Option<PathBuf>,
    check_determinism: bool,
    shrink_out: Option<Option<PathBuf>>,
    pictures: &Pictures,
) -> ExitCode {
    let start = Instant::now();
    let r = match if pictures.wanted() {
        world::run_recorded(opts)
    } else {
        world::run(opts)
    } {
        Ok(r) => r,
        Err(e) => return usage(&e),
    };
    let secs = start.elapsed().as_secs_f64();
    if opts.timeline {
        println!("{TIMELINE_ORDER}");
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
    if s.shutdowns + s.recrashes + s.link_events + s.memory_caps + s.tombstones_dropped > 0 {
        println!(
            "also: {} graceful shutdowns, {} crashes while recovering, {} late link events, {} CONFIG SET maxmemory, {} tombstones dropped by the end of the tail",
            s.shutdowns, s.recrashes, s.link_events, s.memory_caps, s.tombstones_dropped
        );
    }
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
    if let (false, Some(out)) = (r.verdict.passed(), &shrink_out) {
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
        if let Some(path) = out {
            let header = format!(
                "# Minimal case of seed {} of {}, found by `synod-sim run --shrink`.\n\
                 # Replay: synod-sim run --seed {} --scenario {}{} --timeline\n",
                opts.seed,
                r.scenario.name,
                opts.seed,
                path.display(),
                bug.map(|b| format!(" --bug {}", b.name()))
                    .unwrap_or_default()
            );
            if let Err(e) = std::fs::write(path, header + &min.scenario.to_toml()) {
                return usage(&format!("cannot write {}: {e}", path.display()));
            }
            println!("# minimal scenario written to {}", path.display());
        }
        println!(
            "# timeline of the minimal run\n{TIMELINE_ORDER}\n{}",
            min.timeline
        );
        if pictures.wanted() {
            let min_opts = Options {
                seed: opts.seed,
                scenario: min.scenario.clone(),
                bug,
                trace: false,
                timeline: false,
            };
            let res = world::run_recorded(&min_opts)
                .and_then(|m| write_pictures(pictures, m, &min_opts, None));
            if let Err(e) = res {
                return usage(&e);
            }
        }
        return ExitCode::from(1);
    }
    let failed = !r.verdict.passed();
    if let Err(e) = write_pictures(pictures, r, opts, scenario_file.as_deref()) {
        return usage(&e);
    }
    ExitCode::from(u8::from(failed))
}
