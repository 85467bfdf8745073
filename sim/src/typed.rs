//! The workload's typed commands and the checker's model of them.
//!
//! A few commands of each Redis data type (hash, set, sorted set, list) and
//! the bit commands, issued by simulated clients on the same small key
//! space as the string commands, so that types meet on a key (a SET
//! overwrites a hash; a GET of a hash answers WRONGTYPE). Each is one core
//! request, planned by the command layer exactly as the runtime plans it.
//!
//! The checker models each as a read-modify-write of the key's register:
//! the register's value is a model of the type ([`Model`]), interned as
//! canonical text (`hash{f0=v3,f1=v9}`, `set{m0,m2}`, `zset{m1:3}`,
//! `list[v4,v7]`; a string is its bytes). [`apply`] is the model's change:
//! the new value and the reply, or WRONGTYPE. No string the workload writes
//! starts with `h`, `s`, `z` or `l` (written values are `v7`, `+a7`,
//! integers; SETBIT changes bytes from the third on and never a byte's top
//! bit), so the text tells a collection from a string, and every value stays
//! UTF-8 (a history's JSON carries it exactly).
//!
//! In histories (`f` values in sim/README.md), a typed command's invoke
//! carries its arguments after the key as a JSON array of strings, and its
//! `ok` carries the reply as JSON (integer, string, null or array); a
//! WRONGTYPE answer is `fail` with `"error":"wrongtype"`, for string
//! commands too.

use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use serde_json::Value as Json;
use std::collections::{BTreeMap, BTreeSet};
use synod::core::Answer;

/// A typed command of the workload.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TypedF {
    HSet,
    HGet,
    HDel,
    HLen,
    SAdd,
    SRem,
    SIsMember,
    SCard,
    ZAdd,
    ZIncrBy,
    ZRem,
    ZScore,
    LPush,
    RPush,
    LPop,
    RPop,
    LRange,
    SetBit,
    GetBit,
    BitCount,
}

/// Every typed command, for parsing histories.
pub const ALL: [TypedF; 20] = [
    TypedF::HSet,
    TypedF::HGet,
    TypedF::HDel,
    TypedF::HLen,
    TypedF::SAdd,
    TypedF::SRem,
    TypedF::SIsMember,
    TypedF::SCard,
    TypedF::ZAdd,
    TypedF::ZIncrBy,
    TypedF::ZRem,
    TypedF::ZScore,
    TypedF::LPush,
    TypedF::RPush,
    TypedF::LPop,
    TypedF::RPop,
    TypedF::LRange,
    TypedF::SetBit,
    TypedF::GetBit,
    TypedF::BitCount,
];

/// A value's type, as TYPE names it (what WRONGTYPE compares).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Ty {
    Str,
    Hash,
    Set,
    ZSet,
    List,
}

/// The workload's families of typed commands (one `[mix]` weight each).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    Hash,
    Set,
    ZSet,
    List,
    Bits,
}

/// The families, in the order of their weights in the workload's draw.
pub const FAMILIES: [Family; 5] = [
    Family::Hash,
    Family::Set,
    Family::ZSet,
    Family::List,
    Family::Bits,
];

impl TypedF {
    /// The name used in histories (the Redis command, lowercase).
    pub fn name(self) -> &'static str {
        match self {
            TypedF::HSet => "hset",
            TypedF::HGet => "hget",
            TypedF::HDel => "hdel",
            TypedF::HLen => "hlen",
            TypedF::SAdd => "sadd",
            TypedF::SRem => "srem",
            TypedF::SIsMember => "sismember",
            TypedF::SCard => "scard",
            TypedF::ZAdd => "zadd",
            TypedF::ZIncrBy => "zincrby",
            TypedF::ZRem => "zrem",
            TypedF::ZScore => "zscore",
            TypedF::LPush => "lpush",
            TypedF::RPush => "rpush",
            TypedF::LPop => "lpop",
            TypedF::RPop => "rpop",
            TypedF::LRange => "lrange",
            TypedF::SetBit => "setbit",
            TypedF::GetBit => "getbit",
            TypedF::BitCount => "bitcount",
        }
    }

    /// The type the command works on (a bit command: a string).
    pub fn ty(self) -> Ty {
        use TypedF::*;
        match self {
            HSet | HGet | HDel | HLen => Ty::Hash,
            SAdd | SRem | SIsMember | SCard => Ty::Set,
            ZAdd | ZIncrBy | ZRem | ZScore => Ty::ZSet,
            LPush | RPush | LPop | RPop | LRange => Ty::List,
            SetBit | GetBit | BitCount => Ty::Str,
        }
    }
}

/// Draws one command of `family`: what it is and its arguments after the
/// key. `fresh` gives a new unique value (`v7`).
pub fn draw(
    family: Family,
    rng: &mut ChaCha8Rng,
    mut fresh: impl FnMut() -> Vec<u8>,
) -> (TypedF, Vec<Vec<u8>>) {
    let pick = |rng: &mut ChaCha8Rng, prefix: &str, n: u32| -> Vec<u8> {
        format!("{prefix}{}", rng.random_range(0..n)).into_bytes()
    };
    let n = |x: i64| x.to_string().into_bytes();
    // Removals as likely as additions, so that collections empty (and
    // their keys go) often, and every type gets its turn on a shared key.
    let roll = rng.random_range(0..4u32);
    match family {
        Family::Hash => match roll {
            0 => (TypedF::HSet, vec![pick(rng, "f", 3), fresh()]),
            1 => (TypedF::HDel, vec![pick(rng, "f", 3)]),
            2 => (TypedF::HLen, vec![]),
            _ => (TypedF::HGet, vec![pick(rng, "f", 3)]),
        },
        Family::Set => match roll {
            0 => (TypedF::SAdd, vec![pick(rng, "m", 3)]),
            1 => (TypedF::SRem, vec![pick(rng, "m", 3)]),
            2 => (TypedF::SCard, vec![]),
            _ => (TypedF::SIsMember, vec![pick(rng, "m", 3)]),
        },
        Family::ZSet => match roll {
            0 if rng.random_bool(0.5) => (
                TypedF::ZAdd,
                vec![n(rng.random_range(-3..10)), pick(rng, "m", 3)],
            ),
            1 => (
                TypedF::ZIncrBy,
                vec![n([1, 2, -1, 5][rng.random_range(0..4)]), pick(rng, "m", 3)],
            ),
            0 | 2 => (TypedF::ZRem, vec![pick(rng, "m", 3)]),
            _ => (TypedF::ZScore, vec![pick(rng, "m", 3)]),
        },
        Family::List => match roll {
            0 if rng.random_bool(0.5) => (TypedF::LPush, vec![fresh()]),
            0 => (TypedF::RPush, vec![fresh()]),
            1 | 2 if rng.random_bool(0.5) => (TypedF::LPop, vec![]),
            1 | 2 => (TypedF::RPop, vec![]),
            _ => (TypedF::LRange, vec![b"0".to_vec(), b"-1".to_vec()]),
        },
        Family::Bits => match roll {
            0 | 1 => (
                TypedF::SetBit,
                vec![n(bit_offset(rng)), n(i64::from(rng.random_bool(0.6)))],
            ),
            2 => (TypedF::GetBit, vec![n(bit_offset(rng))]),
            _ => (TypedF::BitCount, vec![]),
        },
    }
}

/// A bit offset of bytes 2..6 that is never a byte's top bit: the first two
/// bytes of a string stay as written, and every byte stays ASCII.
fn bit_offset(rng: &mut ChaCha8Rng) -> i64 {
    let byte = rng.random_range(2..6i64);
    byte * 8 + rng.random_range(1..8i64)
}

/// A reply as JSON: integers as numbers, strings and doubles as strings,
/// nil as null, arrays as arrays (the canonical text the history carries).
pub fn answer_json(a: &Answer) -> Json {
    match a {
        Answer::Nil | Answer::NilArray => Json::Null,
        Answer::Status(s) | Answer::Double(s) => Json::String(s.clone()),
        Answer::Int(n) => Json::from(*n),
        Answer::Bulk(b) => Json::String(String::from_utf8_lossy(b).into_owned()),
        Answer::Array(items) | Answer::Set(items) => {
            Json::Array(items.iter().map(answer_json).collect())
        }
        Answer::Map(ps) | Answer::Pairs(ps) => Json::Array(
            ps.iter()
                .flat_map(|(k, v)| [answer_json(k), answer_json(v)])
                .collect(),
        ),
    }
}

/// A register's value, as the model sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Model {
    Absent,
    Str(Vec<u8>),
    Hash(BTreeMap<String, String>),
    Set(BTreeSet<String>),
    ZSet(BTreeMap<String, i64>),
    List(Vec<String>),
}

impl Model {
    /// Reads an interned value's bytes (`None`: absent).
    pub fn decode(bytes: Option<&[u8]>) -> Model {
        let Some(b) = bytes else {
            return Model::Absent;
        };
        let inner = |prefix: &str, close: u8| -> Option<Vec<String>> {
            let rest = b.strip_prefix(prefix.as_bytes())?.strip_suffix(&[close])?;
            let text = std::str::from_utf8(rest).ok()?;
            Some(if text.is_empty() {
                vec![]
            } else {
                text.split(',').map(str::to_owned).collect()
            })
        };
        if let Some(items) = inner("hash{", b'}') {
            let pairs = items.iter().filter_map(|i| i.split_once('='));
            return Model::Hash(pairs.map(|(f, v)| (f.into(), v.into())).collect());
        }
        if let Some(items) = inner("set{", b'}') {
            return Model::Set(items.into_iter().collect());
        }
        if let Some(items) = inner("zset{", b'}') {
            let pairs = items.iter().filter_map(|i| i.split_once(':'));
            return Model::ZSet(
                pairs
                    .map(|(m, s)| (m.into(), s.parse().unwrap_or(0)))
                    .collect(),
            );
        }
        if let Some(items) = inner("list[", b']') {
            return Model::List(items);
        }
        Model::Str(b.to_vec())
    }

    /// The canonical bytes to intern (`None`: absent; an empty collection
    /// is absent, as Redis deletes it).
    pub fn encode(&self) -> Option<Vec<u8>> {
        let join = |items: Vec<String>| items.join(",");
        let text = match self {
            Model::Absent => return None,
            Model::Str(b) => return Some(b.clone()),
            Model::Hash(h) if h.is_empty() => return None,
            Model::Set(s) if s.is_empty() => return None,
            Model::ZSet(z) if z.is_empty() => return None,
            Model::List(l) if l.is_empty() => return None,
            Model::Hash(h) => format!(
                "hash{{{}}}",
                join(h.iter().map(|(f, v)| format!("{f}={v}")).collect())
            ),
            Model::Set(s) => format!("set{{{}}}", join(s.iter().cloned().collect())),
            Model::ZSet(z) => format!(
                "zset{{{}}}",
                join(z.iter().map(|(m, s)| format!("{m}:{s}")).collect())
            ),
            Model::List(l) => format!("list[{}]", join(l.clone())),
        };
        Some(text.into_bytes())
    }

    /// The type, or None if absent.
    pub fn ty(&self) -> Option<Ty> {
        Some(match self {
            Model::Absent => return None,
            Model::Str(_) => Ty::Str,
            Model::Hash(_) => Ty::Hash,
            Model::Set(_) => Ty::Set,
            Model::ZSet(_) => Ty::ZSet,
            Model::List(_) => Ty::List,
        })
    }
}

/// The type of an interned value's bytes (`None`: absent).
pub fn ty_of(bytes: Option<&[u8]>) -> Option<Ty> {
    match bytes {
        None => None,
        Some(b) if b.starts_with(b"hash{") => Some(Ty::Hash),
        Some(b) if b.starts_with(b"set{") => Some(Ty::Set),
        Some(b) if b.starts_with(b"zset{") => Some(Ty::ZSet),
        Some(b) if b.starts_with(b"list[") => Some(Ty::List),
        Some(_) => Some(Ty::Str),
    }
}

/// What the model says a command does: the new value and the reply, or
/// None for WRONGTYPE (nothing changes).
pub fn apply(f: TypedF, args: &[String], cur: &Model) -> Option<(Model, Json)> {
    if cur.ty().is_some_and(|t| t != f.ty()) {
        return None;
    }
    let arg = |i: usize| args.get(i).cloned().unwrap_or_default();
    let int = |i: usize| arg(i).parse::<i64>().unwrap_or(0);
    let mut next = cur.clone();
    let reply = match f {
        TypedF::HSet | TypedF::HGet | TypedF::HDel | TypedF::HLen => {
            let mut h = match cur {
                Model::Hash(h) => h.clone(),
                _ => BTreeMap::new(),
            };
            let reply = match f {
                TypedF::HSet => Json::from(i64::from(h.insert(arg(0), arg(1)).is_none())),
                TypedF::HGet => h.get(&arg(0)).map_or(Json::Null, |v| Json::from(v.clone())),
                TypedF::HDel => Json::from(i64::from(h.remove(&arg(0)).is_some())),
                _ => Json::from(h.len()),
            };
            next = Model::Hash(h);
            reply
        }
        TypedF::SAdd | TypedF::SRem | TypedF::SIsMember | TypedF::SCard => {
            let mut s = match cur {
                Model::Set(s) => s.clone(),
                _ => BTreeSet::new(),
            };
            let reply = match f {
                TypedF::SAdd => Json::from(i64::from(s.insert(arg(0)))),
                TypedF::SRem => Json::from(i64::from(s.remove(&arg(0)))),
                TypedF::SIsMember => Json::from(i64::from(s.contains(&arg(0)))),
                _ => Json::from(s.len()),
            };
            next = Model::Set(s);
            reply
        }
        TypedF::ZAdd | TypedF::ZIncrBy | TypedF::ZRem | TypedF::ZScore => {
            let mut z = match cur {
                Model::ZSet(z) => z.clone(),
                _ => BTreeMap::new(),
            };
            let reply = match f {
                TypedF::ZAdd => Json::from(i64::from(z.insert(arg(1), int(0)).is_none())),
                TypedF::ZIncrBy => {
                    let score = z.entry(arg(1)).or_insert(0);
                    *score += int(0);
                    Json::from(score.to_string())
                }
                TypedF::ZRem => Json::from(i64::from(z.remove(&arg(0)).is_some())),
                _ => z
                    .get(&arg(0))
                    .map_or(Json::Null, |s| Json::from(s.to_string())),
            };
            next = Model::ZSet(z);
            reply
        }
        TypedF::LPush | TypedF::RPush | TypedF::LPop | TypedF::RPop | TypedF::LRange => {
            let mut l = match cur {
                Model::List(l) => l.clone(),
                _ => Vec::new(),
            };
            let reply = match f {
                TypedF::LPush => {
                    l.insert(0, arg(0));
                    Json::from(l.len())
                }
                TypedF::RPush => {
                    l.push(arg(0));
                    Json::from(l.len())
                }
                TypedF::LPop if l.is_empty() => Json::Null,
                TypedF::LPop => Json::from(l.remove(0)),
                TypedF::RPop => l.pop().map_or(Json::Null, Json::from),
                _ => Json::Array(l.iter().cloned().map(Json::from).collect()),
            };
            next = Model::List(l);
            reply
        }
        TypedF::SetBit | TypedF::GetBit | TypedF::BitCount => {
            let mut s = match cur {
                Model::Str(s) => s.clone(),
                _ => Vec::new(),
            };
            let bit_of = |s: &[u8], o: i64| {
                s.get((o / 8) as usize)
                    .is_some_and(|b| b & (0x80 >> (o % 8)) != 0)
            };
            let reply = match f {
                TypedF::SetBit => {
                    let o = int(0);
                    let old = bit_of(&s, o);
                    let byte = (o / 8) as usize;
                    if s.len() <= byte {
                        s.resize(byte + 1, 0);
                    }
                    let mask = 0x80u8 >> (o % 8);
                    if int(1) == 1 {
                        s[byte] |= mask;
                    } else {
                        s[byte] &= !mask;
                    }
                    Json::from(i64::from(old))
                }
                TypedF::GetBit => Json::from(i64::from(bit_of(&s, int(0)))),
                _ => Json::from(s.iter().map(|b| b.count_ones() as i64).sum::<i64>()),
            };
            if f == TypedF::SetBit || cur != &Model::Absent {
                next = Model::Str(s);
            }
            reply
        }
    };
    Some((next, reply))
}

/// The arguments of an invoke's JSON array, as strings.
pub fn args_of(json: &[u8]) -> Vec<String> {
    match serde_json::from_slice::<Json>(json) {
        Ok(Json::Array(items)) => items
            .into_iter()
            .map(|i| i.as_str().map(str::to_owned).unwrap_or_default())
            .collect(),
        _ => vec![],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_through_their_text() {
        for m in [
            Model::Hash([("f0".into(), "v3".into())].into()),
            Model::Set(["m0".into(), "m2".into()].into()),
            Model::ZSet([("m1".into(), -3)].into()),
            Model::List(vec!["v1".into(), "v1".into(), "v2".into()]),
            Model::Str(b"v5\0\x40".to_vec()),
        ] {
            let text = m.encode().unwrap();
            assert_eq!(
                Model::decode(Some(&text)),
                m,
                "{}",
                String::from_utf8_lossy(&text)
            );
            assert_eq!(ty_of(Some(&text)), m.ty());
        }
        assert_eq!(
            Model::List(vec![]).encode(),
            None,
            "an emptied collection is deleted"
        );
    }

    #[test]
    fn the_model_answers_as_redis_and_refuses_the_wrong_type() {
        let s = |x: &str| x.to_string();
        let (h, r) = apply(TypedF::HSet, &[s("f0"), s("v1")], &Model::Absent).unwrap();
        assert_eq!(r, Json::from(1));
        assert_eq!(
            apply(TypedF::HGet, &[s("f0")], &h).unwrap().1,
            Json::from("v1")
        );
        assert_eq!(apply(TypedF::SAdd, &[s("m0")], &h), None, "WRONGTYPE");
        let (z, r) = apply(TypedF::ZIncrBy, &[s("5"), s("m0")], &Model::Absent).unwrap();
        assert_eq!(r, Json::from("5"));
        assert_eq!(
            apply(TypedF::ZScore, &[s("m0")], &z).unwrap().1,
            Json::from("5")
        );
        let (l, _) = apply(TypedF::RPush, &[s("v2")], &Model::Absent).unwrap();
        let (l, r) = apply(TypedF::LPop, &[], &l).unwrap();
        assert_eq!((l.encode(), r), (None, Json::from("v2")));
        let (b, r) = apply(TypedF::SetBit, &[s("17"), s("1")], &Model::Absent).unwrap();
        assert_eq!(
            (b.clone(), r),
            (Model::Str(vec![0, 0, 0x40]), Json::from(0))
        );
        assert_eq!(apply(TypedF::BitCount, &[], &b).unwrap().1, Json::from(1));
        assert_eq!(
            apply(TypedF::GetBit, &[s("3")], &Model::Absent),
            Some((Model::Absent, Json::from(0))),
            "a read of a missing key creates nothing"
        );
    }
}
