//! Every setting of `synod node` in one table: its flag, its config-file key,
//! its CONFIG GET/SET name (Redis's where Redis has the setting, e.g.
//! `maxmemory`), whether CONFIG SET may change it while the node runs, and
//! how to read and write it on [`NodeOptions`].
//!
//! The flag parser (`src/bin/synod.rs`), the config file (`--config
//! synod.toml`) and CONFIG GET/SET (answered by the runtime's event loop) all
//! read this table, so a setting exists in all three or in none.
//!
//! To add a setting: a field in [`NodeOptions`] (with its default in
//! `NodeOptions::new`) and one entry in [`SETTINGS`]. If it is `live`, make
//! the runtime act on the change in `event_loop.rs` (`on_config_set`).
//!
//! Precedence: defaults, then the config file, then flags.

use crate::commands::{glob_match, Acl};
use crate::core::{Eviction, NodeId};
use crate::resp::Reply;
use crate::runtime::NodeOptions;
use std::collections::BTreeMap;
use std::net::SocketAddr;

/// One setting.
pub struct Setting {
    /// Its name in CONFIG GET/SET and in the config file: Redis's name where
    /// Redis has the setting, else the flag's.
    pub name: &'static str,
    /// The `synod node` flag, without `--` (None: a fixed answer for Redis
    /// clients, not settable). The config file accepts it as a key too.
    pub flag: Option<&'static str>,
    /// A flag without a value (`--bootstrap`); `true`/`false` in the file.
    pub switch: bool,
    /// CONFIG SET may change it while the node runs.
    pub live: bool,
    /// What it does, for `synod node --help`.
    pub help: &'static str,
    /// Its value as CONFIG GET shows it.
    pub get: fn(&NodeOptions) -> String,
    /// Parses and stores a value; the error says what a value must be.
    pub set: fn(&mut NodeOptions, &str) -> Result<(), String>,
}

fn fixed(_: &mut NodeOptions, _: &str) -> Result<(), String> {
    Err("synod keeps nothing on disk and has one database; this is fixed".into())
}

fn parse<T: std::str::FromStr>(v: &str, what: &str) -> Result<T, String> {
    v.trim().parse().map_err(|_| format!("'{v}' is not {what}"))
}

/// Every setting. CONFIG GET lists them in this order.
pub const SETTINGS: &[Setting] = &[
    Setting {
        name: "id",
        flag: Some("id"),
        switch: false,
        live: false,
        help: "This node's id (a member of --peers).",
        get: |o| o.node_id.to_string(),
        set: |o, v| {
            o.node_id = parse::<NodeId>(v, "a node id (a number)")?;
            Ok(())
        },
    },
    Setting {
        name: "client-addr",
        flag: Some("client-addr"),
        switch: false,
        live: false,
        help: "Where clients connect (Redis protocol): IP:PORT.",
        get: |o| o.client_addr.to_string(),
        set: |o, v| {
            o.client_addr = parse::<SocketAddr>(v, "an IP:PORT address")?;
            Ok(())
        },
    },
    Setting {
        name: "peer-addr",
        flag: Some("peer-addr"),
        switch: false,
        live: false,
        help: "Where peers connect: IP:PORT (0.0.0.0:PORT listens on every address). \
               Its port must be this node's port in --peers.",
        get: |o| o.peer_addr.to_string(),
        set: |o, v| {
            o.peer_addr = parse::<SocketAddr>(v, "an IP:PORT address")?;
            Ok(())
        },
    },
    Setting {
        name: "peers",
        flag: Some("peers"),
        switch: false,
        live: false,
        help: "Every member, this node included: ID=HOST:PORT,ID=HOST:PORT,... HOST is an \
               IP or a name, resolved at start and on every reconnect.",
        get: |o| {
            o.peers
                .iter()
                .map(|(id, a)| format!("{id}={a}"))
                .collect::<Vec<_>>()
                .join(",")
        },
        set: |o, v| {
            o.peers = parse_peers(v)?;
            Ok(())
        },
    },
    Setting {
        name: "replicas",
        flag: Some("replicas"),
        switch: false,
        live: false,
        help: "N: replicas per key (at most the number of members). Default 3.",
        get: |o| o.replicas.to_string(),
        set: |o, v| {
            o.replicas = parse(v, "a number of replicas")?;
            Ok(())
        },
    },
    Setting {
        name: "cluster-id",
        flag: Some("cluster-id"),
        switch: false,
        live: false,
        help: "The cluster's name; nodes of different clusters refuse each other. Default synod.",
        get: |o| o.cluster_id.clone(),
        set: |o, v| {
            o.cluster_id = v.to_string();
            Ok(())
        },
    },
    Setting {
        name: "bootstrap",
        flag: Some("bootstrap"),
        switch: true,
        live: false,
        help: "A fresh cluster: vote at once. Never give it to a restarted node (so never \
               put it in a config file a restart reads).",
        get: |o| yes_no(o.bootstrap),
        set: |o, v| {
            o.bootstrap = parse_bool(v)?;
            Ok(())
        },
    },
    Setting {
        name: "join",
        flag: Some("join"),
        switch: true,
        live: false,
        help: "A node joining a running cluster: it starts knowing no membership, learns it \
               from the members in --peers (list them and this node), and serves once \
               `synod admin add-node ID ADDR` on a member made it one. Give --bootstrap \
               too the first time (an empty new node may vote at once).",
        get: |o| yes_no(o.join),
        set: |o, v| {
            o.join = parse_bool(v)?;
            Ok(())
        },
    },
    Setting {
        name: "secret-file",
        flag: Some("secret-file"),
        switch: false,
        live: false,
        help: "File holding the cluster secret (16+ bytes, mode 600; the same on every \
               member): peers must prove they hold it, and every frame between nodes is \
               authenticated. Without it the peer port takes loopback connections only \
               (docs/security.md). CONFIG GET shows only whether one is set.",
        get: |o| if o.secret.is_some() { "(set)" } else { "" }.into(),
        set: |o, v| {
            o.secret = Some(crate::auth::ClusterSecret::from_file(
                std::path::Path::new(v.trim()),
            )?);
            Ok(())
        },
    },
    Setting {
        name: "requirepass-file",
        flag: Some("requirepass-file"),
        switch: false,
        live: false,
        help: "File holding the default user's password (Redis's requirepass, kept off the \
               command line): clients must AUTH first. CONFIG GET shows only whether one is set.",
        get: |o| if o.acl.requires_auth() { "(set)" } else { "" }.into(),
        set: |o, v| {
            let path = v.trim();
            let text =
                std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?;
            let pass = text.trim_end_matches(['\r', '\n']);
            if pass.is_empty() {
                return Err(format!("{path} is empty"));
            }
            o.acl = std::sync::Arc::new(Acl::with_requirepass(pass.as_bytes()));
            Ok(())
        },
    },
    Setting {
        name: "aclfile",
        flag: Some("users-file"),
        switch: false,
        live: false,
        help: "Users file, Redis's ACL file syntax (a subset): lines `user NAME on \
               >PASSWORD ~* +@read|+@write|+@all` for read-only, read-write and admin users \
               (docs/security.md). CONFIG GET shows only whether one is set.",
        get: |o| if o.acl.requires_auth() { "(set)" } else { "" }.into(),
        set: |o, v| {
            let path = v.trim();
            let text =
                std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?;
            o.acl = std::sync::Arc::new(
                Acl::from_users_file(&text).map_err(|e| format!("{path}: {e}"))?,
            );
            Ok(())
        },
    },
    Setting {
        name: "protected-mode",
        flag: Some("protected-mode"),
        switch: false,
        live: false,
        help: "yes (default) or no. As Redis: with no password, clients that are not on \
               loopback are refused with an explanation.",
        get: |o| yes_no(o.protected_mode),
        set: |o, v| {
            o.protected_mode = parse_bool(v)?;
            Ok(())
        },
    },
    Setting {
        name: "tls-cert-file",
        flag: Some("tls-cert-file"),
        switch: false,
        live: false,
        help: "This node's TLS certificate (chain), PEM: for the TLS client port and, with \
               --tls-cluster, the peer link (docs/security.md, TLS).",
        get: |o| o.tls.cert_file.clone(),
        set: |o, v| {
            o.tls.cert_file = v.trim().to_string();
            Ok(())
        },
    },
    Setting {
        name: "tls-key-file",
        flag: Some("tls-key-file"),
        switch: false,
        live: false,
        help: "The private key of --tls-cert-file, PEM.",
        get: |o| o.tls.key_file.clone(),
        set: |o, v| {
            o.tls.key_file = v.trim().to_string();
            Ok(())
        },
    },
    Setting {
        name: "tls-ca-cert-file",
        flag: Some("tls-ca-cert-file"),
        switch: false,
        live: false,
        help: "The CA certificate(s), PEM, that peers' certificates (--tls-cluster) and \
               clients' (--tls-auth-clients) must be signed by.",
        get: |o| o.tls.ca_cert_file.clone(),
        set: |o, v| {
            o.tls.ca_cert_file = v.trim().to_string();
            Ok(())
        },
    },
    Setting {
        name: "tls-clients",
        flag: Some("tls-clients"),
        switch: false,
        live: false,
        help: "yes or no (default): the client port speaks TLS only (redis-cli --tls); a \
               plain client is told so and closed. Needs --tls-cert-file and --tls-key-file.",
        get: |o| yes_no(o.tls.clients),
        set: |o, v| {
            o.tls.clients = parse_bool(v)?;
            Ok(())
        },
    },
    Setting {
        name: "tls-auth-clients",
        flag: Some("tls-auth-clients"),
        switch: false,
        live: false,
        help: "no (default), optional or yes: TLS clients must present a certificate signed \
               by --tls-ca-cert-file (Redis's default is yes; synod's clients prove who they \
               are with AUTH).",
        get: |o| o.tls.auth_clients.name().into(),
        set: |o, v| {
            o.tls.auth_clients = crate::runtime::tls::AuthClients::parse(v)?;
            Ok(())
        },
    },
    Setting {
        name: "tls-cluster",
        flag: Some("tls-cluster"),
        switch: false,
        live: false,
        help: "yes or no (default): peer links are mutual TLS, each side verifying the \
               other's certificate against --tls-ca-cert-file (set it on every member). \
               Certificates must name the hosts in --peers.",
        get: |o| yes_no(o.tls.cluster),
        set: |o, v| {
            o.tls.cluster = parse_bool(v)?;
            Ok(())
        },
    },
    Setting {
        name: "maxclients",
        flag: Some("maxclients"),
        switch: false,
        live: false,
        help: "Client connections at most; more are refused with Redis's error. Default 10000.",
        get: |o| o.runtime.client_connections_max.to_string(),
        set: |o, v| {
            o.runtime.client_connections_max = parse(v, "a number of clients")?;
            Ok(())
        },
    },
    Setting {
        name: "timeout",
        flag: Some("timeout"),
        switch: false,
        live: false,
        help: "Close a client idle for this many seconds (0: never, the default, as Redis).",
        get: |o| (o.runtime.client_idle_timeout_ms / 1_000).to_string(),
        set: |o, v| {
            let secs: u64 = parse(v, "a number of seconds")?;
            o.runtime.client_idle_timeout_ms = secs.saturating_mul(1_000);
            Ok(())
        },
    },
    Setting {
        name: "client-request-timeout-ms",
        flag: Some("client-request-timeout-ms"),
        switch: false,
        live: false,
        help: "A command started but not fully sent within this many ms closes the \
               connection, so half-sent requests do not hold buffers (0: never). Default 30000.",
        get: |o| o.runtime.client_request_deadline_ms.to_string(),
        set: |o, v| {
            o.runtime.client_request_deadline_ms = parse(v, "a number of ms")?;
            Ok(())
        },
    },
    Setting {
        name: "client-output-buffer-limit",
        flag: Some("client-output-buffer-limit"),
        switch: false,
        live: false,
        help: "Reply bytes a client may leave unread before it is disconnected (Redis's hard \
               limit; 64mb by default, 0: none). Redis's form `normal HARD SOFT SECS` is \
               accepted too (its HARD is used).",
        get: |o| format!("normal {} 0 0", o.runtime.client_output_buffer_limit_bytes),
        set: |o, v| {
            let words: Vec<&str> = v.split_whitespace().collect();
            let hard = match words.as_slice() {
                [b] => *b,
                ["normal", hard, _soft, _secs, ..] => *hard,
                _ => {
                    return Err(format!(
                        "'{v}' is not a byte amount or 'normal HARD SOFT SECS'"
                    ))
                }
            };
            o.runtime.client_output_buffer_limit_bytes = parse_memory(hard)? as usize;
            Ok(())
        },
    },
    Setting {
        name: "client-query-buffer-limit",
        flag: Some("client-query-buffer-limit"),
        switch: false,
        live: false,
        help: "Largest command a client may send, headers and arguments included.",
        get: |o| o.runtime.resp.command_size_max_bytes.to_string(),
        set: |o, v| {
            o.runtime.resp.command_size_max_bytes = parse_memory(v)? as usize;
            Ok(())
        },
    },
    Setting {
        name: "maxmemory",
        flag: Some("max-memory-bytes"),
        switch: false,
        live: true,
        help: "Memory cap for keys and values, in bytes (0: none; 100mb, 1gb also work). \
               Eviction starts at 90% of it; writes are refused with -OOM at it.",
        get: |o| o.memory_max_bytes.to_string(),
        set: |o, v| {
            o.memory_max_bytes = parse_memory(v)?;
            Ok(())
        },
    },
    Setting {
        name: "maxmemory-policy",
        flag: Some("eviction"),
        switch: false,
        live: true,
        help: "At the cap: noeviction (refuse writes, -OOM), lru or lfu (delete the least \
               recently / frequently used of 5 sampled keys, by consensus); Redis's \
               allkeys-lru and allkeys-lfu are the same.",
        get: |o| o.eviction.name().to_string(),
        set: |o, v| {
            o.eviction = Eviction::from_name(v.trim())
                .ok_or_else(|| format!("'{v}' is not noeviction, lru or lfu"))?;
            Ok(())
        },
    },
    Setting {
        name: "metrics-addr",
        flag: Some("metrics-addr"),
        switch: false,
        live: false,
        help: "Serve Prometheus metrics over HTTP at http://IP:PORT/metrics (empty: off).",
        get: |o| o.metrics_addr.map(|a| a.to_string()).unwrap_or_default(),
        set: |o, v| {
            o.metrics_addr = match v.trim() {
                "" => None,
                a => Some(parse::<SocketAddr>(a, "an IP:PORT address")?),
            };
            Ok(())
        },
    },
    Setting {
        name: "slowlog-log-slower-than",
        flag: Some("slowlog-log-slower-than"),
        switch: false,
        live: true,
        help: "SLOWLOG records commands slower than this many µs (0: all, -1: none). \
               Default 10000, as Redis.",
        get: |o| o.slowlog_slower_than_us.to_string(),
        set: |o, v| {
            o.slowlog_slower_than_us = parse::<i64>(v, "a number of µs")?.max(-1);
            Ok(())
        },
    },
    Setting {
        name: "slowlog-max-len",
        flag: Some("slowlog-max-len"),
        switch: false,
        live: true,
        help: "SLOWLOG keeps this many entries at most. Default 128, as Redis.",
        get: |o| o.slowlog_max_len.to_string(),
        set: |o, v| {
            o.slowlog_max_len = parse(v, "a number of entries")?;
            Ok(())
        },
    },
    Setting {
        name: "loglevel",
        flag: Some("loglevel"),
        switch: false,
        live: true,
        help: "Log level: error, warn, info, debug or trace (Redis's warning, notice and \
               verbose also work). Default info. RUST_LOG, if set, wins at start.",
        get: |o| o.log_level.as_str().to_ascii_lowercase(),
        set: |o, v| {
            o.log_level = parse_log_level(v)?;
            Ok(())
        },
    },
    Setting {
        name: "save",
        flag: None,
        switch: false,
        live: false,
        help: "",
        get: |_| String::new(),
        set: fixed,
    },
    Setting {
        name: "appendonly",
        flag: None,
        switch: false,
        live: false,
        help: "",
        get: |_| "no".into(),
        set: fixed,
    },
    Setting {
        name: "databases",
        flag: None,
        switch: false,
        live: false,
        help: "",
        get: |_| "1".into(),
        set: fixed,
    },
];

impl std::fmt::Debug for Setting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Setting({})", self.name)
    }
}

/// The setting a flag, config-file key or CONFIG name names.
pub fn find(name: &str) -> Option<&'static Setting> {
    let name = name.trim().to_ascii_lowercase();
    SETTINGS
        .iter()
        .find(|s| s.name == name || s.flag == Some(name.as_str()))
}

fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.into()
}

fn parse_bool(v: &str) -> Result<bool, String> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "1" => Ok(true),
        "false" | "no" | "0" => Ok(false),
        _ => Err(format!("'{v}' is not yes or no")),
    }
}

/// Bytes as Redis writes them: `1000`, `100kb`, `64mb`, `1gb` (k, m, g are
/// powers of 1000; kb, mb, gb of 1024).
pub fn parse_memory(v: &str) -> Result<u64, String> {
    let s = v.trim().to_ascii_lowercase();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    let mult: u64 = match unit {
        "" | "b" => 1,
        "k" => 1_000,
        "kb" => 1 << 10,
        "m" => 1_000_000,
        "mb" => 1 << 20,
        "g" => 1_000_000_000,
        "gb" => 1 << 30,
        _ => {
            return Err(format!(
                "'{v}' is not a memory value (e.g. 1000, 100mb, 1gb)"
            ))
        }
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .ok_or_else(|| format!("'{v}' is not a memory value (e.g. 1000, 100mb, 1gb)"))
}

fn parse_log_level(v: &str) -> Result<log::LevelFilter, String> {
    Ok(match v.trim().to_ascii_lowercase().as_str() {
        "off" | "nothing" => log::LevelFilter::Off,
        "error" => log::LevelFilter::Error,
        "warn" | "warning" => log::LevelFilter::Warn,
        "info" | "notice" => log::LevelFilter::Info,
        "debug" | "verbose" => log::LevelFilter::Debug,
        "trace" => log::LevelFilter::Trace,
        _ => return Err(format!("'{v}' is not error, warn, info, debug or trace")),
    })
}

/// `ID=HOST:PORT,ID=HOST:PORT,...`; HOST may be a name (resolved when dialed).
pub fn parse_peers(s: &str) -> Result<BTreeMap<NodeId, String>, String> {
    let mut peers = BTreeMap::new();
    for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let (id, addr) = item
            .split_once('=')
            .ok_or_else(|| format!("'{item}' is not ID=HOST:PORT"))?;
        let id: NodeId = id
            .trim()
            .parse()
            .map_err(|_| format!("'{id}' in '{item}' is not a node id (a number)"))?;
        let addr = addr.trim();
        let port_ok = addr
            .rsplit_once(':')
            .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
        if !port_ok {
            return Err(format!(
                "'{addr}' in '{item}' is not HOST:PORT (an IP or a name, then a port)"
            ));
        }
        if peers.insert(id, addr.to_string()).is_some() {
            return Err(format!("node id {id} is listed twice"));
        }
    }
    if peers.is_empty() {
        return Err("no members listed".into());
    }
    Ok(peers)
}

/// The settings named in a config file (TOML; keys are setting names or
/// flags), as (setting, value) pairs in file order.
pub fn parse_file(text: &str) -> Result<Vec<(&'static Setting, String)>, String> {
    let table: toml::Table = text.parse().map_err(|e| format!("{e}"))?;
    let mut out = Vec::new();
    for (key, value) in table {
        let setting = find(&key).filter(|s| s.flag.is_some()).ok_or_else(|| {
            format!(
                "unknown key '{key}'; known: {}",
                SETTINGS
                    .iter()
                    .filter(|s| s.flag.is_some())
                    .map(|s| s.name)
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })?;
        let text = match value {
            toml::Value::String(s) => s,
            toml::Value::Integer(n) => n.to_string(),
            toml::Value::Float(f) => f.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            // peers = ["1=a:7101", "2=b:7101"] or a table { 1 = "a:7101" }.
            toml::Value::Array(items) => items
                .iter()
                .map(|i| match i {
                    toml::Value::String(s) => Ok(s.clone()),
                    other => Err(format!("'{key}': {other:?} is not a string")),
                })
                .collect::<Result<Vec<_>, _>>()?
                .join(","),
            toml::Value::Table(t) => t
                .iter()
                .map(|(k, v)| match v {
                    toml::Value::String(s) => Ok(format!("{k}={s}")),
                    other => Err(format!("'{key}.{k}': {other:?} is not a string")),
                })
                .collect::<Result<Vec<_>, _>>()?
                .join(","),
            toml::Value::Datetime(d) => d.to_string(),
        };
        out.push((setting, text));
    }
    Ok(out)
}

/// Node options from a config file's text (if any) and flags (setting,
/// value), flags applied last. Fails naming the key or flag at fault, or a
/// required setting nobody gave.
pub fn build(
    file: Option<(&str, &str)>,
    flags: &[(&'static Setting, String)],
) -> Result<NodeOptions, String> {
    let mut o = NodeOptions::new(
        0,
        SocketAddr::from(([127, 0, 0, 1], 0)),
        BTreeMap::new(),
        false,
    );
    o.replicas = 3; // `synod node`'s default, whatever the member count.
    let mut given = Vec::new();
    if let Some((path, text)) = file {
        for (s, v) in parse_file(text).map_err(|e| format!("{path}: {e}"))? {
            (s.set)(&mut o, &v).map_err(|e| format!("{path}: {}: {e}", s.name))?;
            given.push(s.name);
        }
    }
    for (s, v) in flags {
        let flag = s.flag.unwrap_or(s.name);
        (s.set)(&mut o, v).map_err(|e| format!("--{flag}: {e}"))?;
        given.push(s.name);
    }
    for required in ["id", "client-addr", "peer-addr", "peers"] {
        if !given.contains(&required) {
            return Err(format!(
                "--{required} is required (as a flag or as `{required}` in the --config file)"
            ));
        }
    }
    Ok(o)
}

/// `CONFIG GET pattern...`: every setting whose name matches one of the
/// patterns (Redis's glob), as a flat name, value array.
pub fn config_get(o: &NodeOptions, patterns: &[String]) -> Reply {
    let mut out = Vec::new();
    for s in SETTINGS {
        let hit = patterns
            .iter()
            .any(|p| glob_match(p.to_ascii_lowercase().as_bytes(), s.name.as_bytes()));
        if hit {
            out.push((
                Reply::Bulk(s.name.as_bytes().to_vec()),
                Reply::Bulk((s.get)(o).into_bytes()),
            ));
        }
    }
    // A map in RESP3 (redis-py 8 reads it as a dict), flat in RESP2.
    Reply::Map(out)
}

/// `CONFIG SET name value...`: all or nothing, with Redis's error texts.
/// Returns the settings changed; `o` is untouched on an error.
pub fn config_set(
    o: &mut NodeOptions,
    pairs: &[(String, String)],
) -> Result<Vec<&'static Setting>, Reply> {
    let mut next = o.clone();
    let mut changed = Vec::new();
    for (name, value) in pairs {
        let Some(s) = SETTINGS
            .iter()
            .find(|s| s.name == name.to_ascii_lowercase())
        else {
            return Err(Reply::error(format!(
                "ERR Unknown option or number of arguments for CONFIG SET - '{name}'"
            )));
        };
        if !s.live {
            return Err(Reply::error(format!(
                "ERR CONFIG SET failed (possibly related to argument '{}') - can't set immutable config",
                s.name
            )));
        }
        (s.set)(&mut next, value).map_err(|e| {
            Reply::error(format!(
                "ERR CONFIG SET failed (possibly related to argument '{}') - {e}",
                s.name
            ))
        })?;
        changed.push(s);
    }
    *o = next;
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(pairs: &[(&str, &str)]) -> Vec<(&'static Setting, String)> {
        pairs
            .iter()
            .map(|(k, v)| (find(k).unwrap(), v.to_string()))
            .collect()
    }

    const BASE: &[(&str, &str)] = &[
        ("id", "1"),
        ("client-addr", "127.0.0.1:7001"),
        ("peer-addr", "127.0.0.1:7101"),
        ("peers", "1=127.0.0.1:7101,2=node2:7101"),
    ];

    #[test]
    fn every_setting_has_a_unique_name_and_flag_and_reads_back_what_it_set() {
        let o = build(None, &flags(BASE)).unwrap();
        for (i, s) in SETTINGS.iter().enumerate() {
            assert!(
                SETTINGS[i + 1..]
                    .iter()
                    .all(|t| t.name != s.name && (t.flag.is_none() || t.flag != s.flag)),
                "{} twice",
                s.name
            );
            if s.flag.is_some() {
                assert!(!s.help.is_empty(), "{} has no help", s.name);
                if ["secret-file", "requirepass-file", "aclfile"].contains(&s.name) {
                    continue; // Reads a file; CONFIG GET does not show it.
                }
                let mut copy = o.clone();
                (s.set)(&mut copy, &(s.get)(&o)).unwrap_or_else(|e| panic!("{}: {e}", s.name));
                assert_eq!((s.get)(&copy), (s.get)(&o), "{}", s.name);
            }
        }
    }

    #[test]
    fn the_file_gives_values_and_flags_override_them() {
        let file = r#"
            id = 2
            client-addr = "127.0.0.1:7002"
            peer-addr = "0.0.0.0:7101"
            peers = ["1=node1:7101", "2=node2:7101"]
            maxmemory = "100mb"
            eviction = "lru"
        "#;
        let o = build(
            Some(("synod.toml", file)),
            &flags(&[("max-memory-bytes", "1gb")]),
        )
        .unwrap();
        assert_eq!(o.node_id, 2);
        assert_eq!(o.memory_max_bytes, 1 << 30);
        assert_eq!(o.eviction, Eviction::Lru);
        assert_eq!(o.peers[&1], "node1:7101");
        assert_eq!(o.replicas, 3);
        let e = build(Some(("synod.toml", "nosuch = 1")), &[]).unwrap_err();
        assert!(
            e.starts_with("synod.toml: unknown key 'nosuch'; known: id,"),
            "{e}"
        );
        let e = build(Some(("synod.toml", "maxmemory = \"lots\"")), &[]).unwrap_err();
        assert!(e.contains("maxmemory: 'lots' is not a memory value"), "{e}");
        let e = build(None, &flags(&BASE[..3])).unwrap_err();
        assert!(e.starts_with("--peers is required"), "{e}");
    }

    #[test]
    fn config_get_and_set_answer_as_redis_does() {
        let mut o = build(None, &flags(BASE)).unwrap();
        let get = |o: &NodeOptions, p: &str| config_get(o, &[p.to_string()]);
        let pair = |k: &str, v: &str| {
            Reply::Map(vec![(
                Reply::Bulk(k.as_bytes().to_vec()),
                Reply::Bulk(v.as_bytes().to_vec()),
            )])
        };
        assert_eq!(get(&o, "maxmemory"), pair("maxmemory", "0"));
        assert_eq!(
            get(&o, "MAXMEMORY-policy"),
            pair("maxmemory-policy", "noeviction")
        );
        assert_eq!(get(&o, "appendonly"), pair("appendonly", "no"));
        assert_eq!(get(&o, "nosuch"), Reply::Map(vec![]));
        let Reply::Map(all) = get(&o, "*") else {
            panic!()
        };
        assert_eq!(all.len(), SETTINGS.len());
        let set = |o: &mut NodeOptions, k: &str, v: &str| {
            config_set(o, &[(k.to_string(), v.to_string())]).map(|c| c.len())
        };
        assert_eq!(set(&mut o, "maxmemory", "10mb"), Ok(1));
        assert_eq!(o.memory_max_bytes, 10 << 20);
        assert_eq!(set(&mut o, "maxmemory-policy", "allkeys-lfu"), Ok(1));
        assert_eq!(
            get(&o, "maxmemory-policy"),
            pair("maxmemory-policy", "allkeys-lfu")
        );
        assert_eq!(
            set(&mut o, "replicas", "5"),
            Err(Reply::error(
                "ERR CONFIG SET failed (possibly related to argument 'replicas') - can't set immutable config"
            ))
        );
        assert_eq!(
            set(&mut o, "foo", "1"),
            Err(Reply::error(
                "ERR Unknown option or number of arguments for CONFIG SET - 'foo'"
            ))
        );
        // All or nothing.
        let before = o.memory_max_bytes;
        let r = config_set(
            &mut o,
            &[
                ("maxmemory".into(), "1".into()),
                ("maxmemory-policy".into(), "bogus".into()),
            ],
        );
        assert!(r.is_err());
        assert_eq!(o.memory_max_bytes, before);
    }

    #[test]
    fn peers_parse_names_and_refuse_nonsense() {
        let p = parse_peers("1=127.0.0.1:7101, 2=node2.example:7102").unwrap();
        assert_eq!(p[&2], "node2.example:7102");
        assert!(parse_peers("1=127.0.0.1:7101,1=127.0.0.1:7102").is_err());
        assert!(parse_peers("x=127.0.0.1:7101").is_err());
        assert!(parse_peers("1:127.0.0.1:7101").is_err());
        assert!(parse_peers("1=node2").is_err());
        assert!(parse_peers("1=:7101").is_err());
        assert!(parse_peers("").is_err());
    }

    #[test]
    fn memory_values_read_as_redis_reads_them() {
        assert_eq!(parse_memory("1000"), Ok(1000));
        assert_eq!(parse_memory("1k"), Ok(1000));
        assert_eq!(parse_memory("1KB"), Ok(1024));
        assert_eq!(parse_memory("2gb"), Ok(2 << 30));
        assert!(parse_memory("-1").is_err());
        assert!(parse_memory("1tb").is_err());
        assert!(parse_memory("99999999999999999999gb").is_err());
    }
}
