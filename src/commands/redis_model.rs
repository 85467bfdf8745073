//! A model of Redis string semantics, and a property test that the command
//! layer answers as the model does.

use super::testing::*;
use proptest::prelude::*;
use std::collections::BTreeMap;

// ---- A model of Redis string semantics ----

/// Redis, as its documentation describes it, for keys without types:
/// value and optional deadline (absolute ms); expired reads as absent.
#[derive(Default, Debug)]
struct Model(BTreeMap<Key, (Vec<u8>, Option<u64>)>);

impl Model {
    fn live(&mut self, key: &[u8], now: u64) -> Option<(Vec<u8>, Option<u64>)> {
        if self
            .0
            .get(key)
            .is_some_and(|(_, d)| d.is_some_and(|d| d <= now))
        {
            self.0.remove(key);
        }
        self.0.get(key).cloned()
    }

    fn nil_or(v: Option<Vec<u8>>) -> Reply {
        v.map_or(Reply::Nil, Reply::Bulk)
    }

    fn apply(&mut self, c: &ModelCmd, now: u64) -> Reply {
        use ModelCmd::*;
        match c {
            Set {
                key,
                v,
                ex_ms,
                keepttl,
                nx,
                xx,
                get,
            } => {
                let live = self.live(key, now);
                let applies = (!nx || live.is_none()) && (!xx || live.is_some());
                let old = live.as_ref().map(|(v, _)| v.clone());
                if applies {
                    let deadline = match (ex_ms, keepttl) {
                        (Some(ms), _) => Some(now + ms),
                        (None, true) => live.and_then(|(_, d)| d),
                        (None, false) => None,
                    };
                    self.0.insert(key.clone(), (v.clone(), deadline));
                }
                match (get, applies) {
                    (true, _) => Self::nil_or(old),
                    (false, true) => Reply::ok(),
                    (false, false) => Reply::Nil,
                }
            }
            Get(key) => Self::nil_or(self.live(key, now).map(|x| x.0)),
            Del(key) => Reply::Integer(
                self.live(key, now).is_some() as i64 + {
                    self.0.remove(key);
                    0
                },
            ),
            Exists(key) => Reply::Integer(self.live(key, now).is_some() as i64),
            IncrBy(key, n) => {
                let live = self.live(key, now);
                let cur = match &live {
                    None => 0,
                    Some((v, _)) => match parse_i64(v) {
                        Some(x) => x,
                        None => return err(ERR_NOT_INTEGER),
                    },
                };
                let Some(sum) = cur.checked_add(*n) else {
                    return err("ERR increment or decrement would overflow");
                };
                let d = live.and_then(|(_, d)| d);
                self.0
                    .insert(key.clone(), (sum.to_string().into_bytes(), d));
                Reply::Integer(sum)
            }
            Append(key, v) => {
                let (mut cur, d) = self.live(key, now).unwrap_or_default();
                cur.extend_from_slice(v);
                let len = cur.len() as i64;
                self.0.insert(key.clone(), (cur, d));
                Reply::Integer(len)
            }
            Strlen(key) => Reply::Integer(self.live(key, now).map_or(0, |x| x.0.len() as i64)),
            Ttl(key, ms) => match self.live(key, now) {
                None => Reply::Integer(-2),
                Some((_, None)) => Reply::Integer(-1),
                Some((_, Some(d))) => {
                    let left = d - now;
                    Reply::Integer(if *ms { left } else { (left + 500) / 1000 } as i64)
                }
            },
            Expire { key, secs, flag } => {
                let Some((v, cur)) = self.live(key, now) else {
                    return Reply::Integer(0);
                };
                let at = now as i64 + secs * 1000;
                let applies = match flag {
                    None => true,
                    Some("NX") => cur.is_none(),
                    Some("XX") => cur.is_some(),
                    Some("GT") => cur.is_some_and(|c| at > c as i64),
                    _ => cur.is_none_or(|c| at < c as i64),
                };
                if !applies {
                    return Reply::Integer(0);
                }
                if at <= now as i64 {
                    self.0.remove(key);
                } else {
                    self.0.insert(key.clone(), (v, Some(at as u64)));
                }
                Reply::Integer(1)
            }
            Persist(key) => match self.live(key, now) {
                Some((v, Some(_))) => {
                    self.0.insert(key.clone(), (v, None));
                    Reply::Integer(1)
                }
                _ => Reply::Integer(0),
            },
            GetDel(key) => {
                let v = self.live(key, now).map(|x| x.0);
                self.0.remove(key);
                Self::nil_or(v)
            }
            GetExPx(key, ms) => match self.live(key, now) {
                Some((v, _)) => {
                    self.0.insert(key.clone(), (v.clone(), Some(now + ms)));
                    Reply::Bulk(v)
                }
                None => Reply::Nil,
            },
            Type(key) => Reply::Simple(
                if self.live(key, now).is_some() {
                    "string"
                } else {
                    "none"
                }
                .into(),
            ),
            DbSize => {
                let keys: Vec<Key> = self.0.keys().cloned().collect();
                Reply::Integer(keys.iter().filter(|k| self.live(k, now).is_some()).count() as i64)
            }
            SetBit(key, offset, bit) => {
                let (mut cur, d) = self.live(key, now).unwrap_or_default();
                let (byte, mask) = ((offset / 8) as usize, 0x80u8 >> (offset % 8));
                if cur.len() <= byte {
                    cur.resize(byte + 1, 0);
                }
                let old = cur[byte] & mask != 0;
                if *bit {
                    cur[byte] |= mask;
                } else {
                    cur[byte] &= !mask;
                }
                self.0.insert(key.clone(), (cur, d));
                Reply::Integer(old as i64)
            }
            GetBit(key, offset) => {
                let cur = self.live(key, now).map(|x| x.0).unwrap_or_default();
                let bit = cur
                    .get((offset / 8) as usize)
                    .is_some_and(|b| b & (0x80 >> (offset % 8)) != 0);
                Reply::Integer(bit as i64)
            }
            BitCount(key, range) => {
                let cur = self.live(key, now).map(|x| x.0).unwrap_or_default();
                let bits: Vec<bool> = cur
                    .iter()
                    .flat_map(|b| (0..8).map(move |i| b & (0x80 >> i) != 0))
                    .collect();
                let Some((start, end, in_bits)) = *range else {
                    return Reply::Integer(bits.iter().filter(|b| **b).count() as i64);
                };
                // Redis's documented rule: negative indexes count from the end.
                let total = if in_bits { bits.len() } else { cur.len() } as i64;
                let fix = |i: i64| if i < 0 { (total + i).max(0) } else { i };
                let (a, b) = (fix(start), fix(end).min(total - 1));
                if (start < 0 && end < 0 && start > end) || a > b {
                    return Reply::Integer(0);
                }
                let (a, b) = if in_bits {
                    (a as usize, b as usize)
                } else {
                    (a as usize * 8, b as usize * 8 + 7)
                };
                Reply::Integer(bits[a..=b].iter().filter(|x| **x).count() as i64)
            }
            MSetNx(key, v1, v2) => match self.live(key, now) {
                Some(_) => Reply::Integer(0),
                None => {
                    self.0.insert(key.clone(), (v2.clone(), None));
                    let _ = v1;
                    Reply::Integer(1)
                }
            },
            Lcs(a, b) => {
                let a = self.live(a, now).map(|x| x.0).unwrap_or_default();
                let b = self.live(b, now).map(|x| x.0).unwrap_or_default();
                // The length by the textbook recurrence, memoized.
                let mut t = vec![vec![0i64; b.len() + 1]; a.len() + 1];
                for i in 1..=a.len() {
                    for j in 1..=b.len() {
                        t[i][j] = if a[i - 1] == b[j - 1] {
                            t[i - 1][j - 1] + 1
                        } else {
                            t[i - 1][j].max(t[i][j - 1])
                        };
                    }
                }
                Reply::Integer(t[a.len()][b.len()])
            }
            RenameSelf(key, nx) => match (self.live(key, now), nx) {
                (None, _) => err("ERR no such key"),
                (Some(_), true) => Reply::Integer(0),
                (Some(_), false) => Reply::ok(),
            },
            Touch(a, b) => Reply::Integer(
                self.live(a, now).is_some() as i64 + self.live(b, now).is_some() as i64,
            ),
            Wait(_) => Reply::ok(),
        }
    }
}

#[derive(Clone, Debug)]
enum ModelCmd {
    Set {
        key: Key,
        v: Vec<u8>,
        ex_ms: Option<u64>,
        keepttl: bool,
        nx: bool,
        xx: bool,
        get: bool,
    },
    Get(Key),
    Del(Key),
    Exists(Key),
    IncrBy(Key, i64),
    Append(Key, Vec<u8>),
    Strlen(Key),
    Ttl(Key, bool),
    Expire {
        key: Key,
        secs: i64,
        flag: Option<&'static str>,
    },
    Persist(Key),
    GetDel(Key),
    GetExPx(Key, u64),
    Type(Key),
    DbSize,
    SetBit(Key, u64, bool),
    GetBit(Key, u64),
    /// BITCOUNT key [start end [BIT]] (true: BIT, false: BYTE).
    BitCount(Key, Option<(i64, i64, bool)>),
    /// MSETNX key v1 key v2: the same key twice.
    MSetNx(Key, Vec<u8>, Vec<u8>),
    /// LCS a b LEN.
    Lcs(Key, Key),
    /// RENAME key key (true: RENAMENX).
    RenameSelf(Key, bool),
    Touch(Key, Key),
    Wait(u64),
}

impl ModelCmd {
    fn args(&self) -> Vec<Vec<u8>> {
        use ModelCmd::*;
        let s = |x: &str| x.as_bytes().to_vec();
        let n = |x: i64| x.to_string().into_bytes();
        match self {
            Set {
                key,
                v,
                ex_ms,
                keepttl,
                nx,
                xx,
                get,
            } => {
                let mut a = vec![s("SET"), key.clone(), v.clone()];
                if let Some(ms) = ex_ms {
                    a.extend([s("PX"), n(*ms as i64)]);
                }
                if *keepttl {
                    a.push(s("KEEPTTL"));
                }
                if *nx {
                    a.push(s("NX"));
                }
                if *xx {
                    a.push(s("XX"));
                }
                if *get {
                    a.push(s("GET"));
                }
                a
            }
            Get(k) => vec![s("GET"), k.clone()],
            Del(k) => vec![s("DEL"), k.clone()],
            Exists(k) => vec![s("EXISTS"), k.clone()],
            IncrBy(k, d) => vec![s("INCRBY"), k.clone(), n(*d)],
            Append(k, v) => vec![s("APPEND"), k.clone(), v.clone()],
            Strlen(k) => vec![s("STRLEN"), k.clone()],
            Ttl(k, ms) => vec![s(if *ms { "PTTL" } else { "TTL" }), k.clone()],
            Expire { key, secs, flag } => {
                let mut a = vec![s("EXPIRE"), key.clone(), n(*secs)];
                a.extend(flag.map(s));
                a
            }
            Persist(k) => vec![s("PERSIST"), k.clone()],
            GetDel(k) => vec![s("GETDEL"), k.clone()],
            GetExPx(k, ms) => vec![s("GETEX"), k.clone(), s("PX"), n(*ms as i64)],
            Type(k) => vec![s("TYPE"), k.clone()],
            DbSize => vec![s("DBSIZE")],
            SetBit(k, o, b) => vec![s("SETBIT"), k.clone(), n(*o as i64), n(*b as i64)],
            GetBit(k, o) => vec![s("GETBIT"), k.clone(), n(*o as i64)],
            BitCount(k, None) => vec![s("BITCOUNT"), k.clone()],
            BitCount(k, Some((a, b, bit))) => vec![
                s("BITCOUNT"),
                k.clone(),
                n(*a),
                n(*b),
                s(if *bit { "BIT" } else { "BYTE" }),
            ],
            MSetNx(k, v1, v2) => vec![s("MSETNX"), k.clone(), v1.clone(), k.clone(), v2.clone()],
            Lcs(a, b) => vec![s("LCS"), a.clone(), b.clone(), s("LEN")],
            RenameSelf(k, nx) => vec![
                s(if *nx { "RENAMENX" } else { "RENAME" }),
                k.clone(),
                k.clone(),
            ],
            Touch(a, b) => vec![s("TOUCH"), a.clone(), b.clone()],
            Wait(_) => vec![s("PING")],
        }
    }
}

fn model_cmd() -> impl Strategy<Value = ModelCmd> {
    use ModelCmd::*;
    let key = prop::sample::select(vec![k("a"), k("b"), k("c")]);
    let val = prop::sample::select(vec![k("1"), k("-20"), k("x"), k(""), k("99")]);
    let val2 = prop::sample::select(vec![k("abcab"), k("bca"), k("x1")]);
    prop_oneof![
        (
            key.clone(),
            val.clone(),
            prop::option::of(1u64..3_000),
            any::<bool>(),
            0u8..3,
            any::<bool>()
        )
            .prop_map(|(key, v, ex_ms, keep, cond, get)| Set {
                key,
                v,
                keepttl: keep && ex_ms.is_none(),
                ex_ms,
                nx: cond == 1,
                xx: cond == 2,
                get,
            }),
        key.clone().prop_map(Get),
        key.clone().prop_map(Del),
        key.clone().prop_map(Exists),
        (key.clone(), -5i64..5).prop_map(|(k, d)| IncrBy(k, d)),
        (key.clone(), val).prop_map(|(k, v)| Append(k, v)),
        key.clone().prop_map(Strlen),
        (key.clone(), any::<bool>()).prop_map(|(k, ms)| Ttl(k, ms)),
        (
            key.clone(),
            -1i64..4,
            prop::sample::select(vec![None, Some("NX"), Some("XX"), Some("GT"), Some("LT")])
        )
            .prop_map(|(key, secs, flag)| Expire { key, secs, flag }),
        key.clone().prop_map(Persist),
        key.clone().prop_map(GetDel),
        (key.clone(), 1u64..3_000).prop_map(|(k, ms)| GetExPx(k, ms)),
        key.clone().prop_map(Type),
        Just(DbSize),
        (key.clone(), 0u64..40, any::<bool>()).prop_map(|(k, o, b)| SetBit(k, o, b)),
        (key.clone(), 0u64..48).prop_map(|(k, o)| GetBit(k, o)),
        (
            key.clone(),
            prop::option::of((-12i64..12, -12i64..12, any::<bool>()))
        )
            .prop_map(|(k, r)| BitCount(k, r)),
        (key.clone(), val2.clone(), val2).prop_map(|(k, a, b)| MSetNx(k, a, b)),
        (key.clone(), key.clone()).prop_map(|(a, b)| Lcs(a, b)),
        (key.clone(), any::<bool>()).prop_map(|(k, nx)| RenameSelf(k, nx)),
        (key.clone(), key).prop_map(|(a, b)| Touch(a, b)),
        (0u64..2_500).prop_map(Wait),
    ]
}

proptest! {
    /// Random command sequences through `plan` and the core's change
    /// functions (one register per key, no network) answer exactly what
    /// the model of Redis answers, TTLs included, under a fake clock.
    #[test]
    fn commands_answer_as_the_redis_model(cmds in prop::collection::vec(model_cmd(), 1..60)) {
        let mut regs = Registers::default();
        let mut model = Model::default();
        let mut cursors = ScanCursors::default();
        let mut now = NOW;
        for c in &cmds {
            if let ModelCmd::Wait(ms) = c {
                now += ms;
                continue;
            }
            let p = plan(c.args(), now, &mut Session::default());
            let got = drive(p, now, &mut cursors, |op| regs.exec(op, now, 2));
            let want = model.apply(c, now);
            prop_assert_eq!(got, want, "{:?} at +{} ms", c, now - NOW);
        }
    }
}
