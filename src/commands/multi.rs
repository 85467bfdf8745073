//! Transactions (Redis's multi.c): MULTI, EXEC, DISCARD, WATCH, UNWATCH, as
//! Redis Cluster users know them.
//!
//! After MULTI, commands are checked (name, arity) and queued; none runs
//! before EXEC. A command refused while queuing (unknown, wrong arity) makes
//! EXEC answer `EXECABORT` and run nothing, as Redis does. At EXEC every
//! queued command is planned; if all of them (and every watched key) touch
//! one key, the transaction is one composed change, `Command::Multi`, run by
//! one Paxos round: atomic and linearizable, each command with its own reply
//! in EXEC's array. A transaction over several keys is refused with Redis
//! Cluster's CROSSSLOT error and nothing of it runs: synod has no
//! cross-key atomicity. Commands that are not per-key (KEYS, SCAN, DBSIZE,
//! FLUSHALL, INFO, ...) are refused inside a transaction the same way.
//!
//! WATCH reads the key's version (the ballot of the last change that built
//! its value, core/lineage.rs) through a round; EXEC then runs only if the
//! version is still the same, checked inside the transaction's own round (a
//! compare-and-swap on the version): otherwise EXEC answers a nil array and
//! nothing is applied. An EXEC whose round ends FAILED applied nothing; one
//! that ends UNKNOWN may have applied all of it or none of it (never part).

use super::call::{finish_parts, CallKind, Part};
use super::spec::{spec, Family, ALL, NONE};
use super::{plan, unknown_command, Args, CallCtx, Plan, Planned, Step};
use crate::core::{Ballot, Command, Key, Outcome, Reply as CoreReply};
use crate::resp::Reply;
use parking_lot::Mutex;
use std::fmt;
use std::sync::Arc;

/// Commands one transaction may queue (a bound, so a client cannot make the
/// node buffer without limit).
pub const MULTI_QUEUE_MAX: usize = 10_000;

/// Redis Cluster's refusal of a command whose keys are in different slots.
pub const ERR_CROSSSLOT: &str = "CROSSSLOT Keys in request don't hash to the same slot";

pub(super) const FAMILY: Family = Family {
    plan: plan_multi,
    commands: &[
        spec("multi", 1, &["noscript", "loading", "stale", "fast"], NONE, "transactions", "Starts a transaction: later commands are queued until EXEC."),
        spec("exec", 1, &["noscript", "loading", "stale"], NONE, "transactions", "Runs the queued commands: on one key, as one atomic, linearizable change (one Paxos round); over several keys, refused (CROSSSLOT)."),
        spec("discard", 1, &["noscript", "loading", "stale", "fast"], NONE, "transactions", "Discards the queued commands."),
        spec("watch", -2, &["noscript", "loading", "stale", "fast"], ALL, "transactions", "Makes EXEC answer nil if the key changes before it (a compare-and-swap on the key's version)."),
        spec("unwatch", 1, &["noscript", "loading", "stale", "fast"], NONE, "transactions", "Forgets the watched keys."),
    ],
};

/// The commands queued since MULTI.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Queued {
    commands: Vec<Vec<Vec<u8>>>,
    /// A command was refused while queuing: EXEC answers EXECABORT.
    aborted: bool,
}

/// What WATCH learned of a key's version; filled in when its round ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WatchState {
    /// The WATCH's round is still running.
    Pending,
    /// The version seen.
    Version(Ballot),
    /// The WATCH's round failed: EXEC refuses to run.
    Failed,
}

/// A watched key's version, shared between the connection (which reads it
/// at EXEC) and the WATCH's call (which fills it in when its round ends).
#[derive(Clone)]
pub struct WatchCell(Arc<Mutex<WatchState>>);

impl WatchCell {
    fn new() -> WatchCell {
        WatchCell(Arc::new(Mutex::new(WatchState::Pending)))
    }

    fn set(&self, state: WatchState) {
        *self.0.lock() = state;
    }

    fn get(&self) -> WatchState {
        self.0.lock().clone()
    }
}

impl fmt::Debug for WatchCell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WatchCell({:?})", self.get())
    }
}

impl PartialEq for WatchCell {
    fn eq(&self, other: &WatchCell) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for WatchCell {}

/// A connection's transaction state: the queue after MULTI, the watched keys.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TxState {
    pub(super) queued: Option<Queued>,
    pub(super) watched: Vec<(Key, WatchCell)>,
}

/// Called for every command while a transaction is open: queue it, or
/// answer it at once (EXEC, DISCARD, and the refusals). None: not in MULTI.
/// `refused`: the ACL's refusal of the command, if any.
pub(super) fn while_queuing(
    name: &str,
    args: &[Vec<u8>],
    tx: &mut TxState,
    refused: Option<Reply>,
) -> Option<Reply> {
    let queued = tx.queued.as_mut()?;
    if matches!(name, "exec" | "discard") {
        return None;
    }
    let refusal = match name {
        "multi" => return Some(Reply::error("ERR MULTI calls can not be nested")),
        "watch" => Some(Reply::error("ERR WATCH inside MULTI is not allowed")),
        _ if refused.is_some() => refused,
        _ => match super::check_arity(name, args) {
            Err(r) => Some(r),
            Ok(_) if queued.commands.len() >= MULTI_QUEUE_MAX => Some(Reply::error(format!(
                "ERR a transaction holds at most {MULTI_QUEUE_MAX} commands"
            ))),
            Ok(_) => None,
        },
    };
    if let Some(r) = refusal {
        queued.aborted = true;
        return Some(r);
    }
    queued.commands.push(args.to_vec());
    Some(Reply::Simple("QUEUED".into()))
}

fn plan_multi(c: &mut Args<'_>) -> Planned {
    let tx = &mut c.session.tx;
    match c.name {
        "multi" => {
            tx.queued = Some(Queued::default());
            Ok(Plan::Reply(Reply::ok()))
        }
        "discard" => match tx.queued.take() {
            Some(_) => {
                tx.watched.clear();
                Ok(Plan::Reply(Reply::ok()))
            }
            None => Err(Reply::error("ERR DISCARD without MULTI")),
        },
        "unwatch" => {
            tx.watched.clear();
            Ok(Plan::Reply(Reply::ok()))
        }
        "watch" => watch(c),
        "exec" => exec(c),
        _ => Err(unknown_command(&[c.name.as_bytes().to_vec()])),
    }
}

/// WATCH key [key ...]: every key must be one key (one "slot").
fn watch(c: &mut Args<'_>) -> Planned {
    let key = c.a[0].clone();
    if c.a.iter().any(|k| *k != key) || c.session.tx.watched.iter().any(|(k, _)| *k != key) {
        return Err(Reply::error(ERR_CROSSSLOT));
    }
    let cell = WatchCell::new();
    c.session.tx.watched = vec![(key.clone(), cell.clone())];
    Ok(Plan::Core(super::CoreCall {
        kind: CallKind::Watch { key, cell },
    }))
}

/// EXEC: plan every queued command, check they touch one key, and build the
/// one composed change.
fn exec(c: &mut Args<'_>) -> Planned {
    let Some(queued) = c.session.tx.queued.take() else {
        return Err(Reply::error("ERR EXEC without MULTI"));
    };
    let watched = std::mem::take(&mut c.session.tx.watched);
    if queued.aborted {
        return Err(Reply::error(
            "EXECABORT Transaction discarded because of previous errors.",
        ));
    }
    let mut parts = Vec::with_capacity(queued.commands.len());
    let mut key: Option<Key> = watched.first().map(|(k, _)| k.clone());
    for args in queued.commands {
        let name = String::from_utf8_lossy(&args[0]).to_ascii_lowercase();
        match plan(args, c.now_ms, c.session) {
            Plan::Reply(r) => parts.push(Part::Now(r)),
            Plan::Core(super::CoreCall {
                kind: CallKind::Keys { requests, combine },
            }) => {
                for (k, _) in &requests {
                    match &key {
                        Some(first) if first != k => return Err(Reply::error(ERR_CROSSSLOT)),
                        _ => key = Some(k.clone()),
                    }
                }
                parts.push(Part::Keys { requests, combine });
            }
            _ => {
                return Err(Reply::error(format!(
                    "ERR '{name}' is not allowed in a transaction: only commands on one key are"
                )))
            }
        }
    }
    let Some(key) = key else {
        // Nothing touches a key: the immediate replies are the whole answer.
        let replies = parts
            .into_iter()
            .map(|p| match p {
                Part::Now(r) => r,
                Part::Keys { .. } => unreachable!("a keyed part names a key"),
            })
            .collect();
        return Ok(Plan::Reply(Reply::Array(replies)));
    };
    Ok(Plan::Core(super::CoreCall {
        kind: CallKind::Exec {
            key,
            parts,
            watched: watched.into_iter().map(|(_, cell)| cell).collect(),
        },
    }))
}

/// The first step of EXEC: one request, the composed transaction.
pub(super) fn exec_start(key: &Key, parts: &[Part], watched: &[WatchCell]) -> Step {
    let mut watch = None;
    for cell in watched {
        match cell.get() {
            WatchState::Version(v) => watch = Some(v),
            WatchState::Pending => {
                return Step::Done(Reply::error(
                    "ERR WATCH has not answered yet: wait for its reply before EXEC",
                ))
            }
            WatchState::Failed => {
                return Step::Done(Reply::error(
                    "FAILED WATCH did not learn the key's version; nothing was applied",
                ))
            }
        }
    }
    let commands = parts
        .iter()
        .flat_map(|p| match p {
            Part::Now(_) => Vec::new(),
            Part::Keys { requests, .. } => requests.iter().map(|(_, c)| c.clone()).collect(),
        })
        .collect();
    Step::Run(vec![super::Op::Key(
        key.clone(),
        Command::Multi { commands, watch },
    )])
}

/// EXEC's reply from the transaction's outcome.
pub(super) fn exec_finish(parts: &[Part], outcome: &Outcome, ctx: &CallCtx<'_>) -> Reply {
    match outcome {
        Outcome::Ok(CoreReply::Multi(None)) => Reply::NilArray,
        Outcome::Ok(CoreReply::Multi(Some(replies))) => finish_parts(parts, replies, ctx.now_ms),
        Outcome::Ok(other) => super::call::unexpected(Some(other)),
        Outcome::Failed(why) if why.starts_with("OOM ") => Reply::error(why.clone()),
        Outcome::Failed(why) => Reply::error(format!("FAILED {why}")),
        Outcome::Unknown(why) => Reply::error(format!(
            "UNKNOWN {why} (all of the transaction or none of it)"
        )),
    }
}

/// WATCH's reply, once its round ends; fills in the version.
pub(super) fn watch_finish(cell: &WatchCell, outcome: &Outcome) -> Reply {
    match outcome {
        Outcome::Ok(CoreReply::Version(v)) => {
            cell.set(WatchState::Version(*v));
            Reply::ok()
        }
        Outcome::Ok(other) => {
            cell.set(WatchState::Failed);
            super::call::unexpected(Some(other))
        }
        Outcome::Failed(why) | Outcome::Unknown(why) => {
            cell.set(WatchState::Failed);
            Reply::error(format!("FAILED {why}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::testing::*;

    fn run(session: &mut Session, s: &[&str]) -> Plan {
        plan(args(s), NOW, session)
    }

    fn immediate(session: &mut Session, s: &[&str]) -> Reply {
        match run(session, s) {
            Plan::Reply(r) => r,
            other => panic!("expected an immediate reply to {s:?}, got {other:?}"),
        }
    }

    fn exec_call(session: &mut Session) -> super::super::CoreCall {
        match run(session, &["exec"]) {
            Plan::Core(c) => c,
            other => panic!("expected a core call for EXEC, got {other:?}"),
        }
    }

    fn step(c: &mut super::super::CoreCall, outcomes: Option<Vec<Outcome>>) -> Step {
        let mut cursors = ScanCursors::default();
        let mut ctx = CallCtx {
            now_ms: NOW,
            cursors: &mut cursors,
        };
        match outcomes {
            None => c.start(&mut ctx),
            Some(o) => c.resume(o, &mut ctx),
        }
    }

    #[test]
    fn queued_commands_run_as_one_composed_change_of_one_key() {
        let mut s = Session::default();
        assert_eq!(immediate(&mut s, &["multi"]), Reply::ok());
        assert_eq!(
            immediate(&mut s, &["set", "k", "1"]),
            Reply::Simple("QUEUED".into())
        );
        assert_eq!(
            immediate(&mut s, &["incr", "k"]),
            Reply::Simple("QUEUED".into())
        );
        assert_eq!(immediate(&mut s, &["ping"]), Reply::Simple("QUEUED".into()));
        let mut c = exec_call(&mut s);
        let Step::Run(ops) = step(&mut c, None) else {
            panic!("EXEC runs one request");
        };
        assert_eq!(
            ops,
            vec![super::super::Op::Key(
                k("k"),
                Command::Multi {
                    commands: vec![Command::Set(k("1").into()), Command::IncrBy(1)],
                    watch: None
                }
            )]
        );
        let replies = CoreReply::Multi(Some(vec![CoreReply::Done, CoreReply::Integer(2)]));
        assert_eq!(
            step(&mut c, Some(vec![ok(replies)])),
            Step::Done(Reply::Array(vec![
                Reply::ok(),
                Reply::Integer(2),
                Reply::Simple("PONG".into())
            ]))
        );
        assert_eq!(s.tx, TxState::default(), "the transaction is over");
    }

    #[test]
    fn a_transaction_over_two_keys_is_refused_and_runs_nothing() {
        let mut s = Session::default();
        immediate(&mut s, &["multi"]);
        immediate(&mut s, &["set", "a", "1"]);
        immediate(&mut s, &["incr", "b"]);
        assert_eq!(
            run(&mut s, &["exec"]),
            Plan::Reply(Reply::error(ERR_CROSSSLOT))
        );
        // MSET of two keys is two keys too.
        immediate(&mut s, &["multi"]);
        immediate(&mut s, &["mset", "a", "1", "b", "2"]);
        assert_eq!(
            run(&mut s, &["exec"]),
            Plan::Reply(Reply::error(ERR_CROSSSLOT))
        );
    }

    #[test]
    fn an_unknown_command_while_queuing_aborts_exec() {
        let mut s = Session::default();
        immediate(&mut s, &["multi"]);
        immediate(&mut s, &["set", "k", "1"]);
        assert!(matches!(
            immediate(&mut s, &["nosuchcommand", "x"]),
            Reply::Error(e) if e.starts_with("ERR unknown command")
        ));
        assert!(matches!(
            immediate(&mut s, &["get"]),
            Reply::Error(e) if e.starts_with("ERR wrong number")
        ));
        assert_eq!(
            run(&mut s, &["exec"]),
            Plan::Reply(Reply::error(
                "EXECABORT Transaction discarded because of previous errors."
            ))
        );
        assert_eq!(
            run(&mut s, &["exec"]),
            Plan::Reply(Reply::error("ERR EXEC without MULTI"))
        );
    }

    #[test]
    fn discard_nesting_and_listings_are_answered_as_redis_does() {
        let mut s = Session::default();
        assert_eq!(
            immediate(&mut s, &["discard"]),
            Reply::error("ERR DISCARD without MULTI")
        );
        immediate(&mut s, &["multi"]);
        assert_eq!(
            immediate(&mut s, &["multi"]),
            Reply::error("ERR MULTI calls can not be nested")
        );
        immediate(&mut s, &["set", "k", "1"]);
        assert_eq!(immediate(&mut s, &["discard"]), Reply::ok());
        assert_eq!(s.tx, TxState::default());
        immediate(&mut s, &["multi"]);
        immediate(&mut s, &["keys", "*"]);
        assert!(matches!(
            run(&mut s, &["exec"]),
            Plan::Reply(Reply::Error(e)) if e.contains("not allowed in a transaction")
        ));
    }

    #[test]
    fn watch_compares_the_version_inside_the_transaction() {
        let mut s = Session::default();
        let Plan::Core(mut w) = run(&mut s, &["watch", "k"]) else {
            panic!("WATCH runs a round");
        };
        assert!(
            matches!(step(&mut w, None), Step::Run(ops) if ops == vec![super::super::Op::Key(k("k"), Command::Watch)])
        );
        let v = Ballot::new(7, 2, 1);
        assert_eq!(
            step(&mut w, Some(vec![ok(CoreReply::Version(v))])),
            Step::Done(Reply::ok())
        );
        immediate(&mut s, &["multi"]);
        immediate(&mut s, &["incr", "k"]);
        let mut c = exec_call(&mut s);
        assert_eq!(
            step(&mut c, None),
            Step::Run(vec![super::super::Op::Key(
                k("k"),
                Command::Multi {
                    commands: vec![Command::IncrBy(1)],
                    watch: Some(v)
                }
            )])
        );
        // The key changed since WATCH: nil, nothing applied.
        assert_eq!(
            step(&mut c, Some(vec![ok(CoreReply::Multi(None))])),
            Step::Done(Reply::NilArray)
        );
        // Watching another key than the transaction's: CROSSSLOT.
        run(&mut s, &["watch", "a"]);
        immediate(&mut s, &["multi"]);
        immediate(&mut s, &["incr", "b"]);
        assert_eq!(
            run(&mut s, &["exec"]),
            Plan::Reply(Reply::error(ERR_CROSSSLOT))
        );
    }

    #[test]
    fn a_failed_or_unknown_transaction_says_so_for_the_whole() {
        let mut s = Session::default();
        immediate(&mut s, &["multi"]);
        immediate(&mut s, &["set", "k", "1"]);
        let mut c = exec_call(&mut s);
        step(&mut c, None);
        assert_eq!(
            step(&mut c, Some(vec![Outcome::Failed("no quorum".into())])),
            Step::Done(Reply::error("FAILED no quorum"))
        );
    }
}
