//! The node's configuration: every bound and timing in one place, with its
//! default and why, checked when built.

use super::ballot::NodeId;
use std::fmt;

/// A rule broken on purpose, so the simulator can show it catches the break.
/// Off (`None`) in every real node. Each variant changes one line of logic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DeliberateBug {
    /// Acceptors compare ballots by round only: two coordinators with the same
    /// round both win.
    NoBallotTieBreak,
    /// Quorum of ⌊N/2⌋ instead of ⌊N/2⌋+1: two quorums need not intersect.
    MinorityQuorum,
    /// The coordinator ignores accepted values in Promises (Phase 2a picks its own).
    IgnoreAcceptedValue,
    /// A retry applies its change afresh even if its own earlier Accept landed.
    RetryReappliesChange,
    /// Confirm marks the value confirmed whatever ballot it names.
    ConfirmWithoutMatchingBallot,
    /// A read returns the first replica's answer instead of a quorum's.
    ReadFromOneReplica,
    /// A restarted node votes at once, as if it remembered its promises.
    AmnesiacVotesAtOnce,
    /// Votes from an incarnation known to be dead still count (no crash vectors).
    OldIncarnationVotesCounted,
    /// A tombstone is dropped without first raising the floor to its promise:
    /// a stale proposer's Accept can land on the forgotten key.
    DropTombstoneWithoutFloor,
    /// A tombstone is dropped once a quorum (not all N) confirmed it: a replica
    /// that missed the delete still holds the old value, and resurrects it.
    DropTombstoneOnQuorum,
    /// A read that finds the value expired answers "absent" at once, without
    /// choosing the tombstone: under clock skew another node still serves it.
    ExpiredReadWithoutRound,
    /// Eviction forgets the key locally instead of deleting it by consensus.
    EvictLocally,
    /// A fast read returns the highest accepted value a quorum reports,
    /// confirmed or not, agreeing or not: a value accepted by a minority is
    /// read, and a later read may not see it (!).
    FastReadTrustsUnconfirmed,
    /// An acceptor answers the Prepare piggybacked on an Accept with a Promise
    /// but does not keep it: a lower ballot can still win in between, and the
    /// coordinator's one-round-trip write then loses that value (!).
    PiggybackPromiseNotKept,
    /// A member's listing leaves out every key whose accepted value is a
    /// tombstone, even one not confirmed: a tombstone accepted by a minority
    /// hides a live key from KEYS, SCAN, DBSIZE and FLUSHALL (!).
    ListingSkipsUnconfirmedTombstones,
    /// A changing Accept starts its lineage afresh instead of carrying its
    /// base's: a rival's value built on a retry's earlier Accept no longer
    /// shows it, and the retry applies its change a second time (!).
    LineageNotCarried,
    /// A recovering node answers fast reads from its fresh, empty memory:
    /// with another replica that missed a write, its "nothing accepted"
    /// makes a quorum that reads a chosen value as absent (!).
    RecoveringNodeAnswersRead,
    /// A replica answers a fast read with the last value a Confirm marked
    /// (a separate "last confirmed" field) instead of its accepted ballot: a
    /// newer value chosen but not yet confirmed is missed (!).
    FastReadOnConfirmedField,
    /// Messages addressed to another incarnation of the receiver are handled
    /// instead of dropped: a late Accept sent to the node's previous life can
    /// land on the new one (!).
    MessagesToOldIncarnationAccepted,
    /// The identity rounds of catch-up skip their Prepare when they can (a
    /// fast read, or cached Promises): nothing fences the late Accepts the
    /// forgotten promises let through (!).
    RepairWithoutPrepare,
    /// A node ends catch-up without raising its floor above the ballots its
    /// peers reported: it promises ballots its previous life refused (!).
    FloorNotRaisedAfterCatchUp,
    /// Forgetting a key raises the floor to its accepted ballot, not its
    /// promise: a promise above the accepted value (a piggybacked Prepare)
    /// is forgotten (!).
    FloorFromAccepted,
    /// The coordinator names the value by its ballot (`Accept::held`) to
    /// every replica that promised, not only to those whose Promise showed
    /// they hold that ballot, and an acceptor takes whatever value it holds for the
    /// key instead of refusing when its accepted ballot is another: two
    /// replicas accept different values at one ballot (!).
    ElidedValueUnchecked,
    /// During a membership change, a round on a key whose replica set
    /// changes counts only a quorum of the new set, not of the old one too:
    /// a value an old quorum chose and nobody moved yet is missed (!).
    JointUsesNewQuorumOnly,
    /// An old replica forgets a key it no longer holds in the new membership
    /// as soon as the change starts, before the key is moved: with one more
    /// lagging replica, the move round misses the chosen value (!).
    ForgetBeforeMoved,
    /// During a membership change, a cluster listing asks only the new
    /// members and counts only their answers: a key whose chosen value sits
    /// on a quorum of its old replicas and is not moved yet is left out (!).
    ListingIgnoresOldMembers,
    /// A peer message from another membership epoch is handled as if from
    /// this one (the epochs are still exchanged): a coordinator that has not
    /// learnt a change yet counts votes on its old replica sets, a quorum
    /// that need not meet the new sets' quorums (!).
    OtherEpochHandled,
    /// A restarted node votes for a replica set once one of its other
    /// members finished listing, not min(q, N-1) of them: the one that
    /// listed may have missed a chosen write the others hold (!).
    ReadyAfterOneListing,
}

impl DeliberateBug {
    /// Every variant, for sweeps.
    pub const ALL: [DeliberateBug; 28] = [
        DeliberateBug::NoBallotTieBreak,
        DeliberateBug::MinorityQuorum,
        DeliberateBug::IgnoreAcceptedValue,
        DeliberateBug::RetryReappliesChange,
        DeliberateBug::ConfirmWithoutMatchingBallot,
        DeliberateBug::ReadFromOneReplica,
        DeliberateBug::AmnesiacVotesAtOnce,
        DeliberateBug::OldIncarnationVotesCounted,
        DeliberateBug::DropTombstoneWithoutFloor,
        DeliberateBug::DropTombstoneOnQuorum,
        DeliberateBug::ExpiredReadWithoutRound,
        DeliberateBug::EvictLocally,
        DeliberateBug::FastReadTrustsUnconfirmed,
        DeliberateBug::PiggybackPromiseNotKept,
        DeliberateBug::ListingSkipsUnconfirmedTombstones,
        DeliberateBug::LineageNotCarried,
        DeliberateBug::RecoveringNodeAnswersRead,
        DeliberateBug::FastReadOnConfirmedField,
        DeliberateBug::MessagesToOldIncarnationAccepted,
        DeliberateBug::RepairWithoutPrepare,
        DeliberateBug::FloorNotRaisedAfterCatchUp,
        DeliberateBug::FloorFromAccepted,
        DeliberateBug::ElidedValueUnchecked,
        DeliberateBug::JointUsesNewQuorumOnly,
        DeliberateBug::ForgetBeforeMoved,
        DeliberateBug::ListingIgnoresOldMembers,
        DeliberateBug::OtherEpochHandled,
        DeliberateBug::ReadyAfterOneListing,
    ];

    /// The kebab-case name used on command lines.
    pub fn name(self) -> &'static str {
        match self {
            DeliberateBug::NoBallotTieBreak => "no-ballot-tie-break",
            DeliberateBug::MinorityQuorum => "minority-quorum",
            DeliberateBug::IgnoreAcceptedValue => "ignore-accepted-value",
            DeliberateBug::RetryReappliesChange => "retry-reapplies-change",
            DeliberateBug::ConfirmWithoutMatchingBallot => "confirm-without-matching-ballot",
            DeliberateBug::ReadFromOneReplica => "read-from-one-replica",
            DeliberateBug::AmnesiacVotesAtOnce => "amnesiac-votes-at-once",
            DeliberateBug::OldIncarnationVotesCounted => "old-incarnation-votes-counted",
            DeliberateBug::DropTombstoneWithoutFloor => "drop-tombstone-without-floor",
            DeliberateBug::DropTombstoneOnQuorum => "drop-tombstone-on-quorum",
            DeliberateBug::ExpiredReadWithoutRound => "expired-read-without-round",
            DeliberateBug::EvictLocally => "evict-locally",
            DeliberateBug::FastReadTrustsUnconfirmed => "fast-read-trusts-unconfirmed",
            DeliberateBug::PiggybackPromiseNotKept => "piggyback-promise-not-kept",
            DeliberateBug::ListingSkipsUnconfirmedTombstones => {
                "listing-skips-unconfirmed-tombstones"
            }
            DeliberateBug::LineageNotCarried => "lineage-not-carried",
            DeliberateBug::RecoveringNodeAnswersRead => "recovering-node-answers-read",
            DeliberateBug::FastReadOnConfirmedField => "fast-read-on-confirmed-field",
            DeliberateBug::MessagesToOldIncarnationAccepted => {
                "messages-to-old-incarnation-accepted"
            }
            DeliberateBug::RepairWithoutPrepare => "repair-without-prepare",
            DeliberateBug::FloorNotRaisedAfterCatchUp => "floor-not-raised-after-catch-up",
            DeliberateBug::FloorFromAccepted => "floor-from-accepted",
            DeliberateBug::ElidedValueUnchecked => "elided-value-unchecked",
            DeliberateBug::JointUsesNewQuorumOnly => "joint-uses-new-quorum-only",
            DeliberateBug::ForgetBeforeMoved => "forget-before-moved",
            DeliberateBug::ListingIgnoresOldMembers => "listing-ignores-old-members",
            DeliberateBug::OtherEpochHandled => "other-epoch-handled",
            DeliberateBug::ReadyAfterOneListing => "ready-after-one-listing",
        }
    }

    /// Parses a kebab-case name.
    pub fn from_name(name: &str) -> Option<DeliberateBug> {
        DeliberateBug::ALL.into_iter().find(|b| b.name() == name)
    }
}

/// Configuration of one node's protocol core.
#[derive(Clone, Debug)]
pub struct Config {
    /// This node's id; must be in `members`.
    pub node_id: NodeId,
    /// Every node of the cluster (the membership list).
    pub members: Vec<NodeId>,
    /// N: replicas per key. Default 3.
    pub replicas: usize,
    /// A phase (Prepare or Accept) that has no quorum after this long is retried
    /// with a higher ballot. 50 ms: far above a loopback or LAN round trip, short
    /// enough that a lost message costs little.
    pub phase_timeout_ms: u64,
    /// A request gives up after this long: `failed` if no Accept carrying its
    /// change was sent, else `unknown`. 2 s: longer than any backoff sequence.
    pub retry_budget_ms: u64,
    /// The slowest rate, in bytes per ms, at which a value is expected to
    /// move between two nodes (encoded, tagged, sent, checked, decoded): a
    /// phase whose messages carry big values waits `phase_timeout_ms` plus
    /// their bytes at this rate, and the round's retry budget grows by as
    /// much, within half of `tombstone_grace_ms` (the longest a round may
    /// live, so that the tombstone rule below still holds). 16 KiB/ms
    /// (16 MB/s): a loaded debug build moves values faster than that; a 16
    /// MiB Accept to two peers may take 2 s before it is retried.
    pub transfer_bytes_per_ms: u64,
    /// An Accept of a value at least this big names it by ballot
    /// (`Accept::held`) to the replicas whose Promise showed they hold it
    /// (a retry re-proposing its own value, a read's identity round),
    /// instead of sending the bytes again. 64 KiB: below that, the bytes
    /// cost less than a possible extra round trip. The simulator uses 0.
    pub elide_value_min_bytes: usize,
    /// Upper bound of the jittered exponential backoff after a Reject. A few ms:
    /// in-memory rounds take tens of µs; Cassandra's 10-100 ms suit disks, not us.
    pub retry_backoff_max_ms: u64,
    /// Round-trip estimate before any is measured, in µs.
    pub rtt_initial_us: u64,
    /// How far peers may raise the round clock from the start: the raise
    /// budget's initial amount (ballot.rs, `RoundClock`). A message naming a
    /// round beyond the budget is refused as bad and closes its link. 2^48:
    /// a node restarting (clock 0) into a cluster that ran a million rounds
    /// a second for eight years still catches up at once.
    pub round_jump_max: u64,
    /// Rounds per second the raise budget grows by. 2^30 (~10^9) is far
    /// above any honest cluster's round rate; a member pushing huge ballots
    /// needs over 500 years of the node's uptime to drive the clock to its
    /// limit.
    pub round_raise_per_sec: u64,
    /// Requests for one key composed into one round at most.
    pub batch_max_requests: usize,
    /// Requests waiting for one key at most; more are refused at once.
    pub key_queue_max_requests: usize,
    /// Requests in flight on this coordinator at most; more are refused at once.
    pub inflight_max_requests: usize,
    /// Largest key accepted from a client.
    pub key_len_max_bytes: usize,
    /// Largest value accepted from a client.
    pub value_len_max_bytes: usize,
    /// Catch-up: keys listed in one KeyPage at most. Small pages pace repair so
    /// serving traffic continues (each listed key costs one identity round).
    pub recovery_page_keys_max: usize,
    /// Catch-up: slots a peer examines to fill one page at most (bounds the
    /// CPU one Recover costs when few keys belong to the asker).
    pub recovery_scan_slots_max: usize,
    /// Catch-up: a page request unanswered this long is sent again.
    pub recovery_retry_ms: u64,
    /// How often the housekeeper runs (TTL sweep, tombstone clean-up,
    /// eviction). 100 ms: expired keys nobody reads go within about that.
    pub housekeeping_interval_ms: u64,
    /// Slots the housekeeper examines per run at most (bounds the CPU one
    /// run costs; a full pass over K keys takes K / this runs).
    pub sweep_slots_max: usize,
    /// A tombstone confirmed on all N replicas is dropped after this long
    /// (!). At least twice `retry_budget_ms`: a coordinator still retrying a
    /// write whose first Accept landed and was then deleted over must find
    /// the tombstone above its Accept (the retry rule, "never apply a change
    /// twice", reads it); once every such round has given up, the floor
    /// alone guards the key. 5 s.
    pub tombstone_grace_ms: u64,
    /// Memory cap for this node's keys and values, in bytes (0: none).
    pub memory_max_bytes: u64,
    /// What to do at the cap.
    pub eviction: Eviction,
    /// Eviction starts at this percentage of `memory_max_bytes`, so that
    /// deletes (which need a quorum and leave tombstones for a grace period)
    /// catch up before the cap refuses writes. 90%.
    pub evict_at_percent: u64,
    /// Keys sampled per eviction (Redis's maxmemory-samples: 5).
    pub evict_samples: usize,
    /// System operations (sweeps, evictions, tombstone rounds) in flight at
    /// most: housekeeping never crowds out clients.
    pub system_inflight_max: usize,
    /// Keys in one page of a cluster listing (KEYS, SCAN) at most, per member
    /// answer and in the merged page. 1000: Redis's own SCAN COUNT rarely
    /// exceeds it, and a page of long keys still fits one frame.
    pub list_keys_max: usize,
    /// Cluster listings this node coordinates at once at most; more are
    /// refused at once (each holds up to members x list_keys_max keys).
    pub listings_max: usize,
    /// A cluster listing without enough answers after this long fails.
    pub list_timeout_ms: u64,
    /// Reads try a fast read first (`Read` to the replicas, answered without
    /// touching `promised`; docs/design.md "Reads"), falling back to a full round.
    pub fast_reads: bool,
    /// An Accept carries the Prepare of the coordinator's next ballot for the
    /// key (CASPaxos §2.2.1): the next write of the key by this coordinator
    /// then takes one round trip, if nobody prepared the key in between.
    pub piggyback_prepare: bool,
    /// Keys with a cached (piggybacked) phase 1 at most: each holds a ballot,
    /// the voters and the highest accepted value. The oldest go first.
    pub promise_cache_max_keys: usize,
    /// Bytes the cached phase 1s hold at most (keys, the value each entry
    /// keeps and its measured overhead), oldest dropped first. 64 MiB: an
    /// entry must fit a value of `value_len_max_bytes` (16 MiB), or every
    /// write of a big value runs phase 1 and each replica's Promise brings
    /// the old value back (issue 14: 32 MiB more on the wire per 16 MiB SET,
    /// decoded on the coordinator's event loop). The value an entry keeps is
    /// shared with the store (`Bytes`), so this counts bytes mostly held anyway.
    /// Counted apart from `memory_max_bytes` (INFO `promise_cache_bytes`).
    pub promise_cache_max_bytes: usize,
    /// A cached phase 1 older than this is not used (it is likely stale, and
    /// a stale one costs an extra round trip). 10 s.
    pub promise_cache_ttl_ms: u64,
    /// Seed of the node's RNG (backoff jitter): set by the driver.
    pub rng_seed: u64,
    /// Seed of the hash of the per-key maps on the request path
    /// (core/keymap.rs): the runtime draws it at random, so that clients
    /// cannot choose colliding keys; the simulator fixes it.
    pub hash_seed: u64,
    /// Record trace events (the simulator and debugging use them).
    pub trace: bool,
    /// A rule broken on purpose (simulator only).
    pub bug: Option<DeliberateBug>,
    /// The membership epoch to start in, if not epoch 0 of `members`
    /// (membership.rs): a node restarting into a cluster whose membership
    /// changed, or a node joining one (then it need not be a member yet; it
    /// serves and votes once an epoch names it).
    pub membership: Option<super::membership::Membership>,
}

impl Config {
    /// A configuration with defaults for node `node_id` of `members`.
    pub fn new(node_id: NodeId, members: Vec<NodeId>) -> Config {
        Config {
            node_id,
            members,
            replicas: 3,
            phase_timeout_ms: 50,
            retry_budget_ms: 2_000,
            retry_backoff_max_ms: 5,
            transfer_bytes_per_ms: 16 * 1024,
            elide_value_min_bytes: 64 * 1024,
            rtt_initial_us: 100,
            round_jump_max: 1 << 48,
            round_raise_per_sec: 1 << 30,
            batch_max_requests: 1_024,
            key_queue_max_requests: 16_384,
            inflight_max_requests: 262_144,
            key_len_max_bytes: 64 * 1024,
            value_len_max_bytes: 16 * 1024 * 1024,
            recovery_page_keys_max: 1_024,
            recovery_scan_slots_max: 16_384,
            recovery_retry_ms: 200,
            housekeeping_interval_ms: 100,
            sweep_slots_max: 1_024,
            tombstone_grace_ms: 5_000,
            memory_max_bytes: 0,
            eviction: Eviction::NoEviction,
            evict_at_percent: 90,
            evict_samples: 5,
            system_inflight_max: 64,
            list_keys_max: 1_000,
            listings_max: 64,
            list_timeout_ms: 2_000,
            fast_reads: true,
            piggyback_prepare: true,
            promise_cache_max_keys: 16_384,
            promise_cache_max_bytes: 64 * 1024 * 1024,
            promise_cache_ttl_ms: 10_000,
            rng_seed: 0,
            hash_seed: 0,
            trace: false,
            bug: None,
            membership: None,
        }
    }

    /// Checks the bounds and their relations.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let fail = |why: String| Err(ConfigError(why));
        if self.replicas == 0 {
            return fail("replicas must be at least 1".into());
        }
        if self.membership.is_some() {
            // A later epoch, or a joiner: `members` is not the list.
        } else if !self.members.contains(&self.node_id) {
            return fail(format!(
                "node id {} is not in the membership list {:?}",
                self.node_id, self.members
            ));
        }
        if self.membership.is_none() && self.replicas > self.members.len() {
            return fail(format!(
                "replicas = {} must be between 1 and the number of members ({})",
                self.replicas,
                self.members.len()
            ));
        }
        if self.phase_timeout_ms == 0 || self.retry_budget_ms < self.phase_timeout_ms {
            return fail(format!(
                "retry_budget_ms = {} must be at least phase_timeout_ms = {} (> 0)",
                self.retry_budget_ms, self.phase_timeout_ms
            ));
        }
        if self.retry_backoff_max_ms > self.retry_budget_ms {
            return fail(format!(
                "retry_backoff_max_ms = {} exceeds retry_budget_ms = {}",
                self.retry_backoff_max_ms, self.retry_budget_ms
            ));
        }
        if self.batch_max_requests == 0 || self.key_queue_max_requests == 0 {
            return fail("batch_max_requests and key_queue_max_requests must be > 0".into());
        }
        if self.inflight_max_requests < self.key_queue_max_requests {
            return fail(format!(
                "inflight_max_requests = {} is below key_queue_max_requests = {}",
                self.inflight_max_requests, self.key_queue_max_requests
            ));
        }
        if self.recovery_page_keys_max == 0
            || self.recovery_scan_slots_max < self.recovery_page_keys_max
            || self.recovery_retry_ms == 0
        {
            return fail(format!(
                "recovery bounds: recovery_page_keys_max = {} must be > 0 and <= recovery_scan_slots_max = {}; recovery_retry_ms = {} must be > 0",
                self.recovery_page_keys_max, self.recovery_scan_slots_max, self.recovery_retry_ms
            ));
        }
        if self.list_keys_max == 0 || self.listings_max == 0 || self.list_timeout_ms == 0 {
            return fail(format!(
                "listing bounds: list_keys_max = {}, listings_max = {} and list_timeout_ms = {} must be > 0",
                self.list_keys_max, self.listings_max, self.list_timeout_ms
            ));
        }
        if self.round_jump_max == 0 || self.round_raise_per_sec == 0 {
            return fail("round_jump_max and round_raise_per_sec must be > 0".into());
        }
        if self.housekeeping_interval_ms == 0
            || self.sweep_slots_max == 0
            || self.evict_samples == 0
            || self.system_inflight_max == 0
        {
            return fail("housekeeping_interval_ms, sweep_slots_max, evict_samples and system_inflight_max must be > 0".into());
        }
        if self.transfer_bytes_per_ms == 0 {
            return fail("transfer_bytes_per_ms must be > 0".into());
        }
        if self.tombstone_grace_ms < 2 * self.retry_budget_ms {
            return fail(format!(
                "tombstone_grace_ms = {} must be at least twice retry_budget_ms = {}: a round still retrying must find the tombstone",
                self.tombstone_grace_ms, self.retry_budget_ms
            ));
        }
        if self.evict_at_percent == 0 || self.evict_at_percent > 100 {
            return fail(format!(
                "evict_at_percent = {} must be between 1 and 100",
                self.evict_at_percent
            ));
        }
        Ok(())
    }
}

/// What a node does when its memory reaches `memory_max_bytes`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Eviction {
    /// Refuse writes that add bytes (`-OOM`), as Redis's `noeviction`.
    #[default]
    NoEviction,
    /// Delete, by consensus, the least recently used of a few sampled keys.
    Lru,
    /// Delete, by consensus, the least frequently used of a few sampled keys
    /// (Redis's logarithmic counter, halved every minute of idleness).
    Lfu,
}

impl Eviction {
    /// Parses `noeviction`, `lru` or `lfu` (also Redis's `allkeys-lru`, `allkeys-lfu`).
    pub fn from_name(name: &str) -> Option<Eviction> {
        match name {
            "noeviction" => Some(Eviction::NoEviction),
            "lru" | "allkeys-lru" => Some(Eviction::Lru),
            "lfu" | "allkeys-lfu" => Some(Eviction::Lfu),
            _ => None,
        }
    }

    /// The name INFO shows (Redis's maxmemory-policy).
    pub fn name(self) -> &'static str {
        match self {
            Eviction::NoEviction => "noeviction",
            Eviction::Lru => "allkeys-lru",
            Eviction::Lfu => "allkeys-lfu",
        }
    }
}

/// A configuration that cannot work, with the reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid configuration: {}", self.0)
    }
}

impl std::error::Error for ConfigError {}
