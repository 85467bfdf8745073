//! Hash commands (Redis's t_hash.c). Each is one change function on the
//! key's hash (core/types/hash.rs): one Paxos round, linearizable.

use super::spec::{spec, Family, ONE, R, WF};
use super::{int_arg, one, unknown_command, wrong_arity, Args, Combine, Planned};
use crate::core::command::{parse_f64, ERR_NOT_FLOAT};
use crate::core::types::hash::{HashOp, HashSetReply};
use crate::core::Command;
use crate::resp::Reply;

pub(super) const FAMILY: Family = Family {
    plan,
    commands: &[
        spec("hset", -4, WF, ONE, "hash", "Sets fields of a hash; the number of fields added. Linearizable."),
        spec("hmset", -4, WF, ONE, "hash", "Sets fields of a hash (OK). Linearizable."),
        spec("hsetnx", 4, WF, ONE, "hash", "Sets a field only if it is absent. Linearizable."),
        spec("hget", 3, R, ONE, "hash", "Returns a field's value. Linearizable."),
        spec("hmget", -3, R, ONE, "hash", "Returns several fields' values. Linearizable."),
        spec("hdel", -3, &["write", "fast"], ONE, "hash", "Deletes fields; the hash goes when its last field does. Linearizable."),
        spec("hgetall", 2, &["readonly"], ONE, "hash", "Returns every field and value (a map in RESP3). Linearizable."),
        spec("hkeys", 2, &["readonly"], ONE, "hash", "Returns every field. Linearizable."),
        spec("hvals", 2, &["readonly"], ONE, "hash", "Returns every value. Linearizable."),
        spec("hlen", 2, R, ONE, "hash", "Returns the number of fields. Linearizable."),
        spec("hexists", 3, R, ONE, "hash", "Whether a field exists. Linearizable."),
        spec("hstrlen", 3, R, ONE, "hash", "Returns the length of a field's value. Linearizable."),
        spec("hincrby", 4, WF, ONE, "hash", "Increments a field's integer value. Linearizable."),
        spec("hincrbyfloat", 4, WF, ONE, "hash", "Increments a field's number. Linearizable."),
        spec("hrandfield", -2, &["readonly"], ONE, "hash", "Returns random fields (seeded by the coordinator's clock). Linearizable."),
        spec("hscan", -3, &["readonly"], ONE, "hash", "Returns every field and value in one page (cursor 0), as Redis does for small hashes. Linearizable."),
    ],
};

fn plan(c: &mut Args<'_>) -> Planned {
    let (name, a) = (c.name, &*c.a);
    let hash = |op| one(&a[0], Command::Hash(op), Combine::Nested);
    match name {
        "hset" | "hmset" | "hsetnx" => {
            let rest = &a[1..];
            if rest.len() % 2 != 0 {
                return Err(wrong_arity(name));
            }
            let pairs = rest
                .chunks(2)
                .map(|p| (p[0].clone(), p[1].clone()))
                .collect();
            let reply = match name {
                "hset" => HashSetReply::Added,
                "hmset" => HashSetReply::Ok,
                _ => HashSetReply::IfAbsent,
            };
            hash(HashOp::Set { pairs, reply })
        }
        "hget" => hash(HashOp::Get(a[1].clone())),
        "hmget" => hash(HashOp::MGet(a[1..].to_vec())),
        "hdel" => hash(HashOp::Del(a[1..].to_vec())),
        "hgetall" => hash(HashOp::GetAll),
        "hkeys" => hash(HashOp::Keys),
        "hvals" => hash(HashOp::Vals),
        "hlen" => hash(HashOp::Len),
        "hexists" => hash(HashOp::Exists(a[1].clone())),
        "hstrlen" => hash(HashOp::StrLen(a[1].clone())),
        "hincrby" => hash(HashOp::IncrBy(a[1].clone(), int_arg(&a[2])?)),
        "hincrbyfloat" => {
            if parse_f64(&a[2]).is_none() {
                return Err(Reply::error(ERR_NOT_FLOAT));
            }
            let delta = String::from_utf8_lossy(&a[2]).into_owned();
            hash(HashOp::IncrByFloat(a[1].clone(), delta))
        }
        "hrandfield" => {
            let (count, with_values) = match &a[1..] {
                [] => (None, false),
                [n] => (Some(int_arg(n)?), false),
                [n, w] if w.eq_ignore_ascii_case(b"withvalues") => (Some(int_arg(n)?), true),
                _ => return Err(Reply::error("ERR syntax error")),
            };
            hash(HashOp::RandField { count, with_values })
        }
        "hscan" => {
            let scan = super::set::parse_scan(&a[1..], &["NOVALUES"])?;
            let values = !scan.flags.contains(&"NOVALUES");
            one(
                &a[0],
                Command::Hash(HashOp::GetAll),
                Combine::Scan {
                    cursor: scan.cursor,
                    pattern: scan.pattern,
                    values,
                },
            )
        }
        _ => Err(unknown_command(&[name.as_bytes().to_vec()])),
    }
}
