//! ADMIN: synod's own operator commands (ADMIN DECLARE-LOST), and SHUTDOWN.

use super::spec::{spec, Family, NONE};
use super::{unknown_command, upper, Args, Plan, Planned};
use crate::resp::Reply;

pub(super) const FAMILY: Family = Family {
    plan,
    commands: &[
        spec(
            "admin",
            2,
            &["admin", "noscript"],
            NONE,
            "server",
            "synod: ADMIN DECLARE-LOST.",
        ),
        spec(
            "shutdown",
            -1,
            &["admin", "noscript", "loading", "stale"],
            NONE,
            "server",
            "Stops the node gracefully: in-flight requests are answered, then it exits 0. Answers +OK first (Redis closes without a reply). NOSAVE/SAVE/NOW/FORCE are accepted and change nothing: synod keeps nothing on disk.",
        ),
    ],
};

fn plan(c: &mut Args<'_>) -> Planned {
    let (name, a) = (c.name, c.a);
    match name {
        "admin" => match upper(&a[0]).as_str() {
            "DECLARE-LOST" => Ok(Plan::DeclareLost),
            _ => Err(Reply::error(
                "ERR unknown ADMIN subcommand; known: ADMIN DECLARE-LOST",
            )),
        },
        "shutdown" => {
            for opt in a {
                if !matches!(upper(opt).as_str(), "NOSAVE" | "SAVE" | "NOW" | "FORCE") {
                    return Err(super::syntax_error());
                }
            }
            Ok(Plan::Shutdown)
        }
        _ => Err(unknown_command(&[name.as_bytes().to_vec()])),
    }
}
