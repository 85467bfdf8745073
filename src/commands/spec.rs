//! The command table: every command's name, arity, flags, key positions and
//! COMMAND DOCS text, gathered from the families' files.

use super::{
    acl, admin, bitmap, config, connection, expire, hash, info, keys, list, multi, script, set,
    slowlog, string, zset, Args, Planned,
};

/// A command's static description: name, arity as Redis states it (N > 0:
/// exactly N arguments, the name included; -N: at least N), flags, key
/// positions (first, last, step), COMMAND DOCS group and summary.
pub(super) struct Spec {
    pub name: &'static str,
    pub arity: i64,
    pub flags: &'static [&'static str],
    pub keys: (i64, i64, i64),
    pub group: &'static str,
    pub summary: &'static str,
}

pub(super) const fn spec(
    name: &'static str,
    arity: i64,
    flags: &'static [&'static str],
    keys: (i64, i64, i64),
    group: &'static str,
    summary: &'static str,
) -> Spec {
    Spec {
        name,
        arity,
        flags,
        keys,
        group,
        summary,
    }
}

pub(super) const W: &[&str] = &["write", "denyoom"];
pub(super) const WF: &[&str] = &["write", "denyoom", "fast"];
pub(super) const R: &[&str] = &["readonly", "fast"];
pub(super) const ONE: (i64, i64, i64) = (1, 1, 1);
pub(super) const ALL: (i64, i64, i64) = (1, -1, 1);
pub(super) const NONE: (i64, i64, i64) = (0, 0, 0);

/// A family's planner: one command's arguments to its [`super::Plan`].
pub(super) type Planner = fn(&mut Args<'_>) -> Planned;

/// One command family (one file): its commands and its planner.
pub(super) struct Family {
    pub plan: Planner,
    pub commands: &'static [Spec],
}

/// Every family; COMMAND lists their commands in this order.
pub(super) const FAMILIES: &[Family] = &[
    string::FAMILY,
    bitmap::FAMILY,
    hash::FAMILY,
    set::FAMILY,
    zset::FAMILY,
    list::FAMILY,
    script::FAMILY,
    keys::FAMILY,
    expire::FAMILY,
    connection::FAMILY,
    info::FAMILY,
    config::FAMILY,
    admin::FAMILY,
    acl::FAMILY,
    slowlog::FAMILY,
    multi::FAMILY,
];

/// Every command this server knows.
pub(super) fn all() -> impl Iterator<Item = &'static Spec> {
    FAMILIES.iter().flat_map(|f| f.commands)
}

/// The command named `name` (lowercase) and its family's planner.
pub(super) fn find(name: &str) -> Option<(&'static Spec, Planner)> {
    FAMILIES
        .iter()
        .find_map(|f| Some((f.commands.iter().find(|s| s.name == name)?, f.plan)))
}
