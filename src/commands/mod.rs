//! The command layer: RESP commands in, core requests out, and back.
//!
//! Pure and synchronous: the runtime's client connection hands [`plan`] the
//! arguments of one RESP command, the wall clock (relative TTLs become
//! absolute deadlines here, at the time of the request) and the connection's
//! [`Session`], and gets either an immediate [`Reply`] (PING, ECHO, COMMAND,
//! HELLO, CLIENT, errors), a request for the node's state (INFO), or a
//! [`CoreCall`]: a small state machine that asks the runtime to run core
//! operations ([`Op`]: a per-key command, or one page of a cluster key
//! listing) in batches, and folds their [`Outcome`]s, which may complete in
//! any order, into the one RESP reply the client expects.
//!
//! Every per-key operation is linearizable on its own. Multi-key commands
//! (MGET, MSET, DEL and EXISTS of several keys, KEYS, SCAN, DBSIZE,
//! FLUSHALL) are one operation per key: not atomic across keys. KEYS, SCAN
//! and DBSIZE list candidate keys from the members (core/listing.rs), then
//! read each candidate, because a lagging replica may still list a key
//! deleted since; FLUSHALL deletes every listed key through consensus.
//!
//! Outcomes are told honestly: `Ok` gives the command's normal reply;
//! `Failed(reason)` becomes `-FAILED <reason>` (certainly not applied);
//! `Unknown(reason)` becomes `-UNKNOWN <reason>` (may have been applied).
//!
//! ## Where things are
//!
//! One file per command family, as Redis splits t_string.c, expire.c, db.c:
//! each holds its commands' table entries ([`spec::Spec`], gathered in
//! [`spec::FAMILIES`]) and its planner (arguments to a [`Plan`]).
//!
//! - `string.rs`: GET, SET and the other string commands, LCS, MSETNX.
//! - `bitmap.rs`: SETBIT, GETBIT, BITCOUNT, BITPOS.
//! - `hash.rs`, `set.rs`, `zset.rs`, `list.rs`: the data types, each
//!   command one change function on one key (core/types/); `set.rs` also
//!   holds the cross-key rule (CROSSSLOT) and the collection scans.
//! - `expire.rs`: EXPIRE family, TTL family, PERSIST.
//! - `keys.rs`: DEL, EXISTS, TOUCH, TYPE, OBJECT, RENAME, COPY; the
//!   listings KEYS, SCAN, DBSIZE, FLUSHALL, RANDOMKEY.
//! - `connection.rs`: PING, ECHO, SELECT, HELLO, CLIENT, QUIT, COMMAND.
//! - `config.rs`: CONFIG. `info.rs`: INFO. `admin.rs`: ADMIN.
//! - `acl.rs`: AUTH, ACL; users, rights and the check every command passes.
//! - `call.rs`: [`CoreCall`], which runs a command's core operations and
//!   folds their outcomes into a reply. `glob.rs`: Redis's glob patterns.
//!
//! To add a family: a new file with a `FAMILY` (its table entries and its
//! planner), a `mod` line below, and one line in [`spec::FAMILIES`].

mod acl;
mod admin;
mod bitmap;
mod call;
mod config;
mod connection;
mod expire;
mod glob;
mod hash;
mod info;
mod keys;
mod list;
mod multi;
#[cfg(test)]
mod redis_model;
mod script;
mod set;
mod slowlog;
mod spec;
mod string;
#[cfg(test)]
mod testing;
mod zset;

pub use acl::{Acl, Auth, Rights, Users};
use call::CallKind;
pub use call::{single_request_reply, Combine, CoreCall};
pub use config::ConfigRequest;
pub use glob::glob_match;
pub use info::{info_text, redact_info, stats_fields, InfoSnapshot, PeerInfo, INFO_SECTIONS};
pub use keys::{ScanCursors, KEYS_REPLY_MAX, LIST_PAGE_KEYS_MAX, SCAN_CURSORS_MAX};
pub use script::{sha1_hex, ScriptCache};
pub use slowlog::SlowlogRequest;
pub use string::get_range;

use crate::core::command::{parse_i64, ERR_NOT_INTEGER};
use crate::core::{Command, Key, NodeId};
use crate::resp::{Protocol, Reply};
use std::fmt::Write as _;

/// The server's version, shown by INFO and HELLO.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

fn syntax_error() -> Reply {
    Reply::error("ERR syntax error")
}

fn not_integer() -> Reply {
    Reply::error(ERR_NOT_INTEGER)
}

/// What one client connection remembers between commands.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Session {
    /// CLIENT ID: unique per node, set by the runtime.
    pub id: u64,
    /// The client's address, for CLIENT INFO.
    pub addr: String,
    /// CLIENT SETNAME's name (None: never set, or set to "").
    pub name: Option<String>,
    /// CLIENT SETINFO lib-name / lib-ver.
    pub lib_name: String,
    pub lib_ver: String,
    /// Who the connection is authenticated as, and may do (acl.rs).
    pub auth: Auth,
    /// The node's users (shared by its connections).
    pub acl: Users,
    /// MULTI's queue and the WATCHed key (multi.rs).
    pub tx: multi::TxState,
    /// The reply protocol HELLO chose (RESP2 until `HELLO 3`).
    pub protocol: Protocol,
    /// The node's scripts (SCRIPT LOAD, EVALSHA), shared by its connections.
    pub scripts: ScriptCache,
}

/// What to do with one client command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Plan {
    /// Answer at once with this reply.
    Reply(Reply),
    /// Answer `+OK`, then close the connection.
    Quit,
    /// Answer with the node's INFO text, for `sections` (lowercase; none:
    /// the default sections).
    Info { sections: Vec<String> },
    /// Run core operations in steps, driven through [`CoreCall::start`] and
    /// [`CoreCall::resume`].
    Core(CoreCall),
    /// CONFIG GET / SET / RESETSTAT, answered by the node with its live settings.
    Config(ConfigRequest),
    /// SLOWLOG GET / LEN / RESET, answered from the node's metrics.
    Slowlog(SlowlogRequest),
    /// SHUTDOWN: the node stops gracefully (answered `+OK` first).
    Shutdown,
    /// `ADMIN DECLARE-LOST`: a recovering node stops waiting for peers that
    /// lost their memory too, and votes (accepting that their data is gone).
    DeclareLost,
    /// `ADMIN ADD-NODE ID ADDR` / `REMOVE-NODE ID` / `REPLACE-NODE ID NEWID
    /// ADDR`: start a membership change (membership.rs); answered with the
    /// joint epoch's number, or why it is refused.
    ChangeMembership {
        add: Vec<(NodeId, String)>,
        remove: Vec<NodeId>,
    },
}

/// One core operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// Run `command` on `key` (`Input::Request`).
    Key(Key, Command),
    /// List a page of the cluster's keys after `after` (`Input::ListKeys`).
    List { after: Option<Key>, count: usize },
}

/// What a [`CoreCall`] wants next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Run these operations (concurrently), then call `resume` with their
    /// outcomes in the same order.
    Run(Vec<Op>),
    /// The command is finished: send this reply.
    Done(Reply),
}

/// What the runtime lends a call while it steps: the time and the node's
/// SCAN cursors.
pub struct CallCtx<'a> {
    /// Wall-clock ms (TTL and PTTL are relative to it).
    pub now_ms: u64,
    /// The node's cursor table.
    pub cursors: &'a mut ScanCursors,
}

/// One command as its family's planner sees it: arity already checked.
pub(crate) struct Args<'a> {
    /// The command's name, lowercase.
    pub name: &'a str,
    /// The arguments after the name. Mutable so that a planner can move a
    /// value into its command (`std::mem::take`) instead of copying it: a
    /// 16 MiB SET argument was copied here, on the executor thread every
    /// other request waits for (issue 14). Nothing reads them after planning.
    pub a: &'a mut [Vec<u8>],
    /// Wall-clock ms at the request (relative TTLs become deadlines from it).
    pub now_ms: u64,
    /// The connection's state.
    pub session: &'a mut Session,
}

/// Plans one command given its arguments (the command name first), the wall
/// clock in ms, and the connection's session.
pub fn plan(mut args: Vec<Vec<u8>>, now_ms: u64, session: &mut Session) -> Plan {
    let Some(first) = args.first() else {
        // A parser never yields an empty command; answer as Redis would anyway.
        return Plan::Reply(Reply::error("ERR empty command"));
    };
    let name = String::from_utf8_lossy(first).to_ascii_lowercase();
    // ACL first (acl.rs): a refused command is refused inside MULTI too,
    // and makes EXEC answer EXECABORT like any command refused there.
    let refused =
        spec::find(&name).and_then(|(spec, _)| acl::refusal(&session.auth, &name, spec.flags));
    if let Some(r) = multi::while_queuing(&name, &args, &mut session.tx, refused.clone()) {
        return Plan::Reply(r);
    }
    if let Some(refused) = refused {
        return Plan::Reply(refused);
    }
    let planner = match check_arity(&name, &args) {
        Ok(planner) => planner,
        Err(r) => return Plan::Reply(r),
    };
    let mut call = Args {
        name: &name,
        a: &mut args[1..],
        now_ms,
        session,
    };
    match planner(&mut call) {
        Ok(p) => p,
        Err(r) => Plan::Reply(r),
    }
}

/// The planner of command `name` if `args` (the name first) fit its arity.
fn check_arity(name: &str, args: &[Vec<u8>]) -> Result<spec::Planner, Reply> {
    let Some((spec, planner)) = spec::find(name) else {
        return Err(unknown_command(args));
    };
    let argc = args.len() as i64;
    let arity = spec.arity;
    if (arity > 0 && argc != arity) || (arity < 0 && argc < -arity) {
        return Err(wrong_arity(name));
    }
    Ok(planner)
}

type Planned = Result<Plan, Reply>;

/// The table's name of the command whose name is `arg` (any case), if known:
/// how commandstats and the SLOWLOG name it.
pub fn command_name(arg: &[u8]) -> Option<&'static str> {
    spec::find(&String::from_utf8_lossy(arg).to_ascii_lowercase()).map(|(s, _)| s.name)
}

fn core(requests: Vec<(Key, Command)>, combine: Combine) -> Planned {
    Ok(Plan::Core(CoreCall {
        kind: CallKind::Keys { requests, combine },
    }))
}

fn one(key: &[u8], command: Command, combine: Combine) -> Planned {
    core(vec![(key.to_vec(), command)], combine)
}

fn reply(r: Reply) -> Planned {
    Ok(Plan::Reply(r))
}

fn upper(arg: &[u8]) -> String {
    String::from_utf8_lossy(arg).to_ascii_uppercase()
}

fn int_arg(arg: &[u8]) -> Result<i64, Reply> {
    parse_i64(arg).ok_or_else(not_integer)
}

/// Redis's text for an unknown command: the name (128 bytes at most), then the
/// first arguments, each quoted and followed by a space, while under 128 bytes.
pub fn unknown_command(args: &[Vec<u8>]) -> Reply {
    let name = args.first().map(|a| truncated(a, 128)).unwrap_or_default();
    let mut shown = String::new();
    for arg in args.iter().skip(1) {
        if shown.len() >= 128 {
            break;
        }
        let room = 128 - shown.len();
        let _ = write!(shown, "'{}' ", truncated(arg, room));
    }
    Reply::error(format!(
        "ERR unknown command '{name}', with args beginning with: {shown}"
    ))
}

fn truncated(bytes: &[u8], max: usize) -> String {
    String::from_utf8_lossy(&bytes[..bytes.len().min(max)]).into_owned()
}

/// Redis's text for a wrong number of arguments.
pub fn wrong_arity(name: &str) -> Reply {
    Reply::error(format!(
        "ERR wrong number of arguments for '{name}' command"
    ))
}

fn bulk(s: &str) -> Reply {
    Reply::Bulk(s.as_bytes().to_vec())
}

/// Redis 7's errors for a subcommand: unknown, or known with the wrong arguments.
fn subcommand_error(container: &str, sub: &[u8], known: &[&str]) -> Reply {
    let name = String::from_utf8_lossy(sub).to_ascii_lowercase();
    if known.contains(&name.as_str()) {
        return wrong_arity(&format!("{container}|{name}"));
    }
    Reply::error(format!(
        "ERR unknown subcommand '{}'. Try {} HELP.",
        truncated(sub, 128),
        container.to_ascii_uppercase()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::testing::reply;
    use crate::commands::testing::*;

    // ---- Errors, word for word as Redis 7 ----

    #[test]
    fn unknown_command_matches_redis_text() {
        assert_eq!(
            reply(&["foo", "a", "b"]),
            err("ERR unknown command 'foo', with args beginning with: 'a' 'b' ")
        );
        assert_eq!(
            reply(&["foo"]),
            err("ERR unknown command 'foo', with args beginning with: ")
        );
        let long = "x".repeat(300);
        assert_eq!(
            reply(&["foo", &long, "b"]),
            err(&format!(
                "ERR unknown command 'foo', with args beginning with: '{}' ",
                "x".repeat(128)
            ))
        );
    }

    #[test]
    fn every_command_refuses_too_few_arguments_with_redis_text() {
        for s in spec::all() {
            let need = s.arity.unsigned_abs() as usize;
            if need < 2 {
                continue;
            }
            let mut a = vec![s.name.to_uppercase()];
            a.extend((2..need).map(|i| format!("a{i}")));
            let a: Vec<&str> = a.iter().map(String::as_str).collect();
            assert_eq!(
                reply(&a),
                err(&format!(
                    "ERR wrong number of arguments for '{}' command",
                    s.name
                )),
                "{a:?}"
            );
        }
        for a in [
            &["get", "k", "x"][..],
            &["ping", "a", "b"],
            &["mset", "a", "1", "b"],
            &["dbsize", "x"],
            &["echo"],
        ] {
            let name = a[0];
            assert_eq!(
                reply(a),
                err(&format!(
                    "ERR wrong number of arguments for '{name}' command"
                )),
                "{a:?}"
            );
        }
    }

    /// Each case was checked against redis-server 7.0 (scripts/redis-compare.sh).
    #[test]
    fn syntax_and_value_errors_match_redis() {
        let not_int = "ERR value is not an integer or out of range";
        let cases: &[(&[&str], &str)] = &[
            (&["set", "k", "v", "NX", "XX"], "ERR syntax error"),
            (&["set", "k", "v", "ex", "1", "px", "1"], "ERR syntax error"),
            (&["set", "k", "v", "keepttl", "ex", "1"], "ERR syntax error"),
            (&["set", "k", "v", "nx", "xx"], "ERR syntax error"),
            (
                &["set", "k", "v", "exat", "1", "keepttl"],
                "ERR syntax error",
            ),
            (&["set", "k", "v", "ex"], "ERR syntax error"),
            (&["set", "k", "v", "foo"], "ERR syntax error"),
            (
                &["set", "k", "v", "EX", "0"],
                "ERR invalid expire time in 'set' command",
            ),
            (
                &["set", "k", "v", "px", "-5"],
                "ERR invalid expire time in 'set' command",
            ),
            (
                &["set", "k", "v", "ex", "9223372036854775807"],
                "ERR invalid expire time in 'set' command",
            ),
            (&["set", "k", "v", "ex", "abc"], not_int),
            (
                &["setex", "k", "0", "v"],
                "ERR invalid expire time in 'setex' command",
            ),
            (
                &["psetex", "k", "-1", "v"],
                "ERR invalid expire time in 'psetex' command",
            ),
            (&["setex", "k", "x", "v"], not_int),
            (
                &["getex", "k", "ex", "0"],
                "ERR invalid expire time in 'getex' command",
            ),
            (&["getex", "k", "ex", "10", "px", "10"], "ERR syntax error"),
            (&["getex", "k", "persist", "ex", "1"], "ERR syntax error"),
            (&["getex", "k", "foo"], "ERR syntax error"),
            (&["incrby", "k", "1.5"], not_int),
            (
                &["decrby", "k", "-9223372036854775808"],
                "ERR decrement would overflow",
            ),
            (
                &["incrbyfloat", "k", "abc"],
                "ERR value is not a valid float",
            ),
            (&["setrange", "k", "-1", "x"], "ERR offset is out of range"),
            (&["getrange", "k", "a", "b"], not_int),
            (
                &["expire", "k", "10", "nx", "xx"],
                "ERR NX and XX, GT or LT options at the same time are not compatible",
            ),
            (
                &["expire", "k", "10", "gt", "lt"],
                "ERR GT and LT options at the same time are not compatible",
            ),
            (&["expire", "k", "10", "foo"], "ERR Unsupported option foo"),
            (&["expire", "k", "x"], not_int),
            (
                &["pexpire", "k", "9223372036854775807"],
                "ERR invalid expire time in 'pexpire' command",
            ),
            (&["scan", "abc"], "ERR invalid cursor"),
            (&["scan", "-1"], "ERR invalid cursor"),
            (&["scan", "0", "count", "0"], "ERR syntax error"),
            (&["scan", "0", "match"], "ERR syntax error"),
            (&["scan", "0", "foo", "x"], "ERR syntax error"),
            (&["flushall", "foo"], "ERR syntax error"),
            (&["select", "x"], not_int),
            (&["select", "1"], "ERR DB index is out of range"),
            (&["select", "100"], "ERR DB index is out of range"),
            (&["hello", "4"], "NOPROTO unsupported protocol version"),
            (
                &["hello", "x"],
                "ERR Protocol version is not an integer or out of range",
            ),
            (
                &["hello", "2", "foo"],
                "ERR Syntax error in HELLO option 'foo'",
            ),
            (
                &["client", "foo"],
                "ERR unknown subcommand 'foo'. Try CLIENT HELP.",
            ),
            (
                &["client", "setname"],
                "ERR wrong number of arguments for 'client|setname' command",
            ),
            (
                &["client", "setname", "a b"],
                "ERR Client names cannot contain spaces, newlines or special characters.",
            ),
            (
                &["client", "setinfo", "foo", "bar"],
                "ERR Unrecognized option 'foo'",
            ),
            (
                &["command", "foo"],
                "ERR unknown subcommand 'foo'. Try COMMAND HELP.",
            ),
        ];
        for (a, e) in cases {
            assert_eq!(reply(a), err(e), "{a:?}");
        }
    }
}
