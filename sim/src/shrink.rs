//! Shrinking a failing run: with the same seed, try smaller scenarios (fewer
//! operations and clients, fewer faults, a shorter fault phase) and keep each
//! one that still fails the same way (safety stays safety, liveness stays
//! liveness), until no candidate does or the run budget is spent.
//!
//! Each RNG stream is independent, so removing one fault does not reshuffle
//! the workload; a smaller case usually still fails.

use crate::scenario::{Mix, Scenario};
use crate::world::{self, Options, Verdict};
use synod::core::DeliberateBug;

/// The smallest failing case found.
pub struct Shrunk {
    pub scenario: Scenario,
    pub verdict: Verdict,
    pub timeline: String,
    /// Runs spent.
    pub runs: usize,
}

/// Every kind of operation in the workload's mix.
pub const MIX_KINDS: [fn(&mut Mix) -> &mut u32; 23] = [
    |m| &mut m.read,
    |m| &mut m.write,
    |m| &mut m.cas,
    |m| &mut m.delete,
    |m| &mut m.ttl_write,
    |m| &mut m.incr,
    |m| &mut m.append,
    |m| &mut m.getdel,
    |m| &mut m.setnx,
    |m| &mut m.expire,
    |m| &mut m.persist,
    |m| &mut m.ttl,
    |m| &mut m.mget,
    |m| &mut m.mset,
    |m| &mut m.keys,
    |m| &mut m.hash,
    |m| &mut m.set,
    |m| &mut m.zset,
    |m| &mut m.list,
    |m| &mut m.bits,
    |m| &mut m.multi,
    |m| &mut m.watch_multi,
    |m| &mut m.cross_multi,
];

fn candidates(s: &Scenario) -> Vec<Scenario> {
    let mut out = Vec::new();
    let mut with = |f: &dyn Fn(&mut Scenario)| {
        let mut c = s.clone();
        f(&mut c);
        if c != *s {
            out.push(c);
        }
    };
    // Bigger steps first.
    with(&|c| c.ops /= 2);
    with(&|c| c.ops = c.ops * 3 / 4);
    with(&|c| c.ops = c.ops.saturating_sub(1).max(1));
    with(&|c| c.clients = c.clients.min(c.ops).max(1));
    with(&|c| c.clients = c.clients.saturating_sub(1).max(1));
    with(&|c| c.fault_phase_ms = (c.fault_phase_ms / 2).max(1));
    with(&|c| c.fault_phase_ms = (c.fault_phase_ms * 3 / 4).max(1));
    for i in 0..s.schedule.len() {
        with(&|c| {
            c.schedule.remove(i);
        });
    }
    with(&|c| c.faults.partition_every_ms = 0);
    with(&|c| c.faults.crash_every_ms = 0);
    with(&|c| c.faults.pause_every_ms = 0);
    with(&|c| c.faults.skew_max_ms = 0);
    with(&|c| c.faults.drift_max_ppm = 0);
    with(&|c| c.net.drop_p = 0.0);
    with(&|c| c.net.dup_p = 0.0);
    with(&|c| c.net.spike_p = 0.0);
    for k in s.net.drop_kind.keys() {
        with(&|c| {
            c.net.drop_kind.remove(k);
        });
    }
    // Features a failure may not need: eviction (a memory cap), and each
    // kind of operation (at least one kind stays).
    with(&|c| c.node.memory_max_bytes = 0);
    let mut mix = s.mix.clone();
    if MIX_KINDS.iter().filter(|k| *k(&mut mix) > 0).count() > 1 {
        for k in MIX_KINDS {
            with(&|c| *k(&mut c.mix) = 0);
        }
    }
    with(&|c| c.keys = c.keys.saturating_sub(1).max(1));
    with(&|c| {
        if c.nodes as usize > c.replicas {
            c.nodes -= 1;
            let n = c.nodes;
            c.schedule
                .retain(|e| !crate::scenario::names_node_above(&e.action, n));
            c.coordinators.retain(|&x| x <= n);
        }
    });
    out
}

/// Shrinks `scenario` (already resolved: no swarm) failing with `original` at `seed`.
pub fn shrink(
    seed: u64,
    scenario: &Scenario,
    bug: Option<DeliberateBug>,
    original: &Verdict,
    runs_max: usize,
) -> Shrunk {
    let mut best = scenario.resolve(seed);
    best.name = format!("shrunk from {}", scenario.name);
    let mut verdict = original.clone();
    let mut runs = 0;
    'outer: loop {
        for c in candidates(&best) {
            if runs >= runs_max {
                break 'outer;
            }
            runs += 1;
            let Ok(r) = world::run(&Options {
                seed,
                scenario: c.clone(),
                bug,
                trace: false,
                timeline: false,
            }) else {
                continue;
            };
            if r.verdict.class() == original.class() {
                best = c;
                verdict = r.verdict;
                continue 'outer;
            }
        }
        break;
    }
    let timeline = world::run(&Options {
        seed,
        scenario: best.clone(),
        bug,
        trace: false,
        timeline: true,
    })
    .map(|r| r.timeline)
    .unwrap_or_default();
    Shrunk {
        scenario: best,
        verdict,
        timeline,
        runs,
    }
}
