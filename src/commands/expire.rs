//! Expiry commands (Redis's expire.c): EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT,
//! TTL, PTTL, EXPIRETIME, PEXPIRETIME, PERSIST. Relative times become
//! absolute deadlines here, at the time of the request.

use super::spec::{spec, Family, ONE, R, WF};
use super::{int_arg, one, unknown_command, upper, Args, Combine, Planned};
use crate::core::{Command, ExpireCond};
use crate::resp::Reply;

pub(super) const FAMILY: Family = Family {
    plan,
    commands: &[
        spec(
            "expire",
            -3,
            WF,
            ONE,
            "generic",
            "Sets a key's expiry in seconds (NX/XX/GT/LT). Linearizable.",
        ),
        spec(
            "pexpire",
            -3,
            WF,
            ONE,
            "generic",
            "Sets a key's expiry in milliseconds (NX/XX/GT/LT). Linearizable.",
        ),
        spec(
            "expireat",
            -3,
            WF,
            ONE,
            "generic",
            "Sets a key's expiry to a Unix time in seconds (NX/XX/GT/LT). Linearizable.",
        ),
        spec(
            "pexpireat",
            -3,
            WF,
            ONE,
            "generic",
            "Sets a key's expiry to a Unix time in milliseconds (NX/XX/GT/LT). Linearizable.",
        ),
        spec(
            "ttl",
            2,
            R,
            ONE,
            "generic",
            "Returns a key's time to live in seconds (-2 absent, -1 no expiry). Linearizable.",
        ),
        spec(
            "pttl",
            2,
            R,
            ONE,
            "generic",
            "Returns a key's time to live in milliseconds (-2 absent, -1 no expiry). Linearizable.",
        ),
        spec(
            "expiretime",
            2,
            R,
            ONE,
            "generic",
            "Returns a key's expiry as a Unix time in seconds. Linearizable.",
        ),
        spec(
            "pexpiretime",
            2,
            R,
            ONE,
            "generic",
            "Returns a key's expiry as a Unix time in milliseconds. Linearizable.",
        ),
        spec(
            "persist",
            2,
            WF,
            ONE,
            "generic",
            "Removes a key's expiry. Linearizable.",
        ),
    ],
};

fn plan(c: &mut Args<'_>) -> Planned {
    let (name, a, now_ms) = (c.name, &*c.a, c.now_ms);
    match name {
        "expire" | "pexpire" | "expireat" | "pexpireat" => plan_expire(name, a, now_ms),
        "ttl" => one(&a[0], Command::Ttl, ttl(false, false)),
        "pttl" => one(&a[0], Command::Ttl, ttl(true, false)),
        "expiretime" => one(&a[0], Command::Ttl, ttl(false, true)),
        "pexpiretime" => one(&a[0], Command::Ttl, ttl(true, true)),
        "persist" => one(&a[0], Command::Persist, Combine::Integer),
        _ => Err(unknown_command(&[name.as_bytes().to_vec()])),
    }
}

/// Redis's text for a bad expire time, per command.
pub(super) fn invalid_expire(cmd: &str) -> Reply {
    Reply::error(format!("ERR invalid expire time in '{cmd}' command"))
}

/// A relative or absolute expire argument made an absolute deadline in ms:
/// `unit_ms` is 1000 for seconds; `base_ms` is now for relative forms, 0 for
/// absolute ones. Redis refuses a result that overflows.
pub(super) fn deadline_ms(arg: &[u8], unit_ms: i64, base_ms: u64, cmd: &str) -> Result<i64, Reply> {
    let n = int_arg(arg)?;
    n.checked_mul(unit_ms)
        .and_then(|ms| ms.checked_add(i64::try_from(base_ms).ok()?))
        .ok_or_else(|| invalid_expire(cmd))
}

fn ttl(ms: bool, absolute: bool) -> Combine {
    Combine::Ttl { ms, absolute }
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

/// TTL, PTTL, EXPIRETIME, PEXPIRETIME from a deadline: -2 absent, -1 none.
pub(super) fn ttl_reply(
    deadline: Option<Option<u64>>,
    ms: bool,
    absolute: bool,
    now_ms: u64,
) -> i64 {
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
