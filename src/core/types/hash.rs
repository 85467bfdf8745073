//! Hashes (Redis's t_hash.c): field-value pairs, packed in insertion order.

use super::{Answer, Applied, Change, Packed, Picker, ERR_CORRUPT};
use crate::core::command::{format_float, parse_f64, parse_i64, ERR_NAN, ERR_OVERFLOW};
use serde::{Deserialize, Serialize};

/// What HSET-like commands answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum HashSetReply {
    /// HSET: the number of fields added.
    Added,
    /// HSETNX: set only if the field is absent; 1 or 0.
    IfAbsent,
    /// HMSET: `+OK`.
    Ok,
}

/// A command on a hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum HashOp {
    /// HSET, HMSET, HSETNX.
    Set {
        pairs: Vec<(Vec<u8>, Vec<u8>)>,
        reply: HashSetReply,
    },
    /// HGET.
    Get(Vec<u8>),
    /// HMGET.
    MGet(Vec<Vec<u8>>),
    /// HDEL: the number removed.
    Del(Vec<Vec<u8>>),
    /// HGETALL: a map.
    GetAll,
    /// HKEYS.
    Keys,
    /// HVALS.
    Vals,
    /// HLEN.
    Len,
    /// HEXISTS.
    Exists(Vec<u8>),
    /// HSTRLEN.
    StrLen(Vec<u8>),
    /// HINCRBY.
    IncrBy(Vec<u8>, i64),
    /// HINCRBYFLOAT (the increment as text, checked by the command layer).
    IncrByFloat(Vec<u8>, String),
    /// HRANDFIELD [count [WITHVALUES]]: no count answers one field or nil.
    RandField {
        count: Option<i64>,
        with_values: bool,
    },
}

/// Redis's error texts for the hash commands.
pub const ERR_HASH_NOT_INTEGER: &str = "ERR hash value is not an integer";
/// See [`ERR_HASH_NOT_INTEGER`].
pub const ERR_HASH_NOT_FLOAT: &str = "ERR hash value is not a float";

type Pairs<'a> = Vec<(&'a [u8], &'a [u8])>;

fn decode(p: Option<&Packed>) -> Result<Pairs<'_>, String> {
    let Some(p) = p else {
        return Ok(Vec::new());
    };
    let e = p.entries()?;
    if e.len() % 2 != 0 {
        return Err(ERR_CORRUPT.into());
    }
    Ok(e.chunks(2).map(|c| (c[0], c[1])).collect())
}

fn encode(pairs: &[(&[u8], &[u8])]) -> Packed {
    Packed::pack(pairs.iter().flat_map(|(f, v)| [*f, *v]))
}

fn find(pairs: &Pairs<'_>, field: &[u8]) -> Option<usize> {
    pairs.iter().position(|(f, _)| *f == field)
}

impl HashOp {
    /// Applies the command to the hash `cur` (None: the key is absent).
    pub fn apply(&self, cur: Option<&Packed>, now_ms: u64) -> Applied {
        let mut pairs = decode(cur)?;
        let get = |f: &[u8]| find(&pairs, f).map(|i| pairs[i].1);
        let read = |n: Answer| Ok((Change::Keep, n));
        match self {
            HashOp::Get(f) => read(get(f).map_or(Answer::Nil, Answer::bulk)),
            HashOp::MGet(fs) => read(Answer::Array(
                fs.iter()
                    .map(|f| get(f).map_or(Answer::Nil, Answer::bulk))
                    .collect(),
            )),
            HashOp::GetAll => read(Answer::Map(
                pairs
                    .iter()
                    .map(|(f, v)| (Answer::bulk(f), Answer::bulk(v)))
                    .collect(),
            )),
            HashOp::Keys => read(Answer::bulks(pairs.iter().map(|p| p.0))),
            HashOp::Vals => read(Answer::bulks(pairs.iter().map(|p| p.1))),
            HashOp::Len => read(Answer::Int(pairs.len() as i64)),
            HashOp::Exists(f) => read(Answer::Int(i64::from(get(f).is_some()))),
            HashOp::StrLen(f) => read(Answer::Int(get(f).map_or(0, |v| v.len() as i64))),
            HashOp::RandField { count, with_values } => {
                let mut pick = Picker::new(now_ms, cur);
                let n = pairs.len();
                let Some(count) = count else {
                    if n == 0 {
                        return read(Answer::Nil);
                    }
                    return read(Answer::bulk(pairs[pick.below(n)].0));
                };
                // A negative count may repeat fields; a positive one does not.
                let chosen: Vec<usize> = if *count >= 0 {
                    pick.distinct(n, *count as usize)
                } else if n == 0 {
                    vec![]
                } else {
                    (0..count.unsigned_abs()).map(|_| pick.below(n)).collect()
                };
                if *with_values {
                    read(Answer::Pairs(
                        chosen
                            .iter()
                            .map(|&i| (Answer::bulk(pairs[i].0), Answer::bulk(pairs[i].1)))
                            .collect(),
                    ))
                } else {
                    read(Answer::bulks(chosen.iter().map(|&i| pairs[i].0)))
                }
            }
            HashOp::Set { pairs: new, reply } => {
                let mut added = 0;
                for (f, v) in new {
                    match find(&pairs, f) {
                        Some(_) if *reply == HashSetReply::IfAbsent => {
                            return read(Answer::Int(0));
                        }
                        Some(i) => pairs[i].1 = v,
                        None => {
                            pairs.push((f, v));
                            added += 1;
                        }
                    }
                }
                let node = match reply {
                    HashSetReply::Added | HashSetReply::IfAbsent => Answer::Int(added),
                    HashSetReply::Ok => Answer::Status("OK".into()),
                };
                Ok((Change::Write(encode(&pairs)), node))
            }
            HashOp::Del(fs) => {
                let before = pairs.len();
                pairs.retain(|(f, _)| !fs.iter().any(|d| d == f));
                let removed = (before - pairs.len()) as i64;
                if removed == 0 {
                    return read(Answer::Int(0));
                }
                Ok((Change::Write(encode(&pairs)), Answer::Int(removed)))
            }
            HashOp::IncrBy(f, delta) => {
                let n = match get(f) {
                    None => 0,
                    Some(v) => parse_i64(v).ok_or(ERR_HASH_NOT_INTEGER)?,
                };
                let sum = n.checked_add(*delta).ok_or(ERR_OVERFLOW)?;
                let text = sum.to_string();
                set_field(&mut pairs, f, text.as_bytes());
                Ok((Change::Write(encode(&pairs)), Answer::Int(sum)))
            }
            HashOp::IncrByFloat(f, delta) => {
                let d = parse_f64(delta.as_bytes()).ok_or(ERR_HASH_NOT_FLOAT)?;
                let n = match get(f) {
                    None => 0.0,
                    Some(v) => parse_f64(v).ok_or(ERR_HASH_NOT_FLOAT)?,
                };
                let sum = n + d;
                if !sum.is_finite() {
                    return Err(ERR_NAN.into());
                }
                let text = format_float(sum);
                set_field(&mut pairs, f, text.as_bytes());
                Ok((Change::Write(encode(&pairs)), Answer::bulk(text.as_bytes())))
            }
        }
    }

    /// True if the command never changes the hash.
    pub fn is_read_only(&self) -> bool {
        !matches!(
            self,
            HashOp::Set { .. } | HashOp::Del(_) | HashOp::IncrBy(..) | HashOp::IncrByFloat(..)
        )
    }

    /// The bytes this command adds at most.
    pub fn payload_len(&self) -> usize {
        match self {
            HashOp::Set { pairs, .. } => pairs.iter().map(|(f, v)| f.len() + v.len()).sum(),
            HashOp::IncrBy(f, _) | HashOp::IncrByFloat(f, _) => f.len() + 24,
            _ => 0,
        }
    }
}

fn set_field<'a>(pairs: &mut Pairs<'a>, f: &'a [u8], v: &'a [u8]) {
    match find(pairs, f) {
        Some(i) => pairs[i].1 = v,
        None => pairs.push((f, v)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn b(s: &str) -> Vec<u8> {
        s.as_bytes().to_vec()
    }

    fn run(ops: &[HashOp]) -> (Option<Packed>, Vec<Result<Answer, String>>) {
        let mut cur: Option<Packed> = None;
        let mut out = vec![];
        for op in ops {
            match op.apply(cur.as_ref(), 7) {
                Ok((Change::Keep, n)) => out.push(Ok(n)),
                Ok((Change::Write(p), n)) => {
                    cur = (!p.is_empty()).then_some(p);
                    out.push(Ok(n));
                }
                Err(e) => out.push(Err(e)),
            }
        }
        (cur, out)
    }

    #[test]
    fn hset_counts_new_fields_and_keeps_insertion_order() {
        let set = |kv: &[(&str, &str)]| HashOp::Set {
            pairs: kv.iter().map(|(k, v)| (b(k), b(v))).collect(),
            reply: HashSetReply::Added,
        };
        let (cur, out) = run(&[
            set(&[("a", "1"), ("b", "2")]),
            set(&[("b", "3"), ("c", "4")]),
            HashOp::GetAll,
            HashOp::Get(b("zz")),
            HashOp::IncrBy(b("a"), 10),
            HashOp::IncrBy(b("c"), i64::MAX),
            HashOp::Del(vec![b("a"), b("nope")]),
            HashOp::IncrByFloat(b("b"), "0.5".into()),
        ]);
        let bulk = |s: &str| Answer::bulk(s.as_bytes());
        assert_eq!(
            out,
            vec![
                Ok(Answer::Int(2)),
                Ok(Answer::Int(1)),
                Ok(Answer::Map(vec![
                    (bulk("a"), bulk("1")),
                    (bulk("b"), bulk("3")),
                    (bulk("c"), bulk("4"))
                ])),
                Ok(Answer::Nil),
                Ok(Answer::Int(11)),
                Err(ERR_OVERFLOW.into()),
                Ok(Answer::Int(1)),
                Ok(bulk("3.5")),
            ]
        );
        assert_eq!(
            decode(cur.as_ref()).unwrap(),
            vec![(&b"b"[..], &b"3.5"[..]), (b"c", b"4")]
        );
    }

    #[test]
    fn deleting_the_last_field_empties_the_hash() {
        let (cur, _) = run(&[
            HashOp::Set {
                pairs: vec![(b("f"), b("v"))],
                reply: HashSetReply::Ok,
            },
            HashOp::Del(vec![b("f")]),
        ]);
        assert_eq!(cur, None);
    }

    #[derive(Clone, Debug)]
    enum M {
        Set(u8, u8),
        SetNx(u8, u8),
        Del(u8),
        Incr(u8, i8),
        Get(u8),
        Len,
        Exists(u8),
    }

    fn m() -> impl Strategy<Value = M> {
        prop_oneof![
            (0..5u8, 0..20u8).prop_map(|(f, v)| M::Set(f, v)),
            (0..5u8, 0..20u8).prop_map(|(f, v)| M::SetNx(f, v)),
            (0..5u8).prop_map(M::Del),
            (0..5u8, any::<i8>()).prop_map(|(f, d)| M::Incr(f, d)),
            (0..5u8).prop_map(M::Get),
            Just(M::Len),
            (0..5u8).prop_map(M::Exists),
        ]
    }

    proptest! {
        /// Each hash command's change function against a map model.
        #[test]
        fn hash_commands_match_a_map_model(ms in prop::collection::vec(m(), 1..40)) {
            let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
            let mut cur: Option<Packed> = None;
            let f = |n: u8| vec![b'f', n];
            for op in ms {
                let (hop, want) = match &op {
                    M::Set(k, v) => {
                        let new = model.insert(f(*k), vec![*v]).is_none();
                        (HashOp::Set { pairs: vec![(f(*k), vec![*v])], reply: HashSetReply::Added }, Ok(Answer::Int(i64::from(new))))
                    }
                    M::SetNx(k, v) => {
                        let new = !model.contains_key(&f(*k));
                        if new { model.insert(f(*k), vec![*v]); }
                        (HashOp::Set { pairs: vec![(f(*k), vec![*v])], reply: HashSetReply::IfAbsent }, Ok(Answer::Int(i64::from(new))))
                    }
                    M::Del(k) => {
                        let had = model.remove(&f(*k)).is_some();
                        (HashOp::Del(vec![f(*k)]), Ok(Answer::Int(i64::from(had))))
                    }
                    M::Incr(k, d) => {
                        let want = match model.get(&f(*k)).map(|v| parse_i64(v)) {
                            None => Ok(i64::from(*d)),
                            Some(Some(n)) => Ok(n + i64::from(*d)),
                            Some(None) => Err(ERR_HASH_NOT_INTEGER.to_string()),
                        };
                        if let Ok(n) = want { model.insert(f(*k), n.to_string().into_bytes()); }
                        (HashOp::IncrBy(f(*k), i64::from(*d)), want.map(Answer::Int))
                    }
                    M::Get(k) => (HashOp::Get(f(*k)), Ok(model.get(&f(*k)).map_or(Answer::Nil, |v| Answer::bulk(v)))),
                    M::Len => (HashOp::Len, Ok(Answer::Int(model.len() as i64))),
                    M::Exists(k) => (HashOp::Exists(f(*k)), Ok(Answer::Int(i64::from(model.contains_key(&f(*k)))))),
                };
                let got = match hop.apply(cur.as_ref(), 1) {
                    Ok((Change::Keep, n)) => Ok(n),
                    Ok((Change::Write(p), n)) => { cur = (!p.is_empty()).then_some(p); Ok(n) }
                    Err(e) => Err(e),
                };
                prop_assert_eq!(got, want, "{:?}", op);
                let mut fields: Vec<_> = decode(cur.as_ref()).unwrap().into_iter().map(|(f, v)| (f.to_vec(), v.to_vec())).collect();
                fields.sort();
                prop_assert_eq!(fields, model.clone().into_iter().collect::<Vec<_>>());
            }
        }
    }
}
