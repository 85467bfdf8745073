//! Client connections: RESP2 in, replies out in command order.
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

use super::event_loop::Event;
use super::{wall_ms, Counters, Shared};
use crate::commands::{plan, Plan, Session};
use crate::resp::{Reply, RequestParser};
use async_std::channel::{self, Receiver, Sender};
use async_std::io::{ReadExt, WriteExt};
use async_std::net::{TcpListener, TcpStream};
use async_std::task;
use std::collections::BTreeMap;
use std::net::{Shutdown, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// CLIENT ID of the next connection (unique per process, from 1).
static NEXT_CLIENT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// What a client's writer task receives.
#[derive(Debug)]
pub(crate) enum ClientOut {
    /// The reply to command number `seq` (0, 1, 2, ... per connection).
    Reply(u64, Reply),
    /// Close the connection once `total` replies have been written.
    Close { total: u64 },
}

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
    let _guard = shared.register(&stream);
    let _ = stream.set_nodelay(true);
    let rt = &shared.opts.runtime;
    let (credits_tx, credits_rx) = channel::bounded::<()>(rt.client_pipeline_max);
    let (out_tx, out_rx) = channel::unbounded();
    let writer = task::spawn(write_replies(stream.clone(), out_rx, credits_rx));
    read_commands(&stream, addr, shared, &events, out_tx, credits_tx).await;
    writer.await;
    log::debug!("client {addr}: connection closed");
}

/// Parses commands and dispatches them, numbered, until EOF, QUIT or an error.
async fn read_commands(
    stream: &TcpStream,
    addr: SocketAddr,
    shared: &Shared,
    events: &Sender<Event>,
    out: Sender<ClientOut>,
    credits: Sender<()>,
) {
    let rt = &shared.opts.runtime;
    let c = &shared.counters;
    let mut parser = RequestParser::new(rt.resp.clone());
    let mut buf = vec![0u8; rt.client_read_chunk_bytes];
    let mut seq = 0u64;
    let mut session = Session {
        id: NEXT_CLIENT_ID.fetch_add(1, Ordering::Relaxed),
        addr: addr.to_string(),
        ..Session::default()
    };
    loop {
        let n = match (&*stream).read(&mut buf).await {
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
                    log::info!("client {addr}: {e}; closing the connection");
                    let _ = out.try_send(ClientOut::Reply(seq, Reply::error(format!("ERR {e}"))));
                    let _ = out.try_send(ClientOut::Close { total: seq + 1 });
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
            let sent = match plan(args, wall_ms(), &mut session) {
                Plan::Reply(r) => out.try_send(ClientOut::Reply(this, r)).is_ok(),
                Plan::Quit => {
                    let _ = out.try_send(ClientOut::Reply(this, Reply::ok()));
                    let _ = out.try_send(ClientOut::Close { total: seq });
                    return;
                }
                Plan::DeclareLost => events
                    .send(Event::DeclareLost {
                        tx: out.clone(),
                        seq: this,
                    })
                    .await
                    .is_ok(),
                Plan::Config(req) => events
                    .send(Event::Config {
                        tx: out.clone(),
                        seq: this,
                        req,
                    })
                    .await
                    .is_ok(),
                Plan::Info { section } => events
                    .send(Event::Info {
                        tx: out.clone(),
                        seq: this,
                        section,
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
    let _ = out.try_send(ClientOut::Close { total: seq });
}

/// Writes replies in command order, as many per write as are ready.
async fn write_replies(stream: TcpStream, replies: Receiver<ClientOut>, credits: Receiver<()>) {
    let mut next = 0u64;
    let mut early: BTreeMap<u64, Reply> = BTreeMap::new();
    let mut close_at = None;
    let mut buf = Vec::new();
    'conn: while let Ok(first) = replies.recv().await {
        let mut msg = Some(first);
        while let Some(m) = msg.take() {
            match m {
                ClientOut::Reply(seq, r) => {
                    early.insert(seq, r);
                }
                ClientOut::Close { total } => close_at = Some(total),
            }
            msg = replies.try_recv().ok();
        }
        while let Some(r) = early.remove(&next) {
            r.encode(&mut buf);
            next += 1;
            let _ = credits.try_recv();
        }
        if !buf.is_empty() {
            if (&stream).write_all(&buf).await.is_err() {
                break 'conn;
            }
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
}
