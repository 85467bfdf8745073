//! Keyspace commands (Redis's db.c): DEL, UNLINK, EXISTS, TOUCH, TYPE,
//! OBJECT, RENAME, RENAMENX, COPY, and the cluster listings KEYS, SCAN,
//! DBSIZE, FLUSHALL/FLUSHDB and RANDOMKEY, which list candidate keys from
//! the members (core/listing.rs), then read (or delete) each candidate
//! through consensus.
//!
//! RENAME, RENAMENX and COPY are atomic across keys in Redis: by the rule
//! of docs/redis.md they work on one key (as Redis answers them when both
//! names are the same) and answer CROSSSLOT across keys.

use super::call::{unexpected, CallKind};
use super::glob::glob_match;
use super::spec::{spec, Family, ALL, NONE, ONE, R};
use super::{
    bulk, core, int_arg, one, syntax_error, unknown_command, upper, Args, CallCtx, Combine,
    CoreCall, Op, Plan, Planned, Step,
};
use crate::core::types::{Picker, ERR_WRONGTYPE};
use crate::core::{Command, Key, Outcome, Reply as CoreReply};
use crate::resp::Reply;
use std::collections::{BTreeMap, VecDeque};

/// Keys per page of a cluster listing that this layer asks for: at most the
/// core's `list_keys_max` (1000 by default). SCAN's COUNT is clamped to it.
pub const LIST_PAGE_KEYS_MAX: usize = 1_000;

/// KEYS answers at most this many keys; past it, use SCAN. A reply of a
/// million keys is already tens of MB held in the node's memory at once.
pub const KEYS_REPLY_MAX: usize = 1_000_000;

/// SCAN cursors remembered per node; the oldest is forgotten first, and a
/// forgotten cursor answers `ERR invalid cursor` (restart the scan at 0).
pub const SCAN_CURSORS_MAX: usize = 1_024;

/// A listing reads (or deletes) a page's candidates this many at a time: a
/// page of 1,000 rounds started at once made every one of them wait behind
/// the others, and on a loaded machine they ran out of their retry budget
/// together (DBSIZE answered FAILED). Paced, each round has the node to
/// itself as much as an ordinary client's, and other clients keep going.
pub const LIST_READS_AT_ONCE: usize = 128;

pub(super) const FAMILY: Family = Family {
    plan,
    commands: &[
        spec("del", -2, &["write"], ALL, "generic", "Deletes keys. Each key is deleted linearizably; not atomic across keys."),
        spec("unlink", -2, &["write", "fast"], ALL, "generic", "Deletes keys (same as DEL). Each key linearizably; not atomic across keys."),
        spec("exists", -2, R, ALL, "generic", "Counts the keys that exist. Each key read linearizably; not atomic across keys."),
        spec("type", 2, R, ONE, "generic", "Returns the type of a key: string, hash, set, zset, list or none. Linearizable."),
        spec("touch", -2, R, ALL, "generic", "Counts the keys that exist (as EXISTS). Each key read linearizably; not atomic across keys."),
        spec("object", -2, &["readonly"], (2, 2, 1), "generic", "OBJECT ENCODING key (int, embstr or raw for a string, listpack for any collection: all are packed), REFCOUNT key, HELP; FREQ and IDLETIME are not tracked across replicas. Linearizable."),
        spec("rename", 3, &["write"], (1, 2, 1), "generic", "Renames a key: one key only (CROSSSLOT across keys)."),
        spec("renamenx", 3, &["write", "fast"], (1, 2, 1), "generic", "Renames a key if the new name is free: one key only (CROSSSLOT across keys)."),
        spec("copy", -3, &["write", "denyoom"], (1, 2, 1), "generic", "Copies a key's value: one key only (CROSSSLOT across keys), where Redis refuses a copy to itself."),
        spec("randomkey", 1, &["readonly"], NONE, "generic", "Returns a live key from one listing page at a random position (not uniform over keys), or nil."),
        spec("keys", 2, &["readonly"], NONE, "generic", "Returns the keys matching a pattern: a cluster listing, then a linearizable read per key; not atomic across keys."),
        spec("scan", -2, &["readonly"], NONE, "generic", "Iterates over keys: one listing page per call, then a linearizable read per key; not atomic across keys. Cursors are per node."),
        spec("dbsize", 1, &["readonly"], NONE, "server", "Counts the keys: a cluster listing, then a linearizable read per key; not atomic across keys."),
        spec("flushall", -1, &["write"], NONE, "server", "Deletes every key, each through consensus; not atomic across keys."),
        spec("flushdb", -1, &["write"], NONE, "server", "Deletes every key (database 0 is the only one), each through consensus; not atomic across keys."),
    ],
};

fn plan(c: &mut Args<'_>) -> Planned {
    let (name, a) = (c.name, &*c.a);
    let key = || a[0].clone();
    match name {
        "del" | "unlink" => core(
            a.iter().map(|k| (k.clone(), Command::Del)).collect(),
            Combine::Del,
        ),
        "exists" => core(
            a.iter().map(|k| (k.clone(), Command::Type)).collect(),
            Combine::Exists,
        ),
        "touch" => core(
            a.iter().map(|k| (k.clone(), Command::Type)).collect(),
            Combine::Exists,
        ),
        "type" => one(&a[0], Command::Type, Combine::Type),
        "object" => plan_object(a),
        "rename" | "renamenx" => {
            if a[0] != a[1] {
                return Err(super::set::crossslot(name));
            }
            let nx = name == "renamenx";
            one(&a[0], Command::Type, Combine::RenameSelf { nx })
        }
        "copy" => {
            let mut i = 2;
            while i < a.len() {
                match upper(&a[i]).as_str() {
                    "REPLACE" => {}
                    "DB" if i + 1 < a.len() => {
                        i += 1;
                        if int_arg(&a[i])? != 0 {
                            return Err(Reply::error("ERR DB index is out of range"));
                        }
                    }
                    _ => return Err(syntax_error()),
                }
                i += 1;
            }
            if a[0] == a[1] {
                return Err(Reply::error(
                    "ERR source and destination objects are the same",
                ));
            }
            Err(super::set::crossslot(name))
        }
        "randomkey" => {
            // The page starts at a position drawn from the clock and the
            // connection (the command layer takes no global randomness).
            let mut picker = Picker::new(c.now_ms ^ c.session.id.rotate_left(32), None);
            let seed = picker.below(usize::MAX) as u64;
            let what = ListWhat::Random {
                seed,
                wrapped: false,
            };
            Ok(Plan::Core(CoreCall {
                kind: CallKind::Listing(ListCall {
                    after: Some(seed.to_be_bytes().to_vec()),
                    ..list_call(what, None, RANDOMKEY_PAGE_KEYS, None)
                }),
            }))
        }
        "keys" => listing(ListWhat::Keys, Some(key()), LIST_PAGE_KEYS_MAX, None),
        "scan" => plan_scan(a),
        "dbsize" => listing(ListWhat::DbSize, None, LIST_PAGE_KEYS_MAX, None),
        "flushall" | "flushdb" => {
            match a {
                [] => {}
                [mode] if matches!(upper(mode).as_str(), "ASYNC" | "SYNC") => {}
                _ => return Err(syntax_error()),
            }
            listing(ListWhat::Flush, None, LIST_PAGE_KEYS_MAX, None)
        }
        _ => Err(unknown_command(&[name.as_bytes().to_vec()])),
    }
}

/// Keys per listing page RANDOMKEY asks for: a keyspace of up to this many
/// keys is sampled uniformly (when the random position falls before it).
const RANDOMKEY_PAGE_KEYS: usize = LIST_PAGE_KEYS_MAX;

/// Candidates RANDOMKEY reads at once (most listed keys are live: the
/// first batch usually answers).
const RANDOMKEY_READS: usize = 4;

/// Redis 7's OBJECT HELP, word for word.
const OBJECT_HELP: &[&str] = &[
    "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "ENCODING <key>",
    "    Return the kind of internal representation used in order to store the value",
    "    associated with a <key>.",
    "FREQ <key>",
    "    Return the access frequency index of the <key>. The returned integer is",
    "    proportional to the logarithm of the recent access frequency of the key.",
    "IDLETIME <key>",
    "    Return the idle time of the <key>, that is the approximated number of",
    "    seconds elapsed since the last access to the key.",
    "REFCOUNT <key>",
    "    Return the number of references of the value associated with the specified",
    "    <key>.",
    "HELP",
    "    Prints this help.",
];

/// OBJECT ENCODING | REFCOUNT | FREQ | IDLETIME key, OBJECT HELP.
fn plan_object(a: &[Vec<u8>]) -> Planned {
    match (upper(&a[0]).as_str(), &a[1..]) {
        ("ENCODING", [key]) => one(key, Command::Encoding, Combine::Encoding),
        ("REFCOUNT", [key]) => one(key, Command::Get, Combine::RefCount),
        // Each replica sees only the reads it served (eviction samples them
        // there); no one node can answer for the key as Redis does.
        ("FREQ", [key]) => one(
            key,
            Command::Type,
            Combine::ObjectUntracked(
                "ERR synod does not track OBJECT FREQ per key: each replica counts only the reads it served (see docs/redis.md)",
            ),
        ),
        ("IDLETIME", [key]) => one(
            key,
            Command::Type,
            Combine::ObjectUntracked(
                "ERR synod does not track OBJECT IDLETIME per key: each replica sees only the reads it served (see docs/redis.md)",
            ),
        ),
        ("HELP", []) => Ok(Plan::Reply(Reply::Array(
            OBJECT_HELP.iter().map(|l| Reply::Simple((*l).into())).collect(),
        ))),
        _ => Err(super::subcommand_error(
            "object",
            &a[0],
            &["encoding", "help", "freq", "idletime", "refcount"],
        )),
    }
}

fn listing(what: ListWhat, pattern: Option<Vec<u8>>, count: usize, cursor: Option<u64>) -> Planned {
    Ok(Plan::Core(CoreCall {
        kind: CallKind::Listing(list_call(what, pattern, count, cursor)),
    }))
}

fn list_call(
    what: ListWhat,
    pattern: Option<Vec<u8>>,
    count: usize,
    cursor: Option<u64>,
) -> ListCall {
    ListCall {
        what,
        pattern: pattern.filter(|p| p != b"*"),
        after: None,
        count,
        running: Vec::new(),
        pending: VecDeque::new(),
        next: None,
        found: Vec::new(),
        counted: 0,
        scan_cursor: cursor,
    }
}

/// `SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]`.
fn plan_scan(a: &[Vec<u8>]) -> Planned {
    let cursor = std::str::from_utf8(&a[0])
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .ok_or_else(|| Reply::error("ERR invalid cursor"))?;
    let mut pattern = None;
    let mut count = 10usize;
    let mut type_ok = true;
    let mut of_type = None;
    let mut i = 1;
    while i < a.len() {
        let opt = upper(&a[i]);
        if i + 1 >= a.len() {
            return Err(syntax_error());
        }
        let v = &a[i + 1];
        match opt.as_str() {
            "MATCH" => pattern = Some(v.clone()),
            "COUNT" => {
                let n = int_arg(v)?;
                if n < 1 {
                    return Err(syntax_error());
                }
                count = (n as u64).min(LIST_PAGE_KEYS_MAX as u64) as usize;
            }
            "TYPE" => {
                let t = String::from_utf8_lossy(v).to_ascii_lowercase();
                of_type = TYPES.iter().copied().find(|k| *k == t);
                type_ok = of_type.is_some();
            }
            _ => return Err(syntax_error()),
        }
        i += 2;
    }
    listing(
        ListWhat::Scan { type_ok, of_type },
        pattern,
        count,
        Some(cursor),
    )
}

/// The types TYPE names and SCAN ... TYPE filters on.
const TYPES: &[&str] = &["string", "hash", "set", "zset", "list"];

/// SCAN cursors: Redis clients parse cursors as integers, and ours are key
/// positions, so each node keeps a bounded table from integer to key.
#[derive(Clone, Debug, Default)]
pub struct ScanCursors {
    next_id: u64,
    by_id: BTreeMap<u64, Key>,
    order: VecDeque<u64>,
}

impl ScanCursors {
    /// Remembers `key` as a cursor, forgetting the oldest past [`SCAN_CURSORS_MAX`].
    pub fn insert(&mut self, key: Key) -> u64 {
        self.next_id += 1;
        let id = self.next_id;
        self.by_id.insert(id, key);
        self.order.push_back(id);
        while self.order.len() > SCAN_CURSORS_MAX {
            if let Some(old) = self.order.pop_front() {
                self.by_id.remove(&old);
            }
        }
        id
    }

    /// The key position of cursor `id`, if remembered.
    pub fn get(&self, id: u64) -> Option<&Key> {
        self.by_id.get(&id)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct ListCall {
    pub(super) what: ListWhat,
    /// Keys whose names match (None: all).
    pub(super) pattern: Option<Vec<u8>>,
    /// Where the next page starts; None before the first page.
    pub(super) after: Option<Key>,
    /// Keys page size.
    pub(super) count: usize,
    /// The operations of the running step, to read their outcomes against.
    pub(super) running: Vec<Op>,
    /// This page's reads (or deletes) not started yet, run
    /// [`LIST_READS_AT_ONCE`] at a time.
    pub(super) pending: VecDeque<Op>,
    /// The listing's next page cursor, once known (None inside: complete).
    pub(super) next: Option<Option<Key>>,
    /// Keys found live (KEYS, SCAN) so far.
    pub(super) found: Vec<Key>,
    /// Keys counted (DBSIZE) or deleted (FLUSHALL) so far.
    pub(super) counted: u64,
    /// SCAN's cursor argument, resolved at `start`.
    pub(super) scan_cursor: Option<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ListWhat {
    /// KEYS pattern: every live key, all pages.
    Keys,
    /// SCAN: one page; `type_ok` false when TYPE names a type we do not
    /// hold; `of_type` the type asked for, if any.
    Scan {
        type_ok: bool,
        of_type: Option<&'static str>,
    },
    /// DBSIZE: count live keys, all pages.
    DbSize,
    /// FLUSHALL / FLUSHDB: delete every key, all pages.
    Flush,
    /// RANDOMKEY: a page from a random position (`seed`), wrapping once to
    /// the start; its candidates read in a random order, a few at a time,
    /// until one is live.
    Random { seed: u64, wrapped: bool },
}

pub(super) fn scan_reply(cursor: u64, keys: Vec<Key>) -> Reply {
    Reply::Array(vec![
        bulk(&cursor.to_string()),
        Reply::Array(keys.into_iter().map(Reply::Bulk).collect()),
    ])
}

/// The reply for a failed or unknown outcome of a multi-step call: `done`
/// keys were already changed (FLUSHALL), so a failure is then UNKNOWN as a whole.
fn step_error(outcome: &Outcome, key: Option<&[u8]>, done: u64) -> Reply {
    let label = key.map_or(String::new(), |k| {
        format!("key '{}': ", String::from_utf8_lossy(k))
    });
    match outcome {
        Outcome::Unknown(why) => Reply::error(format!("UNKNOWN {label}{why}")),
        Outcome::Failed(why) if done > 0 => {
            Reply::error(format!("UNKNOWN deleted {done} keys, then {label}{why}"))
        }
        Outcome::Failed(why) => Reply::error(format!("FAILED {label}{why}")),
        Outcome::Ok(r) => unexpected(Some(r)),
    }
}

impl ListCall {
    pub(super) fn list_step(&mut self) -> Step {
        self.running = vec![Op::List {
            after: self.after.clone(),
            count: self.count,
        }];
        self.next = None;
        Step::Run(self.running.clone())
    }

    pub(super) fn resume(&mut self, outcomes: Vec<Outcome>, ctx: &mut CallCtx<'_>) -> Step {
        if let ListWhat::Random { seed, wrapped } = self.what {
            return self.random_resume(outcomes, seed, wrapped);
        }
        let ops = std::mem::take(&mut self.running);
        let mut candidates = Vec::new();
        for (op, outcome) in ops.iter().zip(&outcomes) {
            let changed = if self.what == ListWhat::Flush {
                self.counted
            } else {
                0
            };
            match (op, outcome) {
                (Op::List { .. }, Outcome::Ok(CoreReply::Keys { keys, next })) => {
                    self.next = Some(next.clone());
                    candidates = keys.clone();
                }
                (Op::Key(_, Command::Get | Command::Type), Outcome::Ok(reply)) => {
                    // A GET answers the value, or WRONGTYPE for a collection
                    // (live too); a TYPE (SCAN ... TYPE t) the type's name.
                    let wanted = match (reply, self.what) {
                        (CoreReply::Value(v), _) => v.is_some(),
                        (CoreReply::Error(e), _) if e == ERR_WRONGTYPE => true,
                        (
                            CoreReply::Text(t),
                            ListWhat::Scan {
                                of_type: Some(of), ..
                            },
                        ) => t == of,
                        (CoreReply::Text(t), _) => t != "none",
                        (_, _) => return Step::Done(step_error(outcome, None, changed)),
                    };
                    if wanted {
                        self.counted += 1;
                        if let Op::Key(k, _) = op {
                            if matches!(self.what, ListWhat::Keys | ListWhat::Scan { .. }) {
                                self.found.push(k.clone());
                            }
                        }
                    }
                }
                (Op::Key(_, Command::Del), Outcome::Ok(CoreReply::Deleted(d))) => {
                    self.counted += u64::from(*d);
                }
                (Op::Key(k, _), o) => return Step::Done(step_error(o, Some(k), changed)),
                (Op::List { .. }, o) => return Step::Done(step_error(o, None, changed)),
            }
        }
        if self.found.len() > KEYS_REPLY_MAX {
            return Step::Done(Reply::error(format!(
                "ERR KEYS would return more than {KEYS_REPLY_MAX} keys; use SCAN"
            )));
        }
        let Some(next) = self.next.clone() else {
            return Step::Done(unexpected(None));
        };
        if let Some(p) = &self.pattern {
            candidates.retain(|k| glob_match(p, k));
        }
        if !candidates.is_empty() {
            // Read (or delete) this page's candidates; the listing moves on after.
            let command = if self.what == ListWhat::Flush {
                Command::Del
            } else if matches!(
                self.what,
                ListWhat::Scan {
                    of_type: Some(_),
                    ..
                }
            ) {
                Command::Type
            } else {
                // A GET, as the simulator's checker models a listing's reads.
                Command::Get
            };
            self.pending = candidates
                .into_iter()
                .map(|k| Op::Key(k, command.clone()))
                .collect();
        }
        if !self.pending.is_empty() {
            let n = self.pending.len().min(LIST_READS_AT_ONCE);
            self.running = self.pending.drain(..n).collect();
            return Step::Run(self.running.clone());
        }
        // This page is done.
        match (self.what, next) {
            (ListWhat::Random { .. }, _) => Step::Done(unexpected(None)),
            (ListWhat::Scan { .. }, next) => {
                let cursor = next.map_or(0, |k| ctx.cursors.insert(k));
                Step::Done(scan_reply(cursor, std::mem::take(&mut self.found)))
            }
            (_, Some(k)) => {
                self.after = Some(k);
                self.list_step()
            }
            (ListWhat::Keys, None) => Step::Done(Reply::Array(
                std::mem::take(&mut self.found)
                    .into_iter()
                    .map(Reply::Bulk)
                    .collect(),
            )),
            (ListWhat::DbSize, None) => Step::Done(Reply::Integer(self.counted as i64)),
            (ListWhat::Flush, None) => Step::Done(Reply::ok()),
        }
    }
}

impl ListCall {
    /// RANDOMKEY's steps: a listing page, then its candidates (kept in
    /// `found`, shuffled) read [`RANDOMKEY_READS`] at a time; the first live
    /// one is the answer. Then the next page, wrapping once to the start.
    fn random_resume(&mut self, outcomes: Vec<Outcome>, seed: u64, wrapped: bool) -> Step {
        let ops = std::mem::take(&mut self.running);
        for (op, outcome) in ops.iter().zip(&outcomes) {
            match (op, outcome) {
                (Op::List { .. }, Outcome::Ok(CoreReply::Keys { keys, next })) => {
                    self.next = Some(next.clone());
                    let mut picker = Picker::new(seed, None);
                    self.found = picker
                        .distinct(keys.len(), keys.len())
                        .into_iter()
                        .map(|i| keys[i].clone())
                        .collect();
                }
                (Op::Key(k, Command::Get), Outcome::Ok(r)) => match r {
                    CoreReply::Value(Some(_)) => return Step::Done(Reply::Bulk(k.clone())),
                    CoreReply::Error(e) if e == ERR_WRONGTYPE => {
                        return Step::Done(Reply::Bulk(k.clone()))
                    }
                    CoreReply::Value(None) => {}
                    _ => return Step::Done(step_error(outcome, Some(k), 0)),
                },
                (Op::Key(k, _), o) => return Step::Done(step_error(o, Some(k), 0)),
                (Op::List { .. }, o) => return Step::Done(step_error(o, None, 0)),
            }
        }
        if !self.found.is_empty() {
            let n = self.found.len().min(RANDOMKEY_READS);
            self.running = self
                .found
                .drain(..n)
                .map(|k| Op::Key(k, Command::Get))
                .collect();
            return Step::Run(self.running.clone());
        }
        match (self.next.take(), wrapped) {
            (Some(Some(k)), _) => {
                self.after = Some(k);
                self.list_step()
            }
            (Some(None), false) => {
                self.what = ListWhat::Random {
                    seed,
                    wrapped: true,
                };
                self.after = None;
                self.list_step()
            }
            (Some(None), true) => Step::Done(Reply::Nil),
            (None, _) => Step::Done(unexpected(None)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::testing::*;

    #[test]
    fn multi_key_commands_are_one_request_per_key() {
        assert_eq!(
            requests(&["mset", "a", "1", "b", "2"]),
            vec![
                (k("a"), Command::Set(k("1").into())),
                (k("b"), Command::Set(k("2").into()))
            ]
        );
        assert_eq!(
            requests(&["mget", "a", "b"]),
            vec![(k("a"), Command::Get), (k("b"), Command::Get)]
        );
        for name in ["del", "unlink"] {
            assert_eq!(
                requests(&[name, "a", "b"]),
                vec![(k("a"), Command::Del), (k("b"), Command::Del)]
            );
        }
        assert_eq!(requests(&["exists", "a", "a"]).len(), 2);
        // Empty expected = the key must be absent.
        assert_eq!(
            requests(&["cas", "k", "", "b"]),
            vec![(
                k("k"),
                Command::Cas {
                    expected: None,
                    new: k("b")
                }
            )]
        );
    }
    // ---- Listing commands ----

    #[test]
    fn keys_lists_every_page_and_reads_each_candidate() {
        let mut r = Registers::default();
        for i in 0..25 {
            r.0.insert(k(&format!("k{i:02}")), Some(Record::new(b"v".to_vec())));
        }
        // A lagging replica's candidate: listed, but the read says it is gone.
        r.0.insert(
            k("k99"),
            Some(Record {
                data: crate::core::Data::Str(k("v").into()),
                expires_at_ms: Some(crate::core::command::deadline_at(1)),
            }),
        );
        let mut cursors = ScanCursors::default();
        let mut ops = Vec::new();
        let got = drive(plan_at(&["keys", "k1*"], NOW), NOW, &mut cursors, |op| {
            ops.push(op.clone());
            r.exec(op, NOW, 4)
        });
        let want: Vec<Reply> = (10..20).map(|i| Reply::Bulk(k(&format!("k{i}")))).collect();
        assert_eq!(got, Reply::Array(want));
        let lists = ops.iter().filter(|o| matches!(o, Op::List { .. })).count();
        assert_eq!(lists, 7, "26 keys in pages of 4");
        assert!(ops.iter().all(|o| match o {
            Op::Key(key, Command::Get) => glob_match(b"k1*", key),
            Op::List { .. } => true,
            _ => false,
        }));
        assert_eq!(
            drive(plan_at(&["dbsize"], NOW), NOW, &mut cursors, |op| r
                .exec(op, NOW, 4)),
            Reply::Integer(25)
        );
    }

    #[test]
    fn a_listing_reads_a_page_a_bounded_number_of_keys_at_a_time() {
        let mut r = Registers::default();
        for i in 0..1_000 {
            r.0.insert(k(&format!("k{i:04}")), Some(Record::new(b"v".to_vec())));
        }
        for (command, want) in [("dbsize", Reply::Integer(1_000)), ("flushall", Reply::ok())] {
            let planned = plan_at(&[command], NOW);
            let Plan::Core(mut c) = planned else {
                panic!("{planned:?}")
            };
            let mut cursors = ScanCursors::default();
            let mut ctx = CallCtx {
                now_ms: NOW,
                cursors: &mut cursors,
            };
            let mut step = c.start(&mut ctx);
            let mut widest = 0;
            let got = loop {
                match step {
                    Step::Done(reply) => break reply,
                    Step::Run(ops) => {
                        widest = widest.max(ops.len());
                        let outcomes = ops.iter().map(|op| r.exec(op, NOW, 1_000)).collect();
                        step = c.resume(outcomes, &mut ctx);
                    }
                }
            };
            assert_eq!(got, want, "{command}");
            assert_eq!(
                widest, LIST_READS_AT_ONCE,
                "{command}: one page of 1,000 keys"
            );
        }
        assert!(
            r.0.values().all(|v| v.is_none()),
            "FLUSHALL deleted every key"
        );
    }

    #[test]
    fn scan_pages_with_integer_cursors_and_every_key_once() {
        let mut r = Registers::default();
        for i in 0..57 {
            r.0.insert(k(&format!("key:{i}")), Some(Record::new(b"v".to_vec())));
        }
        let mut cursors = ScanCursors::default();
        let mut cursor = "0".to_string();
        let mut seen = Vec::new();
        for _ in 0..100 {
            let got = r.run(&["scan", &cursor, "count", "10"], NOW, &mut cursors);
            let Reply::Array(parts) = got else {
                panic!("{got:?}")
            };
            let [Reply::Bulk(c), Reply::Array(keys)] = &parts[..] else {
                panic!("{parts:?}")
            };
            assert!(keys.len() <= 10);
            seen.extend(keys.iter().cloned());
            cursor = String::from_utf8(c.clone()).unwrap();
            cursor.parse::<u64>().expect("cursors are integers");
            if cursor == "0" {
                break;
            }
        }
        assert_eq!(cursor, "0");
        let mut want: Vec<Reply> = r.0.keys().map(|key| Reply::Bulk(key.clone())).collect();
        want.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
        seen.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
        assert_eq!(seen, want);
        // A cursor this node never handed out (or forgot) is refused.
        assert_eq!(
            r.run(&["scan", "987654"], NOW, &mut cursors),
            err("ERR invalid cursor")
        );
        // A type synod never holds: nothing, and the scan is over.
        assert_eq!(
            r.run(&["scan", "0", "type", "stream"], NOW, &mut cursors),
            Reply::Array(vec![Reply::Bulk(k("0")), Reply::Array(vec![])])
        );
        // A type it holds: only keys of that type.
        assert_eq!(
            r.run(&["hset", "h", "f", "v"], NOW, &mut cursors),
            Reply::Integer(1)
        );
        let got = r.run(
            &["scan", "0", "type", "hash", "count", "1000"],
            NOW,
            &mut cursors,
        );
        assert_eq!(
            got,
            Reply::Array(vec![
                Reply::Bulk(k("0")),
                Reply::Array(vec![Reply::Bulk(k("h"))])
            ])
        );
    }

    #[test]
    fn the_cursor_table_forgets_the_oldest() {
        let mut c = ScanCursors::default();
        let first = c.insert(k("a"));
        for i in 0..SCAN_CURSORS_MAX {
            c.insert(k(&i.to_string()));
        }
        assert_eq!(c.get(first), None);
        assert_eq!(c.get(first + 1), Some(&k("0")));
    }

    #[test]
    fn flushall_deletes_every_listed_key_through_the_core() {
        let mut r = Registers::default();
        for i in 0..9 {
            r.0.insert(k(&format!("{i}")), Some(Record::new(b"v".to_vec())));
        }
        let mut cursors = ScanCursors::default();
        let mut dels = 0;
        let got = drive(
            plan_at(&["FLUSHALL", "ASYNC"], NOW),
            NOW,
            &mut cursors,
            |op| {
                dels += matches!(op, Op::Key(_, Command::Del)) as usize;
                r.exec(op, NOW, 4)
            },
        );
        assert_eq!(got, Reply::ok());
        assert_eq!(dels, 9);
        assert!(r.0.values().all(Option::is_none));
        assert_eq!(r.run(&["dbsize"], NOW, &mut cursors), Reply::Integer(0));
    }

    #[test]
    fn a_failed_listing_or_delete_is_reported() {
        let mut cursors = ScanCursors::default();
        let got = drive(plan_at(&["keys", "*"], NOW), NOW, &mut cursors, |_| {
            Outcome::Failed("only 1 of 3 members answered".into())
        });
        assert_eq!(got, err("FAILED only 1 of 3 members answered"));
        // FLUSHALL that deleted some keys, then failed: UNKNOWN as a whole.
        let mut n = 0;
        let got = drive(
            plan_at(&["flushall"], NOW),
            NOW,
            &mut cursors,
            |op| match op {
                Op::List { .. } => ok(CoreReply::Keys {
                    keys: vec![k("a"), k("b")],
                    next: None,
                }),
                Op::Key(..) => {
                    n += 1;
                    if n == 1 {
                        ok(CoreReply::Deleted(true))
                    } else {
                        Outcome::Failed("no quorum".into())
                    }
                }
            },
        );
        assert_eq!(got, err("UNKNOWN deleted 1 keys, then key 'b': no quorum"));
    }
}

#[cfg(test)]
mod keyspace_tests {
    use super::*;
    use crate::commands::testing::*;

    #[test]
    fn rename_and_copy_work_on_one_key_and_are_refused_across_keys() {
        let cross = |name: &str| {
            err(&format!("CROSSSLOT Keys in request don't hash to the same slot ({name} is atomic across keys in Redis; synod runs it on one key only)"))
        };
        assert_eq!(reply(&["rename", "a", "b"]), cross("RENAME"));
        assert_eq!(reply(&["renamenx", "a", "b"]), cross("RENAMENX"));
        assert_eq!(reply(&["copy", "a", "b", "REPLACE"]), cross("COPY"));
        // Redis's own answers for the same key (checked side by side).
        assert_eq!(
            reply(&["copy", "a", "a"]),
            err("ERR source and destination objects are the same")
        );
        assert_eq!(
            reply(&["copy", "a", "a", "db", "x"]),
            err("ERR value is not an integer or out of range")
        );
        assert_eq!(
            reply(&["copy", "a", "a", "db", "1"]),
            err("ERR DB index is out of range")
        );
        assert_eq!(reply(&["copy", "a", "b", "foo"]), err("ERR syntax error"));
        let exists = ok(CoreReply::Text("string".into()));
        let none = || ok(CoreReply::Text("none".into()));
        assert_eq!(
            finish_with(&["rename", "a", "a"], vec![exists.clone()]),
            Reply::ok()
        );
        assert_eq!(
            finish_with(&["renamenx", "a", "a"], vec![exists]),
            Reply::Integer(0)
        );
        assert_eq!(
            finish_with(&["rename", "a", "a"], vec![none()]),
            err("ERR no such key")
        );
        assert_eq!(
            finish_with(&["renamenx", "a", "a"], vec![none()]),
            err("ERR no such key")
        );
    }

    #[test]
    fn object_answers_as_redis() {
        let help = reply(&["object", "help"]);
        assert!(
            matches!(&help, Reply::Array(l) if l.len() == 15),
            "{help:?}"
        );
        assert_eq!(
            finish_with(&["object", "refcount", "k"], vec![value("5")]),
            Reply::Integer(2147483647),
            "a small integer is one of Redis's shared objects"
        );
        assert_eq!(
            finish_with(&["object", "refcount", "k"], vec![value("hello")]),
            Reply::Integer(1)
        );
        assert_eq!(
            finish_with(
                &["object", "refcount", "k"],
                vec![ok(CoreReply::Value(None))]
            ),
            Reply::Nil
        );
        assert_eq!(
            finish_with(
                &["object", "idletime", "k"],
                vec![ok(CoreReply::Text("none".into()))]
            ),
            Reply::Nil
        );
        assert_eq!(
            reply(&["object", "refcount"]),
            err("ERR wrong number of arguments for 'object|refcount' command")
        );
        assert_eq!(
            reply(&["object", "foo"]),
            err("ERR unknown subcommand 'foo'. Try OBJECT HELP.")
        );
    }

    #[test]
    fn touch_counts_like_exists() {
        let t = |s: &str| ok(CoreReply::Text(s.into()));
        assert_eq!(
            finish_with(
                &["touch", "a", "b", "a"],
                vec![t("hash"), t("none"), t("hash")]
            ),
            Reply::Integer(2)
        );
    }

    #[test]
    fn randomkey_returns_a_live_key_wrapping_once_or_nil() {
        let mut r = Registers::default();
        let mut cursors = ScanCursors::default();
        let mut run = |r: &mut Registers, now: u64| {
            drive(plan_at(&["randomkey"], now), now, &mut cursors, |op| {
                r.exec(op, now, 100)
            })
        };
        assert_eq!(run(&mut r, NOW), Reply::Nil);
        // An expired key is listed but not live.
        r.0.insert(
            k("gone"),
            Some(Record::with_deadline(b"v".to_vec(), Some(1))),
        );
        assert_eq!(run(&mut r, NOW), Reply::Nil);
        for i in 0..10 {
            r.0.insert(k(&format!("k{i}")), Some(Record::new(b"v".to_vec())));
        }
        let mut seen = std::collections::BTreeSet::new();
        for t in 0..200 {
            match run(&mut r, NOW + t) {
                Reply::Bulk(key) => {
                    assert!(key.starts_with(b"k"));
                    seen.insert(key);
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(seen.len(), 10, "{seen:?}");
    }
}
