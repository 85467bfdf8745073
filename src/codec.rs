//! Frames on the peer port: the only file that names bincode.
//!
//! A connection between two nodes carries frames: a 4-byte big-endian payload
//! length, then a bincode 2.x (serde) payload. The first frame each way is a
//! [`Hello`] (the handshake); every later one is a [`Frame::Batch`] of
//! envelopes, handled in order: the runtime sends one batch per peer per
//! event-loop turn, so batching is what makes a round cheap.
//!
//! Nothing read from the wire is trusted. [`FrameDecoder`] refuses a declared
//! length above `frame_size_max_bytes` as soon as the 4 length bytes are in,
//! before buffering or allocating anything for the payload, and bincode's own
//! decode limit is set too, so a length prefix *inside* a payload (a string, a
//! vector) cannot make it allocate more than a frame's worth either. No input
//! makes this module panic: it returns a [`CodecError`] and the runtime closes
//! that one connection.
//!
//! Integers are encoded at fixed width, big-endian. Then bincode's accounting
//! of "bytes claimed" equals the bytes a payload really consumes, so a
//! well-formed frame never trips the decode limit, whatever its shape.

use crate::auth::{FrameMac, TAG_BYTES};
use crate::core::{Envelope, Incarnation, NodeId};
use serde::{Deserialize, Serialize};
use std::fmt;

/// "SYND": the first field of every handshake, so a stray client is told apart at once.
pub const MAGIC: u32 = 0x5359_4E44;

/// Version of the peer protocol; nodes of different versions refuse each other.
/// 3: a record's deadline is never 0 (`Option<NonZeroU64>`); a 0 from an
/// older build would fail to decode, so the versions must not mix.
/// 4: the handshake carries nonces and proofs, frames a tag (auth.rs).
/// 5: Promise and Accept carry the value's lineage (core/lineage.rs).
/// 6: a record's contents are typed (`Data`: a string or a packed
/// collection), one tag byte before the bytes.
/// 7: an Accept may name its value by ballot (`held`); Nack(ValueMissing).
/// 8: every envelope carries its sender's membership epoch; Message::Epoch.
/// 9: a Read may name the reader's value by ballot (`held`), a ReadReply
/// then leave it out (`held`).
pub const PROTOCOL_VERSION: u16 = 9;

/// Bytes of the length prefix.
pub const LENGTH_PREFIX_BYTES: usize = 4;

/// The largest frame payload this build can decode, and bincode's decode limit.
///
/// bincode takes its limit as a compile-time constant, so the runtime's
/// `frame_size_max_bytes` may be set at most this high (the runtime config
/// checks it); its default is exactly this value. 64 MiB holds one Accept of
/// the largest value a client may store (16 MiB by default) many times over.
pub const FRAME_SIZE_MAX_BYTES: usize = 64 * 1024 * 1024;

/// bincode's configuration: big-endian, fixed-width integers, decode limit
/// [`FRAME_SIZE_MAX_BYTES`].
fn bincode_config() -> impl bincode::config::Config {
    bincode::config::standard()
        .with_big_endian()
        .with_fixed_int_encoding()
        .with_limit::<FRAME_SIZE_MAX_BYTES>()
}

/// The handshake: the first frame each way on a peer connection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// Always [`MAGIC`].
    pub magic: u32,
    /// Always [`PROTOCOL_VERSION`] for this build.
    pub protocol_version: u16,
    /// The cluster's name (not authentication: it stops mistakes, not attackers).
    pub cluster_id: String,
    /// `Placement::replication_fingerprint(N)`: the replication factor,
    /// which every node of a cluster must share. The member lists may differ
    /// (a joining node, a node restarted from its first list): the core
    /// exchanges membership epochs (`Message::Epoch`).
    pub membership_hash: u64,
    /// The sender's membership epoch (for the logs; not compared: the core
    /// brings the one behind up to date).
    pub membership_epoch: u64,
    /// The sender's node id.
    pub node_id: NodeId,
    /// The sender's incarnation.
    pub incarnation: Incarnation,
    /// The incarnation the sender knows for the receiver (0: none).
    pub known_peer_incarnation: Incarnation,
    /// Whether the sender holds a cluster secret: then both prove it and tag
    /// every later frame (auth.rs). Both sides must agree.
    pub authenticated: bool,
    /// Fresh random bytes for this connection: the challenge the other side's proof covers.
    pub nonce: [u8; TAG_BYTES],
}

/// One frame's payload.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Frame {
    /// The handshake.
    Hello(Hello),
    /// Envelopes for the receiver, handled in order.
    Batch(Vec<Envelope>),
    /// The handshake's proof of the cluster secret (auth.rs): the acceptor's
    /// follows its Hello, the dialer's answers it.
    Proof([u8; TAG_BYTES]),
}

/// Why bytes could not be turned into a frame, or a frame into bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CodecError {
    /// The length prefix (or an encoded payload) is above the bound.
    FrameTooLarge {
        size_bytes: u64,
        frame_size_max_bytes: usize,
    },
    /// A length prefix of 0: no payload can be empty.
    EmptyFrame,
    /// The payload is not a valid frame.
    Malformed(String),
    /// The payload decoded but left bytes unread.
    TrailingBytes {
        used_bytes: usize,
        size_bytes: usize,
    },
    /// A value could not be encoded (a bug, not a peer's fault).
    Encode(String),
    /// A frame's tag is wrong: forged, changed, replayed or reordered (auth.rs).
    BadTag,
}

/// Formats a byte count for people: "80 MiB", "512 KiB", "17 bytes".
pub fn human_bytes(n: u64) -> String {
    const KIB: u64 = 1024;
    const MIB: u64 = 1024 * 1024;
    const GIB: u64 = 1024 * 1024 * 1024;
    if n >= GIB && n % GIB == 0 {
        format!("{} GiB", n / GIB)
    } else if n >= MIB && n % MIB == 0 {
        format!("{} MiB", n / MIB)
    } else if n >= KIB && n % KIB == 0 {
        format!("{} KiB", n / KIB)
    } else if n >= MIB {
        format!("{:.1} MiB", n as f64 / MIB as f64)
    } else {
        format!("{n} bytes")
    }
}

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CodecError::FrameTooLarge {
                size_bytes,
                frame_size_max_bytes,
            } => write!(
                f,
                "frame of {} exceeds frame_size_max_bytes = {}",
                human_bytes(*size_bytes),
                human_bytes(*frame_size_max_bytes as u64)
            ),
            CodecError::EmptyFrame => write!(f, "frame with a zero length prefix"),
            CodecError::Malformed(why) => write!(f, "malformed frame payload: {why}"),
            CodecError::TrailingBytes {
                used_bytes,
                size_bytes,
            } => write!(
                f,
                "malformed frame payload: {used_bytes} of {size_bytes} bytes form a frame, \
                 the rest is garbage"
            ),
            CodecError::Encode(why) => write!(f, "cannot encode frame: {why}"),
            CodecError::BadTag => write!(
                f,
                "a frame's authentication tag is wrong (forged, changed, replayed or reordered)"
            ),
        }
    }
}

impl std::error::Error for CodecError {}

/// Appends `frame` to `out`: length prefix, then payload.
///
/// Fails (leaving `out` as it was) if the payload would exceed
/// [`FRAME_SIZE_MAX_BYTES`]; the caller splits a batch that is too large.
pub fn encode_frame(frame: &Frame, out: &mut Vec<u8>) -> Result<(), CodecError> {
    encode_frame_max(frame, FRAME_SIZE_MAX_BYTES, out)
}

/// Like [`encode_frame`], refusing payloads above `frame_size_max_bytes`.
pub fn encode_frame_max(
    frame: &Frame,
    frame_size_max_bytes: usize,
    out: &mut Vec<u8>,
) -> Result<(), CodecError> {
    let start = out.len();
    out.extend_from_slice(&[0; LENGTH_PREFIX_BYTES]);
    if let Err(e) = bincode::serde::encode_into_std_write(frame, out, bincode_config()) {
        out.truncate(start);
        return Err(CodecError::Encode(e.to_string()));
    }
    let size = out.len() - start - LENGTH_PREFIX_BYTES;
    let max = frame_size_max_bytes.min(FRAME_SIZE_MAX_BYTES);
    if size > max {
        out.truncate(start);
        return Err(CodecError::FrameTooLarge {
            size_bytes: size as u64,
            frame_size_max_bytes: max,
        });
    }
    // size <= FRAME_SIZE_MAX_BYTES < 2^32, checked just above.
    let prefix = (size as u32).to_be_bytes();
    out[start..start + LENGTH_PREFIX_BYTES].copy_from_slice(&prefix);
    Ok(())
}

/// Decodes one payload (without its length prefix).
pub fn decode_payload(payload: &[u8]) -> Result<Frame, CodecError> {
    if payload.len() > FRAME_SIZE_MAX_BYTES {
        return Err(CodecError::FrameTooLarge {
            size_bytes: payload.len() as u64,
            frame_size_max_bytes: FRAME_SIZE_MAX_BYTES,
        });
    }
    let (frame, used) = bincode::serde::decode_from_slice::<Frame, _>(payload, bincode_config())
        .map_err(|e| CodecError::Malformed(e.to_string()))?;
    if used != payload.len() {
        return Err(CodecError::TrailingBytes {
            used_bytes: used,
            size_bytes: payload.len(),
        });
    }
    Ok(frame)
}

/// Bounded incremental decoder: feed bytes as they arrive, pop whole frames.
///
/// Buffers at most one frame plus whatever one `feed` brought; a declared
/// length above `frame_size_max_bytes` is refused before any of its payload is
/// buffered. After an error the stream cannot be resynchronised: close it.
#[derive(Debug)]
pub struct FrameDecoder {
    frame_size_max_bytes: usize,
    buf: Vec<u8>,
    /// Index of the first unconsumed byte of `buf`.
    pos: usize,
    failed: Option<CodecError>,
    /// Set after an authenticated handshake: every frame carries a tag.
    mac: Option<FrameMac>,
}

/// Consumed bytes are cut from the front once this many piled up.
const COMPACT_MIN_BYTES: usize = 64 * 1024;

impl FrameDecoder {
    /// A decoder refusing frames above `frame_size_max_bytes` (capped at [`FRAME_SIZE_MAX_BYTES`]).
    pub fn new(frame_size_max_bytes: usize) -> FrameDecoder {
        FrameDecoder {
            frame_size_max_bytes: frame_size_max_bytes.min(FRAME_SIZE_MAX_BYTES),
            buf: Vec::new(),
            pos: 0,
            failed: None,
            mac: None,
        }
    }

    /// From now on every frame must be followed by its tag (auth.rs).
    pub fn set_mac(&mut self, mac: FrameMac) {
        self.mac = Some(mac);
    }

    /// Changes the bound for the frames not yet decoded (e.g. raised after a
    /// handshake, which is decoded under a small bound).
    pub fn set_frame_size_max_bytes(&mut self, frame_size_max_bytes: usize) {
        self.frame_size_max_bytes = frame_size_max_bytes.min(FRAME_SIZE_MAX_BYTES);
    }

    /// Appends received bytes (ignored once an error was returned).
    pub fn feed(&mut self, bytes: &[u8]) {
        if self.failed.is_some() {
            return;
        }
        if self.pos >= COMPACT_MIN_BYTES || self.pos == self.buf.len() {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes received and not yet returned as a frame.
    pub fn buffered_bytes(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// The payload length of the next frame if all of it (and its tag) is
    /// buffered: the runtime checks and decodes a big one off its event
    /// loop. None: no whole frame yet, or the stream failed.
    pub fn ready_frame_bytes(&self) -> Option<usize> {
        if self.failed.is_some() {
            return None;
        }
        let avail = &self.buf[self.pos..];
        let mut len_bytes = [0u8; LENGTH_PREFIX_BYTES];
        len_bytes.copy_from_slice(avail.get(..LENGTH_PREFIX_BYTES)?);
        let len = u32::from_be_bytes(len_bytes) as usize;
        let tag_len = if self.mac.is_some() { TAG_BYTES } else { 0 };
        let whole = LENGTH_PREFIX_BYTES
            .saturating_add(len)
            .saturating_add(tag_len);
        (len <= self.frame_size_max_bytes && avail.len() >= whole).then_some(len)
    }

    /// The next whole frame; Ok(None) if more bytes are needed; Err on a
    /// violation, after which every call returns the same Err.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, CodecError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let result = self.try_next();
        if let Err(e) = &result {
            self.failed = Some(e.clone());
            self.buf = Vec::new();
            self.pos = 0;
        }
        result
    }

    fn try_next(&mut self) -> Result<Option<Frame>, CodecError> {
        let avail = &self.buf[self.pos..];
        let Some(prefix) = avail.get(..LENGTH_PREFIX_BYTES) else {
            return Ok(None);
        };
        let mut len_bytes = [0u8; LENGTH_PREFIX_BYTES];
        len_bytes.copy_from_slice(prefix);
        let len = u32::from_be_bytes(len_bytes) as usize;
        if len == 0 {
            return Err(CodecError::EmptyFrame);
        }
        if len > self.frame_size_max_bytes {
            return Err(CodecError::FrameTooLarge {
                size_bytes: len as u64,
                frame_size_max_bytes: self.frame_size_max_bytes,
            });
        }
        let tag_len = if self.mac.is_some() { TAG_BYTES } else { 0 };
        let whole = LENGTH_PREFIX_BYTES + len + tag_len;
        if avail.len() < whole {
            // Reserve room for the rest of this (bounded) frame once, not per read.
            self.buf.reserve(whole - avail.len());
            return Ok(None);
        }
        let framed = &avail[..LENGTH_PREFIX_BYTES + len];
        if let Some(mac) = &mut self.mac {
            // Checked before a byte of the payload is decoded.
            if !mac.verify(framed, &avail[LENGTH_PREFIX_BYTES + len..whole]) {
                return Err(CodecError::BadTag);
            }
        }
        let frame = decode_payload(&framed[LENGTH_PREFIX_BYTES..])?;
        self.pos += whole;
        Ok(Some(frame))
    }
}

/// Why a handshake was refused; the text says what to fix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HandshakeError {
    /// Not a synod peer (wrong magic).
    BadMagic { got: u32 },
    /// A different protocol version.
    VersionMismatch { ours: u16, theirs: u16 },
    /// Another cluster.
    ClusterMismatch { ours: String, theirs: String },
    /// Another replication factor.
    MembershipMismatch { ours: u64, theirs: u64 },
    /// The peer is not who we dialled, or claims to be us.
    UnexpectedNode { expected: String, got: NodeId },
    /// Incarnation 0 is never valid.
    ZeroIncarnation { node: NodeId },
    /// The peer remembers a later incarnation of this node than the one running.
    PeerRemembersLaterIncarnation {
        node: NodeId,
        ours: Incarnation,
        remembered: Incarnation,
    },
    /// This node was started with --bootstrap, but a peer remembers an earlier life of it.
    BootstrapAfterRestart {
        node: NodeId,
        ours: Incarnation,
        remembered: Incarnation,
    },
    /// The first frame was not a Hello.
    NotHello,
    /// One side holds a cluster secret, the other does not.
    AuthMismatch { ours: bool },
    /// The proof of the cluster secret is wrong, or missing.
    BadProof,
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HandshakeError::BadMagic { got } => write!(
                f,
                "bad magic {got:#010x} (expected {MAGIC:#010x}): not a synod peer; \
                 is a client talking to the peer port?"
            ),
            HandshakeError::VersionMismatch { ours, theirs } => write!(
                f,
                "peer protocol version {theirs} differs from ours {ours}: run one release \
                 across the cluster"
            ),
            HandshakeError::ClusterMismatch { ours, theirs } => {
                write!(f, "cluster id '{theirs}' does not match ours '{ours}'")
            }
            HandshakeError::MembershipMismatch { ours, theirs } => write!(
                f,
                "replication hash differs ({theirs:#018x} vs ours {ours:#018x}): nodes with \
                 different --replicas would give disjoint quorums; give every node the same \
                 --replicas"
            ),
            HandshakeError::UnexpectedNode { expected, got } => {
                write!(f, "peer says it is node {got}, expected {expected}")
            }
            HandshakeError::ZeroIncarnation { node } => {
                write!(
                    f,
                    "node {node} announces incarnation 0, which is never valid"
                )
            }
            HandshakeError::PeerRemembersLaterIncarnation {
                node,
                ours,
                remembered,
            } => write!(
                f,
                "node {node} remembers incarnation {remembered} of this node, later than ours \
                 ({ours}): did the wall clock go backwards? restart this node"
            ),
            HandshakeError::BootstrapAfterRestart {
                node,
                ours,
                remembered,
            } => write!(
                f,
                "this node was started with --bootstrap, but node {node} remembers its earlier \
                 incarnation {remembered} (ours is {ours}): voting now could lose acknowledged \
                 writes; restart it without --bootstrap"
            ),
            HandshakeError::NotHello => write!(f, "first frame is not a handshake (Hello)"),
            HandshakeError::AuthMismatch { ours: true } => write!(
                f,
                "the peer has no cluster secret, and this node requires one: start every \
                 node with the same --secret-file"
            ),
            HandshakeError::AuthMismatch { ours: false } => write!(
                f,
                "the peer requires a cluster secret, and this node has none: start every \
                 node with the same --secret-file"
            ),
            HandshakeError::BadProof => write!(
                f,
                "the peer did not prove it holds the cluster secret (a different \
                 --secret-file, or not a member)"
            ),
        }
    }
}

impl std::error::Error for HandshakeError {}

/// Checks the peer's handshake against ours: same protocol, cluster, membership.
///
/// Who the peer must be (the node dialled, a member, not us) and what it may
/// remember of us are the runtime's checks; see [`validate_peer_identity`].
pub fn validate_hello(ours: &Hello, theirs: &Hello) -> Result<(), HandshakeError> {
    if theirs.magic != MAGIC {
        return Err(HandshakeError::BadMagic { got: theirs.magic });
    }
    if theirs.protocol_version != ours.protocol_version {
        return Err(HandshakeError::VersionMismatch {
            ours: ours.protocol_version,
            theirs: theirs.protocol_version,
        });
    }
    if theirs.cluster_id != ours.cluster_id {
        return Err(HandshakeError::ClusterMismatch {
            ours: ours.cluster_id.clone(),
            theirs: theirs.cluster_id.clone(),
        });
    }
    if theirs.membership_hash != ours.membership_hash {
        return Err(HandshakeError::MembershipMismatch {
            ours: ours.membership_hash,
            theirs: theirs.membership_hash,
        });
    }
    if theirs.incarnation == 0 {
        return Err(HandshakeError::ZeroIncarnation {
            node: theirs.node_id,
        });
    }
    if theirs.authenticated != ours.authenticated {
        return Err(HandshakeError::AuthMismatch {
            ours: ours.authenticated,
        });
    }
    Ok(())
}

/// Checks who the peer is: a member other than us (and `expected`, if we dialled
/// it), and that what it remembers of us is consistent with our incarnation
/// (docs/design.md, Restart rules 1 and 5).
pub fn validate_peer_identity(
    ours: &Hello,
    theirs: &Hello,
    expected: Option<NodeId>,
    bootstrapped: bool,
) -> Result<(), HandshakeError> {
    let got = theirs.node_id;
    let ok_node = match expected {
        Some(e) => got == e,
        // Any node but us may connect (it proved the cluster secret, or it
        // is on loopback): a joining node is no member yet, and a member of
        // an epoch we have not learnt may name nodes we do not know. The
        // core handles only messages from nodes of its epoch or connected
        // peers (node.rs `admit`).
        None => got != ours.node_id,
    };
    if !ok_node {
        let expected = match expected {
            Some(e) => format!("{e}"),
            None => format!("a node other than {}", ours.node_id),
        };
        return Err(HandshakeError::UnexpectedNode { expected, got });
    }
    let remembered = theirs.known_peer_incarnation;
    if remembered > ours.incarnation {
        return Err(HandshakeError::PeerRemembersLaterIncarnation {
            node: got,
            ours: ours.incarnation,
            remembered,
        });
    }
    if bootstrapped && remembered != 0 && remembered < ours.incarnation {
        return Err(HandshakeError::BootstrapAfterRestart {
            node: got,
            ours: ours.incarnation,
            remembered,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{Ballot, Message, NackReason, Record};
    use proptest::prelude::*;

    fn hello() -> Hello {
        Hello {
            magic: MAGIC,
            protocol_version: PROTOCOL_VERSION,
            cluster_id: "synod".into(),
            membership_hash: 0xabcd,
            membership_epoch: 0,
            node_id: 1,
            incarnation: 7,
            known_peer_incarnation: 0,
            authenticated: false,
            nonce: [3; TAG_BYTES],
        }
    }

    fn encoded(frame: &Frame) -> Vec<u8> {
        let mut out = Vec::new();
        encode_frame(frame, &mut out).expect("encodes");
        out
    }

    fn decode_all(bytes: &[u8], max: usize) -> Result<Vec<Frame>, CodecError> {
        let mut d = FrameDecoder::new(max);
        d.feed(bytes);
        let mut frames = Vec::new();
        while let Some(f) = d.next_frame()? {
            frames.push(f);
        }
        Ok(frames)
    }

    fn arb_ballot() -> impl Strategy<Value = Ballot> {
        (any::<u64>(), any::<u32>(), any::<u64>()).prop_map(|(r, n, i)| Ballot::new(r, n, i))
    }

    fn arb_bytes() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(any::<u8>(), 0..40)
    }

    fn arb_value() -> impl Strategy<Value = Option<Record>> {
        proptest::option::of((arb_bytes(), proptest::option::of(any::<u64>())))
            .prop_map(|v| v.map(|(data, expires_at_ms)| Record::with_deadline(data, expires_at_ms)))
    }

    fn arb_nack() -> impl Strategy<Value = NackReason> {
        prop_oneof![Just(NackReason::Recovering), Just(NackReason::NotReplica)]
    }

    /// Every Message variant; a new variant must be added here (the match in
    /// `message_kinds_are_all_generated` fails to compile until it is).
    fn arb_message() -> impl Strategy<Value = Message> {
        prop_oneof![
            (arb_bytes(), arb_ballot()).prop_map(|(key, ballot)| Message::Prepare { key, ballot }),
            (
                arb_bytes(),
                arb_ballot(),
                proptest::option::of((arb_ballot(), arb_value())),
                any::<bool>(),
                arb_crash_vector()
            )
                .prop_map(|(key, ballot, accepted, confirmed, crash_vector)| {
                    Message::Promise {
                        key,
                        ballot,
                        accepted,
                        confirmed,
                        lineage: crash_vector
                            .iter()
                            .map(|&(n, i)| Ballot::new(i, n, i))
                            .collect(),
                        crash_vector,
                    }
                }),
            (
                arb_bytes(),
                arb_ballot(),
                arb_value(),
                proptest::option::of(arb_ballot())
            )
                .prop_map(|(key, ballot, value, next_prepare)| {
                    Message::Accept {
                        key,
                        ballot,
                        value,
                        next_prepare,
                        lineage: vec![],
                        held: None,
                    }
                }),
            (
                arb_bytes(),
                arb_ballot(),
                proptest::option::of(arb_ballot())
            )
                .prop_map(|(key, ballot, held)| Message::Read { key, ballot, held }),
            (
                arb_bytes(),
                arb_ballot(),
                proptest::option::of((arb_ballot(), arb_value())),
                any::<bool>(),
                any::<bool>()
            )
                .prop_map(|(key, ballot, accepted, confirmed, held)| {
                    Message::ReadReply {
                        key,
                        ballot,
                        accepted,
                        confirmed,
                        held,
                    }
                }),
            (arb_bytes(), arb_ballot(), arb_crash_vector(), any::<bool>()).prop_map(
                |(key, ballot, crash_vector, next_promised)| Message::Accepted {
                    key,
                    ballot,
                    crash_vector,
                    next_promised,
                }
            ),
            (arb_bytes(), arb_ballot(), arb_ballot()).prop_map(|(key, ballot, promised)| {
                Message::Reject {
                    key,
                    ballot,
                    promised,
                }
            }),
            (arb_bytes(), arb_ballot(), any::<bool>())
                .prop_map(|(key, ballot, all)| Message::Confirm { key, ballot, all }),
            (arb_bytes(), arb_ballot(), arb_nack()).prop_map(|(key, ballot, reason)| {
                Message::Nack {
                    key,
                    ballot,
                    reason,
                }
            }),
            proptest::option::of(arb_bytes()).prop_map(|after| Message::Recover { after }),
            (
                proptest::option::of(arb_bytes()),
                proptest::collection::vec(arb_bytes(), 0..8),
                proptest::option::of(arb_bytes()),
                arb_ballot()
            )
                .prop_map(|(after, keys, next, max_ballot)| Message::KeyPage {
                    after,
                    keys,
                    next,
                    max_ballot
                }),
            (
                any::<u64>(),
                proptest::option::of(arb_bytes()),
                any::<u32>()
            )
                .prop_map(|(req, after, count)| Message::ListKeys {
                    req,
                    after,
                    count
                }),
            (
                any::<u64>(),
                proptest::collection::vec(arb_bytes(), 0..8),
                proptest::option::of(arb_bytes())
            )
                .prop_map(|(req, keys, next)| Message::KeyList { req, keys, next }),
            (
                any::<u64>(),
                proptest::collection::vec(any::<NodeId>(), 0..5),
                proptest::option::of(proptest::collection::vec(any::<NodeId>(), 0..5)),
                proptest::collection::vec(any::<NodeId>(), 0..3),
                proptest::collection::vec((any::<NodeId>(), "[a-z0-9.:]{1,20}"), 0..3),
            )
                .prop_map(|(epoch, members, old, moved, addrs)| Message::Epoch {
                    membership: Box::new(crate::core::Membership {
                        epoch,
                        members,
                        old,
                        moved,
                        addrs,
                    }),
                }),
        ]
    }

    fn arb_crash_vector() -> impl Strategy<Value = Vec<(NodeId, Incarnation)>> {
        proptest::collection::vec((any::<NodeId>(), any::<Incarnation>()), 0..5)
    }

    fn arb_envelope() -> impl Strategy<Value = Envelope> {
        (
            any::<u32>(),
            any::<u64>(),
            any::<u32>(),
            any::<u64>(),
            arb_message(),
        )
            .prop_map(
                |(from, from_incarnation, to, to_incarnation, msg)| Envelope {
                    from,
                    from_incarnation,
                    to,
                    to_incarnation,
                    epoch: from_incarnation ^ 0x55,
                    msg,
                },
            )
    }

    fn arb_hello() -> impl Strategy<Value = Hello> {
        (
            any::<u32>(),
            any::<u16>(),
            ".{0,20}",
            any::<u64>(),
            any::<u64>(),
            any::<u32>(),
            any::<u64>(),
            any::<u64>(),
            any::<bool>(),
            any::<[u8; TAG_BYTES]>(),
        )
            .prop_map(
                |(magic, v, cluster_id, h, e, node_id, inc, known, authenticated, nonce)| Hello {
                    magic,
                    protocol_version: v,
                    cluster_id,
                    membership_hash: h,
                    membership_epoch: e,
                    node_id,
                    incarnation: inc,
                    known_peer_incarnation: known,
                    authenticated,
                    nonce,
                },
            )
    }

    fn arb_frame() -> impl Strategy<Value = Frame> {
        prop_oneof![
            arb_hello().prop_map(Frame::Hello),
            any::<[u8; TAG_BYTES]>().prop_map(Frame::Proof),
            proptest::collection::vec(arb_envelope(), 0..8).prop_map(Frame::Batch),
        ]
    }

    /// Compile-time reminder: if a variant is added to Message, `arb_message`
    /// must generate it too.
    #[test]
    fn a_zero_deadline_is_refused_as_bad_input() {
        // A record is (data, deadline) on the wire; a deadline is never 0.
        let v = || crate::core::Data::Str(b"v".into());
        let zero =
            bincode::serde::encode_to_vec((v(), Some(0u64)), bincode_config()).expect("encode");
        let decoded =
            bincode::serde::decode_from_slice::<crate::core::Record, _>(&zero, bincode_config());
        assert!(decoded.is_err(), "{decoded:?}");
        let one =
            bincode::serde::encode_to_vec((v(), Some(1u64)), bincode_config()).expect("encode");
        let (r, _) =
            bincode::serde::decode_from_slice::<crate::core::Record, _>(&one, bincode_config())
                .expect("a deadline of 1 decodes");
        assert_eq!(r.deadline(), Some(1));
    }

    #[test]
    fn a_string_value_is_the_same_bytes_on_the_wire_as_before_it_was_shared() {
        // `Data::Str` held a `Vec<u8>` written by serde_bytes; it now holds
        // shared `Bytes`: the encoding must not change (no protocol bump).
        #[derive(Serialize, Deserialize)]
        enum Before {
            Str(#[serde(with = "serde_bytes")] Vec<u8>),
        }
        for v in [Vec::new(), b"v".to_vec(), vec![0xAB; 70_000]] {
            let old = bincode::serde::encode_to_vec(Before::Str(v.clone()), bincode_config())
                .expect("encode");
            let new = crate::core::Data::from(v.clone());
            let now = bincode::serde::encode_to_vec(&new, bincode_config()).expect("encode");
            assert_eq!(old, now);
            let (back, used) =
                bincode::serde::decode_from_slice::<crate::core::Data, _>(&old, bincode_config())
                    .expect("decode");
            assert_eq!((back, used), (new, old.len()));
        }
    }

    #[test]
    fn message_kinds_are_all_generated() {
        let m = Message::Recover { after: None };
        match m {
            Message::Prepare { .. }
            | Message::Promise { .. }
            | Message::Accept { .. }
            | Message::Accepted { .. }
            | Message::Reject { .. }
            | Message::Confirm { .. }
            | Message::Nack { .. }
            | Message::Recover { .. }
            | Message::KeyPage { .. }
            | Message::ListKeys { .. }
            | Message::Read { .. }
            | Message::ReadReply { .. }
            | Message::KeyList { .. }
            | Message::Epoch { .. } => {}
        }
    }

    proptest! {
        #[test]
        fn every_message_round_trips(env in arb_envelope()) {
            let frame = Frame::Batch(vec![env]);
            let frames = decode_all(&encoded(&frame), FRAME_SIZE_MAX_BYTES).unwrap();
            prop_assert_eq!(frames, vec![frame]);
        }

        #[test]
        fn frames_round_trip(frames in proptest::collection::vec(arb_frame(), 1..5)) {
            let mut bytes = Vec::new();
            for f in &frames {
                encode_frame(f, &mut bytes).unwrap();
            }
            prop_assert_eq!(decode_all(&bytes, FRAME_SIZE_MAX_BYTES).unwrap(), frames);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            // Either an error or "need more"; any frames it yields re-encode.
            let mut d = FrameDecoder::new(1024);
            d.feed(&bytes);
            while let Ok(Some(f)) = d.next_frame() {
                let _ = encoded(&f);
            }
        }

        #[test]
        fn arbitrary_payloads_never_panic(payload in proptest::collection::vec(any::<u8>(), 1..256)) {
            let mut bytes = (payload.len() as u32).to_be_bytes().to_vec();
            bytes.extend_from_slice(&payload);
            let _ = decode_all(&bytes, 1024);
        }

        #[test]
        fn split_at_any_point_decodes_the_same(frame in arb_frame(), cut in any::<prop::sample::Index>()) {
            let bytes = encoded(&frame);
            let at = cut.index(bytes.len() + 1);
            let mut d = FrameDecoder::new(FRAME_SIZE_MAX_BYTES);
            d.feed(&bytes[..at]);
            let first = d.next_frame().unwrap();
            d.feed(&bytes[at..]);
            let got = match first { Some(f) => f, None => d.next_frame().unwrap().unwrap() };
            prop_assert_eq!(got, frame);
        }
    }

    #[test]
    fn byte_by_byte_feeding_yields_each_frame_once() {
        let frames = vec![
            Frame::Hello(hello()),
            Frame::Batch(vec![Envelope {
                from: 1,
                from_incarnation: 2,
                to: 3,
                to_incarnation: 4,
                epoch: 0,
                msg: Message::Accept {
                    key: b"k".to_vec(),
                    ballot: Ballot::new(5, 1, 2),
                    value: Some(Record::new(b"v".to_vec())),
                    next_prepare: Some(Ballot::new(6, 1, 2)),
                    lineage: vec![],
                    held: None,
                },
            }]),
        ];
        let mut bytes = Vec::new();
        for f in &frames {
            encode_frame(f, &mut bytes).unwrap();
        }
        let mut d = FrameDecoder::new(FRAME_SIZE_MAX_BYTES);
        let mut got = Vec::new();
        for b in bytes {
            d.feed(&[b]);
            while let Some(f) = d.next_frame().unwrap() {
                got.push(f);
            }
        }
        assert_eq!(got, frames);
        assert_eq!(d.buffered_bytes(), 0);
    }

    #[test]
    fn oversized_length_is_refused_before_any_payload_arrives() {
        let mut d = FrameDecoder::new(16 * 1024 * 1024);
        d.feed(&(80u32 * 1024 * 1024).to_be_bytes());
        let err = d.next_frame().unwrap_err();
        assert_eq!(
            err.to_string(),
            "frame of 80 MiB exceeds frame_size_max_bytes = 16 MiB"
        );
        // Nothing was reserved for the declared payload.
        assert!(d.buf.capacity() < 1024);
        // The stream stays failed.
        d.feed(&encoded(&Frame::Hello(hello())));
        assert_eq!(d.next_frame().unwrap_err(), err);
    }

    #[test]
    fn a_huge_string_length_inside_a_small_frame_is_refused_without_allocating() {
        // Hello with a cluster id declaring 2^40 bytes: bincode's limit refuses it.
        let mut payload = Vec::new();
        payload.extend_from_slice(&0u32.to_be_bytes()); // variant Hello
        payload.extend_from_slice(&MAGIC.to_be_bytes());
        payload.extend_from_slice(&PROTOCOL_VERSION.to_be_bytes());
        payload.extend_from_slice(&(1u64 << 40).to_be_bytes()); // string length
        payload.extend_from_slice(b"abc");
        let mut bytes = (payload.len() as u32).to_be_bytes().to_vec();
        bytes.extend_from_slice(&payload);
        let err = decode_all(&bytes, 1024).unwrap_err();
        assert!(matches!(err, CodecError::Malformed(_)), "{err}");
    }

    #[test]
    fn zero_length_and_trailing_garbage_are_refused() {
        assert_eq!(decode_all(&[0, 0, 0, 0], 1024), Err(CodecError::EmptyFrame));
        let mut bytes = encoded(&Frame::Batch(vec![]));
        bytes.push(0xff);
        let len = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) + 1;
        bytes[..4].copy_from_slice(&len.to_be_bytes());
        assert!(matches!(
            decode_all(&bytes, 1024),
            Err(CodecError::TrailingBytes { .. })
        ));
    }

    #[test]
    fn encoding_refuses_a_frame_above_the_bound() {
        let frame = Frame::Batch(vec![Envelope {
            from: 1,
            from_incarnation: 1,
            to: 2,
            to_incarnation: 1,
            epoch: 0,
            msg: Message::Accept {
                key: vec![],
                ballot: Ballot::ZERO,
                value: Some(Record::new(vec![0; 2000])),
                next_prepare: None,
                lineage: vec![],
                held: None,
            },
        }]);
        let mut out = vec![9];
        let err = encode_frame_max(&frame, 1024, &mut out).unwrap_err();
        assert!(matches!(err, CodecError::FrameTooLarge { .. }));
        assert_eq!(out, vec![9]);
    }

    #[test]
    fn handshake_mismatches_say_what_differs() {
        let ours = hello();
        let mut theirs = hello();
        theirs.node_id = 2;
        assert_eq!(validate_hello(&ours, &theirs), Ok(()));

        let mut t = theirs.clone();
        t.cluster_id = "x".into();
        let e = validate_hello(&ours, &t).unwrap_err();
        assert_eq!(e.to_string(), "cluster id 'x' does not match ours 'synod'");

        let mut t = theirs.clone();
        t.membership_hash = 1;
        let e = validate_hello(&ours, &t).unwrap_err().to_string();
        assert!(e.starts_with("replication hash differs"), "{e}");
        assert!(e.contains("would give disjoint quorums"), "{e}");
        // Another epoch is no reason to refuse: the core exchanges epochs.
        let mut t = theirs.clone();
        t.membership_epoch = 5;
        assert_eq!(validate_hello(&ours, &t), Ok(()));

        let mut t = theirs.clone();
        t.magic = 0x2a2a2a2a;
        assert!(matches!(
            validate_hello(&ours, &t),
            Err(HandshakeError::BadMagic { .. })
        ));

        let mut t = theirs.clone();
        t.protocol_version += 1;
        assert!(matches!(
            validate_hello(&ours, &t),
            Err(HandshakeError::VersionMismatch { .. })
        ));

        let mut t = theirs.clone();
        t.incarnation = 0;
        assert!(matches!(
            validate_hello(&ours, &t),
            Err(HandshakeError::ZeroIncarnation { .. })
        ));
    }

    #[test]
    fn peer_identity_rules() {
        let ours = hello(); // node 1, incarnation 7
        let mut t = hello();
        t.node_id = 2;
        assert_eq!(validate_peer_identity(&ours, &t, None, true), Ok(()));
        assert_eq!(validate_peer_identity(&ours, &t, Some(2), true), Ok(()));
        // Dialled 3, got 2.
        assert!(validate_peer_identity(&ours, &t, Some(3), true).is_err());
        // A node no list names (one joining) may connect; one claiming to be us not.
        t.node_id = 9;
        assert_eq!(validate_peer_identity(&ours, &t, None, true), Ok(()));
        t.node_id = 1;
        assert!(validate_peer_identity(&ours, &t, None, true).is_err());
        t.node_id = 2;
        // Remembers a later life of us.
        t.known_peer_incarnation = 8;
        assert!(matches!(
            validate_peer_identity(&ours, &t, None, false),
            Err(HandshakeError::PeerRemembersLaterIncarnation { .. })
        ));
        // Remembers an earlier life: fine for a recovering node, refused for --bootstrap.
        t.known_peer_incarnation = 6;
        assert_eq!(validate_peer_identity(&ours, &t, None, false), Ok(()));
        assert!(matches!(
            validate_peer_identity(&ours, &t, None, true),
            Err(HandshakeError::BootstrapAfterRestart { .. })
        ));
    }

    #[test]
    fn human_bytes_reads_well() {
        assert_eq!(human_bytes(17), "17 bytes");
        assert_eq!(human_bytes(2048), "2 KiB");
        assert_eq!(human_bytes(80 * 1024 * 1024), "80 MiB");
    }

    #[test]
    fn with_a_session_key_a_frame_needs_its_tag() {
        let secret = crate::auth::ClusterSecret::new(b"0123456789abcdef0123").unwrap();
        let frame = encoded(&Frame::Batch(vec![]));
        let mut tx = secret.session(b"t");
        let mut d = FrameDecoder::new(1024);
        d.set_mac(secret.session(b"t"));
        let mut bytes = frame.clone();
        bytes.extend_from_slice(&tx.tag(&frame));
        d.feed(&bytes);
        assert_eq!(d.next_frame(), Ok(Some(Frame::Batch(vec![]))));
        // The same frame again (a replay) fails: its tag was for sequence 0.
        d.feed(&bytes);
        assert_eq!(d.next_frame(), Err(CodecError::BadTag));
    }
}
