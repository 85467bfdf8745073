//! Independent, seeded RNG streams: one `--seed` gives a network stream, a
//! fault stream, a workload stream, a swarm stream and one per node life, so
//! changing one fault rate does not reshuffle the workload.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Which stream.
#[derive(Clone, Copy, Debug)]
pub enum Stream {
    Network,
    Faults,
    Workload,
    Swarm,
    Clocks,
    /// Node `id` in its `life`-th incarnation.
    Node {
        id: u32,
        life: u32,
    },
}

/// SplitMix64: a bijection spreading every input bit.
pub fn mix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The seed of `which` stream of run `seed`.
pub fn stream_seed(seed: u64, which: Stream) -> u64 {
    let tag = match which {
        Stream::Network => 1,
        Stream::Faults => 2,
        Stream::Workload => 3,
        Stream::Swarm => 4,
        Stream::Clocks => 5,
        Stream::Node { id, life } => 1_000 + (u64::from(id) << 20) + u64::from(life),
    };
    mix64(mix64(seed) ^ mix64(tag))
}

/// The RNG of `which` stream of run `seed`.
pub fn stream(seed: u64, which: Stream) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(stream_seed(seed, which))
}
