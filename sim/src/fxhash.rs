//! A small, fast, deterministic hasher for the simulator's maps (std's
//! `RandomState` would make iteration order differ between runs).

use std::hash::{BuildHasherDefault, Hasher};

/// The Fx hash (as in rustc): multiply-rotate per word.
#[derive(Default, Clone, Copy)]
pub struct FxHasher {
    hash: u64,
}

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes(c.try_into().unwrap_or([0; 8])));
        }
        for &b in chunks.remainder() {
            self.add(u64::from(b));
        }
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

/// Builds `FxHasher`s.
pub type FxBuild = BuildHasherDefault<FxHasher>;
/// A deterministic `HashMap`.
pub type FxHashMap<K, V> = std::collections::HashMap<K, V, FxBuild>;
/// A deterministic `HashSet`.
pub type FxHashSet<K> = std::collections::HashSet<K, FxBuild>;
