//! Operations as change functions (CASPaxos §2): each round reads the register's
//! latest value and writes `change(value)`. A read is the identity change.
//!
//! Expiry lives inside the change functions: a record whose deadline has
//! passed (by the coordinator's wall clock, `now_ms`) is treated as absent,
//! and the change writes the tombstone. So a coordinator never answers
//! "absent because expired" before that tombstone is chosen (!): clock skew
//! moves *when* a key expires, never whether histories are linearizable.

use super::types::bits::BitOp;
use super::types::hash::HashOp;
use super::types::list::ListOp;
use super::types::set::SetOp;
use super::types::zset::ZSetOp;
use super::types::{Answer, Bytes, Change, Data, Packed, ERR_COLLECTION_TOO_BIG, ERR_WRONGTYPE};
use serde::{Deserialize, Serialize};
use std::num::NonZeroU64;

/// A key: any bytes.
pub type Key = Vec<u8>;

/// A stored value: a string or a collection, and an optional absolute deadline.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// The value's contents.
    pub data: Data,
    /// Wall-clock deadline in ms since the Unix epoch (None: never expires).
    /// `NonZeroU64`, not `u64`: the option then costs no tag, so a record is
    /// 32 bytes instead of 40, and every acceptor slot 8 bytes less (the
    /// B-tree leaves of a million keys fit a smaller allocation). Read and
    /// build it through [`Record::deadline`] and [`deadline_at`].
    pub expires_at_ms: Option<NonZeroU64>,
}

/// A deadline at `ms` (ms since the Unix epoch). 0 becomes 1: both are long
/// past, so the record is expired either way.
pub fn deadline_at(ms: u64) -> NonZeroU64 {
    NonZeroU64::new(ms.max(1)).unwrap_or(NonZeroU64::MIN)
}

impl Record {
    /// A string record without a deadline.
    pub fn new(data: impl Into<Bytes>) -> Record {
        Record {
            data: Data::Str(data.into()),
            expires_at_ms: None,
        }
    }

    /// A string record with the deadline `at_ms`, if any.
    pub fn with_deadline(data: impl Into<Bytes>, at_ms: Option<u64>) -> Record {
        Record {
            data: Data::Str(data.into()),
            expires_at_ms: at_ms.map(deadline_at),
        }
    }

    /// The deadline in ms since the Unix epoch, if any.
    pub fn deadline(&self) -> Option<u64> {
        self.expires_at_ms.map(NonZeroU64::get)
    }

    /// True if the deadline has passed at `now_ms`.
    pub fn is_expired(&self, now_ms: u64) -> bool {
        self.deadline().is_some_and(|at| at <= now_ms)
    }
}

/// The register's contents: `None` is absent (never written, or a tombstone).
pub type Value = Option<Record>;

/// What SET does to the deadline.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Expiry {
    /// No deadline (a plain SET clears any earlier one).
    #[default]
    Clear,
    /// Keep the current deadline (KEEPTTL).
    Keep,
    /// Expire at this wall-clock ms (EX/PX/EXAT/PXAT, made absolute by the coordinator).
    At(u64),
}

/// When SET applies.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum SetCond {
    /// Always.
    #[default]
    Always,
    /// Only if the key is absent (NX).
    IfAbsent,
    /// Only if the key exists (XX).
    IfPresent,
}

/// When EXPIRE applies (Redis 7 flags).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExpireCond {
    /// Always.
    #[default]
    Always,
    /// Only if the key has no deadline (NX).
    IfNone,
    /// Only if the key has a deadline (XX).
    IfSome,
    /// Only if the new deadline is later (GT; no deadline counts as infinite).
    IfLater,
    /// Only if the new deadline is earlier (LT; no deadline counts as infinite).
    IfEarlier,
    /// Only if the key has a deadline and the new one is earlier (XX LT).
    IfSomeEarlier,
}

/// A client operation on one key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// Read the value (the identity change, unless it finds the value expired).
    Get,
    /// Overwrite the value, clearing any deadline. The bytes are shared
    /// ([`Bytes`]): the command, its retries and the record it writes hold
    /// one copy of a 16 MiB value, not one each (issue 14).
    Set(Bytes),
    /// SET with options: deadline, condition, and whether to return the old value.
    SetWith {
        data: Bytes,
        expiry: Expiry,
        cond: SetCond,
        get: bool,
    },
    /// Delete: write a tombstone.
    Del,
    /// Delete and return the old value (GETDEL).
    GetDel,
    /// Compare-and-swap: write `new` only if the value equals `expected`
    /// (`None` = the key is absent). The new value has no deadline.
    Cas {
        /// What the value must be for the swap to happen.
        expected: Option<Vec<u8>>,
        /// The value to write.
        new: Vec<u8>,
    },
    /// Add to the integer stored as decimal text (INCR, DECR, INCRBY, DECRBY).
    IncrBy(i64),
    /// Add to the number stored as decimal text (INCRBYFLOAT); the delta as text.
    IncrByFloat(String),
    /// Append bytes (APPEND).
    Append(Vec<u8>),
    /// Overwrite bytes from `offset`, zero-padding (SETRANGE).
    SetRange { offset: u64, data: Vec<u8> },
    /// Read the value and change its deadline (GETEX): None = leave it, Some(None) = PERSIST.
    GetEx(Option<Option<u64>>),
    /// Set the deadline (EXPIRE family, made absolute by the coordinator).
    Expire { at_ms: u64, cond: ExpireCond },
    /// Remove the deadline (PERSIST).
    Persist,
    /// The sweeper's delete: only if the value is still expired.
    DeleteIfExpired,
    /// Eviction's delete: only if the accepted ballot is still `seen`. The
    /// proposer checks the ballot (the change function sees only values) and
    /// turns a mismatch into `Deleted(false)` without a change.
    Evict { seen: super::ballot::Ballot },
    /// Read the deadline (TTL, PTTL, EXPIRETIME, PEXPIRETIME): `Reply::Deadline`.
    Ttl,
    /// WATCH: the key's version, the ballot of the last change that built
    /// its value (lineage.rs): `Reply::Version`. The proposer answers it
    /// (the change function sees only values).
    Watch,
    /// A one-key transaction (MULTI ... EXEC): `commands` applied in order as
    /// one change, each with its own reply: `Reply::Multi(Some(..))`. With
    /// `watch`, it runs only if the key's version is still that ballot, else
    /// nothing changes and the reply is `Reply::Multi(None)` (the proposer
    /// checks the version).
    Multi {
        commands: Vec<Command>,
        watch: Option<super::ballot::Ballot>,
    },
    /// Read the type's name, "none" if absent (TYPE, EXISTS, the key
    /// listings): `Reply::Text`.
    Type,
    /// Read the encoding's name (OBJECT ENCODING): `Reply::Text`, or
    /// `Reply::Value(None)` if absent.
    Encoding,
    /// A hash command.
    Hash(HashOp),
    /// A set command (`Command::Set` is the string SET).
    Members(SetOp),
    /// A sorted set command.
    ZSet(ZSetOp),
    /// A list command.
    List(ListOp),
    /// A Lua script on this key (EVAL, EVALSHA), run as one change function.
    Eval(Script),
    /// A bit command on a string (SETBIT, GETBIT, BITCOUNT, BITPOS).
    Bits(BitOp),
    /// A change of the membership register (membership.rs); only the node
    /// itself sends it, on `MEMBERSHIP_KEY`.
    Membership(super::membership::MembershipOp),
}

/// A script and its arguments, for the key `key` (KEYS[1]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Script {
    /// The Lua source.
    pub source: String,
    /// KEYS[1].
    pub key: Key,
    /// ARGV.
    pub args: Vec<Vec<u8>>,
    /// What runs it (the interpreter lives outside the core); not on the wire.
    #[serde(skip)]
    pub runner: Runner,
}

/// Runs a script deterministically on a value: the new value and the reply.
pub type RunScript = fn(&Script, &Value, u64, usize) -> (Value, Reply);

/// The script interpreter a command carries (None: refused). All runners
/// compare equal: a command's identity is its script and arguments.
#[derive(Clone, Copy, Default)]
pub struct Runner(pub Option<RunScript>);

impl PartialEq for Runner {
    fn eq(&self, _: &Runner) -> bool {
        true
    }
}

impl Eq for Runner {}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Runner")
    }
}

/// What a command returns when its round succeeds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reply {
    /// The value read (`None`: absent).
    Value(Option<Vec<u8>>),
    /// A write took effect.
    Done,
    /// A delete ran; `true` if the key existed.
    Deleted(bool),
    /// A compare-and-swap ran; `true` if it swapped.
    Swapped(bool),
    /// A SET with options: whether it applied, and the old value (for GET).
    SetResult { applied: bool, old: Option<Vec<u8>> },
    /// An integer result (INCR's new value, APPEND's new length, EXPIRE's 1/0).
    Integer(i64),
    /// A number as text (INCRBYFLOAT).
    Text(String),
    /// The key's deadline: None if absent; Some(None) if it has no deadline.
    Deadline(Option<Option<u64>>),
    /// The command cannot apply to the value (e.g. INCR of "abc"); nothing changed.
    Error(String),
    /// A page of a cluster listing (`Input::ListKeys`): candidate keys in key
    /// order, and where the next page starts (None: the listing is complete).
    Keys { keys: Vec<Key>, next: Option<Key> },
    /// WATCH: the key's version.
    Version(super::ballot::Ballot),
    /// A transaction's replies, one per command (None: a watched key changed,
    /// nothing was applied).
    Multi(Option<Vec<Reply>>),
    /// A typed command's reply, in Redis's shape.
    Nested(Answer),
}

/// The error texts Redis uses, so clients that match on them keep working.
pub const ERR_NOT_INTEGER: &str = "ERR value is not an integer or out of range";
/// See [`ERR_NOT_INTEGER`].
pub const ERR_NOT_FLOAT: &str = "ERR value is not a valid float";
/// See [`ERR_NOT_INTEGER`].
pub const ERR_OVERFLOW: &str = "ERR increment or decrement would overflow";
/// See [`ERR_NOT_INTEGER`].
pub const ERR_NAN: &str = "ERR increment would produce NaN or Infinity";
/// See [`ERR_NOT_INTEGER`].
pub const ERR_TOO_BIG: &str = "ERR string exceeds maximum allowed size (proto-max-bulk-len)";

impl Command {
    /// Applies the change to `current` at wall-clock `now_ms`: the new value
    /// and this command's reply. An expired record reads as absent, and the
    /// new value is then at most a tombstone, whatever the command. A new
    /// value may carry a deadline already past (`SET .. PXAT <past>`): it is
    /// expired from the start, and the proposer writes its tombstone instead.
    pub fn apply(&self, current: &Value, now_ms: u64, value_len_max: usize) -> (Value, Reply) {
        let live: Option<&Record> = current.as_ref().filter(|r| !r.is_expired(now_ms));
        // `same` keeps the stored state, except that an expired record becomes a tombstone.
        let same = || live.cloned();
        if self.needs_string() && live.is_some_and(|r| r.data.as_str().is_none()) {
            return (same(), Reply::Error(ERR_WRONGTYPE.into()));
        }
        // From here on a live record of a string command is a string.
        let text = |r: &Record| r.data.as_str().unwrap_or_default().to_vec();
        let data = |r: Option<&Record>| r.map(text);
        let deadline = live.and_then(|r| r.expires_at_ms);
        match self {
            Command::Membership(op) => super::membership::Membership::apply(op, current),
            Command::Type => (
                same(),
                Reply::Text(live.map_or("none", |r| r.data.type_name()).into()),
            ),
            Command::Encoding => match live {
                Some(r) => (same(), Reply::Text(r.data.encoding().into())),
                None => (same(), Reply::Value(None)),
            },
            Command::Hash(op) => typed(
                live,
                value_len_max,
                Data::Hash,
                |d| match d {
                    Data::Hash(p) => Some(p),
                    _ => None,
                },
                |p| op.apply(p, now_ms),
            ),
            Command::Members(op) => typed(
                live,
                value_len_max,
                Data::Set,
                |d| match d {
                    Data::Set(p) => Some(p),
                    _ => None,
                },
                |p| op.apply(p, now_ms),
            ),
            Command::ZSet(op) => typed(
                live,
                value_len_max,
                Data::ZSet,
                |d| match d {
                    Data::ZSet(p) => Some(p),
                    _ => None,
                },
                |p| op.apply(p),
            ),
            Command::Eval(s) => match s.runner.0 {
                Some(run) => run(s, current, now_ms, value_len_max),
                None => (
                    same(),
                    Reply::Error("ERR no script interpreter here".into()),
                ),
            },
            Command::List(op) => typed(
                live,
                value_len_max,
                Data::List,
                |d| match d {
                    Data::List(p) => Some(p),
                    _ => None,
                },
                |p| op.apply(p),
            ),
            Command::Bits(op) => match op.apply(data(live).as_deref(), value_len_max) {
                Err(e) => (same(), Reply::Error(e)),
                Ok((None, a)) => (same(), Reply::Nested(a)),
                Ok((Some(new), a)) => {
                    let new = Record {
                        data: Data::Str(new.into()),
                        expires_at_ms: deadline,
                    };
                    (Some(new), Reply::Nested(a))
                }
            },
            Command::Get => (same(), Reply::Value(data(live))),
            Command::Ttl => (same(), Reply::Deadline(live.map(Record::deadline))),
            Command::Set(v) => (Some(Record::new(v.clone())), Reply::Done),
            Command::SetWith {
                data: v,
                expiry,
                cond,
                get,
            } => {
                let applies = match cond {
                    SetCond::Always => true,
                    SetCond::IfAbsent => live.is_none(),
                    SetCond::IfPresent => live.is_some(),
                };
                let old = if *get { data(live) } else { None };
                if !applies {
                    return (
                        same(),
                        Reply::SetResult {
                            applied: false,
                            old,
                        },
                    );
                }
                let expires_at_ms = match expiry {
                    Expiry::Clear => None,
                    Expiry::Keep => live.and_then(|r| r.expires_at_ms),
                    Expiry::At(at) => Some(deadline_at(*at)),
                };
                let new = Record {
                    data: Data::Str(v.clone()),
                    expires_at_ms,
                };
                // A deadline already past: the SET happens, and the value is
                // expired at once (the proposer turns it into the tombstone).
                (Some(new), Reply::SetResult { applied: true, old })
            }
            Command::Del => (None, Reply::Deleted(live.is_some())),
            Command::GetDel => (None, Reply::Value(data(live))),
            Command::Cas { expected, new } => {
                if data(live).as_ref() == expected.as_ref() {
                    (Some(Record::new(new.as_slice())), Reply::Swapped(true))
                } else {
                    (same(), Reply::Swapped(false))
                }
            }
            Command::IncrBy(delta) => {
                let n = match live.map(|r| parse_i64(&text(r))) {
                    None => 0,
                    Some(Some(n)) => n,
                    Some(None) => return (same(), Reply::Error(ERR_NOT_INTEGER.into())),
                };
                let Some(sum) = n.checked_add(*delta) else {
                    return (same(), Reply::Error(ERR_OVERFLOW.into()));
                };
                let new = Record {
                    data: Data::Str(sum.to_string().into()),
                    expires_at_ms: deadline,
                };
                (Some(new), Reply::Integer(sum))
            }
            Command::IncrByFloat(delta) => {
                let Some(d) = parse_f64(delta.as_bytes()) else {
                    return (same(), Reply::Error(ERR_NOT_FLOAT.into()));
                };
                let n = match live.map(|r| parse_f64(&text(r))) {
                    None => 0.0,
                    Some(Some(n)) => n,
                    Some(None) => return (same(), Reply::Error(ERR_NOT_FLOAT.into())),
                };
                let sum = n + d;
                if !sum.is_finite() {
                    return (same(), Reply::Error(ERR_NAN.into()));
                }
                let sum_text = format_float(sum);
                let new = Record {
                    data: Data::Str(sum_text.as_str().into()),
                    expires_at_ms: deadline,
                };
                (Some(new), Reply::Text(sum_text))
            }
            Command::Append(v) => {
                let mut new = data(live).unwrap_or_default();
                if new.len() + v.len() > value_len_max {
                    return (same(), Reply::Error(ERR_TOO_BIG.into()));
                }
                new.extend_from_slice(v);
                let len = new.len() as i64;
                let new = Record {
                    data: Data::Str(new.into()),
                    expires_at_ms: deadline,
                };
                (Some(new), Reply::Integer(len))
            }
            Command::SetRange { offset, data: v } => {
                let current_len = live.map_or(0, |r| r.data.len());
                if v.is_empty() {
                    return (same(), Reply::Integer(current_len as i64));
                }
                let end = usize::try_from(*offset)
                    .ok()
                    .and_then(|o| o.checked_add(v.len()))
                    .filter(|&e| e <= value_len_max);
                let Some(end) = end else {
                    return (same(), Reply::Error(ERR_TOO_BIG.into()));
                };
                let mut new = data(live).unwrap_or_default();
                if new.len() < end {
                    new.resize(end, 0);
                }
                new[end - v.len()..end].copy_from_slice(v);
                let len = new.len() as i64;
                let new = Record {
                    data: Data::Str(new.into()),
                    expires_at_ms: deadline,
                };
                (Some(new), Reply::Integer(len))
            }
            Command::GetEx(change) => {
                let Some(r) = live else {
                    return (None, Reply::Value(None));
                };
                let mut new = r.clone();
                if let Some(at) = change {
                    new.expires_at_ms = at.map(deadline_at);
                }
                let reply = Reply::Value(Some(text(r)));
                (Some(new), reply)
            }
            Command::Expire { at_ms, cond } => {
                let Some(r) = live else {
                    return (None, Reply::Integer(0));
                };
                let applies = match (cond, r.deadline()) {
                    (ExpireCond::Always, _) => true,
                    (ExpireCond::IfNone, current) => current.is_none(),
                    (ExpireCond::IfSome, current) => current.is_some(),
                    (ExpireCond::IfLater, current) => current.is_some_and(|c| *at_ms > c),
                    (ExpireCond::IfEarlier, current) => current.is_none_or(|c| *at_ms < c),
                    (ExpireCond::IfSomeEarlier, current) => current.is_some_and(|c| *at_ms < c),
                };
                if !applies {
                    return (same(), Reply::Integer(0));
                }
                let new = Record {
                    data: r.data.clone(),
                    expires_at_ms: Some(deadline_at(*at_ms)),
                };
                (Some(new), Reply::Integer(1))
            }
            Command::Persist => match live {
                Some(r) if r.expires_at_ms.is_some() => {
                    let new = Record {
                        data: r.data.clone(),
                        expires_at_ms: None,
                    };
                    (Some(new), Reply::Integer(1))
                }
                _ => (same(), Reply::Integer(0)),
            },
            Command::DeleteIfExpired => {
                let expired = current.as_ref().is_some_and(|r| r.is_expired(now_ms));
                (same(), Reply::Deleted(expired))
            }
            // The ballot condition was checked by the proposer: delete.
            Command::Evict { .. } => (None, Reply::Deleted(live.is_some())),
            // The proposer puts the version in.
            Command::Watch => (same(), Reply::Version(super::ballot::Ballot::ZERO)),
            // The version condition was checked by the proposer: run.
            Command::Multi { commands, .. } => {
                let mut value = current.clone();
                let mut replies = Vec::with_capacity(commands.len());
                for c in commands {
                    let (next, reply) = c.apply(&value, now_ms, value_len_max);
                    value = next;
                    replies.push(reply);
                }
                (value, Reply::Multi(Some(replies)))
            }
        }
    }

    /// True if the command can add bytes (refused at the memory cap, as
    /// Redis's `denyoom` commands).
    pub fn may_grow(&self) -> bool {
        if let Command::Multi { commands, .. } = self {
            return commands.iter().any(Command::may_grow);
        }
        match self {
            Command::Set(_)
            | Command::SetWith { .. }
            | Command::Cas { .. }
            | Command::IncrBy(_)
            | Command::IncrByFloat(_)
            | Command::Append(_)
            | Command::SetRange { .. } => true,
            Command::Hash(_) | Command::Members(_) | Command::ZSet(_) | Command::List(_) => {
                self.payload_len() > 0
            }
            Command::Eval(_) => true,
            Command::Bits(op) => !op.is_read_only(),
            _ => false,
        }
    }

    /// True if the command never changes a live value (so retrying it is
    /// always safe: at most it writes the tombstone of an expired one).
    pub fn is_read_only(&self) -> bool {
        match self {
            Command::Multi { commands, .. } => commands.iter().all(Command::is_read_only),
            Command::Get
            | Command::Ttl
            | Command::DeleteIfExpired
            | Command::Watch
            | Command::Type
            | Command::Encoding => true,
            Command::Hash(op) => op.is_read_only(),
            Command::Members(op) => op.is_read_only(),
            Command::ZSet(op) => op.is_read_only(),
            Command::List(op) => op.is_read_only(),
            Command::Bits(op) => op.is_read_only(),
            _ => false,
        }
    }

    /// True if the command reads or changes a string, so a collection
    /// answers WRONGTYPE (SET without GET, DEL and the TTL commands take any type).
    fn needs_string(&self) -> bool {
        matches!(
            self,
            Command::Get
                | Command::GetDel
                | Command::SetWith { get: true, .. }
                | Command::Cas { .. }
                | Command::IncrBy(_)
                | Command::IncrByFloat(_)
                | Command::Append(_)
                | Command::SetRange { .. }
                | Command::GetEx(_)
                | Command::Bits(_)
        )
    }

    /// The bytes of value this command adds at most (for size bounds).
    pub fn payload_len(&self) -> usize {
        match self {
            Command::Set(v) | Command::SetWith { data: v, .. } => v.len(),
            Command::Cas { new: v, .. }
            | Command::Append(v)
            | Command::SetRange { data: v, .. } => v.len(),
            Command::Multi { commands, .. } => commands.iter().map(Command::payload_len).sum(),
            Command::Hash(op) => op.payload_len(),
            Command::Members(op) => op.payload_len(),
            Command::ZSet(op) => op.payload_len(),
            Command::List(op) => op.payload_len(),
            Command::Eval(s) => s.args.iter().map(Vec::len).sum(),
            _ => 0,
        }
    }

    /// A short name for logs and traces.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Get => "get",
            Command::Ttl => "ttl",
            Command::Set(_) | Command::SetWith { .. } => "set",
            Command::Del => "del",
            Command::GetDel => "getdel",
            Command::Cas { .. } => "cas",
            Command::IncrBy(_) => "incrby",
            Command::IncrByFloat(_) => "incrbyfloat",
            Command::Append(_) => "append",
            Command::SetRange { .. } => "setrange",
            Command::GetEx(_) => "getex",
            Command::Expire { .. } => "expire",
            Command::Persist => "persist",
            Command::DeleteIfExpired => "expire-sweep",
            Command::Evict { .. } => "evict",
            Command::Watch => "watch",
            Command::Multi { .. } => "multi",
            Command::Type => "type",
            Command::Encoding => "object-encoding",
            Command::Hash(_) => "hash",
            Command::Members(_) => "set-members",
            Command::ZSet(_) => "zset",
            Command::List(_) => "list",
            Command::Eval(_) => "eval",
            Command::Bits(_) => "bits",
            Command::Membership(_) => "membership",
        }
    }
}

/// Runs a typed change on a live record: WRONGTYPE if it holds another type;
/// the deadline kept; an emptied collection deleted; a collection over
/// `value_len_max` refused.
fn typed(
    live: Option<&Record>,
    value_len_max: usize,
    wrap: fn(Packed) -> Data,
    unwrap: fn(&Data) -> Option<&Packed>,
    change: impl FnOnce(Option<&Packed>) -> super::types::Applied,
) -> (Value, Reply) {
    let same = || live.cloned();
    let cur = match live {
        None => None,
        Some(r) => match unwrap(&r.data) {
            Some(p) => Some(p),
            None => return (same(), Reply::Error(ERR_WRONGTYPE.into())),
        },
    };
    match change(cur) {
        Err(e) => (same(), Reply::Error(e)),
        Ok((Change::Keep, node)) => (same(), Reply::Nested(node)),
        Ok((Change::Write(p), node)) => {
            if p.is_empty() {
                return (None, Reply::Nested(node));
            }
            if p.len() > value_len_max {
                return (same(), Reply::Error(ERR_COLLECTION_TOO_BIG.into()));
            }
            let new = Record {
                data: wrap(p),
                expires_at_ms: live.and_then(|r| r.expires_at_ms),
            };
            (Some(new), Reply::Nested(node))
        }
    }
}

/// Parses a decimal integer the way Redis does (no spaces, no '+', no leading zeros).
pub fn parse_i64(bytes: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(bytes).ok()?;
    if s.is_empty() || s.len() > 20 || s.starts_with('+') {
        return None;
    }
    let digits = s.strip_prefix('-').unwrap_or(s);
    if digits.is_empty()
        || (digits.len() > 1 && digits.starts_with('0'))
        || digits == "0" && s.starts_with('-')
    {
        return None;
    }
    s.parse().ok()
}

/// Parses a number the way INCRBYFLOAT accepts it (no spaces, finite).
pub fn parse_f64(bytes: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(bytes).ok()?;
    if s.is_empty() || s.trim() != s {
        return None;
    }
    let v: f64 = s.parse().ok()?;
    v.is_finite().then_some(v)
}

/// Formats like Redis's INCRBYFLOAT: up to 17 significant digits, no exponent,
/// no trailing zeros.
pub fn format_float(v: f64) -> String {
    let mut s = format!("{v:.17}");
    if s.contains('.') {
        while s.ends_with('0') {
            s.pop();
        }
        if s.ends_with('.') {
            s.pop();
        }
    }
    // Trim representation noise beyond 17 significant digits.
    let shortest = format!("{v}");
    if !shortest.contains('e') && shortest.len() <= s.len() {
        return shortest;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: usize = 1 << 20;

    fn v(s: &str) -> Value {
        Some(Record::new(s.as_bytes()))
    }
    fn ttl(s: &str, at: u64) -> Value {
        Some(Record::with_deadline(s.as_bytes(), Some(at)))
    }
    fn bytes(s: &str) -> Option<Vec<u8>> {
        Some(s.as_bytes().to_vec())
    }
    fn apply(c: Command, cur: Value) -> (Value, Reply) {
        c.apply(&cur, 1_000, MAX)
    }

    #[test]
    fn get_is_the_identity() {
        assert_eq!(
            apply(Command::Get, v("a")),
            (v("a"), Reply::Value(bytes("a")))
        );
        assert_eq!(apply(Command::Get, None), (None, Reply::Value(None)));
        assert_eq!(
            apply(Command::Get, ttl("a", 2_000)),
            (ttl("a", 2_000), Reply::Value(bytes("a")))
        );
    }

    #[test]
    fn ttl_reads_the_deadline_and_treats_expired_as_absent() {
        assert_eq!(
            apply(Command::Ttl, ttl("a", 2_000)),
            (ttl("a", 2_000), Reply::Deadline(Some(Some(2_000))))
        );
        assert_eq!(
            apply(Command::Ttl, v("a")),
            (v("a"), Reply::Deadline(Some(None)))
        );
        assert_eq!(apply(Command::Ttl, None), (None, Reply::Deadline(None)));
        assert_eq!(
            apply(Command::Ttl, ttl("a", 1_000)),
            (None, Reply::Deadline(None))
        );
    }

    #[test]
    fn an_expired_value_reads_as_absent_and_the_read_writes_its_tombstone() {
        assert_eq!(
            apply(Command::Get, ttl("a", 1_000)),
            (None, Reply::Value(None))
        );
        assert_eq!(
            apply(Command::Del, ttl("a", 999)),
            (None, Reply::Deleted(false))
        );
        assert_eq!(
            apply(Command::IncrBy(1), ttl("41", 5)),
            (v("1"), Reply::Integer(1))
        );
    }

    #[test]
    fn set_and_del() {
        assert_eq!(
            apply(Command::Set(b"b".into()), ttl("a", 9_000)),
            (v("b"), Reply::Done)
        );
        assert_eq!(apply(Command::Del, v("a")), (None, Reply::Deleted(true)));
        assert_eq!(apply(Command::Del, None), (None, Reply::Deleted(false)));
        assert_eq!(
            apply(Command::GetDel, v("a")),
            (None, Reply::Value(bytes("a")))
        );
    }

    #[test]
    fn set_with_conditions_deadlines_and_get() {
        let set = |cond, expiry, get| Command::SetWith {
            data: b"n".into(),
            expiry,
            cond,
            get,
        };
        let r = |applied, old: Option<Vec<u8>>| Reply::SetResult { applied, old };
        assert_eq!(
            apply(set(SetCond::IfAbsent, Expiry::Clear, false), v("o")),
            (v("o"), r(false, None))
        );
        assert_eq!(
            apply(set(SetCond::IfAbsent, Expiry::Clear, false), None),
            (v("n"), r(true, None))
        );
        assert_eq!(
            apply(set(SetCond::IfPresent, Expiry::Clear, true), None),
            (None, r(false, None))
        );
        assert_eq!(
            apply(set(SetCond::IfPresent, Expiry::At(5_000), true), v("o")),
            (ttl("n", 5_000), r(true, bytes("o")))
        );
        assert_eq!(
            apply(set(SetCond::Always, Expiry::Keep, false), ttl("o", 7_000)),
            (ttl("n", 7_000), r(true, None))
        );
        // A deadline already past: applied, and expired at once.
        assert_eq!(
            apply(set(SetCond::Always, Expiry::At(10), false), v("o")),
            (ttl("n", 10), r(true, None))
        );
    }

    #[test]
    fn cas_swaps_only_on_match_and_clears_the_deadline() {
        let cas = |e: Option<Vec<u8>>, n: &str| Command::Cas {
            expected: e,
            new: n.as_bytes().to_vec(),
        };
        assert_eq!(
            apply(cas(bytes("a"), "b"), ttl("a", 9_000)),
            (v("b"), Reply::Swapped(true))
        );
        assert_eq!(
            apply(cas(bytes("x"), "b"), v("a")),
            (v("a"), Reply::Swapped(false))
        );
        assert_eq!(apply(cas(None, "b"), None), (v("b"), Reply::Swapped(true)));
        assert_eq!(
            apply(cas(None, "b"), ttl("a", 10)),
            (v("b"), Reply::Swapped(true)),
            "expired is absent"
        );
    }

    #[test]
    fn incr_counts_in_decimal_text_and_refuses_what_is_not_an_integer() {
        assert_eq!(apply(Command::IncrBy(5), None), (v("5"), Reply::Integer(5)));
        assert_eq!(
            apply(Command::IncrBy(-7), ttl("5", 9_000)),
            (ttl("-2", 9_000), Reply::Integer(-2))
        );
        assert_eq!(
            apply(Command::IncrBy(1), v("abc")),
            (v("abc"), Reply::Error(ERR_NOT_INTEGER.into()))
        );
        assert_eq!(
            apply(Command::IncrBy(1), v(" 1")),
            (v(" 1"), Reply::Error(ERR_NOT_INTEGER.into()))
        );
        assert_eq!(
            apply(Command::IncrBy(1), v("01")),
            (v("01"), Reply::Error(ERR_NOT_INTEGER.into()))
        );
        let max = i64::MAX.to_string();
        assert_eq!(
            apply(Command::IncrBy(1), v(&max)),
            (v(&max), Reply::Error(ERR_OVERFLOW.into()))
        );
    }

    #[test]
    fn incrbyfloat_formats_like_redis() {
        assert_eq!(
            apply(Command::IncrByFloat("0.1".into()), v("10.50")),
            (v("10.6"), Reply::Text("10.6".into()))
        );
        assert_eq!(
            apply(Command::IncrByFloat("5.0e3".into()), v("3.0e3")),
            (v("8000"), Reply::Text("8000".into()))
        );
        assert_eq!(
            apply(Command::IncrByFloat("x".into()), v("1")),
            (v("1"), Reply::Error(ERR_NOT_FLOAT.into()))
        );
    }

    #[test]
    fn append_and_setrange() {
        assert_eq!(
            apply(Command::Append(b"lo".to_vec()), v("hel")),
            (v("hello"), Reply::Integer(5))
        );
        assert_eq!(
            apply(Command::Append(b"x".to_vec()), None),
            (v("x"), Reply::Integer(1))
        );
        assert_eq!(
            apply(
                Command::SetRange {
                    offset: 6,
                    data: b"Redis".to_vec()
                },
                v("Hello World")
            ),
            (v("Hello Redis"), Reply::Integer(11))
        );
        assert_eq!(
            apply(
                Command::SetRange {
                    offset: 2,
                    data: b"ab".to_vec()
                },
                None
            ),
            (Some(Record::new(b"\0\0ab".to_vec())), Reply::Integer(4))
        );
        assert_eq!(
            apply(
                Command::SetRange {
                    offset: 9,
                    data: vec![]
                },
                v("abc")
            ),
            (v("abc"), Reply::Integer(3))
        );
        let big = Command::SetRange {
            offset: MAX as u64,
            data: b"x".to_vec(),
        };
        assert_eq!(apply(big, None), (None, Reply::Error(ERR_TOO_BIG.into())));
    }

    #[test]
    fn expire_with_flags_and_persist() {
        let exp = |at_ms, cond| Command::Expire { at_ms, cond };
        assert_eq!(
            apply(exp(5_000, ExpireCond::Always), v("a")),
            (ttl("a", 5_000), Reply::Integer(1))
        );
        assert_eq!(
            apply(exp(5_000, ExpireCond::Always), None),
            (None, Reply::Integer(0))
        );
        assert_eq!(
            apply(exp(5_000, ExpireCond::IfNone), ttl("a", 3_000)),
            (ttl("a", 3_000), Reply::Integer(0))
        );
        assert_eq!(
            apply(exp(5_000, ExpireCond::IfSome), v("a")),
            (v("a"), Reply::Integer(0))
        );
        assert_eq!(
            apply(exp(5_000, ExpireCond::IfLater), ttl("a", 3_000)),
            (ttl("a", 5_000), Reply::Integer(1))
        );
        assert_eq!(
            apply(exp(5_000, ExpireCond::IfLater), v("a")),
            (v("a"), Reply::Integer(0)),
            "no TTL is infinite"
        );
        assert_eq!(
            apply(exp(5_000, ExpireCond::IfEarlier), v("a")),
            (ttl("a", 5_000), Reply::Integer(1))
        );
        assert_eq!(
            apply(exp(5_000, ExpireCond::IfSomeEarlier), v("a")),
            (v("a"), Reply::Integer(0)),
            "XX LT needs a deadline"
        );
        assert_eq!(
            apply(exp(2_000, ExpireCond::IfSomeEarlier), ttl("a", 3_000)),
            (ttl("a", 2_000), Reply::Integer(1))
        );
        assert_eq!(
            apply(exp(900, ExpireCond::Always), v("a")),
            (ttl("a", 900), Reply::Integer(1)),
            "a past deadline expires the value at once"
        );
        assert_eq!(
            apply(Command::Persist, ttl("a", 5_000)),
            (v("a"), Reply::Integer(1))
        );
        assert_eq!(apply(Command::Persist, v("a")), (v("a"), Reply::Integer(0)));
        assert_eq!(
            apply(Command::GetEx(Some(Some(7_000))), v("a")),
            (ttl("a", 7_000), Reply::Value(bytes("a")))
        );
        assert_eq!(
            apply(Command::GetEx(Some(None)), ttl("a", 7_000)),
            (v("a"), Reply::Value(bytes("a")))
        );
    }

    #[test]
    fn the_sweeper_deletes_only_what_is_still_expired() {
        assert_eq!(
            apply(Command::DeleteIfExpired, ttl("a", 10)),
            (None, Reply::Deleted(true))
        );
        assert_eq!(
            apply(Command::DeleteIfExpired, ttl("a", 9_000)),
            (ttl("a", 9_000), Reply::Deleted(false))
        );
        assert_eq!(
            apply(Command::DeleteIfExpired, v("a")),
            (v("a"), Reply::Deleted(false))
        );
    }

    #[test]
    fn integers_parse_like_redis() {
        for ok in [
            "0",
            "-1",
            "42",
            "9223372036854775807",
            "-9223372036854775808",
        ] {
            assert!(parse_i64(ok.as_bytes()).is_some(), "{ok}");
        }
        for bad in [
            "",
            "+1",
            "01",
            "-0",
            " 1",
            "1 ",
            "1.0",
            "9223372036854775808",
            "abc",
        ] {
            assert!(parse_i64(bad.as_bytes()).is_none(), "{bad}");
        }
    }
}
