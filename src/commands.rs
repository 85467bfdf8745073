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

use crate::core::command::{parse_f64, parse_i64, ERR_NOT_FLOAT, ERR_NOT_INTEGER};
use crate::core::{
    Command, ExpireCond, Expiry, Incarnation, Key, NodeId, Outcome, RecoveryProgress,
    Reply as CoreReply, SetCond, Stats,
};
use crate::resp::Reply;
use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;

/// The server's version, shown by INFO and HELLO.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Keys per page of a cluster listing that this layer asks for: at most the
/// core's `list_keys_max` (1000 by default). SCAN's COUNT is clamped to it.
pub const LIST_PAGE_KEYS_MAX: usize = 1_000;

/// KEYS answers at most this many keys; past it, use SCAN. A reply of a
/// million keys is already tens of MB held in the node's memory at once.
pub const KEYS_REPLY_MAX: usize = 1_000_000;

/// SCAN cursors remembered per node; the oldest is forgotten first, and a
/// forgotten cursor answers `ERR invalid cursor` (restart the scan at 0).
pub const SCAN_CURSORS_MAX: usize = 1_024;

/// Redis's text for a bad expire time, per command.
fn invalid_expire(cmd: &str) -> Reply {
    Reply::error(format!("ERR invalid expire time in '{cmd}' command"))
}

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
}

/// What to do with one client command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Plan {
    /// Answer at once with this reply.
    Reply(Reply),
    /// Answer `+OK`, then close the connection.
    Quit,
    /// Answer with the node's INFO text, for `section` (None: the default sections).
    Info { section: Option<String> },
    /// Run core operations in steps, driven through [`CoreCall::start`] and
    /// [`CoreCall::resume`].
    Core(CoreCall),
    /// `ADMIN DECLARE-LOST`: a recovering node stops waiting for peers that
    /// lost their memory too, and votes (accepting that their data is gone).
    DeclareLost,
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

/// SCAN cursors: Redis clients parse cursors as integers, and ours are key
/// positions, so each node keeps a bounded table from integer to key.
#[derive(Clone, Debug, Default)]
pub struct ScanCursors {
    next_id: u64,
    by_id: BTreeMap<u64, Key>,
    order: VecDeque<u64>,
}

impl ScanCursors {
    /// Remembers `key` as a cursor, forgetting the oldest past [`SCAN_CURSORS_MAX`].
    pub fn insert(&mut self, key: Key) -> u64 {
        self.next_id += 1;
        let id = self.next_id;
        self.by_id.insert(id, key);
        self.order.push_back(id);
        while self.order.len() > SCAN_CURSORS_MAX {
            if let Some(old) = self.order.pop_front() {
                self.by_id.remove(&old);
            }
        }
        id
    }

    /// The key position of cursor `id`, if remembered.
    pub fn get(&self, id: u64) -> Option<&Key> {
        self.by_id.get(&id)
    }
}

/// The core operations of one client command and how to fold their outcomes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CoreCall {
    kind: CallKind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum CallKind {
    /// One batch of per-key commands, folded by `combine`.
    Keys {
        requests: Vec<(Key, Command)>,
        combine: Combine,
    },
    /// KEYS, SCAN, DBSIZE, FLUSHALL: list pages, then read (or delete) keys.
    Listing(ListCall),
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct ListCall {
    what: ListWhat,
    /// Keys whose names match (None: all).
    pattern: Option<Vec<u8>>,
    /// Where the next page starts; None before the first page.
    after: Option<Key>,
    /// Keys page size.
    count: usize,
    /// The operations of the running step, to read their outcomes against.
    running: Vec<Op>,
    /// The listing's next page cursor, once known (None inside: complete).
    next: Option<Option<Key>>,
    /// Keys found live (KEYS, SCAN) so far.
    found: Vec<Key>,
    /// Keys counted (DBSIZE) or deleted (FLUSHALL) so far.
    counted: u64,
    /// SCAN's cursor argument, resolved at `start`.
    scan_cursor: Option<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ListWhat {
    /// KEYS pattern: every live key, all pages.
    Keys,
    /// SCAN: one page; `type_ok` false when TYPE names a type we do not hold.
    Scan { type_ok: bool },
    /// DBSIZE: count live keys, all pages.
    DbSize,
    /// FLUSHALL / FLUSHDB: delete every key, all pages.
    Flush,
}

/// The shape of a per-key command's reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Combine {
    /// GET, GETDEL, GETEX: the value as a bulk string, or nil.
    Get,
    /// SET without GET: `+OK` if applied, nil if NX/XX stopped it.
    Set,
    /// SET ... GET, GETSET: the old value, or nil.
    SetGet,
    /// SETNX: 1 if set, 0 if not.
    SetNx,
    /// SETEX, PSETEX, MSET: `+OK`.
    Ok,
    /// DEL, UNLINK: how many of the keys existed.
    Del,
    /// EXISTS: how many of the keys exist.
    Exists,
    /// CAS: 1 if it swapped, 0 if the comparison failed.
    Cas,
    /// INCR family, APPEND, SETRANGE, EXPIRE family, PERSIST: the integer.
    Integer,
    /// INCRBYFLOAT: the number as a bulk string.
    Float,
    /// STRLEN: the value's length (0 if absent).
    Strlen,
    /// GETRANGE start end: the substring.
    GetRange(i64, i64),
    /// TYPE: `string` or `none`.
    Type,
    /// TTL family: relative or absolute, in seconds or ms.
    Ttl { ms: bool, absolute: bool },
    /// MGET: an array of values or nils.
    MGet,
}

/// A command's static description: name, arity as Redis states it (N > 0:
/// exactly N arguments, the name included; -N: at least N), flags, key
/// positions (first, last, step), COMMAND DOCS group and summary.
struct Spec {
    name: &'static str,
    arity: i64,
    flags: &'static [&'static str],
    keys: (i64, i64, i64),
    group: &'static str,
    summary: &'static str,
}

const fn spec(
    name: &'static str,
    arity: i64,
    flags: &'static [&'static str],
    keys: (i64, i64, i64),
    group: &'static str,
    summary: &'static str,
) -> Spec {
    Spec {
        name,
        arity,
        flags,
        keys,
        group,
        summary,
    }
}

const W: &[&str] = &["write", "denyoom"];
const WF: &[&str] = &["write", "denyoom", "fast"];
const R: &[&str] = &["readonly", "fast"];
const ONE: (i64, i64, i64) = (1, 1, 1);
const ALL: (i64, i64, i64) = (1, -1, 1);
const NONE: (i64, i64, i64) = (0, 0, 0);

/// The commands this server knows.
const COMMANDS: &[Spec] = &[
    spec("get", 2, R, ONE, "string", "Returns the string value of a key. Linearizable."),
    spec("set", -3, W, ONE, "string", "Sets the string value of a key, with optional expiry and NX/XX condition, optionally returning the old value. Linearizable."),
    spec("getset", 3, WF, ONE, "string", "Sets a key's value and returns its old value. Linearizable."),
    spec("getdel", 2, &["write", "fast"], ONE, "string", "Returns a key's value and deletes the key. Linearizable."),
    spec("getex", -2, &["write", "fast"], ONE, "string", "Returns a key's value and changes its expiry. Linearizable."),
    spec("setnx", 3, WF, ONE, "string", "Sets a key's value only if the key does not exist. Linearizable."),
    spec("setex", 4, W, ONE, "string", "Sets a key's value and its expiry in seconds. Linearizable."),
    spec("psetex", 4, W, ONE, "string", "Sets a key's value and its expiry in milliseconds. Linearizable."),
    spec("mget", -2, R, ALL, "string", "Returns the values of several keys. Each key is read linearizably; not atomic across keys."),
    spec("mset", -3, W, (1, -1, 2), "string", "Sets several keys. Each key is written linearizably; not atomic across keys."),
    spec("append", 3, W, ONE, "string", "Appends to a key's value. Linearizable."),
    spec("strlen", 2, R, ONE, "string", "Returns the length of a key's value. Linearizable."),
    spec("getrange", 4, &["readonly"], ONE, "string", "Returns a substring of a key's value. Linearizable."),
    spec("setrange", 4, W, ONE, "string", "Overwrites part of a key's value at an offset. Linearizable."),
    spec("incr", 2, WF, ONE, "string", "Increments a key's integer value by one. Linearizable."),
    spec("decr", 2, WF, ONE, "string", "Decrements a key's integer value by one. Linearizable."),
    spec("incrby", 3, WF, ONE, "string", "Increments a key's integer value by a number. Linearizable."),
    spec("decrby", 3, WF, ONE, "string", "Decrements a key's integer value by a number. Linearizable."),
    spec("incrbyfloat", 3, WF, ONE, "string", "Increments a key's number by a floating point number. Linearizable."),
    spec("cas", 4, W, ONE, "string", "synod: compare-and-swap; 1 if the value was `expected` (empty: absent) and is now `new`, else 0. Linearizable."),
    spec("del", -2, &["write"], ALL, "generic", "Deletes keys. Each key is deleted linearizably; not atomic across keys."),
    spec("unlink", -2, &["write", "fast"], ALL, "generic", "Deletes keys (same as DEL). Each key linearizably; not atomic across keys."),
    spec("exists", -2, R, ALL, "generic", "Counts the keys that exist. Each key read linearizably; not atomic across keys."),
    spec("type", 2, R, ONE, "generic", "Returns the type of a key: string or none. Linearizable."),
    spec("expire", -3, WF, ONE, "generic", "Sets a key's expiry in seconds (NX/XX/GT/LT). Linearizable."),
    spec("pexpire", -3, WF, ONE, "generic", "Sets a key's expiry in milliseconds (NX/XX/GT/LT). Linearizable."),
    spec("expireat", -3, WF, ONE, "generic", "Sets a key's expiry to a Unix time in seconds (NX/XX/GT/LT). Linearizable."),
    spec("pexpireat", -3, WF, ONE, "generic", "Sets a key's expiry to a Unix time in milliseconds (NX/XX/GT/LT). Linearizable."),
    spec("ttl", 2, R, ONE, "generic", "Returns a key's time to live in seconds (-2 absent, -1 no expiry). Linearizable."),
    spec("pttl", 2, R, ONE, "generic", "Returns a key's time to live in milliseconds (-2 absent, -1 no expiry). Linearizable."),
    spec("expiretime", 2, R, ONE, "generic", "Returns a key's expiry as a Unix time in seconds. Linearizable."),
    spec("pexpiretime", 2, R, ONE, "generic", "Returns a key's expiry as a Unix time in milliseconds. Linearizable."),
    spec("persist", 2, WF, ONE, "generic", "Removes a key's expiry. Linearizable."),
    spec("keys", 2, &["readonly"], NONE, "generic", "Returns the keys matching a pattern: a cluster listing, then a linearizable read per key; not atomic across keys."),
    spec("scan", -2, &["readonly"], NONE, "generic", "Iterates over keys: one listing page per call, then a linearizable read per key; not atomic across keys. Cursors are per node."),
    spec("dbsize", 1, &["readonly"], NONE, "server", "Counts the keys: a cluster listing, then a linearizable read per key; not atomic across keys."),
    spec("flushall", -1, &["write"], NONE, "server", "Deletes every key, each through consensus; not atomic across keys."),
    spec("flushdb", -1, &["write"], NONE, "server", "Deletes every key (database 0 is the only one), each through consensus; not atomic across keys."),
    spec("ping", -1, &["fast", "stale"], NONE, "connection", "Returns PONG, or the argument."),
    spec("echo", 2, &["fast"], NONE, "connection", "Returns the argument."),
    spec("select", 2, &["loading", "stale", "fast"], NONE, "connection", "Selects database 0, the only one."),
    spec("hello", -1, &["fast", "noauth"], NONE, "connection", "Handshake: protocol 2 only."),
    spec("client", -2, &["stale"], NONE, "connection", "CLIENT ID, SETNAME, GETNAME, SETINFO, INFO, LIST."),
    spec("quit", -1, &["fast"], NONE, "connection", "Closes the connection."),
    spec("info", -1, &["loading", "stale"], NONE, "server", "Returns the node's state and counters."),
    spec("command", -1, &["loading", "stale"], NONE, "server", "Describes the commands."),
    spec("config", -2, &["admin", "noscript"], NONE, "server", "CONFIG GET only (save, appendonly)."),
    spec("admin", 2, &["admin", "noscript"], NONE, "server", "synod: ADMIN DECLARE-LOST."),
];

/// Plans one command given its arguments (the command name first), the wall
/// clock in ms, and the connection's session.
pub fn plan(args: Vec<Vec<u8>>, now_ms: u64, session: &mut Session) -> Plan {
    let Some(first) = args.first() else {
        // A parser never yields an empty command; answer as Redis would anyway.
        return Plan::Reply(Reply::error("ERR empty command"));
    };
    let name = String::from_utf8_lossy(first).to_ascii_lowercase();
    let Some(spec) = COMMANDS.iter().find(|s| s.name == name) else {
        return Plan::Reply(unknown_command(&args));
    };
    let argc = args.len() as i64;
    let arity = spec.arity;
    if (arity > 0 && argc != arity) || (arity < 0 && argc < -arity) {
        return Plan::Reply(wrong_arity(&name));
    }
    let a = &args[1..];
    match planned(&name, a, now_ms, session) {
        Ok(p) => p,
        Err(r) => Plan::Reply(r),
    }
}

type Planned = Result<Plan, Reply>;

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

/// A relative or absolute expire argument made an absolute deadline in ms:
/// `unit_ms` is 1000 for seconds; `base_ms` is now for relative forms, 0 for
/// absolute ones. Redis refuses a result that overflows.
fn deadline_ms(arg: &[u8], unit_ms: i64, base_ms: u64, cmd: &str) -> Result<i64, Reply> {
    let n = int_arg(arg)?;
    n.checked_mul(unit_ms)
        .and_then(|ms| ms.checked_add(i64::try_from(base_ms).ok()?))
        .ok_or_else(|| invalid_expire(cmd))
}

fn planned(name: &str, a: &[Vec<u8>], now_ms: u64, session: &mut Session) -> Planned {
    let key = || a[0].clone();
    match name {
        "get" => one(&a[0], Command::Get, Combine::Get),
        "set" => plan_set(a, now_ms),
        "getset" => one(
            &a[0],
            Command::SetWith {
                data: a[1].clone(),
                expiry: Expiry::Clear,
                cond: SetCond::Always,
                get: true,
            },
            Combine::SetGet,
        ),
        "getdel" => one(&a[0], Command::GetDel, Combine::Get),
        "getex" => plan_getex(a, now_ms),
        "setnx" => one(
            &a[0],
            Command::SetWith {
                data: a[1].clone(),
                expiry: Expiry::Clear,
                cond: SetCond::IfAbsent,
                get: false,
            },
            Combine::SetNx,
        ),
        "setex" | "psetex" => {
            let unit = if name == "setex" { 1_000 } else { 1 };
            let n = int_arg(&a[1])?;
            if n <= 0 {
                return Err(invalid_expire(name));
            }
            let at = deadline_ms(&a[1], unit, now_ms, name)?;
            one(
                &a[0],
                Command::SetWith {
                    data: a[2].clone(),
                    expiry: Expiry::At(at as u64),
                    cond: SetCond::Always,
                    get: false,
                },
                Combine::Ok,
            )
        }
        "mget" => core(
            a.iter().map(|k| (k.clone(), Command::Get)).collect(),
            Combine::MGet,
        ),
        "mset" => {
            if a.len() % 2 != 0 {
                return Err(wrong_arity(name));
            }
            core(
                a.chunks(2)
                    .map(|kv| (kv[0].clone(), Command::Set(kv[1].clone())))
                    .collect(),
                Combine::Ok,
            )
        }
        "append" => one(&a[0], Command::Append(a[1].clone()), Combine::Integer),
        "strlen" => one(&a[0], Command::Get, Combine::Strlen),
        "getrange" => {
            let (start, end) = (int_arg(&a[1])?, int_arg(&a[2])?);
            one(&a[0], Command::Get, Combine::GetRange(start, end))
        }
        "setrange" => {
            let offset = int_arg(&a[1])?;
            if offset < 0 {
                return Err(Reply::error("ERR offset is out of range"));
            }
            one(
                &a[0],
                Command::SetRange {
                    offset: offset as u64,
                    data: a[2].clone(),
                },
                Combine::Integer,
            )
        }
        "incr" => one(&a[0], Command::IncrBy(1), Combine::Integer),
        "decr" => one(&a[0], Command::IncrBy(-1), Combine::Integer),
        "incrby" => one(&a[0], Command::IncrBy(int_arg(&a[1])?), Combine::Integer),
        "decrby" => {
            let n = int_arg(&a[1])?;
            let Some(neg) = n.checked_neg() else {
                return Err(Reply::error("ERR decrement would overflow"));
            };
            one(&a[0], Command::IncrBy(neg), Combine::Integer)
        }
        "incrbyfloat" => {
            if parse_f64(&a[1]).is_none() {
                return Err(Reply::error(ERR_NOT_FLOAT));
            }
            let delta = String::from_utf8_lossy(&a[1]).into_owned();
            one(&a[0], Command::IncrByFloat(delta), Combine::Float)
        }
        "cas" => {
            // An empty `expected` means "the key is absent" (RESP requests cannot
            // carry a nil bulk), so a CAS cannot expect the empty string.
            let expected = (!a[1].is_empty()).then(|| a[1].clone());
            one(
                &a[0],
                Command::Cas {
                    expected,
                    new: a[2].clone(),
                },
                Combine::Cas,
            )
        }
        "del" | "unlink" => core(
            a.iter().map(|k| (k.clone(), Command::Del)).collect(),
            Combine::Del,
        ),
        "exists" => core(
            a.iter().map(|k| (k.clone(), Command::Get)).collect(),
            Combine::Exists,
        ),
        "type" => one(&a[0], Command::Get, Combine::Type),
        "expire" | "pexpire" | "expireat" | "pexpireat" => plan_expire(name, a, now_ms),
        "ttl" => one(&a[0], Command::Ttl, ttl(false, false)),
        "pttl" => one(&a[0], Command::Ttl, ttl(true, false)),
        "expiretime" => one(&a[0], Command::Ttl, ttl(false, true)),
        "pexpiretime" => one(&a[0], Command::Ttl, ttl(true, true)),
        "persist" => one(&a[0], Command::Persist, Combine::Integer),
        "keys" => listing(ListWhat::Keys, Some(key()), LIST_PAGE_KEYS_MAX, None),
        "scan" => plan_scan(a),
        "dbsize" => listing(ListWhat::DbSize, None, LIST_PAGE_KEYS_MAX, None),
        "flushall" | "flushdb" => {
            match a {
                [] => {}
                [mode] if matches!(upper(mode).as_str(), "ASYNC" | "SYNC") => {}
                _ => return Err(syntax_error()),
            }
            listing(ListWhat::Flush, None, LIST_PAGE_KEYS_MAX, None)
        }
        "ping" => match a {
            [] => reply(Reply::Simple("PONG".into())),
            [msg] => reply(Reply::Bulk(msg.clone())),
            _ => Err(wrong_arity("ping")),
        },
        "echo" => reply(Reply::Bulk(key())),
        "select" => {
            let db = int_arg(&a[0])?;
            if db != 0 {
                return Err(Reply::error("ERR DB index is out of range"));
            }
            reply(Reply::ok())
        }
        "hello" => reply(hello(a, session)),
        "client" => reply(client(a, session)),
        "info" => match a {
            [] => Ok(Plan::Info { section: None }),
            [s] => Ok(Plan::Info {
                section: Some(String::from_utf8_lossy(s).to_ascii_lowercase()),
            }),
            _ => Err(syntax_error()),
        },
        "quit" => Ok(Plan::Quit),
        "admin" => match upper(&a[0]).as_str() {
            "DECLARE-LOST" => Ok(Plan::DeclareLost),
            _ => Err(Reply::error(
                "ERR unknown ADMIN subcommand; known: ADMIN DECLARE-LOST",
            )),
        },
        "command" => reply(command_command(a)),
        "config" => reply(config(&a[0], a.get(1).map_or(&[][..], |p| &p[..]))),
        _ => Err(unknown_command(&[name.as_bytes().to_vec()])),
    }
}

fn ttl(ms: bool, absolute: bool) -> Combine {
    Combine::Ttl { ms, absolute }
}

fn listing(what: ListWhat, pattern: Option<Vec<u8>>, count: usize, cursor: Option<u64>) -> Planned {
    Ok(Plan::Core(CoreCall {
        kind: CallKind::Listing(ListCall {
            what,
            pattern: pattern.filter(|p| p != b"*"),
            after: None,
            count,
            running: Vec::new(),
            next: None,
            found: Vec::new(),
            counted: 0,
            scan_cursor: cursor,
        }),
    }))
}

/// `SET key value [NX|XX] [GET] [EX s|PX ms|EXAT t|PXAT t|KEEPTTL]`, options
/// in any order. As in Redis, an option conflicts only with another of its
/// group (NX with XX; EX, PX, EXAT, PXAT, KEEPTTL with each other); the same
/// option given twice is allowed and the last value wins.
fn plan_set(a: &[Vec<u8>], now_ms: u64) -> Planned {
    let mut cond = SetCond::Always;
    let mut get = false;
    let mut expiry: Option<Expiry> = None;
    let mut kind: Option<String> = None;
    let mut i = 2;
    while i < a.len() {
        let opt = upper(&a[i]);
        let has_next = i + 1 < a.len();
        let same_kind = kind.as_ref().is_none_or(|k| *k == opt);
        match opt.as_str() {
            "NX" if cond != SetCond::IfPresent => cond = SetCond::IfAbsent,
            "XX" if cond != SetCond::IfAbsent => cond = SetCond::IfPresent,
            "GET" => get = true,
            "KEEPTTL" if same_kind => {
                expiry = Some(Expiry::Keep);
                kind = Some(opt);
            }
            "EX" | "PX" | "EXAT" | "PXAT" if same_kind && has_next => {
                i += 1;
                let n = int_arg(&a[i])?;
                if n <= 0 {
                    return Err(invalid_expire("set"));
                }
                let (unit, base) = match opt.as_str() {
                    "EX" => (1_000, now_ms),
                    "PX" => (1, now_ms),
                    "EXAT" => (1_000, 0),
                    _ => (1, 0),
                };
                expiry = Some(Expiry::At(deadline_ms(&a[i], unit, base, "set")? as u64));
                kind = Some(opt);
            }
            _ => return Err(syntax_error()),
        }
        i += 1;
    }
    let expiry = expiry.unwrap_or_default();
    let simple = cond == SetCond::Always && !get && expiry == Expiry::Clear;
    let command = if simple {
        Command::Set(a[1].clone())
    } else {
        Command::SetWith {
            data: a[1].clone(),
            expiry,
            cond,
            get,
        }
    };
    let combine = if get { Combine::SetGet } else { Combine::Set };
    one(&a[0], command, combine)
}

/// `GETEX key [EX s|PX ms|EXAT t|PXAT t|PERSIST]` (repeats allowed, as in SET).
fn plan_getex(a: &[Vec<u8>], now_ms: u64) -> Planned {
    let mut change: Option<Option<u64>> = None;
    let mut kind: Option<String> = None;
    let mut i = 1;
    while i < a.len() {
        let opt = upper(&a[i]);
        let has_next = i + 1 < a.len();
        let same_kind = kind.as_ref().is_none_or(|k| *k == opt);
        match opt.as_str() {
            "PERSIST" if same_kind => {
                change = Some(None);
                kind = Some(opt);
            }
            "EX" | "PX" | "EXAT" | "PXAT" if same_kind && has_next => {
                i += 1;
                let n = int_arg(&a[i])?;
                if n <= 0 {
                    return Err(invalid_expire("getex"));
                }
                let (unit, base) = match opt.as_str() {
                    "EX" => (1_000, now_ms),
                    "PX" => (1, now_ms),
                    "EXAT" => (1_000, 0),
                    _ => (1, 0),
                };
                change = Some(Some(deadline_ms(&a[i], unit, base, "getex")? as u64));
                kind = Some(opt);
            }
            _ => return Err(syntax_error()),
        }
        i += 1;
    }
    let command = match change {
        None => Command::Get,
        Some(c) => Command::GetEx(Some(c)),
    };
    one(&a[0], command, Combine::Get)
}

/// `EXPIRE key seconds [NX|XX|GT|LT]` and its PEXPIRE/EXPIREAT/PEXPIREAT forms.
fn plan_expire(name: &str, a: &[Vec<u8>], now_ms: u64) -> Planned {
    let (unit, base) = match name {
        "expire" => (1_000, now_ms),
        "pexpire" => (1, now_ms),
        "expireat" => (1_000, 0),
        _ => (1, 0),
    };
    let at = deadline_ms(&a[1], unit, base, name)?;
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    for opt in &a[2..] {
        match upper(opt).as_str() {
            "NX" => nx = true,
            "XX" => xx = true,
            "GT" => gt = true,
            "LT" => lt = true,
            _ => {
                return Err(Reply::error(format!(
                    "ERR Unsupported option {}",
                    String::from_utf8_lossy(opt)
                )))
            }
        }
    }
    if nx && (xx || gt || lt) {
        return Err(Reply::error(
            "ERR NX and XX, GT or LT options at the same time are not compatible",
        ));
    }
    if gt && lt {
        return Err(Reply::error(
            "ERR GT and LT options at the same time are not compatible",
        ));
    }
    let cond = match (nx, xx, gt, lt) {
        (true, ..) => ExpireCond::IfNone,
        (_, true, true, _) => ExpireCond::IfLater, // XX GT: GT already needs a deadline
        (_, true, _, true) => ExpireCond::IfSomeEarlier,
        (_, true, ..) => ExpireCond::IfSome,
        (_, _, true, _) => ExpireCond::IfLater,
        (_, _, _, true) => ExpireCond::IfEarlier,
        _ => ExpireCond::Always,
    };
    // A deadline at or before the epoch is in the past all the same.
    let at_ms = at.max(0) as u64;
    one(&a[0], Command::Expire { at_ms, cond }, Combine::Integer)
}

/// `SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]`.
fn plan_scan(a: &[Vec<u8>]) -> Planned {
    let cursor = std::str::from_utf8(&a[0])
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .ok_or_else(|| Reply::error("ERR invalid cursor"))?;
    let mut pattern = None;
    let mut count = 10usize;
    let mut type_ok = true;
    let mut i = 1;
    while i < a.len() {
        let opt = upper(&a[i]);
        if i + 1 >= a.len() {
            return Err(syntax_error());
        }
        let v = &a[i + 1];
        match opt.as_str() {
            "MATCH" => pattern = Some(v.clone()),
            "COUNT" => {
                let n = int_arg(v)?;
                if n < 1 {
                    return Err(syntax_error());
                }
                count = (n as u64).min(LIST_PAGE_KEYS_MAX as u64) as usize;
            }
            "TYPE" => type_ok = v.eq_ignore_ascii_case(b"string"),
            _ => return Err(syntax_error()),
        }
        i += 2;
    }
    listing(ListWhat::Scan { type_ok }, pattern, count, Some(cursor))
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

/// `COMMAND`, `COMMAND COUNT`, `COMMAND LIST`, `COMMAND DOCS [name...]`,
/// `COMMAND INFO [name...]`.
fn command_command(a: &[Vec<u8>]) -> Reply {
    let entry = |s: &Spec| {
        Reply::Array(vec![
            bulk(s.name),
            Reply::Integer(s.arity),
            Reply::Array(s.flags.iter().map(|f| Reply::Simple((*f).into())).collect()),
            Reply::Integer(s.keys.0),
            Reply::Integer(s.keys.1),
            Reply::Integer(s.keys.2),
        ])
    };
    let find = |n: &[u8]| {
        let n = String::from_utf8_lossy(n).to_ascii_lowercase();
        COMMANDS.iter().find(|s| s.name == n)
    };
    let Some(sub) = a.first() else {
        return Reply::Array(COMMANDS.iter().map(entry).collect());
    };
    let names = &a[1..];
    match upper(sub).as_str() {
        "COUNT" if names.is_empty() => Reply::Integer(COMMANDS.len() as i64),
        "LIST" if names.is_empty() => Reply::Array(COMMANDS.iter().map(|s| bulk(s.name)).collect()),
        "DOCS" => {
            let docs = |s: &Spec| {
                vec![
                    bulk(s.name),
                    Reply::Array(vec![
                        bulk("summary"),
                        bulk(s.summary),
                        bulk("since"),
                        bulk("1.0.0"),
                        bulk("group"),
                        bulk(s.group),
                    ]),
                ]
            };
            let chosen: Vec<&Spec> = if names.is_empty() {
                COMMANDS.iter().collect()
            } else {
                names.iter().filter_map(|n| find(n)).collect()
            };
            Reply::Array(chosen.into_iter().flat_map(docs).collect())
        }
        "INFO" => {
            if names.is_empty() {
                return Reply::Array(COMMANDS.iter().map(entry).collect());
            }
            Reply::Array(
                names
                    .iter()
                    .map(|n| find(n).map_or(Reply::Nil, entry))
                    .collect(),
            )
        }
        _ => subcommand_error("command", sub, COMMAND_SUBCOMMANDS),
    }
}

/// `HELLO [protover [AUTH user pass] [SETNAME name]]`: only RESP2.
fn hello(a: &[Vec<u8>], session: &mut Session) -> Reply {
    if let Some(v) = a.first() {
        match parse_i64(v) {
            Some(2) => {}
            Some(_) => return Reply::error("NOPROTO unsupported protocol version"),
            _ => return Reply::error("ERR Protocol version is not an integer or out of range"),
        }
    }
    let mut name = None;
    let mut i = 1;
    while i < a.len() {
        match upper(&a[i]).as_str() {
            "AUTH" if i + 2 < a.len() => return Reply::error(
                "ERR synod has no authentication; connect without AUTH (bind to a private network)",
            ),
            "SETNAME" if i + 1 < a.len() => {
                name = Some(a[i + 1].clone());
                i += 2;
            }
            _ => {
                return Reply::error(format!(
                    "ERR Syntax error in HELLO option '{}'",
                    String::from_utf8_lossy(&a[i])
                ))
            }
        }
    }
    if let Some(n) = name {
        if let Err(e) = set_name(session, &n) {
            return e;
        }
    }
    let pair = |k: &str, v: Reply| [bulk(k), v];
    Reply::Array(
        [
            pair("server", bulk("synod")),
            pair("version", bulk(VERSION)),
            pair("proto", Reply::Integer(2)),
            pair("id", Reply::Integer(session.id as i64)),
            pair("mode", bulk("standalone")),
            pair("role", bulk("master")),
            pair("modules", Reply::Array(vec![])),
        ]
        .into_iter()
        .flatten()
        .collect(),
    )
}

fn set_name(session: &mut Session, name: &[u8]) -> Result<(), Reply> {
    if name.iter().any(|&c| !(b'!'..=b'~').contains(&c)) {
        return Err(Reply::error(
            "ERR Client names cannot contain spaces, newlines or special characters.",
        ));
    }
    session.name = (!name.is_empty()).then(|| String::from_utf8_lossy(name).into_owned());
    Ok(())
}

/// `CLIENT ID | SETNAME name | GETNAME | SETINFO attr value | INFO | LIST`.
fn client(a: &[Vec<u8>], session: &mut Session) -> Reply {
    let sub = upper(&a[0]);
    let rest = &a[1..];
    let info_line = |s: &Session| {
        format!(
            "id={} addr={} name={} db=0 lib-name={} lib-ver={}\n",
            s.id,
            s.addr,
            s.name.as_deref().unwrap_or(""),
            s.lib_name,
            s.lib_ver
        )
    };
    match (sub.as_str(), rest) {
        ("ID", []) => Reply::Integer(session.id as i64),
        ("SETNAME", [name]) => match set_name(session, name) {
            Ok(()) => Reply::ok(),
            Err(e) => e,
        },
        ("GETNAME", []) => match &session.name {
            Some(n) => bulk(n),
            None => Reply::Nil,
        },
        ("SETINFO", [attr, value]) => {
            let v = String::from_utf8_lossy(value).into_owned();
            match upper(attr).as_str() {
                "LIB-NAME" => session.lib_name = v,
                "LIB-VER" => session.lib_ver = v,
                _ => {
                    return Reply::error(format!(
                        "ERR Unrecognized option '{}'",
                        String::from_utf8_lossy(attr)
                    ))
                }
            }
            Reply::ok()
        }
        ("INFO", []) | ("LIST", []) => bulk(&info_line(session)),
        _ => subcommand_error("client", &a[0], CLIENT_SUBCOMMANDS),
    }
}

const CLIENT_SUBCOMMANDS: &[&str] = &["id", "setname", "getname", "setinfo", "info", "list"];
const COMMAND_SUBCOMMANDS: &[&str] = &["count", "list", "docs", "info"];

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

/// `CONFIG GET param`: `save` and `appendonly` (redis-benchmark asks; we keep
/// nothing on disk), `databases` (1), an empty list for anything else. Other
/// subcommands are refused.
fn config(sub: &[u8], param: &[u8]) -> Reply {
    if sub.eq_ignore_ascii_case(b"get") {
        let param = String::from_utf8_lossy(param).to_ascii_lowercase();
        let value: &[u8] = match param.as_str() {
            "save" => b"",
            "appendonly" => b"no",
            "databases" => b"1",
            _ => return Reply::Array(vec![]),
        };
        Reply::Array(vec![
            Reply::Bulk(param.into_bytes()),
            Reply::Bulk(value.to_vec()),
        ])
    } else {
        Reply::error("ERR CONFIG is not supported by synod, except CONFIG GET")
    }
}

/// Redis's glob matching (`stringmatchlen`): `*`, `?`, `[abc]`, `[^a]`,
/// `[a-z]`, `\x`; byte-wise and case-sensitive. Linear backtracking on the
/// last `*` only, so no pattern costs more than |pattern| x |key| steps.
pub fn glob_match(pattern: &[u8], key: &[u8]) -> bool {
    let (mut p, mut k) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while k < key.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            while p < pattern.len() && pattern[p] == b'*' {
                p += 1;
            }
            star = Some((p, k));
            continue;
        }
        if p < pattern.len() {
            let (ok, next) = match_one(pattern, p, key[k]);
            if ok {
                p = next;
                k += 1;
                continue;
            }
        }
        match star {
            Some((sp, sk)) => {
                p = sp;
                k = sk + 1;
                star = Some((sp, sk + 1));
            }
            None => return false,
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// Whether the single-byte token at `pattern[p]` (not `*`) matches `c`, and
/// where the next token starts.
fn match_one(pattern: &[u8], p: usize, c: u8) -> (bool, usize) {
    match pattern[p] {
        b'?' => (true, p + 1),
        b'\\' if p + 1 < pattern.len() => (pattern[p + 1] == c, p + 2),
        b'[' => {
            let mut i = p + 1;
            let negate = i < pattern.len() && pattern[i] == b'^';
            if negate {
                i += 1;
            }
            let mut hit = false;
            // An unterminated class closes at the end of the pattern, as in Redis.
            while i < pattern.len() && pattern[i] != b']' {
                if pattern[i] == b'\\' && i + 1 < pattern.len() {
                    hit |= pattern[i + 1] == c;
                    i += 2;
                } else if i + 2 < pattern.len() && pattern[i + 1] == b'-' {
                    let (lo, hi) = (
                        pattern[i].min(pattern[i + 2]),
                        pattern[i].max(pattern[i + 2]),
                    );
                    hit |= (lo..=hi).contains(&c);
                    i += 3;
                } else {
                    hit |= pattern[i] == c;
                    i += 1;
                }
            }
            (hit != negate, (i + 1).min(pattern.len()))
        }
        lit => (lit == c, p + 1),
    }
}

impl CoreCall {
    /// The first step.
    pub fn start(&mut self, ctx: &mut CallCtx<'_>) -> Step {
        match &mut self.kind {
            CallKind::Keys { requests, .. } => Step::Run(
                requests
                    .iter()
                    .map(|(k, c)| Op::Key(k.clone(), c.clone()))
                    .collect(),
            ),
            CallKind::Listing(l) => {
                if let Some(cursor) = l.scan_cursor {
                    if cursor != 0 {
                        match ctx.cursors.get(cursor) {
                            Some(k) => l.after = Some(k.clone()),
                            None => return Step::Done(Reply::error("ERR invalid cursor")),
                        }
                    }
                    if l.what == (ListWhat::Scan { type_ok: false }) {
                        // A type we never hold: nothing to list; the scan is over.
                        return Step::Done(scan_reply(0, vec![]));
                    }
                }
                l.list_step()
            }
        }
    }

    /// The next step, given the outcomes of the last one (in its order).
    pub fn resume(&mut self, outcomes: Vec<Outcome>, ctx: &mut CallCtx<'_>) -> Step {
        match &mut self.kind {
            CallKind::Keys { requests, combine } => {
                Step::Done(finish(requests, *combine, &outcomes, ctx.now_ms))
            }
            CallKind::Listing(l) => l.resume(outcomes, ctx),
        }
    }

    /// The per-key requests of a one-step call (empty for listings): for tests.
    pub fn requests(&self) -> Vec<(Key, Command)> {
        match &self.kind {
            CallKind::Keys { requests, .. } => requests.clone(),
            CallKind::Listing(_) => vec![],
        }
    }
}

fn scan_reply(cursor: u64, keys: Vec<Key>) -> Reply {
    Reply::Array(vec![
        bulk(&cursor.to_string()),
        Reply::Array(keys.into_iter().map(Reply::Bulk).collect()),
    ])
}

/// The reply for a failed or unknown outcome of a multi-step call: `done`
/// keys were already changed (FLUSHALL), so a failure is then UNKNOWN as a whole.
fn step_error(outcome: &Outcome, key: Option<&[u8]>, done: u64) -> Reply {
    let label = key.map_or(String::new(), |k| {
        format!("key '{}': ", String::from_utf8_lossy(k))
    });
    match outcome {
        Outcome::Unknown(why) => Reply::error(format!("UNKNOWN {label}{why}")),
        Outcome::Failed(why) if done > 0 => {
            Reply::error(format!("UNKNOWN deleted {done} keys, then {label}{why}"))
        }
        Outcome::Failed(why) => Reply::error(format!("FAILED {label}{why}")),
        Outcome::Ok(r) => unexpected(Some(r)),
    }
}

impl ListCall {
    fn list_step(&mut self) -> Step {
        self.running = vec![Op::List {
            after: self.after.clone(),
            count: self.count,
        }];
        self.next = None;
        Step::Run(self.running.clone())
    }

    fn resume(&mut self, outcomes: Vec<Outcome>, ctx: &mut CallCtx<'_>) -> Step {
        let ops = std::mem::take(&mut self.running);
        let mut candidates = Vec::new();
        for (op, outcome) in ops.iter().zip(&outcomes) {
            let changed = if self.what == ListWhat::Flush {
                self.counted
            } else {
                0
            };
            match (op, outcome) {
                (Op::List { .. }, Outcome::Ok(CoreReply::Keys { keys, next })) => {
                    self.next = Some(next.clone());
                    candidates = keys.clone();
                }
                (Op::Key(_, Command::Get), Outcome::Ok(CoreReply::Value(v))) => {
                    if v.is_some() {
                        self.counted += 1;
                        if let Op::Key(k, _) = op {
                            if matches!(self.what, ListWhat::Keys | ListWhat::Scan { .. }) {
                                self.found.push(k.clone());
                            }
                        }
                    }
                }
                (Op::Key(_, Command::Del), Outcome::Ok(CoreReply::Deleted(d))) => {
                    self.counted += u64::from(*d);
                }
                (Op::Key(k, _), o) => return Step::Done(step_error(o, Some(k), changed)),
                (Op::List { .. }, o) => return Step::Done(step_error(o, None, changed)),
            }
        }
        if self.found.len() > KEYS_REPLY_MAX {
            return Step::Done(Reply::error(format!(
                "ERR KEYS would return more than {KEYS_REPLY_MAX} keys; use SCAN"
            )));
        }
        let Some(next) = self.next.clone() else {
            return Step::Done(unexpected(None));
        };
        if let Some(p) = &self.pattern {
            candidates.retain(|k| glob_match(p, k));
        }
        if !candidates.is_empty() {
            // Read (or delete) this page's candidates; the listing moves on after.
            let command = if self.what == ListWhat::Flush {
                Command::Del
            } else {
                Command::Get
            };
            self.running = candidates
                .into_iter()
                .map(|k| Op::Key(k, command.clone()))
                .collect();
            return Step::Run(self.running.clone());
        }
        // This page is done.
        match (self.what, next) {
            (ListWhat::Scan { .. }, next) => {
                let cursor = next.map_or(0, |k| ctx.cursors.insert(k));
                Step::Done(scan_reply(cursor, std::mem::take(&mut self.found)))
            }
            (_, Some(k)) => {
                self.after = Some(k);
                self.list_step()
            }
            (ListWhat::Keys, None) => Step::Done(Reply::Array(
                std::mem::take(&mut self.found)
                    .into_iter()
                    .map(Reply::Bulk)
                    .collect(),
            )),
            (ListWhat::DbSize, None) => Step::Done(Reply::Integer(self.counted as i64)),
            (ListWhat::Flush, None) => Step::Done(Reply::ok()),
        }
    }
}

/// Folds the outcomes (one per request, in request order) into one reply.
fn finish(
    requests: &[(Key, Command)],
    combine: Combine,
    outcomes: &[Outcome],
    now_ms: u64,
) -> Reply {
    debug_assert_eq!(outcomes.len(), requests.len());
    if let Some(error) = outcomes_error(requests, combine, outcomes) {
        return error;
    }
    let replies: Vec<&CoreReply> = outcomes
        .iter()
        .filter_map(|o| match o {
            Outcome::Ok(r) => Some(r),
            _ => None,
        })
        .collect();
    if let [CoreReply::Error(e)] = replies[..] {
        return Reply::error(e.clone());
    }
    let first = replies.first().copied();
    let value = |r: Option<&CoreReply>| match r {
        Some(CoreReply::Value(v)) => Ok(v.clone()),
        other => Err(unexpected(other)),
    };
    let count =
        |f: fn(&CoreReply) -> bool| Reply::Integer(replies.iter().filter(|r| f(r)).count() as i64);
    let shaped = match combine {
        Combine::Get => value(first).map(|v| v.map_or(Reply::Nil, Reply::Bulk)),
        Combine::Set => match first {
            Some(CoreReply::Done) | Some(CoreReply::SetResult { applied: true, .. }) => {
                Ok(Reply::ok())
            }
            Some(CoreReply::SetResult { applied: false, .. }) => Ok(Reply::Nil),
            other => Err(unexpected(other)),
        },
        Combine::SetGet => match first {
            Some(CoreReply::SetResult { old, .. }) => {
                Ok(old.clone().map_or(Reply::Nil, Reply::Bulk))
            }
            other => Err(unexpected(other)),
        },
        Combine::SetNx => match first {
            Some(CoreReply::SetResult { applied, .. }) => Ok(Reply::Integer(i64::from(*applied))),
            other => Err(unexpected(other)),
        },
        Combine::Ok => match replies
            .iter()
            .all(|r| matches!(r, CoreReply::Done | CoreReply::SetResult { .. }))
        {
            true => Ok(Reply::ok()),
            false => Err(unexpected(first)),
        },
        Combine::Del => Ok(count(|r| matches!(r, CoreReply::Deleted(true)))),
        Combine::Exists => Ok(count(|r| matches!(r, CoreReply::Value(Some(_))))),
        Combine::Cas => match first {
            Some(CoreReply::Swapped(s)) => Ok(Reply::Integer(i64::from(*s))),
            other => Err(unexpected(other)),
        },
        Combine::Integer => match first {
            Some(CoreReply::Integer(n)) => Ok(Reply::Integer(*n)),
            other => Err(unexpected(other)),
        },
        Combine::Float => match first {
            Some(CoreReply::Text(t)) => Ok(bulk(t)),
            other => Err(unexpected(other)),
        },
        Combine::Strlen => value(first).map(|v| Reply::Integer(v.map_or(0, |v| v.len() as i64))),
        Combine::GetRange(start, end) => {
            value(first).map(|v| Reply::Bulk(get_range(&v.unwrap_or_default(), start, end)))
        }
        Combine::Type => {
            value(first).map(|v| Reply::Simple(if v.is_some() { "string" } else { "none" }.into()))
        }
        Combine::Ttl { ms, absolute } => match first {
            Some(CoreReply::Deadline(d)) => Ok(Reply::Integer(ttl_reply(*d, ms, absolute, now_ms))),
            other => Err(unexpected(other)),
        },
        Combine::MGet => replies
            .iter()
            .map(|r| value(Some(r)).map(|v| v.map_or(Reply::Nil, Reply::Bulk)))
            .collect::<Result<Vec<_>, _>>()
            .map(Reply::Array),
    };
    shaped.unwrap_or_else(|e| e)
}

/// TTL, PTTL, EXPIRETIME, PEXPIRETIME from a deadline: -2 absent, -1 none.
fn ttl_reply(deadline: Option<Option<u64>>, ms: bool, absolute: bool, now_ms: u64) -> i64 {
    let at = match deadline {
        None => return -2,
        Some(None) => return -1,
        Some(Some(at)) => at,
    };
    let n = if absolute {
        at
    } else {
        at.saturating_sub(now_ms)
    };
    let n = match (ms, absolute) {
        (true, _) => n,
        // Redis rounds a relative TTL to the nearest second, and truncates an absolute one.
        (false, false) => (n + 500) / 1_000,
        (false, true) => n / 1_000,
    };
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// GETRANGE's substring, with Redis's index rules (negative counts from the end).
pub fn get_range(v: &[u8], start: i64, end: i64) -> Vec<u8> {
    let len = v.len() as i64;
    if len == 0 || (start < 0 && end < 0 && start > end) {
        return vec![];
    }
    let norm = |i: i64| if i < 0 { (len + i).max(0) } else { i };
    let (start, end) = (norm(start), norm(end).min(len - 1));
    if start > end {
        return vec![];
    }
    v[start as usize..=end as usize].to_vec()
}

/// The error reply, if any outcome is not Ok.
fn outcomes_error(
    requests: &[(Key, Command)],
    combine: Combine,
    outcomes: &[Outcome],
) -> Option<Reply> {
    let n = outcomes.len();
    let key_of = |i: usize| String::from_utf8_lossy(&requests[i].0).into_owned();
    let failed = outcomes
        .iter()
        .position(|o| matches!(o, Outcome::Failed(_)));
    let unknown = outcomes
        .iter()
        .position(|o| matches!(o, Outcome::Unknown(_)));
    let ok = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Ok(_)))
        .count();
    let label = |i: usize| {
        if n > 1 {
            format!("key '{}': ", key_of(i))
        } else {
            String::new()
        }
    };
    if let Some(i) = unknown {
        let Outcome::Unknown(why) = &outcomes[i] else {
            return None;
        };
        return Some(Reply::error(format!("UNKNOWN {}{why}", label(i))));
    }
    let i = failed?;
    let Outcome::Failed(why) = &outcomes[i] else {
        return None;
    };
    let writes = matches!(combine, Combine::Del | Combine::Ok);
    if writes && ok > 0 {
        // Some keys were written, some certainly not: the command as a whole
        // neither failed nor succeeded.
        return Some(Reply::error(format!(
            "UNKNOWN applied to {ok} of {n} keys; {}{why}",
            label(i)
        )));
    }
    if why.starts_with("OOM ") {
        // Redis's own refusal at the memory cap, word for word.
        return Some(Reply::error(why.clone()));
    }
    Some(Reply::error(format!("FAILED {}{why}", label(i))))
}

fn unexpected(reply: Option<&CoreReply>) -> Reply {
    Reply::error(format!(
        "ERR internal: unexpected core reply {reply:?}; please report this bug"
    ))
}

/// What INFO shows about one peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerInfo {
    /// The peer's id.
    pub node: NodeId,
    /// Its peer-port address.
    pub addr: String,
    /// Our outbound connection to it is up (we can send).
    pub up: bool,
    /// Inbound connections from it (it can send to us).
    pub inbound: usize,
    /// The highest incarnation we know for it (0: none).
    pub incarnation: Incarnation,
}

/// Everything INFO prints, gathered by the runtime.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InfoSnapshot {
    pub node_id: NodeId,
    pub incarnation: Incarnation,
    /// True: votes as an acceptor; false: recovering (coordinator only).
    pub voting: bool,
    pub uptime_s: u64,
    pub client_addr: String,
    pub peer_addr: String,
    pub cluster_id: String,
    pub members: Vec<NodeId>,
    pub replicas: usize,
    pub quorum: usize,
    pub membership_hash: u64,
    pub peers: Vec<PeerInfo>,
    /// Keys holding a value on this replica.
    pub keys: u64,
    /// Keys whose accepted value is a tombstone.
    pub tombstones: u64,
    pub round_clock: u64,
    pub rtt_us: u64,
    pub inflight: u64,
    pub clients_connected: u64,
    pub stats: Stats,
    /// Catch-up progress while recovering.
    pub recovery: Option<RecoveryProgress>,
    /// Runtime counters, in display order.
    pub runtime: Vec<(&'static str, u64)>,
}

/// Every counter of the core's [`Stats`], by name (destructured, so a new
/// counter cannot be forgotten here).
pub fn stats_fields(s: &Stats) -> Vec<(&'static str, u64)> {
    let Stats {
        requests,
        requests_ok,
        requests_failed,
        requests_unknown,
        rounds_started,
        rounds_chosen,
        attempts_retried,
        phase_timeouts,
        rejects_received,
        nacks_received,
        messages_received,
        messages_dropped,
        keys: _,                // in # Keyspace
        tombstones: _,          // in # Keyspace
        memory_used_bytes: _,   // in # Memory
        promise_cache_bytes: _, // in # Memory
        promise_cache_keys: _,  // in # Memory
        evicted_keys,
        expired_keys,
        tombstones_dropped,
        oom_refusals,
        fast_writes,
        fast_reads,
        fast_read_fallbacks,
    } = s;
    vec![
        ("requests", *requests),
        ("requests_ok", *requests_ok),
        ("requests_failed", *requests_failed),
        ("requests_unknown", *requests_unknown),
        ("rounds_started", *rounds_started),
        ("rounds_chosen", *rounds_chosen),
        ("attempts_retried", *attempts_retried),
        ("phase_timeouts", *phase_timeouts),
        ("rejects_received", *rejects_received),
        ("nacks_received", *nacks_received),
        ("messages_received", *messages_received),
        ("messages_dropped", *messages_dropped),
        ("evicted_keys", *evicted_keys),
        ("expired_keys", *expired_keys),
        ("tombstones_dropped", *tombstones_dropped),
        ("oom_refusals", *oom_refusals),
        ("fast_writes", *fast_writes),
        ("fast_reads", *fast_reads),
        ("fast_read_fallbacks", *fast_read_fallbacks),
    ]
}

/// Bytes as Redis's `used_memory_human` shows them (`1.50M`).
fn human_bytes(n: u64) -> String {
    let units = [("G", 1u64 << 30), ("M", 1 << 20), ("K", 1 << 10)];
    for (unit, size) in units {
        if n >= size {
            return format!("{:.2}{unit}", n as f64 / size as f64);
        }
    }
    format!("{n}B")
}

/// The sections INFO knows, in order.
pub const INFO_SECTIONS: [&str; 6] = [
    "server", "clients", "memory", "cluster", "keyspace", "stats",
];

/// INFO's text in Redis's format (`# Section`, `field:value` lines, CRLF), for
/// one section, or all of them (`None`, "all", "default", "everything").
pub fn info_text(s: &InfoSnapshot, section: Option<&str>) -> String {
    let wanted = |name: &str| match section {
        None | Some("all") | Some("default") | Some("everything") => true,
        Some(x) => x == name,
    };
    let mut out = String::new();
    let mut block = |title: &str, lines: Vec<(String, String)>| {
        if !wanted(&title.to_ascii_lowercase()) {
            return;
        }
        if !out.is_empty() {
            out.push_str("\r\n");
        }
        let _ = write!(out, "# {title}\r\n");
        for (k, v) in lines {
            let _ = write!(out, "{k}:{v}\r\n");
        }
    };
    let l = |k: &str, v: String| (k.to_string(), v);
    block(
        "Server",
        vec![
            l("synod_version", VERSION.into()),
            l("node_id", s.node_id.to_string()),
            l("incarnation", s.incarnation.to_string()),
            l(
                "role",
                if s.voting { "voter" } else { "recovering" }.to_string(),
            ),
            l(
                "recovery",
                match &s.recovery {
                    Some(r) => format!(
                        "{}/{} keys repaired, {}/{} peer listings done",
                        r.keys_repaired, r.keys_listed, r.peers_done, r.peers_total
                    ),
                    None => "done".to_string(),
                },
            ),
            l("uptime_in_seconds", s.uptime_s.to_string()),
            l("client_addr", s.client_addr.clone()),
            l("peer_addr", s.peer_addr.clone()),
        ],
    );
    block(
        "Clients",
        vec![
            l("connected_clients", s.clients_connected.to_string()),
            l("requests_in_flight", s.inflight.to_string()),
        ],
    );
    let used = s.stats.memory_used_bytes;
    block(
        "Memory",
        vec![
            l("used_memory", used.to_string()),
            l("used_memory_human", human_bytes(used)),
            l(
                "promise_cache_bytes",
                s.stats.promise_cache_bytes.to_string(),
            ),
            l("promise_cache_keys", s.stats.promise_cache_keys.to_string()),
        ],
    );
    let mut cluster = vec![
        l("cluster_id", s.cluster_id.clone()),
        l(
            "members",
            s.members
                .iter()
                .map(|m| m.to_string())
                .collect::<Vec<_>>()
                .join(","),
        ),
        l("replicas", s.replicas.to_string()),
        l("quorum", s.quorum.to_string()),
        l("membership_hash", format!("{:016x}", s.membership_hash)),
        l(
            "peers_up",
            s.peers.iter().filter(|p| p.up).count().to_string(),
        ),
        l(
            "peers_down",
            s.peers.iter().filter(|p| !p.up).count().to_string(),
        ),
        l("round_clock", s.round_clock.to_string()),
        l("rtt_us", s.rtt_us.to_string()),
    ];
    for p in &s.peers {
        cluster.push(l(
            &format!("peer{}", p.node),
            format!(
                "addr={},state={},inbound={},incarnation={}",
                p.addr,
                if p.up { "up" } else { "down" },
                p.inbound,
                p.incarnation
            ),
        ));
    }
    block("Cluster", cluster);
    block(
        "Keyspace",
        vec![
            l("keys", s.keys.to_string()),
            l("tombstones", s.tombstones.to_string()),
            // This node's replicas of keys; `expires` is not counted (0).
            l("db0", format!("keys={},expires=0,avg_ttl=0", s.keys)),
        ],
    );
    let mut stats: Vec<_> = stats_fields(&s.stats)
        .into_iter()
        .map(|(k, v)| l(k, v.to_string()))
        .collect();
    stats.extend(s.runtime.iter().map(|(k, v)| l(k, v.to_string())));
    block("Stats", stats);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{Record, Value};
    use proptest::prelude::*;

    const NOW: u64 = 1_700_000_000_000;
    const MAX: usize = 1 << 20;

    fn args(s: &[&str]) -> Vec<Vec<u8>> {
        s.iter().map(|a| a.as_bytes().to_vec()).collect()
    }

    fn plan_at(s: &[&str], now_ms: u64) -> Plan {
        plan(args(s), now_ms, &mut Session::default())
    }

    fn reply(s: &[&str]) -> Reply {
        match plan_at(s, NOW) {
            Plan::Reply(r) => r,
            other => panic!("expected an immediate reply to {s:?}, got {other:?}"),
        }
    }

    fn err(s: &str) -> Reply {
        Reply::Error(s.into())
    }

    fn call(s: &[&str]) -> CoreCall {
        match plan_at(s, NOW) {
            Plan::Core(c) => c,
            other => panic!("expected a core call for {s:?}, got {other:?}"),
        }
    }

    fn requests(s: &[&str]) -> Vec<(Key, Command)> {
        call(s).requests()
    }

    fn k(s: &str) -> Key {
        s.as_bytes().to_vec()
    }

    fn ok(r: CoreReply) -> Outcome {
        Outcome::Ok(r)
    }

    fn value(s: &str) -> Outcome {
        ok(CoreReply::Value(Some(k(s))))
    }

    /// Runs a one-step call with these outcomes.
    fn finish_with(s: &[&str], outcomes: Vec<Outcome>) -> Reply {
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
    fn drive(
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
    struct Registers(BTreeMap<Key, Value>);

    impl Registers {
        fn exec(&mut self, op: &Op, now_ms: u64, page_max: usize) -> Outcome {
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

        fn run(&mut self, s: &[&str], now_ms: u64, cursors: &mut ScanCursors) -> Reply {
            let p = plan_at(s, now_ms);
            drive(p, now_ms, cursors, |op| self.exec(op, now_ms, 1_000))
        }
    }

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
        for s in COMMANDS {
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
            (&["hello", "3"], "NOPROTO unsupported protocol version"),
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

    // ---- Plans: which core commands, with absolute deadlines ----

    #[test]
    fn set_options_become_one_change_with_an_absolute_deadline() {
        let set = |expiry, cond, get| Command::SetWith {
            data: k("v"),
            expiry,
            cond,
            get,
        };
        let cases: &[(&[&str], Command)] = &[
            (&["SET", "k", "v"], Command::Set(k("v"))),
            (
                &["set", "k", "v", "ex", "10"],
                set(Expiry::At(NOW + 10_000), SetCond::Always, false),
            ),
            (
                &["set", "k", "v", "PX", "250", "nx"],
                set(Expiry::At(NOW + 250), SetCond::IfAbsent, false),
            ),
            (
                &["set", "k", "v", "xx", "exat", "2000000000"],
                set(Expiry::At(2_000_000_000_000), SetCond::IfPresent, false),
            ),
            (
                &["set", "k", "v", "pxat", "123", "get"],
                set(Expiry::At(123), SetCond::Always, true),
            ),
            (
                &["set", "k", "v", "KEEPTTL", "get", "nx"],
                set(Expiry::Keep, SetCond::IfAbsent, true),
            ),
            // Repeats are allowed; the last value wins (Redis 7).
            (
                &[
                    "set", "k", "v", "get", "get", "nx", "nx", "px", "1", "px", "2",
                ],
                set(Expiry::At(NOW + 2), SetCond::IfAbsent, true),
            ),
            (
                &["setex", "k", "5", "v"],
                set(Expiry::At(NOW + 5_000), SetCond::Always, false),
            ),
            (
                &["psetex", "k", "5", "v"],
                set(Expiry::At(NOW + 5), SetCond::Always, false),
            ),
            (
                &["setnx", "k", "v"],
                set(Expiry::Clear, SetCond::IfAbsent, false),
            ),
            (
                &["getset", "k", "v"],
                set(Expiry::Clear, SetCond::Always, true),
            ),
            (&["getex", "k"], Command::Get),
            (&["getex", "k", "persist"], Command::GetEx(Some(None))),
            (
                &["getex", "k", "ex", "2"],
                Command::GetEx(Some(Some(NOW + 2_000))),
            ),
            (
                &["getex", "k", "pxat", "77"],
                Command::GetEx(Some(Some(77))),
            ),
            (&["getdel", "k"], Command::GetDel),
            (&["incr", "k"], Command::IncrBy(1)),
            (&["decr", "k"], Command::IncrBy(-1)),
            (&["incrby", "k", "-7"], Command::IncrBy(-7)),
            (&["decrby", "k", "7"], Command::IncrBy(-7)),
            (
                &["incrbyfloat", "k", "1.5"],
                Command::IncrByFloat("1.5".into()),
            ),
            (&["append", "k", "v"], Command::Append(k("v"))),
            (
                &["setrange", "k", "3", "v"],
                Command::SetRange {
                    offset: 3,
                    data: k("v"),
                },
            ),
            (&["persist", "k"], Command::Persist),
            (&["ttl", "k"], Command::Ttl),
            (&["pexpiretime", "k"], Command::Ttl),
            (&["type", "k"], Command::Get),
            (&["strlen", "k"], Command::Get),
        ];
        for (a, c) in cases {
            assert_eq!(requests(a), vec![(k("k"), c.clone())], "{a:?}");
        }
        let exp = |at_ms, cond| Command::Expire { at_ms, cond };
        let cases: &[(&[&str], Command)] = &[
            (
                &["expire", "k", "10"],
                exp(NOW + 10_000, ExpireCond::Always),
            ),
            (
                &["pexpire", "k", "10", "nx"],
                exp(NOW + 10, ExpireCond::IfNone),
            ),
            (
                &["expireat", "k", "10", "xx"],
                exp(10_000, ExpireCond::IfSome),
            ),
            (
                &["pexpireat", "k", "10", "gt"],
                exp(10, ExpireCond::IfLater),
            ),
            (
                &["pexpireat", "k", "10", "LT"],
                exp(10, ExpireCond::IfEarlier),
            ),
            (
                &["pexpireat", "k", "10", "xx", "lt"],
                exp(10, ExpireCond::IfSomeEarlier),
            ),
            (
                &["pexpireat", "k", "10", "gt", "xx"],
                exp(10, ExpireCond::IfLater),
            ),
            (&["expireat", "k", "-5"], exp(0, ExpireCond::Always)),
        ];
        for (a, c) in cases {
            assert_eq!(requests(a), vec![(k("k"), c.clone())], "{a:?}");
        }
    }

    #[test]
    fn multi_key_commands_are_one_request_per_key() {
        assert_eq!(
            requests(&["mset", "a", "1", "b", "2"]),
            vec![
                (k("a"), Command::Set(k("1"))),
                (k("b"), Command::Set(k("2")))
            ]
        );
        assert_eq!(
            requests(&["mget", "a", "b"]),
            vec![(k("a"), Command::Get), (k("b"), Command::Get)]
        );
        for name in ["del", "unlink"] {
            assert_eq!(
                requests(&[name, "a", "b"]),
                vec![(k("a"), Command::Del), (k("b"), Command::Del)]
            );
        }
        assert_eq!(requests(&["exists", "a", "a"]).len(), 2);
        // Empty expected = the key must be absent.
        assert_eq!(
            requests(&["cas", "k", "", "b"]),
            vec![(
                k("k"),
                Command::Cas {
                    expected: None,
                    new: k("b")
                }
            )]
        );
    }

    // ---- Reply shapes ----

    #[test]
    fn replies_have_redis_shapes() {
        let set_result = |applied, old: Option<&str>| {
            ok(CoreReply::SetResult {
                applied,
                old: old.map(k),
            })
        };
        let cases: Vec<(&[&str], Vec<Outcome>, Reply)> = vec![
            (&["get", "k"], vec![value("v")], Reply::Bulk(k("v"))),
            (&["get", "k"], vec![ok(CoreReply::Value(None))], Reply::Nil),
            (&["set", "k", "v"], vec![ok(CoreReply::Done)], Reply::ok()),
            (
                &["set", "k", "v", "nx"],
                vec![set_result(false, None)],
                Reply::Nil,
            ),
            (
                &["set", "k", "v", "xx"],
                vec![set_result(true, None)],
                Reply::ok(),
            ),
            (
                &["set", "k", "v", "get"],
                vec![set_result(true, Some("o"))],
                Reply::Bulk(k("o")),
            ),
            (
                &["set", "k", "v", "nx", "get"],
                vec![set_result(false, Some("o"))],
                Reply::Bulk(k("o")),
            ),
            (
                &["getset", "k", "v"],
                vec![set_result(true, None)],
                Reply::Nil,
            ),
            (
                &["setnx", "k", "v"],
                vec![set_result(true, None)],
                Reply::Integer(1),
            ),
            (
                &["setnx", "k", "v"],
                vec![set_result(false, None)],
                Reply::Integer(0),
            ),
            (
                &["setex", "k", "1", "v"],
                vec![set_result(true, None)],
                Reply::ok(),
            ),
            (
                &["incr", "k"],
                vec![ok(CoreReply::Integer(7))],
                Reply::Integer(7),
            ),
            (
                &["incr", "k"],
                vec![ok(CoreReply::Error(ERR_NOT_INTEGER.into()))],
                err(ERR_NOT_INTEGER),
            ),
            (
                &["incrbyfloat", "k", "1"],
                vec![ok(CoreReply::Text("1.5".into()))],
                Reply::Bulk(k("1.5")),
            ),
            (&["strlen", "k"], vec![value("abc")], Reply::Integer(3)),
            (
                &["strlen", "k"],
                vec![ok(CoreReply::Value(None))],
                Reply::Integer(0),
            ),
            (
                &["getrange", "k", "1", "-1"],
                vec![value("hello")],
                Reply::Bulk(k("ello")),
            ),
            (
                &["getrange", "k", "0", "-1"],
                vec![ok(CoreReply::Value(None))],
                Reply::Bulk(vec![]),
            ),
            (
                &["type", "k"],
                vec![value("x")],
                Reply::Simple("string".into()),
            ),
            (
                &["type", "k"],
                vec![ok(CoreReply::Value(None))],
                Reply::Simple("none".into()),
            ),
            (
                &["ttl", "k"],
                vec![ok(CoreReply::Deadline(None))],
                Reply::Integer(-2),
            ),
            (
                &["pttl", "k"],
                vec![ok(CoreReply::Deadline(Some(None)))],
                Reply::Integer(-1),
            ),
            (
                &["ttl", "k"],
                vec![ok(CoreReply::Deadline(Some(Some(NOW + 1_499))))],
                Reply::Integer(1),
            ),
            (
                &["ttl", "k"],
                vec![ok(CoreReply::Deadline(Some(Some(NOW + 1_500))))],
                Reply::Integer(2),
            ),
            (
                &["pttl", "k"],
                vec![ok(CoreReply::Deadline(Some(Some(NOW + 1_500))))],
                Reply::Integer(1_500),
            ),
            (
                &["expiretime", "k"],
                vec![ok(CoreReply::Deadline(Some(Some(12_999))))],
                Reply::Integer(12),
            ),
            (
                &["pexpiretime", "k"],
                vec![ok(CoreReply::Deadline(Some(Some(12_999))))],
                Reply::Integer(12_999),
            ),
            (
                &["expiretime", "k"],
                vec![ok(CoreReply::Deadline(None))],
                Reply::Integer(-2),
            ),
            (
                &["mget", "a", "b", "c"],
                vec![value("1"), ok(CoreReply::Value(None)), value("3")],
                Reply::Array(vec![Reply::Bulk(k("1")), Reply::Nil, Reply::Bulk(k("3"))]),
            ),
            (
                &["mset", "a", "1", "b", "2"],
                vec![ok(CoreReply::Done), ok(CoreReply::Done)],
                Reply::ok(),
            ),
            (
                &["del", "a", "b", "c"],
                vec![
                    ok(CoreReply::Deleted(true)),
                    ok(CoreReply::Deleted(false)),
                    ok(CoreReply::Deleted(true)),
                ],
                Reply::Integer(2),
            ),
            (
                &["exists", "a", "b"],
                vec![value(""), ok(CoreReply::Value(None))],
                Reply::Integer(1),
            ),
            (
                &["cas", "k", "a", "b"],
                vec![ok(CoreReply::Swapped(true))],
                Reply::Integer(1),
            ),
            (
                &["cas", "k", "a", "b"],
                vec![ok(CoreReply::Swapped(false))],
                Reply::Integer(0),
            ),
            (
                &["expire", "k", "1"],
                vec![ok(CoreReply::Integer(1))],
                Reply::Integer(1),
            ),
        ];
        for (a, outcomes, want) in cases {
            assert_eq!(finish_with(a, outcomes), want, "{a:?}");
        }
    }

    #[test]
    fn failed_and_unknown_outcomes_are_told_honestly() {
        assert_eq!(
            finish_with(
                &["set", "k", "v"],
                vec![Outcome::Failed("no quorum".into())]
            ),
            err("FAILED no quorum")
        );
        assert_eq!(
            finish_with(
                &["set", "k", "v"],
                vec![Outcome::Unknown("timed out".into())]
            ),
            err("UNKNOWN timed out")
        );
        // One deleted, one certainly not: neither failed nor ok as a whole.
        assert_eq!(
            finish_with(
                &["del", "a", "b"],
                vec![
                    ok(CoreReply::Deleted(true)),
                    Outcome::Failed("no quorum".into())
                ]
            ),
            err("UNKNOWN applied to 1 of 2 keys; key 'b': no quorum")
        );
        assert_eq!(
            finish_with(
                &["mset", "a", "1", "b", "2"],
                vec![Outcome::Failed("x".into()), Outcome::Failed("y".into())]
            ),
            err("FAILED key 'a': x")
        );
        // Reads never change anything: a failed read is a failed MGET.
        assert_eq!(
            finish_with(
                &["mget", "a", "b"],
                vec![value("1"), Outcome::Failed("x".into())]
            ),
            err("FAILED key 'b': x")
        );
    }

    #[test]
    fn getrange_follows_redis_index_rules() {
        let cases: &[(&str, i64, i64, &str)] = &[
            ("This is a string", 0, 3, "This"),
            ("This is a string", -3, -1, "ing"),
            ("This is a string", 0, -1, "This is a string"),
            ("This is a string", 10, 100, "string"),
            ("This is a string", 5, 3, ""),
            ("This is a string", -1, -5, ""),
            ("This is a string", -100, 2, "Thi"),
            ("abc", 3, 5, ""),
            ("", 0, -1, ""),
        ];
        for &(v, s, e, want) in cases {
            assert_eq!(
                get_range(v.as_bytes(), s, e),
                want.as_bytes(),
                "{v} {s} {e}"
            );
        }
    }

    #[test]
    fn glob_matches_like_redis() {
        let yes: &[(&str, &str)] = &[
            ("*", ""),
            ("*", "anything"),
            ("h?llo", "hello"),
            ("h*llo", "heeeello"),
            ("h*llo", "hllo"),
            ("h[ae]llo", "hallo"),
            ("h[^e]llo", "hallo"),
            ("h[a-b]llo", "hbllo"),
            ("h[b-a]llo", "hallo"),
            ("h\\*llo", "h*llo"),
            ("*a*b*", "xxaxxbxx"),
            ("user:*", "user:1"),
            ("[\\]]", "]"),
            ("a[bc", "ab"),
        ];
        let no: &[(&str, &str)] = &[
            ("h?llo", "hllo"),
            ("h[ae]llo", "hillo"),
            ("h[^e]llo", "hello"),
            ("h[a-b]llo", "hcllo"),
            ("h\\*llo", "hello"),
            ("*a*b*", "xxbxxaxx"),
            ("user:*", "usr:1"),
            ("abc", "ab"),
            ("ab", "abc"),
        ];
        for (p, s) in yes {
            assert!(glob_match(p.as_bytes(), s.as_bytes()), "{p} ~ {s}");
        }
        for (p, s) in no {
            assert!(!glob_match(p.as_bytes(), s.as_bytes()), "{p} !~ {s}");
        }
        // No exponential blow-up on many stars.
        let long = "a".repeat(5_000);
        assert!(!glob_match(
            &[b"*a".repeat(30), b"b".to_vec()].concat(),
            long.as_bytes()
        ));
    }

    // ---- Listing commands ----

    #[test]
    fn keys_lists_every_page_and_reads_each_candidate() {
        let mut r = Registers::default();
        for i in 0..25 {
            r.0.insert(k(&format!("k{i:02}")), Some(Record::new(b"v".to_vec())));
        }
        // A lagging replica's candidate: listed, but the read says it is gone.
        r.0.insert(
            k("k99"),
            Some(Record {
                data: k("v"),
                expires_at_ms: Some(crate::core::command::deadline_at(1)),
            }),
        );
        let mut cursors = ScanCursors::default();
        let mut ops = Vec::new();
        let got = drive(plan_at(&["keys", "k1*"], NOW), NOW, &mut cursors, |op| {
            ops.push(op.clone());
            r.exec(op, NOW, 4)
        });
        let want: Vec<Reply> = (10..20).map(|i| Reply::Bulk(k(&format!("k{i}")))).collect();
        assert_eq!(got, Reply::Array(want));
        let lists = ops.iter().filter(|o| matches!(o, Op::List { .. })).count();
        assert_eq!(lists, 7, "26 keys in pages of 4");
        assert!(ops.iter().all(|o| match o {
            Op::Key(key, Command::Get) => glob_match(b"k1*", key),
            Op::List { .. } => true,
            _ => false,
        }));
        assert_eq!(
            drive(plan_at(&["dbsize"], NOW), NOW, &mut cursors, |op| r
                .exec(op, NOW, 4)),
            Reply::Integer(25)
        );
    }

    #[test]
    fn scan_pages_with_integer_cursors_and_every_key_once() {
        let mut r = Registers::default();
        for i in 0..57 {
            r.0.insert(k(&format!("key:{i}")), Some(Record::new(b"v".to_vec())));
        }
        let mut cursors = ScanCursors::default();
        let mut cursor = "0".to_string();
        let mut seen = Vec::new();
        for _ in 0..100 {
            let got = r.run(&["scan", &cursor, "count", "10"], NOW, &mut cursors);
            let Reply::Array(parts) = got else {
                panic!("{got:?}")
            };
            let [Reply::Bulk(c), Reply::Array(keys)] = &parts[..] else {
                panic!("{parts:?}")
            };
            assert!(keys.len() <= 10);
            seen.extend(keys.iter().cloned());
            cursor = String::from_utf8(c.clone()).unwrap();
            cursor.parse::<u64>().expect("cursors are integers");
            if cursor == "0" {
                break;
            }
        }
        assert_eq!(cursor, "0");
        let mut want: Vec<Reply> = r.0.keys().map(|key| Reply::Bulk(key.clone())).collect();
        want.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
        seen.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
        assert_eq!(seen, want);
        // A cursor this node never handed out (or forgot) is refused.
        assert_eq!(
            r.run(&["scan", "987654"], NOW, &mut cursors),
            err("ERR invalid cursor")
        );
        // TYPE of anything but string: nothing, and the scan is over.
        assert_eq!(
            r.run(&["scan", "0", "type", "hash"], NOW, &mut cursors),
            Reply::Array(vec![Reply::Bulk(k("0")), Reply::Array(vec![])])
        );
    }

    #[test]
    fn the_cursor_table_forgets_the_oldest() {
        let mut c = ScanCursors::default();
        let first = c.insert(k("a"));
        for i in 0..SCAN_CURSORS_MAX {
            c.insert(k(&i.to_string()));
        }
        assert_eq!(c.get(first), None);
        assert_eq!(c.get(first + 1), Some(&k("0")));
    }

    #[test]
    fn flushall_deletes_every_listed_key_through_the_core() {
        let mut r = Registers::default();
        for i in 0..9 {
            r.0.insert(k(&format!("{i}")), Some(Record::new(b"v".to_vec())));
        }
        let mut cursors = ScanCursors::default();
        let mut dels = 0;
        let got = drive(
            plan_at(&["FLUSHALL", "ASYNC"], NOW),
            NOW,
            &mut cursors,
            |op| {
                dels += matches!(op, Op::Key(_, Command::Del)) as usize;
                r.exec(op, NOW, 4)
            },
        );
        assert_eq!(got, Reply::ok());
        assert_eq!(dels, 9);
        assert!(r.0.values().all(Option::is_none));
        assert_eq!(r.run(&["dbsize"], NOW, &mut cursors), Reply::Integer(0));
    }

    #[test]
    fn a_failed_listing_or_delete_is_reported() {
        let mut cursors = ScanCursors::default();
        let got = drive(plan_at(&["keys", "*"], NOW), NOW, &mut cursors, |_| {
            Outcome::Failed("only 1 of 3 members answered".into())
        });
        assert_eq!(got, err("FAILED only 1 of 3 members answered"));
        // FLUSHALL that deleted some keys, then failed: UNKNOWN as a whole.
        let mut n = 0;
        let got = drive(
            plan_at(&["flushall"], NOW),
            NOW,
            &mut cursors,
            |op| match op {
                Op::List { .. } => ok(CoreReply::Keys {
                    keys: vec![k("a"), k("b")],
                    next: None,
                }),
                Op::Key(..) => {
                    n += 1;
                    if n == 1 {
                        ok(CoreReply::Deleted(true))
                    } else {
                        Outcome::Failed("no quorum".into())
                    }
                }
            },
        );
        assert_eq!(got, err("UNKNOWN deleted 1 keys, then key 'b': no quorum"));
    }

    // ---- Connection commands ----

    #[test]
    fn ping_echo_select_quit_info() {
        assert_eq!(reply(&["PING"]), Reply::Simple("PONG".into()));
        assert_eq!(reply(&["ping", "hi"]), Reply::Bulk(k("hi")));
        assert_eq!(reply(&["echo", "x y"]), Reply::Bulk(k("x y")));
        assert_eq!(reply(&["select", "0"]), Reply::ok());
        assert_eq!(plan_at(&["QUIT"], NOW), Plan::Quit);
        assert_eq!(plan_at(&["info"], NOW), Plan::Info { section: None });
        assert_eq!(
            plan_at(&["INFO", "Stats"], NOW),
            Plan::Info {
                section: Some("stats".into())
            }
        );
    }

    #[test]
    fn hello_and_client_keep_per_connection_state() {
        let mut s = Session {
            id: 42,
            ..Session::default()
        };
        let mut run = |a: &[&str]| match plan(args(a), NOW, &mut s) {
            Plan::Reply(r) => r,
            other => panic!("{other:?}"),
        };
        let Reply::Array(items) = run(&["hello", "2", "setname", "me"]) else {
            panic!()
        };
        assert_eq!(items.len(), 14);
        assert_eq!(items[0], Reply::Bulk(k("server")));
        assert_eq!(items[5], Reply::Integer(2));
        assert_eq!(items[7], Reply::Integer(42));
        assert_eq!(run(&["client", "getname"]), Reply::Bulk(k("me")));
        assert_eq!(run(&["CLIENT", "SETNAME", "other"]), Reply::ok());
        assert_eq!(run(&["client", "getname"]), Reply::Bulk(k("other")));
        assert_eq!(run(&["client", "setname", ""]), Reply::ok());
        assert_eq!(run(&["client", "getname"]), Reply::Nil);
        assert_eq!(run(&["client", "id"]), Reply::Integer(42));
        // What redis-py sends on connect.
        assert_eq!(
            run(&["CLIENT", "SETINFO", "LIB-NAME", "redis-py"]),
            Reply::ok()
        );
        assert_eq!(run(&["CLIENT", "SETINFO", "LIB-VER", "5.0.1"]), Reply::ok());
        let Reply::Bulk(line) = run(&["client", "info"]) else {
            panic!()
        };
        assert!(String::from_utf8(line).unwrap().contains("id=42 "));
        assert!(matches!(run(&["hello"]), Reply::Array(_)));
    }

    #[test]
    fn command_describes_every_command() {
        assert_eq!(
            reply(&["command", "count"]),
            Reply::Integer(COMMANDS.len() as i64)
        );
        let Reply::Array(all) = reply(&["command"]) else {
            panic!()
        };
        assert_eq!(all.len(), COMMANDS.len());
        let Reply::Array(info) = reply(&["command", "info", "get", "nosuch"]) else {
            panic!()
        };
        assert_eq!(info[1], Reply::Nil);
        assert!(matches!(&info[0], Reply::Array(e) if e[1] == Reply::Integer(2)));
        let Reply::Array(docs) = reply(&["command", "docs", "mget"]) else {
            panic!()
        };
        assert_eq!(docs[0], Reply::Bulk(k("mget")));
        let Reply::Array(fields) = &docs[1] else {
            panic!()
        };
        assert!(fields.contains(&Reply::Bulk(k(
            "Returns the values of several keys. Each key is read linearizably; not atomic across keys."
        ))));
        let Reply::Array(docs) = reply(&["command", "docs"]) else {
            panic!()
        };
        assert_eq!(docs.len(), 2 * COMMANDS.len());
        assert_eq!(reply(&["command", "docs", "nosuch"]), Reply::Array(vec![]));
    }

    #[test]
    fn config_get_answers_what_benchmarks_ask() {
        assert_eq!(
            reply(&["config", "get", "appendonly"]),
            Reply::Array(vec![Reply::Bulk(k("appendonly")), Reply::Bulk(k("no"))])
        );
        assert_eq!(reply(&["config", "get", "maxmemory"]), Reply::Array(vec![]));
        assert!(matches!(
            reply(&["config", "set", "a", "b"]),
            Reply::Error(_)
        ));
    }

    #[test]
    fn info_has_every_section_in_redis_format() {
        let snap = InfoSnapshot {
            node_id: 2,
            incarnation: 99,
            voting: false,
            members: vec![1, 2, 3],
            replicas: 3,
            quorum: 2,
            peers: vec![PeerInfo {
                node: 1,
                addr: "127.0.0.1:7101".into(),
                up: true,
                inbound: 1,
                incarnation: 5,
            }],
            keys: 4,
            stats: Stats {
                memory_used_bytes: 3 << 20,
                expired_keys: 6,
                evicted_keys: 7,
                ..Stats::default()
            },
            recovery: Some(RecoveryProgress {
                keys_listed: 50,
                keys_repaired: 12,
                peers_done: 1,
                peers_total: 2,
            }),
            runtime: vec![("frames_sent", 7)],
            ..InfoSnapshot::default()
        };
        let text = info_text(&snap, None);
        for needle in [
            "# Server\r\n",
            "node_id:2\r\n",
            "role:recovering\r\n",
            "recovery:12/50 keys repaired, 1/2 peer listings done\r\n",
            "# Memory\r\nused_memory:3145728\r\nused_memory_human:3.00M\r\n",
            "# Cluster\r\n",
            "peer1:addr=127.0.0.1:7101,state=up,inbound=1,incarnation=5\r\n",
            "# Keyspace\r\n",
            "db0:keys=4,expires=0,avg_ttl=0\r\n",
            "# Stats\r\n",
            "expired_keys:6\r\n",
            "evicted_keys:7\r\n",
            "frames_sent:7\r\n",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in {text}");
        }
        assert_eq!(text.matches("used_memory:").count(), 1);
        let only = info_text(&snap, Some("memory"));
        assert!(only.starts_with("# Memory\r\n"), "{only}");
        assert!(!only.contains("# Server"));
        assert_eq!(info_text(&snap, Some("nosuch")), "");
    }

    // ---- A model of Redis string semantics ----

    /// Redis, as its documentation describes it, for keys without types:
    /// value and optional deadline (absolute ms); expired reads as absent.
    #[derive(Default, Debug)]
    struct Model(BTreeMap<Key, (Vec<u8>, Option<u64>)>);

    impl Model {
        fn live(&mut self, key: &[u8], now: u64) -> Option<(Vec<u8>, Option<u64>)> {
            if self
                .0
                .get(key)
                .is_some_and(|(_, d)| d.is_some_and(|d| d <= now))
            {
                self.0.remove(key);
            }
            self.0.get(key).cloned()
        }

        fn nil_or(v: Option<Vec<u8>>) -> Reply {
            v.map_or(Reply::Nil, Reply::Bulk)
        }

        fn apply(&mut self, c: &ModelCmd, now: u64) -> Reply {
            use ModelCmd::*;
            match c {
                Set {
                    key,
                    v,
                    ex_ms,
                    keepttl,
                    nx,
                    xx,
                    get,
                } => {
                    let live = self.live(key, now);
                    let applies = (!nx || live.is_none()) && (!xx || live.is_some());
                    let old = live.as_ref().map(|(v, _)| v.clone());
                    if applies {
                        let deadline = match (ex_ms, keepttl) {
                            (Some(ms), _) => Some(now + ms),
                            (None, true) => live.and_then(|(_, d)| d),
                            (None, false) => None,
                        };
                        self.0.insert(key.clone(), (v.clone(), deadline));
                    }
                    match (get, applies) {
                        (true, _) => Self::nil_or(old),
                        (false, true) => Reply::ok(),
                        (false, false) => Reply::Nil,
                    }
                }
                Get(key) => Self::nil_or(self.live(key, now).map(|x| x.0)),
                Del(key) => Reply::Integer(
                    self.live(key, now).is_some() as i64 + {
                        self.0.remove(key);
                        0
                    },
                ),
                Exists(key) => Reply::Integer(self.live(key, now).is_some() as i64),
                IncrBy(key, n) => {
                    let live = self.live(key, now);
                    let cur = match &live {
                        None => 0,
                        Some((v, _)) => match parse_i64(v) {
                            Some(x) => x,
                            None => return err(ERR_NOT_INTEGER),
                        },
                    };
                    let Some(sum) = cur.checked_add(*n) else {
                        return err("ERR increment or decrement would overflow");
                    };
                    let d = live.and_then(|(_, d)| d);
                    self.0
                        .insert(key.clone(), (sum.to_string().into_bytes(), d));
                    Reply::Integer(sum)
                }
                Append(key, v) => {
                    let (mut cur, d) = self.live(key, now).unwrap_or_default();
                    cur.extend_from_slice(v);
                    let len = cur.len() as i64;
                    self.0.insert(key.clone(), (cur, d));
                    Reply::Integer(len)
                }
                Strlen(key) => Reply::Integer(self.live(key, now).map_or(0, |x| x.0.len() as i64)),
                Ttl(key, ms) => match self.live(key, now) {
                    None => Reply::Integer(-2),
                    Some((_, None)) => Reply::Integer(-1),
                    Some((_, Some(d))) => {
                        let left = d - now;
                        Reply::Integer(if *ms { left } else { (left + 500) / 1000 } as i64)
                    }
                },
                Expire { key, secs, flag } => {
                    let Some((v, cur)) = self.live(key, now) else {
                        return Reply::Integer(0);
                    };
                    let at = now as i64 + secs * 1000;
                    let applies = match flag {
                        None => true,
                        Some("NX") => cur.is_none(),
                        Some("XX") => cur.is_some(),
                        Some("GT") => cur.is_some_and(|c| at > c as i64),
                        _ => cur.is_none_or(|c| at < c as i64),
                    };
                    if !applies {
                        return Reply::Integer(0);
                    }
                    if at <= now as i64 {
                        self.0.remove(key);
                    } else {
                        self.0.insert(key.clone(), (v, Some(at as u64)));
                    }
                    Reply::Integer(1)
                }
                Persist(key) => match self.live(key, now) {
                    Some((v, Some(_))) => {
                        self.0.insert(key.clone(), (v, None));
                        Reply::Integer(1)
                    }
                    _ => Reply::Integer(0),
                },
                GetDel(key) => {
                    let v = self.live(key, now).map(|x| x.0);
                    self.0.remove(key);
                    Self::nil_or(v)
                }
                GetExPx(key, ms) => match self.live(key, now) {
                    Some((v, _)) => {
                        self.0.insert(key.clone(), (v.clone(), Some(now + ms)));
                        Reply::Bulk(v)
                    }
                    None => Reply::Nil,
                },
                Type(key) => Reply::Simple(
                    if self.live(key, now).is_some() {
                        "string"
                    } else {
                        "none"
                    }
                    .into(),
                ),
                DbSize => {
                    let keys: Vec<Key> = self.0.keys().cloned().collect();
                    Reply::Integer(
                        keys.iter().filter(|k| self.live(k, now).is_some()).count() as i64
                    )
                }
                Wait(_) => Reply::ok(),
            }
        }
    }

    #[derive(Clone, Debug)]
    enum ModelCmd {
        Set {
            key: Key,
            v: Vec<u8>,
            ex_ms: Option<u64>,
            keepttl: bool,
            nx: bool,
            xx: bool,
            get: bool,
        },
        Get(Key),
        Del(Key),
        Exists(Key),
        IncrBy(Key, i64),
        Append(Key, Vec<u8>),
        Strlen(Key),
        Ttl(Key, bool),
        Expire {
            key: Key,
            secs: i64,
            flag: Option<&'static str>,
        },
        Persist(Key),
        GetDel(Key),
        GetExPx(Key, u64),
        Type(Key),
        DbSize,
        Wait(u64),
    }

    impl ModelCmd {
        fn args(&self) -> Vec<Vec<u8>> {
            use ModelCmd::*;
            let s = |x: &str| x.as_bytes().to_vec();
            let n = |x: i64| x.to_string().into_bytes();
            match self {
                Set {
                    key,
                    v,
                    ex_ms,
                    keepttl,
                    nx,
                    xx,
                    get,
                } => {
                    let mut a = vec![s("SET"), key.clone(), v.clone()];
                    if let Some(ms) = ex_ms {
                        a.extend([s("PX"), n(*ms as i64)]);
                    }
                    if *keepttl {
                        a.push(s("KEEPTTL"));
                    }
                    if *nx {
                        a.push(s("NX"));
                    }
                    if *xx {
                        a.push(s("XX"));
                    }
                    if *get {
                        a.push(s("GET"));
                    }
                    a
                }
                Get(k) => vec![s("GET"), k.clone()],
                Del(k) => vec![s("DEL"), k.clone()],
                Exists(k) => vec![s("EXISTS"), k.clone()],
                IncrBy(k, d) => vec![s("INCRBY"), k.clone(), n(*d)],
                Append(k, v) => vec![s("APPEND"), k.clone(), v.clone()],
                Strlen(k) => vec![s("STRLEN"), k.clone()],
                Ttl(k, ms) => vec![s(if *ms { "PTTL" } else { "TTL" }), k.clone()],
                Expire { key, secs, flag } => {
                    let mut a = vec![s("EXPIRE"), key.clone(), n(*secs)];
                    a.extend(flag.map(s));
                    a
                }
                Persist(k) => vec![s("PERSIST"), k.clone()],
                GetDel(k) => vec![s("GETDEL"), k.clone()],
                GetExPx(k, ms) => vec![s("GETEX"), k.clone(), s("PX"), n(*ms as i64)],
                Type(k) => vec![s("TYPE"), k.clone()],
                DbSize => vec![s("DBSIZE")],
                Wait(_) => vec![s("PING")],
            }
        }
    }

    fn model_cmd() -> impl Strategy<Value = ModelCmd> {
        use ModelCmd::*;
        let key = prop::sample::select(vec![k("a"), k("b"), k("c")]);
        let val = prop::sample::select(vec![k("1"), k("-20"), k("x"), k(""), k("99")]);
        prop_oneof![
            (
                key.clone(),
                val.clone(),
                prop::option::of(1u64..3_000),
                any::<bool>(),
                0u8..3,
                any::<bool>()
            )
                .prop_map(|(key, v, ex_ms, keep, cond, get)| Set {
                    key,
                    v,
                    keepttl: keep && ex_ms.is_none(),
                    ex_ms,
                    nx: cond == 1,
                    xx: cond == 2,
                    get,
                }),
            key.clone().prop_map(Get),
            key.clone().prop_map(Del),
            key.clone().prop_map(Exists),
            (key.clone(), -5i64..5).prop_map(|(k, d)| IncrBy(k, d)),
            (key.clone(), val).prop_map(|(k, v)| Append(k, v)),
            key.clone().prop_map(Strlen),
            (key.clone(), any::<bool>()).prop_map(|(k, ms)| Ttl(k, ms)),
            (
                key.clone(),
                -1i64..4,
                prop::sample::select(vec![None, Some("NX"), Some("XX"), Some("GT"), Some("LT")])
            )
                .prop_map(|(key, secs, flag)| Expire { key, secs, flag }),
            key.clone().prop_map(Persist),
            key.clone().prop_map(GetDel),
            (key.clone(), 1u64..3_000).prop_map(|(k, ms)| GetExPx(k, ms)),
            key.prop_map(Type),
            Just(DbSize),
            (0u64..2_500).prop_map(Wait),
        ]
    }

    proptest! {
        /// Random command sequences through `plan` and the core's change
        /// functions (one register per key, no network) answer exactly what
        /// the model of Redis answers, TTLs included, under a fake clock.
        #[test]
        fn commands_answer_as_the_redis_model(cmds in prop::collection::vec(model_cmd(), 1..60)) {
            let mut regs = Registers::default();
            let mut model = Model::default();
            let mut cursors = ScanCursors::default();
            let mut now = NOW;
            for c in &cmds {
                if let ModelCmd::Wait(ms) = c {
                    now += ms;
                    continue;
                }
                let p = plan(c.args(), now, &mut Session::default());
                let got = drive(p, now, &mut cursors, |op| regs.exec(op, now, 2));
                let want = model.apply(c, now);
                prop_assert_eq!(got, want, "{:?} at +{} ms", c, now - NOW);
            }
        }
    }
}
