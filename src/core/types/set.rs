//! Sets (Redis's t_set.c): distinct members, packed in insertion order.

use super::{Answer, Applied, Change, Packed, Picker};
use serde::{Deserialize, Serialize};

/// A command on a set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SetOp {
    /// SADD: the number added.
    Add(Vec<Vec<u8>>),
    /// SREM: the number removed.
    Rem(Vec<Vec<u8>>),
    /// SMEMBERS (also the read of SINTER, SUNION, SDIFF, SSCAN).
    Members,
    /// SISMEMBER.
    IsMember(Vec<u8>),
    /// SMISMEMBER.
    MIsMember(Vec<Vec<u8>>),
    /// SCARD.
    Card,
    /// SPOP [count]: no count answers one member or nil.
    Pop(Option<u64>),
    /// SRANDMEMBER [count]: a negative count may repeat members.
    RandMember(Option<i64>),
    /// SINTERSTORE, SUNIONSTORE, SDIFFSTORE of this key alone (the same-key
    /// form of a cross-key command): `keep` true keeps the set (union,
    /// intersection with itself), false empties it (difference with itself).
    StoreSelf { keep: bool },
}

fn decode(p: Option<&Packed>) -> Result<Vec<&[u8]>, String> {
    p.map_or(Ok(Vec::new()), Packed::entries)
}

impl SetOp {
    /// Applies the command to the set `cur` (None: the key is absent).
    pub fn apply(&self, cur: Option<&Packed>, now_ms: u64) -> Applied {
        let mut members = decode(cur)?;
        let has = |m: &[u8]| members.contains(&m);
        let read = |n: Answer| Ok((Change::Keep, n));
        match self {
            SetOp::Members => read(Answer::Set(
                members.iter().map(|m| Answer::bulk(m)).collect(),
            )),
            SetOp::IsMember(m) => read(Answer::Int(i64::from(has(m)))),
            SetOp::MIsMember(ms) => read(Answer::Array(
                ms.iter().map(|m| Answer::Int(i64::from(has(m)))).collect(),
            )),
            SetOp::Card => read(Answer::Int(members.len() as i64)),
            SetOp::RandMember(count) => {
                let mut pick = Picker::new(now_ms, cur);
                let n = members.len();
                match count {
                    None if n == 0 => read(Answer::Nil),
                    None => read(Answer::bulk(members[pick.below(n)])),
                    Some(c) if *c >= 0 => read(Answer::bulks(
                        pick.distinct(n, *c as usize)
                            .into_iter()
                            .map(|i| members[i]),
                    )),
                    Some(_) if n == 0 => read(Answer::Array(vec![])),
                    Some(c) => read(Answer::bulks(
                        (0..c.unsigned_abs()).map(|_| members[pick.below(n)]),
                    )),
                }
            }
            SetOp::Pop(count) => {
                let mut pick = Picker::new(now_ms, cur);
                let n = members.len();
                let chosen = pick.distinct(n, count.unwrap_or(1).min(n as u64) as usize);
                let popped: Vec<&[u8]> = chosen.iter().map(|&i| members[i]).collect();
                let reply = match count {
                    None => popped.first().map_or(Answer::Nil, |m| Answer::bulk(m)),
                    Some(_) => Answer::Set(popped.iter().map(|m| Answer::bulk(m)).collect()),
                };
                if popped.is_empty() {
                    return read(reply);
                }
                members.retain(|m| !popped.contains(m));
                Ok((Change::Write(Packed::pack(members)), reply))
            }
            SetOp::Add(new) => {
                let mut added = 0;
                for m in new {
                    if !members.contains(&&m[..]) {
                        members.push(m);
                        added += 1;
                    }
                }
                if added == 0 {
                    return read(Answer::Int(0));
                }
                Ok((Change::Write(Packed::pack(members)), Answer::Int(added)))
            }
            SetOp::Rem(gone) => {
                let before = members.len();
                members.retain(|m| !gone.iter().any(|g| g == m));
                let removed = (before - members.len()) as i64;
                if removed == 0 {
                    return read(Answer::Int(0));
                }
                Ok((Change::Write(Packed::pack(members)), Answer::Int(removed)))
            }
            SetOp::StoreSelf { keep } => {
                let n = if *keep { members.len() } else { 0 };
                if *keep {
                    return read(Answer::Int(n as i64));
                }
                Ok((Change::Write(Packed::default()), Answer::Int(0)))
            }
        }
    }

    /// True if the command never changes the set.
    pub fn is_read_only(&self) -> bool {
        matches!(
            self,
            SetOp::Members
                | SetOp::IsMember(_)
                | SetOp::MIsMember(_)
                | SetOp::Card
                | SetOp::RandMember(_)
        )
    }

    /// The bytes this command adds at most.
    pub fn payload_len(&self) -> usize {
        match self {
            SetOp::Add(ms) => ms.iter().map(Vec::len).sum(),
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    #[derive(Clone, Debug)]
    enum M {
        Add(Vec<u8>),
        Rem(Vec<u8>),
        IsMember(u8),
        Card,
        Pop(Option<u8>),
        Members,
    }

    fn m() -> impl Strategy<Value = M> {
        prop_oneof![
            prop::collection::vec(0..8u8, 1..4).prop_map(M::Add),
            prop::collection::vec(0..8u8, 1..3).prop_map(M::Rem),
            (0..8u8).prop_map(M::IsMember),
            Just(M::Card),
            prop::option::of(0..4u8).prop_map(M::Pop),
            Just(M::Members),
        ]
    }

    fn apply(op: &SetOp, cur: &mut Option<Packed>, now: u64) -> Result<Answer, String> {
        match op.apply(cur.as_ref(), now) {
            Ok((Change::Keep, n)) => Ok(n),
            Ok((Change::Write(p), n)) => {
                *cur = (!p.is_empty()).then_some(p);
                Ok(n)
            }
            Err(e) => Err(e),
        }
    }

    fn members(n: &Answer) -> BTreeSet<Vec<u8>> {
        match n {
            Answer::Set(items) | Answer::Array(items) => items
                .iter()
                .map(|i| match i {
                    Answer::Bulk(b) => b.clone(),
                    other => panic!("{other:?}"),
                })
                .collect(),
            Answer::Bulk(b) => [b.clone()].into(),
            Answer::Nil => BTreeSet::new(),
            other => panic!("{other:?}"),
        }
    }

    proptest! {
        /// Each set command's change function against a BTreeSet model; SPOP's
        /// members are random, so the model removes whatever it popped, after
        /// checking they were members and as many as asked.
        #[test]
        fn set_commands_match_a_set_model(ms in prop::collection::vec(m(), 1..40), now in any::<u64>()) {
            let mut model: BTreeSet<Vec<u8>> = BTreeSet::new();
            let mut cur = None;
            for op in ms {
                match &op {
                    M::Add(xs) => {
                        let xs: Vec<Vec<u8>> = xs.iter().map(|x| vec![*x]).collect();
                        let before = model.len();
                        model.extend(xs.iter().cloned());
                        let got = apply(&SetOp::Add(xs), &mut cur, now).map_err(TestCaseError::fail)?;
                        prop_assert_eq!(got, Answer::Int((model.len() - before) as i64));
                    }
                    M::Rem(xs) => {
                        let xs: Vec<Vec<u8>> = xs.iter().map(|x| vec![*x]).collect();
                        let before = model.len();
                        for x in &xs { model.remove(x); }
                        let got = apply(&SetOp::Rem(xs), &mut cur, now).map_err(TestCaseError::fail)?;
                        prop_assert_eq!(got, Answer::Int((before - model.len()) as i64));
                    }
                    M::IsMember(x) => {
                        let got = apply(&SetOp::IsMember(vec![*x]), &mut cur, now).map_err(TestCaseError::fail)?;
                        prop_assert_eq!(got, Answer::Int(i64::from(model.contains(&vec![*x]))));
                    }
                    M::Card => prop_assert_eq!(apply(&SetOp::Card, &mut cur, now).map_err(TestCaseError::fail)?, Answer::Int(model.len() as i64)),
                    M::Members => {
                        let got = apply(&SetOp::Members, &mut cur, now).map_err(TestCaseError::fail)?;
                        prop_assert_eq!(members(&got), model.clone());
                    }
                    M::Pop(count) => {
                        let got = apply(&SetOp::Pop(count.map(u64::from)), &mut cur, now).map_err(TestCaseError::fail)?;
                        let popped = members(&got);
                        let want = count.map_or(1, usize::from).min(model.len());
                        prop_assert_eq!(popped.len(), want);
                        for p in &popped { prop_assert!(model.remove(p)); }
                    }
                }
                let held: BTreeSet<Vec<u8>> = decode(cur.as_ref()).unwrap().into_iter().map(<[u8]>::to_vec).collect();
                prop_assert_eq!(&held, &model);
            }
        }
    }
}
