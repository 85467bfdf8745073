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

    fn integer(&mut self, args: &[&[u8]]) -> Result<i64, ClientError> {
        match self.command(args)? {
            Reply::Integer(n) => Ok(n),
            r => Err(ClientError::UnexpectedReply(r)),
        }
    }
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
