//! [`CoreCall`]: the core operations of one client command, run in steps by
//! the runtime, and the folding of their outcomes into one RESP reply.

use super::expire::ttl_reply;
use super::glob::glob_match;
use super::keys::{scan_reply, ListCall, ListWhat};
use super::set::Algebra;
use super::string::get_range;
use super::{bulk, CallCtx, Op, Step};
use crate::core::types::ERR_WRONGTYPE;
use crate::core::{Answer, Command, Key, Outcome, Reply as CoreReply};
use crate::resp::Reply;

/// The core operations of one client command and how to fold their outcomes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CoreCall {
    pub(super) kind: CallKind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum CallKind {
    /// One batch of per-key commands, folded by `combine`.
    Keys {
        requests: Vec<(Key, Command)>,
        combine: Combine,
    },
    /// KEYS, SCAN, DBSIZE, FLUSHALL: list pages, then read (or delete) keys.
    Listing(ListCall),
    /// WATCH: read the key's version into the connection's cell (multi.rs).
    Watch {
        key: Key,
        cell: super::multi::WatchCell,
    },
    /// EXEC of a one-key transaction: one composed change (multi.rs).
    Exec {
        key: Key,
        parts: Vec<Part>,
        watched: Vec<super::multi::WatchCell>,
    },
}

/// One queued command of a transaction, planned at EXEC.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Part {
    /// A command answered without the core (PING, ECHO, ...).
    Now(Reply),
    /// Per-key commands, folded as outside a transaction.
    Keys {
        requests: Vec<(Key, Command)>,
        combine: Combine,
    },
}

/// EXEC's array: each part's reply, the keyed parts from `replies` in order.
pub(super) fn finish_parts(parts: &[Part], replies: &[CoreReply], now_ms: u64) -> Reply {
    let mut replies = replies.iter();
    let mut out = Vec::with_capacity(parts.len());
    for p in parts {
        match p {
            Part::Now(r) => out.push(r.clone()),
            Part::Keys { requests, combine } => {
                let outcomes: Vec<Outcome> = replies
                    .by_ref()
                    .take(requests.len())
                    .cloned()
                    .map(Outcome::Ok)
                    .collect();
                if outcomes.len() != requests.len() {
                    return unexpected(None);
                }
                out.push(finish(requests, combine, &outcomes, now_ms));
            }
        }
    }
    Reply::Array(out)
}

/// The shape of a per-key command's reply.
#[derive(Clone, Debug, PartialEq, Eq)]
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
    /// TYPE: the type's name, or `none`.
    Type,
    /// OBJECT ENCODING: the encoding's name, or nil.
    Encoding,
    /// A typed command (hash, set, sorted set, list): the core's answer as is.
    Nested,
    /// HSCAN, SSCAN, ZSCAN: the whole collection in one page (cursor 0),
    /// filtered by MATCH; `values` false drops a hash's values (NOVALUES).
    Scan {
        cursor: u64,
        pattern: Option<Vec<u8>>,
        values: bool,
    },
    /// SINTER, SUNION, SDIFF: the members of each key, combined.
    SetAlgebra(Algebra),
    /// TTL family: relative or absolute, in seconds or ms.
    Ttl { ms: bool, absolute: bool },
    /// MGET: an array of values or nils.
    MGet,
    /// LCS: the two keys' values (one read if both name the same key).
    Lcs(super::string::LcsOptions),
    /// RENAME / RENAMENX of a key to itself: `+OK` (NX: 0) if it exists
    /// (TYPE's reply), else Redis's `no such key`.
    RenameSelf { nx: bool },
    /// OBJECT FREQ / IDLETIME: nil for a missing key, else this error.
    ObjectUntracked(&'static str),
    /// OBJECT REFCOUNT: 1, or Redis's shared-integer count for a small
    /// integer (TYPE's reply says whether the key exists).
    RefCount,
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
                    if matches!(l.what, ListWhat::Scan { type_ok: false, .. }) {
                        // A type we never hold: nothing to list; the scan is over.
                        return Step::Done(scan_reply(0, vec![]));
                    }
                }
                l.list_step()
            }
            CallKind::Watch { key, .. } => Step::Run(vec![Op::Key(key.clone(), Command::Watch)]),
            CallKind::Exec {
                key,
                parts,
                watched,
            } => super::multi::exec_start(key, parts, watched),
        }
    }

    /// The next step, given the outcomes of the last one (in its order).
    pub fn resume(&mut self, outcomes: Vec<Outcome>, ctx: &mut CallCtx<'_>) -> Step {
        match &mut self.kind {
            CallKind::Keys { requests, combine } => {
                Step::Done(finish(requests, combine, &outcomes, ctx.now_ms))
            }
            CallKind::Listing(l) => l.resume(outcomes, ctx),
            CallKind::Watch { cell, .. } => match outcomes.first() {
                Some(o) => Step::Done(super::multi::watch_finish(cell, o)),
                None => Step::Done(unexpected(None)),
            },
            CallKind::Exec { parts, .. } => match outcomes.first() {
                Some(o) => Step::Done(super::multi::exec_finish(parts, o, ctx)),
                None => Step::Done(unexpected(None)),
            },
        }
    }

    /// The one request of a single-key call (None for several keys or a
    /// listing): what a script's `redis.call` applies to its key.
    pub fn single(&self) -> Option<(&Key, &Command)> {
        match &self.kind {
            CallKind::Keys { requests, .. } if requests.len() == 1 => {
                requests.first().map(|(k, c)| (k, c))
            }
            _ => None,
        }
    }

    /// The per-key requests of a one-step call (empty for listings): for tests.
    pub fn requests(&self) -> Vec<(Key, Command)> {
        match &self.kind {
            CallKind::Keys { requests, .. } => requests.clone(),
            CallKind::Listing(_) | CallKind::Watch { .. } | CallKind::Exec { .. } => vec![],
        }
    }
}

/// The reply of a single-key call whose one command answered `reply`.
pub fn single_request_reply(call: &CoreCall, reply: CoreReply, now_ms: u64) -> Reply {
    match &call.kind {
        CallKind::Keys { requests, combine } => {
            finish(requests, combine, &[Outcome::Ok(reply)], now_ms)
        }
        _ => unexpected(Some(&reply)),
    }
}

/// Folds the outcomes (one per request, in request order) into one reply.
fn finish(
    requests: &[(Key, Command)],
    combine: &Combine,
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
        if !matches!(combine, Combine::MGet | Combine::Lcs(_) | Combine::RefCount) {
            return Reply::error(e.clone());
        }
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
        Combine::Exists => Ok(count(|r| matches!(r, CoreReply::Text(t) if t != "none"))),
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
            value(first).map(|v| Reply::Bulk(get_range(&v.unwrap_or_default(), *start, *end)))
        }
        Combine::Type => match first {
            Some(CoreReply::Text(t)) => Ok(Reply::Simple(t.clone())),
            other => Err(unexpected(other)),
        },
        Combine::Encoding => match first {
            Some(CoreReply::Text(t)) => Ok(bulk(t)),
            Some(CoreReply::Value(None)) => Ok(Reply::Nil),
            other => Err(unexpected(other)),
        },
        Combine::Ttl { ms, absolute } => match first {
            Some(CoreReply::Deadline(d)) => {
                Ok(Reply::Integer(ttl_reply(*d, *ms, *absolute, now_ms)))
            }
            other => Err(unexpected(other)),
        },
        // MGET answers nil for a key of another type, as Redis does.
        Combine::MGet => replies
            .iter()
            .map(|r| match r {
                CoreReply::Error(e) if e == ERR_WRONGTYPE => Ok(Reply::Nil),
                r => value(Some(r)).map(|v| v.map_or(Reply::Nil, Reply::Bulk)),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Reply::Array),
        Combine::Nested => match first {
            Some(CoreReply::Nested(a)) => Ok(answer_reply(a)),
            other => Err(unexpected(other)),
        },
        Combine::Scan {
            cursor,
            pattern,
            values,
        } => match first {
            Some(CoreReply::Nested(a)) => Ok(scan_page(a, *cursor, pattern.as_deref(), *values)),
            other => Err(unexpected(other)),
        },
        Combine::SetAlgebra(algebra) => set_algebra(*algebra, &replies),
        Combine::Lcs(o) => {
            let mut strings = Vec::with_capacity(2);
            for r in &replies {
                match r {
                    CoreReply::Value(v) => strings.push(v.clone().unwrap_or_default()),
                    CoreReply::Error(e) if e == ERR_WRONGTYPE => {
                        return Reply::error("ERR The specified keys must contain string values")
                    }
                    other => return unexpected(Some(other)),
                }
            }
            match &strings[..] {
                [a] => Ok(super::string::lcs_reply(a, a, *o)),
                [a, b] => Ok(super::string::lcs_reply(a, b, *o)),
                _ => Err(unexpected(None)),
            }
        }
        Combine::RenameSelf { nx } => match first {
            Some(CoreReply::Text(t)) if t == "none" => Ok(Reply::error("ERR no such key")),
            Some(CoreReply::Text(_)) if *nx => Ok(Reply::Integer(0)),
            Some(CoreReply::Text(_)) => Ok(Reply::ok()),
            other => Err(unexpected(other)),
        },
        Combine::ObjectUntracked(why) => match first {
            Some(CoreReply::Text(t)) if t == "none" => Ok(Reply::Nil),
            Some(CoreReply::Text(_)) => Ok(Reply::error(*why)),
            other => Err(unexpected(other)),
        },
        Combine::RefCount => match first {
            Some(CoreReply::Value(None)) => Ok(Reply::Nil),
            Some(CoreReply::Value(Some(v))) => Ok(Reply::Integer(
                if crate::core::command::parse_i64(v).is_some_and(|n| (0..10_000).contains(&n)) {
                    i64::from(i32::MAX)
                } else {
                    1
                },
            )),
            // A collection (GET answers WRONGTYPE): never shared.
            Some(CoreReply::Error(e)) if e == ERR_WRONGTYPE => Ok(Reply::Integer(1)),
            other => Err(unexpected(other)),
        },
    };
    shaped.unwrap_or_else(|e| e)
}

/// A typed command's answer as a RESP reply: the same shapes, one to one.
pub(super) fn answer_reply(a: &Answer) -> Reply {
    let pairs = |ps: &[(Answer, Answer)]| {
        ps.iter()
            .map(|(k, v)| (answer_reply(k), answer_reply(v)))
            .collect()
    };
    match a {
        Answer::Nil => Reply::Nil,
        Answer::NilArray => Reply::NilArray,
        Answer::Status(s) => Reply::Simple(s.clone()),
        Answer::Int(n) => Reply::Integer(*n),
        Answer::Bulk(b) => Reply::Bulk(b.clone()),
        Answer::Double(d) => Reply::Double(d.clone()),
        Answer::Array(items) => Reply::Array(items.iter().map(answer_reply).collect()),
        Answer::Set(items) => Reply::Set(items.iter().map(answer_reply).collect()),
        Answer::Map(ps) => Reply::Map(pairs(ps)),
        Answer::Pairs(ps) => Reply::Pairs(pairs(ps)),
    }
}

/// The bytes of a bulk or double answer (a scan page carries scores as strings).
fn answer_bytes(a: &Answer) -> Vec<u8> {
    match a {
        Answer::Bulk(b) => b.clone(),
        Answer::Double(d) => d.clone().into_bytes(),
        Answer::Int(n) => n.to_string().into_bytes(),
        _ => Vec::new(),
    }
}

/// One page of HSCAN, SSCAN or ZSCAN: every element, as Redis answers for a
/// small collection (cursor 0 after it). A cursor other than 0 is past the end.
fn scan_page(a: &Answer, cursor: u64, pattern: Option<&[u8]>, values: bool) -> Reply {
    let keep = |k: &[u8]| pattern.is_none_or(|p| glob_match(p, k));
    let mut items = Vec::new();
    if cursor == 0 {
        match a {
            Answer::Map(ps) | Answer::Pairs(ps) => {
                for (k, v) in ps {
                    let k = answer_bytes(k);
                    if keep(&k) {
                        items.push(Reply::Bulk(k));
                        if values {
                            items.push(Reply::Bulk(answer_bytes(v)));
                        }
                    }
                }
            }
            Answer::Set(ms) | Answer::Array(ms) => {
                for m in ms {
                    let m = answer_bytes(m);
                    if keep(&m) {
                        items.push(Reply::Bulk(m));
                    }
                }
            }
            _ => {}
        }
    }
    Reply::Array(vec![bulk("0"), Reply::Array(items)])
}

/// SINTER, SUNION, SDIFF over each key's members (in the first key's order,
/// then each new member as met).
fn set_algebra(algebra: Algebra, replies: &[&CoreReply]) -> Result<Reply, Reply> {
    let mut sets: Vec<Vec<Vec<u8>>> = Vec::with_capacity(replies.len());
    for r in replies {
        match r {
            CoreReply::Nested(Answer::Set(ms)) => sets.push(ms.iter().map(answer_bytes).collect()),
            CoreReply::Error(e) => return Err(Reply::error(e.clone())),
            other => return Err(unexpected(Some(other))),
        }
    }
    let Some((first, rest)) = sets.split_first() else {
        return Ok(Reply::Set(vec![]));
    };
    let mut out: Vec<Vec<u8>> = Vec::new();
    match algebra {
        Algebra::Inter => {
            for m in first {
                if rest.iter().all(|s| s.contains(m)) {
                    out.push(m.clone());
                }
            }
        }
        Algebra::Diff => {
            for m in first {
                if !rest.iter().any(|s| s.contains(m)) {
                    out.push(m.clone());
                }
            }
        }
        Algebra::Union => {
            let mut seen = std::collections::HashSet::new();
            for m in sets.iter().flatten() {
                if seen.insert(m.clone()) {
                    out.push(m.clone());
                }
            }
        }
    }
    Ok(Reply::Set(out.into_iter().map(Reply::Bulk).collect()))
}

/// The error reply, if any outcome is not Ok.
fn outcomes_error(
    requests: &[(Key, Command)],
    combine: &Combine,
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

pub(super) fn unexpected(reply: Option<&CoreReply>) -> Reply {
    Reply::error(format!(
        "ERR internal: unexpected core reply {reply:?}; please report this bug"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::testing::*;

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
                vec![ok(CoreReply::Text("hash".into()))],
                Reply::Simple("hash".into()),
            ),
            (
                &["type", "k"],
                vec![ok(CoreReply::Text("none".into()))],
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
                vec![
                    ok(CoreReply::Text("string".into())),
                    ok(CoreReply::Text("none".into())),
                ],
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
}
