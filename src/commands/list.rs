//! List commands (Redis's t_list.c). Each is one change function on the
//! key's list (core/types/list.rs): one Paxos round, linearizable. LMOVE and
//! RPOPLPUSH work within one key (CROSSSLOT across keys); the blocking
//! commands are refused: a change function cannot wait.

use super::set::crossslot;
use super::spec::{spec, Family, ONE, R, W, WF};
use super::{int_arg, one, syntax_error, unknown_command, upper, Args, Combine, Planned};
use crate::core::types::list::ListOp;
use crate::core::Command;
use crate::resp::Reply;

pub(super) const FAMILY: Family = Family {
    plan,
    commands: &[
        spec(
            "lpush",
            -3,
            WF,
            ONE,
            "list",
            "Prepends elements; the new length. Linearizable.",
        ),
        spec(
            "rpush",
            -3,
            WF,
            ONE,
            "list",
            "Appends elements; the new length. Linearizable.",
        ),
        spec(
            "lpushx",
            -3,
            WF,
            ONE,
            "list",
            "Prepends elements only if the list exists. Linearizable.",
        ),
        spec(
            "rpushx",
            -3,
            WF,
            ONE,
            "list",
            "Appends elements only if the list exists. Linearizable.",
        ),
        spec(
            "lpop",
            -2,
            &["write", "fast"],
            ONE,
            "list",
            "Removes and returns the first elements. Linearizable.",
        ),
        spec(
            "rpop",
            -2,
            &["write", "fast"],
            ONE,
            "list",
            "Removes and returns the last elements. Linearizable.",
        ),
        spec(
            "llen",
            2,
            R,
            ONE,
            "list",
            "Returns the length. Linearizable.",
        ),
        spec(
            "lrange",
            4,
            &["readonly"],
            ONE,
            "list",
            "Returns a range of elements. Linearizable.",
        ),
        spec(
            "lindex",
            3,
            &["readonly"],
            ONE,
            "list",
            "Returns the element at an index. Linearizable.",
        ),
        spec(
            "lset",
            4,
            W,
            ONE,
            "list",
            "Sets the element at an index. Linearizable.",
        ),
        spec(
            "lrem",
            4,
            &["write"],
            ONE,
            "list",
            "Removes occurrences of an element. Linearizable.",
        ),
        spec(
            "ltrim",
            4,
            &["write"],
            ONE,
            "list",
            "Keeps only a range of elements. Linearizable.",
        ),
        spec(
            "linsert",
            5,
            W,
            ONE,
            "list",
            "Inserts an element before or after a pivot. Linearizable.",
        ),
        spec(
            "lpos",
            -3,
            &["readonly"],
            ONE,
            "list",
            "Returns the positions of an element (RANK, COUNT, MAXLEN). Linearizable.",
        ),
        spec(
            "lmove",
            5,
            W,
            (1, 2, 1),
            "list",
            "Moves an element from one end to the other: one key only (CROSSSLOT across keys).",
        ),
        spec(
            "rpoplpush",
            3,
            W,
            (1, 2, 1),
            "list",
            "Moves the last element to the front: one key only (CROSSSLOT across keys).",
        ),
        spec(
            "blpop",
            -3,
            &["write"],
            (1, -2, 1),
            "list",
            "Refused: synod does not block; poll LPOP.",
        ),
        spec(
            "brpop",
            -3,
            &["write"],
            (1, -2, 1),
            "list",
            "Refused: synod does not block; poll RPOP.",
        ),
        spec(
            "blmove",
            6,
            &["write"],
            (1, 2, 1),
            "list",
            "Refused: synod does not block; poll LMOVE.",
        ),
        spec(
            "brpoplpush",
            4,
            &["write"],
            (1, 2, 1),
            "list",
            "Refused: synod does not block; poll RPOPLPUSH.",
        ),
    ],
};

fn side(arg: &[u8]) -> Result<bool, Reply> {
    match upper(arg).as_str() {
        "LEFT" => Ok(true),
        "RIGHT" => Ok(false),
        _ => Err(syntax_error()),
    }
}

fn plan(c: &mut Args<'_>) -> Planned {
    let (name, a) = (c.name, &*c.a);
    let list = |op| one(&a[0], Command::List(op), Combine::Nested);
    match name {
        "lpush" | "rpush" | "lpushx" | "rpushx" => list(ListOp::Push {
            left: name.starts_with('l'),
            items: a[1..].to_vec(),
            if_exists: name.ends_with('x'),
        }),
        "lpop" | "rpop" => {
            let count = match &a[1..] {
                [] => None,
                [n] => Some(
                    u64::try_from(int_arg(n)?)
                        .map_err(|_| Reply::error("ERR value is out of range, must be positive"))?,
                ),
                _ => return Err(syntax_error()),
            };
            list(ListOp::Pop {
                left: name == "lpop",
                count,
            })
        }
        "llen" => list(ListOp::Len),
        "lrange" => list(ListOp::Range(int_arg(&a[1])?, int_arg(&a[2])?)),
        "lindex" => list(ListOp::Index(int_arg(&a[1])?)),
        "lset" => list(ListOp::Set(int_arg(&a[1])?, a[2].clone())),
        "lrem" => list(ListOp::Rem(int_arg(&a[1])?, a[2].clone())),
        "ltrim" => list(ListOp::Trim(int_arg(&a[1])?, int_arg(&a[2])?)),
        "linsert" => {
            let before = match upper(&a[1]).as_str() {
                "BEFORE" => true,
                "AFTER" => false,
                _ => return Err(syntax_error()),
            };
            list(ListOp::Insert {
                before,
                pivot: a[2].clone(),
                item: a[3].clone(),
            })
        }
        "lpos" => plan_lpos(a),
        "lmove" | "rpoplpush" => {
            if a[0] != a[1] {
                return Err(crossslot(name));
            }
            let (from_left, to_left) = if name == "lmove" {
                (side(&a[2])?, side(&a[3])?)
            } else {
                (false, true)
            };
            list(ListOp::Move { from_left, to_left })
        }
        "blpop" | "brpop" | "blmove" | "brpoplpush" => Err(Reply::error(format!(
            "ERR synod does not block: {} is refused; poll the non-blocking form instead",
            name.to_ascii_uppercase()
        ))),
        _ => Err(unknown_command(&[name.as_bytes().to_vec()])),
    }
}

/// `LPOS key element [RANK rank] [COUNT num] [MAXLEN len]`.
fn plan_lpos(a: &[Vec<u8>]) -> Planned {
    let (mut rank, mut count, mut maxlen) = (1, None, 0);
    let mut i = 2;
    while i < a.len() {
        let Some(v) = a.get(i + 1) else {
            return Err(syntax_error());
        };
        let n = int_arg(v)?;
        match upper(&a[i]).as_str() {
            "RANK" if n == 0 => return Err(Reply::error(
                "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list",
            )),
            "RANK" if n == i64::MIN => return Err(Reply::error("ERR value is out of range")),
            "RANK" => rank = n,
            "COUNT" if n < 0 => return Err(Reply::error("ERR COUNT can't be negative")),
            "COUNT" => count = Some(n as u64),
            "MAXLEN" if n < 0 => return Err(Reply::error("ERR MAXLEN can't be negative")),
            "MAXLEN" => maxlen = n as u64,
            _ => return Err(syntax_error()),
        }
        i += 2;
    }
    one(
        &a[0],
        Command::List(ListOp::Pos {
            item: a[1].clone(),
            rank,
            count,
            maxlen,
        }),
        Combine::Nested,
    )
}
