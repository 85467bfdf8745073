//! SLOWLOG GET [count], LEN, RESET, HELP: the commands slower than
//! `slowlog-log-slower-than` µs (src/metrics.rs keeps them).

use super::spec::{spec, Family, NONE};
use super::{int_arg, reply, subcommand_error, unknown_command, upper, Args, Plan, Planned};
use crate::resp::Reply;

pub(super) const FAMILY: Family = Family {
    plan,
    commands: &[spec(
        "slowlog",
        -2,
        &["admin", "loading", "stale"],
        NONE,
        "server",
        "SLOWLOG GET [count], LEN, RESET: commands slower than slowlog-log-slower-than µs.",
    )],
};

/// What SLOWLOG asks of the node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SlowlogRequest {
    /// The newest `count` entries (negative: all).
    Get(i64),
    Len,
    Reset,
}

const SUBCOMMANDS: &[&str] = &["get", "len", "reset", "help"];

fn plan(c: &mut Args<'_>) -> Planned {
    let (name, a) = (c.name, &*c.a);
    if name != "slowlog" {
        return Err(unknown_command(&[name.as_bytes().to_vec()]));
    }
    let req =
        match (upper(&a[0]).as_str(), &a[1..]) {
            ("GET", []) => SlowlogRequest::Get(10),
            ("GET", [n]) => {
                let n = int_arg(n)?;
                if n < -1 {
                    return Err(Reply::error(
                        "ERR count should be greater than or equal to -1",
                    ));
                }
                SlowlogRequest::Get(n)
            }
            ("LEN", []) => SlowlogRequest::Len,
            ("RESET", []) => SlowlogRequest::Reset,
            ("HELP", []) => return reply(Reply::Array(
                [
                    "SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                    "GET [<count>]",
                    "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
                    "LEN",
                    "    Return the length of the slowlog.",
                    "RESET",
                    "    Reset the slowlog.",
                    "HELP",
                    "    Print this help.",
                ]
                .iter()
                .map(|l| Reply::Simple((*l).into()))
                .collect(),
            )),
            _ => return Err(subcommand_error("slowlog", &a[0], SUBCOMMANDS)),
        };
    Ok(Plan::Slowlog(req))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::testing::reply;
    use crate::commands::testing::*;

    #[test]
    fn slowlog_subcommands_plan_requests() {
        assert_eq!(
            plan_at(&["slowlog", "get"], NOW),
            Plan::Slowlog(SlowlogRequest::Get(10))
        );
        assert_eq!(
            plan_at(&["SLOWLOG", "GET", "-1"], NOW),
            Plan::Slowlog(SlowlogRequest::Get(-1))
        );
        assert_eq!(
            plan_at(&["slowlog", "len"], NOW),
            Plan::Slowlog(SlowlogRequest::Len)
        );
        assert_eq!(
            plan_at(&["slowlog", "reset"], NOW),
            Plan::Slowlog(SlowlogRequest::Reset)
        );
        assert_eq!(
            reply(&["slowlog", "get", "-2"]),
            err("ERR count should be greater than or equal to -1")
        );
        assert_eq!(
            reply(&["slowlog", "len", "x"]),
            err("ERR wrong number of arguments for 'slowlog|len' command")
        );
    }
}
