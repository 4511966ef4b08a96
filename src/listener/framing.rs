//! HTTP/1.1 framing guard: watches the raw bytes hyper reads and flags request heads that
//! hyper would accept but read one way while another server might read them another
//! (a repeated `Content-Length`, a bare LF line ending, any `Transfer-Encoding`).
//!
//! hyper merges identical duplicate `Content-Length` lines before the `HeaderMap` is built
//! and httparse accepts bare LF, so after parsing these are invisible. The guard cannot
//! answer itself (hyper owns the connection), so it records which head on the connection
//! was ambiguous; `Proxy::serve` counts requests and refuses that one.

#[cfg(test)]
mod tests;

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::connection::FramingVerdict;

const CONTENT_LENGTH: &[u8] = b"content-length";
const TRANSFER_ENCODING: &[u8] = b"transfer-encoding";

/// Where the scanner is within a header line.
#[derive(Debug, Clone, Copy)]
enum Field {
    /// In the name; `pos` bytes read so far, and whether they still spell each name.
    Name { pos: usize, cl: bool, te: bool },
    /// In a `Content-Length` value.
    Length(Digits),
    /// In any other value: nothing to check.
    Other,
}

/// A `Content-Length` value as it streams: OWS, digits, OWS.
#[derive(Debug, Clone, Copy)]
enum Digits {
    Before,
    In(u64),
    After(u64),
    /// A comma: a list of lengths, which hyper accepts when the values are equal.
    List,
    /// Anything else, including a value that overflows u64.
    Invalid,
}

impl Digits {
    fn push(self, b: u8) -> Digits {
        match (self, b) {
            (Digits::List | Digits::Invalid, _) => self,
            (_, b',') => Digits::List,
            (Digits::Before, b' ' | b'\t') => Digits::Before,
            (Digits::Before, b'0'..=b'9') => Digits::In(u64::from(b - b'0')),
            (Digits::In(n), b'0'..=b'9') => n
                .checked_mul(10)
                .and_then(|n| n.checked_add(u64::from(b - b'0')))
                .map_or(Digits::Invalid, Digits::In),
            (Digits::In(n) | Digits::After(n), b' ' | b'\t') => Digits::After(n),
            _ => Digits::Invalid,
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Phase {
    /// Reading a head, line by line.
    Head,
    /// Skipping this many body bytes.
    Body(u64),
    /// A violation was flagged: hyper gets the rest untouched.
    Done,
}

/// A streaming scanner over the bytes of one HTTP/1 connection, in O(1) state: it never
/// buffers the request.
#[derive(Debug)]
pub struct Scanner {
    phase: Phase,
    /// Heads completed so far: the index of the head being read.
    head: u64,
    /// The request line of the current head has been read.
    request_line: bool,
    /// The previous byte was a CR.
    cr: bool,
    /// The current line has bytes other than its CR.
    line: bool,
    field: Field,
    /// The current head's `Content-Length`, once seen.
    length: Option<u64>,
}

impl Default for Scanner {
    fn default() -> Scanner {
        Scanner {
            phase: Phase::Head,
            head: 0,
            request_line: false,
            cr: false,
            line: false,
            field: NAME_START,
            length: None,
        }
    }
}

const NAME_START: Field = Field::Name {
    pos: 0,
    cl: true,
    te: true,
};

impl Scanner {
    /// Scans the next bytes read from the connection; returns the index of the first
    /// ambiguous head and why, once (later calls pass everything through).
    pub fn scan(&mut self, mut bytes: &[u8]) -> Option<(u64, &'static str)> {
        while !bytes.is_empty() {
            match self.phase {
                Phase::Done => return None,
                Phase::Body(remaining) => {
                    // Bodies are skipped by length, never inspected.
                    let n = usize::try_from(remaining).map_or(bytes.len(), |r| r.min(bytes.len()));
                    bytes = &bytes[n..];
                    let left = remaining - n as u64;
                    self.phase = if left == 0 {
                        Phase::Head
                    } else {
                        Phase::Body(left)
                    };
                }
                Phase::Head => {
                    let n = if self.cr { 0 } else { self.skippable(bytes) };
                    if n > 0 {
                        self.skip(n);
                        bytes = &bytes[n..];
                        continue;
                    }
                    let b = bytes[0];
                    bytes = &bytes[1..];
                    if let Err(reason) = self.head_byte(b) {
                        self.phase = Phase::Done;
                        return Some((self.head, reason));
                    }
                }
            }
        }
        None
    }

    /// How many leading bytes cannot change the verdict, so need no look one by one: the
    /// rest of the request line or of a header value other than `Content-Length`, and the
    /// rest of a header name that can no longer be a framing header.
    fn skippable(&self, bytes: &[u8]) -> usize {
        let until =
            |stop: fn(u8) -> bool| bytes.iter().position(|&b| stop(b)).unwrap_or(bytes.len());
        match self.field {
            _ if !self.request_line => until(|b| b == b'\r' || b == b'\n' || b == b'#'),
            Field::Other => until(|b| b == b'\r' || b == b'\n'),
            Field::Name {
                pos: 1..,
                cl: false,
                te: false,
            } => until(|b| b == b':' || b == b'\r' || b == b'\n'),
            _ => 0,
        }
    }

    fn skip(&mut self, n: usize) {
        self.line = true;
        if let Field::Name { pos, .. } = &mut self.field {
            *pos = pos.saturating_add(n);
        }
    }

    fn head_byte(&mut self, b: u8) -> Result<(), &'static str> {
        let after_cr = std::mem::replace(&mut self.cr, false);
        match b {
            b'\n' if !after_cr => Err("bare LF line ending"),
            b'\n' => self.end_line(),
            _ if after_cr => Err("bare CR in the head"),
            b'\r' => {
                self.cr = true;
                Ok(())
            }
            // hyper drops a `#fragment` from the target, Go keeps it in the path.
            b'#' if !self.request_line => Err("'#' in the request target"),
            _ => {
                self.line = true;
                if self.request_line {
                    self.field_byte(b)?;
                }
                Ok(())
            }
        }
    }

    fn field_byte(&mut self, b: u8) -> Result<(), &'static str> {
        self.field = match self.field {
            Field::Name { pos: 0, .. } if b == b' ' || b == b'\t' => {
                return Err("obsolete line folding");
            }
            Field::Name { pos: 0, .. } if b == b':' => return Err("header line without a name"),
            Field::Name { pos, cl, te } if b == b':' => {
                if cl && pos == CONTENT_LENGTH.len() {
                    if self.length.is_some() {
                        return Err("duplicate Content-Length");
                    }
                    Field::Length(Digits::Before)
                } else if te && pos == TRANSFER_ENCODING.len() {
                    return Err("Transfer-Encoding");
                } else {
                    Field::Other
                }
            }
            Field::Name { pos, cl, te } => {
                let b = b.to_ascii_lowercase();
                Field::Name {
                    pos: pos.saturating_add(1),
                    cl: cl && CONTENT_LENGTH.get(pos) == Some(&b),
                    te: te && TRANSFER_ENCODING.get(pos) == Some(&b),
                }
            }
            Field::Length(d) => Field::Length(d.push(b)),
            Field::Other => Field::Other,
        };
        Ok(())
    }

    fn end_line(&mut self) -> Result<(), &'static str> {
        let line = std::mem::replace(&mut self.line, false);
        let field = std::mem::replace(&mut self.field, NAME_START);
        if !line {
            // RFC 9112 §2.2: empty lines before the request line are ignored.
            if self.request_line {
                self.end_head();
            }
            return Ok(());
        }
        if !self.request_line {
            self.request_line = true;
            return Ok(());
        }
        match field {
            Field::Name { .. } => Err("header line without a colon"),
            Field::Length(Digits::In(n) | Digits::After(n)) => {
                self.length = Some(n);
                Ok(())
            }
            Field::Length(Digits::List) => Err("duplicate Content-Length"),
            Field::Length(_) => Err("invalid Content-Length"),
            Field::Other => Ok(()),
        }
    }

    fn end_head(&mut self) {
        let length = self.length.take().unwrap_or(0);
        self.head += 1;
        self.request_line = false;
        self.phase = if length == 0 {
            Phase::Head
        } else {
            Phase::Body(length)
        };
    }
}

/// The connection's IO as hyper sees it, with every byte read passed through the
/// [`Scanner`]; writes pass through untouched. Without a verdict (HTTP/2) it only forwards.
#[derive(Debug)]
pub(crate) struct FramingGuard<IO> {
    io: IO,
    watch: Option<(Scanner, Arc<FramingVerdict>)>,
}

impl<IO> FramingGuard<IO> {
    pub(crate) fn new(io: IO, verdict: Option<Arc<FramingVerdict>>) -> FramingGuard<IO> {
        FramingGuard {
            io,
            watch: verdict.map(|v| (Scanner::default(), v)),
        }
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for FramingGuard<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.io).poll_read(cx, buf);
        if let (Poll::Ready(Ok(())), Some((scanner, verdict))) = (&polled, &mut this.watch) {
            if let Some((index, reason)) = scanner.scan(&buf.filled()[before..]) {
                verdict.flag(index, reason);
            }
        }
        polled
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for FramingGuard<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}
