//! Bit operations on a string value (Redis's bitops.c): SETBIT, GETBIT,
//! BITCOUNT, BITPOS. A bitmap is a string, as in Redis: bit 0 is the most
//! significant bit of byte 0, and the string is zero-padded to the right
//! when a SETBIT reaches past its end. Each command is one change function
//! on the key's string, so one Paxos round.

use super::Answer;
use crate::core::command::{parse_i64, ERR_NOT_INTEGER, ERR_TOO_BIG};
use serde::{Deserialize, Serialize};

/// Redis's text for a bad bit offset (not an integer, negative, or past 2^32 - 1).
pub const ERR_BIT_OFFSET: &str = "ERR bit offset is not an integer or out of range";
/// Redis's text for a SETBIT value other than 0 or 1.
pub const ERR_BIT_VALUE: &str = "ERR bit is not an integer or out of range";
/// Redis's text for a BITPOS bit other than 0 or 1.
pub const ERR_BITPOS_BIT: &str = "ERR The bit argument must be 1 or 0.";

/// The largest bit offset Redis accepts: 512 MiB of string (`proto-max-bulk-len`).
pub const BIT_OFFSET_MAX: u64 = (512 << 20) * 8 - 1;

/// Parses a bit offset as Redis does (0 ..= 2^32 - 1).
pub fn parse_offset(arg: &[u8]) -> Result<u64, String> {
    parse_i64(arg)
        .and_then(|n| u64::try_from(n).ok())
        .filter(|&n| n <= BIT_OFFSET_MAX)
        .ok_or_else(|| ERR_BIT_OFFSET.to_owned())
}

/// BITCOUNT's and BITPOS's range unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Unit {
    Byte,
    Bit,
}

/// A bit command on one key's string.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BitOp {
    /// SETBIT: set the bit at `offset` to `bit`; answers the old bit.
    SetBit { offset: u64, bit: bool },
    /// GETBIT: the bit at `offset` (0 past the end).
    GetBit(u64),
    /// BITCOUNT [start end [BYTE|BIT]]: the set bits in the range.
    Count(Option<(i64, i64, Unit)>),
    /// BITPOS bit [start [end [BYTE|BIT]]]: the first `bit` in the range.
    /// The range stays unparsed text: Redis answers a missing key (and a
    /// wrong type) before it parses the range.
    Pos { bit: bool, range: Vec<Vec<u8>> },
}

/// A bit command's result: the new string if it changed, and the reply.
pub type BitsApplied = Result<(Option<Vec<u8>>, Answer), String>;

impl BitOp {
    /// True if the command never changes the value.
    pub fn is_read_only(&self) -> bool {
        !matches!(self, BitOp::SetBit { .. })
    }

    /// Applies the command to the key's string (`None`: absent).
    pub fn apply(&self, cur: Option<&[u8]>, value_len_max: usize) -> BitsApplied {
        let s = cur.unwrap_or_default();
        match self {
            BitOp::SetBit { offset, bit } => {
                let byte = usize::try_from(offset / 8)
                    .ok()
                    .filter(|&b| b < value_len_max);
                let Some(byte) = byte else {
                    return Err(ERR_TOO_BIG.into());
                };
                let old = bit_at(s, *offset);
                let mut new = s.to_vec();
                if new.len() <= byte {
                    new.resize(byte + 1, 0);
                }
                let mask = 0x80u8 >> (offset % 8);
                if *bit {
                    new[byte] |= mask;
                } else {
                    new[byte] &= !mask;
                }
                // Redis writes even an unchanged bit (the key is touched); so do we.
                Ok((Some(new), Answer::Int(i64::from(old))))
            }
            BitOp::GetBit(offset) => Ok((None, Answer::Int(i64::from(bit_at(s, *offset))))),
            BitOp::Count(range) => {
                let n = match range {
                    None => s.iter().map(|b| b.count_ones() as i64).sum(),
                    Some((start, end, unit)) => {
                        if *start < 0 && *end < 0 && start > end {
                            0
                        } else {
                            match bit_range(s.len(), *start, *end, *unit) {
                                None => 0,
                                Some((from, to)) => {
                                    (from..=to).filter(|&i| bit_at(s, i)).count() as i64
                                }
                            }
                        }
                    }
                };
                Ok((None, Answer::Int(n)))
            }
            BitOp::Pos { bit, range } => {
                if cur.is_none() {
                    return Ok((None, Answer::Int(if *bit { -1 } else { 0 })));
                }
                let (start, end, unit) = match &range[..] {
                    [] => (0, -1, Unit::Byte),
                    [start] => (int(start)?, -1, Unit::Byte),
                    [start, end] => (int(start)?, int(end)?, Unit::Byte),
                    [start, end, unit] => {
                        let start = int(start)?;
                        let unit = match unit.to_ascii_uppercase().as_slice() {
                            b"BYTE" => Unit::Byte,
                            b"BIT" => Unit::Bit,
                            _ => return Err("ERR syntax error".into()),
                        };
                        (start, int(end)?, unit)
                    }
                    _ => return Err("ERR syntax error".into()),
                };
                let end_given = range.len() >= 2;
                let Some((from, to)) = bit_range(s.len(), start, end, unit) else {
                    return Ok((None, Answer::Int(-1)));
                };
                let pos = match (from..=to).find(|&i| bit_at(s, i) == *bit) {
                    Some(i) => i as i64,
                    // Looking for a 0 without an end: the string reads as
                    // zero-padded, so the first bit after it.
                    None if !*bit && !end_given => (to / 8 + 1) as i64 * 8,
                    None => -1,
                };
                Ok((None, Answer::Int(pos)))
            }
        }
    }
}

fn int(arg: &[u8]) -> Result<i64, String> {
    parse_i64(arg).ok_or_else(|| ERR_NOT_INTEGER.to_owned())
}

/// The bit at `offset` (0 past the end).
fn bit_at(s: &[u8], offset: u64) -> bool {
    usize::try_from(offset / 8)
        .ok()
        .and_then(|i| s.get(i))
        .is_some_and(|b| b & (0x80 >> (offset % 8)) != 0)
}

/// Redis's range rules for BITCOUNT and BITPOS (negative counts from the
/// end, clamped to the string): the inclusive range in bits, or None if empty.
fn bit_range(len: usize, start: i64, end: i64, unit: Unit) -> Option<(u64, u64)> {
    let total = match unit {
        Unit::Byte => len as i64,
        Unit::Bit => len as i64 * 8,
    };
    let fix = |i: i64| if i < 0 { (total + i).max(0) } else { i };
    let (start, end) = (fix(start), fix(end).min(total - 1));
    if start > end {
        return None;
    }
    match unit {
        Unit::Byte => Some((start as u64 * 8, end as u64 * 8 + 7)),
        Unit::Bit => Some((start as u64, end as u64)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn run(op: BitOp, cur: Option<&[u8]>) -> BitsApplied {
        op.apply(cur, 1 << 20)
    }
    fn int_of(r: BitsApplied) -> i64 {
        match r {
            Ok((_, Answer::Int(n))) => n,
            other => panic!("{other:?}"),
        }
    }
    fn pos(bit: bool, range: &[&str], cur: &[u8]) -> i64 {
        let range = range.iter().map(|a| a.as_bytes().to_vec()).collect();
        int_of(run(BitOp::Pos { bit, range }, Some(cur)))
    }

    /// The examples of Redis's documentation (redis.io/commands/...).
    #[test]
    fn redis_documentation_examples() {
        let (new, a) = run(
            BitOp::SetBit {
                offset: 7,
                bit: true,
            },
            None,
        )
        .unwrap();
        assert_eq!((new.clone(), a), (Some(vec![1]), Answer::Int(0)));
        let s = new.unwrap();
        assert_eq!(int_of(run(BitOp::GetBit(7), Some(&s))), 1);
        assert_eq!(int_of(run(BitOp::GetBit(100), Some(&s))), 0);
        let foobar = b"foobar";
        assert_eq!(int_of(run(BitOp::Count(None), Some(foobar))), 26);
        let count = |a, b, u| int_of(run(BitOp::Count(Some((a, b, u))), Some(foobar)));
        assert_eq!(count(0, 0, Unit::Byte), 4);
        assert_eq!(count(1, 1, Unit::Byte), 6);
        assert_eq!(count(1, 1, Unit::Bit), 1);
        assert_eq!(count(5, 30, Unit::Bit), 17);
        assert_eq!(count(-2, -1, Unit::Byte), 7);
        assert_eq!(count(-1, -2, Unit::Byte), 0);
        let s = [0xff, 0xf0, 0x00];
        assert_eq!(pos(false, &[], &s), 12);
        let s = [0x00, 0xff, 0xf0];
        assert_eq!(pos(true, &["0"], &s), 8);
        assert_eq!(pos(true, &["2"], &s), 16);
        assert_eq!(pos(true, &["2", "-1", "BYTE"], &s), 16);
        assert_eq!(pos(true, &["7", "15", "BIT"], &s), 8);
        assert_eq!(pos(true, &["7", "-3", "BIT"], &s), 8);
        let zeros = [0u8; 3];
        assert_eq!(pos(true, &[], &zeros), -1);
        // A 0 searched without an end: the first bit after the string.
        assert_eq!(pos(false, &[], &[0xff, 0xff]), 16);
        assert_eq!(pos(false, &["0", "-1"], &[0xff, 0xff]), -1);
        assert_eq!(
            int_of(run(
                BitOp::Pos {
                    bit: false,
                    range: vec![]
                },
                None
            )),
            0
        );
        assert_eq!(
            int_of(run(
                BitOp::Pos {
                    bit: true,
                    range: vec![]
                },
                None
            )),
            -1
        );
    }

    #[test]
    fn errors_and_bounds() {
        assert_eq!(parse_offset(b"-1"), Err(ERR_BIT_OFFSET.into()));
        assert_eq!(parse_offset(b"4294967296"), Err(ERR_BIT_OFFSET.into()));
        assert_eq!(parse_offset(b"4294967295"), Ok(4294967295));
        let big = BitOp::SetBit {
            offset: 8 << 20,
            bit: true,
        };
        assert_eq!(big.apply(None, 1 << 20), Err(ERR_TOO_BIG.into()));
        let bad = BitOp::Pos {
            bit: true,
            range: vec![b"x".to_vec()],
        };
        assert_eq!(run(bad.clone(), Some(b"a")), Err(ERR_NOT_INTEGER.into()));
        assert_eq!(int_of(run(bad, None)), -1, "a missing key answers first");
    }

    /// A model: the string as a vector of bits, zero-padded.
    fn model_bits(s: &[u8]) -> Vec<bool> {
        s.iter()
            .flat_map(|b| (0..8).map(move |i| b & (0x80 >> i) != 0))
            .collect()
    }

    proptest! {
        #[test]
        fn setbit_getbit_and_bitcount_follow_a_bit_vector(
            ops in prop::collection::vec((0u64..64, any::<bool>()), 0..40),
            start in -70i64..70, end in -70i64..70,
        ) {
            let mut s: Option<Vec<u8>> = None;
            let mut model: Vec<bool> = Vec::new();
            for (offset, bit) in ops {
                let (new, a) = run(BitOp::SetBit { offset, bit }, s.as_deref()).unwrap();
                let o = offset as usize;
                if model.len() <= o { model.resize((o / 8 + 1) * 8, false); }
                prop_assert_eq!(a, Answer::Int(i64::from(model[o])));
                model[o] = bit;
                s = new;
                prop_assert_eq!(model_bits(s.as_deref().unwrap()), model.clone());
            }
            let bits = model_bits(s.as_deref().unwrap_or_default());
            for (i, b) in bits.iter().enumerate() {
                prop_assert_eq!(int_of(run(BitOp::GetBit(i as u64), s.as_deref())), i64::from(*b));
            }
            let total = bits.len() as i64;
            let fix = |i: i64| if i < 0 { (total + i).max(0) } else { i };
            let (a, b) = (fix(start), fix(end).min(total - 1));
            let want = if start < 0 && end < 0 && start > end || a > b { 0 } else {
                bits[a as usize..=b as usize].iter().filter(|x| **x).count() as i64
            };
            prop_assert_eq!(int_of(run(BitOp::Count(Some((start, end, Unit::Bit))), s.as_deref())), want);
        }
    }
}
