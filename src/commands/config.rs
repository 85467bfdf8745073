//! CONFIG GET, SET, RESETSTAT, HELP. The settings themselves, their names
//! and which may change live are in src/settings.rs; the runtime answers
//! with the node's live values.

use super::spec::{spec, Family, NONE};
use super::{reply, subcommand_error, unknown_command, upper, wrong_arity, Args, Plan, Planned};
use crate::resp::Reply;

pub(super) const FAMILY: Family = Family {
    plan,
    commands: &[spec(
        "config",
        -2,
        &["admin", "noscript", "loading", "stale"],
        NONE,
        "server",
        "CONFIG GET pattern..., CONFIG SET name value... (the settings marked live), CONFIG RESETSTAT.",
    )],
};

/// What CONFIG asks of the node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigRequest {
    /// The settings whose names match any of these glob patterns.
    Get(Vec<String>),
    /// Change these settings, all or none.
    Set(Vec<(String, String)>),
    /// Zero the statistics (commandstats, errorstats, latencystats, SLOWLOG).
    ResetStat,
}

const CONFIG_SUBCOMMANDS: &[&str] = &["get", "set", "resetstat", "help"];

fn plan(c: &mut Args<'_>) -> Planned {
    let (name, a) = (c.name, &*c.a);
    if name != "config" {
        return Err(unknown_command(&[name.as_bytes().to_vec()]));
    }
    let text = |b: &Vec<u8>| String::from_utf8_lossy(b).into_owned();
    let rest = &a[1..];
    match (upper(&a[0]).as_str(), rest.len()) {
        ("GET", 1..) => Ok(Plan::Config(ConfigRequest::Get(
            rest.iter().map(text).collect(),
        ))),
        ("SET", n) if n >= 2 && n % 2 == 0 => Ok(Plan::Config(ConfigRequest::Set(
            rest.chunks(2).map(|p| (text(&p[0]), text(&p[1]))).collect(),
        ))),
        ("SET", _) => Err(wrong_arity("config|set")),
        ("RESETSTAT", 0) => Ok(Plan::Config(ConfigRequest::ResetStat)),
        ("HELP", 0) => reply(Reply::Array(
            [
                "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "GET <pattern> [<pattern> ...]",
                "    Return parameters matching the glob-like <pattern> and their values.",
                "SET <directive> <value> [<directive> <value> ...]",
                "    Set the configuration <directive> to <value> (those that can change live).",
                "RESETSTAT",
                "    Reset statistics reported by the INFO command.",
                "HELP",
                "    Print this help.",
            ]
            .iter()
            .map(|l| Reply::Simple((*l).into()))
            .collect(),
        )),
        _ => Err(subcommand_error("config", &a[0], CONFIG_SUBCOMMANDS)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::testing::reply;
    use crate::commands::testing::*;

    #[test]
    fn config_subcommands_plan_requests_for_the_node() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            plan_at(&["config", "get", "maxmemory", "maxmemory-*"], NOW),
            Plan::Config(ConfigRequest::Get(s(&["maxmemory", "maxmemory-*"])))
        );
        assert_eq!(
            plan_at(
                &["CONFIG", "SET", "maxmemory", "1mb", "loglevel", "debug"],
                NOW
            ),
            Plan::Config(ConfigRequest::Set(vec![
                ("maxmemory".into(), "1mb".into()),
                ("loglevel".into(), "debug".into())
            ]))
        );
        assert_eq!(
            plan_at(&["config", "resetstat"], NOW),
            Plan::Config(ConfigRequest::ResetStat)
        );
        assert_eq!(
            reply(&["config", "set", "maxmemory"]),
            err("ERR wrong number of arguments for 'config|set' command")
        );
        assert_eq!(
            reply(&["config", "get"]),
            err("ERR wrong number of arguments for 'config|get' command")
        );
        assert_eq!(
            reply(&["config", "rewrite"]),
            err("ERR unknown subcommand 'rewrite'. Try CONFIG HELP.")
        );
        assert!(matches!(reply(&["config", "help"]), Reply::Array(_)));
    }
}
