//! CONFIG.

use super::spec::{spec, Family, NONE};
use super::{reply, unknown_command, Args, Planned};
use crate::resp::Reply;

pub(super) const FAMILY: Family = Family {
    plan,
    commands: &[spec(
        "config",
        -2,
        &["admin", "noscript"],
        NONE,
        "server",
        "CONFIG GET only (save, appendonly).",
    )],
};

fn plan(c: &mut Args<'_>) -> Planned {
    let (name, a) = (c.name, c.a);
    match name {
        "config" => reply(config(&a[0], a.get(1).map_or(&[][..], |p| &p[..]))),
        _ => Err(unknown_command(&[name.as_bytes().to_vec()])),
    }
}

/// `CONFIG GET param`: `save` and `appendonly` (redis-benchmark asks; we keep
/// nothing on disk), `databases` (1), an empty list for anything else. Other
/// subcommands are refused.
fn config(sub: &[u8], param: &[u8]) -> Reply {
    if sub.eq_ignore_ascii_case(b"get") {
        let param = String::from_utf8_lossy(param).to_ascii_lowercase();
        let value: &[u8] = match param.as_str() {
            "save" => b"",
            "appendonly" => b"no",
            "databases" => b"1",
            _ => return Reply::Array(vec![]),
        };
        Reply::Array(vec![
            Reply::Bulk(param.into_bytes()),
            Reply::Bulk(value.to_vec()),
        ])
    } else {
        Reply::error("ERR CONFIG is not supported by synod, except CONFIG GET")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::testing::reply;
    use crate::commands::testing::*;

    #[test]
    fn config_get_answers_what_benchmarks_ask() {
        assert_eq!(
            reply(&["config", "get", "appendonly"]),
            Reply::Array(vec![Reply::Bulk(k("appendonly")), Reply::Bulk(k("no"))])
        );
        assert_eq!(reply(&["config", "get", "maxmemory"]), Reply::Array(vec![]));
        assert!(matches!(
            reply(&["config", "set", "a", "b"]),
            Reply::Error(_)
        ));
    }
}
