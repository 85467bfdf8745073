//! Redis's data types as the value of one register: a hash, a set, a sorted
//! set or a list is one value, and each command on it is one change function
//! (CASPaxos §2) over the whole value, so it is one Paxos round and
//! linearizable like any string command.
//!
//! A collection is stored packed, as Redis stores small ones (its listpack):
//! one allocation holding every entry as a LEB128 length and the bytes
//! ([`Packed`]). A hash alternates field and value, a sorted set member and
//! an 8-byte score in (score, member) order, a set and a list hold one entry
//! per element. A change decodes the entries, changes them and packs them
//! again: O(size of the value) per command, which each round pays anyway
//! (the Accept carries the whole value), so a collection is bounded by
//! `value_len_max_bytes` like a string, and large ones cost in proportion.
//!
//! Packed bytes may come from a peer: decoding checks every length and
//! answers [`ERR_CORRUPT`] instead of panicking.

pub mod bits;
pub mod hash;
pub mod list;
pub mod set;
pub mod zset;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

/// What a command on the wrong type answers, as Redis words it.
pub const ERR_WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
/// A packed value that does not decode (only a faulty peer can send one).
pub const ERR_CORRUPT: &str = "ERR corrupt value: a packed collection failed to decode";
/// A collection that would outgrow `value_len_max_bytes`.
pub const ERR_COLLECTION_TOO_BIG: &str =
    "ERR value would exceed value_len_max_bytes (a collection is one value)";

/// A value's contents: a string or a packed collection.
///
/// Every variant is a 16-byte pointer and length, so this enum is 24 bytes,
/// like the `Vec<u8>` it replaced: a record stays 32 bytes and an acceptor
/// slot 88 (`a_slot_fits_88_bytes`). A string's heap block holds two counts
/// (16 bytes) before its bytes, in place of the `Vec`'s spare capacity.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Data {
    /// A string (Redis type `string`).
    Str(Bytes),
    /// Field, value, field, value ... in insertion order (type `hash`).
    Hash(Packed),
    /// Members in insertion order (type `set`).
    Set(Packed),
    /// Member, 8-byte little-endian score, ... in (score, member) order (type `zset`).
    ZSet(Packed),
    /// Elements head first (type `list`).
    List(Packed),
}

impl Default for Data {
    fn default() -> Data {
        Data::Str(Bytes::default())
    }
}

impl Data {
    /// The bytes held (for memory accounting and size bounds).
    pub fn len(&self) -> usize {
        match self {
            Data::Str(v) => v.len(),
            Data::Hash(p) | Data::Set(p) | Data::ZSet(p) | Data::List(p) => p.0.len(),
        }
    }

    /// True if no bytes are held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The string's bytes, or None for a collection.
    pub fn as_str(&self) -> Option<&[u8]> {
        match self {
            Data::Str(v) => Some(v),
            _ => None,
        }
    }

    /// The name TYPE answers.
    pub fn type_name(&self) -> &'static str {
        match self {
            Data::Str(_) => "string",
            Data::Hash(_) => "hash",
            Data::Set(_) => "set",
            Data::ZSet(_) => "zset",
            Data::List(_) => "list",
        }
    }

    /// The name OBJECT ENCODING answers: Redis's names for a string; every
    /// collection is packed, as Redis's small ones are (`listpack`).
    pub fn encoding(&self) -> &'static str {
        match self {
            Data::Str(v) if v.len() <= 20 && super::command::parse_i64(v).is_some() => "int",
            Data::Str(v) if v.len() <= 44 => "embstr",
            Data::Str(_) => "raw",
            _ => "listpack",
        }
    }
}

/// For traces: a string quoted, a collection as its type and entries.
impl fmt::Display for Data {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Data::Str(v) => write!(f, "{:?}", String::from_utf8_lossy(v)),
            Data::Hash(p) | Data::Set(p) | Data::ZSet(p) | Data::List(p) => {
                write!(f, "{}{p:?}", self.type_name())
            }
        }
    }
}

impl From<Vec<u8>> for Data {
    fn from(v: Vec<u8>) -> Data {
        Data::Str(v.into())
    }
}

/// A string's bytes, shared by every copy: a clone is a reference count,
/// not a copy. One value goes to the store, the promise cache and every
/// replica's Accept; with a 16 MiB value each of those was a 16 MiB copy on
/// the event loop, which every other key's messages waited for (issue 14).
/// Immutable: a change builds new bytes. On the wire it is one byte string,
/// exactly as the `Vec<u8>` it replaced was (serde_bytes): the protocol is
/// unchanged.
///
/// An `Arc<Vec<u8>>`, not an `Arc<[u8]>`: a `Vec` becomes `Bytes` without a
/// copy (an `Arc<[u8]>` needs its counts before the bytes, so it copies
/// them). A client's 16 MiB SET argument and a decoded 16 MiB message
/// become a value in place; before, each conversion was a 16 MiB copy on
/// the event loop's thread (issue 14). A `Vec` with spare capacity is
/// shrunk first, so memory follows the length.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Bytes(Arc<Vec<u8>>);

impl Deref for Bytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl AsRef<[u8]> for Bytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Bytes {
    /// As a `Vec<u8>` prints (traces are compared byte for byte).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl From<Vec<u8>> for Bytes {
    /// Takes the vector's allocation: no copy (unless it has spare capacity,
    /// which is given back).
    fn from(mut v: Vec<u8>) -> Bytes {
        v.shrink_to_fit();
        Bytes(Arc::new(v))
    }
}

impl From<&[u8]> for Bytes {
    fn from(v: &[u8]) -> Bytes {
        v.to_vec().into()
    }
}

impl From<&Vec<u8>> for Bytes {
    fn from(v: &Vec<u8>) -> Bytes {
        v.as_slice().into()
    }
}

impl<const N: usize> From<&[u8; N]> for Bytes {
    fn from(v: &[u8; N]) -> Bytes {
        v.as_slice().into()
    }
}

impl From<&str> for Bytes {
    fn from(v: &str) -> Bytes {
        v.as_bytes().into()
    }
}

impl From<String> for Bytes {
    fn from(v: String) -> Bytes {
        v.into_bytes().into()
    }
}

impl PartialEq<[u8]> for Bytes {
    fn eq(&self, other: &[u8]) -> bool {
        *self.0 == *other
    }
}

impl PartialEq<Vec<u8>> for Bytes {
    fn eq(&self, other: &Vec<u8>) -> bool {
        *self.0 == **other
    }
}

impl Serialize for Bytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Bytes, D::Error> {
        d.deserialize_byte_buf(BytesVisitor)
    }
}

/// A byte string: copied once from the input into the shared allocation;
/// or, in formats without byte strings (JSON), a sequence of bytes or a string.
struct BytesVisitor;

impl<'de> serde::de::Visitor<'de> for BytesVisitor {
    type Value = Bytes;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a byte string")
    }

    fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Bytes, E> {
        Ok(v.into())
    }

    fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Bytes, E> {
        Ok(v.into())
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Bytes, E> {
        Ok(v.into())
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Bytes, A::Error> {
        // Bounded by the input: a sequence's claimed length is not trusted.
        let mut v = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(b) = seq.next_element::<u8>()? {
            v.push(b);
        }
        Ok(v.into())
    }
}

/// Entries packed in one allocation: each a LEB128 length, then its bytes.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Packed(#[serde(with = "serde_bytes")] Box<[u8]>);

impl Packed {
    /// Packs `entries` in order.
    pub fn pack<'a>(entries: impl IntoIterator<Item = &'a [u8]>) -> Packed {
        let mut out = Vec::new();
        for e in entries {
            let mut n = e.len();
            loop {
                let byte = (n & 0x7f) as u8;
                n >>= 7;
                if n == 0 {
                    out.push(byte);
                    break;
                }
                out.push(byte | 0x80);
            }
            out.extend_from_slice(e);
        }
        Packed(out.into_boxed_slice())
    }

    /// The entries, or [`ERR_CORRUPT`] if a length runs past the end.
    pub fn entries(&self) -> Result<Vec<&[u8]>, String> {
        let bytes = &self.0[..];
        let mut out = Vec::new();
        let mut at = 0;
        while at < bytes.len() {
            let mut len: usize = 0;
            let mut shift = 0;
            loop {
                let Some(&b) = bytes.get(at) else {
                    return Err(ERR_CORRUPT.into());
                };
                at += 1;
                if shift > 56 {
                    return Err(ERR_CORRUPT.into());
                }
                len |= usize::from(b & 0x7f) << shift;
                shift += 7;
                if b & 0x80 == 0 {
                    break;
                }
            }
            let end = at.checked_add(len).filter(|&e| e <= bytes.len());
            let Some(end) = end else {
                return Err(ERR_CORRUPT.into());
            };
            out.push(&bytes[at..end]);
            at = end;
        }
        Ok(out)
    }

    /// The packed size in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True if there are no entries.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Packed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.entries() {
            Ok(entries) => f
                .debug_list()
                .entries(entries.iter().map(|e| String::from_utf8_lossy(e)))
                .finish(),
            Err(_) => write!(f, "<corrupt {} bytes>", self.0.len()),
        }
    }
}

/// A typed command's reply, in the shapes Redis replies with; the command
/// layer turns it into RESP2 or RESP3 one to one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Answer {
    /// A null bulk string (a missing field).
    Nil,
    /// A null array (LPOP with a count on a missing key).
    NilArray,
    /// `+OK` and other status lines.
    Status(String),
    /// An integer.
    Int(i64),
    /// A string.
    Bulk(Vec<u8>),
    /// A double as Redis prints it (see [`format_double`]).
    Double(String),
    /// An array.
    Array(Vec<Answer>),
    /// A map (RESP2: a flat array).
    Map(Vec<(Answer, Answer)>),
    /// A set (RESP2: an array).
    Set(Vec<Answer>),
    /// Pairs RESP3 nests and RESP2 flattens (WITHSCORES, WITHVALUES).
    Pairs(Vec<(Answer, Answer)>),
}

impl Answer {
    /// A bulk string of `bytes`.
    pub fn bulk(bytes: &[u8]) -> Answer {
        Answer::Bulk(bytes.to_vec())
    }

    /// An array of bulk strings.
    pub fn bulks<'a>(items: impl IntoIterator<Item = &'a [u8]>) -> Answer {
        Answer::Array(items.into_iter().map(Answer::bulk).collect())
    }

    /// A double.
    pub fn double(v: f64) -> Answer {
        Answer::Double(format_double(v))
    }
}

/// Formats a double the way Redis 7.2+ replies with one (ZSCORE, ZINCRBY):
/// the shortest text that reads back the same number, exponents as `%.17g`
/// writes them, `inf` and `-inf`.
pub fn format_double(v: f64) -> String {
    if v.is_infinite() {
        return if v > 0.0 { "inf" } else { "-inf" }.to_owned();
    }
    if v.is_nan() {
        return "nan".to_owned();
    }
    let abs = v.abs();
    if abs != 0.0 && !(1e-4..1e17).contains(&abs) {
        let s = format!("{v:e}");
        // Rust writes "1e20" and "1.5e-7"; Redis writes "1e+20" and "1.5e-07".
        if let Some((m, e)) = s.split_once('e') {
            let (sign, digits) = match e.strip_prefix('-') {
                Some(d) => ('-', d),
                None => ('+', e),
            };
            return format!("{m}e{sign}{digits:0>2}");
        }
        return s;
    }
    format!("{v}")
}

/// What a typed change does to the value.
#[derive(Debug, PartialEq)]
pub enum Change {
    /// Nothing: a read, or a write that changed nothing.
    Keep,
    /// Replace the collection (an empty one deletes the key, as in Redis).
    Write(Packed),
}

/// A typed command's result: the change and the reply, or an error reply
/// (nothing changes).
pub type Applied = Result<(Change, Answer), String>;

/// A deterministic pseudo-random sequence for SPOP, SRANDMEMBER and
/// HRANDFIELD: seeded by the coordinator's clock and the value, so the
/// change function stays pure (the core takes no global randomness) and a
/// replay of the same history picks the same members.
pub struct Picker(u64);

impl Picker {
    /// A sequence seeded from `now_ms` and the packed value.
    pub fn new(now_ms: u64, value: Option<&Packed>) -> Picker {
        let mut h = 0xcbf2_9ce4_8422_2325u64 ^ now_ms;
        for &b in value.map_or(&[][..], |p| &p.0[..]) {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        Picker(h)
    }

    /// A number in `0..n` (n > 0), splitmix64.
    pub fn below(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z % n.max(1) as u64) as usize
    }

    /// `count` distinct indices of `0..n` (all of them if count >= n), in a random order.
    pub fn distinct(&mut self, n: usize, count: usize) -> Vec<usize> {
        let mut idx: Vec<usize> = (0..n).collect();
        let take = count.min(n);
        for i in 0..take {
            let j = i + self.below(n - i);
            idx.swap(i, j);
        }
        idx.truncate(take);
        idx
    }
}

/// Redis's index rules (LRANGE, ZRANGE, LTRIM): negative counts from the end;
/// the inclusive range clamped to `0..len`, or None if empty.
pub fn clamp_range(start: i64, stop: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let start = if start < 0 {
        (len + start).max(0)
    } else {
        start
    };
    let stop = if stop < 0 {
        len + stop
    } else {
        stop.min(len - 1)
    };
    (start <= stop && start < len && stop >= 0).then_some((start as usize, stop as usize))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn data_is_as_small_as_the_vec_it_replaced() {
        assert_eq!(std::mem::size_of::<Data>(), 24);
    }

    #[test]
    fn a_copy_of_a_string_value_shares_its_bytes() {
        // One 16 MiB value goes to the store, the promise cache and every
        // replica's Accept: each is a reference, not a copy (issue 14).
        let a = Data::from(vec![7u8; 1 << 20]);
        let b = a.clone();
        let (Some(x), Some(y)) = (a.as_str(), b.as_str()) else {
            panic!("strings");
        };
        assert_eq!(x.as_ptr(), y.as_ptr());
        assert_eq!(x, y);
    }

    #[test]
    fn corrupt_packings_are_refused_not_panicked_on() {
        for bad in [&[0x05u8, b'a'][..], &[0x80], &[0xff; 12]] {
            let p = Packed(bad.to_vec().into_boxed_slice());
            assert_eq!(p.entries(), Err(ERR_CORRUPT.to_owned()));
        }
    }

    #[test]
    fn ranges_follow_redis_index_rules() {
        assert_eq!(clamp_range(0, -1, 3), Some((0, 2)));
        assert_eq!(clamp_range(-2, 10, 3), Some((1, 2)));
        assert_eq!(clamp_range(2, 1, 3), None);
        assert_eq!(clamp_range(5, 9, 3), None);
        assert_eq!(clamp_range(-9, -4, 3), None);
        assert_eq!(clamp_range(0, 0, 0), None);
    }

    proptest! {
        #[test]
        fn packing_round_trips(entries in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 0..20)) {
            let p = Packed::pack(entries.iter().map(Vec::as_slice));
            let back: Vec<Vec<u8>> = p.entries().unwrap().into_iter().map(<[u8]>::to_vec).collect();
            prop_assert_eq!(back, entries);
        }

        #[test]
        fn any_bytes_decode_or_refuse(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
            let _ = Packed(bytes.into_boxed_slice()).entries();
        }
    }
}
