//! Histories: what clients invoked and what they were told, in real-time order,
//! written in the JSON Lines shape of docs/design.md ("Histories") so that an
//! external checker (Porcupine, Knossos) can audit any run, and turned into the
//! per-key operations the linearizability checker reads.

use crate::checker::{Op, OpKind, Val, ABSENT};
use crate::fxhash::FxHashMap;
use serde_json::Value as Json;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// invoke | ok | fail | info.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Type {
    Invoke,
    Ok,
    Fail,
    Info,
}

/// What an operation is (`f`): one per client-visible command family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum F {
    Read,
    Write,
    Cas,
    Delete,
    Incr,
    Append,
    GetDel,
    SetNx,
    Expire,
    Persist,
    Ttl,
    /// Listings: KEYS, a whole SCAN, DBSIZE, FLUSHALL (`key` is null).
    Keys,
    Scan,
    DbSize,
    FlushAll,
    /// A command of a data type or a bit command (typed.rs): `value` is
    /// its arguments after the key (invoke) or its reply (ok), as JSON.
    Typed(crate::typed::TypedF),
    /// A transaction on one key, MULTI GET k SET k v EXEC (with or without
    /// WATCH): invoke value `v`; ok value `[old, v]` (what its GET read, and
    /// what it wrote), or null if a WATCH made EXEC answer nil (nothing
    /// applied). A read-modify-write for the checker.
    Txn,
    /// WATCH k: reads the key's version; no value, changes nothing.
    Watch,
    /// Admin events (`key` is null): more than F replicas of every replica
    /// set lost their memory at once (a majority restart), and the
    /// operator's `declare-lost`. See [`loss_window`].
    MajorityLost,
    DeclareLost,
}

/// Every `f`, for parsing.
const FS: [F; 19] = [
    F::Read,
    F::Write,
    F::Cas,
    F::Delete,
    F::Incr,
    F::Append,
    F::GetDel,
    F::SetNx,
    F::Expire,
    F::Persist,
    F::Ttl,
    F::Keys,
    F::Scan,
    F::DbSize,
    F::FlushAll,
    F::Txn,
    F::Watch,
    F::MajorityLost,
    F::DeclareLost,
];

/// The `key` of a listing event (it names no key).
pub const NO_KEY: u32 = u32::MAX;

/// Why a `fail` still tells something (`"error"`), beyond "not applied".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// Nothing more.
    None,
    /// A cas whose comparison failed: it read a value other than expected.
    Mismatch,
    /// An incr refused: the value was present and not an integer.
    NotInteger,
    /// WRONGTYPE: the value was present and of another type.
    WrongType,
}

/// The `value` field, with values interned (see [`Values`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HVal {
    /// JSON null.
    Null,
    /// A value, or null if it is `ABSENT`.
    V(Val),
    /// `[expected, new]` of a cas.
    Pair(Val, Val),
    /// A delete's "did the key exist" as 1 / 0 (also setnx, expire, persist).
    Flag(bool),
    /// An integer: incr's delta and result, append's length, expire's ms, ttl.
    Int(i64),
    /// A listing's keys: an index into [`Values::lists`].
    Keys(u32),
    /// A typed command's arguments or reply: the interned text of its JSON.
    Json(Val),
}

/// One history line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    pub process: u64,
    pub ty: Type,
    pub f: F,
    pub key: u32,
    pub value: HVal,
    /// Virtual time in ns.
    pub time_ns: u64,
    /// What a `fail` still tells (a cas that failed its comparison, an incr
    /// of a non-integer): exported as `"error"` so that a checker reading the
    /// file alone sees what the run saw.
    pub error: Error,
}

/// Interned values: id 0 is "absent"; writes get fresh ids. Also the key
/// lists of listing events.
#[derive(Default, Clone)]
pub struct Values {
    text: Vec<Vec<u8>>,
    ids: FxHashMap<Vec<u8>, Val>,
    /// Each listing's keys, as key ids.
    pub lists: Vec<Vec<u32>>,
}

impl Values {
    /// An empty table (with "absent" as id 0).
    pub fn new() -> Values {
        Values {
            text: vec![Vec::new()],
            ids: FxHashMap::default(),
            lists: Vec::new(),
        }
    }

    /// The id of `bytes` (interning it if new).
    pub fn intern(&mut self, bytes: &[u8]) -> Val {
        if let Some(&id) = self.ids.get(bytes) {
            return id;
        }
        let id = self.text.len() as Val;
        self.text.push(bytes.to_vec());
        self.ids.insert(bytes.to_vec(), id);
        id
    }

    /// The id of an optional value (`None` is `ABSENT`).
    pub fn intern_opt(&mut self, v: &Option<Vec<u8>>) -> Val {
        match v {
            Some(b) => self.intern(b),
            None => ABSENT,
        }
    }

    /// The bytes of `id`, if it was interned here (a checker's unit test
    /// may name values it never interned).
    pub fn get(&self, id: Val) -> Option<&[u8]> {
        self.text.get(id as usize).map(Vec::as_slice)
    }

    /// The bytes of `id`.
    pub fn bytes(&self, id: Val) -> &[u8] {
        &self.text[id as usize]
    }

    /// `id` as JSON: a string, or null for absent.
    pub fn json(&self, id: Val) -> Json {
        if id as usize >= self.text.len() {
            Json::String(self.show(id))
        } else if id == ABSENT {
            Json::Null
        } else {
            Json::String(String::from_utf8_lossy(self.bytes(id)).into_owned())
        }
    }

    /// `id` for people: `"v7"` or `nil`.
    pub fn show(&self, id: Val) -> String {
        if id == ABSENT {
            "nil".into()
        } else if id as usize >= self.text.len() {
            "a value no read returned".into()
        } else {
            format!("{:?}", String::from_utf8_lossy(self.bytes(id)))
        }
    }
}

impl Type {
    fn name(self) -> &'static str {
        match self {
            Type::Invoke => "invoke",
            Type::Ok => "ok",
            Type::Fail => "fail",
            Type::Info => "info",
        }
    }
}

impl F {
    /// The name used in histories.
    pub fn name(self) -> &'static str {
        match self {
            F::Read => "read",
            F::Write => "write",
            F::Cas => "cas",
            F::Delete => "delete",
            F::Incr => "incr",
            F::Append => "append",
            F::GetDel => "getdel",
            F::SetNx => "setnx",
            F::Expire => "expire",
            F::Persist => "persist",
            F::Ttl => "ttl",
            F::Keys => "keys",
            F::Scan => "scan",
            F::DbSize => "dbsize",
            F::FlushAll => "flushall",
            F::Typed(t) => t.name(),
            F::Txn => "txn",
            F::Watch => "watch",
            F::MajorityLost => "majority-lost",
            F::DeclareLost => "declare-lost",
        }
    }

    /// True for the listings (KEYS, SCAN, DBSIZE, FLUSHALL).
    pub fn is_listing(self) -> bool {
        matches!(self, F::Keys | F::Scan | F::DbSize | F::FlushAll)
    }

    /// True for the admin events (no key, no value).
    pub fn is_admin(self) -> bool {
        matches!(self, F::MajorityLost | F::DeclareLost)
    }
}

impl Error {
    fn name(self) -> Option<&'static str> {
        match self {
            Error::None => None,
            Error::Mismatch => Some("mismatch"),
            Error::NotInteger => Some("not-integer"),
            Error::WrongType => Some("wrongtype"),
        }
    }
}

/// Renders `value` for people.
pub fn show_value(values: &Values, v: HVal) -> String {
    match v {
        HVal::Null => "nil".into(),
        HVal::V(id) => values.show(id),
        HVal::Pair(a, b) => format!("[{}, {}]", values.show(a), values.show(b)),
        HVal::Flag(b) => u8::from(b).to_string(),
        HVal::Int(n) => n.to_string(),
        HVal::Keys(i) => format!("{} keys", values.lists[i as usize].len()),
        HVal::Json(id) => String::from_utf8_lossy(values.bytes(id)).into_owned(),
    }
}

/// One event as a JSON line (without the newline), in the exact field order
/// of docs/design.md. `keys` names key ids (a listing's value is key names).
pub fn to_json_line(e: &Event, keys: &[String], values: &Values) -> String {
    let value = match e.value {
        HVal::Null => Json::Null,
        HVal::V(id) => values.json(id),
        HVal::Pair(a, b) => Json::Array(vec![values.json(a), values.json(b)]),
        HVal::Flag(b) => Json::from(u8::from(b)),
        HVal::Int(n) => Json::from(n),
        HVal::Keys(i) => Json::Array(
            values.lists[i as usize]
                .iter()
                .map(|&k| Json::String(keys[k as usize].clone()))
                .collect(),
        ),
        HVal::Json(id) => serde_json::from_slice(values.bytes(id)).unwrap_or(Json::Null),
    };
    let key = match e.key {
        NO_KEY => Json::Null,
        k => Json::String(keys[k as usize].clone()),
    };
    let mut s = String::with_capacity(96);
    let _ = write!(
        s,
        "{{\"process\":{},\"type\":\"{}\",\"f\":\"{}\",\"key\":{},\"value\":{},",
        e.process,
        e.ty.name(),
        e.f.name(),
        key,
        value,
    );
    if let Some(why) = e.error.name() {
        let _ = write!(s, "\"error\":\"{why}\",");
    }
    let _ = write!(s, "\"time\":{}}}", e.time_ns);
    s
}

/// The whole history as JSON Lines.
pub fn to_jsonl(events: &[Event], keys: &[String], values: &Values) -> String {
    let mut out = String::with_capacity(events.len() * 90);
    for e in events {
        out.push_str(&to_json_line(e, keys, values));
        out.push('\n');
    }
    out
}

/// Parses a JSON Lines history (ours, or a live test's): events, key names, values.
pub fn from_jsonl(text: &str) -> Result<(Vec<Event>, Vec<String>, Values), String> {
    let mut values = Values::new();
    let mut keys: Vec<String> = Vec::new();
    let mut key_ids: BTreeMap<String, u32> = BTreeMap::new();
    let mut events = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |why: &str| format!("line {}: {why}: {line}", i + 1);
        let j: Json = serde_json::from_str(line).map_err(|e| bad(&e.to_string()))?;
        let process = j["process"].as_u64().ok_or_else(|| bad("no process"))?;
        let ty = match j["type"].as_str() {
            Some("invoke") => Type::Invoke,
            Some("ok") => Type::Ok,
            Some("fail") => Type::Fail,
            Some("info") => Type::Info,
            _ => return Err(bad("type must be invoke, ok, fail or info")),
        };
        let every_f = FS
            .into_iter()
            .chain(crate::typed::ALL.into_iter().map(F::Typed));
        let Some(f) = every_f.clone().find(|f| j["f"].as_str() == Some(f.name())) else {
            let names: Vec<&str> = every_f.map(|f| f.name()).collect();
            return Err(bad(&format!("f must be one of {}", names.join(", "))));
        };
        let mut key_id = |name: &str| -> u32 {
            let next = keys.len() as u32;
            *key_ids.entry(name.to_string()).or_insert_with(|| {
                keys.push(name.to_string());
                next
            })
        };
        let key = if f.is_listing() || f.is_admin() {
            NO_KEY
        } else {
            key_id(j["key"].as_str().ok_or_else(|| bad("no key"))?)
        };
        let listed: Option<Vec<u32>> = match (&j["value"], f.is_listing()) {
            (Json::Array(a), true) => Some(
                a.iter()
                    .map(|k| {
                        k.as_str()
                            .map(&mut key_id)
                            .ok_or_else(|| bad("a listing's value names keys"))
                    })
                    .collect::<Result<_, _>>()?,
            ),
            _ => None,
        };
        let mut val = |v: &Json| -> Result<Val, String> {
            match v {
                Json::Null => Ok(ABSENT),
                Json::String(s) => Ok(values.intern(s.as_bytes())),
                other => Ok(values.intern(other.to_string().as_bytes())),
            }
        };
        let v = &j["value"];
        let flag = matches!(f, F::Delete | F::SetNx | F::Expire | F::Persist);
        let value = match (f, v) {
            // A typed command's arguments or reply: its JSON's text, as written.
            (F::Typed(_), v) => HVal::Json(values.intern(v.to_string().as_bytes())),
            (_, Json::Null) => HVal::Null,
            (_, Json::Array(_)) if f.is_listing() => {
                values.lists.push(listed.unwrap_or_default());
                HVal::Keys(values.lists.len() as u32 - 1)
            }
            (_, _) if f.is_listing() => return Err(bad("a listing's value is a list of keys")),
            (F::Cas | F::Txn, Json::Array(a)) if a.len() == 2 => {
                HVal::Pair(val(&a[0])?, val(&a[1])?)
            }
            (F::Cas, _) => return Err(bad("cas value must be [expected, new]")),
            (F::Txn, Json::Array(_)) => return Err(bad("txn value must be [read, written]")),
            (_, Json::Number(n)) if flag => HVal::Flag(n.as_u64() == Some(1)),
            (_, Json::Bool(b)) if flag => HVal::Flag(*b),
            (_, Json::Number(n)) => HVal::Int(n.as_i64().ok_or_else(|| bad("not an i64"))?),
            _ => HVal::V(val(v)?),
        };
        let time_ns = j["time"].as_u64().unwrap_or(0);
        // What a fail still tells: a cas read another value; an incr found a
        // value that is not an integer.
        let error = match (ty, f, j["error"].as_str()) {
            (Type::Fail, F::Cas, Some("mismatch")) => Error::Mismatch,
            (Type::Fail, F::Incr, Some("not-integer")) => Error::NotInteger,
            (Type::Fail, _, Some("wrongtype")) => Error::WrongType,
            // A transaction whose GET met another type (its SET applied).
            (Type::Ok, F::Txn, Some("wrongtype")) => Error::WrongType,
            _ => Error::None,
        };
        events.push(Event {
            process,
            ty,
            f,
            key,
            value,
            time_ns,
            error,
        });
    }
    Ok((events, keys, values))
}

/// Pairs each invoke with its completion (by process) and builds each key's
/// operations. `fail` ops are dropped (never applied) except those that
/// still observed something (`error`). Invokes without a completion are
/// `info`. A completed listing becomes one observation per key: present at
/// some point during it for each key it returned, absent at some point
/// during it for every other key of the history (FLUSHALL: absent for each
/// key it did not try to delete; its deletes are ops of their own).
/// `Op::call` and `Op::ret` are line indices: real-time order.
pub fn ops_by_key(events: &[Event], values: &Values) -> Result<BTreeMap<u32, Vec<Op>>, String> {
    let mut open: BTreeMap<u64, usize> = BTreeMap::new();
    let mut by_key: BTreeMap<u32, Vec<Op>> = BTreeMap::new();
    let mut listings: Vec<(usize, usize, &Event)> = Vec::new();
    for (i, e) in events.iter().enumerate() {
        if e.ty == Type::Invoke {
            if let Some(prev) = open.insert(e.process, i) {
                return Err(format!(
                    "line {}: process {} invokes again before line {} completed",
                    i + 1,
                    e.process,
                    prev + 1
                ));
            }
            continue;
        }
        let Some(inv_i) = open.remove(&e.process) else {
            return Err(format!(
                "line {}: process {} completes an operation it never invoked",
                i + 1,
                e.process
            ));
        };
        let inv = &events[inv_i];
        if inv.f.is_admin() {
            continue;
        }
        if inv.f.is_listing() {
            if e.ty == Type::Ok {
                listings.push((inv_i, i, e));
            }
            continue;
        }
        if let Some(op) = op_of(inv, inv_i, Some((i, e))) {
            by_key.entry(inv.key).or_default().push(op);
        }
    }
    for (_, inv_i) in open {
        let inv = &events[inv_i];
        if !inv.f.is_listing() && !inv.f.is_admin() {
            if let Some(op) = op_of(inv, inv_i, None) {
                by_key.entry(inv.key).or_default().push(op);
            }
        }
    }
    let mut keyspace: std::collections::BTreeSet<u32> = events
        .iter()
        .filter(|e| e.key != NO_KEY)
        .map(|e| e.key)
        .collect();
    for (_, _, done) in &listings {
        if let HVal::Keys(l) = done.value {
            keyspace.extend(values.lists[l as usize].iter().copied());
        }
    }
    for (inv_i, ret_i, done) in listings {
        let listed: &[u32] = match done.value {
            HVal::Keys(l) => &values.lists[l as usize],
            _ => &[],
        };
        for &k in &keyspace {
            let present = listed.contains(&k);
            if present && events[inv_i].f == F::FlushAll {
                continue;
            }
            by_key.entry(k).or_default().push(Op {
                process: events[inv_i].process,
                call: inv_i as u64,
                ret: ret_i as u64,
                kind: OpKind::Present(present),
            });
        }
    }
    for ops in by_key.values_mut() {
        ops.sort_by_key(|o| o.call);
    }
    Ok(by_key)
}

/// A majority restart in the history: the line of the first
/// `majority-lost` event and the line of the first `declare-lost` that
/// completed ok after it (`None` if none did).
pub fn loss_window(events: &[Event]) -> Option<(usize, Option<usize>)> {
    let lost = events.iter().position(|e| e.f == F::MajorityLost)?;
    let declared = events
        .iter()
        .enumerate()
        .skip(lost)
        .find(|(_, e)| e.f == F::DeclareLost && e.ty == Type::Ok)
        .map(|(i, _)| i);
    Some((lost, declared))
}

/// The first operation invoked after a majority was lost and before the
/// operator declared it lost that still completed ok: (invoke line, ok
/// line). Such keys have more than F amnesiac replicas: they must stay
/// unavailable (never wrong) until `declare-lost`.
pub fn succeeded_while_lost(events: &[Event]) -> Option<(usize, usize)> {
    let (lost, declared) = loss_window(events)?;
    let end = declared.unwrap_or(events.len());
    let mut open: BTreeMap<u64, usize> = BTreeMap::new();
    for (i, e) in events.iter().enumerate() {
        if e.f.is_admin() {
            continue;
        }
        if e.ty == Type::Invoke {
            open.insert(e.process, i);
        } else if let Some(inv) = open.remove(&e.process) {
            if e.ty == Type::Ok && inv > lost && i < end {
                return Some((inv, i));
            }
        }
    }
    None
}

/// The checker's view of one invoke and its completion (`None`: never completed).
fn op_of(inv: &Event, call: usize, done: Option<(usize, &Event)>) -> Option<Op> {
    let op = |kind, ret| {
        Some(Op {
            process: inv.process,
            call: call as u64,
            ret,
            kind,
        })
    };
    let int = |v: HVal| match v {
        HVal::Int(n) => Some(n),
        _ => None,
    };
    // What the invoke alone says the operation would do.
    let intent = match (inv.f, inv.value) {
        (F::Write, HVal::V(v)) => Some(OpKind::Write(v)),
        (F::Delete, _) => Some(OpKind::Delete(None)),
        (F::Cas, HVal::Pair(e, n)) => Some(OpKind::Cas {
            expected: e,
            new: n,
            swapped: None,
        }),
        (F::Incr, HVal::Int(delta)) => Some(OpKind::Incr {
            delta,
            result: None,
        }),
        (F::Append, HVal::V(suffix)) => Some(OpKind::Append { suffix, len: None }),
        (F::GetDel, _) => Some(OpKind::GetDel(None)),
        (F::SetNx, HVal::V(value)) => Some(OpKind::SetNx {
            value,
            applied: None,
        }),
        (F::Typed(f), HVal::Json(args)) => Some(OpKind::Typed {
            f,
            args,
            result: None,
        }),
        (F::Txn, HVal::V(write)) => Some(OpKind::Txn { read: None, write }),
        // Reads change nothing; EXPIRE and PERSIST change only the deadline,
        // which the register model leaves to the expiry events.
        _ => None,
    };
    let Some((i, d)) = done else {
        return op(intent?, u64::MAX);
    };
    let ret = i as u64;
    let kind = match (d.ty, d.error) {
        (Type::Info, _) => return op(intent?, u64::MAX),
        (Type::Fail, Error::Mismatch) => match intent? {
            OpKind::Cas { expected, new, .. } => OpKind::Cas {
                expected,
                new,
                swapped: Some(false),
            },
            _ => return None,
        },
        (Type::Fail, Error::NotInteger) => OpKind::IncrFailed,
        (Type::Fail, Error::WrongType) => OpKind::WrongType(match inv.f {
            F::Typed(f) => f.ty(),
            _ => crate::typed::Ty::Str,
        }),
        (Type::Fail, _) | (Type::Invoke, _) => return None,
        (Type::Ok, _) => match (inv.f, d.value) {
            (F::Read, HVal::V(v)) => OpKind::Read(v),
            (F::Read, _) => OpKind::Read(ABSENT),
            (F::Delete, HVal::Flag(b)) => OpKind::Delete(Some(b)),
            (F::Cas, _) => match intent? {
                OpKind::Cas { expected, new, .. } => OpKind::Cas {
                    expected,
                    new,
                    swapped: Some(true),
                },
                _ => return None,
            },
            (F::Incr, v) => OpKind::Incr {
                delta: int(inv.value)?,
                result: Some(int(v)?),
            },
            (F::Append, v) => match intent? {
                OpKind::Append { suffix, .. } => OpKind::Append {
                    suffix,
                    len: Some(int(v)? as u64),
                },
                _ => return None,
            },
            (F::GetDel, HVal::V(v)) => OpKind::GetDel(Some(v)),
            (F::GetDel, _) => OpKind::GetDel(Some(ABSENT)),
            (F::SetNx, HVal::Flag(applied)) => match intent? {
                OpKind::SetNx { value, .. } => OpKind::SetNx {
                    value,
                    applied: Some(applied),
                },
                _ => return None,
            },
            (F::Expire, HVal::Flag(existed)) => OpKind::Present(existed),
            (F::Persist, HVal::Flag(true)) => OpKind::Present(true),
            (F::Ttl, HVal::Int(t)) => OpKind::Present(t != -2),
            (F::Typed(_), HVal::Json(reply)) => match intent? {
                OpKind::Typed { f, args, .. } => OpKind::Typed {
                    f,
                    args,
                    result: Some(reply),
                },
                _ => return None,
            },
            (F::Txn, HVal::Pair(read, write)) => OpKind::Txn {
                read: Some(read),
                write,
            },
            // Its GET answered WRONGTYPE; its SET applied.
            (F::Txn, HVal::V(write)) if d.error == Error::WrongType => {
                OpKind::TxnOverType { write }
            }
            // EXEC answered nil (the watched key changed): nothing applied.
            (F::Txn, _) => return None,
            _ => intent?,
        },
    };
    op(kind, ret)
}
