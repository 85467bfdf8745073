//! synod-sim: a deterministic simulator that drives the very same
//! `synod::core::Node` the TCP runtime drives, under injected faults, and
//! checks safety (invariants after every event, linearizability at the end)
//! and liveness (everything finishes after the faults heal).
//!
//! [`world`] runs one seed; [`scenario`] says what a run looks like;
//! [`invariants`] and [`checker`] judge it; [`history`] exports it;
//! [`explore`] sweeps seeds; [`shrink`] reduces a failing run.

pub mod checker;
pub mod diagram;
pub mod exercises;
pub mod explore;
pub mod fxhash;
pub mod history;
pub mod invariants;
pub mod rng;
pub mod scenario;
pub mod shrink;
pub mod typed;
pub mod world;

pub use scenario::Scenario;
pub use world::{run, Options, RunResult, Stats, Verdict};
