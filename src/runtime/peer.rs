//! Peer connections: dialers that send, acceptors that receive, and the
//! bounded per-peer send queue between the event loop and a dialer.
//!
//! Every node dials every other node. The outbound connection carries only
//! our frames to that peer; the inbound one only theirs to us. Each starts
//! with a handshake: the dialer sends its `Hello`, the acceptor checks it and
//! answers with its own, which the dialer checks in turn. A mismatch is logged
//! at warn with the reason and closes that connection; so does a malformed or
//! oversized frame. The node keeps serving everyone else.

use super::event_loop::Event;
use super::{jittered, Counters, PeerLink, Shared};
use crate::auth::{FrameMac, Role};
use crate::codec::{
    encode_frame, encode_frame_max, validate_hello, validate_peer_identity, CodecError, Frame,
    FrameDecoder, HandshakeError, Hello,
};
use crate::core::{Envelope, NodeId};
use async_std::channel::{self, Receiver, Sender};
use async_std::future::timeout;
use async_std::io::{Read as AsyncRead, ReadExt, Write as AsyncWrite, WriteExt};
use async_std::net::{TcpListener, TcpStream};
use async_std::task;
use parking_lot::Mutex;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::net::{IpAddr, Shutdown, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Largest handshake frame: a Hello is tens of bytes plus the cluster id (at
/// most 256), so a stranger cannot make us buffer more before it is checked.
const HELLO_SIZE_MAX_BYTES: usize = 4096;

/// Frames whose values weigh at least this much are encoded and tagged
/// (sender) or checked and decoded (receiver) on async-std's blocking pool,
/// not on the executor thread: copying and hashing a 16 MiB value there took
/// tens of ms (hundreds on a loaded machine) during which every other key's
/// messages waited (issue 14). Below it the hand-off costs more than the work.
pub(crate) const OFFLOAD_MIN_BYTES: usize = 256 * 1024;

/// A frame for a peer, as the event loop hands it over.
pub(crate) enum Outgoing {
    /// Encoded (length prefix and payload), not yet tagged.
    Encoded(Vec<u8>),
    /// A batch carrying at least [`OFFLOAD_MIN_BYTES`] of values: the dialer
    /// encodes it (split in halves if too large for one frame) and tags it
    /// off the executor thread.
    Batch(Vec<Envelope>),
}

/// One frame waiting for a peer.
struct Queued {
    frame: Outgoing,
    /// Counted against the queue's byte bound: the encoded length, or the
    /// batch's estimate.
    bytes: usize,
    messages: usize,
    confirm_only: bool,
}

/// What a dialer takes from its queue at once.
pub(crate) struct Taken {
    frames: Vec<Outgoing>,
    messages: usize,
    /// About the bytes they take encoded.
    bytes: usize,
    /// Some frame is a batch to encode: do it off the executor thread.
    heavy: bool,
}

/// What [`assemble`] wrote, and what it could not encode.
#[derive(Debug, Default, PartialEq, Eq)]
struct Assembled {
    frames: usize,
    dropped_frames: usize,
    dropped_messages: usize,
}

/// Appends every frame to `out`, encoding the batches, each followed by its
/// tag on an authenticated link (tags must follow the frames' order).
fn assemble(
    frames: Vec<Outgoing>,
    out: &mut Vec<u8>,
    mut mac: Option<&mut FrameMac>,
    max: usize,
    peer: NodeId,
) -> Assembled {
    let mut done = Assembled::default();
    for f in frames {
        match f {
            Outgoing::Encoded(bytes) => {
                let start = out.len();
                if out.is_empty() {
                    *out = bytes;
                } else {
                    out.extend_from_slice(&bytes);
                }
                tag_from(out, start, mac.as_deref_mut());
                done.frames += 1;
            }
            Outgoing::Batch(envs) => {
                encode_batch(envs, out, mac.as_deref_mut(), max, peer, &mut done)
            }
        }
    }
    done
}

/// Appends the tag of the frame at `out[start..]`, on an authenticated link.
fn tag_from(out: &mut Vec<u8>, start: usize, mac: Option<&mut FrameMac>) {
    if let Some(mac) = mac {
        let tag = mac.tag(&out[start..]);
        out.extend_from_slice(&tag);
    }
}

/// Encodes `envs` as one frame, or as halves if that is too large.
fn encode_batch(
    envs: Vec<Envelope>,
    out: &mut Vec<u8>,
    mut mac: Option<&mut FrameMac>,
    max: usize,
    peer: NodeId,
    done: &mut Assembled,
) {
    let n = envs.len();
    let start = out.len();
    let frame = Frame::Batch(envs);
    match encode_frame_max(&frame, max, out) {
        Ok(()) => {
            tag_from(out, start, mac);
            done.frames += 1;
        }
        Err(CodecError::FrameTooLarge { .. }) if n > 1 => {
            let Frame::Batch(mut first) = frame else {
                return;
            };
            let second = first.split_off(n / 2);
            encode_batch(first, out, mac.as_deref_mut(), max, peer, done);
            encode_batch(second, out, mac, max, peer, done);
        }
        Err(e) => {
            log::error!("cannot send {n} message(s) to node {peer}: {e}; dropped");
            done.dropped_frames += 1;
            done.dropped_messages += n;
        }
    }
}

struct QueueInner {
    /// The connection generation allowed to drain the queue; None: no link,
    /// frames are refused.
    open: Option<u64>,
    frames: VecDeque<Queued>,
    bytes: usize,
}

/// What happened to a frame offered to a [`SendQueue`].
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Push {
    /// Queued.
    Queued,
    /// Queued, after dropping older Confirm-only frames holding `messages` messages.
    DroppedOlderConfirms { messages: usize },
    /// The queue is full: this (newest) frame was dropped.
    DroppedNewest,
    /// No link to the peer: dropped.
    Closed,
}

/// A bounded queue of encoded frames for one peer. The event loop pushes; the
/// peer's dialer drains it. Cleared whenever the link opens or closes.
pub(crate) struct SendQueue {
    inner: Mutex<QueueInner>,
    notify_tx: Sender<()>,
    notify_rx: Receiver<()>,
}

impl SendQueue {
    pub fn new() -> SendQueue {
        let (notify_tx, notify_rx) = channel::bounded(1);
        SendQueue {
            inner: Mutex::new(QueueInner {
                open: None,
                frames: VecDeque::new(),
                bytes: 0,
            }),
            notify_tx,
            notify_rx,
        }
    }

    /// Lets connection `gen` drain the queue, starting empty.
    pub fn open(&self, gen: u64) {
        let mut q = self.inner.lock();
        q.open = Some(gen);
        q.frames.clear();
        q.bytes = 0;
    }

    /// No link: empties the queue and refuses frames until the next `open`.
    pub fn close(&self) {
        let mut q = self.inner.lock();
        q.open = None;
        q.frames.clear();
        q.bytes = 0;
    }

    /// Offers an encoded frame (see [`SendQueue::push_frame`]).
    pub fn push(
        &self,
        bytes: Vec<u8>,
        messages: usize,
        confirm_only: bool,
        max_frames: usize,
        max_bytes: usize,
    ) -> Push {
        let len = bytes.len();
        let frame = Outgoing::Encoded(bytes);
        self.push_frame(frame, len, messages, confirm_only, max_frames, max_bytes)
    }

    /// Offers a frame of about `len` bytes. On overflow Confirm-only frames
    /// go first (they only speed up later reads), then the newest frame.
    pub fn push_frame(
        &self,
        frame: Outgoing,
        len: usize,
        messages: usize,
        confirm_only: bool,
        max_frames: usize,
        max_bytes: usize,
    ) -> Push {
        let mut q = self.inner.lock();
        if q.open.is_none() {
            return Push::Closed;
        }
        let fits = |q: &QueueInner| q.frames.len() < max_frames && q.bytes + len <= max_bytes;
        let mut dropped = 0;
        if !fits(&q) && !confirm_only {
            while !fits(&q) {
                let Some(i) = q.frames.iter().position(|f| f.confirm_only) else {
                    break;
                };
                if let Some(f) = q.frames.remove(i) {
                    q.bytes -= f.bytes;
                    dropped += f.messages;
                }
            }
        }
        if !fits(&q) {
            return Push::DroppedNewest;
        }
        q.bytes += len;
        q.frames.push_back(Queued {
            frame,
            bytes: len,
            messages,
            confirm_only,
        });
        drop(q);
        self.wake();
        if dropped > 0 {
            Push::DroppedOlderConfirms { messages: dropped }
        } else {
            Push::Queued
        }
    }

    /// Takes every queued frame if connection `gen` may (encoding and
    /// tagging them is the caller's, outside the lock).
    fn take(&self, gen: u64) -> Option<Taken> {
        let mut q = self.inner.lock();
        if q.open != Some(gen) || q.frames.is_empty() {
            return None;
        }
        let mut taken = Taken {
            frames: Vec::with_capacity(q.frames.len()),
            messages: 0,
            bytes: q.bytes,
            heavy: false,
        };
        for f in q.frames.drain(..) {
            taken.messages += f.messages;
            taken.heavy |= matches!(f.frame, Outgoing::Batch(_));
            taken.frames.push(f.frame);
        }
        q.bytes = 0;
        Some(taken)
    }

    /// Wakes the dialer (a token is kept if it is busy).
    pub fn wake(&self) {
        let _ = self.notify_tx.try_send(());
    }

    async fn wait(&self) {
        let _ = self.notify_rx.recv().await;
    }

    /// True while a connection may drain the queue.
    pub fn is_open(&self) -> bool {
        self.inner.lock().open.is_some()
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.inner.lock().frames.len()
    }
}

/// Why a dial attempt did not produce a link.
enum DialError {
    Connect(String),
    Handshake(HandshakeError),
    Io(String),
}

impl fmt::Display for DialError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DialError::Connect(e) => write!(f, "cannot connect: {e}"),
            DialError::Handshake(e) => write!(f, "handshake refused: {e}"),
            DialError::Io(e) => write!(f, "handshake failed: {e}"),
        }
    }
}

/// Reads until one frame is decoded.
async fn read_frame<S: AsyncRead + Unpin>(
    stream: &mut S,
    decoder: &mut FrameDecoder,
    buf: &mut [u8],
) -> Result<Frame, String> {
    loop {
        if let Some(f) = decoder.next_frame().map_err(|e| e.to_string())? {
            return Ok(f);
        }
        let n = stream.read(buf).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("connection closed during the handshake (the peer's log says why)".into());
        }
        decoder.feed(&buf[..n]);
    }
}

/// Both Hellos as encoded, dialer's first: what the proofs and the session key cover.
fn transcript(dialer: &Hello, acceptor: &Hello) -> Vec<u8> {
    let mut t = Vec::new();
    for h in [dialer, acceptor] {
        // A Hello always encodes (tens of bytes, well under any bound).
        let _ = encode_frame(&Frame::Hello(h.clone()), &mut t);
    }
    t
}

fn encoded(frame: &Frame) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    encode_frame(frame, &mut out).map_err(|e| e.to_string())?;
    Ok(out)
}

fn handshake_timeout(shared: &Shared) -> Duration {
    Duration::from_millis(shared.opts.runtime.handshake_timeout_ms)
}

/// A peer link's stream after the TCP connect: the socket itself, or a TLS
/// session over it (tls-cluster).
enum Link {
    Plain,
    Tls(Box<futures_rustls::client::TlsStream<TcpStream>>),
}

/// Connects to `peer` and runs the dialer's half of the handshake (inside
/// TLS with tls-cluster); returns the socket, the link over it, the peer's
/// Hello and, on an authenticated plain link, the key that tags our frames.
async fn connect(
    peer: NodeId,
    addr: &str,
    shared: &Shared,
) -> Result<(TcpStream, Link, Hello, Option<FrameMac>), DialError> {
    let rt = &shared.opts.runtime;
    let stream = match timeout(
        Duration::from_millis(rt.connect_timeout_ms),
        TcpStream::connect(addr),
    )
    .await
    {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Err(DialError::Connect(e.to_string())),
        Err(_) => {
            return Err(DialError::Connect(format!(
                "no answer within connect_timeout_ms = {}",
                rt.connect_timeout_ms
            )))
        }
    };
    let _ = stream.set_nodelay(true);
    let Some(connector) = &shared.tls.peer_dial else {
        let (theirs, mac) = dial_handshake(&mut stream.clone(), peer, shared, true).await?;
        return Ok((stream, Link::Plain, theirs, mac));
    };
    let name = super::tls::server_name(addr).map_err(DialError::Io)?;
    let mut tls = match timeout(
        handshake_timeout(shared),
        connector.connect(name, stream.clone()),
    )
    .await
    {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Err(DialError::Io(format!("TLS handshake failed: {e}"))),
        Err(_) => return Err(DialError::Io("no TLS handshake in time".into())),
    };
    // TLS authenticates every record: no frame tags on top.
    let (theirs, _) = dial_handshake(&mut tls, peer, shared, false).await?;
    Ok((stream, Link::Tls(Box::new(tls)), theirs, None))
}

/// The dialer's Hello, proof and checks on `stream`.
async fn dial_handshake<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    peer: NodeId,
    shared: &Shared,
    tag_frames: bool,
) -> Result<(Hello, Option<FrameMac>), DialError> {
    let rt = &shared.opts.runtime;
    let ours = shared.hello(Some(peer));
    let out = encoded(&Frame::Hello(ours.clone())).map_err(DialError::Io)?;
    let exchange = async {
        write_flush(stream, &out)
            .await
            .map_err(|e| DialError::Io(e.to_string()))?;
        let mut decoder = FrameDecoder::new(HELLO_SIZE_MAX_BYTES);
        let mut buf = [0u8; 512];
        let frame = read_frame(stream, &mut decoder, &mut buf)
            .await
            .map_err(DialError::Io)?;
        let Frame::Hello(theirs) = frame else {
            return Err(DialError::Handshake(HandshakeError::NotHello));
        };
        validate_hello(&ours, &theirs).map_err(DialError::Handshake)?;
        validate_peer_identity(&ours, &theirs, Some(peer), shared.opts.bootstrap)
            .map_err(DialError::Handshake)?;
        let Some(secret) = &shared.opts.secret else {
            return Ok((theirs, None));
        };
        // The acceptor proved it holds the secret first; then we do.
        let t = transcript(&ours, &theirs);
        let proof = read_frame(stream, &mut decoder, &mut buf)
            .await
            .map_err(DialError::Io)?;
        let Frame::Proof(proof) = proof else {
            return Err(DialError::Handshake(HandshakeError::BadProof));
        };
        if !secret.verify(Role::Acceptor, &t, &proof) {
            return Err(DialError::Handshake(HandshakeError::BadProof));
        }
        let out = encoded(&Frame::Proof(secret.proof(Role::Dialer, &t))).map_err(DialError::Io)?;
        write_flush(stream, &out)
            .await
            .map_err(|e| DialError::Io(e.to_string()))?;
        Ok((theirs, tag_frames.then(|| secret.session(&t))))
    };
    match timeout(handshake_timeout(shared), exchange).await {
        Ok(r) => r,
        Err(_) => Err(DialError::Io(format!(
            "no handshake within handshake_timeout_ms = {}",
            rt.handshake_timeout_ms
        ))),
    }
}

/// Writes all of `bytes` and flushes (a TLS session may hold records back;
/// a no-op on TCP).
async fn write_flush<S: AsyncWrite + Unpin>(s: &mut S, bytes: &[u8]) -> std::io::Result<()> {
    s.write_all(bytes).await?;
    s.flush().await
}

/// Keeps a link to `peer` up: connect, handshake, drain its send queue; on
/// failure reconnect after a jittered exponential backoff.
///
/// `bulk`: the peer's bulk link, which carries only messages with big values
/// (`Shared::bulk_queues`). It opens and closes its own queue and tells the
/// loop nothing: the main link alone says whether the peer is up, and while
/// the bulk link is down big values go on the main link. Messages on the two
/// links may overtake each other, as on any network: the protocol does not
/// rely on order (the simulator reorders them).
pub(crate) async fn dial_loop(
    peer: NodeId,
    link: Arc<PeerLink>,
    shared: Arc<Shared>,
    events: Sender<Event>,
    bulk: bool,
) {
    let what = if bulk { "bulk link" } else { "connection" };
    let rt = &shared.opts.runtime;
    let min = Duration::from_millis(rt.reconnect_backoff_min_ms);
    let max = Duration::from_millis(rt.reconnect_backoff_max_ms);
    let mut rng = ChaCha8Rng::seed_from_u64(shared.incarnation ^ u64::from(peer));
    let mut backoff = min;
    let mut gen = 0;
    let mut failures = 0u64;
    let addr = link.addr.clone();
    let queue = if bulk {
        link.bulk.clone()
    } else {
        link.queue.clone()
    };
    let retired = || link.retired.load(Ordering::Relaxed);
    while !shared.stopping() && !retired() {
        match connect(peer, &addr, &shared).await {
            Ok((stream, tls, theirs, mac)) => {
                if retired() {
                    let _ = stream.shutdown(Shutdown::Both);
                    break;
                }
                backoff = min;
                failures = 0;
                gen += 1;
                let _guard = shared.register(&stream);
                if bulk {
                    queue.open(gen);
                } else {
                    let up = Event::LinkUp {
                        node: peer,
                        incarnation: theirs.incarnation,
                        gen,
                    };
                    if events.send(up).await.is_err() {
                        return;
                    }
                }
                let why = match tls {
                    Link::Plain => {
                        let (r, w) = (stream.clone(), stream.clone());
                        drain(r, w, &stream, &queue, gen, mac, &shared, &link, peer).await
                    }
                    Link::Tls(tls) => {
                        let (r, w) = futures_lite::io::split(tls);
                        drain(r, w, &stream, &queue, gen, mac, &shared, &link, peer).await
                    }
                };
                queue.close();
                let _ = stream.shutdown(Shutdown::Both);
                log::info!("{what} to node {peer} at {addr} closed: {why}");
                if !bulk
                    && events
                        .send(Event::LinkDown { node: peer, gen })
                        .await
                        .is_err()
                {
                    return;
                }
            }
            Err(DialError::Handshake(e)) => {
                Counters::inc(&shared.counters.peer_handshakes_refused);
                log::warn!("peer node {peer} at {addr}: handshake refused: {e}; closing");
                backoff = (backoff * 2).min(max);
            }
            Err(e) => {
                failures += 1;
                Counters::inc(&shared.counters.peer_connect_failures);
                if failures == 1 || failures % 100 == 0 {
                    log::info!("node {peer} at {addr}: {e} (attempt {failures}); retrying");
                } else {
                    log::debug!("node {peer} at {addr}: {e} (attempt {failures})");
                }
                backoff = (backoff * 2).min(max);
            }
        }
        task::sleep(jittered(backoff, &mut rng)).await;
    }
}

/// Writes the queue's frames to `w` until it fails; returns why it stopped.
/// `r` is the link's read side, watched for the peer closing it; `stream`
/// the socket, closed at the end.
#[allow(clippy::too_many_arguments)]
async fn drain<R, W>(
    mut r: R,
    mut w: W,
    stream: &TcpStream,
    queue: &Arc<SendQueue>,
    gen: u64,
    mut mac: Option<FrameMac>,
    shared: &Shared,
    link: &PeerLink,
    peer: NodeId,
) -> String
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin,
{
    // The acceptor never writes after its Hello: a read returning means the
    // connection is gone (or the peer broke the protocol).
    let reason = Arc::new(Mutex::new(None::<String>));
    let watcher = {
        let reason = reason.clone();
        let queue = queue.clone();
        task::spawn(async move {
            let mut b = [0u8; 64];
            let why = match r.read(&mut b).await {
                Ok(0) => "the peer closed it".to_string(),
                Ok(_) => "the peer wrote on a send-only connection".to_string(),
                Err(e) => format!("read error: {e}"),
            };
            *reason.lock() = Some(why);
            queue.wake();
        })
    };
    let c = &shared.counters;
    let mut out = Vec::new();
    let why = loop {
        queue.wait().await;
        if let Some(why) = reason.lock().take() {
            break why;
        }
        if shared.stopping() {
            break "node stopping".to_string();
        }
        if link.retired.load(Ordering::Relaxed) {
            break "the node left the membership".to_string();
        }
        out.clear();
        let Some(taken) = queue.take(gen) else {
            continue;
        };
        let max = shared.opts.runtime.frame_size_max_bytes;
        let Taken {
            frames,
            messages,
            bytes,
            heavy,
        } = taken;
        let done = if heavy {
            // Copying and hashing megabytes: off the executor thread, which
            // runs the event loop and every other connection.
            let (mut o, mut m) = (std::mem::take(&mut out), mac.take());
            let (o, m, done) = task::spawn_blocking(move || {
                o.reserve(bytes + 1024);
                let done = assemble(frames, &mut o, m.as_mut(), max, peer);
                (o, m, done)
            })
            .await;
            (out, mac) = (o, m);
            done
        } else {
            assemble(frames, &mut out, mac.as_mut(), max, peer)
        };
        if done.dropped_frames > 0 {
            Counters::add(&c.frames_dropped, done.dropped_frames as u64);
            Counters::add(&c.messages_dropped, done.dropped_messages as u64);
        }
        let (frames, messages) = (done.frames, messages - done.dropped_messages);
        if out.is_empty() {
            continue;
        }
        if let Err(e) = write_flush(&mut w, &out).await {
            break format!("write error: {e}");
        }
        Counters::add(&c.frames_sent, frames as u64);
        Counters::add(&c.messages_sent, messages as u64);
        Counters::add(&c.bytes_sent, out.len() as u64);
        Counters::add(&link.counters.messages_sent, messages as u64);
        Counters::add(&link.counters.bytes_sent, out.len() as u64);
        if out.capacity() > 4 * 1024 * 1024 {
            out = Vec::new(); // Give a burst's buffer back.
        }
    };
    let _ = stream.shutdown(Shutdown::Both);
    watcher.await;
    why
}

/// Who may open a peer connection now. An address whose handshakes keep
/// failing (a stranger without the secret, a misconfigured node) is refused
/// for a growing while; so is a member whose messages broke the protocol.
/// Refusals are logged at most once per [`REFUSAL_LOG_EVERY`] per address or
/// member, and counted in INFO.
#[derive(Default)]
pub(crate) struct Gate {
    addrs: Mutex<HashMap<IpAddr, Penalty>>,
    nodes: Mutex<BTreeMap<NodeId, Penalty>>,
}

/// Handshake failures from one address before back-off starts: a node
/// restarting with a fixed configuration should not be made to wait.
const FREE_STRIKES: u32 = 3;
/// First back-off after [`FREE_STRIKES`] failed handshakes; doubles after each.
const ADDR_BACKOFF_MIN: Duration = Duration::from_millis(100);
const ADDR_BACKOFF_MAX: Duration = Duration::from_secs(10);
/// A member's first time-out after a bad message; doubles after each.
const NODE_BACKOFF_MIN: Duration = Duration::from_secs(1);
const NODE_BACKOFF_MAX: Duration = Duration::from_secs(60);
pub(crate) const REFUSAL_LOG_EVERY: Duration = Duration::from_secs(10);

#[derive(Default)]
struct Penalty {
    strikes: u32,
    until: Option<Instant>,
    logged: Option<Instant>,
    suppressed: u64,
}

impl Penalty {
    fn strike(&mut self, free: u32, min: Duration, max: Duration) -> Duration {
        self.strikes = self.strikes.saturating_add(1);
        if self.strikes <= free {
            return Duration::ZERO;
        }
        let d = min
            .saturating_mul(1 << (self.strikes - free - 1).min(16))
            .min(max);
        self.until = Some(Instant::now() + d);
        d
    }

    fn blocked(&self) -> Option<Duration> {
        self.until
            .and_then(|u| u.checked_duration_since(Instant::now()))
    }

    /// True if a refusal should be logged now; else counts it as suppressed.
    fn log_now(&mut self) -> Option<u64> {
        let now = Instant::now();
        if self.logged.is_some_and(|l| now < l + REFUSAL_LOG_EVERY) {
            self.suppressed += 1;
            return None;
        }
        self.logged = Some(now);
        Some(std::mem::take(&mut self.suppressed))
    }
}

impl Gate {
    /// How much longer `ip` is refused, if it is; and whether to log it.
    fn addr_blocked(&self, ip: IpAddr) -> Option<(Duration, Option<u64>)> {
        let mut m = self.addrs.lock();
        let p = m.get_mut(&ip)?;
        let d = p.blocked()?;
        Some((d, p.log_now()))
    }

    /// A handshake from `ip` failed: returns the back-off now in force, and
    /// whether to log (with how many refusals went unlogged).
    fn strike_addr(&self, ip: IpAddr) -> (Duration, Option<u64>) {
        let mut m = self.addrs.lock();
        if m.len() > 10_000 {
            // Bounded memory: forget addresses no longer backed off.
            m.retain(|_, p| p.blocked().is_some());
        }
        let p = m.entry(ip).or_default();
        let d = p.strike(FREE_STRIKES, ADDR_BACKOFF_MIN, ADDR_BACKOFF_MAX);
        (d, p.log_now())
    }

    fn clear_addr(&self, ip: IpAddr) {
        self.addrs.lock().remove(&ip);
    }

    /// How much longer member `node` is refused, if it is.
    fn node_blocked(&self, node: NodeId) -> Option<(Duration, Option<u64>)> {
        let mut m = self.nodes.lock();
        let p = m.get_mut(&node)?;
        let d = p.blocked()?;
        Some((d, p.log_now()))
    }

    /// Member `node` sent a bad message: it is refused for a growing while.
    pub(crate) fn strike_node(&self, node: NodeId) -> Duration {
        let mut m = self.nodes.lock();
        m.entry(node)
            .or_default()
            .strike(0, NODE_BACKOFF_MIN, NODE_BACKOFF_MAX)
    }
}

fn suppressed(n: u64) -> String {
    if n == 0 {
        String::new()
    } else {
        format!(" ({n} more refused since the last such line)")
    }
}

/// Accepts inbound peer connections.
pub(crate) async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, events: Sender<Event>) {
    let open = Arc::new(AtomicUsize::new(0));
    let handshaking = Arc::new(AtomicUsize::new(0));
    let rt = &shared.opts.runtime;
    let (max, handshakes_max) = (rt.peer_inbound_connections_max, rt.peer_handshakes_max);
    let c = &shared.counters;
    loop {
        let (stream, addr) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                log::warn!("peer port: accept failed: {e}");
                task::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        if shared.opts.secret.is_none()
            && shared.tls.peer_accept.is_none()
            && !addr.ip().is_loopback()
        {
            // Protected mode, as Redis has it: no secret (nor mutual TLS), no strangers.
            Counters::inc(&c.peer_connections_refused_protected);
            if let (_, Some(n)) = shared.gate.strike_addr(addr.ip()) {
                log::warn!(
                    "peer connection from {addr}: refused: this node has no cluster secret \
                     (--secret-file), so its peer port takes connections from loopback only; \
                     give every node the same --secret-file{}",
                    suppressed(n)
                );
            }
            continue;
        }
        if let Some((d, log)) = shared.gate.addr_blocked(addr.ip()) {
            Counters::inc(&c.peer_connections_backed_off);
            if let Some(n) = log {
                log::warn!(
                    "peer connection from {addr}: refused for another {} ms: its handshakes \
                     keep failing{}",
                    d.as_millis(),
                    suppressed(n)
                );
            }
            continue;
        }
        if open.load(Ordering::Relaxed) >= max
            || handshaking.load(Ordering::Relaxed) >= handshakes_max
        {
            Counters::inc(&c.bad_peer_connections);
            log::warn!(
                "peer connection from {addr}: refused, peer_inbound_connections_max = {max} or \
                 peer_handshakes_max = {handshakes_max} reached; closing"
            );
            continue;
        }
        open.fetch_add(1, Ordering::Relaxed);
        handshaking.fetch_add(1, Ordering::Relaxed);
        let (shared, events, open, handshaking) = (
            shared.clone(),
            events.clone(),
            open.clone(),
            handshaking.clone(),
        );
        task::spawn(async move {
            serve_inbound(stream, addr, &shared, &events, &handshaking).await;
            open.fetch_sub(1, Ordering::Relaxed);
        });
    }
}

/// Decrements the handshake count once, when the handshake ends either way.
struct HandshakeSlot<'a>(Option<&'a AtomicUsize>);

impl HandshakeSlot<'_> {
    fn release(&mut self) {
        if let Some(c) = self.0.take() {
            c.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl Drop for HandshakeSlot<'_> {
    fn drop(&mut self) {
        self.release();
    }
}

/// The acceptor's half of the handshake: returns the peer's Hello and, on an
/// authenticated link, the key its frames are tagged with.
async fn accept_handshake<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    tag_frames: bool,
    addr: SocketAddr,
    decoder: &mut FrameDecoder,
    buf: &mut [u8],
    shared: &Shared,
) -> Result<(Hello, Option<FrameMac>), HandshakeFailure> {
    let first = read_frame(stream, decoder, buf)
        .await
        .map_err(HandshakeFailure::Bad)?;
    let Frame::Hello(theirs) = first else {
        return Err(HandshakeFailure::Bad(HandshakeError::NotHello.to_string()));
    };
    let ours = shared.hello(Some(theirs.node_id));
    validate_hello(&ours, &theirs)
        .and_then(|()| validate_peer_identity(&ours, &theirs, None, shared.opts.bootstrap))
        .map_err(HandshakeFailure::Refused)?;
    if let Some((d, log)) = shared.gate.node_blocked(theirs.node_id) {
        return Err(HandshakeFailure::NodeBackedOff(theirs.node_id, d, log));
    }
    let mut out = encoded(&Frame::Hello(ours.clone())).map_err(HandshakeFailure::Bad)?;
    let Some(secret) = &shared.opts.secret else {
        write_flush(stream, &out)
            .await
            .map_err(|e| HandshakeFailure::Bad(e.to_string()))?;
        return Ok((theirs, None));
    };
    let t = transcript(&theirs, &ours);
    out.extend(
        encoded(&Frame::Proof(secret.proof(Role::Acceptor, &t))).map_err(HandshakeFailure::Bad)?,
    );
    write_flush(stream, &out)
        .await
        .map_err(|e| HandshakeFailure::Bad(e.to_string()))?;
    let proof = read_frame(stream, decoder, buf).await;
    match proof {
        Ok(Frame::Proof(p)) if secret.verify(Role::Dialer, &t, &p) => {
            Ok((theirs, tag_frames.then(|| secret.session(&t))))
        }
        _ => {
            log::debug!(
                "peer connection from {addr} claiming node {}: bad proof",
                theirs.node_id
            );
            Err(HandshakeFailure::Refused(HandshakeError::BadProof))
        }
    }
}

enum HandshakeFailure {
    /// Not a well-formed handshake.
    Bad(String),
    /// A well-formed handshake we refuse (wrong cluster, wrong secret...).
    Refused(HandshakeError),
    /// A member in its time-out after a bad message.
    NodeBackedOff(NodeId, Duration, Option<u64>),
}

/// The acceptor's side: (with tls-cluster, a TLS handshake, then) the
/// handshake, then receive frames and pass them on.
async fn serve_inbound(
    stream: TcpStream,
    addr: SocketAddr,
    shared: &Arc<Shared>,
    events: &Sender<Event>,
    handshaking: &AtomicUsize,
) {
    let mut slot = HandshakeSlot(Some(handshaking));
    let _guard = shared.register(&stream);
    let _ = stream.set_nodelay(true);
    let Some(acceptor) = &shared.tls.peer_accept else {
        serve_link(stream.clone(), &stream, true, addr, shared, events, slot).await;
        return;
    };
    let limit = handshake_timeout(shared);
    let tls = match super::tls::starts_with_tls(&stream, limit).await {
        Ok(true) => match timeout(limit, acceptor.accept(stream.clone())).await {
            Ok(Ok(s)) => Ok(s),
            Ok(Err(e)) => Err(format!("TLS handshake failed: {e}")),
            Err(_) => Err("no TLS handshake in time".into()),
        },
        Ok(false) => Err(
            "a plain-TCP peer on a TLS peer port (tls-cluster yes here: set it on every member)"
                .into(),
        ),
        Err(e) => Err(e),
    };
    match tls {
        // TLS authenticates every record: no frame tags on top.
        Ok(tls) => serve_link(tls, &stream, false, addr, shared, events, slot).await,
        Err(why) => {
            slot.release();
            Counters::inc(&shared.counters.bad_peer_connections);
            strike(shared, addr, &why);
        }
    }
}

/// Handshake on `link` (the socket, or TLS over it), then receive frames.
async fn serve_link<S: AsyncRead + AsyncWrite + Unpin>(
    mut link: S,
    stream: &TcpStream,
    tag_frames: bool,
    addr: SocketAddr,
    shared: &Arc<Shared>,
    events: &Sender<Event>,
    mut slot: HandshakeSlot<'_>,
) {
    let c = &shared.counters;
    let mut decoder = FrameDecoder::new(HELLO_SIZE_MAX_BYTES);
    let mut buf = vec![0u8; shared.opts.runtime.peer_read_chunk_bytes];
    let result = timeout(
        handshake_timeout(shared),
        accept_handshake(&mut link, tag_frames, addr, &mut decoder, &mut buf, shared),
    )
    .await;
    slot.release();
    let (theirs, mac) = match result {
        Ok(Ok(x)) => x,
        Ok(Err(HandshakeFailure::NodeBackedOff(node, d, log))) => {
            Counters::inc(&c.peer_connections_backed_off);
            if let Some(n) = log {
                log::warn!(
                    "peer connection from node {node} at {addr}: refused for another {} ms \
                     after it sent a bad message{}",
                    d.as_millis(),
                    suppressed(n)
                );
            }
            return;
        }
        Ok(Err(failure)) => {
            let (why, bad) = match failure {
                HandshakeFailure::Bad(why) => (why, true),
                HandshakeFailure::Refused(e) => {
                    if e == HandshakeError::BadProof
                        || matches!(e, HandshakeError::AuthMismatch { .. })
                    {
                        Counters::inc(&c.peer_auth_refused);
                    }
                    (format!("handshake refused: {e}"), false)
                }
                HandshakeFailure::NodeBackedOff(..) => unreachable!("handled above"),
            };
            if bad {
                Counters::inc(&c.bad_peer_connections);
            } else {
                Counters::inc(&c.peer_handshakes_refused);
            }
            strike(shared, addr, &why);
            return;
        }
        Err(_) => {
            Counters::inc(&c.bad_peer_connections);
            let (_, log) = shared.gate.strike_addr(addr.ip());
            if let Some(n) = log {
                log::warn!(
                    "peer connection from {addr}: no handshake within handshake_timeout_ms = {}; \
                     closing{}",
                    shared.opts.runtime.handshake_timeout_ms,
                    suppressed(n)
                );
            }
            return;
        }
    };
    shared.gate.clear_addr(addr.ip());
    let node = theirs.node_id;
    let _inbound = shared.register_inbound(node, stream);
    if events
        .send(Event::Inbound { node, delta: 1 })
        .await
        .is_err()
    {
        return;
    }
    if let Some(mac) = mac {
        decoder.set_mac(mac);
    }
    decoder.set_frame_size_max_bytes(shared.opts.runtime.frame_size_max_bytes);
    let why = receive(&mut link, &theirs, &mut decoder, &mut buf, shared, events).await;
    match why {
        Received::Closed(why) => {
            log::info!("peer connection from node {node} at {addr} closed: {why}")
        }
        Received::Bad(why) => {
            Counters::inc(&c.bad_peer_connections);
            shared.gate.strike_node(node);
            log::warn!("peer connection from node {node} at {addr}: {why}; closing");
        }
    }
    let _ = stream.shutdown(Shutdown::Both);
    let _ = events.send(Event::Inbound { node, delta: -1 }).await;
}

enum Received {
    Closed(String),
    Bad(String),
}

/// Reads frames until the connection ends or breaks the protocol.
async fn receive<S: AsyncRead + Unpin>(
    stream: &mut S,
    theirs: &Hello,
    decoder: &mut FrameDecoder,
    buf: &mut [u8],
    shared: &Shared,
    events: &Sender<Event>,
) -> Received {
    let c = &shared.counters;
    let me = shared.opts.node_id;
    // The peer's counters, once we dial it (a joining node connects first).
    let mut link = shared.link(theirs.node_id);
    loop {
        if link.is_none() {
            link = shared.link(theirs.node_id);
        }
        loop {
            let big = decoder
                .ready_frame_bytes()
                .is_some_and(|n| n >= OFFLOAD_MIN_BYTES);
            let next = if big {
                // Checking the tag of and decoding megabytes: off the
                // executor thread, which runs the event loop.
                let mut d = std::mem::replace(decoder, FrameDecoder::new(0));
                let (d, next) = task::spawn_blocking(move || {
                    let next = d.next_frame();
                    (d, next)
                })
                .await;
                *decoder = d;
                next
            } else {
                decoder.next_frame()
            };
            let frame = match next {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(e) => return Received::Bad(bad_frame(e)),
            };
            let envelopes = match frame {
                Frame::Batch(envs) => envs,
                Frame::Hello(_) | Frame::Proof(_) => {
                    return Received::Bad("a second handshake".into())
                }
            };
            let max = shared.opts.runtime.frame_messages_max;
            if envelopes.len() > max {
                return Received::Bad(format!(
                    "{} messages in one frame exceed frame_messages_max = {max}",
                    envelopes.len()
                ));
            }
            if let Some(env) = envelopes.iter().find(|e| {
                e.from != theirs.node_id || e.from_incarnation != theirs.incarnation || e.to != me
            }) {
                return Received::Bad(format!(
                    "envelope from node {} incarnation {} to node {} on a connection from node \
                     {} incarnation {} to node {me}",
                    env.from, env.from_incarnation, env.to, theirs.node_id, theirs.incarnation
                ));
            }
            Counters::inc(&c.frames_received);
            if let Some(l) = &link {
                Counters::add(&l.counters.messages_received, envelopes.len() as u64);
            }
            if events.send(Event::PeerBatch { envelopes }).await.is_err() {
                return Received::Closed("node stopping".into());
            }
        }
        match stream.read(buf).await {
            Ok(0) => return Received::Closed("the peer closed it".into()),
            Ok(n) => {
                Counters::add(&c.bytes_received, n as u64);
                if let Some(l) = &link {
                    Counters::add(&l.counters.bytes_received, n as u64);
                }
                decoder.feed(&buf[..n]);
            }
            Err(e) => return Received::Closed(format!("read error: {e}")),
        }
    }
}

fn bad_frame(e: CodecError) -> String {
    e.to_string()
}

/// A refused peer connection counts against its address (the gate may then
/// refuse the address for a while); the warning says why, rate-limited.
fn strike(shared: &Shared, addr: SocketAddr, why: &dyn fmt::Display) {
    let (d, log) = shared.gate.strike_addr(addr.ip());
    if let Some(n) = log {
        let backoff = if d.is_zero() {
            String::new()
        } else {
            format!("; refusing {} for {} ms", addr.ip(), d.as_millis())
        };
        log::warn!(
            "peer connection from {addr}: {why}; closing{backoff}{}",
            suppressed(n)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_closed_queue_refuses_frames() {
        let q = SendQueue::new();
        assert_eq!(q.push(vec![1], 1, false, 4, 100), Push::Closed);
        q.open(1);
        assert_eq!(q.push(vec![1], 1, false, 4, 100), Push::Queued);
        q.close();
        assert_eq!(q.len(), 0);
    }

    #[test]
    fn overflow_drops_confirms_first_then_the_newest() {
        let q = SendQueue::new();
        q.open(1);
        assert_eq!(q.push(vec![0; 10], 2, true, 2, 100), Push::Queued);
        assert_eq!(q.push(vec![0; 10], 3, false, 2, 100), Push::Queued);
        // Full: the Confirm-only frame goes.
        assert_eq!(
            q.push(vec![0; 10], 1, false, 2, 100),
            Push::DroppedOlderConfirms { messages: 2 }
        );
        // Full of non-Confirms: the newest goes.
        assert_eq!(q.push(vec![0; 10], 1, false, 2, 100), Push::DroppedNewest);
        // A Confirm-only frame never pushes out another.
        assert_eq!(q.push(vec![0; 10], 1, true, 2, 100), Push::DroppedNewest);
        assert_eq!(q.len(), 2);
    }

    #[test]
    fn the_byte_bound_counts_too() {
        let q = SendQueue::new();
        q.open(1);
        assert_eq!(q.push(vec![0; 60], 1, false, 10, 100), Push::Queued);
        assert_eq!(q.push(vec![0; 60], 1, false, 10, 100), Push::DroppedNewest);
    }

    #[test]
    fn only_the_open_generation_drains_and_opening_clears() {
        let q = SendQueue::new();
        q.open(1);
        q.push(vec![1, 2], 1, false, 10, 100);
        q.push(vec![3], 2, false, 10, 100);
        assert!(q.take(2).is_none());
        let taken = q.take(1).expect("generation 1 drains");
        assert_eq!(taken.messages, 3);
        let mut out = Vec::new();
        let done = assemble(taken.frames, &mut out, None, 1 << 20, 2);
        assert_eq!(done.frames, 2);
        assert_eq!(out, vec![1, 2, 3]);
        q.push(vec![4], 1, false, 10, 100);
        q.open(2);
        assert_eq!(q.len(), 0);
    }
}
