//! Per-key maps on the request path: hashed, not ordered.
//!
//! A `BTreeMap<Key, _>` compares whole keys (a `memcmp` each) at every level
//! of its tree: with 10,000 keys about 14 comparisons per lookup, and a write
//! looks its key up several times on each node. The profile of round two
//! (docs/bench/README.md) put `memcmp` under B-tree searches at 6% of the
//! nodes' CPU for one client and 11% at 50. The coordinator's rounds, its
//! cached phase 1s and the acceptor's lineages are never walked in key order,
//! so they are hash maps keyed by a seeded 64-bit hash: SipHash-1-3 (std's
//! `DefaultHasher`, whose keys are fixed) fed the seed first. One seed gives
//! one hash function, so a run is as deterministic as the seed (the
//! simulator fixes it); the runtime draws the seed at random, so clients
//! cannot pick keys that collide. The acceptor's slots stay ordered: listings
//! page through them in key order.

use super::command::Key;
use std::collections::HashMap;
use std::hash::{BuildHasher, DefaultHasher, Hasher};

/// Builds the seeded hasher of a [`KeyMap`].
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct KeyHasher {
    seed: u64,
}

impl BuildHasher for KeyHasher {
    type Hasher = DefaultHasher;

    fn build_hasher(&self) -> DefaultHasher {
        let mut h = DefaultHasher::new();
        h.write_u64(self.seed);
        h
    }
}

/// A map from keys, hashed with `seed` (see the module's docs).
pub(crate) type KeyMap<V> = HashMap<Key, V, KeyHasher>;

/// An empty [`KeyMap`] hashing with `seed`.
pub(crate) fn key_map<V>(seed: u64) -> KeyMap<V> {
    HashMap::with_hasher(KeyHasher { seed })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_seed_one_hash_function_and_seeds_differ() {
        let hash = |seed: u64, key: &[u8]| KeyHasher { seed }.hash_one(key);
        assert_eq!(hash(7, b"key:1"), hash(7, b"key:1"));
        assert_ne!(hash(7, b"key:1"), hash(8, b"key:1"));
        assert_ne!(hash(7, b"key:1"), hash(7, b"key:2"));
        let mut m = key_map(42);
        m.insert(b"k".to_vec(), 1);
        assert_eq!(m.get(b"k".as_slice()), Some(&1));
    }
}
