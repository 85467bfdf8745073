//! A small synchronous Rust client: RESP2 over one `std::net::TcpStream`.
//!
//! For the CLI, tests and benchmarks. Every call sends one command and waits
//! for its reply, within the read and write timeouts. A server error reply
//! (`-FAILED ...`, `-UNKNOWN ...`, `-ERR ...`) is [`ClientError::Server`] with
//! the text as sent, so callers can tell "certainly not applied" (FAILED) from
//! "maybe applied" (UNKNOWN).
//!
//! [`Cluster`] holds one [`Client`] per node and sends each key's commands to
//! the key's home node ([`Routes`]), the way Redis Cluster clients route by
//! slot: every write to a key then has one coordinator, which keeps the phase
//! 1 its last Accept collected (core/fastpath.rs) and writes in one round trip.

use crate::core::{NodeId, Placement};
use crate::resp::{encode_command, parse_reply, Reply, RespError, RespLimits};
use futures_rustls::pki_types::pem::PemObject;
use futures_rustls::pki_types::{CertificateDer, ServerName};
use futures_rustls::rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use std::fmt;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Connect, read and write timeout used by [`Client::connect`]: longer than the
/// server's 2 s retry budget, so an `UNKNOWN` or `FAILED` answer arrives first.
pub const DEFAULT_TIMEOUT_MS: u64 = 5_000;

/// Bytes read per read call.
const READ_CHUNK_BYTES: usize = 16 * 1024;

/// Why a call did not return a value.
#[derive(Debug)]
pub enum ClientError {
    /// Could not connect, read or write (includes timeouts).
    Io(std::io::Error),
    /// The server closed the connection before replying.
    Closed,
    /// The server's bytes are not valid RESP.
    Protocol(RespError),
    /// The server answered with an error reply, e.g. "FAILED no quorum".
    Server(String),
    /// The reply has a shape this call does not expect.
    UnexpectedReply(Reply),
    /// The addresses given do not describe one cluster (routing refused).
    Cluster(String),
}

impl ClientError {
    /// True for `-UNKNOWN ...`: the write may or may not have been applied.
    pub fn is_unknown(&self) -> bool {
        matches!(self, ClientError::Server(s) if s.starts_with("UNKNOWN"))
    }

    /// True for `-FAILED ...`: the operation was certainly not applied.
    pub fn is_failed(&self) -> bool {
        matches!(self, ClientError::Server(s) if s.starts_with("FAILED"))
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Io(e) if is_timeout(e) => write!(f, "timed out: {e}"),
            ClientError::Io(e) => write!(f, "{e}"),
            ClientError::Closed => write!(f, "the server closed the connection"),
            ClientError::Protocol(e) => write!(f, "bad reply from the server: {e}"),
            ClientError::Server(s) => write!(f, "{s}"),
            ClientError::UnexpectedReply(r) => write!(f, "unexpected reply {r:?}"),
            ClientError::Cluster(s) => write!(f, "{s}"),
        }
    }
}

impl std::error::Error for ClientError {}

impl From<std::io::Error> for ClientError {
    fn from(e: std::io::Error) -> Self {
        ClientError::Io(e)
    }
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    )
}

/// The socket, or a TLS session over it.
enum Stream {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

/// A connection to one synod node (or any Redis-protocol server).
pub struct Client {
    stream: Stream,
    limits: RespLimits,
    buf: Vec<u8>,
    out: Vec<u8>,
}

impl Client {
    /// Connects with [`DEFAULT_TIMEOUT_MS`] for connect, reads and writes.
    pub fn connect(addr: impl ToSocketAddrs) -> Result<Client, ClientError> {
        Client::connect_timeout(addr, Duration::from_millis(DEFAULT_TIMEOUT_MS))
    }

    /// Connects with `timeout` for connect, reads and writes.
    pub fn connect_timeout(
        addr: impl ToSocketAddrs,
        timeout: Duration,
    ) -> Result<Client, ClientError> {
        let addrs: Vec<SocketAddr> = addr.to_socket_addrs()?.collect();
        let mut last = None;
        for a in addrs {
            match TcpStream::connect_timeout(&a, timeout) {
                Ok(stream) => {
                    stream.set_read_timeout(Some(timeout))?;
                    stream.set_write_timeout(Some(timeout))?;
                    stream.set_nodelay(true)?;
                    return Ok(Client {
                        stream: Stream::Plain(stream),
                        limits: RespLimits::default(),
                        buf: Vec::new(),
                        out: Vec::new(),
                    });
                }
                Err(e) => last = Some(e),
            }
        }
        Err(ClientError::Io(last.unwrap_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "no address to connect to")
        })))
    }

    /// Connects over TLS (a node with `tls-clients yes`), trusting the CA
    /// certificate(s) in the PEM file `ca_file`; the node's certificate must
    /// name the host of `addr` (`HOST:PORT`).
    pub fn connect_tls(
        addr: &str,
        timeout: Duration,
        ca_file: &str,
    ) -> Result<Client, ClientError> {
        let tls_err = |e: String| ClientError::Io(std::io::Error::other(e));
        let mut roots = RootCertStore::empty();
        let certs = CertificateDer::pem_file_iter(ca_file)
            .and_then(|i| i.collect::<Result<Vec<_>, _>>())
            .map_err(|e| tls_err(format!("{ca_file}: {e}")))?;
        for c in certs {
            roots
                .add(c)
                .map_err(|e| tls_err(format!("{ca_file}: {e}")))?;
        }
        let cfg = ClientConfig::builder_with_provider(Arc::new(
            futures_rustls::rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_err(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
        let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let name = ServerName::try_from(host.to_string()).map_err(|e| tls_err(e.to_string()))?;
        let conn =
            ClientConnection::new(Arc::new(cfg), name).map_err(|e| tls_err(e.to_string()))?;
        let mut c = Client::connect_timeout(addr, timeout)?;
        let Stream::Plain(tcp) = c.stream else {
            unreachable!("connect_timeout makes a plain stream")
        };
        c.stream = Stream::Tls(Box::new(StreamOwned::new(conn, tcp)));
        Ok(c)
    }

    /// Sends any command; returns its reply, or `Server` for an error reply.
    pub fn command(&mut self, args: &[&[u8]]) -> Result<Reply, ClientError> {
        self.send(args)?;
        match self.receive()? {
            Reply::Error(e) => Err(ClientError::Server(e)),
            r => Ok(r),
        }
    }

    /// True if the server has closed this connection (it exited, or shut the
    /// connection down), seen without blocking: a command sent on it would
    /// be lost. False while it is open, or if the check itself fails.
    ///
    /// Under TLS the bytes waiting may be TLS records with no reply in them
    /// (a session ticket, or the node's `close_notify` before it closes), so
    /// they are read into the session and looked at rather than peeked.
    pub fn closed_by_peer(&mut self) -> bool {
        match &mut self.stream {
            Stream::Plain(tcp) => {
                if tcp.set_nonblocking(true).is_err() {
                    return false;
                }
                let mut b = [0u8; 1];
                let closed = match tcp.peek(&mut b) {
                    Ok(0) => true,
                    Ok(_) => false,
                    Err(e) => !matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted
                    ),
                };
                let _ = tcp.set_nonblocking(false);
                closed
            }
            Stream::Tls(s) => {
                let s = &mut **s;
                if s.sock.set_nonblocking(true).is_err() {
                    return false;
                }
                let closed = loop {
                    match s.conn.read_tls(&mut s.sock) {
                        Ok(0) => break true,
                        Ok(_) => match s.conn.process_new_packets() {
                            Ok(io) if io.peer_has_closed() => break true,
                            // A reply (or part of one) is waiting: open.
                            Ok(io) if io.plaintext_bytes_to_read() > 0 => break false,
                            Ok(_) => {}
                            Err(_) => break true,
                        },
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break false,
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(_) => break true,
                    }
                };
                let _ = s.sock.set_nonblocking(false);
                closed
            }
        }
    }

    /// Writes one command without waiting (for pipelining with [`Client::receive`]).
    pub fn send(&mut self, args: &[&[u8]]) -> Result<(), ClientError> {
        self.out.clear();
        encode_command(args, &mut self.out);
        self.stream.write_all(&self.out)?;
        self.stream.flush()?;
        Ok(())
    }

    /// Reads the next reply, error replies included (as `Reply::Error`).
    pub fn receive(&mut self) -> Result<Reply, ClientError> {
        loop {
            if let Some((reply, used)) =
                parse_reply(&self.buf, &self.limits).map_err(ClientError::Protocol)?
            {
                self.buf.drain(..used);
                return Ok(reply);
            }
            let start = self.buf.len();
            self.buf.resize(start + READ_CHUNK_BYTES, 0);
            let n = match self.stream.read(&mut self.buf[start..]) {
                Ok(n) => n,
                Err(e) => {
                    self.buf.truncate(start);
                    return Err(e.into());
                }
            };
            self.buf.truncate(start + n);
            if n == 0 {
                return Err(ClientError::Closed);
            }
        }
    }

    /// `GET key`: the value, or None if absent.
    pub fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, ClientError> {
        match self.command(&[b"GET", key])? {
            Reply::Bulk(v) => Ok(Some(v)),
            Reply::Nil => Ok(None),
            r => Err(ClientError::UnexpectedReply(r)),
        }
    }

    /// `SET key value`.
    pub fn set(&mut self, key: &[u8], value: &[u8]) -> Result<(), ClientError> {
        match self.command(&[b"SET", key, value])? {
            Reply::Simple(s) if s == "OK" => Ok(()),
            r => Err(ClientError::UnexpectedReply(r)),
        }
    }

    /// `DEL key...`: how many of the keys existed.
    pub fn del(&mut self, keys: &[&[u8]]) -> Result<i64, ClientError> {
        let mut args: Vec<&[u8]> = vec![b"DEL"];
        args.extend_from_slice(keys);
        self.integer(&args)
    }

    /// `CAS key expected new`: true if it swapped. `expected = None` means "the
    /// key must be absent" (sent as an empty string, so `Some(b"")` means the same).
    pub fn cas(
        &mut self,
        key: &[u8],
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool, ClientError> {
        Ok(self.integer(&[b"CAS", key, expected.unwrap_or(b""), new])? == 1)
    }

    /// `INFO [section]`: the text.
    pub fn info(&mut self, section: Option<&str>) -> Result<String, ClientError> {
        let reply = match section {
            Some(s) => self.command(&[b"INFO", s.as_bytes()])?,
            None => self.command(&[b"INFO"])?,
        };
        match reply {
            Reply::Bulk(v) => Ok(String::from_utf8_lossy(&v).into_owned()),
            r => Err(ClientError::UnexpectedReply(r)),
        }
    }

    /// `PING`.
    pub fn ping(&mut self) -> Result<(), ClientError> {
        match self.command(&[b"PING"])? {
            Reply::Simple(s) if s == "PONG" => Ok(()),
            r => Err(ClientError::UnexpectedReply(r)),
        }
    }

    /// `SET key value` with options (expiry, NX/XX, GET): with `get`, the
    /// old value; otherwise `Some(b"OK")` if it applied and None if NX/XX stopped it.
    pub fn set_with(
        &mut self,
        key: &[u8],
        value: &[u8],
        opts: &SetOptions,
    ) -> Result<Option<Vec<u8>>, ClientError> {
        let mut args: Vec<Vec<u8>> = vec![b"SET".to_vec(), key.to_vec(), value.to_vec()];
        match opts.expiry {
            Some(SetExpiry::Ex(s)) => args.extend([b"EX".to_vec(), s.to_string().into_bytes()]),
            Some(SetExpiry::Px(ms)) => args.extend([b"PX".to_vec(), ms.to_string().into_bytes()]),
            Some(SetExpiry::ExAt(t)) => args.extend([b"EXAT".to_vec(), t.to_string().into_bytes()]),
            Some(SetExpiry::PxAt(t)) => args.extend([b"PXAT".to_vec(), t.to_string().into_bytes()]),
            Some(SetExpiry::KeepTtl) => args.push(b"KEEPTTL".to_vec()),
            None => {}
        }
        if opts.nx {
            args.push(b"NX".to_vec());
        }
        if opts.xx {
            args.push(b"XX".to_vec());
        }
        if opts.get {
            args.push(b"GET".to_vec());
        }
        let refs: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
        match self.command(&refs)? {
            Reply::Simple(s) => Ok(Some(s.into_bytes())),
            Reply::Bulk(v) => Ok(Some(v)),
            Reply::Nil => Ok(None),
            r => Err(ClientError::UnexpectedReply(r)),
        }
    }

    /// `INCRBY key delta`: the new value.
    pub fn incr_by(&mut self, key: &[u8], delta: i64) -> Result<i64, ClientError> {
        self.integer(&[b"INCRBY", key, delta.to_string().as_bytes()])
    }

    /// `APPEND key value`: the new length.
    pub fn append(&mut self, key: &[u8], value: &[u8]) -> Result<i64, ClientError> {
        self.integer(&[b"APPEND", key, value])
    }

    /// `GETDEL key`: the value it had.
    pub fn get_del(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, ClientError> {
        self.bulk_or_nil(&[b"GETDEL", key])
    }

    /// `EXISTS key...`: how many exist.
    pub fn exists(&mut self, keys: &[&[u8]]) -> Result<i64, ClientError> {
        let mut args: Vec<&[u8]> = vec![b"EXISTS"];
        args.extend_from_slice(keys);
        self.integer(&args)
    }

    /// `PEXPIRE key ms`: true if the deadline was set.
    pub fn pexpire(&mut self, key: &[u8], ms: i64) -> Result<bool, ClientError> {
        Ok(self.integer(&[b"PEXPIRE", key, ms.to_string().as_bytes()])? == 1)
    }

    /// `EXPIRE key seconds`: true if the deadline was set.
    pub fn expire(&mut self, key: &[u8], seconds: i64) -> Result<bool, ClientError> {
        Ok(self.integer(&[b"EXPIRE", key, seconds.to_string().as_bytes()])? == 1)
    }

    /// `PERSIST key`: true if a deadline was removed.
    pub fn persist(&mut self, key: &[u8]) -> Result<bool, ClientError> {
        Ok(self.integer(&[b"PERSIST", key])? == 1)
    }

    /// `TTL key`: seconds left; -1 without deadline, -2 if absent.
    pub fn ttl(&mut self, key: &[u8]) -> Result<i64, ClientError> {
        self.integer(&[b"TTL", key])
    }

    /// `PTTL key`: ms left; -1 without deadline, -2 if absent.
    pub fn pttl(&mut self, key: &[u8]) -> Result<i64, ClientError> {
        self.integer(&[b"PTTL", key])
    }

    /// `MGET key...`: each value or None, in order.
    pub fn mget(&mut self, keys: &[&[u8]]) -> Result<Vec<Option<Vec<u8>>>, ClientError> {
        let mut args: Vec<&[u8]> = vec![b"MGET"];
        args.extend_from_slice(keys);
        match self.command(&args)? {
            Reply::Array(items) => items
                .into_iter()
                .map(|r| match r {
                    Reply::Bulk(v) => Ok(Some(v)),
                    Reply::Nil => Ok(None),
                    r => Err(ClientError::UnexpectedReply(r)),
                })
                .collect(),
            r => Err(ClientError::UnexpectedReply(r)),
        }
    }

    /// `MSET key value ...` (each key linearizable; not atomic across keys).
    pub fn mset(&mut self, pairs: &[(&[u8], &[u8])]) -> Result<(), ClientError> {
        let mut args: Vec<&[u8]> = vec![b"MSET"];
        for (k, v) in pairs {
            args.extend_from_slice(&[k, v]);
        }
        self.ok(&args)
    }

    /// `KEYS pattern`.
    pub fn keys(&mut self, pattern: &[u8]) -> Result<Vec<Vec<u8>>, ClientError> {
        match self.command(&[b"KEYS", pattern])? {
            Reply::Array(items) => bulks(items),
            r => Err(ClientError::UnexpectedReply(r)),
        }
    }

    /// `SCAN cursor [MATCH pattern] [COUNT count]`: the next cursor (0: done) and a page.
    pub fn scan(
        &mut self,
        cursor: u64,
        pattern: Option<&[u8]>,
        count: Option<usize>,
    ) -> Result<(u64, Vec<Vec<u8>>), ClientError> {
        let cursor = cursor.to_string();
        let count = count.map(|c| c.to_string());
        let mut args: Vec<&[u8]> = vec![b"SCAN", cursor.as_bytes()];
        if let Some(p) = pattern {
            args.extend_from_slice(&[b"MATCH", p]);
        }
        if let Some(c) = &count {
            args.extend_from_slice(&[b"COUNT", c.as_bytes()]);
        }
        match self.command(&args)? {
            Reply::Array(mut parts) if parts.len() == 2 => {
                let keys = parts.pop();
                let next = parts.pop();
                match (next, keys) {
                    (Some(Reply::Bulk(c)), Some(Reply::Array(keys))) => {
                        let next = std::str::from_utf8(&c)
                            .ok()
                            .and_then(|c| c.parse().ok())
                            .ok_or(ClientError::UnexpectedReply(Reply::Bulk(c)))?;
                        Ok((next, bulks(keys)?))
                    }
                    (n, k) => Err(ClientError::UnexpectedReply(Reply::Array(
                        n.into_iter().chain(k).collect(),
                    ))),
                }
            }
            r => Err(ClientError::UnexpectedReply(r)),
        }
    }

    /// Every key matching `pattern` (None: all), through SCAN pages of `count`.
    pub fn scan_iter<'a>(
        &'a mut self,
        pattern: Option<&'a [u8]>,
        count: usize,
    ) -> impl Iterator<Item = Result<Vec<u8>, ClientError>> + 'a {
        let mut cursor = Some(0u64);
        let mut page: std::vec::IntoIter<Vec<u8>> = Vec::new().into_iter();
        std::iter::from_fn(move || loop {
            if let Some(k) = page.next() {
                return Some(Ok(k));
            }
            let c = cursor?;
            match self.scan(c, pattern, Some(count)) {
                Ok((next, keys)) => {
                    cursor = (next != 0).then_some(next);
                    page = keys.into_iter();
                }
                Err(e) => {
                    cursor = None;
                    return Some(Err(e));
                }
            }
        })
    }

    /// `DBSIZE`.
    pub fn dbsize(&mut self) -> Result<i64, ClientError> {
        self.integer(&[b"DBSIZE"])
    }

    /// `FLUSHALL`: every key deleted through consensus (not atomically).
    pub fn flushall(&mut self) -> Result<(), ClientError> {
        self.ok(&[b"FLUSHALL"])
    }

    fn ok(&mut self, args: &[&[u8]]) -> Result<(), ClientError> {
        match self.command(args)? {
            Reply::Simple(s) if s == "OK" => Ok(()),
            r => Err(ClientError::UnexpectedReply(r)),
        }
    }

    fn bulk_or_nil(&mut self, args: &[&[u8]]) -> Result<Option<Vec<u8>>, ClientError> {
        match self.command(args)? {
            Reply::Bulk(v) => Ok(Some(v)),
            Reply::Nil => Ok(None),
            r => Err(ClientError::UnexpectedReply(r)),
        }
    }

    fn integer(&mut self, args: &[&[u8]]) -> Result<i64, ClientError> {
        match self.command(args)? {
            Reply::Integer(n) => Ok(n),
            r => Err(ClientError::UnexpectedReply(r)),
        }
    }
}

fn bulks(items: Vec<Reply>) -> Result<Vec<Vec<u8>>, ClientError> {
    items
        .into_iter()
        .map(|r| match r {
            Reply::Bulk(v) => Ok(v),
            r => Err(ClientError::UnexpectedReply(r)),
        })
        .collect()
}

/// Where a routed client sends each key: its *home*, the first node of the
/// key's rendezvous order (core/placement.rs) that the client has an address
/// for. Given every member's address, the home is the key's first replica for
/// any N (a replica set is a prefix of that order), so the coordinator is also
/// one of its acceptors, and every client that routes picks the same node.
/// Routing only saves work: any node accepts any key.
#[derive(Clone, Debug)]
pub struct Routes {
    /// The addresses, as given.
    addrs: Vec<String>,
    /// The node answering at each address.
    ids: Vec<NodeId>,
    /// Every member with N = all of them: `replicas_of` is the full order.
    order: Placement,
    /// N as the nodes report it.
    replicas: usize,
}

impl Routes {
    /// Asks every address for INFO (within `timeout`) and routes over them.
    pub fn discover(addrs: &[String], timeout: Duration) -> Result<Routes, ClientError> {
        let mut infos = Vec::with_capacity(addrs.len());
        for a in addrs {
            let info = Client::connect_timeout(a.as_str(), timeout)
                .and_then(|mut c| c.info(None))
                .map_err(|e| ClientError::Cluster(format!("INFO from {a}: {e}")))?;
            infos.push(info);
        }
        Routes::from_info(addrs, &infos)
    }

    /// Routes over `addrs`, given each one's INFO text (`node_id`, `members`,
    /// `replicas`). Refuses addresses of two clusters, or two of one node.
    pub fn from_info(addrs: &[String], infos: &[String]) -> Result<Routes, ClientError> {
        if addrs.is_empty() || addrs.len() != infos.len() {
            return Err(ClientError::Cluster(format!(
                "routing needs at least one address and one INFO per address (got {} and {})",
                addrs.len(),
                infos.len()
            )));
        }
        let mut ids = Vec::with_capacity(addrs.len());
        let mut view: Option<(String, usize)> = None;
        for (addr, info) in addrs.iter().zip(infos) {
            let field = |name: &str| {
                info.lines()
                    .filter_map(|l| l.trim_end().split_once(':'))
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_owned())
                    .ok_or_else(|| {
                        ClientError::Cluster(format!(
                            "INFO from {addr} has no '{name}' field: not a synod node?"
                        ))
                    })
            };
            let number = |name: &str| -> Result<u64, ClientError> {
                let v = field(name)?;
                v.parse().map_err(|_| {
                    ClientError::Cluster(format!("INFO from {addr}: {name} '{v}' is not a number"))
                })
            };
            let id = NodeId::try_from(number("node_id")?).map_err(|_| {
                ClientError::Cluster(format!("INFO from {addr}: node_id out of range"))
            })?;
            let this = (field("members")?, number("replicas")? as usize);
            match &view {
                None => view = Some(this),
                Some(first) if *first != this => {
                    return Err(ClientError::Cluster(format!(
                        "{addr} (node {id}) sees members {} with {} replicas, but {} sees members {} with {}: give the addresses of one cluster",
                        this.0, this.1, addrs[0], first.0, first.1
                    )))
                }
                Some(_) => {}
            }
            if let Some(i) = ids.iter().position(|&x| x == id) {
                return Err(ClientError::Cluster(format!(
                    "{} and {addr} are both node {id}: give each node's address once",
                    addrs[i]
                )));
            }
            ids.push(id);
        }
        let (members, replicas) = view.expect("at least one address");
        let members: Vec<NodeId> = members
            .split(',')
            .map(|m| m.trim().parse::<NodeId>())
            .collect::<Result<_, _>>()
            .map_err(|_| {
                ClientError::Cluster(format!("INFO from {}: bad members '{members}'", addrs[0]))
            })?;
        if let Some((addr, id)) = addrs.iter().zip(&ids).find(|(_, id)| !members.contains(id)) {
            return Err(ClientError::Cluster(format!(
                "{addr} is node {id}, not one of the members {members:?}"
            )));
        }
        Ok(Routes {
            addrs: addrs.to_vec(),
            ids,
            order: Placement::new(&members, members.len()),
            replicas,
        })
    }

    /// The indices in [`Routes::addrs`] in `key`'s rendezvous order: its
    /// home first, then its other replicas, then the other nodes; the order
    /// a routed client fails over in.
    pub fn order(&self, key: &[u8]) -> Vec<usize> {
        self.order
            .replicas_of(key)
            .into_iter()
            .filter_map(|n| self.ids.iter().position(|&id| id == n))
            .collect()
    }

    /// The index in [`Routes::addrs`] of `key`'s home node.
    pub fn home(&self, key: &[u8]) -> usize {
        self.order
            .replicas_of(key)
            .into_iter()
            .find_map(|n| self.ids.iter().position(|&id| id == n))
            .expect("every address is a member (checked in from_info)")
    }

    /// True if `key`'s home node is one of its N replicas (always, given
    /// every member's address).
    pub fn home_is_replica(&self, key: &[u8]) -> bool {
        let home = self.ids[self.home(key)];
        let order = self.order.replicas_of(key);
        order[..self.replicas.min(order.len())].contains(&home)
    }

    /// The addresses, as given.
    pub fn addrs(&self) -> &[String] {
        &self.addrs
    }

    /// The node id answering at `addrs()[i]`.
    pub fn node_id(&self, i: usize) -> NodeId {
        self.ids[i]
    }
}

/// How long a routed client leaves a node alone after failing to reach it,
/// before trying it again (a refused connect costs nothing on loopback; a
/// node that does not answer costs a whole connect timeout per attempt).
pub const NODE_RETRY_AFTER_MS: u64 = 1_000;

/// A client of a whole cluster: one [`Client`] per node, each single-key
/// command sent to its key's home node (see [`Routes`]).
///
/// **Failover.** If the home is down, a command goes to the key's next
/// replica in the same order every routed client uses (then the next, and so
/// on): any node serves any key, and the next replica is one of the key's
/// acceptors. A command moves on only where it cannot be applied twice:
/// before it was sent (the node refused the connection, or its connection
/// was found closed), after a refusal that says it was not run (`FAILED the
/// node is shutting down`), or, for a read, after any connection error. A
/// write whose connection breaks after it was sent returns that error: its
/// outcome is unknown (as `UNKNOWN`), and running it again elsewhere could
/// apply it twice. A node found down is skipped for [`NODE_RETRY_AFTER_MS`],
/// then tried again. Addresses that do not answer at `connect` are left out
/// of the routes (their node ids are unknown); at least one must answer.
pub struct Cluster {
    routes: Routes,
    /// Per address in `routes.addrs()`: its connection, if open.
    nodes: Vec<Option<Client>>,
    /// Per address: not tried again before this instant.
    down_until: Vec<Option<Instant>>,
    timeout: Duration,
    /// With TLS: the CA file that the nodes' certificates must chain to.
    tls_ca: Option<String>,
}

impl Cluster {
    /// Connects to every address (all of the cluster's client addresses, for
    /// routing to replicas) with [`DEFAULT_TIMEOUT_MS`] and learns who is who.
    pub fn connect(addrs: &[impl AsRef<str>]) -> Result<Cluster, ClientError> {
        Cluster::connect_timeout(addrs, Duration::from_millis(DEFAULT_TIMEOUT_MS))
    }

    /// As [`Cluster::connect`], with `timeout` for connect, reads and writes.
    pub fn connect_timeout(
        addrs: &[impl AsRef<str>],
        timeout: Duration,
    ) -> Result<Cluster, ClientError> {
        Cluster::open(addrs, timeout, None)
    }

    /// As [`Cluster::connect_timeout`], over TLS to nodes with `tls-clients
    /// yes` (see [`Client::connect_tls`]); failover reconnects over TLS too.
    pub fn connect_tls(
        addrs: &[impl AsRef<str>],
        timeout: Duration,
        ca_file: &str,
    ) -> Result<Cluster, ClientError> {
        Cluster::open(addrs, timeout, Some(ca_file.to_owned()))
    }

    fn open(
        addrs: &[impl AsRef<str>],
        timeout: Duration,
        tls_ca: Option<String>,
    ) -> Result<Cluster, ClientError> {
        let mut up = Vec::with_capacity(addrs.len());
        let mut nodes = Vec::with_capacity(addrs.len());
        let mut infos = Vec::with_capacity(addrs.len());
        let mut last = None;
        for a in addrs {
            let a = a.as_ref();
            let answered = connect_one(a, timeout, tls_ca.as_deref())
                .and_then(|mut c| c.info(None).map(|info| (c, info)));
            match answered {
                Ok((c, info)) => {
                    up.push(a.to_owned());
                    nodes.push(Some(c));
                    infos.push(info);
                }
                Err(e) => last = Some((a.to_owned(), e)),
            }
        }
        if up.is_empty() {
            return Err(match last {
                Some((a, e)) => ClientError::Cluster(format!("no node answered (last, {a}: {e})")),
                None => ClientError::Cluster("no address given".into()),
            });
        }
        let routes = Routes::from_info(&up, &infos)?;
        let down_until = vec![None; nodes.len()];
        Ok(Cluster {
            routes,
            nodes,
            down_until,
            timeout,
            tls_ca,
        })
    }

    /// Who is home for which key.
    pub fn routes(&self) -> &Routes {
        &self.routes
    }

    /// A connection for `key`: to its home node if that is reachable, else
    /// to the next node of the key's order that is (see [`Cluster`]).
    pub fn for_key(&mut self, key: &[u8]) -> Result<&mut Client, ClientError> {
        let mut last = None;
        for i in self.routes.order(key) {
            match self.usable(i) {
                Ok(()) => return Ok(self.nodes[i].as_mut().expect("usable")),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| ClientError::Cluster("no node".into())))
    }

    /// The connection to `addrs()[i]`, for commands on no key or many.
    pub fn node(&mut self, i: usize) -> Result<&mut Client, ClientError> {
        self.usable(i)?;
        Ok(self.nodes[i].as_mut().expect("usable"))
    }

    /// `GET key` at its home node, or the next reachable replica.
    pub fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, ClientError> {
        self.run(key, true, |c| c.get(key))
    }

    /// `SET key value` at its home node, or the next reachable replica.
    pub fn set(&mut self, key: &[u8], value: &[u8]) -> Result<(), ClientError> {
        self.run(key, false, |c| c.set(key, value))
    }

    /// `DEL key` at its home node, or the next reachable replica: true if it existed.
    pub fn del(&mut self, key: &[u8]) -> Result<bool, ClientError> {
        Ok(self.run(key, false, |c| c.del(&[key]))? == 1)
    }

    /// Runs `f` on `key`'s home node, failing over along the key's order
    /// where that cannot apply it twice: `read` says `f` changes nothing.
    fn run<T>(
        &mut self,
        key: &[u8],
        read: bool,
        mut f: impl FnMut(&mut Client) -> Result<T, ClientError>,
    ) -> Result<T, ClientError> {
        let mut last = None;
        for i in self.routes.order(key) {
            if let Err(e) = self.usable(i) {
                last = Some(e);
                continue;
            }
            let conn = self.nodes[i].as_mut().expect("usable");
            match f(conn) {
                Err(e @ (ClientError::Io(_) | ClientError::Closed)) => {
                    self.mark_down(i);
                    if !read {
                        return Err(e); // Sent: the outcome is unknown.
                    }
                    last = Some(e);
                }
                Err(ClientError::Server(s))
                    if s.starts_with("FAILED the node is shutting down") =>
                {
                    self.mark_down(i);
                    last = Some(ClientError::Server(s));
                }
                r => return r,
            }
        }
        Err(last.unwrap_or_else(|| ClientError::Cluster("no node".into())))
    }

    /// Ok if `addrs()[i]` has an open connection, opening one if it is not
    /// resting after a failure; a connection the node closed is dropped.
    fn usable(&mut self, i: usize) -> Result<(), ClientError> {
        if let Some(c) = &mut self.nodes[i] {
            if !c.closed_by_peer() {
                return Ok(());
            }
            // The node closed it (restarted, or shut down): connect again.
            self.nodes[i] = None;
        }
        if self.down_until[i].is_some_and(|t| Instant::now() < t) {
            return Err(ClientError::Cluster(format!(
                "{} was unreachable less than {NODE_RETRY_AFTER_MS} ms ago",
                self.routes.addrs()[i]
            )));
        }
        let addr = self.routes.addrs()[i].as_str();
        match connect_one(addr, self.timeout, self.tls_ca.as_deref()) {
            Ok(c) => {
                self.nodes[i] = Some(c);
                self.down_until[i] = None;
                Ok(())
            }
            Err(e) => {
                self.mark_down(i);
                Err(e)
            }
        }
    }

    fn mark_down(&mut self, i: usize) {
        self.nodes[i] = None;
        self.down_until[i] = Some(Instant::now() + Duration::from_millis(NODE_RETRY_AFTER_MS));
    }
}

/// One node's connection: plain, or TLS trusting the CA file `tls_ca`.
fn connect_one(addr: &str, timeout: Duration, tls_ca: Option<&str>) -> Result<Client, ClientError> {
    match tls_ca {
        Some(ca) => Client::connect_tls(addr, timeout, ca),
        None => Client::connect_timeout(addr, timeout),
    }
}

/// SET's expiry option.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetExpiry {
    /// EX seconds.
    Ex(u64),
    /// PX milliseconds.
    Px(u64),
    /// EXAT Unix seconds.
    ExAt(u64),
    /// PXAT Unix milliseconds.
    PxAt(u64),
    /// KEEPTTL.
    KeepTtl,
}

/// SET's options.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SetOptions {
    pub expiry: Option<SetExpiry>,
    /// Only if absent.
    pub nx: bool,
    /// Only if present.
    pub xx: bool,
    /// Return the old value.
    pub get: bool,
}

/// A reply as redis-cli prints it in a terminal: `"bulk"`, `(integer) 1`,
/// `(nil)`, `(error) ERR ...`, numbered array items, nested arrays indented.
pub fn format_reply(reply: &Reply) -> String {
    fn quote(v: &[u8]) -> String {
        let mut s = String::from("\"");
        for &b in v {
            match b {
                b'"' => s.push_str("\\\""),
                b'\\' => s.push_str("\\\\"),
                b'\n' => s.push_str("\\n"),
                b'\r' => s.push_str("\\r"),
                b'\t' => s.push_str("\\t"),
                0x07 => s.push_str("\\a"),
                0x08 => s.push_str("\\b"),
                0x20..=0x7e => s.push(b as char),
                _ => s.push_str(&format!("\\x{b:02x}")),
            }
        }
        s.push('"');
        s
    }
    fn go(r: &Reply, indent: usize, out: &mut String) {
        match r {
            Reply::Simple(s) => out.push_str(s),
            Reply::Error(e) => {
                out.push_str("(error) ");
                out.push_str(e);
            }
            Reply::Integer(n) => out.push_str(&format!("(integer) {n}")),
            Reply::Bulk(v) => out.push_str(&quote(v)),
            Reply::Nil | Reply::NilArray => out.push_str("(nil)"),
            Reply::Double(d) => out.push_str(&format!("(double) {d}")),
            Reply::Array(items) | Reply::Set(items) if items.is_empty() => {
                out.push_str("(empty array)")
            }
            Reply::Map(pairs) | Reply::Pairs(pairs) if pairs.is_empty() => {
                out.push_str("(empty array)")
            }
            Reply::Array(items) => list(items.iter(), ")", indent, out),
            Reply::Set(items) => list(items.iter(), "~", indent, out),
            Reply::Pairs(pairs) => {
                let items: Vec<Reply> = pairs
                    .iter()
                    .map(|(a, b)| Reply::Array(vec![a.clone(), b.clone()]))
                    .collect();
                list(items.iter(), ")", indent, out)
            }
            // As redis-cli -3: `1# "field" => "value"`.
            Reply::Map(pairs) => {
                let width = pairs.len().to_string().len();
                for (i, (k, v)) in pairs.iter().enumerate() {
                    if i > 0 {
                        out.push('\n');
                        out.push_str(&" ".repeat(indent));
                    }
                    let label = format!("{:>width$}# ", i + 1);
                    out.push_str(&label);
                    go(k, indent + label.len(), out);
                    out.push_str(" => ");
                    go(v, indent + label.len() + 4, out);
                }
            }
        }
    }
    fn list<'a>(
        items: impl ExactSizeIterator<Item = &'a Reply>,
        mark: &str,
        indent: usize,
        out: &mut String,
    ) {
        let width = items.len().to_string().len();
        for (i, item) in items.enumerate() {
            if i > 0 {
                out.push('\n');
                out.push_str(&" ".repeat(indent));
            }
            let label = format!("{:>width$}{mark} ", i + 1);
            out.push_str(&label);
            go(item, indent + label.len(), out);
        }
    }
    let mut out = String::new();
    go(reply, 0, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::thread;

    /// A one-connection fake server answering each command with `replies` in turn.
    fn fake_server(replies: &'static [&'static [u8]]) -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut buf = [0u8; 1024];
            for r in replies {
                if s.read(&mut buf).unwrap_or(0) == 0 {
                    return;
                }
                // Split the reply to exercise partial reads.
                let (a, b) = r.split_at(r.len() / 2);
                s.write_all(a).unwrap();
                thread::sleep(Duration::from_millis(5));
                s.write_all(b).unwrap();
            }
        });
        addr
    }

    #[test]
    fn typed_calls_decode_their_replies() {
        let addr = fake_server(&[
            b"+OK\r\n",
            b"$5\r\nhello\r\n",
            b"$-1\r\n",
            b":2\r\n",
            b":1\r\n",
            b"+PONG\r\n",
        ]);
        let mut c = Client::connect(addr).unwrap();
        c.set(b"k", b"hello").unwrap();
        assert_eq!(c.get(b"k").unwrap(), Some(b"hello".to_vec()));
        assert_eq!(c.get(b"nope").unwrap(), None);
        assert_eq!(c.del(&[b"a", b"b"]).unwrap(), 2);
        assert!(c.cas(b"k", None, b"x").unwrap());
        c.ping().unwrap();
    }

    #[test]
    fn error_replies_carry_the_server_text() {
        let addr = fake_server(&[b"-FAILED no quorum\r\n", b"-UNKNOWN timed out\r\n"]);
        let mut c = Client::connect(addr).unwrap();
        let e = c.set(b"k", b"v").unwrap_err();
        assert!(e.is_failed(), "{e}");
        assert_eq!(e.to_string(), "FAILED no quorum");
        let e = c.set(b"k", b"v").unwrap_err();
        assert!(e.is_unknown(), "{e}");
    }

    #[test]
    fn replies_print_like_redis_cli() {
        let r = Reply::Array(vec![
            Reply::Bulk(b"1".to_vec()),
            Reply::Array(vec![Reply::Bulk(b"a\"b".to_vec()), Reply::Nil]),
        ]);
        assert_eq!(format_reply(&r), "1) \"1\"\n2) 1) \"a\\\"b\"\n   2) (nil)");
        assert_eq!(format_reply(&Reply::Integer(-2)), "(integer) -2");
        assert_eq!(format_reply(&Reply::Array(vec![])), "(empty array)");
        assert_eq!(
            format_reply(&Reply::Error("ERR syntax error".into())),
            "(error) ERR syntax error"
        );
        assert_eq!(format_reply(&Reply::Simple("OK".into())), "OK");
    }

    #[test]
    fn scan_parses_the_integer_cursor() {
        let addr = fake_server(&[
            b"*2\r\n$2\r\n17\r\n*1\r\n$1\r\na\r\n",
            b"*2\r\n$1\r\n0\r\n*0\r\n",
        ]);
        let mut c = Client::connect(addr).unwrap();
        let keys: Vec<Vec<u8>> = c.scan_iter(None, 10).map(Result::unwrap).collect();
        assert_eq!(keys, vec![b"a".to_vec()]);
    }

    #[test]
    fn a_closed_connection_is_reported() {
        let addr = fake_server(&[]);
        let mut c = Client::connect(addr).unwrap();
        let e = c.ping().unwrap_err();
        assert!(
            matches!(e, ClientError::Closed | ClientError::Io(_)),
            "{e:?}"
        );
    }

    fn info(id: u32, members: &str, replicas: usize) -> String {
        format!(
            "# Server\r\nnode_id:{id}\r\n\r\n# Cluster\r\nmembers:{members}\r\nreplicas:{replicas}\r\n"
        )
    }

    fn addrs(n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("127.0.0.1:{}", 7000 + i)).collect()
    }

    #[test]
    fn the_home_of_a_key_is_its_first_replica_whatever_the_address_order() {
        let p = Placement::new(&[1, 2, 3, 4, 5], 3);
        // Addresses listed out of id order: the home follows the ids.
        let ids = [3, 1, 5, 2, 4];
        let infos: Vec<String> = ids.iter().map(|&id| info(id, "1,2,3,4,5", 3)).collect();
        let r = Routes::from_info(&addrs(5), &infos).unwrap();
        for i in 0..200 {
            let key = format!("key:{i:08}");
            let first = p.replicas_of(key.as_bytes())[0];
            assert_eq!(r.node_id(r.home(key.as_bytes())), first, "{key}");
            assert!(r.home_is_replica(key.as_bytes()));
        }
    }

    #[test]
    fn with_some_addresses_missing_the_home_is_the_best_known_node() {
        let infos = vec![info(2, "1,2,3", 3), info(3, "1,2,3", 3)];
        let r = Routes::from_info(&addrs(2), &infos).unwrap();
        let full = Placement::new(&[1, 2, 3], 3);
        for i in 0..200 {
            let key = format!("k{i}");
            let order = full.replicas_of(key.as_bytes());
            let want = if order[0] == 1 { order[1] } else { order[0] };
            assert_eq!(r.node_id(r.home(key.as_bytes())), want, "{key}");
        }
    }

    #[test]
    fn routes_refuse_two_clusters_and_one_node_twice() {
        let two_views = vec![info(1, "1,2,3", 3), info(2, "1,2,3,4", 3)];
        let e = Routes::from_info(&addrs(2), &two_views).unwrap_err();
        assert!(e.to_string().contains("one cluster"), "{e}");
        let twice = vec![info(1, "1,2,3", 3), info(1, "1,2,3", 3)];
        let e = Routes::from_info(&addrs(2), &twice).unwrap_err();
        assert!(e.to_string().contains("both node 1"), "{e}");
        let stranger = vec![info(7, "1,2,3", 3)];
        assert!(Routes::from_info(&addrs(1), &stranger).is_err());
        let redis = vec!["# Server\r\nredis_version:7.0.15\r\n".to_owned()];
        let e = Routes::from_info(&addrs(1), &redis).unwrap_err();
        assert!(e.to_string().contains("node_id"), "{e}");
    }
}
