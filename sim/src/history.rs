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

/// read | write | cas | delete.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum F {
    Read,
    Write,
    Cas,
    Delete,
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
    /// A delete's "did the key exist" as 1 / 0.
    Flag(bool),
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
    /// A `fail` cas whose comparison failed (it read a value ≠ expected), as
    /// opposed to one that was never applied: exported as `"error":"mismatch"`
    /// so that a checker reading the file alone sees what the run saw.
    pub compare_failed: bool,
}

/// Interned values: id 0 is "absent"; writes get fresh ids.
#[derive(Default, Clone)]
pub struct Values {
    text: Vec<Vec<u8>>,
    ids: FxHashMap<Vec<u8>, Val>,
}

impl Values {
    /// An empty table (with "absent" as id 0).
    pub fn new() -> Values {
        Values {
            text: vec![Vec::new()],
            ids: FxHashMap::default(),
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
    }
}

/// One event as a JSON line (without the newline), in the exact field order of docs/design.md.
pub fn to_json_line(e: &Event, key_name: &str, values: &Values) -> String {
    let value = match e.value {
        HVal::Null => Json::Null,
        HVal::V(id) => values.json(id),
        HVal::Pair(a, b) => Json::Array(vec![values.json(a), values.json(b)]),
        HVal::Flag(b) => Json::from(u8::from(b)),
    };
    let mut s = String::with_capacity(96);
    let _ = write!(
        s,
        "{{\"process\":{},\"type\":\"{}\",\"f\":\"{}\",\"key\":{},\"value\":{},",
        e.process,
        e.ty.name(),
        e.f.name(),
        Json::String(key_name.to_string()),
        value,
    );
    if e.compare_failed {
        s.push_str("\"error\":\"mismatch\",");
    }
    let _ = write!(s, "\"time\":{}}}", e.time_ns);
    s
}

/// The whole history as JSON Lines.
pub fn to_jsonl(events: &[Event], keys: &[String], values: &Values) -> String {
    let mut out = String::with_capacity(events.len() * 90);
    for e in events {
        out.push_str(&to_json_line(e, &keys[e.key as usize], values));
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
        let f = match j["f"].as_str() {
            Some("read") => F::Read,
            Some("write") => F::Write,
            Some("cas") => F::Cas,
            Some("delete") => F::Delete,
            _ => return Err(bad("f must be read, write, cas or delete")),
        };
        let key_name = j["key"].as_str().ok_or_else(|| bad("no key"))?.to_string();
        let next = keys.len() as u32;
        let key = *key_ids.entry(key_name.clone()).or_insert_with(|| {
            keys.push(key_name);
            next
        });
        let mut val = |v: &Json| -> Result<Val, String> {
            match v {
                Json::Null => Ok(ABSENT),
                Json::String(s) => Ok(values.intern(s.as_bytes())),
                other => Ok(values.intern(other.to_string().as_bytes())),
            }
        };
        let v = &j["value"];
        let value = match (f, v) {
            (_, Json::Null) => HVal::Null,
            (F::Cas, Json::Array(a)) if a.len() == 2 => HVal::Pair(val(&a[0])?, val(&a[1])?),
            (F::Cas, _) => return Err(bad("cas value must be [expected, new]")),
            (F::Delete, Json::Number(n)) => HVal::Flag(n.as_u64() == Some(1)),
            (F::Delete, Json::Bool(b)) => HVal::Flag(*b),
            _ => HVal::V(val(v)?),
        };
        let time_ns = j["time"].as_u64().unwrap_or(0);
        // A cas that failed its comparison read a value other than expected.
        let compare_failed = ty == Type::Fail && f == F::Cas && j["error"] == "mismatch";
        events.push(Event {
            process,
            ty,
            f,
            key,
            value,
            time_ns,
            compare_failed,
        });
    }
    Ok((events, keys, values))
}

/// Pairs each invoke with its completion (by process) and builds each key's
/// operations. `fail` ops are dropped (never applied) except a cas whose
/// comparison failed, which is a read of a value ≠ expected. Invokes without a
/// completion are `info`. `Op::call` and `Op::ret` are line indices: real-time order.
pub fn ops_by_key(events: &[Event]) -> Result<BTreeMap<u32, Vec<Op>>, String> {
    let mut open: BTreeMap<u64, usize> = BTreeMap::new();
    let mut by_key: BTreeMap<u32, Vec<Op>> = BTreeMap::new();
    let mut push = |inv: &Event, call: usize, done: Option<(usize, &Event)>| {
        if let Some(op) = op_of(inv, call, done) {
            by_key.entry(inv.key).or_default().push(op);
        }
    };
    for (i, e) in events.iter().enumerate() {
        match e.ty {
            Type::Invoke => {
                if let Some(prev) = open.insert(e.process, i) {
                    return Err(format!(
                        "line {}: process {} invokes again before line {} completed",
                        i + 1,
                        e.process,
                        prev + 1
                    ));
                }
            }
            _ => {
                let Some(inv_i) = open.remove(&e.process) else {
                    return Err(format!(
                        "line {}: process {} completes an operation it never invoked",
                        i + 1,
                        e.process
                    ));
                };
                push(&events[inv_i], inv_i, Some((i, e)));
            }
        }
    }
    for (_, inv_i) in open {
        push(&events[inv_i], inv_i, None);
    }
    for ops in by_key.values_mut() {
        ops.sort_by_key(|o| o.call);
    }
    Ok(by_key)
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
    let unknown = || match (inv.f, inv.value) {
        (F::Write, HVal::V(v)) => op(OpKind::Write(v), u64::MAX),
        (F::Delete, _) => op(OpKind::Delete(None), u64::MAX),
        (F::Cas, HVal::Pair(e, n)) => op(
            OpKind::Cas {
                expected: e,
                new: n,
                swapped: None,
            },
            u64::MAX,
        ),
        // A read with an unknown outcome changes nothing.
        _ => None,
    };
    let Some((i, d)) = done else {
        return unknown();
    };
    let ret = i as u64;
    match (d.ty, inv.f, inv.value, d.value) {
        (Type::Info, ..) => unknown(),
        (Type::Fail, F::Cas, HVal::Pair(e, n), _) if d.compare_failed => op(
            OpKind::Cas {
                expected: e,
                new: n,
                swapped: Some(false),
            },
            ret,
        ),
        (Type::Fail, ..) | (Type::Invoke, ..) => None,
        (_, F::Read, _, HVal::V(v)) => op(OpKind::Read(v), ret),
        (_, F::Read, _, _) => op(OpKind::Read(ABSENT), ret),
        (_, F::Write, HVal::V(v), _) => op(OpKind::Write(v), ret),
        (_, F::Write, ..) => None,
        (_, F::Delete, _, HVal::Flag(b)) => op(OpKind::Delete(Some(b)), ret),
        (_, F::Delete, ..) => op(OpKind::Delete(None), ret),
        (_, F::Cas, HVal::Pair(e, n), _) => op(
            OpKind::Cas {
                expected: e,
                new: n,
                swapped: Some(true),
            },
            ret,
        ),
        (_, F::Cas, ..) => None,
    }
}
