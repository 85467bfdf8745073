//! ADMIN: synod's own operator commands (ADMIN DECLARE-LOST, ADD-NODE,
//! REMOVE-NODE, REPLACE-NODE), and SHUTDOWN.

use super::spec::{spec, Family, NONE};
use super::{unknown_command, upper, Args, Plan, Planned};
use crate::core::NodeId;
use crate::resp::Reply;

pub(super) const FAMILY: Family = Family {
    plan,
    commands: &[
        spec(
            "admin",
            -2,
            &["admin", "noscript"],
            NONE,
            "server",
            "synod: ADMIN DECLARE-LOST | ADD-NODE ID ADDR | REMOVE-NODE ID | REPLACE-NODE ID NEWID ADDR.",
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
    let (name, a) = (c.name, &*c.a);
    match name {
        "admin" => {
            let id = |b: &[u8]| -> Result<NodeId, Reply> {
                std::str::from_utf8(b)
                    .ok()
                    .and_then(|t| t.parse::<NodeId>().ok())
                    .filter(|&n| n > 0)
                    .ok_or_else(|| Reply::error("ERR a node id is a positive integer"))
            };
            let addr = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
            let sub = upper(&a[0]);
            let n = a.len() - 1;
            let want = |k: usize, usage: &str| {
                if n == k {
                    Ok(())
                } else {
                    Err(Reply::error(format!("ERR usage: ADMIN {usage}")))
                }
            };
            match sub.as_str() {
                "DECLARE-LOST" => {
                    want(0, "DECLARE-LOST")?;
                    Ok(Plan::DeclareLost)
                }
                "ADD-NODE" => {
                    want(2, "ADD-NODE ID ADDR")?;
                    Ok(Plan::ChangeMembership {
                        add: vec![(id(&a[1])?, addr(&a[2]))],
                        remove: Vec::new(),
                    })
                }
                "REMOVE-NODE" => {
                    want(1, "REMOVE-NODE ID")?;
                    Ok(Plan::ChangeMembership {
                        add: Vec::new(),
                        remove: vec![id(&a[1])?],
                    })
                }
                "REPLACE-NODE" => {
                    want(3, "REPLACE-NODE ID NEWID ADDR")?;
                    Ok(Plan::ChangeMembership {
                        add: vec![(id(&a[2])?, addr(&a[3]))],
                        remove: vec![id(&a[1])?],
                    })
                }
                _ => Err(Reply::error(
                    "ERR unknown ADMIN subcommand; known: ADMIN DECLARE-LOST, ADD-NODE ID ADDR, \
                     REMOVE-NODE ID, REPLACE-NODE ID NEWID ADDR",
                )),
            }
        }
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
