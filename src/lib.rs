//! synod: a leaderless, Paxos-replicated, in-memory key-value cache.
//!
//! Every key is its own register, agreed by single-decree Paxos among that
//! key's replicas. The protocol lives in [`core`], a pure state machine; the
//! TCP runtime ([`runtime`]) and the simulator (crate `synod-sim`) both drive it.

pub mod core;
