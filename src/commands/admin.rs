//! ADMIN: synod's own operator commands (ADMIN DECLARE-LOST).

use super::spec::{spec, Family, NONE};
use super::{unknown_command, upper, Args, Plan, Planned};
use crate::resp::Reply;

pub(super) const FAMILY: Family = Family {
    plan,
    commands: &[spec(
        "admin",
        2,
        &["admin", "noscript"],
        NONE,
        "server",
        "synod: ADMIN DECLARE-LOST.",
    )],
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
        _ => Err(unknown_command(&[name.as_bytes().to_vec()])),
    }
}
