//! Operations as change functions (CASPaxos §2): each round reads the register's
//! latest value and writes `change(value)`. A read is the identity change.

use serde::{Deserialize, Serialize};

/// A key: any bytes.
pub type Key = Vec<u8>;

/// The register's contents: `None` is absent (never written, or a tombstone).
pub type Value = Option<Vec<u8>>;

/// A client operation on one key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// Read the value (the identity change).
    Get,
    /// Overwrite the value.
    Set(Vec<u8>),
    /// Delete: write a tombstone.
    Del,
    /// Compare-and-swap: write `new` only if the value equals `expected`
    /// (`None` = the key is absent).
    Cas {
        /// What the value must be for the swap to happen.
        expected: Option<Vec<u8>>,
        /// The value to write.
        new: Vec<u8>,
    },
}

/// What a command returns when its round succeeds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reply {
    /// The value read (`None`: absent).
    Value(Value),
    /// A write took effect.
    Done,
    /// A delete ran; `true` if the key existed.
    Deleted(bool),
    /// A compare-and-swap ran; `true` if it swapped.
    Swapped(bool),
}

impl Command {
    /// Applies the change to `current`: the new value and this command's reply.
    pub fn apply(&self, current: &Value) -> (Value, Reply) {
        match self {
            Command::Get => (current.clone(), Reply::Value(current.clone())),
            Command::Set(v) => (Some(v.clone()), Reply::Done),
            Command::Del => (None, Reply::Deleted(current.is_some())),
            Command::Cas { expected, new } => {
                if current == expected {
                    (Some(new.clone()), Reply::Swapped(true))
                } else {
                    (current.clone(), Reply::Swapped(false))
                }
            }
        }
    }

    /// True if the command can never change the value (so retrying it is always safe).
    pub fn is_read_only(&self) -> bool {
        matches!(self, Command::Get)
    }

    /// A short name for logs and traces.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Get => "get",
            Command::Set(_) => "set",
            Command::Del => "del",
            Command::Cas { .. } => "cas",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Value {
        Some(s.as_bytes().to_vec())
    }

    #[test]
    fn get_is_the_identity() {
        assert_eq!(Command::Get.apply(&v("a")), (v("a"), Reply::Value(v("a"))));
        assert_eq!(Command::Get.apply(&None), (None, Reply::Value(None)));
    }

    #[test]
    fn set_and_del() {
        assert_eq!(
            Command::Set(b"b".to_vec()).apply(&v("a")),
            (v("b"), Reply::Done)
        );
        assert_eq!(Command::Del.apply(&v("a")), (None, Reply::Deleted(true)));
        assert_eq!(Command::Del.apply(&None), (None, Reply::Deleted(false)));
    }

    #[test]
    fn cas_swaps_only_on_match() {
        let cas = |e: Value, n: &str| Command::Cas {
            expected: e,
            new: n.as_bytes().to_vec(),
        };
        assert_eq!(
            cas(v("a"), "b").apply(&v("a")),
            (v("b"), Reply::Swapped(true))
        );
        assert_eq!(
            cas(v("x"), "b").apply(&v("a")),
            (v("a"), Reply::Swapped(false))
        );
        assert_eq!(cas(None, "b").apply(&None), (v("b"), Reply::Swapped(true)));
        assert_eq!(
            cas(None, "b").apply(&v("a")),
            (v("a"), Reply::Swapped(false))
        );
    }
}
