//! Set commands (Redis's t_set.c). Each command on one key is one change
//! function on its set (core/types/set.rs): one Paxos round, linearizable.
//!
//! Across keys, the rule of docs/redis.md: SINTER, SUNION and SDIFF read
//! each key linearizably, one round per key, and combine the members here:
//! not a snapshot across keys (as MGET). SMOVE and the STORE forms write
//! what Redis applies atomically across keys, so they work on one key
//! (every key named the same) and are refused across keys with a
//! CROSSSLOT error, as Redis Cluster refuses keys of different slots.

use super::spec::{spec, Family, ALL, ONE, R, W, WF};
use super::{core, int_arg, one, syntax_error, unknown_command, upper, Args, Combine, Planned};
use crate::core::types::set::SetOp;
use crate::core::Command;
use crate::resp::Reply;

pub(super) const FAMILY: Family = Family {
    plan,
    commands: &[
        spec("sadd", -3, WF, ONE, "set", "Adds members; the number added. Linearizable."),
        spec("srem", -3, &["write", "fast"], ONE, "set", "Removes members; the set goes with its last member. Linearizable."),
        spec("smembers", 2, &["readonly"], ONE, "set", "Returns every member (a set in RESP3). Linearizable."),
        spec("sismember", 3, R, ONE, "set", "Whether a member is in the set. Linearizable."),
        spec("smismember", -3, R, ONE, "set", "Whether each member is in the set. Linearizable."),
        spec("scard", 2, R, ONE, "set", "Returns the number of members. Linearizable."),
        spec("spop", -2, &["write", "fast"], ONE, "set", "Removes and returns random members (seeded by the coordinator's clock). Linearizable."),
        spec("srandmember", -2, &["readonly"], ONE, "set", "Returns random members. Linearizable."),
        spec("sscan", -3, &["readonly"], ONE, "set", "Returns every member in one page (cursor 0), as Redis does for small sets. Linearizable."),
        spec("sinter", -2, &["readonly"], ALL, "set", "Intersection of sets: each key read linearizably; not atomic across keys."),
        spec("sunion", -2, &["readonly"], ALL, "set", "Union of sets: each key read linearizably; not atomic across keys."),
        spec("sdiff", -2, &["readonly"], ALL, "set", "Difference of sets: each key read linearizably; not atomic across keys."),
        spec("sinterstore", -3, W, ALL, "set", "Stores an intersection: one key only (CROSSSLOT across keys)."),
        spec("sunionstore", -3, W, ALL, "set", "Stores a union: one key only (CROSSSLOT across keys)."),
        spec("sdiffstore", -3, W, ALL, "set", "Stores a difference: one key only (CROSSSLOT across keys)."),
        spec("smove", 4, WF, (1, 2, 1), "set", "Moves a member between sets: one key only (CROSSSLOT across keys)."),
    ],
};

/// Redis Cluster's refusal of a command whose keys are in different slots;
/// ours names why (see docs/redis.md, "Several keys").
pub(super) fn crossslot(name: &str) -> Reply {
    Reply::error(format!(
        "CROSSSLOT Keys in request don't hash to the same slot ({} is atomic across keys in Redis; synod runs it on one key only)",
        name.to_ascii_uppercase()
    ))
}

/// True if every key is the same.
pub(super) fn same_key(keys: &[Vec<u8>]) -> bool {
    keys.windows(2).all(|w| w[0] == w[1])
}

/// How a multi-key set read combines the members of its keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algebra {
    /// SINTER.
    Inter,
    /// SUNION.
    Union,
    /// SDIFF: the first key's members not in any other.
    Diff,
}

fn plan(c: &mut Args<'_>) -> Planned {
    let (name, a) = (c.name, &*c.a);
    let set = |op| one(&a[0], Command::Members(op), Combine::Nested);
    match name {
        "sadd" => set(SetOp::Add(a[1..].to_vec())),
        "srem" => set(SetOp::Rem(a[1..].to_vec())),
        "smembers" => set(SetOp::Members),
        "sismember" => set(SetOp::IsMember(a[1].clone())),
        "smismember" => set(SetOp::MIsMember(a[1..].to_vec())),
        "scard" => set(SetOp::Card),
        "spop" => match &a[1..] {
            [] => set(SetOp::Pop(None)),
            [n] => {
                let n = int_arg(n)?;
                let n = u64::try_from(n)
                    .map_err(|_| Reply::error("ERR value is out of range, must be positive"))?;
                set(SetOp::Pop(Some(n)))
            }
            _ => Err(syntax_error()),
        },
        "srandmember" => match &a[1..] {
            [] => set(SetOp::RandMember(None)),
            [n] => set(SetOp::RandMember(Some(int_arg(n)?))),
            _ => Err(syntax_error()),
        },
        "sscan" => {
            let scan = parse_scan(&a[1..], &[])?;
            one(
                &a[0],
                Command::Members(SetOp::Members),
                Combine::Scan {
                    cursor: scan.cursor,
                    pattern: scan.pattern,
                    values: true,
                },
            )
        }
        "sinter" | "sunion" | "sdiff" => {
            let algebra = match name {
                "sinter" => Algebra::Inter,
                "sunion" => Algebra::Union,
                _ => Algebra::Diff,
            };
            core(
                a.iter()
                    .map(|k| (k.clone(), Command::Members(SetOp::Members)))
                    .collect(),
                Combine::SetAlgebra(algebra),
            )
        }
        "sinterstore" | "sunionstore" | "sdiffstore" => {
            if !same_key(a) {
                return Err(crossslot(name));
            }
            // Of one set with itself: union and intersection keep it, the
            // difference empties it; STORE answers the size.
            let keep = name != "sdiffstore" || a.len() == 2;
            set(SetOp::StoreSelf { keep })
        }
        "smove" => {
            if a[0] != a[1] {
                return Err(crossslot(name));
            }
            // Moving a member to its own set: 1 if it is there (nothing changes).
            set(SetOp::IsMember(a[2].clone()))
        }
        _ => Err(unknown_command(&[name.as_bytes().to_vec()])),
    }
}

/// HSCAN, SSCAN, ZSCAN's arguments after the key.
pub(super) struct Scan {
    pub cursor: u64,
    pub pattern: Option<Vec<u8>>,
    /// Flags given from `known` (uppercase), e.g. NOVALUES.
    pub flags: Vec<&'static str>,
}

/// Parses `cursor [MATCH pattern] [COUNT count]` and any of `known` flags.
/// COUNT is accepted and ignored: a collection is one value, returned in one page.
pub(super) fn parse_scan(a: &[Vec<u8>], known: &[&'static str]) -> Result<Scan, Reply> {
    let cursor = std::str::from_utf8(&a[0])
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .ok_or_else(|| Reply::error("ERR invalid cursor"))?;
    let mut scan = Scan {
        cursor,
        pattern: None,
        flags: vec![],
    };
    let mut i = 1;
    while i < a.len() {
        let opt = upper(&a[i]);
        if let Some(flag) = known.iter().find(|f| **f == opt) {
            scan.flags.push(flag);
            i += 1;
            continue;
        }
        let Some(v) = a.get(i + 1) else {
            return Err(syntax_error());
        };
        match opt.as_str() {
            "MATCH" => scan.pattern = Some(v.clone()).filter(|p| p != b"*"),
            "COUNT" => {
                if int_arg(v)? < 1 {
                    return Err(syntax_error());
                }
            }
            _ => return Err(syntax_error()),
        }
        i += 2;
    }
    Ok(scan)
}
