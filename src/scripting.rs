//! Lua scripts (EVAL, EVALSHA) as change functions: a script runs on one
//! key, inside that key's Paxos round, as the round's change function
//! (CASPaxos §2), so it is atomic and linearizable like any single-key
//! command. Every `redis.call` is planned by the command layer and applied
//! to the script's working copy of the value; the round writes the final
//! value once. A script that fails (an error raised, a budget exceeded)
//! changes nothing: the client is told it failed, so nothing is applied.
//!
//! The interpreter is Lua 5.4 through `mlua` (vendored: the C sources are
//! built by cargo, nothing to install), sandboxed so that a script is a pure
//! function of the value, its arguments and the coordinator's clock: only
//! the `string`, `table` and `math` libraries, without `math.random`; no
//! `io`, `os`, `load`, `require` or `print`; at most
//! [`SCRIPT_INSTRUCTIONS_MAX`] VM instructions and [`SCRIPT_MEMORY_MAX_BYTES`]
//! of Lua memory. A script may touch only `KEYS[1]`.

use crate::commands::{plan, single_request_reply, Plan, Session};
use crate::core::command::Script;
use crate::core::{Answer, Reply as CoreReply, Value};
use crate::resp::Reply;
use mlua::{HookTriggers, Lua, LuaOptions, MultiValue, StdLib, Value as LuaValue, VmState};
use std::cell::RefCell;
use std::rc::Rc;

/// VM instructions a script may run (tens of ms in a release build): the
/// script runs on the node's event loop, inside a round with a deadline, so
/// it must be short.
pub const SCRIPT_INSTRUCTIONS_MAX: u64 = 2_000_000;

/// Lua heap a script may use.
pub const SCRIPT_MEMORY_MAX_BYTES: usize = 64 << 20;

/// Instructions between two budget checks.
const HOOK_EVERY_INSTRUCTIONS: u32 = 10_000;

/// Commands a script may not call (they are not single-key change functions).
const NOT_IN_SCRIPTS: &[&str] = &[
    "eval",
    "evalsha",
    "eval_ro",
    "evalsha_ro",
    "script",
    "multi",
    "exec",
    "watch",
    "quit",
    "hello",
    "client",
    "admin",
    "config",
    "keys",
    "scan",
    "flushall",
    "flushdb",
    "dbsize",
];

/// Runs `s` as the change function of its key: the new value and the reply.
/// Deterministic: the same value, arguments and clock give the same result.
pub fn run(s: &Script, current: &Value, now_ms: u64, value_len_max: usize) -> (Value, CoreReply) {
    match run_lua(s, current.clone(), now_ms, value_len_max) {
        Ok((value, reply)) => match answer(&reply) {
            Ok(a) => (value, CoreReply::Nested(a)),
            Err(e) => (current.clone(), CoreReply::Error(e)),
        },
        Err(e) => (current.clone(), CoreReply::Error(e)),
    }
}

fn lua_error(e: mlua::Error) -> String {
    let text = match &e {
        mlua::Error::CallbackError { cause, .. } => cause.to_string(),
        other => other.to_string(),
    };
    let first = text.lines().next().unwrap_or("");
    let first = first
        .strip_prefix("runtime error: ")
        .unwrap_or(first)
        .to_owned();
    if first.starts_with("ERR ") || first.starts_with("WRONGTYPE ") {
        first
    } else {
        format!("ERR Error running script: {first}")
    }
}

/// An error raised by `redis.call`, worded as Redis words it: the command's
/// error, then the script's SHA-1 and the line that called it.
fn call_error(e: &mlua::Error, source: &str) -> Option<String> {
    let mlua::Error::CallbackError { traceback, cause } = e else {
        return None;
    };
    let msg = cause.to_string();
    let msg = msg.strip_prefix("runtime error: ").unwrap_or(&msg);
    let line = traceback
        .split("user_script:")
        .nth(1)
        .and_then(|rest| rest.split(':').next())
        .unwrap_or("1");
    Some(format!(
        "{msg} script: {}, on @user_script:{line}.",
        crate::commands::sha1_hex(source.as_bytes())
    ))
}

fn run_lua(
    s: &Script,
    value: Value,
    now_ms: u64,
    value_len_max: usize,
) -> Result<(Value, Reply), String> {
    let lua = Lua::new_with(
        StdLib::STRING | StdLib::TABLE | StdLib::MATH,
        LuaOptions::default(),
    )
    .map_err(lua_error)?;
    lua.set_memory_limit(SCRIPT_MEMORY_MAX_BYTES)
        .map_err(lua_error)?;
    let spent = Rc::new(RefCell::new(0u64));
    {
        let spent = spent.clone();
        lua.set_hook(
            HookTriggers::new().every_nth_instruction(HOOK_EVERY_INSTRUCTIONS),
            move |_, _| {
                let mut n = spent.borrow_mut();
                *n += u64::from(HOOK_EVERY_INSTRUCTIONS);
                if *n > SCRIPT_INSTRUCTIONS_MAX {
                    return Err(mlua::Error::RuntimeError(format!(
                        "ERR script exceeded {SCRIPT_INSTRUCTIONS_MAX} instructions (SCRIPT_INSTRUCTIONS_MAX); nothing was applied"
                    )));
                }
                Ok(VmState::Continue)
            },
        );
    }
    let g = lua.globals();
    let e = lua_error;
    for name in [
        "dofile",
        "loadfile",
        "load",
        "require",
        "print",
        "collectgarbage",
    ] {
        g.set(name, LuaValue::Nil).map_err(e)?;
    }
    let math: mlua::Table = g.get("math").map_err(e)?;
    math.set("random", LuaValue::Nil).map_err(e)?;
    math.set("randomseed", LuaValue::Nil).map_err(e)?;
    let keys = lua.create_table().map_err(e)?;
    keys.set(1, lua.create_string(&s.key).map_err(e)?)
        .map_err(e)?;
    g.set("KEYS", keys).map_err(e)?;
    let argv = lua.create_table().map_err(e)?;
    for (i, a) in s.args.iter().enumerate() {
        argv.set(i + 1, lua.create_string(a).map_err(e)?)
            .map_err(e)?;
    }
    g.set("ARGV", argv).map_err(e)?;

    let state = Rc::new(RefCell::new(value));
    let redis = lua.create_table().map_err(e)?;
    for (name, protected) in [("call", false), ("pcall", true)] {
        let state = state.clone();
        let key = s.key.clone();
        let f = lua
            .create_function(move |lua, args: MultiValue| {
                let reply = call(&key, &state, args, now_ms, value_len_max);
                match reply {
                    Reply::Error(msg) if !protected => Err(mlua::Error::RuntimeError(msg)),
                    r => to_lua(lua, &r),
                }
            })
            .map_err(e)?;
        redis.set(name, f).map_err(e)?;
    }
    let status = lua
        .create_function(|lua, s: mlua::String| {
            let t = lua.create_table()?;
            t.set("ok", s)?;
            Ok(t)
        })
        .map_err(e)?;
    redis.set("status_reply", status).map_err(e)?;
    let error = lua
        .create_function(|lua, s: mlua::String| {
            let t = lua.create_table()?;
            t.set("err", s)?;
            Ok(t)
        })
        .map_err(e)?;
    redis.set("error_reply", error).map_err(e)?;
    g.set("redis", redis).map_err(e)?;

    let result: LuaValue = lua
        .load(&s.source[..])
        .set_name("@user_script")
        .eval()
        .map_err(|err| call_error(&err, &s.source).unwrap_or_else(|| lua_error(err)))?;
    let reply = from_lua(&result);
    if let Reply::Error(msg) = reply {
        return Err(msg);
    }
    let value = state.borrow().clone();
    Ok((value, reply))
}

/// One `redis.call`: planned by the command layer, applied to the working copy.
fn call(
    key: &[u8],
    state: &Rc<RefCell<Value>>,
    args: MultiValue,
    now_ms: u64,
    value_len_max: usize,
) -> Reply {
    let mut argv = Vec::with_capacity(args.len());
    for a in args.iter() {
        match a {
            LuaValue::String(s) => argv.push(s.as_bytes().to_vec()),
            LuaValue::Integer(n) => argv.push(n.to_string().into_bytes()),
            LuaValue::Number(n) => argv.push(crate::core::types::format_double(*n).into_bytes()),
            _ => {
                return Reply::error(
                    "ERR Lua redis lib command arguments must be strings or integers",
                )
            }
        }
    }
    let Some(name) = argv.first() else {
        return Reply::error("ERR Please specify at least one argument for this redis lib call");
    };
    let name = String::from_utf8_lossy(name).to_ascii_lowercase();
    if NOT_IN_SCRIPTS.contains(&name.as_str()) {
        return Reply::error("ERR This Redis command is not allowed from script");
    }
    match plan(argv, now_ms, &mut Session::default()) {
        Plan::Reply(r) => r,
        Plan::Core(c) => {
            let Some((k, command)) = c.single() else {
                return Reply::error(
                    "ERR synod runs a script on its one key (KEYS[1]); this command names several",
                );
            };
            if k != key {
                return Reply::error(format!(
                    "ERR synod runs a script on its one key (KEYS[1]); '{}' is another key",
                    String::from_utf8_lossy(k)
                ));
            }
            let mut value = state.borrow_mut();
            let (next, reply) = command.apply(&value, now_ms, value_len_max);
            *value = next;
            single_request_reply(&c, reply, now_ms)
        }
        _ => Reply::error("ERR This Redis command is not allowed from script"),
    }
}

/// A reply as Lua sees it (Redis's RESP2 conversion).
fn to_lua(lua: &Lua, r: &Reply) -> mlua::Result<LuaValue> {
    let table = |items: Vec<&Reply>| -> mlua::Result<LuaValue> {
        let t = lua.create_table()?;
        for (i, item) in items.into_iter().enumerate() {
            t.set(i + 1, to_lua(lua, item)?)?;
        }
        Ok(LuaValue::Table(t))
    };
    Ok(match r {
        Reply::Integer(n) => LuaValue::Integer(*n),
        Reply::Bulk(b) => LuaValue::String(lua.create_string(b)?),
        Reply::Double(d) => LuaValue::String(lua.create_string(d)?),
        Reply::Nil | Reply::NilArray => LuaValue::Boolean(false),
        Reply::Simple(s) => {
            let t = lua.create_table()?;
            t.set("ok", s.as_str())?;
            LuaValue::Table(t)
        }
        Reply::Error(s) => {
            let t = lua.create_table()?;
            t.set("err", s.as_str())?;
            LuaValue::Table(t)
        }
        Reply::Array(items) | Reply::Set(items) => table(items.iter().collect())?,
        Reply::Map(pairs) | Reply::Pairs(pairs) => {
            table(pairs.iter().flat_map(|(k, v)| [k, v]).collect())?
        }
    })
}

/// A script's result as a reply (Redis's Lua-to-RESP conversion).
fn from_lua(v: &LuaValue) -> Reply {
    match v {
        LuaValue::Nil | LuaValue::Boolean(false) => Reply::Nil,
        LuaValue::Boolean(true) => Reply::Integer(1),
        LuaValue::Integer(n) => Reply::Integer(*n),
        LuaValue::Number(n) => Reply::Integer(*n as i64),
        LuaValue::String(s) => Reply::Bulk(s.as_bytes().to_vec()),
        LuaValue::Table(t) => {
            if let Ok(LuaValue::String(e)) = t.raw_get::<LuaValue>("err") {
                return Reply::error(e.to_string_lossy());
            }
            if let Ok(LuaValue::String(ok)) = t.raw_get::<LuaValue>("ok") {
                return Reply::Simple(ok.to_string_lossy());
            }
            let mut items = Vec::new();
            for i in 1.. {
                match t.raw_get::<LuaValue>(i) {
                    Ok(LuaValue::Nil) | Err(_) => break,
                    Ok(item) => items.push(from_lua(&item)),
                }
            }
            Reply::Array(items)
        }
        _ => Reply::Nil,
    }
}

/// A reply as the core's answer (the same shapes).
fn answer(r: &Reply) -> Result<Answer, String> {
    let pairs = |ps: &[(Reply, Reply)]| -> Result<Vec<(Answer, Answer)>, String> {
        ps.iter()
            .map(|(k, v)| Ok((answer(k)?, answer(v)?)))
            .collect()
    };
    Ok(match r {
        Reply::Error(e) => return Err(e.clone()),
        Reply::Simple(s) => Answer::Status(s.clone()),
        Reply::Integer(n) => Answer::Int(*n),
        Reply::Bulk(b) => Answer::Bulk(b.clone()),
        Reply::Nil => Answer::Nil,
        Reply::NilArray => Answer::NilArray,
        Reply::Double(d) => Answer::Double(d.clone()),
        Reply::Array(items) => Answer::Array(items.iter().map(answer).collect::<Result<_, _>>()?),
        Reply::Set(items) => Answer::Set(items.iter().map(answer).collect::<Result<_, _>>()?),
        Reply::Map(ps) => Answer::Map(pairs(ps)?),
        Reply::Pairs(ps) => Answer::Pairs(pairs(ps)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::command::Runner;
    use crate::core::Record;

    fn script(source: &str, args: &[&str]) -> Script {
        Script {
            source: source.into(),
            key: b"k".to_vec(),
            args: args.iter().map(|a| a.as_bytes().to_vec()).collect(),
            runner: Runner(Some(run)),
        }
    }

    fn v(s: &str) -> Value {
        Some(Record::new(s.as_bytes()))
    }

    /// redis-py's Lock release script, word for word.
    const RELEASE: &str = "local token = redis.call('get', KEYS[1])
if not token or token ~= ARGV[1] then
    return 0
end
redis.call('del', KEYS[1])
return 1";

    #[test]
    fn a_script_is_one_change_function_on_its_key() {
        let s = script(RELEASE, &["me"]);
        assert_eq!(
            run(&s, &v("me"), 1_000, 1 << 20),
            (None, CoreReply::Nested(Answer::Int(1)))
        );
        assert_eq!(
            run(&s, &v("other"), 1_000, 1 << 20),
            (v("other"), CoreReply::Nested(Answer::Int(0)))
        );
    }

    #[test]
    fn a_failing_script_changes_nothing() {
        let s = script("redis.call('set', KEYS[1], 'x'); error('boom')", &[]);
        let (value, reply) = run(&s, &v("old"), 1_000, 1 << 20);
        assert_eq!(value, v("old"));
        assert!(matches!(reply, CoreReply::Error(e) if e.contains("boom")));
        let other = script("return redis.call('get', 'elsewhere')", &[]);
        let (_, reply) = run(&other, &v("old"), 1_000, 1 << 20);
        assert!(matches!(reply, CoreReply::Error(e) if e.contains("another key")));
    }

    #[test]
    fn the_sandbox_has_no_clock_randomness_or_files_and_a_budget() {
        for src in [
            "return os.time()",
            "return math.random()",
            "return io.open('/etc/passwd')",
            "return load('return 1')()",
            "while true do end",
        ] {
            let (value, reply) = run(&script(src, &[]), &v("a"), 1_000, 1 << 20);
            assert_eq!(value, v("a"), "{src}");
            assert!(matches!(reply, CoreReply::Error(_)), "{src}: {reply:?}");
        }
    }

    #[test]
    fn replies_convert_as_redis_converts_them() {
        let s = script(
            "return {1, 'two', false, redis.status_reply('OK'), 3.9}",
            &[],
        );
        let (_, reply) = run(&s, &None, 1_000, 1 << 20);
        assert_eq!(
            reply,
            CoreReply::Nested(Answer::Array(vec![
                Answer::Int(1),
                Answer::Bulk(b"two".to_vec()),
                Answer::Nil,
                Answer::Status("OK".into()),
                Answer::Int(3),
            ]))
        );
    }
}
