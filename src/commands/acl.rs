//! Client authentication and rights: AUTH, HELLO ... AUTH, ACL WHOAMI and
//! ACL LIST, with Redis's error texts (NOAUTH, WRONGPASS, NOPERM).
//!
//! Users come from `--requirepass-file` (the `default` user's password) or
//! `--users-file` (Redis's ACL file syntax, a subset:
//! `user NAME on|off >PASSWORD|nopass +@read|+@write|+@all`). Three rights, each including the
//! one before: read-only (`+@read`: commands without the `write` flag),
//! read-write (`+@write`), admin (`+@all`: also FLUSHALL, FLUSHDB, CONFIG,
//! ADMIN DECLARE-LOST, and INFO's cluster id, incarnations and peer
//! addresses). Without either file the `default` user needs no password and
//! has every right, as in Redis; protected mode then refuses clients that
//! are not on loopback (runtime/client_conn.rs).
//!
//! Passwords are kept as SHA-256 digests (as Redis keeps them) and compared
//! in constant time. ACL SETUSER (admin only, the same rules as the file)
//! changes users for every connection until the node restarts; connections
//! already authenticated keep the rights they logged in with.

use super::spec::{spec, Family, NONE};
use super::{bulk, subcommand_error, upper, wrong_arity, Args, Plan, Planned, Session};
use crate::resp::Reply;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

pub(super) const FAMILY: Family = Family {
    plan,
    commands: &[
        spec(
            "auth",
            -2,
            &[
                "noscript",
                "loading",
                "stale",
                "fast",
                "noauth",
                "allow_busy",
            ],
            NONE,
            "connection",
            "Authenticates the connection (AUTH [username] password).",
        ),
        spec(
            "acl",
            -2,
            &[],
            NONE,
            "server",
            "ACL WHOAMI, ACL LIST, ACL USERS, ACL SETUSER (a subset).",
        ),
    ],
};

/// What a user may do; each includes the one before.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Rights {
    /// Commands without the `write` flag.
    ReadOnly,
    /// Every key command.
    ReadWrite,
    /// Everything, operator commands included.
    Admin,
}

impl Rights {
    fn acl_rule(self) -> &'static str {
        match self {
            Rights::ReadOnly => "+@read",
            Rights::ReadWrite => "+@read +@write",
            Rights::Admin => "+@all",
        }
    }
}

/// One user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    /// Disabled users cannot authenticate (`off`).
    pub enabled: bool,
    /// `nopass`: any password is accepted.
    nopass: bool,
    /// SHA-256 of the password (None and not `nopass`: cannot log in).
    pass_sha256: Option<[u8; 32]>,
    /// What the user may do.
    pub rights: Rights,
}

impl User {
    /// A new user, as Redis makes one: off, no password, read-only here.
    fn new() -> User {
        User {
            enabled: false,
            nopass: false,
            pass_sha256: None,
            rights: Rights::ReadOnly,
        }
    }

    /// Applies one ACL rule (the file's and ACL SETUSER's subset).
    fn apply(&mut self, w: &str) -> Result<(), String> {
        match w {
            "on" => self.enabled = true,
            "off" => self.enabled = false,
            "nopass" => {
                self.nopass = true;
                self.pass_sha256 = None;
            }
            "resetpass" => {
                self.nopass = false;
                self.pass_sha256 = None;
            }
            "+@all" | "allcommands" => self.rights = Rights::Admin,
            "+@write" => self.rights = self.rights.max(Rights::ReadWrite),
            "-@all" | "nocommands" | "+@read" | "-@write" | "-@admin" => {
                self.rights = match w {
                    "-@write" => Rights::ReadOnly,
                    "-@admin" => self.rights.min(Rights::ReadWrite),
                    "+@read" => self.rights,
                    _ => Rights::ReadOnly,
                }
            }
            "~*" | "allkeys" | "&*" | "allchannels" | "reset" => {}
            _ if w.starts_with('>') => {
                self.nopass = false;
                self.pass_sha256 = Some(sha(&w.as_bytes()[1..]));
            }
            _ if w.starts_with('#') && w.len() == 65 => {
                let mut d = [0u8; 32];
                for (i, b) in d.iter_mut().enumerate() {
                    *b = u8::from_str_radix(w.get(1 + 2 * i..3 + 2 * i).unwrap_or("x"), 16)
                        .map_err(|_| format!("'{w}' is not a SHA-256 digest"))?;
                }
                self.nopass = false;
                self.pass_sha256 = Some(d);
            }
            _ => {
                return Err(format!(
                    "unsupported rule '{w}' (supported: on off >PASSWORD #SHA256 nopass \
                     resetpass +@read +@write +@all -@write -@admin -@all ~*)"
                ))
            }
        }
        Ok(())
    }
}

/// The node's users, shared by its connections: ACL SETUSER changes them
/// for every connection (until the node restarts; the file is not written).
#[derive(Clone, Debug, Default)]
pub struct Users(std::sync::Arc<parking_lot::RwLock<Acl>>);

impl Users {
    /// Users starting as `acl`.
    pub fn new(acl: Acl) -> Users {
        Users(std::sync::Arc::new(parking_lot::RwLock::new(acl)))
    }

    /// A snapshot of the users now.
    pub fn get(&self) -> Acl {
        self.0.read().clone()
    }
}

impl PartialEq for Users {
    fn eq(&self, other: &Users) -> bool {
        std::sync::Arc::ptr_eq(&self.0, &other.0) || *self.0.read() == *other.0.read()
    }
}

impl Eq for Users {}

/// The node's users.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Acl {
    users: BTreeMap<String, User>,
}

impl Default for Acl {
    /// Redis's default: user `default`, no password, every right.
    fn default() -> Acl {
        let mut users = BTreeMap::new();
        users.insert(
            "default".into(),
            User {
                enabled: true,
                nopass: true,
                pass_sha256: None,
                rights: Rights::Admin,
            },
        );
        Acl { users }
    }
}

fn sha(pass: &[u8]) -> [u8; 32] {
    Sha256::digest(pass).into()
}

/// Constant-time equality of two digests.
fn same(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Acl {
    /// `requirepass`: the default user needs `pass`.
    pub fn with_requirepass(pass: &[u8]) -> Acl {
        let mut acl = Acl::default();
        if let Some(u) = acl.users.get_mut("default") {
            u.nopass = false;
            u.pass_sha256 = Some(sha(pass));
        }
        acl
    }

    /// Parses a users file (Redis ACL file syntax, a subset; see the module).
    pub fn from_users_file(text: &str) -> Result<Acl, String> {
        let mut users = BTreeMap::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let at = |why: String| format!("users file line {}: {why}", n + 1);
            let mut words = line.split_whitespace();
            if words.next() != Some("user") {
                return Err(at("expected 'user NAME RULES...'".into()));
            }
            let name = words
                .next()
                .ok_or_else(|| at("a user needs a name".into()))?;
            let mut u = User::new();
            for w in words {
                u.apply(w).map_err(at)?;
            }
            if !u.nopass && u.pass_sha256.is_none() {
                return Err(at(format!("user {name} has neither >PASSWORD nor nopass")));
            }
            users.insert(name.to_string(), u);
        }
        // Redis: a users file without `default` leaves it on, nopass, all rights;
        // that would defeat the file, so here it is off unless listed.
        users.entry("default".into()).or_insert_with(User::new);
        Ok(Acl { users })
    }

    /// What a new connection starts as: the `default` user, authenticated
    /// only if it is on and needs no password.
    pub fn initial_auth(&self) -> Auth {
        match self.users.get("default") {
            Some(u) if u.enabled && u.nopass => Auth {
                user: "default".into(),
                rights: u.rights,
                authenticated: true,
            },
            _ => Auth::none(),
        }
    }

    /// True if a client must authenticate (no protected mode then).
    pub fn requires_auth(&self) -> bool {
        !self.initial_auth().authenticated
    }

    fn check(&self, user: &str, pass: &[u8]) -> Option<Rights> {
        let u = self.users.get(user).filter(|u| u.enabled)?;
        if u.nopass {
            return Some(u.rights);
        }
        let d = u.pass_sha256.as_ref()?;
        same(d, &sha(pass)).then_some(u.rights)
    }

    /// ACL LIST's lines.
    fn list(&self) -> Vec<String> {
        self.users
            .iter()
            .map(|(name, u)| {
                let pass = match (&u.pass_sha256, u.nopass) {
                    (_, true) => "nopass".to_string(),
                    (None, false) => "resetpass".to_string(),
                    (Some(d), false) => format!(
                        "#{}",
                        d.iter().map(|b| format!("{b:02x}")).collect::<String>()
                    ),
                };
                format!(
                    "user {name} {} {pass} ~* {}",
                    if u.enabled { "on" } else { "off" },
                    u.rights.acl_rule()
                )
            })
            .collect()
    }
}

/// Who a connection is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Auth {
    /// The user's name.
    pub user: String,
    /// Its rights (meaningless until authenticated).
    pub rights: Rights,
    /// False until AUTH succeeds (when the default user needs a password).
    pub authenticated: bool,
}

impl Auth {
    fn none() -> Auth {
        Auth {
            user: "default".into(),
            rights: Rights::ReadOnly,
            authenticated: false,
        }
    }
}

impl Default for Auth {
    /// The default user of the default ACL: every right.
    fn default() -> Auth {
        Acl::default().initial_auth()
    }
}

/// Commands only admins may run, besides those Redis flags `admin`.
const ADMIN_COMMANDS: &[&str] = &["flushall", "flushdb", "config"];

/// The refusal for running `name` (with `flags`) as `auth`, if refused.
pub(super) fn refusal(auth: &Auth, name: &str, flags: &[&str]) -> Option<Reply> {
    if !auth.authenticated {
        // QUIT is answered before authentication, as in Redis.
        if flags.contains(&"noauth") || name == "quit" {
            return None;
        }
        return Some(Reply::error("NOAUTH Authentication required."));
    }
    let need = if flags.contains(&"admin") || ADMIN_COMMANDS.contains(&name) {
        Rights::Admin
    } else if flags.contains(&"write") {
        Rights::ReadWrite
    } else {
        Rights::ReadOnly
    };
    (auth.rights < need).then(|| {
        Reply::error(format!(
            "NOPERM User {} has no permissions to run the '{name}' command",
            auth.user
        ))
    })
}

fn wrongpass() -> Reply {
    Reply::error("WRONGPASS invalid username-password pair or user is disabled.")
}

/// AUTH [user] pass, and HELLO's AUTH user pass: Ok, or Redis's error.
pub(super) fn authenticate(
    session: &mut Session,
    user: Option<&[u8]>,
    pass: &[u8],
) -> Result<(), Reply> {
    let acl = session.acl.get();
    if user.is_none() && !acl.requires_auth() {
        return Err(Reply::error(
            "ERR AUTH <password> called without any password configured for the default \
             user. Are you sure your configuration is correct?",
        ));
    }
    let user = String::from_utf8_lossy(user.unwrap_or(b"default")).into_owned();
    match acl.check(&user, pass) {
        Some(rights) => {
            session.auth = Auth {
                user,
                rights,
                authenticated: true,
            };
            Ok(())
        }
        None => Err(wrongpass()),
    }
}

fn plan(c: &mut Args<'_>) -> Planned {
    let (name, a) = (c.name, &*c.a);
    let session = &mut *c.session;
    match name {
        "auth" => match a {
            [pass] => authenticate(session, None, pass).map(|()| Plan::Reply(Reply::ok())),
            [user, pass] => {
                authenticate(session, Some(user), pass).map(|()| Plan::Reply(Reply::ok()))
            }
            _ => Err(Reply::error("ERR syntax error")),
        },
        "acl" => match (upper(&a[0]).as_str(), a.len()) {
            ("WHOAMI", 1) => Ok(Plan::Reply(bulk(&session.auth.user))),
            ("LIST", 1) | ("USERS", 1) => {
                if session.auth.rights < Rights::Admin {
                    return Err(Reply::error(format!(
                        "NOPERM User {} has no permissions to run the 'acl|{}' command",
                        session.auth.user,
                        String::from_utf8_lossy(&a[0]).to_ascii_lowercase()
                    )));
                }
                let acl = session.acl.get();
                let lines = if upper(&a[0]) == "LIST" {
                    acl.list()
                } else {
                    acl.users.keys().cloned().collect()
                };
                Ok(Plan::Reply(Reply::Array(
                    lines.iter().map(|l| bulk(l)).collect(),
                )))
            }
            ("SETUSER", n) if n >= 2 => {
                if session.auth.rights < Rights::Admin {
                    return Err(Reply::error(format!(
                        "NOPERM User {} has no permissions to run the 'acl|setuser' command",
                        session.auth.user
                    )));
                }
                let name = String::from_utf8_lossy(&a[1]).into_owned();
                let mut users = session.acl.0.write();
                let mut u = users.users.get(&name).cloned().unwrap_or_else(User::new);
                for w in &a[2..] {
                    let w = String::from_utf8_lossy(w);
                    u.apply(&w).map_err(|e| {
                        Reply::error(format!("ERR Error in ACL SETUSER modifier '{w}': {e}"))
                    })?;
                }
                users.users.insert(name, u);
                Ok(Plan::Reply(Reply::ok()))
            }
            ("WHOAMI" | "LIST" | "USERS" | "SETUSER", _) => Err(wrong_arity(&format!(
                "acl|{}",
                String::from_utf8_lossy(&a[0]).to_ascii_lowercase()
            ))),
            _ => Err(subcommand_error(
                "acl",
                &a[0],
                &["whoami", "list", "users", "setuser"],
            )),
        },
        _ => Err(super::unknown_command(&[name.as_bytes().to_vec()])),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::plan as plan_command;

    fn session(acl: Acl) -> Session {
        Session {
            auth: acl.initial_auth(),
            acl: Users::new(acl),
            ..Session::default()
        }
    }

    fn run(s: &mut Session, a: &[&str]) -> Reply {
        let args = a.iter().map(|x| x.as_bytes().to_vec()).collect();
        match plan_command(args, 0, s) {
            Plan::Reply(r) => r,
            Plan::Core(_) => Reply::Simple("CORE".into()),
            Plan::DeclareLost => Reply::Simple("DECLARE-LOST".into()),
            Plan::ChangeMembership { .. } => Reply::Simple("CHANGE-MEMBERSHIP".into()),
            Plan::Info { .. } => Reply::Simple("INFO".into()),
            Plan::Quit => Reply::Simple("QUIT".into()),
            Plan::Config(_) => Reply::Simple("CONFIG".into()),
            Plan::Slowlog(_) => Reply::Simple("SLOWLOG".into()),
            Plan::Shutdown => Reply::Simple("SHUTDOWN".into()),
        }
    }

    fn err(s: &str) -> Reply {
        Reply::Error(s.into())
    }

    #[test]
    fn requirepass_gates_every_command_with_redis_errors() {
        let mut s = session(Acl::with_requirepass(b"sesame"));
        assert_eq!(
            run(&mut s, &["get", "k"]),
            err("NOAUTH Authentication required.")
        );
        assert_eq!(
            run(&mut s, &["ping"]),
            err("NOAUTH Authentication required.")
        );
        assert_eq!(
            run(&mut s, &["auth", "wrong"]),
            err("WRONGPASS invalid username-password pair or user is disabled.")
        );
        assert_eq!(run(&mut s, &["auth", "sesame"]), Reply::ok());
        assert_eq!(run(&mut s, &["get", "k"]), Reply::Simple("CORE".into()));
        assert_eq!(run(&mut s, &["acl", "whoami"]), bulk("default"));
    }

    #[test]
    fn auth_without_a_password_configured_is_redis_error() {
        let mut s = session(Acl::default());
        assert_eq!(
            run(&mut s, &["auth", "x"]),
            err("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?")
        );
        assert_eq!(run(&mut s, &["flushall"]), Reply::Simple("CORE".into()));
    }

    #[test]
    fn rights_from_a_users_file() {
        let acl = Acl::from_users_file(
            "# comment\n\
             user reader on >r-pass ~* +@read\n\
             user writer on >w-pass ~* +@read +@write\n\
             user root on >root-pass ~* +@all\n\
             user gone off >x +@all\n",
        )
        .unwrap();
        let mut s = session(acl.clone());
        assert_eq!(
            run(&mut s, &["get", "k"]),
            err("NOAUTH Authentication required.")
        );
        assert_eq!(run(&mut s, &["auth", "reader", "r-pass"]), Reply::ok());
        assert_eq!(run(&mut s, &["get", "k"]), Reply::Simple("CORE".into()));
        assert_eq!(
            run(&mut s, &["set", "k", "v"]),
            err("NOPERM User reader has no permissions to run the 'set' command")
        );
        assert_eq!(run(&mut s, &["auth", "writer", "w-pass"]), Reply::ok());
        assert_eq!(
            run(&mut s, &["set", "k", "v"]),
            Reply::Simple("CORE".into())
        );
        for admin in [
            &["admin", "declare-lost"][..],
            &["flushall"],
            &["flushdb"],
            &["config", "get", "x"],
        ] {
            assert_eq!(
                run(&mut s, admin),
                err(&format!(
                    "NOPERM User writer has no permissions to run the '{}' command",
                    admin[0]
                ))
            );
        }
        assert!(
            matches!(run(&mut s, &["acl", "list"]), Reply::Error(e) if e.starts_with("NOPERM"))
        );
        assert_eq!(run(&mut s, &["auth", "root", "root-pass"]), Reply::ok());
        assert_eq!(
            run(&mut s, &["admin", "declare-lost"]),
            Reply::Simple("DECLARE-LOST".into())
        );
        let Reply::Array(list) = run(&mut s, &["acl", "list"]) else {
            panic!()
        };
        assert_eq!(list.len(), 5, "four users and default (off)");
        assert!(
            !format!("{list:?}").contains("root-pass"),
            "passwords are never shown"
        );
        assert_eq!(
            run(&mut s, &["auth", "gone", "x"]),
            err("WRONGPASS invalid username-password pair or user is disabled.")
        );
        assert_eq!(
            run(&mut s, &["auth", "default", ""]),
            err("WRONGPASS invalid username-password pair or user is disabled.")
        );
        assert!(
            Acl::from_users_file("user x on +@all").is_err(),
            "no password rule"
        );
        assert!(
            Acl::from_users_file("user x on >p ~foo:*").is_err(),
            "unsupported rule"
        );
    }
}
