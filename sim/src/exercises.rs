//! Exercise pages, one per deliberate bug, generated from the code
//! (`synod-sim exercises`, run by `scripts/figures.sh`).
//!
//! For every `DeliberateBug::ALL` variant: the rule it breaks (its doc comment
//! in src/core/config.rs and a paragraph below), where the core breaks it (the
//! lines naming the variant), a sweep that exposes it, the minimal
//! counterexample the shrinker finds with its diagram, the commands to replay
//! and step through it, and the fix. A variant added later gets a page too,
//! from its doc comment, with a note that its lesson is not written yet.

use crate::diagram::{self, Filter};
use crate::{scenario::Scenario, shrink, world, Options};
use std::fmt::Write as _;
use std::path::Path;
use synod::core::DeliberateBug;

/// What a person needs beside the generated parts.
struct Lesson {
    /// A scenario file under sim/scenarios (None: swarm).
    scenario: Option<&'static str>,
    /// The rule, in a few sentences.
    rule: &'static str,
    /// The one-line fix.
    fix: &'static str,
}

fn lesson(bug: DeliberateBug) -> Option<Lesson> {
    let l = |scenario, rule, fix| {
        Some(Lesson {
            scenario,
            rule,
            fix,
        })
    };
    match bug.name() {
        "no-ballot-tie-break" => l(
            None,
            "Ballots are (round, node, incarnation) and compared in that order, so no two \
             coordinators ever share a ballot. An acceptor that compares rounds alone promises \
             two coordinators that picked the same round, and both win Phase 1 and Phase 2 with \
             different values.",
            "In `Acceptor::above` / `may_promise` (src/core/acceptor.rs) compare whole ballots: \
             `a > b`, never `a.round > b.round`.",
        ),
        "minority-quorum" => l(
            None,
            "A quorum is ⌊N/2⌋+1 replicas, so any two quorums share a replica: the next round's \
             Phase 1 always meets someone who accepted the last chosen value. With ⌊N/2⌋ two \
             quorums can be disjoint and a chosen write is lost.",
            "In `quorum()` (src/core/proposer.rs) return `replicas / 2 + 1`.",
        ),
        "ignore-accepted-value" => l(
            None,
            "Phase 2a must propose the value with the highest accepted ballot among the Promises \
             (or build the change on it). A coordinator that proposes its own value regardless \
             overwrites a value that may already be chosen.",
            "In Phase 2a (src/core/proposer.rs) start from the highest-ballot accepted value of \
             the Promises, not from absent.",
        ),
        "retry-reapplies-change" => l(
            None,
            "A retry never applies a change twice: if the highest accepted ballot in the retry's \
             Promises is one this request already sent an Accept with, the change took effect; \
             re-propose that value unchanged and answer with the original result.",
            "In the retry path (src/core/proposer.rs) re-propose the request's own earlier Accept \
             unchanged when the Promises show it, instead of applying the change again.",
        ),
        "confirm-without-matching-ballot" => l(
            None,
            "An acceptor marks its value confirmed only if its accepted ballot is exactly the one \
             the Confirm names. A late Confirm for an older round must not bless a newer, \
             possibly unchosen value: fast reads and tombstone clean-up trust the mark.",
            "In `Acceptor::on_confirm` (src/core/acceptor.rs) set `confirmed` only when the \
             accepted ballot equals the Confirm's ballot.",
        ),
        "read-from-one-replica" => l(
            Some("partition-heal"),
            "A read must hear from a quorum (and agree, confirmed) or run a full round; one \
             replica may be behind, having missed the last chosen write while partitioned.",
            "In the read paths (Phase 1 in src/core/proposer.rs, `read_verdict` in \
             src/core/fastpath.rs) wait for a quorum of answers, never the first.",
        ),
        "amnesiac-votes-at-once" => l(
            None,
            "A restarted node has forgotten its promises. It must not vote until it has caught \
             up (an identity round per key through the others) and raised its floor above every \
             ballot they reported; otherwise it can accept below a promise it made before the \
             crash, and a chosen value is overwritten.",
            "In `Node::new` (src/core/node.rs) only `bootstrap` may start voting at once; a \
             restart starts catch-up.",
        ),
        "old-incarnation-votes-counted" => l(
            Some("crash-vector"),
            "Votes are counted per incarnation: a Promise from a node's previous life, sent \
             before it crashed and forgot it, must not be combined with votes that postdate the \
             restart (no mixed quorums; Michael, Ports et al., DISC 2017).",
            "In the vote counting (src/core/node.rs) discard votes from an incarnation older than \
             the one known for that peer.",
        ),
        "drop-tombstone-without-floor" => l(
            None,
            "Before an acceptor drops a key's state (a tombstone, an eviction) it raises its \
             node-wide floor to at least that key's promised ballot, so the effective promise \
             max(promised, floor) never decreases.",
            "In `Acceptor::forget` (src/core/acceptor.rs) raise the floor to the slot's promised \
             ballot before removing the slot.",
        ),
        "drop-tombstone-on-quorum" => l(
            Some("tombstone-resurrection"),
            "A tombstone may be dropped only once the Confirm that named it said `all: true` \
             (every replica accepted it). Dropped after a mere quorum, a replica that missed the \
             delete still holds the old value, and the next round resurrects it.",
            "In the tombstone clean-up (src/core/housekeeping.rs) require `all` from the Confirm, \
             not a quorum.",
        ),
        "expired-read-without-round" => l(
            Some("ttl-skew"),
            "A coordinator never answers \"absent because expired\" before the tombstone is \
             chosen: under clock skew another node may still serve the value, so the expiry \
             must be decided by consensus like any write.",
            "In the read path (src/core/proposer.rs) let an expired value fall through to a full \
             round that writes the tombstone, and answer only once it is chosen.",
        ),
        "evict-locally" => l(
            Some("eviction"),
            "Eviction is a conditional delete decided by consensus, never silent local amnesia: \
             a replica that forgets a value on its own can make a later quorum miss a chosen write.",
            "In eviction (src/core/housekeeping.rs) propose the conditional delete round instead \
             of dropping the slot locally.",
        ),
        "fast-read-trusts-unconfirmed" => l(
            Some("minority-accept"),
            "A fast read (Paxos Quorum Reads) may answer without a round only when a quorum \
             reports the same accepted ballot and each marks it confirmed. A value accepted by a \
             minority is not chosen: read once, it can vanish when a later round builds on the \
             quorum that never saw it, and a later read goes back in time.",
            "In `read_verdict` (src/core/fastpath.rs) count only answers that are confirmed (or \
             hold nothing) and require a quorum on one ballot; otherwise fall back to a full round.",
        ),
        "piggyback-promise-not-kept" => l(
            None,
            "The one-round-trip write works because the Prepare for the coordinator's next ballot \
             rides on its Accept and is promised there. That Promise must be kept like any other: \
             `promised` is raised to the piggybacked ballot, so no lower ballot can win in \
             between; a coordinator that skips Phase 1 on a Promise that was not kept overwrites \
             a value chosen meanwhile.",
            "In `Acceptor::on_piggybacked_prepare` (src/core/acceptor.rs) handle the piggybacked \
             Prepare exactly as `on_prepare`: raise `promised`, then answer.",
        ),
        "listing-skips-unconfirmed-tombstones" => l(
            Some("listing-minority-tombstone"),
            "A cluster listing asks all members but N - q, so at least q replicas of every key \
             answer, and one of them holds the key's latest chosen value or something newer. A \
             tombstone not yet confirmed may sit on a minority above a live value that is still \
             the chosen one: a member must list that key too (the command layer reads each \
             candidate). Leaving it out hides a live key from KEYS, SCAN, DBSIZE and FLUSHALL.",
            "In `Acceptor::list_live_keys` (src/core/acceptor.rs) list every slot for which \
             `may_be_live()` holds: a value, or a tombstone that is not confirmed.",
        ),
        "joint-uses-new-quorum-only" => l(
            Some("membership"),
            "During a membership change a key whose replica set changes is in both worlds at \
             once: a value chosen by a quorum of its old replicas may not be moved yet, and a \
             quorum of its new replicas alone need not meet that old quorum. So in the joint \
             epoch every round on such a key needs a quorum of the old set and of the new one.",
            "In `quorum_met` / `quorum_impossible` (src/core/proposer.rs) count every set in \
             `round.sets` (old and new), never only the first.",
        ),
        "forget-before-moved" => l(
            Some("membership"),
            "An old replica is part of the old quorums that chose the key's values until the \
             key is moved: a move round needs a quorum of the old replicas to report the chosen \
             value. A replica that forgets the key as the change starts leaves that quorum \
             without it, and the move (or any joint round) can miss the chosen write.",
            "In `adopt_membership` (src/core/membership.rs) forget keys this node no longer \
             replicates only in the final epoch (not joint), raising the floor first.",
        ),
        "listing-ignores-old-members" => l(
            Some("membership-listing"),
            "A cluster listing is complete once enough members answered that at least a quorum \
             of every key's replicas did. During a membership change a key's chosen value may \
             sit on a quorum of its old replicas only, until it is moved: a listing that asks \
             only the new members, and counts only them, can be answered by replicas that do \
             not hold the key yet, and hides a live key from KEYS, SCAN, DBSIZE and FLUSHALL.",
            "In `listing_complete` and `ask_for_keys` (src/core/listing.rs) ask every member of \
             the epoch, old and new, and require all old members but N - q as well as all new \
             members but N - q.",
        ),
        "other-epoch-handled" => l(
            Some("membership"),
            "Every peer message carries its sender's membership epoch, and a message from \
             another epoch is not handled: the receiver answers with its own epoch, and the side \
             behind adopts the newer one. A node that has not learnt a change yet still counts \
             votes on its old replica sets and names its old peers; handling its messages mixes \
             two views of who replicates a key, whose quorums need not meet.",
            "In `admit` (src/core/node.rs) drop a message whose `epoch` is not this node's \
             (except an `Epoch` message) and let `on_envelope` tell the sender our epoch.",
        ),
        "ready-after-one-listing" => l(
            Some("recovering-read"),
            "A restarted node forgot what it accepted; a replica that lists its keys for it may \
             itself have missed the last chosen write. Only a quorum of the set's other replicas \
             is sure to hold it, so the node votes for a replica set once min(q, N-1) of its \
             other members finished listing and every listed key had its round.",
            "In `may_vote` (src/core/recovery.rs) require min(q, N-1) finished listings of the \
             set's other members, not one.",
        ),
        "lineage-not-carried" => l(
            Some("dueling-proposers"),
            "A retry tells whether its earlier Accept took effect from the lineage of the value \
             it builds on: the ballots of the last changes that built it. A rival that adopted \
             the retry's minority Accept carries its ballot in the lineage; if the lineage starts \
             afresh at every change, the retry cannot see that and applies its change twice.",
            "In Phase 2a (src/core/proposer.rs) build a changing Accept's lineage with \
             `extend(ballot, &base_lineage)`: its own ballot on top of its base's lineage.",
        ),
        "recovering-node-answers-read" => l(
            Some("recovering-read"),
            "A restarted node has forgotten everything; until its catch-up ends its \"nothing \
             accepted\" proves nothing. A fast read counts \"nothing\" from a quorum as absent, so \
             a recovering node that answers Read, together with a replica that missed a write, \
             reads a chosen value as absent.",
            "In `Node::on_read` (src/core/node.rs) answer Nack(Recovering) while the node does \
             not vote, as for Prepare and Accept.",
        ),
        "fast-read-on-confirmed-field" => l(
            Some("minority-accept"),
            "A fast read compares the accepted ballot itself and whether a Confirm marked it. A \
             separate \"last confirmed\" field lags: a replica that accepted a newer value, chosen \
             but not yet confirmed, still reports the older confirmed one, and a quorum of such \
             answers returns a stale value.",
            "In `Acceptor::read` (src/core/acceptor.rs) answer the accepted (ballot, value) and \
             its own `confirmed` flag, nothing else.",
        ),
        "messages-to-old-incarnation-accepted" => l(
            None,
            "A message addressed to another incarnation of its receiver was meant for a life \
             that is gone and is dropped. No world the simulator builds shows the harm: the \
             restarted node's floor refuses the late Prepares and Accepts, and late replies \
             match no round (ballots carry the incarnation).",
            "In `Node::admit` (src/core/node.rs) drop an envelope whose `to_incarnation` is not \
             ours.",
        ),
        "repair-without-prepare" => l(
            None,
            "Each key a restarted node catches up gets a full identity round whose Prepare \
             fences the late Accepts its forgotten promises would have refused. Skipping it (a \
             fast read or cached Promises) is not caught by any sweep: the floor raised at the \
             end of catch-up refuses those Accepts on the restarted node itself.",
            "In `fast_read_applies` and the cached-phase-1 check (src/core/fastpath.rs) exclude \
             catch-up rounds (`REPAIR_ID_BIT`).",
        ),
        "floor-not-raised-after-catch-up" => l(
            None,
            "A node that caught up raises its floor above every ballot its peers reported before \
             it votes, so it never promises a ballot its previous life refused. No sweep catches \
             its absence: every key a peer lists gets a repair round whose Prepare is above those \
             ballots, and a key no peer lists was forgotten by them with their own floors raised.",
            "In `raise_floor_after_catch_up` (src/core/recovery.rs) raise the floor to \
             `floor_after_catch_up(reported, clock)`.",
        ),
        "floor-from-accepted" => l(
            None,
            "Forgetting a key must keep its promise: the floor is raised to the key's promised \
             ballot, which a piggybacked Prepare or a read of an absent key leaves above its \
             accepted one (or with nothing accepted). Raising it to the accepted ballot forgets \
             that promise, and a lower ballot wins.",
            "In `Acceptor::forget` (src/core/acceptor.rs) raise the floor to `slot.promised`.",
        ),
        _ => None,
    }
}

/// The rule `bug` breaks, in one sentence: its lesson's first, else the
/// first of its doc comment (read from src/core/config.rs when run in the
/// repository), else a pointer there.
pub fn rule(bug: DeliberateBug) -> String {
    let first = |s: &str| match s.find(". ") {
        Some(i) => s[..=i].to_string(),
        None => s.to_string(),
    };
    match lesson(bug) {
        Some(l) => first(l.rule),
        None => match doc_comment(bug) {
            d if d.is_empty() => "see its doc comment in src/core/config.rs".into(),
            d => first(&d),
        },
    }
}

/// The `///` comment above `Variant,` in src/core/config.rs, if it can be read.
fn doc_comment(bug: DeliberateBug) -> String {
    let Ok(src) = std::fs::read_to_string("src/core/config.rs") else {
        return String::new();
    };
    let variant = format!("{bug:?}");
    let lines: Vec<&str> = src.lines().collect();
    let Some(i) = lines.iter().position(|l| {
        l.trim() == format!("{variant},") || l.trim().starts_with(&format!("{variant} "))
    }) else {
        return String::new();
    };
    let mut doc = Vec::new();
    for l in lines[..i].iter().rev() {
        match l.trim().strip_prefix("///") {
            Some(d) => doc.push(d.trim().to_string()),
            None => break,
        }
    }
    doc.reverse();
    doc.join(" ")
}

/// Lines of src/core/*.rs outside tests that name the variant.
fn code_sites(bug: DeliberateBug) -> Vec<String> {
    let needle = format!("DeliberateBug::{bug:?}");
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("src/core") else {
        return out;
    };
    let mut files: Vec<_> = dir.filter_map(|e| e.ok().map(|e| e.path())).collect();
    files.sort();
    for f in files {
        if f.file_name()
            .is_some_and(|n| n == "tests.rs" || n == "config.rs")
        {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&f) else {
            continue;
        };
        for (i, l) in text.lines().enumerate() {
            if l.contains("mod tests") {
                break;
            }
            if l.contains(&needle) {
                out.push(format!("{}:{}: {}", f.display(), i + 1, l.trim()));
            }
        }
    }
    out
}

/// The seed in a minimal scenario file's `# seed: N` header line.
pub fn seed_of(toml: &str) -> Option<u64> {
    toml.lines()
        .find_map(|l| l.strip_prefix("# seed: "))
        .and_then(|n| n.trim().parse().ok())
}

/// True if the rule `bug` breaks is about eviction (so its example may use a
/// memory cap).
pub fn about_eviction(bug: DeliberateBug) -> bool {
    bug == DeliberateBug::EvictLocally
}

/// True if the rule `bug` breaks is about expiry (so its example may write
/// with a TTL).
pub fn about_ttl(bug: DeliberateBug) -> bool {
    bug == DeliberateBug::ExpiredReadWithoutRound
}

/// How complex an example is, compared in this order: features the rule is
/// not about (eviction, TTL), operations and scheduled events, keys, nodes,
/// clients, other features in use (deletes, CAS, faults, loss, duplicates,
/// spikes, skew), the fault phase's length. Smaller is simpler.
pub fn complexity(s: &Scenario, bug: DeliberateBug) -> [u64; 7] {
    let unneeded = u64::from(s.node.memory_max_bytes > 0 && !about_eviction(bug))
        + u64::from(s.mix.ttl_write > 0 && !about_ttl(bug));
    let f = &s.faults;
    let features = [
        s.mix.delete > 0,
        s.mix.cas > 0,
        s.net.drop_p > 0.0 || !s.net.drop_kind.is_empty(),
        s.net.dup_p > 0.0,
        s.net.spike_p > 0.0,
        f.partition_every_ms > 0,
        f.crash_every_ms > 0,
        f.pause_every_ms > 0,
        f.skew_max_ms > 0 || f.drift_max_ppm > 0,
    ]
    .iter()
    .filter(|&&x| x)
    .count() as u64
        // Each kind of operation beyond one.
        + {
            let mut mix = s.mix.clone();
            let kinds = shrink::MIX_KINDS.iter().filter(|k| *k(&mut mix) > 0).count();
            kinds.saturating_sub(1) as u64
        };
    [
        unneeded,
        s.ops as u64 + s.schedule.len() as u64,
        s.keys as u64,
        u64::from(s.nodes),
        s.clients as u64,
        features,
        s.fault_phase_ms,
    ]
}

/// Every scenario an example may start from: the swarm and each file in
/// sim/scenarios, by name.
fn sources() -> Vec<(String, Scenario)> {
    let mut out = vec![("swarm".to_string(), Scenario::swarm_default())];
    let mut names: Vec<String> = std::fs::read_dir("sim/scenarios")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter_map(|e| {
                    let n = e.file_name().to_string_lossy().into_owned();
                    n.strip_suffix(".toml").map(str::to_string)
                })
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    for n in names {
        if let Ok(sc) = load(&n) {
            out.push((n, sc));
        }
    }
    out
}

/// The simplest example of `bug` failing: from every source, the first
/// failing seed below `seeds`, shrunk; the least complex wins (ties: the
/// earlier source). None if no source fails.
fn simplest(bug: DeliberateBug, seeds: u64) -> Option<(u64, String, shrink::Shrunk)> {
    let sources = sources();
    let found: Vec<Option<(u64, String, shrink::Shrunk)>> = std::thread::scope(|s| {
        let handles: Vec<_> = sources
            .iter()
            .map(|(name, sc)| {
                s.spawn(move || {
                    for seed in 0..seeds {
                        let r = world::run(&Options {
                            seed,
                            scenario: sc.clone(),
                            bug: Some(bug),
                            trace: false,
                            timeline: false,
                        })
                        .ok()?;
                        if !r.verdict.passed() {
                            let min = shrink::shrink(seed, &r.scenario, Some(bug), &r.verdict, 400);
                            return Some((seed, name.clone(), min));
                        }
                    }
                    None
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().ok().flatten())
            .collect()
    });
    found
        .into_iter()
        .flatten()
        .min_by_key(|(_, _, m)| complexity(&m.scenario, bug))
}

/// The committed example of `bug` at `path`, if it still fails under the bug
/// at its seed and passes without it.
fn committed(path: &Path, bug: DeliberateBug) -> Option<(u64, String, shrink::Shrunk)> {
    let text = std::fs::read_to_string(path).ok()?;
    let seed = seed_of(&text)?;
    let sc = Scenario::from_toml(&text).ok()?;
    let run = |bug| {
        world::run(&Options {
            seed,
            scenario: sc.clone(),
            bug,
            trace: false,
            timeline: true,
        })
        .ok()
    };
    let bad = run(Some(bug))?;
    let good = run(None)?;
    if bad.verdict.passed() || !good.verdict.passed() {
        return None;
    }
    let source = sc.name.trim_start_matches("shrunk from ").to_string();
    let min = shrink::Shrunk {
        scenario: sc,
        verdict: bad.verdict,
        timeline: bad.timeline,
        runs: 0,
    };
    Some((seed, source, min))
}

fn load(name: &str) -> Result<Scenario, String> {
    let path = format!("sim/scenarios/{name}.toml");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("cannot read {path}: {e}"))?;
    Scenario::from_toml(&text).map_err(|e| format!("{path}: {e}"))
}

/// Writes `out/<bug>.md`, `<bug>.min.toml`, `<bug>.svg` per bug and
/// `out/README.md`. Returns the bugs no failure was found for.
///
/// A bug's example is its committed `<bug>.min.toml` while that still fails
/// under the bug and passes without it; else (or with `search`) the
/// simplest shrunk failure over every scenario (see [`simplest`]).
pub fn write_all(
    out: &Path,
    bugs: &[DeliberateBug],
    seeds: u64,
    search: bool,
) -> Result<Vec<String>, String> {
    std::fs::create_dir_all(out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    let mut index = String::from(
        "# Exercises: break a rule, watch the simulator catch it\n\n\
         Generated by `synod-sim exercises` (run `scripts/figures.sh`); do not edit by hand.\n\
         Each deliberate bug (`DeliberateBug` in src/core/config.rs) breaks one rule of the\n\
         protocol. Each page says which, shows the minimal counterexample the shrinker found,\n\
         and hides the one-line fix. Then write the rules yourself: [the labs](../labs/README.md).\n\n\
         | exercise | rule broken | caught by | minimal run |\n|---|---|---|---|\n",
    );
    let mut uncaught = Vec::new();
    for &bug in bugs {
        let name = bug.name();
        eprintln!("exercise {name}: sweeping seeds 0..{seeds}");
        let lesson = lesson(bug);
        let scenario_name = lesson.as_ref().and_then(|l| l.scenario);
        let toml_path = out.join(format!("{name}.min.toml"));
        // The committed example while it holds; with `search`, the simpler
        // of it and the best a new search finds.
        let kept = committed(&toml_path, bug);
        let found = match (kept, search) {
            (Some(k), false) => Some(k),
            (kept, _) => kept
                .into_iter()
                .chain(simplest(bug, seeds))
                .min_by_key(|(_, _, m)| complexity(&m.scenario, bug)),
        };
        let mut page = String::new();
        let _ = writeln!(page, "# Exercise: `{name}`\n");
        let _ = writeln!(
            page,
            "Generated by `synod-sim exercises` from the code; regenerate with `scripts/figures.sh`.\n"
        );
        let doc = doc_comment(bug);
        let _ = writeln!(page, "## The rule it breaks\n");
        if !doc.is_empty() {
            let _ = writeln!(page, "The bug, in its doc comment: *{doc}*\n");
        }
        match &lesson {
            Some(l) => {
                let _ = writeln!(page, "{}\n", l.rule);
            }
            None => {
                let _ = writeln!(
                    page,
                    "(This bug is newer than the course: its lesson is not written yet. The doc \
                     comment above and the code below say what it breaks.)\n"
                );
            }
        }
        let sites = code_sites(bug);
        if !sites.is_empty() {
            let _ = writeln!(page, "## Where the core breaks it\n\n```");
            for s in &sites {
                let _ = writeln!(page, "{s}");
            }
            let _ = writeln!(page, "```\n");
        }
        let scen_flag = scenario_name
            .map(|s| format!(" --scenario sim/scenarios/{s}.toml"))
            .unwrap_or_default();
        let _ = writeln!(
            page,
            "## Expose it\n\n```sh\nsynod-sim explore --seeds 0..{seeds} --bug {name}{scen_flag}\n```\n"
        );
        let caught = match found {
            None => {
                uncaught.push(name.to_string());
                let _ = writeln!(
                    page,
                    "**No failure in seeds 0..{seeds}.** This sweep does not expose the bug; a \
                     scenario that does is still to be written.\n"
                );
                "not caught in this sweep".to_string()
            }
            Some((seed, source, min)) => {
                let header = format!(
                    "# Minimal counterexample for --bug {name}: the simplest of the shrunk first\n\
                     # failures of every scenario (`synod-sim exercises --search`), from {source}.\n\
                     # It fails under the bug and passes without it (sim/tests/exercises.rs checks).\n\
                     # seed: {seed}\n\
                     # Replay: synod-sim run --seed {seed} --scenario {} --bug {name} --timeline\n",
                    toml_path.display()
                );
                std::fs::write(&toml_path, header + &min.scenario.to_toml())
                    .map_err(|e| format!("cannot write {}: {e}", toml_path.display()))?;
                let opts = Options {
                    seed,
                    scenario: min.scenario.clone(),
                    bug: Some(bug),
                    trace: false,
                    timeline: false,
                };
                let rr = world::run_recorded(&opts)?;
                let mut rec = *rr.recording.expect("recorded");
                rec.title = format!("{name}: minimal counterexample (seed {seed})");
                rec.command = format!(
                    "synod-sim run --seed {seed} --scenario {} --bug {name}",
                    toml_path.display()
                );
                let filter = focus(&rec);
                let svg =
                    diagram::svg::render(&rec, &filter, &diagram::svg::SvgOptions::standalone());
                let svg_path = out.join(format!("{name}.svg"));
                std::fs::write(&svg_path, svg)
                    .map_err(|e| format!("cannot write {}: {e}", svg_path.display()))?;
                let _ = writeln!(
                    page,
                    "## The minimal counterexample\n\n\
                     The simplest failing run found: shrunk from {source} (seed {seed}) to {} \
                     node(s), {} operation(s) from {} client(s) on {} \
                     key(s), a fault phase of {} ms and {} scheduled faults \
                     ([{name}.min.toml]({name}.min.toml)). It fails under the bug and passes \
                     without it:\n\n```\n{}\n```\n",
                    min.scenario.nodes,
                    min.scenario.ops,
                    min.scenario.clients,
                    min.scenario.keys,
                    min.scenario.fault_phase_ms,
                    min.scenario.schedule.len(),
                    min.verdict
                );
                if !rec.culprit.explanation.is_empty() {
                    let _ = writeln!(page, "In words: {}\n", rec.culprit.explanation);
                }
                let _ = writeln!(
                    page,
                    "![the minimal run]({name}.svg)\n\n\
                     The figure shows {} of the minimal run{}.\n\n\
                     ```sh\n\
                     # the figure (and the whole run in a page you can step through)\n\
                     synod-sim run --seed {seed} --scenario docs/exercises/{name}.min.toml --bug {name} --svg {name}.svg{} --html {name}.html\n\
                     # the same, one step per Enter, in the terminal\n\
                     synod-sim step docs/exercises/{name}.min.toml --seed {seed} --bug {name}{}\n\
                     ```\n",
                    if filter.is_empty() { "every step" } else { "the steps leading to the failure" },
                    filter
                        .key
                        .as_ref()
                        .map(|k| format!(", key {k}"))
                        .unwrap_or_default(),
                    view_flags(&filter),
                    view_flags(&filter),
                );
                let lines: Vec<&str> = min.timeline.lines().collect();
                let tail = lines.len().saturating_sub(60);
                let _ = writeln!(
                    page,
                    "<details><summary>The last {} lines of the minimal run's timeline (in delivery order; #N is a message's number in send order, `sent` the time it was sent)</summary>\n\n```\n#       time  #N            sent  message\n{}\n```\n</details>\n",
                    lines.len() - tail,
                    lines[tail..].join("\n")
                );
                let class = if min.verdict.to_string().contains("linearizability") {
                    "linearizability".to_string()
                } else {
                    min.verdict
                        .to_string()
                        .split_whitespace()
                        .nth(2)
                        .unwrap_or("an invariant")
                        .to_string()
                };
                format!("seed {seed}: `{class}`")
            }
        };
        let _ = writeln!(
            page,
            "## The fix\n\n<details><summary>Try first; then open</summary>\n\n{}\n\n\
             In this code base the fix is to run without `--bug {name}`: the correct rule is the \
             default, and `cargo nextest run -p synod-sim --test bugs` checks both that the bug is \
             caught and that the correct build passes the same sweep.\n</details>",
            lesson
                .as_ref()
                .map(|l| l.fix)
                .unwrap_or("Remove the `DeliberateBug` branch shown above.")
        );
        let path = out.join(format!("{name}.md"));
        std::fs::write(&path, page).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        let rule = lesson
            .as_ref()
            .map(|l| l.rule.split(". ").next().unwrap_or("").to_string())
            .unwrap_or(doc);
        let _ = writeln!(
            index,
            "| [{name}]({name}.md) | {} | {caught} | {} |",
            rule.replace('|', "\\|"),
            if uncaught.contains(&name.to_string()) {
                "—".to_string()
            } else {
                format!("[{name}.svg]({name}.svg)")
            }
        );
    }
    let path = out.join("README.md");
    std::fs::write(&path, index).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(uncaught)
}

/// The part of a failing run worth drawing: the key and the last steps before
/// the invariant broke, or the key of a non-linearizable history.
pub fn focus(rec: &diagram::Recording) -> Filter {
    let key = rec.culprit.key.map(|k| rec.keys[k as usize].clone());
    let window_us = rec.culprit.step.map(|s| {
        let from = rec
            .steps
            .iter()
            .take(s + 1)
            .rev()
            .filter(|st| key.is_none() || st.key == rec.culprit.key.map_or(-1, |k| k as i32))
            .nth(60)
            .map_or(0, |st| st.t_us);
        (from, rec.steps[s].t_us)
    });
    Filter {
        key,
        nodes: Vec::new(),
        window_us,
    }
}

fn view_flags(f: &Filter) -> String {
    let mut s = String::new();
    if let Some(k) = &f.key {
        let _ = write!(s, " --key {k}");
    }
    if let Some((a, b)) = f.window_us {
        let _ = write!(s, " --window {:.3}..{:.3}", a as f64 / 1e3, b as f64 / 1e3);
    }
    s
}
