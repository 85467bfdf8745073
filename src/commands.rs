//! The command layer: RESP commands in, core requests out, and back.
//!
//! Pure and synchronous: the runtime's client connection hands [`plan`] the
//! arguments of one RESP command and gets either an immediate [`Reply`] (PING,
//! ECHO, COMMAND, HELLO, errors), a request for the node's state (INFO), or a
//! [`CoreCall`]: the per-key core requests to run and how to fold their
//! [`Outcome`]s, which may complete in any order, into the one RESP reply the
//! client expects. Multi-key commands (DEL, EXISTS) are one core request per
//! key, each linearizable on its own; the command as a whole is not atomic.
//!
//! Outcomes are told honestly: `Ok` gives the command's normal reply;
//! `Failed(reason)` becomes `-FAILED <reason>` (certainly not applied);
//! `Unknown(reason)` becomes `-UNKNOWN <reason>` (may have been applied).

use crate::core::{
    Command, Incarnation, Key, NodeId, Outcome, RecoveryProgress, Reply as CoreReply, Stats,
};
use crate::resp::Reply;
use std::fmt::Write as _;

/// The server's version, shown by INFO and HELLO.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// What to do with one client command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Plan {
    /// Answer at once with this reply.
    Reply(Reply),
    /// Answer `+OK`, then close the connection.
    Quit,
    /// Answer with the node's INFO text, for `section` (None: the default sections).
    Info { section: Option<String> },
    /// Run core requests, then fold their outcomes with [`CoreCall::finish`].
    Core(CoreCall),
    /// `ADMIN DECLARE-LOST`: a recovering node stops waiting for peers that
    /// lost their memory too, and votes (accepting that their data is gone).
    DeclareLost,
}

/// Core requests for one client command, and how to combine their outcomes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CoreCall {
    /// One request per key, in argument order.
    pub requests: Vec<(Key, Command)>,
    /// How to fold the outcomes into one reply.
    pub combine: Combine,
}

/// The shape of a command's reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Combine {
    /// GET: the value as a bulk string, or nil.
    Get,
    /// SET: `+OK`.
    Set,
    /// DEL: how many of the keys existed.
    Del,
    /// EXISTS: how many of the keys exist.
    Exists,
    /// CAS: 1 if it swapped, 0 if the comparison failed.
    Cas,
}

/// The commands this server knows: (name, arity as Redis states it, flags).
/// Arity N > 0 means exactly N arguments (command name included); -N means at least N.
const COMMANDS: &[(&str, i64, &[&str])] = &[
    ("get", 2, &["readonly", "fast"]),
    ("set", 3, &["write", "denyoom"]),
    ("del", -2, &["write"]),
    ("exists", -2, &["readonly", "fast"]),
    ("cas", 4, &["write", "denyoom"]),
    ("ping", -1, &["fast", "stale"]),
    ("echo", 2, &["fast"]),
    ("info", -1, &["loading", "stale"]),
    ("quit", -1, &["fast"]),
    ("command", -1, &["loading", "stale"]),
    ("hello", -1, &["fast", "noauth"]),
    ("config", -2, &["admin", "noscript"]),
    ("admin", 2, &["admin", "noscript"]),
];

/// Plans one command given its arguments (the command name first).
pub fn plan(args: Vec<Vec<u8>>) -> Plan {
    let Some(first) = args.first() else {
        // A parser never yields an empty command; answer as Redis would anyway.
        return Plan::Reply(Reply::error("ERR empty command"));
    };
    let name = String::from_utf8_lossy(first).to_ascii_lowercase();
    let Some(&(_, arity, _)) = COMMANDS.iter().find(|(n, _, _)| *n == name) else {
        return Plan::Reply(unknown_command(&args));
    };
    let argc = args.len() as i64;
    if (arity > 0 && argc != arity) || (arity < 0 && argc < -arity) {
        return Plan::Reply(wrong_arity(&name));
    }
    let mut rest = args.into_iter().skip(1);
    let rest = &mut rest;
    match name.as_str() {
        "get" => core(vec![(arg(rest), Command::Get)], Combine::Get),
        "set" => {
            let key = arg(rest);
            core(vec![(key, Command::Set(arg(rest)))], Combine::Set)
        }
        "del" => core(rest.map(|k| (k, Command::Del)).collect(), Combine::Del),
        "exists" => core(rest.map(|k| (k, Command::Get)).collect(), Combine::Exists),
        "cas" => {
            let key = arg(rest);
            let expected = arg(rest);
            let new = arg(rest);
            // An empty `expected` means "the key is absent" (RESP requests cannot
            // carry a nil bulk), so a CAS cannot expect the empty string.
            let expected = if expected.is_empty() {
                None
            } else {
                Some(expected)
            };
            core(vec![(key, Command::Cas { expected, new })], Combine::Cas)
        }
        "ping" => match argc {
            1 => Plan::Reply(Reply::Simple("PONG".into())),
            2 => Plan::Reply(Reply::Bulk(arg(rest))),
            _ => Plan::Reply(wrong_arity("ping")),
        },
        "echo" => Plan::Reply(Reply::Bulk(arg(rest))),
        "info" => match argc {
            1 => Plan::Info { section: None },
            2 => Plan::Info {
                section: Some(String::from_utf8_lossy(&arg(rest)).to_ascii_lowercase()),
            },
            _ => Plan::Reply(Reply::error("ERR syntax error")),
        },
        "quit" => Plan::Quit,
        "admin" => {
            let sub = String::from_utf8_lossy(&arg(rest)).to_ascii_lowercase();
            match sub.as_str() {
                "declare-lost" => Plan::DeclareLost,
                _ => Plan::Reply(Reply::error(
                    "ERR unknown ADMIN subcommand; known: ADMIN DECLARE-LOST",
                )),
            }
        }
        "command" => Plan::Reply(command_command(&arg(rest), argc)),
        "hello" => Plan::Reply(hello(argc, arg(rest))),
        "config" => {
            let sub = arg(rest);
            Plan::Reply(config(&sub, &arg(rest)))
        }
        _ => Plan::Reply(unknown_command(&[first_arg(&name)])),
    }
}

/// The next argument (arity was checked, so it is there).
fn arg(rest: &mut impl Iterator<Item = Vec<u8>>) -> Vec<u8> {
    rest.next().unwrap_or_default()
}

fn first_arg(name: &str) -> Vec<u8> {
    name.as_bytes().to_vec()
}

fn core(requests: Vec<(Key, Command)>, combine: Combine) -> Plan {
    Plan::Core(CoreCall { requests, combine })
}

/// Redis's text for an unknown command: the name (128 bytes at most), then the
/// first arguments, each quoted and followed by a space, while under 128 bytes.
pub fn unknown_command(args: &[Vec<u8>]) -> Reply {
    let name = args.first().map(|a| truncated(a, 128)).unwrap_or_default();
    let mut shown = String::new();
    for arg in args.iter().skip(1) {
        if shown.len() >= 128 {
            break;
        }
        let room = 128 - shown.len();
        let _ = write!(shown, "'{}' ", truncated(arg, room));
    }
    Reply::error(format!(
        "ERR unknown command '{name}', with args beginning with: {shown}"
    ))
}

fn truncated(bytes: &[u8], max: usize) -> String {
    String::from_utf8_lossy(&bytes[..bytes.len().min(max)]).into_owned()
}

/// Redis's text for a wrong number of arguments.
pub fn wrong_arity(name: &str) -> Reply {
    Reply::error(format!(
        "ERR wrong number of arguments for '{name}' command"
    ))
}

/// `COMMAND`, `COMMAND COUNT`, `COMMAND DOCS`, `COMMAND INFO name...`: enough for
/// redis-cli and client libraries to start.
fn command_command(sub: &[u8], argc: i64) -> Reply {
    let entry = |&(name, arity, flags): &(&str, i64, &[&str])| {
        let (first, last, step) = match name {
            "get" | "set" | "cas" => (1, 1, 1),
            "del" | "exists" => (1, -1, 1),
            _ => (0, 0, 0),
        };
        Reply::Array(vec![
            Reply::Bulk(name.as_bytes().to_vec()),
            Reply::Integer(arity),
            Reply::Array(flags.iter().map(|f| Reply::Simple((*f).into())).collect()),
            Reply::Integer(first),
            Reply::Integer(last),
            Reply::Integer(step),
        ])
    };
    if argc == 1 {
        return Reply::Array(COMMANDS.iter().map(entry).collect());
    }
    match String::from_utf8_lossy(sub).to_ascii_lowercase().as_str() {
        "count" => Reply::Integer(COMMANDS.len() as i64),
        // Docs are optional for clients: an empty map (flat array in RESP2).
        "docs" => Reply::Array(vec![]),
        // Names are not passed down here; answer nil for each is safe for clients.
        "info" => Reply::Array(vec![]),
        other => Reply::error(format!(
            "ERR unknown subcommand '{other}'. Try COMMAND HELP."
        )),
    }
}

/// `HELLO [protover ...]`: only RESP2.
fn hello(argc: i64, protover: Vec<u8>) -> Reply {
    if argc >= 2 {
        match std::str::from_utf8(&protover)
            .ok()
            .and_then(|s| s.parse::<i64>().ok())
        {
            Some(2) => {}
            Some(3) => return Reply::error("NOPROTO unsupported protocol version"),
            _ => return Reply::error("ERR Protocol version is not an integer or out of range"),
        }
    }
    let pair = |k: &str, v: Reply| [Reply::Bulk(k.as_bytes().to_vec()), v];
    Reply::Array(
        [
            pair("server", Reply::Bulk(b"synod".to_vec())),
            pair("version", Reply::Bulk(VERSION.as_bytes().to_vec())),
            pair("proto", Reply::Integer(2)),
            pair("id", Reply::Integer(0)),
            pair("mode", Reply::Bulk(b"standalone".to_vec())),
            pair("role", Reply::Bulk(b"master".to_vec())),
            pair("modules", Reply::Array(vec![])),
        ]
        .into_iter()
        .flatten()
        .collect(),
    )
}

/// `CONFIG GET param`: `save` and `appendonly` (redis-benchmark asks; we keep
/// nothing on disk), an empty list for anything else. Other subcommands are refused.
fn config(sub: &[u8], param: &[u8]) -> Reply {
    if sub.eq_ignore_ascii_case(b"get") {
        let param = String::from_utf8_lossy(param).to_ascii_lowercase();
        let value: &[u8] = match param.as_str() {
            "save" => b"",
            "appendonly" => b"no",
            _ => return Reply::Array(vec![]),
        };
        Reply::Array(vec![
            Reply::Bulk(param.into_bytes()),
            Reply::Bulk(value.to_vec()),
        ])
    } else {
        Reply::error("ERR CONFIG is not supported by synod, except CONFIG GET (empty)")
    }
}

impl CoreCall {
    /// Folds the outcomes (one per request, in request order) into one reply.
    pub fn finish(&self, outcomes: &[Outcome]) -> Reply {
        debug_assert_eq!(outcomes.len(), self.requests.len());
        if let Some(error) = self.error(outcomes) {
            return error;
        }
        let replies = outcomes.iter().filter_map(|o| match o {
            Outcome::Ok(r) => Some(r),
            _ => None,
        });
        match self.combine {
            Combine::Get => match replies.into_iter().next() {
                Some(CoreReply::Value(Some(v))) => Reply::Bulk(v.clone()),
                Some(CoreReply::Value(None)) => Reply::Nil,
                other => unexpected(other),
            },
            Combine::Set => match replies.into_iter().next() {
                Some(CoreReply::Done) => Reply::ok(),
                other => unexpected(other),
            },
            Combine::Cas => match replies.into_iter().next() {
                Some(CoreReply::Swapped(s)) => Reply::Integer(i64::from(*s)),
                other => unexpected(other),
            },
            Combine::Del => Reply::Integer(
                replies
                    .filter(|r| matches!(r, CoreReply::Deleted(true)))
                    .count() as i64,
            ),
            Combine::Exists => Reply::Integer(
                replies
                    .filter(|r| matches!(r, CoreReply::Value(Some(_))))
                    .count() as i64,
            ),
        }
    }

    /// The error reply, if any outcome is not Ok.
    fn error(&self, outcomes: &[Outcome]) -> Option<Reply> {
        let n = outcomes.len();
        let key_of = |i: usize| String::from_utf8_lossy(&self.requests[i].0).into_owned();
        let failed = outcomes
            .iter()
            .position(|o| matches!(o, Outcome::Failed(_)));
        let unknown = outcomes
            .iter()
            .position(|o| matches!(o, Outcome::Unknown(_)));
        let ok = outcomes
            .iter()
            .filter(|o| matches!(o, Outcome::Ok(_)))
            .count();
        let label = |i: usize| {
            if n > 1 {
                format!("key '{}': ", key_of(i))
            } else {
                String::new()
            }
        };
        if let Some(i) = unknown {
            let Outcome::Unknown(why) = &outcomes[i] else {
                return None;
            };
            return Some(Reply::error(format!("UNKNOWN {}{why}", label(i))));
        }
        let i = failed?;
        let Outcome::Failed(why) = &outcomes[i] else {
            return None;
        };
        let writes = matches!(self.combine, Combine::Del);
        if writes && ok > 0 {
            // Some keys were deleted, some certainly not: the command as a whole
            // neither failed nor succeeded.
            return Some(Reply::error(format!(
                "UNKNOWN applied to {ok} of {n} keys; {}{why}",
                label(i)
            )));
        }
        if why.starts_with("OOM ") {
            // Redis's own refusal at the memory cap, word for word.
            return Some(Reply::error(why.clone()));
        }
        Some(Reply::error(format!("FAILED {}{why}", label(i))))
    }
}

fn unexpected(reply: Option<&CoreReply>) -> Reply {
    Reply::error(format!(
        "ERR internal: unexpected core reply {reply:?}; please report this bug"
    ))
}

/// What INFO shows about one peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerInfo {
    /// The peer's id.
    pub node: NodeId,
    /// Its peer-port address.
    pub addr: String,
    /// Our outbound connection to it is up (we can send).
    pub up: bool,
    /// Inbound connections from it (it can send to us).
    pub inbound: usize,
    /// The highest incarnation we know for it (0: none).
    pub incarnation: Incarnation,
}

/// Everything INFO prints, gathered by the runtime.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InfoSnapshot {
    pub node_id: NodeId,
    pub incarnation: Incarnation,
    /// True: votes as an acceptor; false: recovering (coordinator only).
    pub voting: bool,
    pub uptime_s: u64,
    pub client_addr: String,
    pub peer_addr: String,
    pub cluster_id: String,
    pub members: Vec<NodeId>,
    pub replicas: usize,
    pub quorum: usize,
    pub membership_hash: u64,
    pub peers: Vec<PeerInfo>,
    /// Keys holding a value on this replica.
    pub keys: u64,
    /// Keys whose accepted value is a tombstone.
    pub tombstones: u64,
    pub round_clock: u64,
    pub rtt_us: u64,
    pub inflight: u64,
    pub clients_connected: u64,
    pub stats: Stats,
    /// Catch-up progress while recovering.
    pub recovery: Option<RecoveryProgress>,
    /// Runtime counters, in display order.
    pub runtime: Vec<(&'static str, u64)>,
}

/// Every counter of the core's [`Stats`], by name (destructured, so a new
/// counter cannot be forgotten here).
pub fn stats_fields(s: &Stats) -> Vec<(&'static str, u64)> {
    let Stats {
        requests,
        requests_ok,
        requests_failed,
        requests_unknown,
        rounds_started,
        rounds_chosen,
        attempts_retried,
        phase_timeouts,
        rejects_received,
        nacks_received,
        messages_received,
        messages_dropped,
        keys: _,       // in # Keyspace
        tombstones: _, // in # Keyspace
        memory_used_bytes,
        evicted_keys,
        expired_keys,
        tombstones_dropped,
        oom_refusals,
    } = s;
    vec![
        ("requests", *requests),
        ("requests_ok", *requests_ok),
        ("requests_failed", *requests_failed),
        ("requests_unknown", *requests_unknown),
        ("rounds_started", *rounds_started),
        ("rounds_chosen", *rounds_chosen),
        ("attempts_retried", *attempts_retried),
        ("phase_timeouts", *phase_timeouts),
        ("rejects_received", *rejects_received),
        ("nacks_received", *nacks_received),
        ("messages_received", *messages_received),
        ("messages_dropped", *messages_dropped),
        ("used_memory", *memory_used_bytes),
        ("evicted_keys", *evicted_keys),
        ("expired_keys", *expired_keys),
        ("tombstones_dropped", *tombstones_dropped),
        ("oom_refusals", *oom_refusals),
    ]
}

/// The sections INFO knows, in order.
pub const INFO_SECTIONS: [&str; 5] = ["server", "clients", "cluster", "keyspace", "stats"];

/// INFO's text in Redis's format (`# Section`, `field:value` lines, CRLF), for
/// one section, or all of them (`None`, "all", "default", "everything").
pub fn info_text(s: &InfoSnapshot, section: Option<&str>) -> String {
    let wanted = |name: &str| match section {
        None | Some("all") | Some("default") | Some("everything") => true,
        Some(x) => x == name,
    };
    let mut out = String::new();
    let mut block = |title: &str, lines: Vec<(String, String)>| {
        if !wanted(&title.to_ascii_lowercase()) {
            return;
        }
        if !out.is_empty() {
            out.push_str("\r\n");
        }
        let _ = write!(out, "# {title}\r\n");
        for (k, v) in lines {
            let _ = write!(out, "{k}:{v}\r\n");
        }
    };
    let l = |k: &str, v: String| (k.to_string(), v);
    block(
        "Server",
        vec![
            l("synod_version", VERSION.into()),
            l("node_id", s.node_id.to_string()),
            l("incarnation", s.incarnation.to_string()),
            l(
                "role",
                if s.voting { "voter" } else { "recovering" }.to_string(),
            ),
            l(
                "recovery",
                match &s.recovery {
                    Some(r) => format!(
                        "{}/{} keys repaired, {}/{} peer listings done",
                        r.keys_repaired, r.keys_listed, r.peers_done, r.peers_total
                    ),
                    None => "done".to_string(),
                },
            ),
            l("uptime_in_seconds", s.uptime_s.to_string()),
            l("client_addr", s.client_addr.clone()),
            l("peer_addr", s.peer_addr.clone()),
        ],
    );
    block(
        "Clients",
        vec![
            l("connected_clients", s.clients_connected.to_string()),
            l("requests_in_flight", s.inflight.to_string()),
        ],
    );
    let mut cluster = vec![
        l("cluster_id", s.cluster_id.clone()),
        l(
            "members",
            s.members
                .iter()
                .map(|m| m.to_string())
                .collect::<Vec<_>>()
                .join(","),
        ),
        l("replicas", s.replicas.to_string()),
        l("quorum", s.quorum.to_string()),
        l("membership_hash", format!("{:016x}", s.membership_hash)),
        l(
            "peers_up",
            s.peers.iter().filter(|p| p.up).count().to_string(),
        ),
        l(
            "peers_down",
            s.peers.iter().filter(|p| !p.up).count().to_string(),
        ),
        l("round_clock", s.round_clock.to_string()),
        l("rtt_us", s.rtt_us.to_string()),
    ];
    for p in &s.peers {
        cluster.push(l(
            &format!("peer{}", p.node),
            format!(
                "addr={},state={},inbound={},incarnation={}",
                p.addr,
                if p.up { "up" } else { "down" },
                p.inbound,
                p.incarnation
            ),
        ));
    }
    block("Cluster", cluster);
    block(
        "Keyspace",
        vec![
            l("keys", s.keys.to_string()),
            l("tombstones", s.tombstones.to_string()),
            l("db0", format!("keys={},expires=0,avg_ttl=0", s.keys)),
        ],
    );
    let mut stats: Vec<_> = stats_fields(&s.stats)
        .into_iter()
        .map(|(k, v)| l(k, v.to_string()))
        .collect();
    stats.extend(s.runtime.iter().map(|(k, v)| l(k, v.to_string())));
    block("Stats", stats);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &[&str]) -> Vec<Vec<u8>> {
        s.iter().map(|a| a.as_bytes().to_vec()).collect()
    }

    fn reply(s: &[&str]) -> Reply {
        match plan(args(s)) {
            Plan::Reply(r) => r,
            other => panic!("expected an immediate reply, got {other:?}"),
        }
    }

    fn call(s: &[&str]) -> CoreCall {
        match plan(args(s)) {
            Plan::Core(c) => c,
            other => panic!("expected a core call, got {other:?}"),
        }
    }

    fn ok(r: CoreReply) -> Outcome {
        Outcome::Ok(r)
    }

    #[test]
    fn unknown_command_matches_redis_text() {
        assert_eq!(
            reply(&["foo", "a", "b"]),
            Reply::Error("ERR unknown command 'foo', with args beginning with: 'a' 'b' ".into())
        );
        assert_eq!(
            reply(&["foo"]),
            Reply::Error("ERR unknown command 'foo', with args beginning with: ".into())
        );
    }

    #[test]
    fn unknown_command_shows_at_most_about_128_bytes_of_args() {
        let long = "x".repeat(300);
        let Reply::Error(e) = reply(&["foo", &long, "b"]) else {
            panic!()
        };
        assert_eq!(
            e,
            format!(
                "ERR unknown command 'foo', with args beginning with: '{}' ",
                "x".repeat(128)
            )
        );
    }

    #[test]
    fn wrong_arity_matches_redis_text() {
        assert_eq!(
            reply(&["GET"]),
            Reply::Error("ERR wrong number of arguments for 'get' command".into())
        );
        assert_eq!(
            reply(&["set", "k"]),
            Reply::Error("ERR wrong number of arguments for 'set' command".into())
        );
        assert_eq!(
            reply(&["del"]),
            Reply::Error("ERR wrong number of arguments for 'del' command".into())
        );
        assert_eq!(
            reply(&["ping", "a", "b"]),
            Reply::Error("ERR wrong number of arguments for 'ping' command".into())
        );
    }

    #[test]
    fn ping_and_echo() {
        assert_eq!(reply(&["PING"]), Reply::Simple("PONG".into()));
        assert_eq!(reply(&["ping", "hi"]), Reply::Bulk(b"hi".to_vec()));
        assert_eq!(reply(&["echo", "x y"]), Reply::Bulk(b"x y".to_vec()));
    }

    #[test]
    fn quit_and_info_plans() {
        assert_eq!(plan(args(&["QUIT"])), Plan::Quit);
        assert_eq!(plan(args(&["info"])), Plan::Info { section: None });
        assert_eq!(
            plan(args(&["INFO", "Stats"])),
            Plan::Info {
                section: Some("stats".into())
            }
        );
    }

    #[test]
    fn hello_speaks_only_resp2() {
        assert_eq!(
            reply(&["hello", "3"]),
            Reply::Error("NOPROTO unsupported protocol version".into())
        );
        let Reply::Array(items) = reply(&["hello", "2"]) else {
            panic!()
        };
        assert_eq!(items.len(), 14);
        assert_eq!(items[0], Reply::Bulk(b"server".to_vec()));
        assert_eq!(items[5], Reply::Integer(2));
        assert!(matches!(reply(&["hello"]), Reply::Array(_)));
        assert!(matches!(reply(&["hello", "x"]), Reply::Error(_)));
    }

    #[test]
    fn command_is_enough_for_clients() {
        assert_eq!(reply(&["command", "docs"]), Reply::Array(vec![]));
        assert_eq!(
            reply(&["command", "count"]),
            Reply::Integer(COMMANDS.len() as i64)
        );
        let Reply::Array(all) = reply(&["command"]) else {
            panic!()
        };
        assert_eq!(all.len(), COMMANDS.len());
    }

    #[test]
    fn config_get_answers_what_benchmarks_ask() {
        assert_eq!(
            reply(&["config", "get", "appendonly"]),
            Reply::Array(vec![
                Reply::Bulk(b"appendonly".to_vec()),
                Reply::Bulk(b"no".to_vec())
            ])
        );
        assert_eq!(reply(&["config", "get", "maxmemory"]), Reply::Array(vec![]));
        assert!(matches!(
            reply(&["config", "set", "a", "b"]),
            Reply::Error(_)
        ));
    }

    #[test]
    fn get_set_cas_plans() {
        assert_eq!(
            call(&["get", "k"]).requests,
            vec![(b"k".to_vec(), Command::Get)]
        );
        assert_eq!(
            call(&["SET", "k", "v"]).requests,
            vec![(b"k".to_vec(), Command::Set(b"v".to_vec()))]
        );
        assert_eq!(
            call(&["cas", "k", "a", "b"]).requests,
            vec![(
                b"k".to_vec(),
                Command::Cas {
                    expected: Some(b"a".to_vec()),
                    new: b"b".to_vec()
                }
            )]
        );
        // Empty expected = the key must be absent.
        assert_eq!(
            call(&["cas", "k", "", "b"]).requests,
            vec![(
                b"k".to_vec(),
                Command::Cas {
                    expected: None,
                    new: b"b".to_vec()
                }
            )]
        );
    }

    #[test]
    fn ok_outcomes_give_the_normal_replies() {
        let get = call(&["get", "k"]);
        assert_eq!(
            get.finish(&[ok(CoreReply::Value(Some(b"v".to_vec())))]),
            Reply::Bulk(b"v".to_vec())
        );
        assert_eq!(get.finish(&[ok(CoreReply::Value(None))]), Reply::Nil);
        let set = call(&["set", "k", "v"]);
        assert_eq!(set.finish(&[ok(CoreReply::Done)]), Reply::ok());
        let cas = call(&["cas", "k", "a", "b"]);
        assert_eq!(
            cas.finish(&[ok(CoreReply::Swapped(true))]),
            Reply::Integer(1)
        );
        assert_eq!(
            cas.finish(&[ok(CoreReply::Swapped(false))]),
            Reply::Integer(0)
        );
    }

    #[test]
    fn del_and_exists_count_keys() {
        let del = call(&["del", "a", "b", "c"]);
        assert_eq!(del.requests.len(), 3);
        assert!(del.requests.iter().all(|(_, c)| *c == Command::Del));
        assert_eq!(
            del.finish(&[
                ok(CoreReply::Deleted(true)),
                ok(CoreReply::Deleted(false)),
                ok(CoreReply::Deleted(true)),
            ]),
            Reply::Integer(2)
        );
        let exists = call(&["exists", "a", "b"]);
        assert_eq!(
            exists.finish(&[
                ok(CoreReply::Value(Some(vec![]))),
                ok(CoreReply::Value(None))
            ]),
            Reply::Integer(1)
        );
    }

    #[test]
    fn failed_and_unknown_outcomes_are_told_honestly() {
        let set = call(&["set", "k", "v"]);
        assert_eq!(
            set.finish(&[Outcome::Failed("no quorum".into())]),
            Reply::Error("FAILED no quorum".into())
        );
        assert_eq!(
            set.finish(&[Outcome::Unknown("timed out".into())]),
            Reply::Error("UNKNOWN timed out".into())
        );
        let del = call(&["del", "a", "b"]);
        // One deleted, one certainly not: neither failed nor ok as a whole.
        assert_eq!(
            del.finish(&[
                ok(CoreReply::Deleted(true)),
                Outcome::Failed("no quorum".into())
            ]),
            Reply::Error("UNKNOWN applied to 1 of 2 keys; key 'b': no quorum".into())
        );
        assert_eq!(
            del.finish(&[Outcome::Failed("x".into()), Outcome::Failed("y".into())]),
            Reply::Error("FAILED key 'a': x".into())
        );
        // Reads never change anything: a failed read is a failed EXISTS.
        let exists = call(&["exists", "a", "b"]);
        assert_eq!(
            exists.finish(&[ok(CoreReply::Value(None)), Outcome::Failed("x".into())]),
            Reply::Error("FAILED key 'b': x".into())
        );
    }

    #[test]
    fn info_has_every_section_in_redis_format() {
        let snap = InfoSnapshot {
            node_id: 2,
            incarnation: 99,
            voting: false,
            members: vec![1, 2, 3],
            replicas: 3,
            quorum: 2,
            peers: vec![PeerInfo {
                node: 1,
                addr: "127.0.0.1:7101".into(),
                up: true,
                inbound: 1,
                incarnation: 5,
            }],
            keys: 4,
            recovery: Some(RecoveryProgress {
                keys_listed: 50,
                keys_repaired: 12,
                peers_done: 1,
                peers_total: 2,
            }),
            runtime: vec![("frames_sent", 7)],
            ..InfoSnapshot::default()
        };
        let text = info_text(&snap, None);
        for needle in [
            "# Server\r\n",
            "node_id:2\r\n",
            "incarnation:99\r\n",
            "role:recovering\r\n",
            "recovery:12/50 keys repaired, 1/2 peer listings done\r\n",
            "# Cluster\r\n",
            "members:1,2,3\r\n",
            "peer1:addr=127.0.0.1:7101,state=up,inbound=1,incarnation=5\r\n",
            "# Keyspace\r\n",
            "keys:4\r\n",
            "db0:keys=4,expires=0,avg_ttl=0\r\n",
            "# Stats\r\n",
            "rounds_chosen:0\r\n",
            "frames_sent:7\r\n",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in {text}");
        }
        let only = info_text(&snap, Some("keyspace"));
        assert!(only.starts_with("# Keyspace\r\n"), "{only}");
        assert!(!only.contains("# Server"));
        assert_eq!(info_text(&snap, Some("nosuch")), "");
    }
}
