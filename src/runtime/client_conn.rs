//! Client connections: RESP in, replies out in command order (RESP2, or RESP3
//! from the command after `HELLO 3` on).
//!
//! Each connection has a reader task and a writer task. The reader parses
//! commands, numbers them, and sends each to where it is answered: at once
//! (PING, errors), or through the event loop (GET, SET, INFO ...). Rounds for
//! different keys finish out of order, so the writer holds early replies until
//! every earlier one is written, then writes all that are ready in one write.
//!
//! Replies are never dropped (a pipelining client would be desynchronised);
//! instead the reader stops reading once `client_pipeline_max` commands are
//! outstanding. That bound is a semaphore: the reader puts a token in a
//! bounded channel per command, the writer takes one out per reply written.

use super::event_loop::{Event, NOT_RUN};
use super::{wall_ms, Counters, Shared};
use crate::commands::{command_name, plan, Plan, Rights, Session, SlowlogRequest};
use crate::metrics::{slowlog_args, Metrics, SlowEntry};
use crate::resp::{Protocol, Reply, RequestParser};
use async_std::channel::{self, Receiver, Sender};
use async_std::io::{Read as AsyncRead, ReadExt, Write as AsyncWrite, WriteExt};
use async_std::net::{TcpListener, TcpStream};
use async_std::task;
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::collections::VecDeque;
use std::net::{Shutdown, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use std::time::Instant;

/// CLIENT ID of the next connection (unique per process, from 1).
static NEXT_CLIENT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// Bytes a reply takes on the wire, about (for the output buffer bound).
fn reply_bytes(r: &Reply) -> usize {
    match r {
        Reply::Bulk(b) => b.len() + 16,
        Reply::Simple(s) | Reply::Error(s) => s.len() + 3,
        Reply::Array(items) | Reply::Set(items) => {
            16 + items.iter().map(reply_bytes).sum::<usize>()
        }
        Reply::Map(pairs) | Reply::Pairs(pairs) => {
            16 + pairs
                .iter()
                .map(|(k, v)| reply_bytes(k) + reply_bytes(v))
                .sum::<usize>()
        }
        _ => 24,
    }
}

/// Where a connection's replies go: the writer's channel, with the bytes
/// owed to the client counted. Past `client-output-buffer-limit` (a client
/// that pipelines and does not read) the connection is closed, as Redis does
/// past its hard limit: holding the replies would grow the node without bound.
#[derive(Clone)]
pub(crate) struct ReplyTx {
    tx: Sender<ClientOut>,
    owed: Arc<AtomicUsize>,
    limit: usize,
    stream: TcpStream,
    shared: Arc<Shared>,
}

impl ReplyTx {
    /// Hands the reply to command `seq` to the writer; false if the
    /// connection is gone (or was just closed for owing too much).
    pub fn send(&self, seq: u64, r: Reply) -> bool {
        let n = reply_bytes(&r);
        let owed = self.owed.load(Ordering::Relaxed) + n;
        if self.limit > 0 && owed > self.limit {
            if !self.tx.is_closed() {
                Counters::inc(&self.shared.counters.client_output_buffer_disconnections);
                log::warn!(
                    "client {}: {owed} bytes of replies unread, past \
                     client-output-buffer-limit = {}; closing the connection",
                    self.stream
                        .peer_addr()
                        .map(|a| a.to_string())
                        .unwrap_or_default(),
                    self.limit
                );
            }
            self.tx.close();
            let _ = self.stream.shutdown(Shutdown::Both);
            return false;
        }
        // Counted before it is sent, so the writer never subtracts first;
        // taken back if the writer is gone (it counts what it never wrote).
        self.owe(n as isize);
        if self.tx.try_send(ClientOut::Reply(seq, r)).is_ok() {
            return true;
        }
        self.owe(-(n as isize));
        false
    }

    fn owe(&self, n: isize) {
        owe(&self.owed, &self.shared, n);
    }

    fn close_after(&self, total: u64) {
        let _ = self.tx.try_send(ClientOut::Close { total });
    }

    /// Replies from command `seq` on go out in `protocol` (HELLO changed it).
    fn switch_protocol(&self, seq: u64, protocol: Protocol) {
        let _ = self.tx.try_send(ClientOut::Protocol { seq, protocol });
    }
}

/// Adds `n` (or takes `-n`) bytes to a connection's debt and the node's gauge.
fn owe(owed: &AtomicUsize, shared: &Shared, n: isize) {
    let gauge = &shared.counters.client_output_buffers_bytes;
    if n >= 0 {
        owed.fetch_add(n as usize, Ordering::Relaxed);
        gauge.fetch_add(n as u64, Ordering::Relaxed);
    } else {
        owed.fetch_sub(n.unsigned_abs(), Ordering::Relaxed);
        gauge.fetch_sub(n.unsigned_abs() as u64, Ordering::Relaxed);
    }
}

/// What a client's writer task receives.
#[derive(Debug)]
pub(crate) enum ClientOut {
    /// The reply to command number `seq` (0, 1, 2, ... per connection).
    Reply(u64, Reply),
    /// Close the connection once `total` replies have been written.
    Close { total: u64 },
    /// Encode the reply to command `seq` and all after it in `protocol`
    /// (HELLO switched it; sent before that command's reply).
    Protocol { seq: u64, protocol: Protocol },
}

/// Redis's protected-mode refusal, with synod's flags for its remedies.
const PROTECTED_MODE_DENIED: &str = "-DENIED synod is running in protected mode because \
protected mode is enabled and no password is set for the default user. In this mode \
connections are only accepted from the loopback interface. If you want to connect from \
external computers to synod you may adopt one of the following solutions: 1) Set a password \
for the default user (--requirepass-file) or users (--users-file) and restart the node. \
2) Restart the node with '--protected-mode no', after making sure it is not reachable from \
the internet. NOTE: You only need to do one of the above things in order for the server to \
start accepting connections from the outside.\r\n";

/// What the writer needs to account for one command once its reply is written.
struct Tracked {
    /// The command's name (None: unknown, or not a command).
    name: Option<&'static str>,
    started: Instant,
    /// Unix time (s) it started.
    at_s: u64,
    /// The arguments and the client's name, for the SLOWLOG (None: it is off).
    slow: Option<(Vec<Vec<u8>>, String)>,
}

/// Commands read and not yet answered, in order: the reader pushes, the
/// writer pops as it writes each reply (both go in command order).
type Track = Arc<Mutex<VecDeque<Tracked>>>;

/// Accepts client connections.
pub(crate) async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, events: Sender<Event>) {
    let max = shared.opts.runtime.client_connections_max as u64;
    loop {
        let (stream, addr) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                log::warn!("client port: accept failed: {e}");
                task::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let c = &shared.counters;
        if c.clients_connected.load(Ordering::Relaxed) >= max {
            Counters::inc(&c.client_connections_refused);
            log::warn!("client {addr}: refused, client_connections_max = {max} reached");
            task::spawn(async move {
                let _ = (&stream)
                    .write_all(b"-ERR max number of clients reached\r\n")
                    .await;
            });
            continue;
        }
        if shared.opts.protected_mode
            && !addr.ip().is_loopback()
            && !shared.opts.acl.requires_auth()
        {
            Counters::inc(&c.client_connections_refused_protected);
            log::info!("client {addr}: refused: protected mode (no password set, not loopback)");
            task::spawn(async move {
                let _ = (&stream).write_all(PROTECTED_MODE_DENIED.as_bytes()).await;
            });
            continue;
        }
        Counters::inc(&c.client_connections_accepted);
        c.clients_connected.fetch_add(1, Ordering::Relaxed);
        let (shared, events) = (shared.clone(), events.clone());
        task::spawn(async move {
            serve(stream, addr, &shared, events).await;
            shared
                .counters
                .clients_connected
                .fetch_sub(1, Ordering::Relaxed);
        });
    }
}

async fn serve(stream: TcpStream, addr: SocketAddr, shared: &Arc<Shared>, events: Sender<Event>) {
    let _guard = shared.register_client(&stream);
    let _ = stream.set_nodelay(true);
    let Some(acceptor) = &shared.tls.clients else {
        // Plain TCP: the reader and the writer each hold the socket.
        serve_on(stream.clone(), stream.clone(), stream, addr, shared, events).await;
        return;
    };
    let limit = Duration::from_millis(shared.opts.runtime.client_request_deadline_ms);
    match super::tls::accept_client(acceptor, &stream, limit).await {
        // One TLS session: its two halves share it under a lock.
        Ok(tls) => {
            let (r, w) = futures_lite::io::split(tls);
            serve_on(r, w, stream, addr, shared, events).await;
        }
        Err(why) => {
            Counters::inc(&shared.counters.bad_client_connections);
            log::info!("client {addr}: {why}; closing the connection");
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

/// Serves one connection, read from `r` and answered on `w` (the socket
/// itself on plain TCP, the two halves of its TLS session otherwise);
/// `stream` is the socket, for its address and to close it.
async fn serve_on<R, W>(
    mut r: R,
    w: W,
    stream: TcpStream,
    addr: SocketAddr,
    shared: &Arc<Shared>,
    events: Sender<Event>,
) where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let rt = &shared.opts.runtime;
    let (credits_tx, credits_rx) = channel::bounded::<()>(rt.client_pipeline_max);
    let (out_tx, out_rx) = channel::unbounded();
    let owed = Arc::new(AtomicUsize::new(0));
    let out = ReplyTx {
        tx: out_tx,
        owed: owed.clone(),
        limit: rt.client_output_buffer_limit_bytes,
        stream: stream.clone(),
        shared: shared.clone(),
    };
    let track: Track = Arc::default();
    let writer = task::spawn(write_replies(
        w,
        stream,
        out_rx,
        credits_rx,
        owed.clone(),
        shared.clone(),
        track.clone(),
        addr,
    ));
    read_commands(&mut r, addr, shared, &events, out, credits_tx, &track).await;
    writer.await;
    log::debug!("client {addr}: connection closed");
}

/// Parses commands and dispatches them, numbered, until EOF, QUIT or an error.
async fn read_commands<R: AsyncRead + Unpin>(
    reader: &mut R,
    addr: SocketAddr,
    shared: &Shared,
    events: &Sender<Event>,
    out: ReplyTx,
    credits: Sender<()>,
    track: &Track,
) {
    let rt = &shared.opts.runtime;
    let c = &shared.counters;
    let mut parser = RequestParser::new(rt.resp.clone());
    let mut buf = vec![0u8; rt.client_read_chunk_bytes];
    let mut seq = 0u64;
    let mut session = Session {
        id: NEXT_CLIENT_ID.fetch_add(1, Ordering::Relaxed),
        addr: addr.to_string(),
        auth: shared.users.get().initial_auth(),
        acl: shared.users.clone(),
        scripts: shared.scripts.clone(),
        ..Session::default()
    };
    loop {
        // A half-sent command must complete within the request deadline; an
        // idle client may stay `timeout` seconds (0: for ever), as in Redis.
        let (limit, what) = if parser.buffered_bytes() > 0 {
            (rt.client_request_deadline_ms, "a half-sent command")
        } else {
            (rt.client_idle_timeout_ms, "an idle connection")
        };
        let read = reader.read(&mut buf);
        let n = if limit == 0 {
            read.await
        } else {
            match async_std::future::timeout(Duration::from_millis(limit), read).await {
                Ok(r) => r,
                Err(_) => {
                    Counters::inc(&c.client_timeouts);
                    log::info!("client {addr}: {what} for {limit} ms; closing the connection");
                    break;
                }
            }
        };
        let n = match n {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        parser.feed(&buf[..n]);
        loop {
            let args = match parser.next_command() {
                Ok(Some(args)) => args,
                Ok(None) => break,
                Err(e) => {
                    Counters::inc(&c.bad_client_connections);
                    track.lock().push_back(Tracked {
                        name: None,
                        started: Instant::now(),
                        at_s: wall_ms() / 1_000,
                        slow: None,
                    });
                    log::info!("client {addr}: {e}; closing the connection");
                    out.send(seq, Reply::error(format!("ERR {e}")));
                    out.close_after(seq + 1);
                    return;
                }
            };
            // Waits (and so stops reading) while client_pipeline_max are outstanding.
            if credits.send(()).await.is_err() {
                return; // The writer is gone: the client went away.
            }
            Counters::inc(&c.client_commands);
            let this = seq;
            seq += 1;
            let now_ms = wall_ms();
            let slow_on = shared.slowlog_slower_than_us.load(Ordering::Relaxed) >= 0;
            track.lock().push_back(Tracked {
                name: args.first().and_then(|a| command_name(a)),
                started: Instant::now(),
                at_s: now_ms / 1_000,
                // Only what SLOWLOG shows (128 bytes of an argument): a copy of
                // a 16 MiB value per command cost ms on the executor thread.
                slow: slow_on.then(|| {
                    let name = session.name.clone().unwrap_or_default();
                    (slowlog_args(&args), name)
                }),
            });
            if shared.draining() {
                // Read before the node stopped reading: answered, not run.
                if !out.send(this, Reply::error(NOT_RUN)) {
                    return;
                }
                continue;
            }
            let protocol = session.protocol;
            let planned = plan(args, now_ms, &mut session);
            if session.protocol != protocol {
                out.switch_protocol(this, session.protocol);
            }
            let sent = match planned {
                Plan::Reply(r) => out.send(this, r),
                Plan::Slowlog(req) => {
                    let r = {
                        let mut m = shared.metrics.lock();
                        match req {
                            SlowlogRequest::Get(n) => m.slowlog_get(n),
                            SlowlogRequest::Len => Reply::Integer(m.slowlog_len() as i64),
                            SlowlogRequest::Reset => {
                                m.slowlog_reset();
                                Reply::ok()
                            }
                        }
                    };
                    out.send(this, r)
                }
                Plan::Shutdown => {
                    log::info!("client {addr} asked for SHUTDOWN");
                    let _ = shared
                        .shutdown_tx
                        .try_send(format!("SHUTDOWN from client {addr}"));
                    out.send(this, Reply::ok())
                }
                Plan::Quit => {
                    out.send(this, Reply::ok());
                    out.close_after(seq);
                    return;
                }
                Plan::DeclareLost => events
                    .send(Event::DeclareLost {
                        tx: out.clone(),
                        seq: this,
                    })
                    .await
                    .is_ok(),
                Plan::ChangeMembership { add, remove } => {
                    log::info!(
                        "client {addr} asks for a membership change: add {add:?}, remove {remove:?}"
                    );
                    events
                        .send(Event::ChangeMembership {
                            tx: out.clone(),
                            seq: this,
                            add,
                            remove,
                        })
                        .await
                        .is_ok()
                }
                Plan::Config(req) => events
                    .send(Event::Config {
                        tx: out.clone(),
                        seq: this,
                        req,
                    })
                    .await
                    .is_ok(),
                Plan::Info { sections } => events
                    .send(Event::Info {
                        tx: out.clone(),
                        seq: this,
                        sections,
                        redact: session.auth.rights < Rights::Admin,
                    })
                    .await
                    .is_ok(),
                Plan::Core(call) => events
                    .send(Event::Client {
                        tx: out.clone(),
                        seq: this,
                        call,
                    })
                    .await
                    .is_ok(),
            };
            if !sent {
                return;
            }
        }
    }
    // EOF: write what is still owed, then close.
    out.close_after(seq);
}

/// Writes replies in command order, as many per write as are ready, to `w`
/// (`stream` is the socket, closed at the end).
#[allow(clippy::too_many_arguments)]
async fn write_replies<W: AsyncWrite + Unpin>(
    mut w: W,
    stream: TcpStream,
    replies: Receiver<ClientOut>,
    credits: Receiver<()>,
    owed: Arc<AtomicUsize>,
    shared: Arc<Shared>,
    track: Track,
    addr: SocketAddr,
) {
    let mut done: Vec<(Tracked, Reply)> = Vec::new();
    let mut next = 0u64;
    let mut early: BTreeMap<u64, Reply> = BTreeMap::new();
    let mut close_at = None;
    let mut protocol = Protocol::Resp2;
    let mut switches: BTreeMap<u64, Protocol> = BTreeMap::new();
    let mut buf = Vec::new();
    let mut unwritten = 0;
    'conn: while let Ok(first) = replies.recv().await {
        let mut msg = Some(first);
        while let Some(m) = msg.take() {
            match m {
                ClientOut::Reply(seq, r) => {
                    early.insert(seq, r);
                }
                ClientOut::Close { total } => close_at = Some(total),
                ClientOut::Protocol { seq, protocol } => {
                    switches.insert(seq, protocol);
                }
            }
            msg = replies.try_recv().ok();
        }
        let mut written = 0;
        while let Some(r) = early.remove(&next) {
            written += reply_bytes(&r);
            if let Some(p) = switches.remove(&next) {
                protocol = p;
            }
            r.encode(&mut buf, protocol);
            next += 1;
            let _ = credits.try_recv();
            if let Some(t) = track.lock().pop_front() {
                done.push((t, r));
            }
        }
        if !done.is_empty() {
            account(&shared, addr, &mut done);
        }
        if !buf.is_empty() {
            // flush: a TLS session may keep records back; a no-op on TCP.
            if w.write_all(&buf).await.is_err() || w.flush().await.is_err() {
                unwritten = written;
                break 'conn;
            }
            owe(&owed, &shared, -(written as isize));
            buf.clear();
            if buf.capacity() > 1024 * 1024 {
                buf = Vec::new();
            }
        }
        if close_at.is_some_and(|total| next >= total) {
            break;
        }
    }
    let _ = stream.shutdown(Shutdown::Both);
    // What was never written no longer counts; later sends fail and take
    // back their own bytes.
    replies.close();
    while let Ok(m) = replies.try_recv() {
        if let ClientOut::Reply(_, r) = m {
            unwritten += reply_bytes(&r);
        }
    }
    unwritten += early.values().map(reply_bytes).sum::<usize>();
    owe(&owed, &shared, -(unwritten as isize));
}

/// Records answered commands in the node's metrics (one lock per batch).
fn account(shared: &Shared, addr: SocketAddr, done: &mut Vec<(Tracked, Reply)>) {
    let slower_than = shared.slowlog_slower_than_us.load(Ordering::Relaxed);
    let max_len = shared.slowlog_max_len.load(Ordering::Relaxed) as usize;
    let mut m = shared.metrics.lock();
    for (t, reply) in done.drain(..) {
        let us = t.started.elapsed().as_micros() as u64;
        m.record(t.name, &reply, us);
        if let Some((args, client_name)) = t.slow {
            if Metrics::is_slow(slower_than, us) {
                m.maybe_slow(
                    slower_than,
                    max_len,
                    |id| SlowEntry {
                        id,
                        at_s: t.at_s,
                        duration_us: us,
                        args,
                        client_addr: addr.to_string(),
                        client_name,
                    },
                    us,
                );
            }
        }
    }
}
