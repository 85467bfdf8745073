//! RESP, the Redis wire protocol, as a pure codec: bytes in, commands out; replies in,
//! bytes out. Requests are the same in RESP2 and RESP3; replies are encoded in the
//! connection's [`Protocol`] (RESP2 until the client sends `HELLO 3`): a map, a set, a
//! double or a null has its own RESP3 type and falls back to RESP2's arrays, bulk strings
//! and `$-1`/`*-1`. No push messages are sent.
//!
//! The runtime's connection task feeds each read into a [`RequestParser`] and hands the
//! commands it yields to the core; the core's answers come back as [`Reply`] values encoded
//! here. Nothing in this module does I/O or waits (the sans-IO shape of quinn-proto), so it
//! is tested byte by byte without sockets. Every length a client declares is checked against
//! [`RespLimits`] before anything is buffered or allocated for it, and no input can make this
//! module panic: a malformed stream yields a [`RespError`] worded like Redis's, after which
//! the connection is closed. [`parse_reply`] and [`encode_command`] are the client side.

pub use crate::core::types::format_double;
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

/// A bulk argument this long or longer is read straight into an allocation of
/// its declared length (as Redis does from 32 KiB, `PROTO_MBULK_BIG_ARG`) and
/// handed over as it is: no copy out of the buffer, no buffer doubling on
/// the way (a 16 MiB SET cost a 16 MiB copy plus 16 MiB of regrowth copies on
/// the executor thread, issue 14). The declared length is bounded by
/// `bulk_len_max_bytes` and `command_size_max_bytes` before anything is
/// reserved; reserved pages not yet received cost address space only.
const DIRECT_BULK_MIN_BYTES: usize = 32 * 1024;

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

    /// Checks a declared bulk length: not negative, at most `bulk_len_max_bytes`.
    fn check_bulk_len(&self, value: i64) -> Result<usize, RespError> {
        let len =
            u64::try_from(value).map_err(|_| RespError::InvalidBulkLength(value.to_string()))?;
        let max = self.bulk_len_max_bytes;
        let fits = usize::try_from(len).ok().filter(|&n| n <= max);
        fits.ok_or(RespError::BulkTooLong { len, max })
    }

    /// Checks a declared array length: not negative, at most `array_len_max`.
    fn check_array_len(&self, value: i64) -> Result<usize, RespError> {
        let len = u64::try_from(value)
            .map_err(|_| RespError::InvalidMultibulkLength(value.to_string()))?;
        let max = self.array_len_max;
        let fits = usize::try_from(len).ok().filter(|&n| n <= max);
        fits.ok_or(RespError::ArrayTooLong { len, max })
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
    /// The payload received so far of an awaited argument of at least
    /// `DIRECT_BULK_MIN_BYTES` (its whole length reserved at its header);
    /// empty otherwise.
    bulk: Vec<u8>,
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
            bulk: Vec::new(),
            failed: None,
        }
    }

    /// Appends received bytes (dropped once a protocol error was returned).
    pub fn feed(&mut self, mut bytes: &[u8]) {
        if self.failed.is_some() {
            return;
        }
        // A big argument's payload goes straight to its own allocation.
        if let Some(len) = self.bulk_len.filter(|&len| len >= DIRECT_BULK_MIN_BYTES) {
            if self.pos == self.buf.len() {
                let n = (len - self.bulk.len()).min(bytes.len());
                self.bulk.extend_from_slice(&bytes[..n]);
                bytes = &bytes[n..];
            }
        }
        self.compact();
        self.buf.extend_from_slice(bytes);
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
            match self
                .step()
                .inspect_err(|error| self.failed = Some(error.clone()))?
            {
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
        self.buf.len() - self.pos + self.bulk.len()
    }

    /// Parses one header, argument or inline line at `pos`.
    fn step(&mut self) -> Result<Step, RespError> {
        let Some(&first) = self.buf.get(self.pos) else {
            return Ok(Step::Incomplete);
        };
        if let Some(len) = self.bulk_len.filter(|&len| len >= DIRECT_BULK_MIN_BYTES) {
            return self.parse_big_bulk_payload(len);
        }
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
        let too_long = |rest: &[u8]| bad_number(b'*', rest);
        let Some(nl) = self.find_newline(HEADER_LINE_MAX_BYTES, too_long)? else {
            return Ok(Step::Incomplete);
        };
        let count = header_value(&self.buf[self.pos..nl])?;
        let header_bytes = nl + 1 - self.pos;
        self.consume_to(nl + 1);
        if count > 0 {
            let count = self.limits.check_array_len(count)?;
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
        let too_long = |rest: &[u8]| bad_number(b'$', rest);
        let Some(nl) = self.find_newline(HEADER_LINE_MAX_BYTES, too_long)? else {
            return Ok(Step::Incomplete);
        };
        let len = self
            .limits
            .check_bulk_len(header_value(&self.buf[self.pos..nl])?)?;
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
        if len >= DIRECT_BULK_MIN_BYTES {
            self.bulk = Vec::with_capacity(len);
        }
        self.consume_to(nl + 1);
        Ok(Step::Progress)
    }

    /// Moves what has arrived of a big argument's payload into its own
    /// allocation, then takes it (no copy) once it and its CRLF are there.
    fn parse_big_bulk_payload(&mut self, len: usize) -> Result<Step, RespError> {
        let n = (len - self.bulk.len()).min(self.buf.len() - self.pos);
        self.bulk
            .extend_from_slice(&self.buf[self.pos..self.pos + n]);
        self.consume_to(self.pos + n);
        if self.bulk.len() < len {
            return Ok(Step::Incomplete);
        }
        let Some(trailer) = self.buf.get(self.pos..self.pos + CRLF.len()) else {
            return Ok(Step::Incomplete);
        };
        check_trailer(len, trailer)?;
        self.consume_to(self.pos + CRLF.len());
        let arg = std::mem::take(&mut self.bulk);
        Ok(self.push_arg(arg))
    }

    /// Takes a `len`-byte payload and its CRLF once all of it is buffered.
    fn parse_bulk_payload(&mut self, len: usize) -> Result<Step, RespError> {
        let end = self.pos.saturating_add(len);
        let Some(trailer) = self.buf.get(end..end.saturating_add(CRLF.len())) else {
            return Ok(Step::Incomplete);
        };
        check_trailer(len, trailer)?;
        let arg = self.buf[self.pos..end].to_vec();
        self.consume_to(end + CRLF.len());
        Ok(self.push_arg(arg))
    }

    /// Adds a whole argument: the command is complete with its last one.
    fn push_arg(&mut self, arg: Vec<u8>) -> Step {
        self.args.push(arg);
        self.bulk_len = None;
        self.args_pending -= 1;
        if self.args_pending > 0 {
            return Step::Progress;
        }
        self.command_size_bytes = 0;
        Step::Command(std::mem::take(&mut self.args))
    }

    /// Parses an inline command line; a blank line is skipped.
    fn parse_inline(&mut self) -> Result<Step, RespError> {
        let max = self.limits.inline_len_max_bytes;
        let Some(nl) = self.find_newline(max, |_| RespError::InlineTooLong { max })? else {
            return Ok(Step::Incomplete);
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

    /// Finds the '\n' ending the line at `pos`, or the error for more than `max_bytes`
    /// before it, made from the line's bytes after its first.
    fn find_newline(
        &mut self,
        max_bytes: usize,
        too_long: impl FnOnce(&[u8]) -> RespError,
    ) -> Result<Option<usize>, RespError> {
        match scan_line(&self.buf, self.pos, self.scan_pos, max_bytes) {
            LineEnd::Found(nl) => Ok(Some(nl)),
            LineEnd::Pending(scanned) => {
                self.scan_pos = scanned;
                Ok(None)
            }
            LineEnd::TooLong => Err(too_long(&self.buf[self.pos + 1..])),
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
    let window_end = buf
        .len()
        .min(start.saturating_add(max_bytes).saturating_add(1));
    let from = from.max(start).min(window_end);
    match buf[from..window_end].iter().position(|&b| b == b'\n') {
        Some(i) => LineEnd::Found(from + i),
        None if buf.len().saturating_sub(start) > max_bytes => LineEnd::TooLong,
        None => LineEnd::Pending(window_end),
    }
}

/// The integer of a `*`, `$` or `:` line (type byte included, '\n' excluded).
fn header_value(line: &[u8]) -> Result<i64, RespError> {
    let (&kind, body) = line.split_first().unwrap_or((&b'?', &[]));
    let Some(digits) = body.strip_suffix(b"\r") else {
        return Err(missing_cr(line));
    };
    parse_i64(digits).ok_or_else(|| bad_number(kind, digits))
}

/// The error for a line (type byte included) that ends in '\n' without '\r'.
fn missing_cr(line: &[u8]) -> RespError {
    let line = excerpt(line);
    RespError::Protocol(format!("expected CRLF after '{line}'"))
}

/// The error for a `*`, `$` or `:` line whose number is malformed or overlong.
fn bad_number(kind: u8, digits: &[u8]) -> RespError {
    let shown = excerpt(digits);
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

/// Which reply encoding a connection speaks (`HELLO 2` / `HELLO 3`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Protocol {
    /// RESP2: every connection starts here.
    #[default]
    Resp2,
    /// RESP3: maps, sets, doubles and one null.
    Resp3,
}

/// A reply, encoded in RESP2 or RESP3 by [`Reply::encode`].
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
    /// `$-1` (RESP3 `_`): the null bulk string (a missing key).
    Nil,
    /// `*2\r\n...`: a list of replies.
    Array(Vec<Reply>),
    /// `*-1` (RESP3 `_`): the null array.
    NilArray,
    /// RESP3 `%2\r\n` key, value, ...; RESP2 a flat array of keys and values
    /// (HGETALL, CONFIG GET, HELLO).
    Map(Vec<(Reply, Reply)>),
    /// RESP3 `~2\r\n`; RESP2 an array (SMEMBERS, SINTER ...).
    Set(Vec<Reply>),
    /// RESP3 `,1.5\r\n`; RESP2 the same text as a bulk string. The text is
    /// the number as Redis prints it ("1.5", "inf"), so replies compare exactly.
    Double(String),
    /// Pairs that RESP3 nests (`*2` of `*2` arrays) and RESP2 flattens
    /// (ZRANGE WITHSCORES, HRANDFIELD WITHVALUES).
    Pairs(Vec<(Reply, Reply)>),
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

    /// A double as Redis prints it: the shortest text that reads back the
    /// same number, "inf" and "-inf" for the infinities.
    pub fn double(v: f64) -> Reply {
        Reply::Double(format_double(v))
    }

    /// Appends the wire encoding in `protocol`.
    pub fn encode(&self, out: &mut Vec<u8>, protocol: Protocol) {
        let resp3 = protocol == Protocol::Resp3;
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
            Reply::Nil | Reply::NilArray if resp3 => out.extend_from_slice(b"_\r\n"),
            Reply::Nil => out.extend_from_slice(b"$-1\r\n"),
            Reply::Array(items) => {
                push_header(out, b'*', items.len());
                for item in items {
                    item.encode(out, protocol);
                }
            }
            Reply::NilArray => out.extend_from_slice(b"*-1\r\n"),
            Reply::Map(pairs) => {
                if resp3 {
                    push_header(out, b'%', pairs.len());
                } else {
                    push_header(out, b'*', pairs.len() * 2);
                }
                for (k, v) in pairs {
                    k.encode(out, protocol);
                    v.encode(out, protocol);
                }
            }
            Reply::Set(items) => {
                push_header(out, if resp3 { b'~' } else { b'*' }, items.len());
                for item in items {
                    item.encode(out, protocol);
                }
            }
            Reply::Double(text) if resp3 => push_line(out, b',', text),
            Reply::Double(text) => push_bulk(out, text.as_bytes()),
            Reply::Pairs(pairs) => {
                if resp3 {
                    push_header(out, b'*', pairs.len());
                } else {
                    push_header(out, b'*', pairs.len() * 2);
                }
                for (a, b) in pairs {
                    if resp3 {
                        push_header(out, b'*', 2);
                    }
                    a.encode(out, protocol);
                    b.encode(out, protocol);
                }
            }
        }
    }
}

/// Parses one reply from the front of `buf` (for the Rust client and tests).
///
/// Returns Ok(Some((reply, bytes_used))), or Ok(None) if incomplete. Each call parses from
/// the start of `buf`, so call it once per read, not once per byte.
pub fn parse_reply(buf: &[u8], limits: &RespLimits) -> Result<Option<(Reply, usize)>, RespError> {
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
        b'+' | b'-' | b',' => usize::MAX,
        b':' | b'$' | b'*' | b'%' | b'~' | b'_' => HEADER_LINE_MAX_BYTES,
        _ => {
            let got = kind.escape_ascii();
            return Err(RespError::Protocol(format!(
                "expected a reply type ('+', '-', ':', '$', '*', '%', '~', ',' or '_'), got '{got}'"
            )));
        }
    };
    let nl = match scan_line(buf, start, start, line_max_bytes) {
        LineEnd::Found(nl) => nl,
        LineEnd::Pending(_) => return Ok(None),
        LineEnd::TooLong => return Err(bad_number(kind, &buf[start + 1..])),
    };
    let next = nl + 1;
    if let b'+' | b'-' | b',' | b'_' = kind {
        let line = &buf[start..nl];
        let text = line[1..]
            .strip_suffix(b"\r")
            .ok_or_else(|| missing_cr(line))?;
        let text = String::from_utf8_lossy(text).into_owned();
        let reply = match kind {
            b'+' => Reply::Simple(text),
            b'-' => Reply::Error(text),
            b',' => Reply::Double(text),
            _ if text.is_empty() => Reply::Nil,
            _ => {
                let shown = excerpt(text.as_bytes());
                return Err(RespError::Protocol(format!("invalid null '{shown}'")));
            }
        };
        return Ok(Some((reply, next)));
    }
    let value = header_value(&buf[start..nl])?;
    match kind {
        b':' => Ok(Some((Reply::Integer(value), next))),
        b'$' if value == -1 => Ok(Some((Reply::Nil, next))),
        b'*' if value == -1 => Ok(Some((Reply::NilArray, next))),
        b'$' => {
            let len = limits.check_bulk_len(value)?;
            let end = next.saturating_add(len);
            let Some(trailer) = buf.get(end..end.saturating_add(CRLF.len())) else {
                return Ok(None);
            };
            check_trailer(len, trailer)?;
            Ok(Some((
                Reply::Bulk(buf[next..end].to_vec()),
                end + CRLF.len(),
            )))
        }
        _ => {
            let count = limits.check_array_len(value)?;
            if depth >= limits.reply_depth_max {
                let max = limits.reply_depth_max;
                return Err(RespError::ReplyTooDeep { max });
            }
            // A map of n pairs is 2n replies.
            let slots = if kind == b'%' {
                limits.check_array_len(value.saturating_mul(2))?
            } else {
                count
            };
            let mut items = Vec::with_capacity(slots.min(PREALLOC_MAX_ITEMS));
            let mut at = next;
            for _ in 0..slots {
                let Some((item, after)) = parse_reply_at(buf, at, limits, depth + 1)? else {
                    return Ok(None);
                };
                items.push(item);
                at = after;
            }
            let reply = match kind {
                b'~' => Reply::Set(items),
                b'%' => {
                    let mut pairs = Vec::with_capacity(count.min(PREALLOC_MAX_ITEMS));
                    let mut items = items.into_iter();
                    while let (Some(k), Some(v)) = (items.next(), items.next()) {
                        pairs.push((k, v));
                    }
                    Reply::Map(pairs)
                }
                _ => Reply::Array(items),
            };
            Ok(Some((reply, at)))
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::collection::vec;
    use proptest::prelude::*;

    type Parsed = (Vec<Vec<Vec<u8>>>, Option<RespError>);

    /// Small limits, so that property tests reach every bound.
    fn small_limits() -> RespLimits {
        RespLimits {
            bulk_len_max_bytes: 16,
            array_len_max: 8,
            inline_len_max_bytes: 24,
            command_size_max_bytes: 64,
            reply_depth_max: 3,
        }
    }

    fn strings(args: &[&str]) -> Vec<Vec<u8>> {
        args.iter().map(|a| a.as_bytes().to_vec()).collect()
    }

    /// Feeds `chunks` one by one, draining commands after each, until the first error.
    fn parse_chunks<'a>(limits: RespLimits, chunks: impl IntoIterator<Item = &'a [u8]>) -> Parsed {
        let mut parser = RequestParser::new(limits);
        let mut commands = Vec::new();
        for chunk in chunks {
            parser.feed(chunk);
            loop {
                match parser.next_command() {
                    Ok(Some(command)) => commands.push(command),
                    Ok(None) => break,
                    Err(error) => return (commands, Some(error)),
                }
            }
        }
        (commands, None)
    }

    fn parse_all(input: &[u8]) -> Parsed {
        parse_chunks(RespLimits::default(), [input])
    }

    #[test]
    fn each_request_form_parses() {
        let cases: &[(&[u8], &[&[&str]])] = &[
            (b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", &[&["GET", "k"]]),
            (b"*2\r\n$0\r\n\r\n$4\r\na\r\nb\r\n", &[&["", "a\r\nb"]]),
            (
                b"PING\r\nset k \"hello world\"\r\n",
                &[&["PING"], &["set", "k", "hello world"]],
            ),
            // A bare '\n' ends an inline line; blank lines, `*0` and `*-1` are skipped.
            (
                b"ECHO a\n\r\n\n \t \r\n*0\r\n*-1\r\nPING\r\n",
                &[&["ECHO", "a"], &["PING"]],
            ),
        ];
        for (input, expected) in cases {
            let expected = expected.iter().map(|c| strings(c)).collect();
            assert_eq!(
                parse_all(input),
                (expected, None),
                "{}",
                input.escape_ascii()
            );
        }
    }

    #[test]
    fn pipelined_commands_in_one_feed() {
        let mut input = Vec::new();
        for i in 0..50 {
            encode_command(&[b"INCR", format!("k{i}").as_bytes()], &mut input);
            input.extend_from_slice(b"PING\r\n");
        }
        let (commands, error) = parse_all(&input);
        assert_eq!((commands.len(), error), (100, None));
        assert_eq!(
            commands[98..],
            [strings(&["INCR", "k49"]), strings(&["PING"])]
        );
    }

    #[test]
    fn every_split_point_gives_the_same_commands() {
        let input: &[u8] =
            b"*2\r\n$3\r\nGET\r\n$4\r\na\r\nb\r\nset k \"x\\ty\" 'it\\'s'\n*0\r\nPING\r\n";
        let whole = parse_all(input);
        assert_eq!((whole.0.len(), &whole.1), (3, &None));
        for split in 0..=input.len() {
            let (left, right) = input.split_at(split);
            assert_eq!(parse_chunks(RespLimits::default(), [left, right]), whole);
        }
        assert_eq!(parse_chunks(RespLimits::default(), input.chunks(1)), whole);
    }

    #[test]
    fn inline_quoting_follows_redis() {
        let cases: &[(&[u8], &[&[u8]])] = &[
            (b"set k \"hello world\"", &[b"set", b"k", b"hello world"]),
            (b"\"\\n\\r\\t\\b\\a\\\\\\\"\\q\"", &[b"\n\r\t\x08\x07\\\"q"]),
            (b"\"\\x41\\x7a\\xFF\\xZZ\"", &[b"Az\xffxZZ"]),
            (b"'it\\'s' '\\n\\\"'", &[b"it's", b"\\n\\\""]),
            (b"\"\" '' x", &[b"", b"", b"x"]),
            (b"a\"b c\" d'e'", &[b"ab c", b"de"]),
            (b"  a\tb\x0bc  ", &[b"a", b"b\x0bc"]),
            // Redis splits a C string: a NUL byte ends the line.
            (b"a b\0c d", &[b"a", b"b"]),
        ];
        for (line, expected) in cases {
            let expected = expected.iter().map(|a| a.to_vec()).collect();
            assert_eq!(split_inline(line), Ok(expected), "{}", line.escape_ascii());
        }
        for line in [
            &b"\"abc"[..],
            b"'abc",
            b"\"abc\"def",
            b"'abc'def",
            b"\"abc\\",
        ] {
            let result = split_inline(line);
            assert_eq!(
                result,
                Err(RespError::UnbalancedQuotes),
                "{}",
                line.escape_ascii()
            );
        }
    }

    #[test]
    fn errors_read_like_redis() {
        let (default, small) = (RespLimits::default(), small_limits());
        let cases: &[(&RespLimits, &[u8], &str)] = &[
            (&default, b"*abc\r\n", "invalid multibulk length 'abc'"),
            (&default, b"*01\r\n", "invalid multibulk length '01'"),
            (&default, b"*1\n", "expected CRLF after '*1'"),
            (&default, b"*1\r\n$x\r\n", "invalid bulk length 'x'"),
            (&default, b"*1\r\n$-1\r\n", "invalid bulk length '-1'"),
            (&default, b"*1\r\nx", "expected '$', got 'x'"),
            (
                &default,
                b"*1\r\n$1\r\nab\r\n",
                "expected CRLF after a bulk of 1 bytes, got 'b\\r'",
            ),
            (&default, b"get \"k\r\n", "unbalanced quotes in request"),
            (
                &default,
                b"*1\r\n$67108865\r\n",
                "invalid bulk length 67108865: exceeds bulk_len_max_bytes = 67108864",
            ),
            (
                &default,
                b"*1048577\r\n",
                "invalid multibulk length 1048577: exceeds array_len_max = 1048576",
            ),
            (
                &small,
                &[b'a'; 25],
                "too big inline request: exceeds inline_len_max_bytes = 24",
            ),
            // 4 + 3 * (5 + 16 + 2) bytes, though each argument fits bulk_len_max_bytes.
            (
                &small,
                b"*3\r\n$16\r\n0123456789abcdef\r\n$16\r\n0123456789abcdef\r\n$16\r\n",
                "command of 73 bytes exceeds command_size_max_bytes = 64",
            ),
        ];
        for (limits, input, expected) in cases {
            let error = parse_chunks((*limits).clone(), [*input])
                .1
                .expect("an error");
            let expected = format!("Protocol error: {expected}");
            assert_eq!(error.to_string(), expected, "{}", input.escape_ascii());
        }
    }

    #[test]
    fn limits_are_enforced_before_buffering() {
        // The header of a 1 GiB bulk is refused before any of its payload is sent.
        let mut parser = RequestParser::new(RespLimits::default());
        parser.feed(b"*2\r\n$3\r\nSET\r\n$1073741824\r");
        assert_eq!(parser.next_command(), Ok(None));
        parser.feed(b"\n");
        let max = RespLimits::default().bulk_len_max_bytes;
        assert_eq!(
            parser.next_command(),
            Err(RespError::BulkTooLong { len: 1 << 30, max })
        );
        // Headers and inline lines too long to be valid are refused without their '\n'.
        let digits = [b'1'; 40];
        let (_, error) = parse_all(&[b"*1\r\n$", &digits[..]].concat());
        assert_eq!(error, Some(RespError::InvalidBulkLength("1".repeat(32))));
        let (_, error) = parse_all(&[b"*", &digits[..]].concat());
        assert_eq!(
            error,
            Some(RespError::InvalidMultibulkLength("1".repeat(32)))
        );
        let max = RespLimits::default().inline_len_max_bytes;
        let line = vec![b'a'; max];
        let mut parser = RequestParser::new(RespLimits::default());
        parser.feed(&line);
        assert_eq!(parser.next_command(), Ok(None));
        parser.feed(b"a");
        assert_eq!(parser.next_command(), Err(RespError::InlineTooLong { max }));
        // A line of exactly inline_len_max_bytes is fine, however it is chunked.
        let chunks = line.chunks(1000).chain([&b"\n"[..]]);
        let parsed = parse_chunks(RespLimits::default(), chunks);
        assert_eq!(parsed, (vec![vec![line]], None));
    }

    #[test]
    fn errors_are_sticky_and_stop_buffering() {
        let mut parser = RequestParser::new(RespLimits::default());
        parser.feed(b"*1\r\n!PING\r\n");
        let expected = Err(RespError::Protocol("expected '$', got '!'".to_owned()));
        assert_eq!(parser.next_command(), expected);
        parser.feed(b"PING\r\n");
        assert_eq!(parser.next_command(), expected);
        assert_eq!(parser.buffered_bytes(), b"!PING\r\n".len());
    }

    #[test]
    fn a_big_argument_is_read_into_one_allocation_of_its_length() {
        // Any split of the stream gives the same commands; the big argument
        // arrives in an allocation of exactly its length (reserved once at
        // its header, handed over without a copy), and a command pipelined
        // behind it is not lost (issue 14).
        let value: Vec<u8> = (0..DIRECT_BULK_MIN_BYTES * 3 + 7)
            .map(|i| i as u8)
            .collect();
        let mut input = Vec::new();
        encode_command(&[b"SET", b"k", &value], &mut input);
        encode_command(&[b"GET", b"k"], &mut input);
        for chunk in [1, 2, 1000, 16 * 1024, value.len(), input.len()] {
            let (commands, error) = parse_chunks(RespLimits::default(), input.chunks(chunk));
            assert_eq!(error, None, "chunks of {chunk}");
            assert_eq!(commands.len(), 2, "chunks of {chunk}");
            assert_eq!(commands[0][..2], strings(&["SET", "k"])[..]);
            assert!(
                commands[0][2] == value,
                "chunks of {chunk}: the value differs"
            );
            assert_eq!(commands[0][2].capacity(), value.len(), "chunks of {chunk}");
            assert_eq!(commands[1], strings(&["GET", "k"]));
        }
        // Received but not yet an argument: a half-sent command.
        let mut parser = RequestParser::new(RespLimits::default());
        parser.feed(&input[..input.len() / 2]);
        assert_eq!(parser.next_command(), Ok(None));
        assert_eq!(
            parser.buffered_bytes(),
            input.len() / 2
                - b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n".len()
                - format!("${}\r\n", value.len()).len()
        );
        // A bad trailer after a big argument is refused, as after a small one.
        let mut bad = input[..input.len() - b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n".len()].to_vec();
        let crlf = bad.len() - 2;
        bad[crlf] = b'x';
        let (commands, error) = parse_chunks(RespLimits::default(), bad.chunks(5000));
        assert!(commands.is_empty());
        assert!(
            matches!(&error, Some(RespError::Protocol(m)) if m.contains("expected CRLF")),
            "{error:?}"
        );
    }

    #[test]
    fn consumed_bytes_are_compacted() {
        let mut command = Vec::new();
        encode_command(&[b"SET", b"key", b"value"], &mut command);
        let mut parser = RequestParser::new(RespLimits::default());
        // One command is always left behind, so the buffer never empties by itself.
        parser.feed(&command);
        for _ in 0..10_000 {
            parser.feed(&command);
            assert_eq!(
                parser.next_command(),
                Ok(Some(strings(&["SET", "key", "value"])))
            );
            assert_eq!(parser.buffered_bytes(), command.len());
            assert!(parser.buf.len() <= 2 * COMPACT_MIN_BYTES + command.len());
        }
        // After a huge argument the buffer gives its memory back.
        command.clear();
        encode_command(&[b"SET", b"k", &vec![b'v'; 1 << 20]], &mut command);
        parser.feed(&command);
        assert!(parser.next_command().is_ok_and(|c| c.is_some()));
        assert!(parser.next_command().is_ok_and(|c| c.is_some()));
        parser.feed(b"PING\r\n");
        assert_eq!(parser.buffered_bytes(), 6);
        assert!(parser.buf.capacity() <= BUF_RETAIN_MAX_BYTES);
    }

    #[test]
    fn limits_are_validated() {
        assert_eq!(RespLimits::default().validate(), Ok(()));
        assert_eq!(small_limits().validate(), Ok(()));
        let cases = [
            (
                RespLimits {
                    command_size_max_bytes: 10,
                    ..small_limits()
                },
                "command_size_max_bytes = 10 is below bulk_len_max_bytes = 16; \
                 raise command_size_max_bytes or lower bulk_len_max_bytes",
            ),
            (
                RespLimits {
                    array_len_max: 0,
                    ..small_limits()
                },
                "array_len_max = 0 would refuse every request; raise it",
            ),
        ];
        for (limits, expected) in cases {
            let error = limits.validate().unwrap_err();
            assert_eq!(error.to_string(), format!("invalid RespLimits: {expected}"));
        }
    }

    #[test]
    fn replies_and_commands_encode_exactly() {
        let nested = Reply::Array(vec![Reply::Integer(-7), Reply::Nil, Reply::NilArray]);
        let cases = [
            (Reply::ok(), &b"+OK\r\n"[..]),
            (Reply::error("ERR no\r\nsuch"), b"-ERR no  such\r\n"),
            (Reply::Simple("a\nb".to_owned()), b"+a b\r\n"),
            (Reply::Integer(i64::MIN), b":-9223372036854775808\r\n"),
            (Reply::Bulk(b"a\r\nb".to_vec()), b"$4\r\na\r\nb\r\n"),
            (Reply::Bulk(Vec::new()), b"$0\r\n\r\n"),
            (nested, b"*3\r\n:-7\r\n$-1\r\n*-1\r\n"),
        ];
        for (reply, expected) in cases {
            let mut out = Vec::new();
            reply.encode(&mut out, Protocol::Resp2);
            assert_eq!(
                out.escape_ascii().to_string(),
                expected.escape_ascii().to_string()
            );
        }
        assert_eq!(Reply::error("ERR a\nb"), Reply::Error("ERR a b".to_owned()));
    }

    #[test]
    fn resp3_types_fall_back_to_resp2_shapes() {
        let b = |s: &str| Reply::Bulk(s.as_bytes().to_vec());
        let map = Reply::Map(vec![(b("f"), b("v")), (b("g"), Reply::Nil)]);
        let set = Reply::Set(vec![b("a"), Reply::Integer(1)]);
        let pairs = Reply::Pairs(vec![(b("m"), Reply::double(1.5))]);
        let cases: [(Reply, &[u8], &[u8]); 7] = [
            (
                map,
                b"*4\r\n$1\r\nf\r\n$1\r\nv\r\n$1\r\ng\r\n$-1\r\n",
                b"%2\r\n$1\r\nf\r\n$1\r\nv\r\n$1\r\ng\r\n_\r\n",
            ),
            (set, b"*2\r\n$1\r\na\r\n:1\r\n", b"~2\r\n$1\r\na\r\n:1\r\n"),
            (Reply::double(2.0), b"$1\r\n2\r\n", b",2\r\n"),
            (
                Reply::double(f64::NEG_INFINITY),
                b"$4\r\n-inf\r\n",
                b",-inf\r\n",
            ),
            (
                pairs,
                b"*2\r\n$1\r\nm\r\n$3\r\n1.5\r\n",
                b"*1\r\n*2\r\n$1\r\nm\r\n,1.5\r\n",
            ),
            (Reply::Nil, b"$-1\r\n", b"_\r\n"),
            (Reply::NilArray, b"*-1\r\n", b"_\r\n"),
        ];
        for (reply, resp2, resp3) in cases {
            for (protocol, expected) in [(Protocol::Resp2, resp2), (Protocol::Resp3, resp3)] {
                let mut out = Vec::new();
                reply.encode(&mut out, protocol);
                assert_eq!(
                    out.escape_ascii().to_string(),
                    expected.escape_ascii().to_string(),
                    "{reply:?} in {protocol:?}"
                );
            }
        }
    }

    #[test]
    fn doubles_print_like_redis() {
        let cases = [
            (1.0, "1"),
            (-2.5, "-2.5"),
            (0.1, "0.1"),
            (1e20, "1e+20"),
            (1.5e-7, "1.5e-07"),
            (123456.0, "123456"),
            (f64::INFINITY, "inf"),
        ];
        for (v, text) in cases {
            assert_eq!(format_double(v), text);
        }
    }

    #[test]
    fn commands_encode_exactly() {
        let mut out = Vec::new();
        encode_command(&[b"GET", b""], &mut out);
        assert_eq!(out, b"*2\r\n$3\r\nGET\r\n$0\r\n\r\n");
    }

    #[test]
    fn parse_reply_refuses_bad_input_early() {
        let limits = small_limits();
        assert_eq!(parse_reply(b"*2\r\n:1\r\n", &limits), Ok(None));
        assert_eq!(parse_reply(b"$5\r\nab", &limits), Ok(None));
        assert_eq!(
            parse_reply(b"+OK\r\n+", &limits),
            Ok(Some((Reply::ok(), 5)))
        );
        let not_a_type =
            "expected a reply type ('+', '-', ':', '$', '*', '%', '~', ',' or '_'), got";
        let cases: &[(&[u8], &str)] = &[
            (b"!", &format!("{not_a_type} '!'")),
            (b"_x\r\n", "invalid null 'x'"),
            (b"*2\r\n:1\r\n?", &format!("{not_a_type} '?'")),
            (
                b"$17\r\n",
                "invalid bulk length 17: exceeds bulk_len_max_bytes = 16",
            ),
            (b"$-2\r\n", "invalid bulk length '-2'"),
            (b":1x\r\n", "invalid integer '1x'"),
            (b"+OK\n", "expected CRLF after '+OK'"),
            (
                b"*1\r\n*1\r\n*1\r\n*0\r\n",
                "reply nests arrays deeper than reply_depth_max = 3",
            ),
        ];
        for (input, expected) in cases {
            let error = parse_reply(input, &limits).unwrap_err();
            let expected = format!("Protocol error: {expected}");
            assert_eq!(error.to_string(), expected, "{}", input.escape_ascii());
        }
    }

    /// Bytes that look like RESP often enough to reach deep into the parser.
    fn wire_bytes() -> impl Strategy<Value = Vec<u8>> {
        const FRAGMENTS: &[&[u8]] = &[
            b"*2\r\n",
            b"*0\r\n",
            b"*-1\r\n",
            b"*8\r\n",
            b"*9\r\n",
            b"$3\r\n",
            b"$0\r\n",
            b"$-1\r\n",
            b"$17\r\n",
            b"$16\r\n0123456789abcdef\r\n",
            b"GET\r\n",
            b"\r\n",
            b"\n",
            b"\"",
            b"'",
            b"\\x4",
            b"\\",
            b" ",
            b"PING",
        ];
        let piece = prop_oneof![
            vec(any::<u8>(), 0..4),
            prop::sample::select(FRAGMENTS).prop_map(<[u8]>::to_vec),
        ];
        vec(piece, 0..48).prop_map(|pieces| pieces.concat())
    }

    fn reply_strategy() -> impl Strategy<Value = Reply> {
        let leaf = prop_oneof![
            "[^\r\n]{0,12}".prop_map(Reply::Simple),
            "[^\r\n]{0,12}".prop_map(Reply::Error),
            any::<i64>().prop_map(Reply::Integer),
            vec(any::<u8>(), 0..16).prop_map(Reply::Bulk),
            Just(Reply::Nil),
            Just(Reply::NilArray),
        ];
        leaf.prop_recursive(3, 24, 6, |inner| vec(inner, 0..6).prop_map(Reply::Array))
    }

    /// What RESP3 can tell apart: one null, maps, sets and doubles.
    fn resp3_reply_strategy() -> impl Strategy<Value = Reply> {
        let leaf = prop_oneof![
            "[^\r\n]{0,12}".prop_map(Reply::Simple),
            any::<i64>().prop_map(Reply::Integer),
            vec(any::<u8>(), 0..16).prop_map(Reply::Bulk),
            Just(Reply::Nil),
            any::<f64>().prop_map(Reply::double),
        ];
        leaf.prop_recursive(3, 24, 6, |inner| {
            prop_oneof![
                vec(inner.clone(), 0..6).prop_map(Reply::Array),
                vec(inner.clone(), 0..6).prop_map(Reply::Set),
                vec((inner.clone(), inner), 0..4).prop_map(Reply::Map),
            ]
        })
    }

    proptest! {
        /// Never panics, and the commands and error do not depend on the chunking.
        #[test]
        fn any_bytes_in_any_chunks_parse_the_same(
            input in wire_bytes(),
            sizes in vec(1usize..16, 1..8),
            small in any::<bool>(),
        ) {
            let limits = if small { small_limits() } else { RespLimits::default() };
            let whole = parse_chunks(limits.clone(), [&input[..]]);
            let mut chunks = Vec::new();
            let mut rest = &input[..];
            for size in sizes.iter().cycle() {
                if rest.is_empty() {
                    break;
                }
                let (chunk, tail) = rest.split_at((*size).min(rest.len()));
                chunks.push(chunk);
                rest = tail;
            }
            prop_assert_eq!(parse_chunks(limits, chunks), whole);
        }

        #[test]
        fn encoded_commands_round_trip(
            commands in vec(vec(vec(any::<u8>(), 0..24), 1..6), 1..6),
            chunk_size in 1usize..32,
        ) {
            let mut input = Vec::new();
            for command in &commands {
                let args: Vec<&[u8]> = command.iter().map(Vec::as_slice).collect();
                encode_command(&args, &mut input);
            }
            let parsed = parse_chunks(RespLimits::default(), input.chunks(chunk_size));
            prop_assert_eq!(parsed, (commands, None));
        }

        /// Every strict prefix is incomplete; the whole encoding is exactly one reply.
        #[test]
        fn replies_round_trip(reply in reply_strategy()) {
            let mut encoded = Vec::new();
            reply.encode(&mut encoded, Protocol::Resp2);
            let limits = RespLimits::default();
            for end in 0..encoded.len() {
                prop_assert_eq!(parse_reply(&encoded[..end], &limits), Ok(None));
            }
            prop_assert_eq!(parse_reply(&encoded, &limits), Ok(Some((reply, encoded.len()))));
        }

        #[test]
        fn resp3_replies_round_trip(reply in resp3_reply_strategy()) {
            let mut encoded = Vec::new();
            reply.encode(&mut encoded, Protocol::Resp3);
            let limits = RespLimits::default();
            for end in 0..encoded.len() {
                prop_assert_eq!(parse_reply(&encoded[..end], &limits), Ok(None));
            }
            prop_assert_eq!(parse_reply(&encoded, &limits), Ok(Some((reply, encoded.len()))));
        }

        #[test]
        fn any_bytes_as_a_reply_never_panic(input in wire_bytes(), small in any::<bool>()) {
            let limits = if small { small_limits() } else { RespLimits::default() };
            if let Ok(Some((_, used))) = parse_reply(&input, &limits) {
                prop_assert!(used <= input.len());
            }
        }
    }
}
