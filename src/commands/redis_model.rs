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
            Wait(_) => vec![s("PING")],
        }
    }
}

fn model_cmd() -> impl Strategy<Value = ModelCmd> {
    use ModelCmd::*;
    let key = prop::sample::select(vec![k("a"), k("b"), k("c")]);
    let val = prop::sample::select(vec![k("1"), k("-20"), k("x"), k(""), k("99")]);
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
        key.prop_map(Type),
        Just(DbSize),
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
