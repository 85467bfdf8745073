//! Helpers for the command layer's unit tests.

pub(super) use super::*;
pub(super) use crate::core::{Command, Key, Outcome, Record, Reply as CoreReply, Value};
pub(super) use crate::resp::Reply;
use std::collections::BTreeMap;

pub(super) const NOW: u64 = 1_700_000_000_000;
pub(super) const MAX: usize = 1 << 20;

pub(super) fn args(s: &[&str]) -> Vec<Vec<u8>> {
    s.iter().map(|a| a.as_bytes().to_vec()).collect()
}

pub(super) fn plan_at(s: &[&str], now_ms: u64) -> Plan {
    plan(args(s), now_ms, &mut Session::default())
}

pub(super) fn reply(s: &[&str]) -> Reply {
    match plan_at(s, NOW) {
        Plan::Reply(r) => r,
        other => panic!("expected an immediate reply to {s:?}, got {other:?}"),
    }
}

pub(super) fn err(s: &str) -> Reply {
    Reply::Error(s.into())
}

pub(super) fn call(s: &[&str]) -> CoreCall {
    match plan_at(s, NOW) {
        Plan::Core(c) => c,
        other => panic!("expected a core call for {s:?}, got {other:?}"),
    }
}

pub(super) fn requests(s: &[&str]) -> Vec<(Key, Command)> {
    call(s).requests()
}

pub(super) fn k(s: &str) -> Key {
    s.as_bytes().to_vec()
}

pub(super) fn ok(r: CoreReply) -> Outcome {
    Outcome::Ok(r)
}

pub(super) fn value(s: &str) -> Outcome {
    ok(CoreReply::Value(Some(k(s))))
}

/// Runs a one-step call with these outcomes.
pub(super) fn finish_with(s: &[&str], outcomes: Vec<Outcome>) -> Reply {
    let mut c = call(s);
    let mut cursors = ScanCursors::default();
    let mut ctx = CallCtx {
        now_ms: NOW,
        cursors: &mut cursors,
    };
    assert!(matches!(c.start(&mut ctx), Step::Run(_)));
    match c.resume(outcomes, &mut ctx) {
        Step::Done(r) => r,
        other => panic!("expected a reply, got {other:?}"),
    }
}

/// Drives a command to its reply, running each operation with `exec`.
pub(super) fn drive(
    plan: Plan,
    now_ms: u64,
    cursors: &mut ScanCursors,
    mut exec: impl FnMut(&Op) -> Outcome,
) -> Reply {
    let mut c = match plan {
        Plan::Core(c) => c,
        Plan::Reply(r) => return r,
        other => panic!("unexpected plan {other:?}"),
    };
    let mut ctx = CallCtx { now_ms, cursors };
    let mut step = c.start(&mut ctx);
    for _ in 0..10_000 {
        match step {
            Step::Done(r) => return r,
            Step::Run(ops) => {
                let outcomes = ops.iter().map(&mut exec).collect();
                step = c.resume(outcomes, &mut ctx);
            }
        }
    }
    panic!("the call did not finish");
}

/// A cluster in one map, for driving calls: keys to register values.
#[derive(Default)]
pub(super) struct Registers(pub(super) BTreeMap<Key, Value>);

impl Registers {
    pub(super) fn exec(&mut self, op: &Op, now_ms: u64, page_max: usize) -> Outcome {
        match op {
            Op::Key(key, command) => {
                let cur = self.0.get(key).cloned().flatten();
                let (new, reply) = command.apply(&cur, now_ms, MAX);
                // As the proposer: a value already expired is written as its tombstone.
                let new = new.filter(|r| !r.is_expired(now_ms));
                self.0.insert(key.clone(), new);
                Outcome::Ok(reply)
            }
            Op::List { after, count } => {
                // Every stored value is listed, expired ones too (as acceptors do).
                let live: Vec<Key> = self
                    .0
                    .iter()
                    .filter(|(k, v)| v.is_some() && after.as_ref().is_none_or(|a| *k > a))
                    .map(|(k, _)| k.clone())
                    .take((*count).min(page_max) + 1)
                    .collect();
                let n = (*count).min(page_max);
                let more = live.len() > n;
                let keys: Vec<Key> = live.into_iter().take(n).collect();
                let next = if more { keys.last().cloned() } else { None };
                Outcome::Ok(CoreReply::Keys { keys, next })
            }
        }
    }

    pub(super) fn run(&mut self, s: &[&str], now_ms: u64, cursors: &mut ScanCursors) -> Reply {
        let p = plan_at(s, now_ms);
        drive(p, now_ms, cursors, |op| self.exec(op, now_ms, 1_000))
    }
}
