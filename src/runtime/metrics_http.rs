//! The metrics endpoint (`--metrics-addr`): a minimal HTTP/1.1 server with
//! `GET /metrics` (Prometheus text format, from the event loop) and
//! `GET /health` (200 while this node votes, 503 while it catches up).
//! One request per connection; requests are bounded in size and time, and
//! at most `METRICS_CONNECTIONS_MAX` are served at once.

use super::event_loop::Event;
use super::Shared;
use async_std::channel::{self, Sender};
use async_std::future::timeout;
use async_std::io::{ReadExt, WriteExt};
use async_std::net::{TcpListener, TcpStream};
use async_std::task;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

const METRICS_CONNECTIONS_MAX: usize = 16;
const REQUEST_MAX_BYTES: usize = 8 * 1024;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Serves scrapes until the node stops.
pub(crate) async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, events: Sender<Event>) {
    let open = Arc::new(AtomicUsize::new(0));
    loop {
        let Ok((stream, addr)) = listener.accept().await else {
            task::sleep(Duration::from_millis(10)).await;
            continue;
        };
        if open.load(Ordering::Relaxed) >= METRICS_CONNECTIONS_MAX {
            log::debug!("metrics: {addr} refused, {METRICS_CONNECTIONS_MAX} scrapes open");
            continue;
        }
        open.fetch_add(1, Ordering::Relaxed);
        let (shared, events, open) = (shared.clone(), events.clone(), open.clone());
        task::spawn(async move {
            let _guard = shared.register(&stream);
            if timeout(REQUEST_TIMEOUT, serve(&stream, &events))
                .await
                .is_err()
            {
                log::debug!("metrics: {addr} timed out");
            }
            let _ = stream.shutdown(std::net::Shutdown::Both);
            open.fetch_sub(1, Ordering::Relaxed);
        });
    }
}

async fn serve(stream: &TcpStream, events: &Sender<Event>) {
    let mut req = Vec::new();
    let mut buf = [0u8; 1024];
    while !req.windows(4).any(|w| w == b"\r\n\r\n") {
        match (&*stream).read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => req.extend_from_slice(&buf[..n]),
        }
        if req.len() > REQUEST_MAX_BYTES {
            return respond(
                stream,
                "431 Request Header Fields Too Large",
                "text/plain",
                "",
            )
            .await;
        }
    }
    let line = String::from_utf8_lossy(&req);
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if method != "GET" {
        return respond(stream, "405 Method Not Allowed", "text/plain", "GET only\n").await;
    }
    match path.split('?').next().unwrap_or("") {
        "/metrics" => {
            let (tx, rx) = channel::bounded(1);
            if events.send(Event::Scrape { tx }).await.is_err() {
                return respond(
                    stream,
                    "503 Service Unavailable",
                    "text/plain",
                    "stopping\n",
                )
                .await;
            }
            let Ok(text) = rx.recv().await else { return };
            respond(
                stream,
                "200 OK",
                "text/plain; version=0.0.4; charset=utf-8",
                &text,
            )
            .await;
        }
        "/health" => {
            let (tx, rx) = channel::bounded(1);
            if events.send(Event::Health { tx }).await.is_err() {
                return respond(
                    stream,
                    "503 Service Unavailable",
                    "text/plain",
                    "stopping\n",
                )
                .await;
            }
            let Ok((ok, text)) = rx.recv().await else {
                return;
            };
            let status = if ok {
                "200 OK"
            } else {
                "503 Service Unavailable"
            };
            respond(stream, status, "text/plain", &text).await;
        }
        _ => {
            respond(
                stream,
                "404 Not Found",
                "text/plain",
                "try /metrics or /health\n",
            )
            .await
        }
    }
}

async fn respond(stream: &TcpStream, status: &str, content_type: &str, body: &str) {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = (&*stream).write_all(head.as_bytes()).await;
    let _ = (&*stream).write_all(body.as_bytes()).await;
}
