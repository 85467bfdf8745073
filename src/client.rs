//! A small synchronous Rust client: RESP2 over one `std::net::TcpStream`.
//!
//! For the CLI, tests and benchmarks. Every call sends one command and waits
//! for its reply, within the read and write timeouts. A server error reply
//! (`-FAILED ...`, `-UNKNOWN ...`, `-ERR ...`) is [`ClientError::Server`] with
//! the text as sent, so callers can tell "certainly not applied" (FAILED) from
//! "maybe applied" (UNKNOWN).

use crate::resp::{encode_command, parse_reply, Reply, RespError, RespLimits};
use std::fmt;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

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

/// A connection to one synod node (or any Redis-protocol server).
pub struct Client {
    stream: TcpStream,
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
                        stream,
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

    /// Sends any command; returns its reply, or `Server` for an error reply.
    pub fn command(&mut self, args: &[&[u8]]) -> Result<Reply, ClientError> {
        self.send(args)?;
        match self.receive()? {
            Reply::Error(e) => Err(ClientError::Server(e)),
            r => Ok(r),
        }
    }

    /// Writes one command without waiting (for pipelining with [`Client::receive`]).
    pub fn send(&mut self, args: &[&[u8]]) -> Result<(), ClientError> {
        self.out.clear();
        encode_command(args, &mut self.out);
        self.stream.write_all(&self.out)?;
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
            Reply::Array(items) if items.is_empty() => out.push_str("(empty array)"),
            Reply::Array(items) => {
                let width = items.len().to_string().len();
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push('\n');
                        out.push_str(&" ".repeat(indent));
                    }
                    let label = format!("{:>width$}) ", i + 1);
                    out.push_str(&label);
                    go(item, indent + label.len(), out);
                }
            }
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
}
