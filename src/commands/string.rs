//! String commands (Redis's t_string.c): GET, SET and its options, GETSET,
//! GETDEL, GETEX, SETNX, SETEX, PSETEX, MGET, MSET, APPEND, STRLEN, GETRANGE,
//! SETRANGE, the INCR family, INCRBYFLOAT, MSETNX, LCS, and synod's CAS.
//!
//! Across keys (the rule of docs/redis.md): LCS reads each key in its own
//! round (not a snapshot across keys, as MGET); MSETNX, which Redis applies
//! atomically across keys, works on one key and is refused across keys
//! with a CROSSSLOT error.

use super::expire::{deadline_ms, invalid_expire};
use super::spec::{spec, Family, ALL, ONE, R, W, WF};
use super::{
    core, int_arg, one, syntax_error, unknown_command, upper, wrong_arity, Args, Combine, Planned,
};
use crate::core::command::{parse_f64, ERR_NOT_FLOAT};
use crate::core::{Bytes, Command, Expiry, SetCond};
use crate::resp::Reply;

pub(super) const FAMILY: Family = Family {
    plan,
    commands: &[
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
        spec("msetnx", -3, W, (1, -1, 2), "string", "Sets keys only if none exists: one key only (CROSSSLOT across keys). Linearizable."),
        spec("lcs", -3, &["readonly"], (1, 2, 1), "string", "The longest common subsequence of two strings: each key read linearizably; not atomic across keys."),
        spec("cas", 4, W, ONE, "string", "synod: compare-and-swap; 1 if the value was `expected` (empty: absent) and is now `new`, else 0. Linearizable."),
    ],
};

/// Moves a value argument into its command: no copy (a 16 MiB SET argument
/// was copied here, on the executor thread, issue 14).
fn take(arg: &mut Vec<u8>) -> Bytes {
    std::mem::take(arg).into()
}

fn plan(c: &mut Args<'_>) -> Planned {
    let (name, a, now_ms) = (c.name, &mut *c.a, c.now_ms);
    match name {
        "get" => one(&a[0], Command::Get, Combine::Get),
        "set" => plan_set(a, now_ms),
        "getset" => {
            let command = Command::SetWith {
                data: take(&mut a[1]),
                expiry: Expiry::Clear,
                cond: SetCond::Always,
                get: true,
            };
            one(&a[0], command, Combine::SetGet)
        }
        "getdel" => one(&a[0], Command::GetDel, Combine::Get),
        "getex" => plan_getex(a, now_ms),
        "setnx" => {
            let command = Command::SetWith {
                data: take(&mut a[1]),
                expiry: Expiry::Clear,
                cond: SetCond::IfAbsent,
                get: false,
            };
            one(&a[0], command, Combine::SetNx)
        }
        "setex" | "psetex" => {
            let unit = if name == "setex" { 1_000 } else { 1 };
            let n = int_arg(&a[1])?;
            if n <= 0 {
                return Err(invalid_expire(name));
            }
            let at = deadline_ms(&a[1], unit, now_ms, name)?;
            let command = Command::SetWith {
                data: take(&mut a[2]),
                expiry: Expiry::At(at as u64),
                cond: SetCond::Always,
                get: false,
            };
            one(&a[0], command, Combine::Ok)
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
                a.chunks_mut(2)
                    .map(|kv| (std::mem::take(&mut kv[0]), Command::Set(take(&mut kv[1]))))
                    .collect(),
                Combine::Ok,
            )
        }
        "msetnx" => {
            if a.len() % 2 != 0 {
                return Err(wrong_arity(name));
            }
            let keys: Vec<Vec<u8>> = a.chunks(2).map(|kv| kv[0].clone()).collect();
            if !super::set::same_key(&keys) {
                return Err(super::set::crossslot(name));
            }
            // One key named once or more: Redis sets it (to the last value)
            // only if it does not exist.
            let last = a.len() - 1;
            let command = Command::SetWith {
                data: take(&mut a[last]),
                expiry: Expiry::Clear,
                cond: SetCond::IfAbsent,
                get: false,
            };
            one(&a[0], command, Combine::SetNx)
        }
        "lcs" => plan_lcs(a),
        "append" => {
            let command = Command::Append(std::mem::take(&mut a[1]));
            one(&a[0], command, Combine::Integer)
        }
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
            let command = Command::SetRange {
                offset: offset as u64,
                data: std::mem::take(&mut a[2]),
            };
            one(&a[0], command, Combine::Integer)
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
            let command = Command::Cas {
                expected,
                new: std::mem::take(&mut a[2]),
            };
            one(&a[0], command, Combine::Cas)
        }
        _ => Err(unknown_command(&[name.as_bytes().to_vec()])),
    }
}

/// LCS's options: what to answer besides the subsequence.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LcsOptions {
    /// LEN: the length only.
    pub len: bool,
    /// IDX: the matching ranges (and the length).
    pub idx: bool,
    /// MINMATCHLEN: ranges shorter than this are left out.
    pub min_match_len: u64,
    /// WITHMATCHLEN: each range with its length.
    pub with_match_len: bool,
}

/// `LCS key1 key2 [LEN] [IDX] [MINMATCHLEN n] [WITHMATCHLEN]`: a GET of each key.
fn plan_lcs(a: &[Vec<u8>]) -> Planned {
    let mut o = LcsOptions::default();
    let mut i = 2;
    while i < a.len() {
        match upper(&a[i]).as_str() {
            "IDX" => o.idx = true,
            "LEN" => o.len = true,
            "WITHMATCHLEN" => o.with_match_len = true,
            "MINMATCHLEN" if i + 1 < a.len() => {
                i += 1;
                o.min_match_len = int_arg(&a[i])?.max(0) as u64;
            }
            _ => return Err(syntax_error()),
        }
        i += 1;
    }
    if o.idx && o.len {
        return Err(Reply::error(
            "ERR If you want both the length and indexes, please just use IDX.",
        ));
    }
    let mut requests = vec![(a[0].clone(), Command::Get)];
    if a[1] != a[0] {
        requests.push((a[1].clone(), Command::Get));
    }
    core(requests, Combine::Lcs(o))
}

/// The bytes of the transient table LCS may allocate (Redis bounds it by
/// `proto-max-bulk-len`, 512 MiB; the table runs on the node's event loop,
/// so ours is smaller: two strings of 2 KiB each, or 64 KiB and 64 bytes).
pub const LCS_TABLE_MAX_BYTES: u64 = 16 << 20;

/// The longest common subsequence of `a` and `b`, answered as LCS answers
/// with options `o`: Redis's dynamic programme and backtrack, so the same
/// subsequence and ranges (t_string.c).
pub fn lcs_reply(a: &[u8], b: &[u8], o: LcsOptions) -> Reply {
    let (alen, blen) = (a.len(), b.len());
    let cells = (alen as u64 + 1) * (blen as u64 + 1);
    if cells * 4 > LCS_TABLE_MAX_BYTES {
        return Reply::error(format!(
            "ERR Insufficient memory, transient memory for LCS exceeds {LCS_TABLE_MAX_BYTES} bytes (synod's bound)"
        ));
    }
    let w = blen + 1;
    let mut t = vec![0u32; (alen + 1) * w];
    for i in 1..=alen {
        for j in 1..=blen {
            t[i * w + j] = if a[i - 1] == b[j - 1] {
                t[(i - 1) * w + j - 1] + 1
            } else {
                t[(i - 1) * w + j].max(t[i * w + j - 1])
            };
        }
    }
    let total = t[alen * w + blen];
    if o.len && !o.idx {
        return Reply::Integer(i64::from(total));
    }
    let mut out = vec![0u8; total as usize];
    let mut idx = total as usize;
    let mut matches = Vec::new();
    let (mut i, mut j) = (alen, blen);
    // `None`: no range open; else (a start, a end, b start, b end).
    let mut range: Option<(usize, usize, usize, usize)> = None;
    while i > 0 && j > 0 {
        let mut emit = false;
        if a[i - 1] == b[j - 1] {
            out[idx - 1] = a[i - 1];
            range = match range {
                None => Some((i - 1, i - 1, j - 1, j - 1)),
                Some((a0, a1, b0, b1)) if a0 == i && b0 == j => Some((a0 - 1, a1, b0 - 1, b1)),
                r => {
                    emit = true;
                    r
                }
            };
            if range.is_some_and(|(a0, _, b0, _)| a0 == 0 || b0 == 0) {
                emit = true;
            }
            idx -= 1;
            i -= 1;
            j -= 1;
        } else {
            if t[(i - 1) * w + j] > t[i * w + j - 1] {
                i -= 1;
            } else {
                j -= 1;
            }
            emit = range.is_some();
        }
        if emit {
            if let Some((a0, a1, b0, b1)) = range.take() {
                let match_len = (a1 - a0 + 1) as u64;
                if o.min_match_len == 0 || match_len >= o.min_match_len {
                    let pair = |x: usize, y: usize| {
                        Reply::Array(vec![Reply::Integer(x as i64), Reply::Integer(y as i64)])
                    };
                    let mut m = vec![pair(a0, a1), pair(b0, b1)];
                    if o.with_match_len {
                        m.push(Reply::Integer(match_len as i64));
                    }
                    matches.push(Reply::Array(m));
                }
            }
        }
    }
    if o.idx {
        return Reply::Map(vec![
            (super::bulk("matches"), Reply::Array(matches)),
            (super::bulk("len"), Reply::Integer(i64::from(total))),
        ]);
    }
    Reply::Bulk(out)
}

/// `SET key value [NX|XX] [GET] [EX s|PX ms|EXAT t|PXAT t|KEEPTTL]`, options
/// in any order. As in Redis, an option conflicts only with another of its
/// group (NX with XX; EX, PX, EXAT, PXAT, KEEPTTL with each other); the same
/// option given twice is allowed and the last value wins.
fn plan_set(a: &mut [Vec<u8>], now_ms: u64) -> Planned {
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
        Command::Set(take(&mut a[1]))
    } else {
        Command::SetWith {
            data: take(&mut a[1]),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::testing::*;
    use crate::core::ExpireCond;

    // ---- Plans: which core commands, with absolute deadlines ----

    #[test]
    fn set_options_become_one_change_with_an_absolute_deadline() {
        let set = |expiry, cond, get| Command::SetWith {
            data: k("v").into(),
            expiry,
            cond,
            get,
        };
        let cases: &[(&[&str], Command)] = &[
            (&["SET", "k", "v"], Command::Set(k("v").into())),
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
            (&["type", "k"], Command::Type),
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
}

#[cfg(test)]
mod lcs_tests {
    use super::*;
    use crate::commands::testing::{finish_with, value};

    fn lcs(args: &[&str]) -> Reply {
        let mut a = vec!["lcs", "key1", "key2"];
        a.extend_from_slice(args);
        finish_with(&a, vec![value("ohmytext"), value("mynewtext")])
    }
    fn range(a: (i64, i64), b: (i64, i64), len: Option<i64>) -> Reply {
        let pair = |(x, y)| Reply::Array(vec![Reply::Integer(x), Reply::Integer(y)]);
        let mut m = vec![pair(a), pair(b)];
        m.extend(len.map(Reply::Integer));
        Reply::Array(m)
    }
    fn idx(matches: Vec<Reply>) -> Reply {
        Reply::Map(vec![
            (Reply::Bulk(b"matches".to_vec()), Reply::Array(matches)),
            (Reply::Bulk(b"len".to_vec()), Reply::Integer(6)),
        ])
    }

    /// The examples of Redis's LCS documentation, answer for answer.
    #[test]
    fn lcs_answers_as_redis_documents() {
        assert_eq!(lcs(&[]), Reply::Bulk(b"mytext".to_vec()));
        assert_eq!(lcs(&["LEN"]), Reply::Integer(6));
        assert_eq!(
            lcs(&["IDX"]),
            idx(vec![
                range((4, 7), (5, 8), None),
                range((2, 3), (0, 1), None)
            ])
        );
        assert_eq!(
            lcs(&["IDX", "MINMATCHLEN", "4"]),
            idx(vec![range((4, 7), (5, 8), None)])
        );
        assert_eq!(
            lcs(&["IDX", "MINMATCHLEN", "4", "WITHMATCHLEN"]),
            idx(vec![range((4, 7), (5, 8), Some(4))])
        );
    }

    #[test]
    fn lcs_errors_and_bounds() {
        use crate::commands::testing::{err, reply};
        assert_eq!(
            reply(&["lcs", "a", "b", "LEN", "IDX"]),
            err("ERR If you want both the length and indexes, please just use IDX.")
        );
        assert_eq!(reply(&["lcs", "a", "b", "foo"]), err("ERR syntax error"));
        assert_eq!(
            reply(&["lcs", "a", "b", "MINMATCHLEN"]),
            err("ERR syntax error")
        );
        let big = vec![b'a'; 4096];
        assert!(matches!(
            lcs_reply(&big, &big, LcsOptions::default()),
            Reply::Error(e) if e.starts_with("ERR Insufficient memory")
        ));
        assert_eq!(
            lcs_reply(b"", b"abc", LcsOptions::default()),
            Reply::Bulk(vec![])
        );
    }

    #[test]
    fn msetnx_works_on_one_key_and_is_refused_across_keys() {
        use crate::commands::testing::{call, err, reply};
        assert_eq!(
            reply(&["msetnx", "a", "1", "b", "2"]),
            err("CROSSSLOT Keys in request don't hash to the same slot (MSETNX is atomic across keys in Redis; synod runs it on one key only)")
        );
        assert_eq!(
            reply(&["msetnx", "a", "1", "b"]),
            err("ERR wrong number of arguments for 'msetnx' command")
        );
        assert_eq!(
            call(&["msetnx", "a", "1", "a", "2"]).requests(),
            vec![(
                b"a".to_vec(),
                Command::SetWith {
                    data: b"2".into(),
                    expiry: Expiry::Clear,
                    cond: SetCond::IfAbsent,
                    get: false
                }
            )]
        );
    }
}
