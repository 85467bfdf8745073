//! String commands (Redis's t_string.c): GET, SET and its options, GETSET,
//! GETDEL, GETEX, SETNX, SETEX, PSETEX, MGET, MSET, APPEND, STRLEN, GETRANGE,
//! SETRANGE, the INCR family, INCRBYFLOAT, and synod's CAS.

use super::expire::{deadline_ms, invalid_expire};
use super::spec::{spec, Family, ALL, ONE, R, W, WF};
use super::{
    core, int_arg, one, syntax_error, unknown_command, upper, wrong_arity, Args, Combine, Planned,
};
use crate::core::command::{parse_f64, ERR_NOT_FLOAT};
use crate::core::{Command, Expiry, SetCond};
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
        spec("cas", 4, W, ONE, "string", "synod: compare-and-swap; 1 if the value was `expected` (empty: absent) and is now `new`, else 0. Linearizable."),
    ],
};

fn plan(c: &mut Args<'_>) -> Planned {
    let (name, a, now_ms) = (c.name, c.a, c.now_ms);
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
        _ => Err(unknown_command(&[name.as_bytes().to_vec()])),
    }
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
