//! Peer authentication: the cluster secret, the handshake's mutual
//! challenge–response, and the tag on every later frame.
//!
//! Every member holds one secret, read from a file (never from the command
//! line, where `ps` shows it). A handshake is two [`Hello`](crate::codec::Hello)s,
//! each carrying a fresh random nonce, then two proofs: the acceptor sends
//! `HMAC-SHA256(secret, "acceptor" ‖ transcript)` with its Hello, the dialer
//! answers with `HMAC-SHA256(secret, "dialer" ‖ transcript)`, where the
//! transcript is both Hellos as encoded, so the proofs cover both nonces, the
//! cluster id, the node ids and the incarnations. A stranger cannot answer
//! without the secret, cannot replay an old proof (the other side's nonce is
//! new), and cannot reflect one side's proof to the other (the roles differ).
//!
//! After the handshake every frame is followed by a 32-byte tag,
//! `HMAC-SHA256(session, sequence ‖ frame)`, with a session key derived from
//! the secret and the transcript: a man in the middle can neither inject,
//! change, reorder nor replay frames. The frames are not encrypted: use TLS
//! (or a private network) where what travels between nodes is secret.
//!
//! The crypto is the RustCrypto `hmac` and `sha2` crates; the comparison of
//! tags is constant-time (`Mac::verify_slice`).

use hmac::{Hmac, Mac};
use rand::Rng;
use sha2::Sha256;
use std::fmt;
use std::path::Path;

type HmacSha256 = Hmac<Sha256>;

/// Bytes of a nonce, a proof and a frame tag.
pub const TAG_BYTES: usize = 32;

/// A secret shorter than this is refused: guessable.
pub const SECRET_MIN_BYTES: usize = 16;

/// A secret longer than this is refused: not a secret file.
pub const SECRET_MAX_BYTES: usize = 4096;

/// The cluster secret. Its Debug form never shows it.
#[derive(Clone)]
pub struct ClusterSecret(Vec<u8>);

impl fmt::Debug for ClusterSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClusterSecret(<{} bytes>)", self.0.len())
    }
}

impl ClusterSecret {
    /// The secret in `bytes` (surrounding white space ignored, so a file
    /// written by `echo` works).
    pub fn new(bytes: &[u8]) -> Result<ClusterSecret, String> {
        let s = bytes.trim_ascii();
        if s.len() < SECRET_MIN_BYTES || s.len() > SECRET_MAX_BYTES {
            return Err(format!(
                "the cluster secret must be {SECRET_MIN_BYTES} to {SECRET_MAX_BYTES} bytes, \
                 not {} (make one with: head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \\n')",
                s.len()
            ));
        }
        Ok(ClusterSecret(s.to_vec()))
    }

    /// Reads the secret from `path`; refuses a file others may read.
    pub fn from_file(path: &Path) -> Result<ClusterSecret, String> {
        let shown = path.display();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let meta = std::fs::metadata(path)
                .map_err(|e| format!("cannot read the cluster secret file {shown}: {e}"))?;
            let mode = meta.permissions().mode();
            if mode & 0o077 != 0 {
                return Err(format!(
                    "the cluster secret file {shown} may be read by others (mode {:o}); \
                     chmod 600 it",
                    mode & 0o777
                ));
            }
        }
        let bytes = std::fs::read(path)
            .map_err(|e| format!("cannot read the cluster secret file {shown}: {e}"))?;
        ClusterSecret::new(&bytes).map_err(|e| format!("{shown}: {e}"))
    }

    fn mac(&self, label: &[u8], transcript: &[u8]) -> HmacSha256 {
        // HMAC takes keys of any length.
        let mut m = HmacSha256::new_from_slice(&self.0).expect("HMAC takes any key length");
        m.update(b"synod peer v4 ");
        m.update(label);
        m.update(transcript);
        m
    }

    /// The proof `role` sends for `transcript`.
    pub fn proof(&self, role: Role, transcript: &[u8]) -> [u8; TAG_BYTES] {
        self.mac(role.label(), transcript)
            .finalize()
            .into_bytes()
            .into()
    }

    /// Checks, in constant time, the proof `role` sent for `transcript`.
    pub fn verify(&self, role: Role, transcript: &[u8], proof: &[u8]) -> bool {
        self.mac(role.label(), transcript)
            .verify_slice(proof)
            .is_ok()
    }

    /// The key that tags the frames after the handshake of `transcript`.
    pub fn session(&self, transcript: &[u8]) -> FrameMac {
        let key: [u8; TAG_BYTES] = self
            .mac(b"session ", transcript)
            .finalize()
            .into_bytes()
            .into();
        FrameMac {
            mac: HmacSha256::new_from_slice(&key).expect("HMAC takes any key length"),
            seq: 0,
        }
    }
}

/// Which side of a handshake sends a proof.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The node that connected.
    Dialer,
    /// The node that accepted the connection.
    Acceptor,
}

impl Role {
    fn label(self) -> &'static [u8] {
        match self {
            Role::Dialer => b"dialer ",
            Role::Acceptor => b"acceptor ",
        }
    }
}

/// A fresh random nonce (the thread RNG: ChaCha seeded from the OS).
pub fn nonce() -> [u8; TAG_BYTES] {
    let mut n = [0u8; TAG_BYTES];
    rand::rng().fill_bytes(&mut n);
    n
}

/// Tags (sender) or checks (receiver) the frames of one connection, in order.
#[derive(Clone)]
pub struct FrameMac {
    mac: HmacSha256,
    seq: u64,
}

impl fmt::Debug for FrameMac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FrameMac(seq {})", self.seq)
    }
}

impl FrameMac {
    fn keyed(&self, frame: &[u8]) -> HmacSha256 {
        let mut m = self.mac.clone();
        m.update(&self.seq.to_be_bytes());
        m.update(frame);
        m
    }

    /// The tag of the next frame (its length prefix and payload).
    pub fn tag(&mut self, frame: &[u8]) -> [u8; TAG_BYTES] {
        let t = self.keyed(frame).finalize().into_bytes().into();
        self.seq += 1;
        t
    }

    /// Checks the next frame's tag in constant time.
    pub fn verify(&mut self, frame: &[u8], tag: &[u8]) -> bool {
        let ok = self.keyed(frame).verify_slice(tag).is_ok();
        self.seq += 1;
        ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(s: &str) -> ClusterSecret {
        ClusterSecret::new(s.as_bytes()).unwrap()
    }

    #[test]
    fn short_secrets_are_refused_and_white_space_is_ignored() {
        assert!(ClusterSecret::new(b"too short").is_err());
        let a = secret("  0123456789abcdef0123\n");
        let b = secret("0123456789abcdef0123");
        assert_eq!(a.proof(Role::Dialer, b"t"), b.proof(Role::Dialer, b"t"));
        assert!(!format!("{a:?}").contains("0123"), "Debug hides the secret");
    }

    #[test]
    fn a_proof_verifies_only_with_the_same_secret_role_and_transcript() {
        let s = secret("0123456789abcdef0123");
        let p = s.proof(Role::Acceptor, b"transcript");
        assert!(s.verify(Role::Acceptor, b"transcript", &p));
        assert!(!s.verify(Role::Dialer, b"transcript", &p), "no reflection");
        assert!(!s.verify(Role::Acceptor, b"transcripT", &p));
        assert!(!secret("another secret of 20b").verify(Role::Acceptor, b"transcript", &p));
        assert!(!s.verify(Role::Acceptor, b"transcript", &p[..31]));
    }

    #[test]
    fn frame_tags_bind_order_and_content() {
        let s = secret("0123456789abcdef0123");
        let (mut tx, mut rx) = (s.session(b"t"), s.session(b"t"));
        let (t1, t2) = (tx.tag(b"one"), tx.tag(b"two"));
        assert!(rx.verify(b"one", &t1));
        assert!(!rx.clone().verify(b"one", &t1), "a replayed frame fails");
        assert!(!rx.clone().verify(b"twO", &t2));
        assert!(rx.verify(b"two", &t2));
        assert!(
            !s.session(b"other").verify(b"one", &t1),
            "another session's tag fails"
        );
    }
}
