//! Bit commands (Redis's bitops.c): SETBIT, GETBIT, BITCOUNT, BITPOS. A
//! bitmap is a string; each command is one change function on it
//! (core/types/bits.rs), so one Paxos round, linearizable.

use super::spec::{spec, Family, ONE, R, WF};
use super::{int_arg, one, syntax_error, unknown_command, upper, Args, Combine, Planned};
use crate::core::types::bits::{parse_offset, BitOp, Unit, ERR_BITPOS_BIT, ERR_BIT_VALUE};
use crate::core::Command;
use crate::resp::Reply;

pub(super) const FAMILY: Family = Family {
    plan,
    commands: &[
        spec(
            "setbit",
            4,
            WF,
            ONE,
            "bitmap",
            "Sets or clears the bit at an offset of a string; the old bit. Linearizable.",
        ),
        spec(
            "getbit",
            3,
            R,
            ONE,
            "bitmap",
            "Returns the bit at an offset of a string. Linearizable.",
        ),
        spec(
            "bitcount",
            -2,
            &["readonly"],
            ONE,
            "bitmap",
            "Counts the set bits of a string, in a BYTE or BIT range. Linearizable.",
        ),
        spec(
            "bitpos",
            -3,
            &["readonly"],
            ONE,
            "bitmap",
            "Finds the first set or clear bit of a string, in a BYTE or BIT range. Linearizable.",
        ),
    ],
};

fn plan(c: &mut Args<'_>) -> Planned {
    let (name, a) = (c.name, &*c.a);
    let bits = |op| one(&a[0], Command::Bits(op), Combine::Nested);
    match name {
        "setbit" => {
            let offset = parse_offset(&a[1]).map_err(Reply::error)?;
            let bit = match a[2].as_slice() {
                b"0" => false,
                b"1" => true,
                _ => return Err(Reply::error(ERR_BIT_VALUE)),
            };
            bits(BitOp::SetBit { offset, bit })
        }
        "getbit" => bits(BitOp::GetBit(parse_offset(&a[1]).map_err(Reply::error)?)),
        "bitcount" => {
            let range = match &a[1..] {
                [] => None,
                [start, end] => Some((int_arg(start)?, int_arg(end)?, Unit::Byte)),
                [start, end, unit] => {
                    let (start, end) = (int_arg(start)?, int_arg(end)?);
                    let unit = match upper(unit).as_str() {
                        "BYTE" => Unit::Byte,
                        "BIT" => Unit::Bit,
                        _ => return Err(syntax_error()),
                    };
                    Some((start, end, unit))
                }
                _ => return Err(syntax_error()),
            };
            bits(BitOp::Count(range))
        }
        "bitpos" => {
            let bit = match int_arg(&a[1])? {
                0 => false,
                1 => true,
                _ => return Err(Reply::error(ERR_BITPOS_BIT)),
            };
            // The range is parsed by the change function, after the key is
            // found (Redis answers a missing key before it reads the range).
            bits(BitOp::Pos {
                bit,
                range: a[2..].to_vec(),
            })
        }
        _ => Err(unknown_command(&[name.as_bytes().to_vec()])),
    }
}

#[cfg(test)]
mod tests {
    use crate::commands::testing::*;
    use crate::core::types::bits::BitOp;

    /// Each checked against redis-server 7.0 (scripts/redis-compare.sh).
    #[test]
    fn argument_errors_match_redis() {
        let offset = "ERR bit offset is not an integer or out of range";
        for (a, e) in [
            (&["setbit", "k", "-1", "1"][..], offset),
            (&["setbit", "k", "4294967296", "1"], offset),
            (&["setbit", "k", "x", "1"], offset),
            (
                &["setbit", "k", "1", "2"],
                "ERR bit is not an integer or out of range",
            ),
            (&["getbit", "k", "-1"], offset),
            (&["bitcount", "k", "1"], "ERR syntax error"),
            (&["bitcount", "k", "0", "1", "bytes"], "ERR syntax error"),
            (
                &["bitcount", "k", "a", "1"],
                "ERR value is not an integer or out of range",
            ),
            (
                &["bitpos", "k", "2"],
                "ERR The bit argument must be 1 or 0.",
            ),
            (
                &["bitpos", "k", "x"],
                "ERR value is not an integer or out of range",
            ),
        ] {
            assert_eq!(reply(a), err(e), "{a:?}");
        }
    }

    #[test]
    fn each_command_is_one_change_on_its_key() {
        assert_eq!(
            requests(&["setbit", "k", "7", "1"]),
            vec![(
                k("k"),
                Command::Bits(BitOp::SetBit {
                    offset: 7,
                    bit: true
                })
            )]
        );
        assert_eq!(
            requests(&["bitpos", "k", "1", "2", "-1", "bit"]),
            vec![(
                k("k"),
                Command::Bits(BitOp::Pos {
                    bit: true,
                    range: vec![k("2"), k("-1"), k("bit")]
                })
            )]
        );
    }
}
