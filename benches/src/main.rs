//! `synod-bench`: the load generators, kept out of the server: `bench`
//! measures synod, Redis, etcd or a loopback echo (scripts/bench.sh), `load`
//! drives clients and records a history for the linearizability checker
//! (scripts/nemesis.sh, scripts/hosts.sh).

mod bench;
mod load;

use clap::{Args, Parser, Subcommand};
use std::process::ExitCode;

/// Load generators for synod: throughput/latency, and checked histories.
#[derive(Parser, Debug)]
#[command(name = "synod-bench", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Drive concurrent clients and record a JSONL history (for scripts/nemesis.sh).
    ///
    /// Clients run get/set/cas/del on keys k0..k{keys-1} with unique values,
    /// one outstanding operation each, and write every invoke and outcome to
    /// --history in the shape of docs/design.md "Histories". Once --heal-file
    /// exists they run --post-heal-secs more, during which every operation must
    /// succeed. Prints key=value counts; exits 1 on a stuck operation after
    /// heal or when no heal came within --max-secs. Check the history with
    /// `cargo run --release -p synod-sim -- check FILE`.
    Load(LoadArgs),
    /// Measure throughput and latency of synod, Redis, etcd or a loopback echo.
    ///
    /// Clients (one thread and connection each, --pipeline requests in
    /// flight) run SET or GET on random keys of a fixed key space for
    /// --seconds after --warmup-ms; prints one `RESULT key=value ...` line:
    /// ops/s, p50/p99/p999 latency, this tool's CPU per op and, with --pids,
    /// the servers' CPU per op (from /proc). `--target echo` starts a TCP echo
    /// server in this process: the loopback round-trip floor.
    /// With --report FILE it instead reads RESULT lines from FILE and writes
    /// the markdown table, ratio lines and SVG plot (scripts/bench.sh).
    Bench(BenchArgs),
}

#[derive(Args, Debug)]
struct LoadArgs {
    /// Client addresses of the nodes, comma-separated.
    #[arg(long, value_delimiter = ',', required = true)]
    nodes: Vec<String>,
    /// Concurrent clients, one outstanding operation each.
    #[arg(long, default_value_t = 8)]
    clients: usize,
    /// Size of the key space (k0, k1, ...).
    #[arg(long, default_value_t = 8)]
    keys: usize,
    /// Where to write the JSONL history.
    #[arg(long)]
    history: std::path::PathBuf,
    /// Seeds the operation mix.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Per-operation connect/read/write timeout.
    #[arg(long, default_value_t = 3_000)]
    timeout_ms: u64,
    /// Pause between one client's operations.
    #[arg(long, default_value_t = 0)]
    think_ms: u64,
    /// When this file appears, the post-heal phase starts (without it: at once).
    #[arg(long)]
    heal_file: Option<std::path::PathBuf>,
    /// How long the post-heal phase lasts.
    #[arg(long, default_value_t = 3)]
    post_heal_secs: u64,
    /// Hard bound on the whole run.
    #[arg(long, default_value_t = 600)]
    max_secs: u64,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum BenchTarget {
    Synod,
    Redis,
    Etcd,
    Echo,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum BenchRoute {
    /// Client i sends every request to the (i mod n)-th address.
    None,
    /// Each client connects to every address and sends a request to its
    /// key's home node (synod only; found through INFO).
    Key,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum BenchOp {
    Set,
    Get,
}

#[derive(Args, Debug)]
struct BenchArgs {
    /// What to measure.
    #[arg(long, value_enum, required_unless_present = "report")]
    target: Option<BenchTarget>,
    /// Server addresses, comma-separated; client i uses the (i mod n)-th,
    /// or all of them with --route key.
    #[arg(long, value_delimiter = ',')]
    addrs: Vec<String>,
    /// How a client picks the node for a request. Default: key for synod
    /// (what a client that knows the cluster does), none for the others.
    #[arg(long, value_enum)]
    route: Option<BenchRoute>,
    #[arg(long, value_enum, default_value = "set")]
    op: BenchOp,
    /// Concurrent connections, one thread each.
    #[arg(long, default_value_t = 1)]
    clients: usize,
    /// Length of the measured window.
    #[arg(long, default_value_t = 3.0)]
    seconds: f64,
    /// Run this long before the window opens.
    #[arg(long, default_value_t = 500)]
    warmup_ms: u64,
    /// Key space size.
    #[arg(long, default_value_t = 10_000)]
    keys: usize,
    #[arg(long, default_value_t = 100)]
    value_bytes: usize,
    /// Requests in flight per connection.
    #[arg(long, default_value_t = 1)]
    pipeline: usize,
    /// Write every key once first (use before the first GET run).
    #[arg(long)]
    preload: bool,
    /// First writes: every SET writes a key no run wrote before (a fresh
    /// prefix; --keys must cover the run, wrap-arounds are reported).
    #[arg(long)]
    fresh: bool,
    /// Server process ids whose CPU is charged to the run, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pids: Vec<u32>,
    /// Connect/read/write timeout.
    #[arg(long, default_value_t = 5_000)]
    timeout_ms: u64,
    /// Report mode: read RESULT lines from this file.
    #[arg(long)]
    report: Option<std::path::PathBuf>,
    /// Report mode: write the markdown here (default: stdout).
    #[arg(long, requires = "report")]
    md: Option<std::path::PathBuf>,
    /// Report mode: write the SVG plot here.
    #[arg(long, requires = "report")]
    svg: Option<std::path::PathBuf>,
    /// Report mode: append this file verbatim (e.g. redis-benchmark output) in a code block.
    #[arg(long, requires = "report")]
    extra: Option<std::path::PathBuf>,
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    match Cli::parse().command {
        Cmd::Load(a) => load(a),
        Cmd::Bench(a) => bench(a),
    }
}

fn usage(msg: &str) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::from(2)
}

fn load(a: LoadArgs) -> ExitCode {
    let opts = load::LoadOptions {
        nodes: a.nodes,
        clients: a.clients,
        keys: a.keys,
        history: a.history,
        seed: a.seed,
        timeout: std::time::Duration::from_millis(a.timeout_ms.max(1)),
        think: std::time::Duration::from_millis(a.think_ms),
        heal_file: a.heal_file,
        post_heal: std::time::Duration::from_secs(a.post_heal_secs),
        max: std::time::Duration::from_secs(a.max_secs),
    };
    match load::run(opts) {
        Ok(r) => {
            print!("{}", r.to_lines());
            ExitCode::from(u8::from(r.failed()))
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn bench(a: BenchArgs) -> ExitCode {
    if let Some(path) = &a.report {
        return match bench_report(path, &a) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(2)
            }
        };
    }
    let Some(target) = a.target else {
        return usage("--target is required");
    };
    if !(a.seconds > 0.0 && a.seconds.is_finite()) {
        return usage("--seconds must be positive");
    }
    let opts = bench::BenchOptions {
        target: match target {
            BenchTarget::Synod => bench::Target::Synod,
            BenchTarget::Redis => bench::Target::Redis,
            BenchTarget::Etcd => bench::Target::Etcd,
            BenchTarget::Echo => bench::Target::Echo,
        },
        addrs: a.addrs,
        route: match a.route {
            Some(BenchRoute::Key) => bench::Route::Key,
            Some(BenchRoute::None) => bench::Route::None,
            None if matches!(target, BenchTarget::Synod) => bench::Route::Key,
            None => bench::Route::None,
        },
        op: match a.op {
            BenchOp::Set => bench::Op::Set,
            BenchOp::Get => bench::Op::Get,
        },
        clients: a.clients,
        duration: std::time::Duration::from_secs_f64(a.seconds),
        warmup: std::time::Duration::from_millis(a.warmup_ms),
        keys: a.keys,
        value_bytes: a.value_bytes,
        pipeline: a.pipeline,
        preload: a.preload,
        fresh: a.fresh,
        server_pids: a.pids,
        timeout: std::time::Duration::from_millis(a.timeout_ms.max(1)),
    };
    match bench::run(&opts) {
        Ok(r) => {
            println!("{}", r.to_line());
            ExitCode::from(u8::from(r.ops == 0))
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn bench_report(path: &std::path::Path, a: &BenchArgs) -> std::io::Result<()> {
    let rows = bench::parse_rows(&std::fs::read_to_string(path)?);
    let mut md = bench::markdown_table(&rows);
    md.push_str("\n```\n");
    for line in bench::ratio_lines(&rows) {
        md.push_str(&line);
        md.push('\n');
    }
    md.push_str("```\n");
    if let Some(extra) = &a.extra {
        md.push_str("\nredis-benchmark, a second opinion:\n\n```\n");
        md.push_str(&std::fs::read_to_string(extra)?);
        md.push_str("```\n");
    }
    match &a.md {
        Some(p) => std::fs::write(p, &md)?,
        None => print!("{md}"),
    }
    if let Some(p) = &a.svg {
        std::fs::write(p, bench::svg_plot(&rows))?;
    }
    Ok(())
}
