//! Lists (Redis's t_list.c): elements packed head first. Blocking pops
//! (BLPOP ...) are refused by the command layer: a change function cannot
//! wait.

use super::{clamp_range, Answer, Applied, Change, Packed};
use serde::{Deserialize, Serialize};

/// A command on a list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ListOp {
    /// LPUSH, RPUSH, LPUSHX, RPUSHX: the new length.
    Push {
        left: bool,
        items: Vec<Vec<u8>>,
        if_exists: bool,
    },
    /// LPOP, RPOP [count].
    Pop { left: bool, count: Option<u64> },
    /// LLEN.
    Len,
    /// LRANGE.
    Range(i64, i64),
    /// LINDEX.
    Index(i64),
    /// LSET.
    Set(i64, Vec<u8>),
    /// LREM count element.
    Rem(i64, Vec<u8>),
    /// LTRIM.
    Trim(i64, i64),
    /// LINSERT BEFORE|AFTER pivot element.
    Insert {
        before: bool,
        pivot: Vec<u8>,
        item: Vec<u8>,
    },
    /// LPOS element [RANK r] [COUNT c] [MAXLEN m] (rank != 0; maxlen 0: all).
    Pos {
        item: Vec<u8>,
        rank: i64,
        count: Option<u64>,
        maxlen: u64,
    },
    /// LMOVE (and RPOPLPUSH) with source and destination the same key.
    Move { from_left: bool, to_left: bool },
}

/// Redis's error texts for the list commands.
pub const ERR_NO_SUCH_KEY: &str = "ERR no such key";
/// See [`ERR_NO_SUCH_KEY`].
pub const ERR_INDEX_OUT_OF_RANGE: &str = "ERR index out of range";

fn index(i: i64, len: usize) -> Option<usize> {
    let len = len as i64;
    let i = if i < 0 { len + i } else { i };
    (0..len).contains(&i).then_some(i as usize)
}

impl ListOp {
    /// Applies the command to the list `cur` (None: the key is absent).
    pub fn apply(&self, cur: Option<&Packed>) -> Applied {
        let mut items: Vec<&[u8]> = cur.map_or(Ok(Vec::new()), Packed::entries)?;
        let read = |n: Answer| Ok((Change::Keep, n));
        let write = |items: Vec<&[u8]>, n: Answer| Ok((Change::Write(Packed::pack(items)), n));
        match self {
            ListOp::Len => read(Answer::Int(items.len() as i64)),
            ListOp::Range(start, stop) => read(match clamp_range(*start, *stop, items.len()) {
                Some((a, b)) => Answer::bulks(items[a..=b].iter().copied()),
                None => Answer::Array(vec![]),
            }),
            ListOp::Index(i) => {
                read(index(*i, items.len()).map_or(Answer::Nil, |i| Answer::bulk(items[i])))
            }
            ListOp::Pos {
                item,
                rank,
                count,
                maxlen,
            } => {
                let n = items.len();
                let order: Box<dyn Iterator<Item = usize>> = if *rank > 0 {
                    Box::new(0..n)
                } else {
                    Box::new((0..n).rev())
                };
                let limit = if *maxlen == 0 {
                    n
                } else {
                    (*maxlen as usize).min(n)
                };
                let want = match count {
                    Some(0) => usize::MAX,
                    Some(c) => *c as usize,
                    None => 1,
                };
                let found: Vec<Answer> = order
                    .take(limit)
                    .filter(|&i| items[i] == &item[..])
                    .skip(rank.unsigned_abs() as usize - 1)
                    .take(want)
                    .map(|i| Answer::Int(i as i64))
                    .collect();
                match count {
                    Some(_) => read(Answer::Array(found)),
                    None => read(found.into_iter().next().unwrap_or(Answer::Nil)),
                }
            }
            ListOp::Push {
                left,
                items: new,
                if_exists,
            } => {
                if *if_exists && items.is_empty() {
                    return read(Answer::Int(0));
                }
                if *left {
                    let mut head: Vec<&[u8]> = new.iter().rev().map(Vec::as_slice).collect();
                    head.extend(items);
                    items = head;
                } else {
                    items.extend(new.iter().map(Vec::as_slice));
                }
                let len = items.len() as i64;
                write(items, Answer::Int(len))
            }
            ListOp::Pop { left, count } => {
                if items.is_empty() {
                    return read(if count.is_some() {
                        Answer::NilArray
                    } else {
                        Answer::Nil
                    });
                }
                let k = count.unwrap_or(1).min(items.len() as u64) as usize;
                let popped: Vec<&[u8]> = if *left {
                    items.drain(..k).collect()
                } else {
                    let at = items.len() - k;
                    items.drain(at..).rev().collect()
                };
                let reply = match count {
                    None => Answer::bulk(popped[0]),
                    Some(_) => Answer::bulks(popped.iter().copied()),
                };
                if k == 0 {
                    return read(reply);
                }
                write(items, reply)
            }
            ListOp::Set(i, v) => {
                if items.is_empty() {
                    return Err(ERR_NO_SUCH_KEY.into());
                }
                let i = index(*i, items.len()).ok_or(ERR_INDEX_OUT_OF_RANGE)?;
                items[i] = v;
                write(items, Answer::Status("OK".into()))
            }
            ListOp::Rem(count, v) => {
                let before = items.len();
                let max = if *count == 0 {
                    usize::MAX
                } else {
                    count.unsigned_abs() as usize
                };
                let mut removed = 0;
                let mut keep = vec![true; items.len()];
                let order: Box<dyn Iterator<Item = usize>> = if *count >= 0 {
                    Box::new(0..before)
                } else {
                    Box::new((0..before).rev())
                };
                for i in order {
                    if removed < max && items[i] == &v[..] {
                        keep[i] = false;
                        removed += 1;
                    }
                }
                if removed == 0 {
                    return read(Answer::Int(0));
                }
                let mut k = keep.into_iter();
                items.retain(|_| k.next().unwrap_or(true));
                write(items, Answer::Int(removed as i64))
            }
            ListOp::Trim(start, stop) => {
                let kept = match clamp_range(*start, *stop, items.len()) {
                    Some((a, b)) => items[a..=b].to_vec(),
                    None => vec![],
                };
                if kept.len() == items.len() {
                    return read(Answer::Status("OK".into()));
                }
                write(kept, Answer::Status("OK".into()))
            }
            ListOp::Insert {
                before,
                pivot,
                item,
            } => {
                if items.is_empty() {
                    return read(Answer::Int(0));
                }
                let Some(at) = items.iter().position(|x| *x == &pivot[..]) else {
                    return read(Answer::Int(-1));
                };
                items.insert(if *before { at } else { at + 1 }, item);
                let len = items.len() as i64;
                write(items, Answer::Int(len))
            }
            ListOp::Move { from_left, to_left } => {
                if items.is_empty() {
                    return read(Answer::Nil);
                }
                let x = if *from_left {
                    items.remove(0)
                } else {
                    items.pop().unwrap_or_default()
                };
                if *to_left {
                    items.insert(0, x);
                } else {
                    items.push(x);
                }
                write(items, Answer::bulk(x))
            }
        }
    }

    /// True if the command never changes the list.
    pub fn is_read_only(&self) -> bool {
        matches!(
            self,
            ListOp::Len | ListOp::Range(..) | ListOp::Index(_) | ListOp::Pos { .. }
        )
    }

    /// The bytes this command adds at most.
    pub fn payload_len(&self) -> usize {
        match self {
            ListOp::Push { items, .. } => items.iter().map(Vec::len).sum(),
            ListOp::Set(_, v) | ListOp::Insert { item: v, .. } => v.len(),
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::VecDeque;

    fn apply(op: &ListOp, cur: &mut Option<Packed>) -> Result<Answer, String> {
        match op.apply(cur.as_ref()) {
            Ok((Change::Keep, n)) => Ok(n),
            Ok((Change::Write(p), n)) => {
                *cur = (!p.is_empty()).then_some(p);
                Ok(n)
            }
            Err(e) => Err(e),
        }
    }

    fn b(s: &str) -> Vec<u8> {
        s.as_bytes().to_vec()
    }

    #[test]
    fn list_commands_follow_redis() {
        let mut cur = None;
        let push = |left, xs: &[&str]| ListOp::Push {
            left,
            items: xs.iter().map(|x| b(x)).collect(),
            if_exists: false,
        };
        assert_eq!(
            apply(&push(true, &["a", "b", "c"]), &mut cur),
            Ok(Answer::Int(3))
        );
        assert_eq!(apply(&push(false, &["x"]), &mut cur), Ok(Answer::Int(4)));
        let all = |cur: &mut Option<Packed>| apply(&ListOp::Range(0, -1), cur);
        let names = |v: &[&str]| Ok(Answer::bulks(v.iter().map(|s| s.as_bytes())));
        assert_eq!(all(&mut cur), names(&["c", "b", "a", "x"]));
        let ins = ListOp::Insert {
            before: true,
            pivot: b("a"),
            item: b("c"),
        };
        assert_eq!(apply(&ins, &mut cur), Ok(Answer::Int(5)));
        assert_eq!(
            apply(&ListOp::Rem(-1, b("c")), &mut cur),
            Ok(Answer::Int(1))
        );
        assert_eq!(all(&mut cur), names(&["c", "b", "a", "x"]));
        let pos = ListOp::Pos {
            item: b("a"),
            rank: -1,
            count: Some(0),
            maxlen: 0,
        };
        assert_eq!(
            apply(&pos, &mut cur),
            Ok(Answer::Array(vec![Answer::Int(2)]))
        );
        let mv = ListOp::Move {
            from_left: true,
            to_left: false,
        };
        assert_eq!(apply(&mv, &mut cur), Ok(Answer::bulk(b"c")));
        assert_eq!(all(&mut cur), names(&["b", "a", "x", "c"]));
        assert_eq!(
            apply(&ListOp::Set(9, b("z")), &mut cur),
            Err(ERR_INDEX_OUT_OF_RANGE.into())
        );
        assert_eq!(
            apply(
                &ListOp::Pop {
                    left: false,
                    count: Some(2)
                },
                &mut cur
            ),
            names(&["c", "x"])
        );
        assert_eq!(
            apply(&ListOp::Trim(1, 0), &mut cur),
            Ok(Answer::Status("OK".into()))
        );
        assert_eq!(cur, None, "an empty trim deletes the key");
        assert_eq!(
            apply(
                &ListOp::Pop {
                    left: true,
                    count: Some(1)
                },
                &mut cur
            ),
            Ok(Answer::NilArray)
        );
        assert_eq!(
            apply(&ListOp::Set(0, b("z")), &mut cur),
            Err(ERR_NO_SUCH_KEY.into())
        );
    }

    #[derive(Clone, Debug)]
    enum M {
        Push(bool, u8),
        Pop(bool),
        Index(i8),
        Set(i8, u8),
        Rem(i8, u8),
        Trim(i8, i8),
        Range(i8, i8),
    }

    fn ms() -> impl Strategy<Value = M> {
        prop_oneof![
            (any::<bool>(), 0..4u8).prop_map(|(l, x)| M::Push(l, x)),
            any::<bool>().prop_map(M::Pop),
            (-6..6i8).prop_map(M::Index),
            (-6..6i8, 0..4u8).prop_map(|(i, x)| M::Set(i, x)),
            (-3..3i8, 0..4u8).prop_map(|(c, x)| M::Rem(c, x)),
            (-6..6i8, -6..6i8).prop_map(|(a, b)| M::Trim(a, b)),
            (-6..6i8, -6..6i8).prop_map(|(a, b)| M::Range(a, b)),
        ]
    }

    /// The model's own reading of Redis's index rules, written from the
    /// docs independently of `clamp_range`.
    fn model_range(len: usize, start: i64, stop: i64) -> Vec<usize> {
        let len = len as i64;
        let s = if start < 0 {
            (len + start).max(0)
        } else {
            start
        };
        let e = if stop < 0 {
            len + stop
        } else {
            stop.min(len - 1)
        };
        (s..=e)
            .filter(|i| *i >= 0 && *i < len)
            .map(|i| i as usize)
            .collect()
    }

    proptest! {
        /// Each list command's change function against a VecDeque model.
        #[test]
        fn list_commands_match_a_deque_model(ops in prop::collection::vec(ms(), 1..40)) {
            let mut model: VecDeque<Vec<u8>> = VecDeque::new();
            let mut cur = None;
            for op in ops {
                match &op {
                    M::Push(left, x) => {
                        if *left { model.push_front(vec![*x]) } else { model.push_back(vec![*x]) }
                        let got = apply(&ListOp::Push { left: *left, items: vec![vec![*x]], if_exists: false }, &mut cur).map_err(TestCaseError::fail)?;
                        prop_assert_eq!(got, Answer::Int(model.len() as i64));
                    }
                    M::Pop(left) => {
                        let want = if *left { model.pop_front() } else { model.pop_back() };
                        let got = apply(&ListOp::Pop { left: *left, count: None }, &mut cur).map_err(TestCaseError::fail)?;
                        prop_assert_eq!(got, want.map_or(Answer::Nil, Answer::Bulk));
                    }
                    M::Index(i) => {
                        let len = model.len() as i64;
                        let j = if *i < 0 { len + i64::from(*i) } else { i64::from(*i) };
                        let want = model.get(j as usize).filter(|_| j >= 0).map_or(Answer::Nil, |v| Answer::bulk(v));
                        prop_assert_eq!(apply(&ListOp::Index(i64::from(*i)), &mut cur).map_err(TestCaseError::fail)?, want);
                    }
                    M::Set(i, x) => {
                        let len = model.len() as i64;
                        let j = if *i < 0 { len + i64::from(*i) } else { i64::from(*i) };
                        let want = if model.is_empty() {
                            Err(ERR_NO_SUCH_KEY.to_string())
                        } else if j < 0 || j >= len {
                            Err(ERR_INDEX_OUT_OF_RANGE.to_string())
                        } else {
                            model[j as usize] = vec![*x];
                            Ok(Answer::Status("OK".into()))
                        };
                        prop_assert_eq!(apply(&ListOp::Set(i64::from(*i), vec![*x]), &mut cur), want);
                    }
                    M::Rem(c, x) => {
                        let mut removed = 0;
                        let max = if *c == 0 { usize::MAX } else { c.unsigned_abs() as usize };
                        let mut v: Vec<Vec<u8>> = model.iter().cloned().collect();
                        if *c < 0 { v.reverse(); }
                        v.retain(|e| { if removed < max && *e == vec![*x] { removed += 1; false } else { true } });
                        if *c < 0 { v.reverse(); }
                        model = v.into();
                        prop_assert_eq!(apply(&ListOp::Rem(i64::from(*c), vec![*x]), &mut cur).map_err(TestCaseError::fail)?, Answer::Int(removed as i64));
                    }
                    M::Trim(a, b) => {
                        let keep = model_range(model.len(), i64::from(*a), i64::from(*b));
                        model = keep.iter().map(|&i| model[i].clone()).collect();
                        apply(&ListOp::Trim(i64::from(*a), i64::from(*b)), &mut cur).map_err(TestCaseError::fail)?;
                    }
                    M::Range(a, b) => {
                        let want = Answer::bulks(model_range(model.len(), i64::from(*a), i64::from(*b)).into_iter().map(|i| &model[i][..]).collect::<Vec<_>>());
                        prop_assert_eq!(apply(&ListOp::Range(i64::from(*a), i64::from(*b)), &mut cur).map_err(TestCaseError::fail)?, want);
                    }
                }
                let held: Vec<Vec<u8>> = cur.as_ref().map_or(vec![], |p| p.entries().unwrap().into_iter().map(<[u8]>::to_vec).collect());
                prop_assert_eq!(held, model.iter().cloned().collect::<Vec<_>>());
            }
        }
    }
}
