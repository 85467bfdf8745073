//! Which N nodes hold a key: rendezvous (highest-random-weight) hashing.
//!
//! Every node must compute the same replica set for a key forever, across
//! releases and platforms, so the hash is specified here rather than borrowed
//! from `std` (whose `DefaultHasher` may change between Rust releases):
//!
//! ```text
//! fnv1a64(bytes)   = FNV-1a, 64-bit (offset 0xcbf29ce484222325, prime 0x100000001b3)
//! mix64(x)         = the SplitMix64 finaliser:
//!                    x ^= x >> 30; x *= 0xbf58476d1ce4e5b9;
//!                    x ^= x >> 27; x *= 0x94d049bb133111eb; x ^= x >> 31
//! score(key, node) = mix64(fnv1a64(key) ^ mix64(node + 0x9e3779b97f4a7c15))
//! ```
//! The replicas of a key are the N members with the highest score (ties, which
//! need a 64-bit collision, go to the lower node id). Adding a node moves only
//! the keys for which the new node scores in the top N: about N/(M+1) of them.

use super::ballot::NodeId;

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;
const GOLDEN: u64 = 0x9e37_79b9_7f4a_7c15;

/// FNV-1a, 64-bit.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h = FNV_OFFSET;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(FNV_PRIME);
    }
    h
}

/// The SplitMix64 finaliser: a bijection that spreads every input bit.
pub fn mix64(mut x: u64) -> u64 {
    x ^= x >> 30;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The rendezvous score of `node` for a key whose FNV-1a hash is `key_hash`.
pub fn score(key_hash: u64, node: NodeId) -> u64 {
    mix64(key_hash ^ mix64(u64::from(node).wrapping_add(GOLDEN)))
}

/// The membership and replication factor: maps keys to replica sets.
#[derive(Clone, Debug)]
pub struct Placement {
    members: Vec<NodeId>,
    replicas: usize,
}

impl Placement {
    /// A placement over `members` (deduplicated, sorted) with `replicas` copies per key.
    /// `replicas` is clamped to the number of members.
    pub fn new(members: &[NodeId], replicas: usize) -> Placement {
        let mut members = members.to_vec();
        members.sort_unstable();
        members.dedup();
        let replicas = replicas.min(members.len()).max(1);
        Placement { members, replicas }
    }

    /// All members, sorted by id.
    pub fn members(&self) -> &[NodeId] {
        &self.members
    }

    /// N: how many replicas each key has.
    pub fn replicas(&self) -> usize {
        self.replicas
    }

    /// ⌊N/2⌋ + 1: votes needed to choose a value.
    pub fn quorum(&self) -> usize {
        self.replicas / 2 + 1
    }

    /// The key's replicas, highest score first (the "rendezvous order").
    /// The membership register (membership.rs) lives on every member.
    pub fn replicas_of(&self, key: &[u8]) -> Vec<NodeId> {
        if key == super::membership::MEMBERSHIP_KEY {
            return self.members.clone();
        }
        let h = fnv1a64(key);
        let mut scored: Vec<(u64, NodeId)> =
            self.members.iter().map(|&n| (score(h, n), n)).collect();
        scored.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        scored.truncate(self.replicas);
        scored.into_iter().map(|(_, n)| n).collect()
    }

    /// True if `node` holds `key`.
    pub fn is_replica(&self, key: &[u8], node: NodeId) -> bool {
        if self.members.binary_search(&node).is_err() {
            return false;
        }
        if self.replicas == self.members.len() || key == super::membership::MEMBERSHIP_KEY {
            return true;
        }
        // Its rank in `replicas_of` order, without allocating: members that
        // score higher, or equal with a smaller id, come first.
        let h = fnv1a64(key);
        let own = score(h, node);
        let ahead = self
            .members
            .iter()
            .filter(|&&n| {
                let s = score(h, n);
                s > own || (s == own && n < node)
            })
            .count();
        ahead < self.replicas
    }

    /// A hash of the replication factor alone, compared in the handshake:
    /// nodes with different N would give disjoint quorums. Member lists may
    /// differ between nodes (membership change): the core's epochs settle them.
    pub fn replication_fingerprint(replicas: usize) -> u64 {
        mix64(replicas as u64 ^ GOLDEN)
    }

    /// A hash of the membership and replication factor (INFO):
    /// two views of the membership would give disjoint quorums.
    pub fn fingerprint(&self) -> u64 {
        let mut h = mix64(self.replicas as u64 ^ GOLDEN);
        for &n in &self.members {
            h = mix64(h ^ u64::from(n));
        }
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_replica_agrees_with_replicas_of() {
        for (members, n) in [
            (vec![1, 2, 3], 3),
            (vec![1, 2, 3, 4, 5], 3),
            (vec![4, 9], 1),
        ] {
            let p = Placement::new(&members, n);
            for i in 0..500 {
                let key = format!("key:{i:08}");
                let set = p.replicas_of(key.as_bytes());
                for node in 0..11 {
                    assert_eq!(p.is_replica(key.as_bytes(), node), set.contains(&node));
                }
            }
        }
    }

    #[test]
    fn fnv1a64_matches_published_vectors() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn mix64_matches_splitmix64_reference() {
        // SplitMix64 seeded with 0: the first output is mix64(0 + GOLDEN).
        assert_eq!(mix64(GOLDEN), 0xe220_a839_7b1d_cdaf);
    }

    /// Pinned replica sets: if these change, every deployed cluster would
    /// disagree with itself after an upgrade. Never edit them to make a test pass.
    #[test]
    fn replica_sets_are_stable_test_vectors() {
        let p = Placement::new(&[1, 2, 3, 4, 5], 3);
        let got: Vec<(&str, Vec<NodeId>)> = ["", "a", "greeting", "user:1000", "k42"]
            .iter()
            .map(|k| (*k, p.replicas_of(k.as_bytes())))
            .collect();
        assert_eq!(
            got,
            PINNED
                .iter()
                .map(|(k, v)| (*k, v.to_vec()))
                .collect::<Vec<_>>()
        );
    }

    const PINNED: [(&str, [NodeId; 3]); 5] = [
        ("", [2, 5, 1]),
        ("a", [5, 3, 1]),
        ("greeting", [1, 5, 3]),
        ("user:1000", [2, 5, 3]),
        ("k42", [3, 1, 2]),
    ];

    #[test]
    fn quorum_is_a_strict_majority() {
        assert_eq!(Placement::new(&[1], 1).quorum(), 1);
        assert_eq!(Placement::new(&[1, 2, 3], 3).quorum(), 2);
        assert_eq!(Placement::new(&[1, 2, 3, 4], 4).quorum(), 3);
        assert_eq!(Placement::new(&[1, 2, 3, 4, 5], 5).quorum(), 3);
    }

    #[test]
    fn replica_sets_have_n_distinct_members_and_spread_evenly() {
        let p = Placement::new(&[1, 2, 3, 4, 5], 3);
        let mut load = [0usize; 6];
        for i in 0..30_000u32 {
            let r = p.replicas_of(format!("key{i}").as_bytes());
            assert_eq!(r.len(), 3);
            assert!(r[0] != r[1] && r[1] != r[2] && r[0] != r[2]);
            for n in r {
                load[n as usize] += 1;
            }
        }
        // 18_000 expected per node; allow ±3%.
        for &l in &load[1..] {
            assert!((17_460..=18_540).contains(&l), "uneven load {load:?}");
        }
    }

    #[test]
    fn adding_a_node_moves_about_n_over_m_plus_one_of_the_keys() {
        let before = Placement::new(&[1, 2, 3, 4], 3);
        let after = Placement::new(&[1, 2, 3, 4, 5], 3);
        let moved = (0..10_000u32)
            .filter(|i| {
                let k = format!("key{i}");
                let mut a = before.replicas_of(k.as_bytes());
                let mut b = after.replicas_of(k.as_bytes());
                a.sort_unstable();
                b.sort_unstable();
                a != b
            })
            .count();
        // Expected 3/5 = 6000.
        assert!((5_700..=6_300).contains(&moved), "moved {moved}");
    }

    #[test]
    fn fingerprint_differs_for_different_views() {
        let a = Placement::new(&[1, 2, 3], 3).fingerprint();
        assert_eq!(a, Placement::new(&[3, 2, 1], 3).fingerprint());
        assert_ne!(a, Placement::new(&[1, 2, 4], 3).fingerprint());
        assert_ne!(a, Placement::new(&[1, 2, 3], 2).fingerprint());
    }
}
