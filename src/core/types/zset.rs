//! Sorted sets (Redis's t_zset.c): members with scores, packed in (score,
//! member) order, each score as 8 little-endian bytes.
//!
//! Scores are never NaN: the command layer refuses "nan" when it parses
//! them, and an increment that would make one answers an error. So the
//! `f64` fields compare totally, and the ops implement `Eq`.

use super::{clamp_range, Answer, Applied, Change, Packed, ERR_CORRUPT};
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;

/// One end of a score range: `1.5`, `(1.5` (exclusive), `-inf`, `+inf`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScoreBound {
    pub score: f64,
    pub exclusive: bool,
}

/// One end of a lexicographic range: `-`, `+`, `[a` (inclusive), `(a`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LexBound {
    /// `-`: below every member.
    Min,
    /// `+`: above every member.
    Max,
    /// `[a`.
    Inclusive(Vec<u8>),
    /// `(a`.
    Exclusive(Vec<u8>),
}

/// Which members a range selects, before REV and LIMIT.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum RangeBy {
    /// Ranks `start..=stop` (negative from the end; REV counts from the top).
    Index(i64, i64),
    /// Scores from `min` to `max`.
    Score(ScoreBound, ScoreBound),
    /// Members from `min` to `max` (meant for members of one score).
    Lex(LexBound, LexBound),
}

/// ZADD's flags.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddFlags {
    pub nx: bool,
    pub xx: bool,
    pub gt: bool,
    pub lt: bool,
    pub ch: bool,
    pub incr: bool,
}

/// A command on a sorted set.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ZSetOp {
    /// ZADD: added (or changed, with CH) count; with INCR the new score or nil.
    Add {
        pairs: Vec<(f64, Vec<u8>)>,
        flags: AddFlags,
    },
    /// ZINCRBY.
    IncrBy(f64, Vec<u8>),
    /// ZREM.
    Rem(Vec<Vec<u8>>),
    /// ZSCORE.
    Score(Vec<u8>),
    /// ZMSCORE.
    MScore(Vec<Vec<u8>>),
    /// ZCARD.
    Card,
    /// ZCOUNT.
    Count(ScoreBound, ScoreBound),
    /// ZRANGE and its older forms (ZRANGEBYSCORE, ZREVRANGE, ...).
    Range {
        by: RangeBy,
        rev: bool,
        /// LIMIT offset count (a negative count: all the rest).
        limit: Option<(i64, i64)>,
        with_scores: bool,
    },
    /// ZRANK, ZREVRANK.
    Rank { member: Vec<u8>, rev: bool },
    /// ZPOPMIN, ZPOPMAX [count].
    Pop { max: bool, count: Option<u64> },
    /// ZREMRANGEBYRANK, ZREMRANGEBYSCORE, ZREMRANGEBYLEX.
    RemRange(RangeBy),
}

// Scores are never NaN (see the module comment).
impl Eq for ZSetOp {}

/// Redis's error texts for the sorted set commands.
pub const ERR_ZSET_NAN: &str = "ERR resulting score is not a number (NaN)";

type Entries<'a> = Vec<(f64, &'a [u8])>;

fn decode(p: Option<&Packed>) -> Result<Entries<'_>, String> {
    let Some(p) = p else {
        return Ok(Vec::new());
    };
    let e = p.entries()?;
    if e.len() % 2 != 0 {
        return Err(ERR_CORRUPT.into());
    }
    e.chunks(2)
        .map(|c| {
            let bytes: [u8; 8] = c[1].try_into().map_err(|_| ERR_CORRUPT.to_owned())?;
            let score = f64::from_le_bytes(bytes);
            if score.is_nan() {
                return Err(ERR_CORRUPT.to_owned());
            }
            Ok((score, c[0]))
        })
        .collect()
}

fn encode(entries: &Entries<'_>) -> Packed {
    let scores: Vec<[u8; 8]> = entries.iter().map(|(s, _)| s.to_le_bytes()).collect();
    Packed::pack(
        entries
            .iter()
            .zip(&scores)
            .flat_map(|((_, m), s)| [*m, &s[..]]),
    )
}

fn order(a: &(f64, &[u8]), b: &(f64, &[u8])) -> Ordering {
    a.0.total_cmp(&b.0).then_with(|| a.1.cmp(b.1))
}

fn above_min(s: f64, b: &ScoreBound) -> bool {
    if b.exclusive {
        s > b.score
    } else {
        s >= b.score
    }
}

fn below_max(s: f64, b: &ScoreBound) -> bool {
    if b.exclusive {
        s < b.score
    } else {
        s <= b.score
    }
}

fn lex_above_min(m: &[u8], b: &LexBound) -> bool {
    match b {
        LexBound::Min => true,
        LexBound::Max => false,
        LexBound::Inclusive(v) => m >= &v[..],
        LexBound::Exclusive(v) => m > &v[..],
    }
}

fn lex_below_max(m: &[u8], b: &LexBound) -> bool {
    match b {
        LexBound::Min => false,
        LexBound::Max => true,
        LexBound::Inclusive(v) => m <= &v[..],
        LexBound::Exclusive(v) => m < &v[..],
    }
}

/// Indices (into the ascending entries) that `by` selects, in the order
/// `rev` asks for.
fn select(entries: &Entries<'_>, by: &RangeBy, rev: bool) -> Vec<usize> {
    let n = entries.len();
    match by {
        RangeBy::Index(start, stop) => match clamp_range(*start, *stop, n) {
            None => vec![],
            Some((a, b)) if rev => (a..=b).map(|i| n - 1 - i).collect(),
            Some((a, b)) => (a..=b).collect(),
        },
        RangeBy::Score(min, max) => {
            let mut v: Vec<usize> = (0..n)
                .filter(|&i| above_min(entries[i].0, min) && below_max(entries[i].0, max))
                .collect();
            if rev {
                v.reverse();
            }
            v
        }
        RangeBy::Lex(min, max) => {
            let mut v: Vec<usize> = (0..n)
                .filter(|&i| lex_above_min(entries[i].1, min) && lex_below_max(entries[i].1, max))
                .collect();
            if rev {
                v.reverse();
            }
            v
        }
    }
}

fn scored(entries: &Entries<'_>, idx: &[usize], with_scores: bool) -> Answer {
    if with_scores {
        Answer::Pairs(
            idx.iter()
                .map(|&i| (Answer::bulk(entries[i].1), Answer::double(entries[i].0)))
                .collect(),
        )
    } else {
        Answer::bulks(idx.iter().map(|&i| entries[i].1))
    }
}

impl ZSetOp {
    /// Applies the command to the sorted set `cur` (None: the key is absent).
    pub fn apply(&self, cur: Option<&Packed>) -> Applied {
        let mut entries = decode(cur)?;
        let find = |m: &[u8]| entries.iter().position(|(_, x)| *x == m);
        let read = |n: Answer| Ok((Change::Keep, n));
        match self {
            ZSetOp::Score(m) => read(find(m).map_or(Answer::Nil, |i| Answer::double(entries[i].0))),
            ZSetOp::MScore(ms) => read(Answer::Array(
                ms.iter()
                    .map(|m| find(m).map_or(Answer::Nil, |i| Answer::double(entries[i].0)))
                    .collect(),
            )),
            ZSetOp::Card => read(Answer::Int(entries.len() as i64)),
            ZSetOp::Count(min, max) => read(Answer::Int(
                entries
                    .iter()
                    .filter(|(s, _)| above_min(*s, min) && below_max(*s, max))
                    .count() as i64,
            )),
            ZSetOp::Rank { member, rev } => read(find(member).map_or(Answer::Nil, |i| {
                Answer::Int(if *rev { entries.len() - 1 - i } else { i } as i64)
            })),
            ZSetOp::Range {
                by,
                rev,
                limit,
                with_scores,
            } => {
                let mut idx = select(&entries, by, *rev);
                if let Some((offset, count)) = limit {
                    if *offset < 0 {
                        idx.clear();
                    } else {
                        let rest = idx.split_off((*offset as usize).min(idx.len()));
                        idx = rest;
                        if *count >= 0 {
                            idx.truncate(*count as usize);
                        }
                    }
                }
                read(scored(&entries, &idx, *with_scores))
            }
            ZSetOp::Pop { max, count } => {
                let n = entries.len();
                let k = count.unwrap_or(1).min(n as u64) as usize;
                let idx: Vec<usize> = if *max {
                    (n - k..n).rev().collect()
                } else {
                    (0..k).collect()
                };
                let reply = match count {
                    None => match idx.first() {
                        Some(&i) => Answer::Array(vec![
                            Answer::bulk(entries[i].1),
                            Answer::double(entries[i].0),
                        ]),
                        None => Answer::Array(vec![]),
                    },
                    Some(_) => scored(&entries, &idx, true),
                };
                if k == 0 {
                    return read(reply);
                }
                if *max {
                    entries.truncate(n - k);
                } else {
                    entries.drain(..k);
                }
                Ok((Change::Write(encode(&entries)), reply))
            }
            ZSetOp::RemRange(by) => {
                let idx = select(&entries, by, false);
                if idx.is_empty() {
                    return read(Answer::Int(0));
                }
                let removed = idx.len() as i64;
                let mut keep = vec![true; entries.len()];
                for i in idx {
                    keep[i] = false;
                }
                let mut k = keep.iter();
                entries.retain(|_| *k.next().unwrap_or(&true));
                Ok((Change::Write(encode(&entries)), Answer::Int(removed)))
            }
            ZSetOp::Rem(ms) => {
                let before = entries.len();
                entries.retain(|(_, m)| !ms.iter().any(|x| x == m));
                let removed = (before - entries.len()) as i64;
                if removed == 0 {
                    return read(Answer::Int(0));
                }
                Ok((Change::Write(encode(&entries)), Answer::Int(removed)))
            }
            ZSetOp::IncrBy(delta, m) => {
                let flags = AddFlags {
                    incr: true,
                    ..AddFlags::default()
                };
                let pair = [(*delta, m.clone())];
                add(&mut entries, &pair, flags)
            }
            ZSetOp::Add { pairs, flags } => add(&mut entries, pairs, *flags),
        }
    }

    /// True if the command never changes the sorted set.
    pub fn is_read_only(&self) -> bool {
        matches!(
            self,
            ZSetOp::Score(_)
                | ZSetOp::MScore(_)
                | ZSetOp::Card
                | ZSetOp::Count(..)
                | ZSetOp::Range { .. }
                | ZSetOp::Rank { .. }
        )
    }

    /// The bytes this command adds at most.
    pub fn payload_len(&self) -> usize {
        match self {
            ZSetOp::Add { pairs, .. } => pairs.iter().map(|(_, m)| m.len() + 9).sum(),
            ZSetOp::IncrBy(_, m) => m.len() + 9,
            _ => 0,
        }
    }
}

/// ZADD (and ZINCRBY, which is ZADD INCR): Redis's rules for NX, XX, GT, LT, CH.
fn add<'a>(entries: &mut Entries<'a>, pairs: &'a [(f64, Vec<u8>)], f: AddFlags) -> Applied {
    let (mut added, mut changed) = (0, 0);
    let mut incr_result = None;
    for (score, m) in pairs {
        let at = entries.iter().position(|(_, x)| *x == &m[..]);
        let mut new = *score;
        match at {
            Some(i) => {
                if f.nx {
                    continue;
                }
                let old = entries[i].0;
                if f.incr {
                    new = old + score;
                    if new.is_nan() {
                        return Err(ERR_ZSET_NAN.into());
                    }
                }
                if (f.gt && new <= old) || (f.lt && new >= old) {
                    continue;
                }
                incr_result = Some(new);
                if new != old {
                    entries[i].0 = new;
                    changed += 1;
                }
            }
            None => {
                if f.xx {
                    continue;
                }
                entries.push((new, m));
                incr_result = Some(new);
                added += 1;
            }
        }
    }
    entries.sort_by(order);
    let reply = if f.incr {
        incr_result.map_or(Answer::Nil, Answer::double)
    } else if f.ch {
        Answer::Int(added + changed)
    } else {
        Answer::Int(added)
    };
    if added + changed == 0 {
        return Ok((Change::Keep, reply));
    }
    Ok((Change::Write(encode(entries)), reply))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn apply(op: &ZSetOp, cur: &mut Option<Packed>) -> Result<Answer, String> {
        match op.apply(cur.as_ref()) {
            Ok((Change::Keep, n)) => Ok(n),
            Ok((Change::Write(p), n)) => {
                *cur = (!p.is_empty()).then_some(p);
                Ok(n)
            }
            Err(e) => Err(e),
        }
    }

    fn m(s: &str) -> Vec<u8> {
        s.as_bytes().to_vec()
    }

    fn incl(score: f64) -> ScoreBound {
        ScoreBound {
            score,
            exclusive: false,
        }
    }

    #[test]
    fn zadd_flags_follow_redis() {
        let mut cur = None;
        let add = |pairs: &[(f64, &str)], flags| ZSetOp::Add {
            pairs: pairs.iter().map(|(s, x)| (*s, m(x))).collect(),
            flags,
        };
        let f = AddFlags::default();
        assert_eq!(
            apply(&add(&[(1.0, "a"), (2.0, "b")], f), &mut cur),
            Ok(Answer::Int(2))
        );
        let gt_ch = AddFlags {
            gt: true,
            ch: true,
            ..f
        };
        assert_eq!(
            apply(&add(&[(0.5, "a"), (3.0, "b"), (1.0, "c")], gt_ch), &mut cur),
            Ok(Answer::Int(2)),
            "b raised and c added; a not lowered"
        );
        let nx_incr = AddFlags {
            nx: true,
            incr: true,
            ..f
        };
        assert_eq!(
            apply(&add(&[(1.0, "a")], nx_incr), &mut cur),
            Ok(Answer::Nil)
        );
        assert_eq!(
            apply(&ZSetOp::IncrBy(2.5, m("a")), &mut cur),
            Ok(Answer::double(3.5))
        );
        let all = ZSetOp::Range {
            by: RangeBy::Index(0, -1),
            rev: false,
            limit: None,
            with_scores: true,
        };
        assert_eq!(
            apply(&all, &mut cur),
            Ok(Answer::Pairs(vec![
                (Answer::bulk(b"c"), Answer::double(1.0)),
                (Answer::bulk(b"b"), Answer::double(3.0)),
                (Answer::bulk(b"a"), Answer::double(3.5)),
            ]))
        );
        let inf = ZSetOp::IncrBy(f64::INFINITY, m("a"));
        assert_eq!(apply(&inf, &mut cur), Ok(Answer::double(f64::INFINITY)));
        let nan = ZSetOp::IncrBy(f64::NEG_INFINITY, m("a"));
        assert_eq!(apply(&nan, &mut cur), Err(ERR_ZSET_NAN.into()));
    }

    #[test]
    fn ranges_by_score_and_lex_with_rev_and_limit() {
        let mut cur = None;
        let pairs = vec![(1.0, m("a")), (2.0, m("b")), (2.0, m("c")), (3.0, m("d"))];
        apply(
            &ZSetOp::Add {
                pairs,
                flags: AddFlags::default(),
            },
            &mut cur,
        )
        .unwrap();
        let range = |by, rev, limit| ZSetOp::Range {
            by,
            rev,
            limit,
            with_scores: false,
        };
        let ex2 = ScoreBound {
            score: 2.0,
            exclusive: true,
        };
        let names = |v: &[&str]| Ok(Answer::bulks(v.iter().map(|s| s.as_bytes())));
        assert_eq!(
            apply(
                &range(RangeBy::Score(incl(2.0), incl(3.0)), false, None),
                &mut cur
            ),
            names(&["b", "c", "d"])
        );
        assert_eq!(
            apply(
                &range(RangeBy::Score(ex2, incl(f64::INFINITY)), true, None),
                &mut cur
            ),
            names(&["d"])
        );
        assert_eq!(
            apply(
                &range(
                    RangeBy::Score(incl(f64::NEG_INFINITY), incl(9.0)),
                    true,
                    Some((1, 2))
                ),
                &mut cur
            ),
            names(&["c", "b"])
        );
        assert_eq!(
            apply(
                &range(
                    RangeBy::Lex(LexBound::Exclusive(m("a")), LexBound::Max),
                    false,
                    None
                ),
                &mut cur
            ),
            names(&["b", "c", "d"])
        );
        assert_eq!(
            apply(&range(RangeBy::Index(-2, -1), true, None), &mut cur),
            names(&["b", "a"])
        );
        assert_eq!(
            apply(
                &ZSetOp::Rank {
                    member: m("c"),
                    rev: true
                },
                &mut cur
            ),
            Ok(Answer::Int(1))
        );
        assert_eq!(
            apply(
                &ZSetOp::RemRange(RangeBy::Score(incl(2.0), incl(2.0))),
                &mut cur
            ),
            Ok(Answer::Int(2))
        );
        assert_eq!(
            apply(
                &ZSetOp::Pop {
                    max: true,
                    count: None
                },
                &mut cur
            ),
            Ok(Answer::Array(vec![Answer::bulk(b"d"), Answer::double(3.0)]))
        );
        assert_eq!(
            apply(
                &ZSetOp::Pop {
                    max: false,
                    count: Some(5)
                },
                &mut cur
            ),
            Ok(Answer::Pairs(vec![(
                Answer::bulk(b"a"),
                Answer::double(1.0)
            )]))
        );
        assert_eq!(cur, None, "popping the last member deletes the key");
    }

    #[derive(Clone, Debug)]
    enum M {
        Add(u8, i8),
        Incr(u8, i8),
        Rem(u8),
        Score(u8),
        Rank(u8),
        RangeAll,
        PopMin,
    }

    fn ms() -> impl Strategy<Value = M> {
        prop_oneof![
            (0..6u8, any::<i8>()).prop_map(|(x, s)| M::Add(x, s)),
            (0..6u8, any::<i8>()).prop_map(|(x, s)| M::Incr(x, s)),
            (0..6u8).prop_map(M::Rem),
            (0..6u8).prop_map(M::Score),
            (0..6u8).prop_map(M::Rank),
            Just(M::RangeAll),
            Just(M::PopMin),
        ]
    }

    proptest! {
        /// Each sorted-set command's change function against a map model
        /// sorted on demand.
        #[test]
        fn zset_commands_match_a_model(ops in prop::collection::vec(ms(), 1..40)) {
            let mut model: BTreeMap<Vec<u8>, f64> = BTreeMap::new();
            let mut cur = None;
            let sorted = |model: &BTreeMap<Vec<u8>, f64>| {
                let mut v: Vec<(f64, Vec<u8>)> = model.iter().map(|(k, s)| (*s, k.clone())).collect();
                v.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                v
            };
            for op in ops {
                let x = |n: u8| vec![b'm', n];
                match &op {
                    M::Add(k, s) => {
                        let new = model.insert(x(*k), f64::from(*s)).is_none();
                        let got = apply(&ZSetOp::Add { pairs: vec![(f64::from(*s), x(*k))], flags: AddFlags::default() }, &mut cur).map_err(TestCaseError::fail)?;
                        prop_assert_eq!(got, Answer::Int(i64::from(new)));
                    }
                    M::Incr(k, s) => {
                        let v = model.entry(x(*k)).or_insert(0.0);
                        *v += f64::from(*s);
                        let want = Answer::double(*v);
                        prop_assert_eq!(apply(&ZSetOp::IncrBy(f64::from(*s), x(*k)), &mut cur).map_err(TestCaseError::fail)?, want);
                    }
                    M::Rem(k) => {
                        let had = model.remove(&x(*k)).is_some();
                        prop_assert_eq!(apply(&ZSetOp::Rem(vec![x(*k)]), &mut cur).map_err(TestCaseError::fail)?, Answer::Int(i64::from(had)));
                    }
                    M::Score(k) => {
                        let want = model.get(&x(*k)).map_or(Answer::Nil, |s| Answer::double(*s));
                        prop_assert_eq!(apply(&ZSetOp::Score(x(*k)), &mut cur).map_err(TestCaseError::fail)?, want);
                    }
                    M::Rank(k) => {
                        let want = sorted(&model).iter().position(|(_, m)| *m == x(*k)).map_or(Answer::Nil, |i| Answer::Int(i as i64));
                        prop_assert_eq!(apply(&ZSetOp::Rank { member: x(*k), rev: false }, &mut cur).map_err(TestCaseError::fail)?, want);
                    }
                    M::RangeAll => {
                        let want = Answer::bulks(sorted(&model).iter().map(|(_, m)| &m[..]).collect::<Vec<_>>());
                        let op = ZSetOp::Range { by: RangeBy::Index(0, -1), rev: false, limit: None, with_scores: false };
                        prop_assert_eq!(apply(&op, &mut cur).map_err(TestCaseError::fail)?, want);
                    }
                    M::PopMin => {
                        let want = match sorted(&model).first() {
                            Some((s, m)) => { model.remove(m); Answer::Array(vec![Answer::bulk(m), Answer::double(*s)]) }
                            None => Answer::Array(vec![]),
                        };
                        prop_assert_eq!(apply(&ZSetOp::Pop { max: false, count: None }, &mut cur).map_err(TestCaseError::fail)?, want);
                    }
                }
                let held: Vec<(f64, Vec<u8>)> = decode(cur.as_ref()).unwrap().into_iter().map(|(s, m)| (s, m.to_vec())).collect();
                prop_assert_eq!(held, sorted(&model));
            }
        }
    }
}
