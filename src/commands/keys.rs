//! Keyspace commands (Redis's db.c): DEL, UNLINK, EXISTS, TYPE, OBJECT, and the
//! cluster listings KEYS, SCAN, DBSIZE, FLUSHALL/FLUSHDB, which list
//! candidate keys from the members (core/listing.rs), then read (or delete)
//! each candidate through consensus.

use super::call::{unexpected, CallKind};
use super::glob::glob_match;
use super::spec::{spec, Family, ALL, NONE, ONE, R};
use super::{
    bulk, core, int_arg, one, syntax_error, unknown_command, upper, Args, CallCtx, Combine,
    CoreCall, Op, Plan, Planned, Step,
};
use crate::core::types::ERR_WRONGTYPE;
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

pub(super) const FAMILY: Family = Family {
    plan,
    commands: &[
        spec("del", -2, &["write"], ALL, "generic", "Deletes keys. Each key is deleted linearizably; not atomic across keys."),
        spec("unlink", -2, &["write", "fast"], ALL, "generic", "Deletes keys (same as DEL). Each key linearizably; not atomic across keys."),
        spec("exists", -2, R, ALL, "generic", "Counts the keys that exist. Each key read linearizably; not atomic across keys."),
        spec("type", 2, R, ONE, "generic", "Returns the type of a key: string, hash, set, zset, list or none. Linearizable."),
        spec("object", -2, &["readonly"], (2, 2, 1), "generic", "OBJECT ENCODING key: int, embstr or raw for a string, listpack for any collection (all are packed). Linearizable."),
        spec("keys", 2, &["readonly"], NONE, "generic", "Returns the keys matching a pattern: a cluster listing, then a linearizable read per key; not atomic across keys."),
        spec("scan", -2, &["readonly"], NONE, "generic", "Iterates over keys: one listing page per call, then a linearizable read per key; not atomic across keys. Cursors are per node."),
        spec("dbsize", 1, &["readonly"], NONE, "server", "Counts the keys: a cluster listing, then a linearizable read per key; not atomic across keys."),
        spec("flushall", -1, &["write"], NONE, "server", "Deletes every key, each through consensus; not atomic across keys."),
        spec("flushdb", -1, &["write"], NONE, "server", "Deletes every key (database 0 is the only one), each through consensus; not atomic across keys."),
    ],
};

fn plan(c: &mut Args<'_>) -> Planned {
    let (name, a) = (c.name, c.a);
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
        "type" => one(&a[0], Command::Type, Combine::Type),
        "object" => match (upper(&a[0]).as_str(), &a[1..]) {
            ("ENCODING", [key]) => one(key, Command::Encoding, Combine::Encoding),
            ("HELP", []) => Ok(Plan::Reply(Reply::Array(vec![
                bulk("OBJECT ENCODING <key>"),
                bulk("    Return the kind of internal representation used to store the value of <key>."),
            ]))),
            ("FREQ" | "IDLETIME" | "REFCOUNT", [_]) => Err(Reply::error(
                "ERR synod answers OBJECT ENCODING only (recency and counts are per replica)",
            )),
            _ => Err(super::subcommand_error("object", &a[0], &["encoding", "help", "freq", "idletime", "refcount"])),
        },
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

fn listing(what: ListWhat, pattern: Option<Vec<u8>>, count: usize, cursor: Option<u64>) -> Planned {
    Ok(Plan::Core(CoreCall {
        kind: CallKind::Listing(ListCall {
            what,
            pattern: pattern.filter(|p| p != b"*"),
            after: None,
            count,
            running: Vec::new(),
            next: None,
            found: Vec::new(),
            counted: 0,
            scan_cursor: cursor,
        }),
    }))
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
            self.running = candidates
                .into_iter()
                .map(|k| Op::Key(k, command.clone()))
                .collect();
            return Step::Run(self.running.clone());
        }
        // This page is done.
        match (self.what, next) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::testing::*;

    #[test]
    fn multi_key_commands_are_one_request_per_key() {
        assert_eq!(
            requests(&["mset", "a", "1", "b", "2"]),
            vec![
                (k("a"), Command::Set(k("1"))),
                (k("b"), Command::Set(k("2")))
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
                data: crate::core::Data::Str(k("v")),
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
