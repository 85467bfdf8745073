//! The pure protocol core: no sockets, clocks, threads or global randomness.
//!
//! Start reading at [`node::Node::handle`]. The acceptor's rules are in
//! [`acceptor`], the coordinator's in [`proposer`], the wire vocabulary in
//! [`message`], and where a key lives in [`placement`]. How a cache forgets
//! (TTL sweeps, tombstone clean-up, eviction) without forgetting a promise is
//! in [`housekeeping`]; how a restarted node catches up, in [`recovery`].

pub mod acceptor;
pub mod ballot;
pub mod command;
pub mod config;
mod fastpath;
pub mod housekeeping;
mod keymap;
pub mod lineage;
pub mod listing;
pub mod membership;
pub mod message;
pub mod node;
pub mod placement;
pub mod proposer;
pub mod recovery;
pub mod types;

pub use acceptor::{Acceptor, Slot};
pub use ballot::{Ballot, Incarnation, NodeId};
pub use command::{Command, ExpireCond, Expiry, Key, Record, Reply, SetCond, Value};
pub use config::{Config, ConfigError, DeliberateBug, Eviction};
pub use housekeeping::{SystemOp, SYSTEM_ID_BIT};
pub use membership::{check_addr, Membership, MembershipOp, MembershipProgress, MEMBERSHIP_KEY};
pub use message::{CrashVector, Envelope, Message, NackReason};
pub use node::{Effects, Input, Node, Now, Outcome, PeerState, RequestId, Stats, Trace};
pub use placement::Placement;
pub use recovery::{MissingListing, RecoveryProgress, RecoveryWait, REPAIR_ID_BIT};
pub use types::{Answer, Bytes, Data};

#[cfg(test)]
mod tests;
