//! RESP2, the Redis wire protocol, as a pure codec: bytes in, commands out; replies in,
//! bytes out.
//!
//! The runtime's connection task feeds each read into a [`RequestParser`] and hands the
//! commands it yields to the core; the core's answers come back as [`Reply`] values encoded
//! here. Nothing in this module does I/O or waits (the sans-IO shape of quinn-proto), so it
//! is tested byte by byte without sockets. Every length a client declares is checked against
//! [`RespLimits`] before anything is buffered or allocated for it, and no input can make this
//! module panic: a malformed stream yields a [`RespError`] worded like Redis's, after which
//! the connection is closed. [`parse_reply`] and [`encode_command`] are the client side.

use std::fmt;

const CRLF: &[u8] = b"\r\n";

/// Longest `*`, `$` or `:` line we wait for: "$-9223372036854775808\r" is 22 bytes, so a
/// longer one without '\n' can only be garbage and is refused without waiting for more.
const HEADER_LINE_MAX_BYTES: usize = 32;

/// Most argument or element slots reserved up front; past it a Vec grows only as elements
/// actually arrive, so a `*1048576` header alone allocates nothing large.
const PREALLOC_MAX_ITEMS: usize = 16;

/// Consumed bytes are cut from the buffer once at least this many piled up and they are at
/// least half of it, so compaction costs O(1) amortized per byte received.
const COMPACT_MIN_BYTES: usize = 4096;

/// Capacity an emptied buffer keeps; the rest of a huge argument's buffer is given back.
const BUF_RETAIN_MAX_BYTES: usize = 64 * 1024;

/// Longest excerpt of offending bytes quoted in an error message.
const EXCERPT_MAX_BYTES: usize = 32;

/// Bounds on what one client may make us buffer.
#[derive(Clone, Debug)]
pub struct RespLimits {
    /// Largest bulk string: one argument, or one bulk reply.
    pub bulk_len_max_bytes: usize,
    /// Most elements in one multibulk request or array reply.
    pub array_len_max: usize,
    /// Longest inline command line, counting the bytes before its '\n'.
    pub inline_len_max_bytes: usize,
    /// Largest multibulk command on the wire, headers and all arguments included.
    pub command_size_max_bytes: usize,
    /// Deepest nesting of arrays accepted by [`parse_reply`].
    pub reply_depth_max: usize,
}

impl Default for RespLimits {
    fn default() -> Self {
        RespLimits {
            // Redis allows 512 MiB (proto-max-bulk-len). Our values go through a Paxos round
            // and sit in every replica's memory and send queues, so one 512 MiB value would
            // stall a key's replicas for seconds; 64 MiB is far above any sensible cache
            // entry and keeps one connection's worst case within a small node's memory.
            bulk_len_max_bytes: 64 * 1024 * 1024,
            // Redis before 4.0 capped multibulk length at 1024*1024: an MSET of a million
            // keys is already far beyond what one request should carry.
            array_len_max: 1024 * 1024,
            // Redis's PROTO_INLINE_MAX_SIZE: inline commands are typed by people (nc, telnet).
            inline_len_max_bytes: 64 * 1024,
            // A maximal value plus its key and command name, with room to spare.
            command_size_max_bytes: 128 * 1024 * 1024,
            // Redis replies nest a few levels (EXEC of XREAD is 5); the cap stops a hostile
            // server from overflowing our stack through recursive parse, encode and drop.
            reply_depth_max: 64,
        }
    }
}

impl RespLimits {
    /// Checks that every bound is nonzero and the bounds are consistent with each other.
    pub fn validate(&self) -> Result<(), RespError> {
        let bounds = [
            ("bulk_len_max_bytes", self.bulk_len_max_bytes),
            ("array_len_max", self.array_len_max),
            ("inline_len_max_bytes", self.inline_len_max_bytes),
            ("command_size_max_bytes", self.command_size_max_bytes),
            ("reply_depth_max", self.reply_depth_max),
        ];
        if let Some((name, _)) = bounds.iter().find(|(_, value)| *value == 0) {
            return Err(RespError::InvalidLimits(format!(
                "{name} = 0 would refuse every request; raise it"
            )));
        }
        for (name, value) in [
            ("bulk_len_max_bytes", self.bulk_len_max_bytes),
            ("inline_len_max_bytes", self.inline_len_max_bytes),
        ] {
            if self.command_size_max_bytes < value {
                return Err(RespError::InvalidLimits(format!(
                    "command_size_max_bytes = {} is below {name} = {value}; raise \
                     command_size_max_bytes or lower {name}",
                    self.command_size_max_bytes
                )));
            }
        }
        Ok(())
    }

    /// Checks a declared bulk length against `bulk_len_max_bytes`.
    fn check_bulk_len(&self, len: u64) -> Result<usize, RespError> {
        let max = self.bulk_len_max_bytes;
        usize::try_from(len)
            .ok()
            .filter(|&n| n <= max)
            .ok_or(RespError::BulkTooLong { len, max })
    }

    /// Checks a declared array length against `array_len_max`.
    fn check_array_len(&self, len: u64) -> Result<usize, RespError> {
        let max = self.array_len_max;
        usize::try_from(len)
            .ok()
            .filter(|&n| n <= max)
            .ok_or(RespError::ArrayTooLong { len, max })
    }
}

/// Why a byte stream is not valid RESP2 (or why [`RespLimits`] are unusable).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RespError {
    /// A `$` header declared more than `bulk_len_max_bytes`.
    BulkTooLong { len: u64, max: usize },
    /// A `*` header declared more than `array_len_max` elements.
    ArrayTooLong { len: u64, max: usize },
    /// An inline line has more than `inline_len_max_bytes` before its '\n'.
    InlineTooLong { max: usize },
    /// A multibulk command would exceed `command_size_max_bytes` on the wire.
    CommandTooLarge { size_bytes: u64, max: usize },
    /// A `$` header whose length is not an integer >= 0 (or -1 in a reply).
    InvalidBulkLength(String),
    /// A `*` header whose count is not an integer.
    InvalidMultibulkLength(String),
    /// An inline command with an unclosed quote, or a closing quote not followed by a blank.
    UnbalancedQuotes,
    /// A reply with arrays nested deeper than `reply_depth_max`.
    ReplyTooDeep { max: usize },
    /// Any other break of the framing, e.g. "expected '$', got 'x'".
    Protocol(String),
    /// Inconsistent [`RespLimits`], found by [`RespLimits::validate`].
    InvalidLimits(String),
}

impl fmt::Display for RespError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RespError::BulkTooLong { len, max } => write!(
                f,
                "Protocol error: invalid bulk length {len}: exceeds bulk_len_max_bytes = {max}"
            ),
            RespError::ArrayTooLong { len, max } => write!(
                f,
                "Protocol error: invalid multibulk length {len}: exceeds array_len_max = {max}"
            ),
            RespError::InlineTooLong { max } => write!(
                f,
                "Protocol error: too big inline request: exceeds inline_len_max_bytes = {max}"
            ),
            RespError::CommandTooLarge { size_bytes, max } => write!(
                f,
                "Protocol error: command of {size_bytes} bytes exceeds \
                 command_size_max_bytes = {max}"
            ),
            RespError::InvalidBulkLength(shown) => {
                write!(f, "Protocol error: invalid bulk length '{shown}'")
            }
            RespError::InvalidMultibulkLength(shown) => {
                write!(f, "Protocol error: invalid multibulk length '{shown}'")
            }
            RespError::UnbalancedQuotes => {
                write!(f, "Protocol error: unbalanced quotes in request")
            }
            RespError::ReplyTooDeep { max } => write!(
                f,
                "Protocol error: reply nests arrays deeper than reply_depth_max = {max}"
            ),
            RespError::Protocol(what) => write!(f, "Protocol error: {what}"),
            RespError::InvalidLimits(what) => write!(f, "invalid RespLimits: {what}"),
        }
    }
}

impl std::error::Error for RespError {}

/// Incremental request parser: feed bytes as they arrive, take complete commands out.
#[derive(Debug)]
pub struct RequestParser {
    limits: RespLimits,
    /// Received bytes; those before `pos` are consumed and wait for compaction.
    buf: Vec<u8>,
    /// Index of the first unconsumed byte.
    pos: usize,
    /// Where the search for the current line's '\n' resumes (`pos <= scan_pos <= buf.len()`),
    /// so a line arriving byte by byte is scanned once, not once per byte.
    scan_pos: usize,
    /// Arguments the multibulk being parsed still expects; 0 between commands.
    args_pending: usize,
    /// Arguments of the multibulk being parsed.
    args: Vec<Vec<u8>>,
    /// Wire size of the multibulk being parsed, including the awaited argument.
    command_size_bytes: usize,
    /// Declared length of the argument whose payload is awaited (its header is consumed).
    bulk_len: Option<usize>,
    /// The first protocol error: the stream cannot be resynchronized after it.
    failed: Option<RespError>,
}

/// What one parsing step achieved.
enum Step {
    /// More bytes are needed.
    Incomplete,
    /// Bytes were consumed (a header, an argument, a skipped line): go on.
    Progress,
    /// A whole command was parsed.
    Command(Vec<Vec<u8>>),
}

impl RequestParser {
    /// Creates a parser that enforces `limits` (which should pass [`RespLimits::validate`]).
    pub fn new(limits: RespLimits) -> Self {
        debug_assert!(limits.validate().is_ok(), "{:?}", limits.validate());
        RequestParser {
            limits,
            buf: Vec::new(),
            pos: 0,
            scan_pos: 0,
            args_pending: 0,
            args: Vec::new(),
            command_size_bytes: 0,
            bulk_len: None,
            failed: None,
        }
    }

    /// Appends received bytes (dropped once a protocol error was returned).
    pub fn feed(&mut self, bytes: &[u8]) {
        if self.failed.is_none() {
            self.compact();
            self.buf.extend_from_slice(bytes);
        }
    }

    /// Returns the next complete command as its argument list, Ok(None) if more bytes are needed,
    /// or Err on a protocol violation (after which the connection should be closed).
    ///
    /// After an Err every later call returns the same Err.
    pub fn next_command(&mut self) -> Result<Option<Vec<Vec<u8>>>, RespError> {
        if let Some(error) = &self.failed {
            return Err(error.clone());
        }
        loop {
            let step = match self.step() {
                Ok(step) => step,
                Err(error) => {
                    self.failed = Some(error.clone());
                    return Err(error);
                }
            };
            match step {
                Step::Incomplete => return Ok(None),
                Step::Progress => {}
                Step::Command(args) => return Ok(Some(args)),
            }
        }
    }

    /// Bytes currently buffered (so the caller can stop reading when this exceeds a bound).
    ///
    /// Counts received bytes not yet parsed into an argument; a bound below
    /// `bulk_len_max_bytes` + 64 would stop a maximal argument from ever completing.
    pub fn buffered_bytes(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Parses one header, argument or inline line at `pos`.
    fn step(&mut self) -> Result<Step, RespError> {
        let Some(&first) = self.buf.get(self.pos) else {
            return Ok(Step::Incomplete);
        };
        if self.args_pending > 0 {
            match self.bulk_len {
                Some(len) => self.parse_bulk_payload(len),
                None => self.parse_bulk_header(first),
            }
        } else if first == b'*' {
            self.parse_multibulk_header()
        } else {
            self.parse_inline()
        }
    }

    /// Parses `*<count>\r\n`; a count <= 0 is skipped, as Redis does.
    fn parse_multibulk_header(&mut self) -> Result<Step, RespError> {
        let Some(nl) = self.find_newline(HEADER_LINE_MAX_BYTES, b'*')? else {
            return Ok(Step::Incomplete);
        };
        let count = header_value(&self.buf[self.pos..nl])?;
        let header_bytes = nl + 1 - self.pos;
        self.consume_to(nl + 1);
        let Ok(count) = u64::try_from(count) else {
            return Ok(Step::Progress);
        };
        let count = self.limits.check_array_len(count)?;
        if count > 0 {
            self.args_pending = count;
            self.args = Vec::with_capacity(count.min(PREALLOC_MAX_ITEMS));
            self.command_size_bytes = header_bytes;
        }
        Ok(Step::Progress)
    }

    /// Parses `$<len>\r\n`, refusing a length over the limits before any payload arrives.
    fn parse_bulk_header(&mut self, first: u8) -> Result<Step, RespError> {
        if first != b'$' {
            let got = first.escape_ascii();
            return Err(RespError::Protocol(format!("expected '$', got '{got}'")));
        }
        let Some(nl) = self.find_newline(HEADER_LINE_MAX_BYTES, b'$')? else {
            return Ok(Step::Incomplete);
        };
        let line = &self.buf[self.pos..nl];
        let len = u64::try_from(header_value(line)?)
            .map_err(|_| RespError::InvalidBulkLength(excerpt(&line[1..])))?;
        let len = self.limits.check_bulk_len(len)?;
        let header_bytes = nl + 1 - self.pos;
        let size_bytes = self
            .command_size_bytes
            .saturating_add(header_bytes)
            .saturating_add(len)
            .saturating_add(CRLF.len());
        let max = self.limits.command_size_max_bytes;
        if size_bytes > max {
            let size_bytes = size_bytes as u64;
            return Err(RespError::CommandTooLarge { size_bytes, max });
        }
        self.command_size_bytes = size_bytes;
        self.bulk_len = Some(len);
        self.consume_to(nl + 1);
        Ok(Step::Progress)
    }

    /// Takes a `len`-byte payload and its CRLF once all of it is buffered.
    fn parse_bulk_payload(&mut self, len: usize) -> Result<Step, RespError> {
        let end = self.pos.saturating_add(len);
        let Some(trailer) = self.buf.get(end..end.saturating_add(CRLF.len())) else {
            return Ok(Step::Incomplete);
        };
        check_trailer(len, trailer)?;
        self.args.push(self.buf[self.pos..end].to_vec());
        self.consume_to(end + CRLF.len());
        self.bulk_len = None;
        self.args_pending -= 1;
        if self.args_pending > 0 {
            return Ok(Step::Progress);
        }
        self.command_size_bytes = 0;
        Ok(Step::Command(std::mem::take(&mut self.args)))
    }

    /// Parses an inline command line; a blank line is skipped.
    fn parse_inline(&mut self) -> Result<Step, RespError> {
        let max = self.limits.inline_len_max_bytes;
        let nl = match scan_line(&self.buf, self.pos, self.scan_pos, max) {
            LineEnd::Found(nl) => nl,
            LineEnd::Pending(scanned) => {
                self.scan_pos = scanned;
                return Ok(Step::Incomplete);
            }
            LineEnd::TooLong => return Err(RespError::InlineTooLong { max }),
        };
        // Like Redis, one '\r' before the '\n' belongs to the line ending.
        let line = &self.buf[self.pos..nl];
        let args = split_inline(line.strip_suffix(b"\r").unwrap_or(line))?;
        self.consume_to(nl + 1);
        Ok(if args.is_empty() {
            Step::Progress
        } else {
            Step::Command(args)
        })
    }

    /// Finds the '\n' ending the `kind` header at `pos`; refuses a header that is too long.
    fn find_newline(&mut self, max_bytes: usize, kind: u8) -> Result<Option<usize>, RespError> {
        match scan_line(&self.buf, self.pos, self.scan_pos, max_bytes) {
            LineEnd::Found(nl) => Ok(Some(nl)),
            LineEnd::Pending(scanned) => {
                self.scan_pos = scanned;
                Ok(None)
            }
            LineEnd::TooLong => Err(bad_line(kind, &self.buf[self.pos + 1..])),
        }
    }

    /// Marks everything before `end` as consumed.
    fn consume_to(&mut self, end: usize) {
        debug_assert!(self.pos <= end && end <= self.buf.len());
        self.pos = end;
        self.scan_pos = end;
    }

    /// Drops consumed bytes when that is cheap relative to what was consumed.
    fn compact(&mut self) {
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.buf.shrink_to(BUF_RETAIN_MAX_BYTES);
        } else if self.pos >= COMPACT_MIN_BYTES && self.pos >= self.buf.len() - self.pos {
            self.buf.drain(..self.pos);
        } else {
            return;
        }
        debug_assert!(self.scan_pos >= self.pos);
        self.scan_pos = self.scan_pos.saturating_sub(self.pos);
        self.pos = 0;
    }
}

/// Where the line starting at some index ends.
enum LineEnd {
    /// Index of its '\n'.
    Found(usize),
    /// No '\n' yet; the search may resume at this index.
    Pending(usize),
    /// More than the allowed bytes precede the '\n' (or the end of the buffer).
    TooLong,
}

/// Looks for the '\n' ending the line at `start`, from `from` on, at most `max_bytes` past
/// `start`: whether a line is too long does not depend on how its bytes were chunked.
fn scan_line(buf: &[u8], start: usize, from: usize, max_bytes: usize) -> LineEnd {
    let window_end = buf.len().min(start.saturating_add(max_bytes).saturating_add(1));
    let from = from.max(start).min(window_end);
    match buf[from..window_end].iter().position(|&b| b == b'\n') {
        Some(i) => LineEnd::Found(from + i),
        None if buf.len().saturating_sub(start) > max_bytes => LineEnd::TooLong,
        None => LineEnd::Pending(window_end),
    }
}

/// The integer of a `*`, `$` or `:` line (type byte included, '\n' excluded).
fn header_value(line: &[u8]) -> Result<i64, RespError> {
    let (kind, body) = line.split_first().unwrap_or((&b'?', &[]));
    body.strip_suffix(b"\r")
        .and_then(parse_i64)
        .ok_or_else(|| bad_line(*kind, body))
}

/// The error for a malformed or overlong line of type `kind` whose body starts with `body`.
fn bad_line(kind: u8, body: &[u8]) -> RespError {
    let Some(body) = body.strip_suffix(b"\r") else {
        let line = excerpt(&[&[kind], body].concat());
        return RespError::Protocol(format!("expected CRLF after '{line}'"));
    };
    let shown = excerpt(body);
    match kind {
        b'$' => RespError::InvalidBulkLength(shown),
        b'*' => RespError::InvalidMultibulkLength(shown),
        _ => RespError::Protocol(format!("invalid integer '{shown}'")),
    }
}

/// Checks the CRLF that must follow a bulk payload of `len` bytes.
fn check_trailer(len: usize, trailer: &[u8]) -> Result<(), RespError> {
    if trailer == CRLF {
        return Ok(());
    }
    let got = excerpt(trailer);
    Err(RespError::Protocol(format!(
        "expected CRLF after a bulk of {len} bytes, got '{got}'"
    )))
}

/// Parses a decimal i64 as Redis's `string2ll` does: only '-' as sign, no leading zeros.
fn parse_i64(digits: &[u8]) -> Option<i64> {
    let (negative, rest) = match digits {
        [b'-', rest @ ..] => (true, rest),
        _ => (false, digits),
    };
    match rest {
        [b'0'] if !negative => return Some(0),
        [b'1'..=b'9', ..] => {}
        _ => return None,
    }
    rest.iter().try_fold(0i64, |value, &d| {
        let d = i64::from(d.checked_sub(b'0').filter(|d| *d <= 9)?);
        let value = value.checked_mul(10)?;
        if negative {
            value.checked_sub(d)
        } else {
            value.checked_add(d)
        }
    })
}

/// Shows at most `EXCERPT_MAX_BYTES` of `bytes` with non-printable bytes escaped.
fn excerpt(bytes: &[u8]) -> String {
    let shown = &bytes[..bytes.len().min(EXCERPT_MAX_BYTES)];
    shown.escape_ascii().to_string()
}

/// C's `isspace`, which Redis uses to separate inline arguments.
fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r')
}

/// The value of one hex digit.
fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Splits an inline line into arguments by the rules of Redis's `sdssplitargs`: blanks
/// separate arguments; "double quotes" take \n \r \t \b \a \\ \" and \xHH escapes (any other
/// escaped byte stands for itself); 'single quotes' take only \'; a closing quote must be
/// followed by a blank or the end of the line.
fn split_inline(line: &[u8]) -> Result<Vec<Vec<u8>>, RespError> {
    // Redis splits a C string, so a NUL byte ends the line.
    let line = line.split(|&b| b == 0).next().unwrap_or_default();
    let mut args = Vec::new();
    let mut i = 0;
    loop {
        while line.get(i).copied().is_some_and(is_c_space) {
            i += 1;
        }
        if i >= line.len() {
            return Ok(args);
        }
        let mut arg = Vec::new();
        let mut quote = None;
        loop {
            let next = line.get(i + 1).copied();
            match (quote, line.get(i).copied()) {
                (None, None | Some(b' ' | b'\n' | b'\r' | b'\t')) => break,
                (Some(_), None) => return Err(RespError::UnbalancedQuotes),
                (None, Some(q @ (b'"' | b'\''))) => {
                    quote = Some(q);
                    i += 1;
                }
                (Some(q), Some(c)) if c == q => {
                    if next.is_some_and(|b| !is_c_space(b)) {
                        return Err(RespError::UnbalancedQuotes);
                    }
                    i += 1;
                    break;
                }
                (Some(b'"'), Some(b'\\')) => {
                    let hex = |at: usize| line.get(at).copied().and_then(hex_value);
                    match (next, hex(i + 2), hex(i + 3)) {
                        (Some(b'x'), Some(high), Some(low)) => {
                            arg.push((high << 4) | low);
                            i += 4;
                        }
                        (Some(escaped), _, _) => {
                            arg.push(match escaped {
                                b'n' => b'\n',
                                b'r' => b'\r',
                                b't' => b'\t',
                                b'b' => b'\x08',
                                b'a' => b'\x07',
                                other => other,
                            });
                            i += 2;
                        }
                        // A trailing backslash: the quote is then left open.
                        (None, _, _) => i += 1,
                    }
                }
                (Some(b'\''), Some(b'\\')) if next == Some(b'\'') => {
                    arg.push(b'\'');
                    i += 2;
                }
                (_, Some(c)) => {
                    arg.push(c);
                    i += 1;
                }
            }
        }
        args.push(arg);
    }
}

/// A RESP2 reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `+OK`: a status line.
    Simple(String),
    /// `-ERR ...`: an error line, starting with its prefix word.
    Error(String),
    /// `:42`.
    Integer(i64),
    /// `$3\r\nfoo`: a binary-safe string.
    Bulk(Vec<u8>),
    /// `$-1`: the null bulk string (a missing key).
    Nil,
    /// `*2\r\n...`: a list of replies.
    Array(Vec<Reply>),
    /// `*-1`: the null array.
    NilArray,
}

impl Reply {
    /// The `+OK` status.
    pub fn ok() -> Reply {
        Reply::Simple("OK".to_owned())
    }

    /// An error reply; `msg` starts with its prefix word ("ERR unknown command 'foo'") and
    /// has any '\r' or '\n' replaced by a space so the stream cannot desync.
    pub fn error(msg: impl Into<String>) -> Reply {
        let msg: String = msg.into();
        Reply::Error(msg.replace(['\r', '\n'], " "))
    }

    /// Appends the wire encoding.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Reply::Simple(line) => push_line(out, b'+', line),
            Reply::Error(line) => push_line(out, b'-', line),
            Reply::Integer(n) => {
                out.push(b':');
                if *n < 0 {
                    out.push(b'-');
                }
                push_decimal(out, n.unsigned_abs());
                out.extend_from_slice(CRLF);
            }
            Reply::Bulk(bytes) => push_bulk(out, bytes),
            Reply::Nil => out.extend_from_slice(b"$-1\r\n"),
            Reply::Array(items) => {
                push_header(out, b'*', items.len());
                for item in items {
                    item.encode(out);
                }
            }
            Reply::NilArray => out.extend_from_slice(b"*-1\r\n"),
        }
    }
}

/// Parses one reply from the front of `buf` (for the Rust client and tests): Ok(Some((reply, bytes_used))), Ok(None) if incomplete.
///
/// Each call parses from the start of `buf`; call it once per read, not once per byte.
pub fn parse_reply(
    buf: &[u8],
    limits: &RespLimits,
) -> Result<Option<(Reply, usize)>, RespError> {
    parse_reply_at(buf, 0, limits, 0)
}

/// Parses the reply at `start`, inside `depth` arrays; returns it and the index past it.
fn parse_reply_at(
    buf: &[u8],
    start: usize,
    limits: &RespLimits,
    depth: usize,
) -> Result<Option<(Reply, usize)>, RespError> {
    let Some(&kind) = buf.get(start) else {
        return Ok(None);
    };
    let line_max_bytes = match kind {
        b'+' | b'-' => usize::MAX,
        b':' | b'$' | b'*' => HEADER_LINE_MAX_BYTES,
        _ => {
            let got = kind.escape_ascii();
            return Err(RespError::Protocol(format!(
                "expected a reply type ('+', '-', ':', '$' or '*'), got '{got}'"
            )));
        }
    };
    let nl = match scan_line(buf, start, start, line_max_bytes) {
        LineEnd::Found(nl) => nl,
        LineEnd::Pending(_) => return Ok(None),
        LineEnd::TooLong => return Err(bad_line(kind, &buf[start + 1..])),
    };
    let next = nl + 1;
    if let b'+' | b'-' = kind {
        let line = &buf[start + 1..nl];
        let text = line.strip_suffix(b"\r").ok_or_else(|| bad_line(kind, line))?;
        let text = String::from_utf8_lossy(text).into_owned();
        let reply = if kind == b'+' {
            Reply::Simple(text)
        } else {
            Reply::Error(text)
        };
        return Ok(Some((reply, next)));
    }
    let value = header_value(&buf[start..nl])?;
    match kind {
        b':' => Ok(Some((Reply::Integer(value), next))),
        b'$' if value == -1 => Ok(Some((Reply::Nil, next))),
        b'*' if value == -1 => Ok(Some((Reply::NilArray, next))),
        b'$' => {
            let len = u64::try_from(value)
                .map_err(|_| RespError::InvalidBulkLength(value.to_string()))?;
            let len = limits.check_bulk_len(len)?;
            let end = next.saturating_add(len);
            let Some(trailer) = buf.get(end..end.saturating_add(CRLF.len())) else {
                return Ok(None);
            };
            check_trailer(len, trailer)?;
            Ok(Some((Reply::Bulk(buf[next..end].to_vec()), end + CRLF.len())))
        }
        _ => {
            let count = u64::try_from(value)
                .map_err(|_| RespError::InvalidMultibulkLength(value.to_string()))?;
            let count = limits.check_array_len(count)?;
            if depth >= limits.reply_depth_max {
                let max = limits.reply_depth_max;
                return Err(RespError::ReplyTooDeep { max });
            }
            let mut items = Vec::with_capacity(count.min(PREALLOC_MAX_ITEMS));
            let mut at = next;
            for _ in 0..count {
                let Some((item, after)) = parse_reply_at(buf, at, limits, depth + 1)? else {
                    return Ok(None);
                };
                items.push(item);
                at = after;
            }
            Ok(Some((Reply::Array(items), at)))
        }
    }
}

/// Encodes a command as a RESP multibulk array (for the client side).
pub fn encode_command(args: &[&[u8]], out: &mut Vec<u8>) {
    push_header(out, b'*', args.len());
    for arg in args {
        push_bulk(out, arg);
    }
}

/// Appends a `+`/`-` line with any '\r' or '\n' in `text` replaced by a space.
fn push_line(out: &mut Vec<u8>, kind: u8, text: &str) {
    out.push(kind);
    out.extend(text.bytes().map(|b| match b {
        b'\r' | b'\n' => b' ',
        other => other,
    }));
    out.extend_from_slice(CRLF);
}

/// Appends `$<len>\r\n<bytes>\r\n`.
fn push_bulk(out: &mut Vec<u8>, bytes: &[u8]) {
    push_header(out, b'$', bytes.len());
    out.extend_from_slice(bytes);
    out.extend_from_slice(CRLF);
}

/// Appends `<kind><len>\r\n`.
fn push_header(out: &mut Vec<u8>, kind: u8, len: usize) {
    out.push(kind);
    push_decimal(out, len as u64);
    out.extend_from_slice(CRLF);
}

/// Appends `n` in decimal without allocating.
fn push_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}
