//! The `synod` command: run a node, or talk to one like redis-cli.

use clap::{Args, Parser, Subcommand};
use std::process::ExitCode;
use synod::client::{Client, ClientError};
use synod::resp::Reply;
use synod::runtime::start_node;
use synod::settings::{Setting, SETTINGS};

/// synod: a leaderless, Paxos-replicated, in-memory key-value cache.
///
/// Every key is its own register, agreed by single-decree Paxos among the N
/// nodes that hold it; any node coordinates any request. Clients speak the
/// Redis protocol (redis-cli works) on each node's client port.
///
/// Start a fresh 3-node cluster (one command per node):
///
///   synod node --id 1 --client-addr 127.0.0.1:7001 --peer-addr 127.0.0.1:7101
///   --peers 1=127.0.0.1:7101,2=127.0.0.1:7102,3=127.0.0.1:7103 --bootstrap
///
/// then: synod set greeting hello; synod get greeting --node 127.0.0.1:7002
#[derive(Parser, Debug)]
#[command(name = "synod", version, about, long_about, verbatim_doc_comment)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Run a node (in the foreground; logs to stderr, RUST_LOG=info by default).
    ///
    /// Give every node the same --peers (every member, this node included) and
    /// --replicas: the handshake refuses peers with another view of the
    /// membership. Start a fresh cluster with --bootstrap on every node. A node
    /// restarted later must NOT get --bootstrap: it has forgotten its promises,
    /// so it does not vote and serves as a coordinator only (its keys are still
    /// served by the other replicas).
    Node(NodeArgs),
    /// GET KEY: print the value ("value") or (nil).
    Get {
        key: String,
        #[command(flatten)]
        target: Target,
    },
    /// SET KEY VALUE: print OK once a quorum of the key's replicas accepted it.
    Set {
        key: String,
        value: String,
        #[command(flatten)]
        target: Target,
    },
    /// DEL KEY...: print how many of the keys existed.
    Del {
        #[arg(required = true)]
        keys: Vec<String>,
        #[command(flatten)]
        target: Target,
    },
    /// CAS KEY EXPECTED NEW: compare-and-swap; prints (integer) 1 if swapped, 0 if not.
    ///
    /// Sets KEY to NEW only if it holds EXPECTED. With --expect-absent give
    /// only KEY NEW: swap only if the key is absent. (On the wire an empty
    /// EXPECTED means "absent", so a CAS cannot expect the empty string.)
    Cas {
        key: String,
        /// The value KEY must hold (or, with --expect-absent, the new value).
        #[arg(value_name = "EXPECTED")]
        first: String,
        /// The new value.
        #[arg(value_name = "NEW")]
        second: Option<String>,
        /// Swap only if KEY is absent (then give only KEY NEW).
        #[arg(long)]
        expect_absent: bool,
        #[command(flatten)]
        target: Target,
    },
    /// INFO [SECTION]: print the node's state (server, clients, cluster, keyspace, stats).
    Info {
        section: Option<String>,
        #[command(flatten)]
        target: Target,
    },
    /// PING: print PONG if the node answers.
    Ping {
        #[command(flatten)]
        target: Target,
    },
    /// Send any command to a node and print the reply as redis-cli does
    /// (`synod cli --addr 127.0.0.1:7002 SET k v EX 10`). Exits 1 on an error reply.
    Cli {
        /// The node's client address.
        #[arg(long, visible_alias = "node", default_value = "127.0.0.1:7001")]
        addr: String,
        /// Give up after this many milliseconds without an answer.
        #[arg(long, default_value_t = synod::client::DEFAULT_TIMEOUT_MS)]
        timeout_ms: u64,
        /// Connect with TLS (a node with --tls-clients yes), trusting this CA (PEM).
        #[arg(long, value_name = "CA_FILE")]
        tls_ca_cert_file: Option<String>,
        /// The command and its arguments.
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Operator actions on one node.
    Admin {
        #[command(subcommand)]
        action: AdminCmd,
    },
    /// Make a CA and a certificate it signs, for a local TLS cluster
    /// (`scripts/cluster.sh start --tls` runs it): DIR/ca.crt, ca.key,
    /// node.crt, node.key. One certificate, for every node and for clients.
    GenCerts {
        /// Where to write the files.
        #[arg(long)]
        out: String,
        /// The hosts the certificate names (IP addresses or DNS names): every
        /// host in --peers and where clients connect.
        #[arg(long, value_delimiter = ',', default_value = "127.0.0.1,localhost")]
        hosts: Vec<String>,
    },
}

#[derive(Subcommand, Debug)]
enum AdminCmd {
    /// A recovering node stops waiting for peers that lost their memory too
    /// (more than F replicas restarted at once) and votes. DATA HELD ONLY BY
    /// THE LOST REPLICAS IS GONE; nothing is invented. Use only when those
    /// peers' memory is truly gone.
    DeclareLost {
        #[command(flatten)]
        target: Target,
    },
    /// Add node ID, listening for peers at ADDR (HOST:PORT), to the cluster.
    /// Start it first with `synod node --join --bootstrap --id ID --peers
    /// ...` (same secret, cluster id and --replicas). Answers the joint
    /// epoch's number; the change then runs by itself (INFO cluster:
    /// membership_state, keys_moved / keys_to_move) until the final epoch.
    AddNode {
        id: u32,
        addr: String,
        #[command(flatten)]
        target: Target,
    },
    /// Remove node ID from the cluster (it then refuses clients; stop it once
    /// INFO on a member shows membership_state:stable without it).
    RemoveNode {
        id: u32,
        #[command(flatten)]
        target: Target,
    },
    /// Replace node ID by a new node NEWID at ADDR, in one change (start
    /// the new node first, as for add-node).
    ReplaceNode {
        id: u32,
        new_id: u32,
        addr: String,
        #[command(flatten)]
        target: Target,
    },
}

#[derive(Args, Debug)]
struct Target {
    /// The node's client address.
    #[arg(long, default_value = "127.0.0.1:7001")]
    node: String,
    /// Give up after this many milliseconds without an answer.
    #[arg(long, default_value_t = synod::client::DEFAULT_TIMEOUT_MS)]
    timeout_ms: u64,
    /// Connect with TLS (a node with --tls-clients yes), trusting this CA (PEM).
    #[arg(long, value_name = "CA_FILE")]
    tls_ca_cert_file: Option<String>,
}

/// A connection to `addr`, over TLS if a CA file is given.
fn connect(addr: &str, timeout_ms: u64, ca: Option<&str>) -> Result<Client, ClientError> {
    let timeout = std::time::Duration::from_millis(timeout_ms.max(1));
    match ca {
        None => Client::connect_timeout(addr, timeout),
        Some(ca) => Client::connect_tls(addr, timeout, ca),
    }
}

/// `synod node`'s flags: one per entry of `synod::settings::SETTINGS` (so
/// every setting is a flag and a config-file key), plus `--config`.
#[derive(Debug)]
struct NodeArgs {
    /// A TOML file of settings (keys: setting names or flags); flags override it.
    config: Option<std::path::PathBuf>,
    /// (setting, value) for every flag given on the command line.
    flags: Vec<(&'static Setting, String)>,
}

impl clap::FromArgMatches for NodeArgs {
    fn from_arg_matches(m: &clap::ArgMatches) -> Result<Self, clap::Error> {
        let mut flags = Vec::new();
        for s in SETTINGS {
            let Some(flag) = s.flag else { continue };
            if s.switch {
                if m.get_flag(flag) {
                    flags.push((s, "true".to_string()));
                }
            } else if let Some(v) = m.get_one::<String>(flag) {
                flags.push((s, v.clone()));
            }
        }
        Ok(NodeArgs {
            config: m.get_one::<std::path::PathBuf>("config").cloned(),
            flags,
        })
    }

    fn update_from_arg_matches(&mut self, m: &clap::ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(m)?;
        Ok(())
    }
}

impl Args for NodeArgs {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        use clap::{Arg, ArgAction};
        let mut cmd = cmd.arg(
            Arg::new("config")
                .long("config")
                .value_name("FILE")
                .value_parser(clap::value_parser!(std::path::PathBuf))
                .help("A TOML file of settings (keys: the flags below, or their CONFIG names); flags override it"),
        );
        for s in SETTINGS {
            let Some(flag) = s.flag else { continue };
            let mut arg = Arg::new(flag).long(flag).help(s.help);
            if s.name != flag {
                arg = arg.visible_alias(s.name);
            }
            arg = if s.switch {
                arg.action(ArgAction::SetTrue)
            } else {
                arg.value_name("VALUE")
            };
            cmd = cmd.arg(arg);
        }
        cmd
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_args(cmd)
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if !matches!(cli.command, Cmd::Node(_)) {
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    }
    match cli.command {
        Cmd::Node(args) => node(args),
        Cmd::GenCerts { out, hosts } => {
            match synod::runtime::tls::write_certs(std::path::Path::new(&out), &hosts) {
                Ok(()) => {
                    println!("wrote {out}/ca.crt, ca.key, node.crt, node.key for {hosts:?}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::from(1)
                }
            }
        }
        Cmd::Cli {
            addr,
            timeout_ms,
            tls_ca_cert_file,
            args,
        } => passthrough(&addr, timeout_ms, tls_ca_cert_file.as_deref(), &args),
        Cmd::Get { key, target } => talk(&target, |c| {
            Ok(match c.get(key.as_bytes())? {
                Some(v) => quoted(&v),
                None => "(nil)".into(),
            })
        }),
        Cmd::Set { key, value, target } => talk(&target, |c| {
            c.set(key.as_bytes(), value.as_bytes())?;
            Ok("OK".into())
        }),
        Cmd::Del { keys, target } => talk(&target, |c| {
            let keys: Vec<&[u8]> = keys.iter().map(|k| k.as_bytes()).collect();
            Ok(format!("(integer) {}", c.del(&keys)?))
        }),
        Cmd::Cas {
            key,
            first,
            second,
            expect_absent,
            target,
        } => {
            let (expected, new) = match (expect_absent, &second) {
                (false, Some(n)) => (Some(first.as_bytes()), n.as_bytes()),
                (true, None) => (None, first.as_bytes()),
                (false, _) => {
                    return usage("cas needs KEY EXPECTED NEW (or KEY NEW with --expect-absent)")
                }
                (true, _) => return usage("with --expect-absent, cas takes KEY NEW"),
            };
            if expected == Some(b"".as_slice()) {
                return usage(
                    "an empty EXPECTED means 'absent' on the wire; use --expect-absent to say so",
                );
            }
            talk(&target, |c| {
                let swapped = c.cas(key.as_bytes(), expected, new)?;
                Ok(format!("(integer) {}", i64::from(swapped)))
            })
        }
        Cmd::Info { section, target } => talk(&target, |c| {
            Ok(c.info(section.as_deref())?.trim_end().replace("\r\n", "\n"))
        }),
        Cmd::Admin {
            action: AdminCmd::DeclareLost { target },
        } => talk(&target, |c| {
            match c.command(&[b"ADMIN", b"DECLARE-LOST"])? {
                Reply::Simple(s) => Ok(s),
                r => Err(ClientError::UnexpectedReply(r)),
            }
        }),
        Cmd::Admin {
            action: AdminCmd::AddNode { id, addr, target },
        } => admin_change(
            &target,
            &[b"ADD-NODE", id.to_string().as_bytes(), addr.as_bytes()],
        ),
        Cmd::Admin {
            action: AdminCmd::RemoveNode { id, target },
        } => admin_change(&target, &[b"REMOVE-NODE", id.to_string().as_bytes()]),
        Cmd::Admin {
            action:
                AdminCmd::ReplaceNode {
                    id,
                    new_id,
                    addr,
                    target,
                },
        } => admin_change(
            &target,
            &[
                b"REPLACE-NODE",
                id.to_string().as_bytes(),
                new_id.to_string().as_bytes(),
                addr.as_bytes(),
            ],
        ),
        Cmd::Ping { target } => talk(&target, |c| match c.command(&[b"PING"])? {
            Reply::Simple(s) => Ok(s),
            r => Err(ClientError::UnexpectedReply(r)),
        }),
    }
}

/// Sends `ADMIN args...` and prints the joint epoch the change started.
fn admin_change(target: &Target, args: &[&[u8]]) -> ExitCode {
    let mut cmd: Vec<&[u8]> = vec![b"ADMIN"];
    cmd.extend_from_slice(args);
    talk(target, |c| match c.command(&cmd)? {
        Reply::Integer(e) => Ok(format!(
            "membership change started: joint epoch {e}; it ends by itself at epoch {} \
             (INFO cluster: membership_epoch, membership_state, keys_moved/keys_to_move)",
            e + 1
        )),
        r => Err(ClientError::UnexpectedReply(r)),
    })
}

fn usage(msg: &str) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::from(2)
}

fn node(args: NodeArgs) -> ExitCode {
    let file = match &args.config {
        Some(path) => match std::fs::read_to_string(path) {
            Ok(text) => Some((path.display().to_string(), text)),
            Err(e) => return usage(&format!("--config {}: {e}", path.display())),
        },
        None => None,
    };
    let opts = match synod::settings::build(
        file.as_ref().map(|(p, t)| (p.as_str(), t.as_str())),
        &args.flags,
    ) {
        Ok(o) => o,
        Err(e) => return usage(&e),
    };
    // Every record reaches env_logger; the level (CONFIG SET loglevel changes
    // it live) decides. RUST_LOG, if set, is the filter instead.
    if std::env::var_os("RUST_LOG").is_some() {
        env_logger::Builder::from_env(env_logger::Env::default()).init();
    } else {
        env_logger::Builder::new()
            .filter_level(log::LevelFilter::Trace)
            .init();
        log::set_max_level(opts.log_level);
    }
    if let Err(e) = opts.validate() {
        return usage(&e.to_string());
    }
    let node = match start_node(opts) {
        Ok(n) => n,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    // SIGTERM/SIGINT: a graceful shutdown (as SHUTDOWN); a second one exits at once.
    let trigger = node.shutdown_trigger();
    use signal_hook::consts::{SIGINT, SIGTERM};
    match signal_hook::iterator::Signals::new([SIGTERM, SIGINT]) {
        Ok(mut signals) => {
            std::thread::spawn(move || {
                let mut seen = 0;
                for sig in signals.forever() {
                    let name = if sig == SIGTERM { "SIGTERM" } else { "SIGINT" };
                    seen += 1;
                    if seen > 1 {
                        log::warn!("{name} again during the shutdown: exiting now");
                        std::process::exit(1);
                    }
                    trigger.request(name);
                }
            });
        }
        Err(e) => log::warn!("cannot handle SIGTERM/SIGINT ({e}): they will kill the node at once"),
    }
    node.run_until_shutdown();
    ExitCode::SUCCESS
}

/// `synod cli`: one command, its reply printed as redis-cli prints it.
fn passthrough(addr: &str, timeout_ms: u64, ca: Option<&str>, args: &[String]) -> ExitCode {
    let mut client = match connect(addr, timeout_ms, ca) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: cannot connect to {addr}: {e}");
            return ExitCode::from(2);
        }
    };
    let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    let reply = match client.send(&args).and_then(|()| client.receive()) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {addr}: {e}");
            return ExitCode::from(2);
        }
    };
    println!("{}", synod::client::format_reply(&reply));
    if matches!(reply, Reply::Error(_)) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// Connects to `target`, runs `f`, prints its line; exit 1 with a one-line reason on error.
fn talk(target: &Target, f: impl FnOnce(&mut Client) -> Result<String, ClientError>) -> ExitCode {
    let result = connect(
        &target.node,
        target.timeout_ms,
        target.tls_ca_cert_file.as_deref(),
    )
    .map_err(|e| format!("cannot connect to {}: {e}", target.node))
    .and_then(|mut c| {
        f(&mut c).map_err(|e| match e {
            ClientError::Server(s) => format!("(error) {s}"),
            e => format!("{}: {e}", target.node),
        })
    });
    match result {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(line) => {
            eprintln!("{line}");
            ExitCode::from(1)
        }
    }
}

/// Quotes bytes like redis-cli: "text", with \n, \", \\ and \xNN escapes.
fn quoted(v: &[u8]) -> String {
    let mut s = String::with_capacity(v.len() + 2);
    s.push('"');
    for &b in v {
        match b {
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            b'\n' => s.push_str("\\n"),
            b'\r' => s.push_str("\\r"),
            b'\t' => s.push_str("\\t"),
            0x07 => s.push_str("\\a"),
            0x08 => s.push_str("\\b"),
            0x20..=0x7e => s.push(b as char),
            _ => s.push_str(&format!("\\x{b:02x}")),
        }
    }
    s.push('"');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_quoted_like_redis_cli() {
        assert_eq!(quoted(b"hello"), "\"hello\"");
        assert_eq!(quoted(b"a\"b\n\x01"), "\"a\\\"b\\n\\x01\"");
    }

    #[test]
    fn the_cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
