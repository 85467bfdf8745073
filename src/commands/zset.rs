//! Sorted set commands (Redis's t_zset.c). Each is one change function on
//! the key's sorted set (core/types/zset.rs): one Paxos round, linearizable.

use super::spec::{spec, Family, ONE, R, W, WF};
use super::{int_arg, one, syntax_error, unknown_command, upper, Args, Combine, Planned};
use crate::core::types::zset::{AddFlags, LexBound, RangeBy, ScoreBound, ZSetOp};
use crate::core::Command;
use crate::resp::Reply;

pub(super) const FAMILY: Family = Family {
    plan,
    commands: &[
        spec("zadd", -4, WF, ONE, "sorted-set", "Adds members with scores (NX|XX, GT|LT, CH, INCR). Linearizable."),
        spec("zincrby", 4, WF, ONE, "sorted-set", "Increments a member's score. Linearizable."),
        spec("zrem", -3, &["write", "fast"], ONE, "sorted-set", "Removes members. Linearizable."),
        spec("zscore", 3, R, ONE, "sorted-set", "Returns a member's score (a double in RESP3). Linearizable."),
        spec("zmscore", -3, R, ONE, "sorted-set", "Returns several members' scores. Linearizable."),
        spec("zcard", 2, R, ONE, "sorted-set", "Returns the number of members. Linearizable."),
        spec("zcount", 4, R, ONE, "sorted-set", "Counts members with scores in a range. Linearizable."),
        spec("zrange", -4, &["readonly"], ONE, "sorted-set", "Returns members by rank, score (BYSCORE) or member (BYLEX), REV, LIMIT, WITHSCORES. Linearizable."),
        spec("zrangebyscore", -4, &["readonly"], ONE, "sorted-set", "Returns members by score. Linearizable."),
        spec("zrevrangebyscore", -4, &["readonly"], ONE, "sorted-set", "Returns members by score, highest first. Linearizable."),
        spec("zrangebylex", -4, &["readonly"], ONE, "sorted-set", "Returns members by member range. Linearizable."),
        spec("zrevrangebylex", -4, &["readonly"], ONE, "sorted-set", "Returns members by member range, highest first. Linearizable."),
        spec("zrevrange", -4, &["readonly"], ONE, "sorted-set", "Returns members by rank, highest first. Linearizable."),
        spec("zrank", 3, R, ONE, "sorted-set", "Returns a member's rank. Linearizable."),
        spec("zrevrank", 3, R, ONE, "sorted-set", "Returns a member's rank, highest first. Linearizable."),
        spec("zpopmin", -2, &["write", "fast"], ONE, "sorted-set", "Removes and returns the lowest members. Linearizable."),
        spec("zpopmax", -2, &["write", "fast"], ONE, "sorted-set", "Removes and returns the highest members. Linearizable."),
        spec("zremrangebyscore", 4, W, ONE, "sorted-set", "Removes members with scores in a range. Linearizable."),
        spec("zremrangebyrank", 4, W, ONE, "sorted-set", "Removes members by rank. Linearizable."),
        spec("zremrangebylex", 4, W, ONE, "sorted-set", "Removes members in a member range. Linearizable."),
        spec("zscan", -3, &["readonly"], ONE, "sorted-set", "Returns every member and score in one page (cursor 0). Linearizable."),
    ],
};

const ERR_NOT_FLOAT: &str = "ERR value is not a valid float";
const ERR_BOUND: &str = "ERR min or max is not a float";
const ERR_LEX: &str = "ERR min or max not valid string range item";

/// A score as Redis reads one: a number, `inf`, `+inf`, `-inf`; never NaN.
fn score(arg: &[u8]) -> Result<f64, Reply> {
    let s = std::str::from_utf8(arg).map_err(|_| Reply::error(ERR_NOT_FLOAT))?;
    let v: f64 = match s.to_ascii_lowercase().as_str() {
        "inf" | "+inf" => f64::INFINITY,
        "-inf" => f64::NEG_INFINITY,
        t if t.is_empty() || t.trim() != t || t.contains("nan") || t.contains("infinity") => {
            return Err(Reply::error(ERR_NOT_FLOAT))
        }
        t => t.parse().map_err(|_| Reply::error(ERR_NOT_FLOAT))?,
    };
    Ok(v)
}

/// `1.5`, `(1.5`, `-inf`, `+inf`.
fn score_bound(arg: &[u8]) -> Result<ScoreBound, Reply> {
    let (exclusive, rest) = match arg.strip_prefix(b"(") {
        Some(r) => (true, r),
        None => (false, arg),
    };
    let score = score(rest).map_err(|_| Reply::error(ERR_BOUND))?;
    Ok(ScoreBound { score, exclusive })
}

/// `-`, `+`, `[a`, `(a`.
fn lex_bound(arg: &[u8]) -> Result<LexBound, Reply> {
    match arg {
        b"-" => Ok(LexBound::Min),
        b"+" => Ok(LexBound::Max),
        [b'[', rest @ ..] => Ok(LexBound::Inclusive(rest.to_vec())),
        [b'(', rest @ ..] => Ok(LexBound::Exclusive(rest.to_vec())),
        _ => Err(Reply::error(ERR_LEX)),
    }
}

fn plan(c: &mut Args<'_>) -> Planned {
    let (name, a) = (c.name, &*c.a);
    let z = |op| one(&a[0], Command::ZSet(op), Combine::Nested);
    match name {
        "zadd" => plan_zadd(a),
        "zincrby" => z(ZSetOp::IncrBy(score(&a[1])?, a[2].clone())),
        "zrem" => z(ZSetOp::Rem(a[1..].to_vec())),
        "zscore" => z(ZSetOp::Score(a[1].clone())),
        "zmscore" => z(ZSetOp::MScore(a[1..].to_vec())),
        "zcard" => z(ZSetOp::Card),
        "zcount" => z(ZSetOp::Count(score_bound(&a[1])?, score_bound(&a[2])?)),
        "zrank" | "zrevrank" => {
            if a.len() != 2 {
                return Err(syntax_error());
            }
            z(ZSetOp::Rank {
                member: a[1].clone(),
                rev: name == "zrevrank",
            })
        }
        "zrange" | "zrangebyscore" | "zrevrangebyscore" | "zrangebylex" | "zrevrangebylex"
        | "zrevrange" => z(plan_range(name, a)?),
        "zpopmin" | "zpopmax" => {
            let count =
                match &a[1..] {
                    [] => None,
                    [n] => {
                        let n = int_arg(n)?;
                        Some(u64::try_from(n).map_err(|_| {
                            Reply::error("ERR value is out of range, must be positive")
                        })?)
                    }
                    _ => return Err(syntax_error()),
                };
            z(ZSetOp::Pop {
                max: name == "zpopmax",
                count,
            })
        }
        "zremrangebyscore" => z(ZSetOp::RemRange(RangeBy::Score(
            score_bound(&a[1])?,
            score_bound(&a[2])?,
        ))),
        "zremrangebyrank" => z(ZSetOp::RemRange(RangeBy::Index(
            int_arg(&a[1])?,
            int_arg(&a[2])?,
        ))),
        "zremrangebylex" => z(ZSetOp::RemRange(RangeBy::Lex(
            lex_bound(&a[1])?,
            lex_bound(&a[2])?,
        ))),
        "zscan" => {
            let scan = super::set::parse_scan(&a[1..], &[])?;
            let all = ZSetOp::Range {
                by: RangeBy::Index(0, -1),
                rev: false,
                limit: None,
                with_scores: true,
            };
            one(
                &a[0],
                Command::ZSet(all),
                Combine::Scan {
                    cursor: scan.cursor,
                    pattern: scan.pattern,
                    values: true,
                },
            )
        }
        _ => Err(unknown_command(&[name.as_bytes().to_vec()])),
    }
}

/// `ZADD key [NX|XX] [GT|LT] [CH] [INCR] score member [score member ...]`.
fn plan_zadd(a: &[Vec<u8>]) -> Planned {
    let mut flags = AddFlags::default();
    let mut i = 1;
    while i < a.len() {
        match upper(&a[i]).as_str() {
            "NX" => flags.nx = true,
            "XX" => flags.xx = true,
            "GT" => flags.gt = true,
            "LT" => flags.lt = true,
            "CH" => flags.ch = true,
            "INCR" => flags.incr = true,
            _ => break,
        }
        i += 1;
    }
    let rest = &a[i..];
    if rest.is_empty() || rest.len() % 2 != 0 {
        return Err(syntax_error());
    }
    if flags.nx && flags.xx {
        return Err(Reply::error(
            "ERR XX and NX options at the same time are not compatible",
        ));
    }
    if (flags.gt && flags.lt) || (flags.nx && (flags.gt || flags.lt)) {
        return Err(Reply::error(
            "ERR GT, LT, and/or NX options at the same time are not compatible",
        ));
    }
    if flags.incr && rest.len() > 2 {
        return Err(Reply::error(
            "ERR INCR option supports a single increment-element pair",
        ));
    }
    let pairs = rest
        .chunks(2)
        .map(|p| Ok((score(&p[0])?, p[1].clone())))
        .collect::<Result<Vec<_>, Reply>>()?;
    one(
        &a[0],
        Command::ZSet(ZSetOp::Add { pairs, flags }),
        Combine::Nested,
    )
}

/// ZRANGE and its older forms as one [`ZSetOp::Range`].
fn plan_range(name: &str, a: &[Vec<u8>]) -> Result<ZSetOp, Reply> {
    let (mut by_score, mut by_lex, mut rev) = (false, false, false);
    match name {
        "zrangebyscore" => by_score = true,
        "zrevrangebyscore" => (by_score, rev) = (true, true),
        "zrangebylex" => by_lex = true,
        "zrevrangebylex" => (by_lex, rev) = (true, true),
        "zrevrange" => rev = true,
        _ => {}
    }
    let (mut limit, mut with_scores) = (None, false);
    let mut i = 3;
    while i < a.len() {
        match upper(&a[i]).as_str() {
            "BYSCORE" if name == "zrange" => by_score = true,
            "BYLEX" if name == "zrange" => by_lex = true,
            "REV" if name == "zrange" => rev = true,
            "WITHSCORES" if !name.contains("lex") => with_scores = true,
            "LIMIT" if name != "zrevrange" && i + 2 < a.len() => {
                limit = Some((int_arg(&a[i + 1])?, int_arg(&a[i + 2])?));
                i += 2;
            }
            _ => return Err(syntax_error()),
        }
        i += 1;
    }
    if by_score && by_lex {
        return Err(syntax_error());
    }
    if limit.is_some() && !by_score && !by_lex {
        return Err(Reply::error(
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        ));
    }
    if with_scores && by_lex {
        return Err(Reply::error(
            "ERR syntax error, WITHSCORES not supported in combination with BYLEX",
        ));
    }
    // Reversed score and lex ranges name the upper bound first.
    let (lo, hi) = if rev && (by_score || by_lex) {
        (&a[2], &a[1])
    } else {
        (&a[1], &a[2])
    };
    let by = if by_score {
        RangeBy::Score(score_bound(lo)?, score_bound(hi)?)
    } else if by_lex {
        RangeBy::Lex(lex_bound(lo)?, lex_bound(hi)?)
    } else {
        RangeBy::Index(int_arg(lo)?, int_arg(hi)?)
    };
    Ok(ZSetOp::Range {
        by,
        rev,
        limit,
        with_scores,
    })
}
