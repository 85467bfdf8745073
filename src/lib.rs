//! synod: a leaderless, Paxos-replicated, in-memory key-value cache.
//!
//! Every key is its own register, agreed by single-decree Paxos among that
//! key's replicas. The protocol lives in [`core`], a pure state machine; the
//! TCP runtime ([`runtime`]) and the simulator (crate `synod-sim`) both drive it.
//! Between the core and a user sit [`codec`] (peer frames), [`resp`] (the Redis
//! protocol), [`commands`] (RESP commands to core requests and back) and
//! [`client`] (a small synchronous Rust client). [`settings`] is the one table
//! of `synod node`'s settings (flags, config file, CONFIG GET/SET).

pub mod auth;
pub mod client;
pub mod codec;
pub mod commands;
pub mod core;
#[doc(hidden)]
pub mod fuzzing;
pub mod metrics;
pub mod resp;
pub mod runtime;
pub mod scripting;
pub mod settings;
