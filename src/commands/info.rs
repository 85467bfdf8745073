//! INFO: the snapshot the runtime gathers, and its text in Redis's format.

use super::spec::{spec, Family, NONE};
use super::{unknown_command, Args, Plan, Planned, VERSION};
use crate::core::{Incarnation, MembershipProgress, NodeId, RecoveryProgress, Stats};
use std::fmt::Write as _;

pub(super) const FAMILY: Family = Family {
    plan,
    commands: &[spec(
        "info",
        -1,
        &["loading", "stale"],
        NONE,
        "server",
        "Returns the node's state and counters.",
    )],
};

fn plan(c: &mut Args<'_>) -> Planned {
    let (name, a) = (c.name, &*c.a);
    match name {
        // As Redis 7: any number of sections, printed in INFO's own order.
        "info" => Ok(Plan::Info {
            sections: a
                .iter()
                .map(|s| String::from_utf8_lossy(s).to_ascii_lowercase())
                .collect(),
        }),
        _ => Err(unknown_command(&[name.as_bytes().to_vec()])),
    }
}

/// What INFO shows about one peer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PeerInfo {
    /// The peer's id.
    pub node: NodeId,
    /// Its peer-port address.
    pub addr: String,
    /// Our outbound connection to it is up (we can send).
    pub up: bool,
    /// Inbound connections from it (it can send to us).
    pub inbound: usize,
    /// The highest incarnation we know for it (0: none).
    pub incarnation: Incarnation,
    /// Traffic with it since start.
    pub messages_sent: u64,
    pub bytes_sent: u64,
    pub messages_received: u64,
    pub bytes_received: u64,
}

/// Everything INFO prints, gathered by the runtime.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InfoSnapshot {
    pub node_id: NodeId,
    pub incarnation: Incarnation,
    /// True: votes as an acceptor; false: recovering (coordinator only).
    pub voting: bool,
    pub uptime_s: u64,
    pub client_addr: String,
    pub peer_addr: String,
    pub cluster_id: String,
    pub members: Vec<NodeId>,
    pub replicas: usize,
    pub quorum: usize,
    pub membership_hash: u64,
    pub peers: Vec<PeerInfo>,
    /// Keys holding a value on this replica.
    pub keys: u64,
    /// Keys whose accepted value is a tombstone.
    pub tombstones: u64,
    pub round_clock: u64,
    pub rtt_us: u64,
    pub inflight: u64,
    pub clients_connected: u64,
    pub stats: Stats,
    /// Catch-up progress while recovering.
    pub recovery: Option<RecoveryProgress>,
    /// Runtime counters, in display order.
    pub runtime: Vec<(&'static str, u64)>,
    /// INFO commandstats, errorstats, latencystats lines (src/metrics.rs).
    pub commandstats: Vec<(String, String)>,
    pub errorstats: Vec<(String, String)>,
    pub latencystats: Vec<(String, String)>,
    /// Why catch-up is stuck, if it is (INFO `recovery_blocked`).
    pub recovery_blocked: Option<String>,
    /// The membership epoch and the change in progress (membership.rs).
    pub membership: MembershipProgress,
}

/// Every counter of the core's [`Stats`], by name (destructured, so a new
/// counter cannot be forgotten here).
pub fn stats_fields(s: &Stats) -> Vec<(&'static str, u64)> {
    let Stats {
        requests,
        requests_ok,
        requests_failed,
        requests_unknown,
        rounds_started,
        rounds_chosen,
        attempts_retried,
        phase_timeouts,
        rejects_received,
        nacks_received,
        messages_received,
        messages_dropped,
        messages_refused,
        keys: _,                // in # Keyspace
        tombstones: _,          // in # Keyspace
        memory_used_bytes: _,   // in # Memory
        promise_cache_bytes: _, // in # Memory
        promise_cache_keys: _,  // in # Memory
        evicted_keys,
        expired_keys,
        tombstones_dropped,
        oom_refusals,
        fast_writes,
        fast_reads,
        fast_read_fallbacks,
    } = s;
    vec![
        ("requests", *requests),
        ("requests_ok", *requests_ok),
        ("requests_failed", *requests_failed),
        ("requests_unknown", *requests_unknown),
        ("rounds_started", *rounds_started),
        ("rounds_chosen", *rounds_chosen),
        ("attempts_retried", *attempts_retried),
        ("phase_timeouts", *phase_timeouts),
        ("rejects_received", *rejects_received),
        ("nacks_received", *nacks_received),
        ("messages_received", *messages_received),
        ("messages_dropped", *messages_dropped),
        ("messages_refused", *messages_refused),
        ("evicted_keys", *evicted_keys),
        ("expired_keys", *expired_keys),
        ("tombstones_dropped", *tombstones_dropped),
        ("oom_refusals", *oom_refusals),
        ("fast_writes", *fast_writes),
        ("fast_reads", *fast_reads),
        ("fast_read_fallbacks", *fast_read_fallbacks),
    ]
}

/// Bytes as Redis's `used_memory_human` shows them (`1.50M`).
fn human_bytes(n: u64) -> String {
    let units = [("G", 1u64 << 30), ("M", 1 << 20), ("K", 1 << 10)];
    for (unit, size) in units {
        if n >= size {
            return format!("{:.2}{unit}", n as f64 / size as f64);
        }
    }
    format!("{n}B")
}

/// The sections INFO knows, in Redis 7's order (which INFO keeps whatever
/// the order they are named in).
pub const INFO_SECTIONS: [&str; 9] = [
    "server",
    "clients",
    "memory",
    "stats",
    "commandstats",
    "errorstats",
    "latencystats",
    "cluster",
    "keyspace",
];

/// INFO's text in Redis's format (`# Section`, `field:value` lines, CRLF), for
/// one section, or all of them (`None`, "all", "default", "everything").
/// INFO as a client without admin rights sees it: no cluster id, no
/// incarnations, no peer addresses (what an outsider would need to forge a
/// peer's messages; issue 15).
pub fn redact_info(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive("\r\n") {
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        if ["cluster_id", "incarnation", "peer_addr"].contains(&field) {
            continue;
        }
        if field.starts_with("peer")
            && field[4..].chars().all(|c| c.is_ascii_digit())
            && field.len() > 4
        {
            let kept: Vec<&str> = value
                .trim_end()
                .split(',')
                .filter(|kv| !kv.starts_with("addr=") && !kv.starts_with("incarnation="))
                .collect();
            out.push_str(&format!("{field}:{}\r\n", kept.join(",")));
            continue;
        }
        out.push_str(line);
    }
    out
}

pub fn info_text(s: &InfoSnapshot, sections: &[String]) -> String {
    // As Redis 7: the default sections when none is named or with
    // "default" (all but commandstats and latencystats); every section with
    // "all" or "everything"; and each section named, in INFO's order. An
    // unknown name adds nothing.
    let named = |x: &str| sections.iter().any(|s| s == x);
    let wanted = |name: &str| {
        named(name)
            || named("all")
            || named("everything")
            || ((sections.is_empty() || named("default"))
                && !matches!(name, "commandstats" | "latencystats"))
    };
    let mut out = String::new();
    let mut block = |title: &str, lines: Vec<(String, String)>| {
        if !wanted(&title.to_ascii_lowercase()) {
            return;
        }
        if !out.is_empty() {
            out.push_str("\r\n");
        }
        let _ = write!(out, "# {title}\r\n");
        for (k, v) in lines {
            let _ = write!(out, "{k}:{v}\r\n");
        }
    };
    let l = |k: &str, v: String| (k.to_string(), v);
    let ids = |v: &[NodeId]| {
        v.iter()
            .map(|m| m.to_string())
            .collect::<Vec<_>>()
            .join(",")
    };
    block(
        "Server",
        vec![
            l("synod_version", VERSION.into()),
            l("node_id", s.node_id.to_string()),
            l("incarnation", s.incarnation.to_string()),
            l(
                "role",
                if s.voting { "voter" } else { "recovering" }.to_string(),
            ),
            l(
                "recovery",
                match &s.recovery {
                    Some(r) => format!(
                        "{}/{} keys repaired ({}), {}/{} peer listings done",
                        r.keys_repaired,
                        r.keys_listed,
                        if r.listing_complete {
                            "every key listed"
                        } else {
                            "listed so far; the total is not known yet"
                        },
                        r.peers_done,
                        r.peers_total
                    ),
                    None => "done".to_string(),
                },
            ),
        ]
        .into_iter()
        .chain(
            s.recovery_blocked
                .iter()
                .map(|why| l("recovery_blocked", why.clone())),
        )
        .chain([
            l("uptime_in_seconds", s.uptime_s.to_string()),
            l("client_addr", s.client_addr.clone()),
            l("peer_addr", s.peer_addr.clone()),
        ])
        .collect(),
    );
    block(
        "Clients",
        vec![
            l("connected_clients", s.clients_connected.to_string()),
            l("requests_in_flight", s.inflight.to_string()),
        ],
    );
    let used = s.stats.memory_used_bytes;
    block(
        "Memory",
        vec![
            l("used_memory", used.to_string()),
            l("used_memory_human", human_bytes(used)),
            l(
                "promise_cache_bytes",
                s.stats.promise_cache_bytes.to_string(),
            ),
            l("promise_cache_keys", s.stats.promise_cache_keys.to_string()),
        ],
    );
    let mut stats: Vec<_> = stats_fields(&s.stats)
        .into_iter()
        .map(|(k, v)| l(k, v.to_string()))
        .collect();
    stats.extend(s.runtime.iter().map(|(k, v)| l(k, v.to_string())));
    block("Stats", stats);
    block("Commandstats", s.commandstats.clone());
    block("Errorstats", s.errorstats.clone());
    block("Latencystats", s.latencystats.clone());
    let mut cluster = vec![
        l("cluster_id", s.cluster_id.clone()),
        l(
            "members",
            s.members
                .iter()
                .map(|m| m.to_string())
                .collect::<Vec<_>>()
                .join(","),
        ),
        l(
            "membership_epoch",
            s.membership.membership.epoch.to_string(),
        ),
        l(
            "membership_state",
            match (
                &s.membership.membership,
                s.membership.membership.old.is_some(),
            ) {
                (m, _) if m.members.is_empty() => "joining (no membership known yet)".into(),
                (m, false) if !m.includes(s.node_id) => "not a member".into(),
                (_, false) => "stable".into(),
                (_, true) => "changing".into(),
            },
        ),
        l(
            "membership_old",
            ids(s.membership.membership.old.as_deref().unwrap_or(&[])),
        ),
        l("membership_moved", ids(&s.membership.membership.moved)),
        l("keys_to_move", s.membership.keys_to_move.to_string()),
        l("keys_moved", s.membership.keys_moved.to_string()),
        l(
            "keys_moved_reported",
            if s.membership.reported { "1" } else { "0" }.into(),
        ),
        l("replicas", s.replicas.to_string()),
        l("quorum", s.quorum.to_string()),
        l("membership_hash", format!("{:016x}", s.membership_hash)),
        l(
            "peers_up",
            s.peers.iter().filter(|p| p.up).count().to_string(),
        ),
        l(
            "peers_down",
            s.peers.iter().filter(|p| !p.up).count().to_string(),
        ),
        l("round_clock", s.round_clock.to_string()),
        l("rtt_us", s.rtt_us.to_string()),
    ];
    for p in &s.peers {
        cluster.push(l(
            &format!("peer{}", p.node),
            format!(
                "addr={},state={},inbound={},incarnation={}",
                p.addr,
                if p.up { "up" } else { "down" },
                p.inbound,
                p.incarnation
            ),
        ));
    }
    block("Cluster", cluster);
    block(
        "Keyspace",
        vec![
            l("keys", s.keys.to_string()),
            l("tombstones", s.tombstones.to_string()),
            // This node's replicas of keys; `expires` is not counted (0).
            l("db0", format!("keys={},expires=0,avg_ttl=0", s.keys)),
        ],
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_has_every_section_in_redis_format() {
        let snap = InfoSnapshot {
            node_id: 2,
            incarnation: 99,
            voting: false,
            members: vec![1, 2, 3],
            replicas: 3,
            quorum: 2,
            peers: vec![PeerInfo {
                node: 1,
                addr: "127.0.0.1:7101".into(),
                up: true,
                inbound: 1,
                incarnation: 5,
                ..PeerInfo::default()
            }],
            keys: 4,
            stats: Stats {
                memory_used_bytes: 3 << 20,
                expired_keys: 6,
                evicted_keys: 7,
                ..Stats::default()
            },
            recovery: Some(RecoveryProgress {
                keys_listed: 50,
                keys_repaired: 12,
                peers_done: 1,
                peers_total: 2,
                listing_complete: false,
            }),
            runtime: vec![("frames_sent", 7)],
            ..InfoSnapshot::default()
        };
        let text = info_text(&snap, &[]);
        for needle in [
            "# Server\r\n",
            "node_id:2\r\n",
            "role:recovering\r\n",
            "recovery:12/50 keys repaired (listed so far; the total is not known yet), 1/2 peer listings done\r\n",
            "# Memory\r\nused_memory:3145728\r\nused_memory_human:3.00M\r\n",
            "# Cluster\r\n",
            "peer1:addr=127.0.0.1:7101,state=up,inbound=1,incarnation=5\r\n",
            "# Keyspace\r\n",
            "db0:keys=4,expires=0,avg_ttl=0\r\n",
            "# Stats\r\n",
            "expired_keys:6\r\n",
            "evicted_keys:7\r\n",
            "frames_sent:7\r\n",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in {text}");
        }
        assert_eq!(text.matches("used_memory:").count(), 1);
        let sections =
            |names: &[&str]| -> Vec<String> { names.iter().map(|n| n.to_string()).collect() };
        let only = info_text(&snap, &sections(&["memory"]));
        assert!(only.starts_with("# Memory\r\n"), "{only}");
        assert!(!only.contains("# Server"));
        assert_eq!(info_text(&snap, &sections(&["nosuch"])), "");
        assert_eq!(info_text(&snap, &sections(&["nosuch", "other"])), "");
        // Several sections, in INFO's order whatever the order named (Redis 7).
        let two = info_text(&snap, &sections(&["keyspace", "server", "nosuch"]));
        let titles: Vec<&str> = two.lines().filter(|l| l.starts_with('#')).collect();
        assert_eq!(titles, ["# Server", "# Keyspace"]);
        let every = info_text(&snap, &sections(&["everything"]));
        assert!(every.contains("# Commandstats") && every.contains("# Latencystats"));
        assert_eq!(every, info_text(&snap, &sections(&["all"])));
        let plus = info_text(&snap, &sections(&["default", "commandstats"]));
        assert!(plus.contains("# Server") && plus.contains("# Commandstats"));
        assert!(!plus.contains("# Latencystats"));
    }
}
