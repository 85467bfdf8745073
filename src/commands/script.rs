//! Scripting commands (Redis's eval.c): EVAL, EVALSHA and SCRIPT
//! LOAD/EXISTS/FLUSH. A script runs on exactly one key, as that key's change
//! function (src/scripting.rs): one Paxos round, atomic and linearizable.
//! Scripts are remembered per node by their SHA-1, as Redis does
//! ([`ScriptCache`]); EVAL remembers its script too.

use super::spec::{spec, Family, NONE};
use super::{int_arg, one, reply, subcommand_error, unknown_command, upper, Args, Combine};
use super::{Planned, Session};
use crate::core::command::{Runner, Script};
use crate::core::Command;
use crate::resp::Reply;
use parking_lot::Mutex;
use sha1::{Digest, Sha1};
use std::collections::HashMap;
use std::sync::Arc;

/// Scripts a node remembers at most; SCRIPT FLUSH forgets them all.
pub const SCRIPTS_MAX: usize = 4_096;

pub(super) const FAMILY: Family = Family {
    plan,
    commands: &[
        spec("eval", -3, &["write", "noscript"], (3, 3, 1), "scripting", "Runs a Lua script on one key (numkeys 1) as one change function: atomic and linearizable."),
        spec("evalsha", -3, &["write", "noscript"], (3, 3, 1), "scripting", "Runs a remembered script (by SHA-1) on one key as one change function."),
        spec("script", -2, &["noscript"], NONE, "scripting", "SCRIPT LOAD | EXISTS | FLUSH: the node's script cache."),
    ],
};

/// A node's scripts by SHA-1 (lowercase hex), shared by its connections.
#[derive(Clone, Debug, Default)]
pub struct ScriptCache(Arc<Mutex<HashMap<String, String>>>);

impl PartialEq for ScriptCache {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for ScriptCache {}

impl ScriptCache {
    /// Remembers `source`; its SHA-1, or an error once [`SCRIPTS_MAX`] are held.
    fn load(&self, source: &str) -> Result<String, Reply> {
        let sha = sha1_hex(source.as_bytes());
        let mut m = self.0.lock();
        if !m.contains_key(&sha) && m.len() >= SCRIPTS_MAX {
            return Err(Reply::error(format!(
                "ERR the script cache holds {SCRIPTS_MAX} scripts (SCRIPTS_MAX); SCRIPT FLUSH first"
            )));
        }
        m.insert(sha.clone(), source.to_owned());
        Ok(sha)
    }

    fn get(&self, sha: &str) -> Option<String> {
        self.0.lock().get(&sha.to_ascii_lowercase()).cloned()
    }
}

/// SHA-1 as Redis names scripts: 40 lowercase hex digits.
pub fn sha1_hex(bytes: &[u8]) -> String {
    Sha1::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn plan(c: &mut Args<'_>) -> Planned {
    let (name, a) = (c.name, &*c.a);
    match name {
        "eval" => {
            let source = String::from_utf8_lossy(&a[0]).into_owned();
            c.session.scripts.load(&source)?;
            eval(source, &a[1..])
        }
        "evalsha" => {
            let sha = String::from_utf8_lossy(&a[0]);
            let Some(source) = c.session.scripts.get(&sha) else {
                return Err(Reply::error(
                    "NOSCRIPT No matching script. Please use EVAL.",
                ));
            };
            eval(source, &a[1..])
        }
        "script" => reply(script(a, c.session)),
        _ => Err(unknown_command(&[name.as_bytes().to_vec()])),
    }
}

/// `numkeys key... arg...` after the script: exactly one key (or one key
/// named several times).
fn eval(source: String, a: &[Vec<u8>]) -> Planned {
    let n = int_arg(&a[0])?;
    if n < 0 {
        return Err(Reply::error("ERR Number of keys can't be negative"));
    }
    let rest = &a[1..];
    if n as u64 > rest.len() as u64 {
        return Err(Reply::error(
            "ERR Number of keys can't be greater than number of args",
        ));
    }
    let (keys, args) = rest.split_at(n as usize);
    let Some(key) = keys.first() else {
        return Err(Reply::error(
            "ERR synod runs a script on exactly one key: numkeys must be 1 (the script is that key's change function)",
        ));
    };
    if keys.iter().any(|k| k != key) {
        return Err(super::set::crossslot("eval"));
    }
    let script = Script {
        source,
        key: key.clone(),
        args: args.to_vec(),
        runner: Runner(Some(crate::scripting::run)),
    };
    one(key, Command::Eval(script), Combine::Nested)
}

/// `SCRIPT LOAD source | EXISTS sha... | FLUSH [ASYNC|SYNC] | HELP`.
fn script(a: &[Vec<u8>], session: &Session) -> Reply {
    let rest = &a[1..];
    match (upper(&a[0]).as_str(), rest) {
        ("LOAD", [source]) => match session.scripts.load(&String::from_utf8_lossy(source)) {
            Ok(sha) => Reply::Bulk(sha.into_bytes()),
            Err(e) => e,
        },
        ("EXISTS", shas) if !shas.is_empty() => Reply::Array(
            shas.iter()
                .map(|s| {
                    let held = session.scripts.get(&String::from_utf8_lossy(s)).is_some();
                    Reply::Integer(i64::from(held))
                })
                .collect(),
        ),
        ("FLUSH", []) => {
            session.scripts.0.lock().clear();
            Reply::ok()
        }
        ("FLUSH", [mode]) if matches!(upper(mode).as_str(), "ASYNC" | "SYNC") => {
            session.scripts.0.lock().clear();
            Reply::ok()
        }
        ("HELP", []) => Reply::Array(
            [
                "SCRIPT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "EXISTS <sha1> [<sha1> ...]",
                "FLUSH [ASYNC|SYNC]",
                "LOAD <script>",
            ]
            .iter()
            .map(|l| Reply::Simple((*l).into()))
            .collect(),
        ),
        _ => subcommand_error("script", &a[0], &["load", "exists", "flush", "help"]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_names_are_redis_sha1() {
        // `redis-cli SCRIPT LOAD "return 1"` answers this SHA-1.
        assert_eq!(
            sha1_hex(b"return 1"),
            "e0e1f9fabfc9d4800c877a703b823ac0578ff8db"
        );
    }
}
