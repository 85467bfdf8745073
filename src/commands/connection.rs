//! Connection commands: PING, ECHO, SELECT, HELLO, CLIENT, QUIT, and COMMAND
//! (which describes the table in spec.rs).

use super::spec::{self, spec, Family, Spec, NONE};
use super::{
    bulk, int_arg, reply, subcommand_error, unknown_command, upper, wrong_arity, Args, Plan,
    Planned, Session, VERSION,
};
use crate::core::command::parse_i64;
use crate::resp::{Protocol, Reply};

pub(super) const FAMILY: Family = Family {
    plan,
    commands: &[
        spec(
            "ping",
            -1,
            &["fast", "stale"],
            NONE,
            "connection",
            "Returns PONG, or the argument.",
        ),
        spec(
            "echo",
            2,
            &["fast"],
            NONE,
            "connection",
            "Returns the argument.",
        ),
        spec(
            "select",
            2,
            &["loading", "stale", "fast"],
            NONE,
            "connection",
            "Selects database 0, the only one.",
        ),
        spec(
            "hello",
            -1,
            &["fast", "noauth"],
            NONE,
            "connection",
            "Handshake: RESP2 or RESP3.",
        ),
        spec(
            "client",
            -2,
            &["stale"],
            NONE,
            "connection",
            "CLIENT ID, SETNAME, GETNAME, SETINFO, INFO, LIST.",
        ),
        spec(
            "quit",
            -1,
            &["fast"],
            NONE,
            "connection",
            "Closes the connection.",
        ),
        spec(
            "command",
            -1,
            &["loading", "stale"],
            NONE,
            "server",
            "Describes the commands.",
        ),
    ],
};

fn plan(c: &mut Args<'_>) -> Planned {
    let (name, a) = (c.name, &*c.a);
    let session = &mut *c.session;
    let key = || a[0].clone();
    match name {
        "ping" => match a {
            [] => reply(Reply::Simple("PONG".into())),
            [msg] => reply(Reply::Bulk(msg.clone())),
            _ => Err(wrong_arity("ping")),
        },
        "echo" => reply(Reply::Bulk(key())),
        "select" => {
            let db = int_arg(&a[0])?;
            if db != 0 {
                return Err(Reply::error("ERR DB index is out of range"));
            }
            reply(Reply::ok())
        }
        "hello" => reply(hello(a, session)),
        "client" => reply(client(a, session)),
        "quit" => Ok(Plan::Quit),
        "command" => reply(command_command(a)),
        _ => Err(unknown_command(&[name.as_bytes().to_vec()])),
    }
}

const CLIENT_SUBCOMMANDS: &[&str] = &["id", "setname", "getname", "setinfo", "info", "list"];
const COMMAND_SUBCOMMANDS: &[&str] = &["count", "list", "docs", "info"];

/// `COMMAND`, `COMMAND COUNT`, `COMMAND LIST`, `COMMAND DOCS [name...]`,
/// `COMMAND INFO [name...]`.
fn command_command(a: &[Vec<u8>]) -> Reply {
    let entry = |s: &Spec| {
        Reply::Array(vec![
            bulk(s.name),
            Reply::Integer(s.arity),
            Reply::Array(s.flags.iter().map(|f| Reply::Simple((*f).into())).collect()),
            Reply::Integer(s.keys.0),
            Reply::Integer(s.keys.1),
            Reply::Integer(s.keys.2),
        ])
    };
    let find = |n: &[u8]| {
        let n = String::from_utf8_lossy(n).to_ascii_lowercase();
        spec::all().find(|s| s.name == n)
    };
    let Some(sub) = a.first() else {
        return Reply::Array(spec::all().map(entry).collect());
    };
    let names = &a[1..];
    match upper(sub).as_str() {
        "COUNT" if names.is_empty() => Reply::Integer(spec::all().count() as i64),
        "LIST" if names.is_empty() => Reply::Array(spec::all().map(|s| bulk(s.name)).collect()),
        "DOCS" => {
            let docs = |s: &Spec| {
                (
                    bulk(s.name),
                    Reply::Map(vec![
                        (bulk("summary"), bulk(s.summary)),
                        (bulk("since"), bulk("1.0.0")),
                        (bulk("group"), bulk(s.group)),
                    ]),
                )
            };
            let chosen: Vec<&Spec> = if names.is_empty() {
                spec::all().collect()
            } else {
                names.iter().filter_map(|n| find(n)).collect()
            };
            Reply::Map(chosen.into_iter().map(docs).collect())
        }
        "INFO" => {
            if names.is_empty() {
                return Reply::Array(spec::all().map(entry).collect());
            }
            Reply::Array(
                names
                    .iter()
                    .map(|n| find(n).map_or(Reply::Nil, entry))
                    .collect(),
            )
        }
        _ => subcommand_error("command", sub, COMMAND_SUBCOMMANDS),
    }
}

/// `HELLO [protover [AUTH user pass] [SETNAME name]]`: only RESP2.
fn hello(a: &[Vec<u8>], session: &mut Session) -> Reply {
    let mut protocol = session.protocol;
    if let Some(v) = a.first() {
        protocol = match parse_i64(v) {
            Some(2) => Protocol::Resp2,
            Some(3) => Protocol::Resp3,
            Some(_) => return Reply::error("NOPROTO unsupported protocol version"),
            _ => return Reply::error("ERR Protocol version is not an integer or out of range"),
        };
    }
    let mut name = None;
    let mut i = 1;
    while i < a.len() {
        match upper(&a[i]).as_str() {
            "AUTH" if i + 2 < a.len() => {
                if let Err(e) = super::acl::authenticate(session, Some(&a[i + 1]), &a[i + 2]) {
                    return e;
                }
                i += 3;
            }
            "SETNAME" if i + 1 < a.len() => {
                name = Some(a[i + 1].clone());
                i += 2;
            }
            _ => {
                return Reply::error(format!(
                    "ERR Syntax error in HELLO option '{}'",
                    String::from_utf8_lossy(&a[i])
                ))
            }
        }
    }
    if !session.auth.authenticated {
        return Reply::error(
            "NOAUTH HELLO must be called with the client already authenticated, otherwise the \
             HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and \
             select the RESP protocol version at the same time",
        );
    }
    if let Some(n) = name {
        if let Err(e) = set_name(session, &n) {
            return e;
        }
    }
    session.protocol = protocol;
    let proto = match protocol {
        Protocol::Resp2 => 2,
        Protocol::Resp3 => 3,
    };
    let pair = |k: &str, v: Reply| (bulk(k), v);
    Reply::Map(vec![
        pair("server", bulk("synod")),
        pair("version", bulk(VERSION)),
        pair("proto", Reply::Integer(proto)),
        pair("id", Reply::Integer(session.id as i64)),
        pair("mode", bulk("standalone")),
        pair("role", bulk("master")),
        pair("modules", Reply::Array(vec![])),
    ])
}

fn set_name(session: &mut Session, name: &[u8]) -> Result<(), Reply> {
    if name.iter().any(|&c| !(b'!'..=b'~').contains(&c)) {
        return Err(Reply::error(
            "ERR Client names cannot contain spaces, newlines or special characters.",
        ));
    }
    session.name = (!name.is_empty()).then(|| String::from_utf8_lossy(name).into_owned());
    Ok(())
}

/// `CLIENT ID | SETNAME name | GETNAME | SETINFO attr value | INFO | LIST`.
fn client(a: &[Vec<u8>], session: &mut Session) -> Reply {
    let sub = upper(&a[0]);
    let rest = &a[1..];
    let info_line = |s: &Session| {
        format!(
            "id={} addr={} name={} db=0 lib-name={} lib-ver={}\n",
            s.id,
            s.addr,
            s.name.as_deref().unwrap_or(""),
            s.lib_name,
            s.lib_ver
        )
    };
    match (sub.as_str(), rest) {
        ("ID", []) => Reply::Integer(session.id as i64),
        ("SETNAME", [name]) => match set_name(session, name) {
            Ok(()) => Reply::ok(),
            Err(e) => e,
        },
        ("GETNAME", []) => match &session.name {
            Some(n) => bulk(n),
            None => Reply::Nil,
        },
        ("SETINFO", [attr, value]) => {
            let v = String::from_utf8_lossy(value).into_owned();
            match upper(attr).as_str() {
                "LIB-NAME" => session.lib_name = v,
                "LIB-VER" => session.lib_ver = v,
                _ => {
                    return Reply::error(format!(
                        "ERR Unrecognized option '{}'",
                        String::from_utf8_lossy(attr)
                    ))
                }
            }
            Reply::ok()
        }
        ("INFO", []) | ("LIST", []) => bulk(&info_line(session)),
        _ => subcommand_error("client", &a[0], CLIENT_SUBCOMMANDS),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::testing::*;
    use crate::commands::testing::{plan, reply};

    // ---- Connection commands ----

    #[test]
    fn ping_echo_select_quit_info() {
        assert_eq!(reply(&["PING"]), Reply::Simple("PONG".into()));
        assert_eq!(reply(&["ping", "hi"]), Reply::Bulk(k("hi")));
        assert_eq!(reply(&["echo", "x y"]), Reply::Bulk(k("x y")));
        assert_eq!(reply(&["select", "0"]), Reply::ok());
        assert_eq!(plan_at(&["QUIT"], NOW), Plan::Quit);
        assert_eq!(plan_at(&["info"], NOW), Plan::Info { sections: vec![] });
        assert_eq!(
            plan_at(&["INFO", "Stats", "server"], NOW),
            Plan::Info {
                sections: vec!["stats".into(), "server".into()]
            }
        );
    }

    #[test]
    fn hello_and_client_keep_per_connection_state() {
        let mut s = Session {
            id: 42,
            ..Session::default()
        };
        let mut run = |a: &[&str]| match plan(args(a), NOW, &mut s) {
            Plan::Reply(r) => r,
            other => panic!("{other:?}"),
        };
        let Reply::Map(items) = run(&["hello", "2", "setname", "me"]) else {
            panic!()
        };
        assert_eq!(items.len(), 7);
        assert_eq!(items[0].0, Reply::Bulk(k("server")));
        assert_eq!(items[2].1, Reply::Integer(2));
        assert_eq!(items[3].1, Reply::Integer(42));
        let Reply::Map(items) = run(&["hello", "3"]) else {
            panic!()
        };
        assert_eq!(items[2].1, Reply::Integer(3));
        assert_eq!(run(&["client", "getname"]), Reply::Bulk(k("me")));
        assert_eq!(run(&["CLIENT", "SETNAME", "other"]), Reply::ok());
        assert_eq!(run(&["client", "getname"]), Reply::Bulk(k("other")));
        assert_eq!(run(&["client", "setname", ""]), Reply::ok());
        assert_eq!(run(&["client", "getname"]), Reply::Nil);
        assert_eq!(run(&["client", "id"]), Reply::Integer(42));
        // What redis-py sends on connect.
        assert_eq!(
            run(&["CLIENT", "SETINFO", "LIB-NAME", "redis-py"]),
            Reply::ok()
        );
        assert_eq!(run(&["CLIENT", "SETINFO", "LIB-VER", "5.0.1"]), Reply::ok());
        let Reply::Bulk(line) = run(&["client", "info"]) else {
            panic!()
        };
        assert!(String::from_utf8(line).unwrap().contains("id=42 "));
        assert!(matches!(run(&["hello"]), Reply::Map(_)));
        assert_eq!(
            s.protocol,
            Protocol::Resp3,
            "HELLO without a version keeps it"
        );
    }

    #[test]
    fn command_describes_every_command() {
        assert_eq!(
            reply(&["command", "count"]),
            Reply::Integer(spec::all().count() as i64)
        );
        let Reply::Array(all) = reply(&["command"]) else {
            panic!()
        };
        assert_eq!(all.len(), spec::all().count());
        let Reply::Array(info) = reply(&["command", "info", "get", "nosuch"]) else {
            panic!()
        };
        assert_eq!(info[1], Reply::Nil);
        assert!(matches!(&info[0], Reply::Array(e) if e[1] == Reply::Integer(2)));
        let Reply::Map(docs) = reply(&["command", "docs", "mget"]) else {
            panic!()
        };
        assert_eq!(docs[0].0, Reply::Bulk(k("mget")));
        let Reply::Map(fields) = &docs[0].1 else {
            panic!()
        };
        assert!(fields.contains(&(
            Reply::Bulk(k("summary")),
            Reply::Bulk(k(
                "Returns the values of several keys. Each key is read linearizably; not atomic across keys."
            ))
        )));
        let Reply::Map(docs) = reply(&["command", "docs"]) else {
            panic!()
        };
        assert_eq!(docs.len(), spec::all().count());
        assert_eq!(reply(&["command", "docs", "nosuch"]), Reply::Map(vec![]));
    }
}
