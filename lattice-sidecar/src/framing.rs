//! A watch on HTTP/1.1 request framing, below hyper.
//!
//! hyper resolves a request that carries both `Content-Length` and `Transfer-Encoding`, or
//! the same `Content-Length` twice, as RFC 9112 §6.1 allows (Transfer-Encoding wins, one
//! length is kept), but it hides that the request was ambiguous: the handler sees a clean
//! request. Exactly these shapes are how request smuggling makes two HTTP hops disagree, so
//! a signing proxy should refuse them rather than sign its own reading. No hyper option
//! exposes them, hence this: it sees the bytes hyper reads, follows where each request head
//! starts (bodies by `Content-Length` or chunk sizes), parses heads with httparse (hyper's
//! own parser) and marks the connection. The proxy answers every later request on a marked
//! connection with 400 and closes it. On anything it cannot follow (h2c, parse errors hyper
//! will refuse anyway) it stops watching, so it can never refuse a request that hyper's
//! framing accepts unambiguously. `Upgrade` and `CONNECT` requests do not stop it: the
//! sidecar never switches protocols (it refuses them, or ignores `Upgrade: h2c`), so the
//! bytes after them are HTTP/1.1 requests like any other.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::limits::{MAX_HEADERS, MAX_REQUEST_HEAD};

/// Request extension: the connection carried a request with ambiguous framing.
#[derive(Clone, Copy, Debug)]
pub(crate) struct AmbiguousFraming;

/// Which request on the connection (0-based, in arrival order) first had ambiguous
/// framing. Pipelined requests before it are still served; it and any after are refused.
#[derive(Clone, Debug)]
pub(crate) struct FramingFlag(Arc<AtomicUsize>);

impl Default for FramingFlag {
    fn default() -> Self {
        Self(Arc::new(AtomicUsize::new(usize::MAX)))
    }
}

impl FramingFlag {
    /// Whether request number `index` on the connection must be refused.
    pub(crate) fn refuses(&self, index: usize) -> bool {
        index >= self.0.load(Ordering::Acquire)
    }

    fn set(&self, index: usize) {
        self.0.fetch_min(index, Ordering::AcqRel);
    }
}

/// Where the watcher is in the request stream.
#[derive(Debug)]
enum State {
    /// Collecting a request head (into `FramingWatch::line`).
    Head,
    /// This many bytes of a `Content-Length` body are still to come.
    Body(u64),
    /// Collecting a chunk-size line (into `FramingWatch::line`).
    ChunkSize,
    /// This many chunk bytes are still to come, then the line end.
    ChunkData(u64),
    /// Skipping to the end of the line that closes a chunk.
    ChunkEnd,
    /// Collecting trailer lines (into `FramingWatch::line`) until an empty one.
    Trailers,
    /// Not watching (HTTP/2, ambiguous framing already found, or bytes that hyper will
    /// refuse).
    Off,
}

/// An I/O stream that watches the framing of what is read through it.
#[derive(Debug)]
pub(crate) struct FramingWatch<T> {
    inner: T,
    state: State,
    /// The request head, chunk-size line or trailer line being collected; one buffer,
    /// reused, so a connection allocates it once rather than once per chunk.
    line: Vec<u8>,
    /// Request heads completed so far.
    heads: usize,
    flag: FramingFlag,
}

impl<T> FramingWatch<T> {
    pub(crate) fn new(inner: T, flag: FramingFlag) -> Self {
        Self {
            inner,
            state: State::Head,
            line: Vec::new(),
            heads: 0,
            flag,
        }
    }

    /// Follow `bytes`, the next bytes of the request stream.
    fn observe(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let consumed = match &mut self.state {
                State::Off => return,
                State::Head => {
                    let before = self.line.len();
                    self.line.extend_from_slice(bytes);
                    match self.end_of_head() {
                        // The head ended `end - before` bytes into this read.
                        Some(end) => end - before,
                        None => bytes.len(),
                    }
                }
                State::Body(left) => {
                    let take = bytes
                        .len()
                        .min(usize::try_from(*left).unwrap_or(usize::MAX));
                    *left -= take as u64;
                    if *left == 0 {
                        self.state = State::Head;
                    }
                    take
                }
                State::ChunkSize => match take_line(&mut self.line, bytes) {
                    Some(taken) => {
                        self.state = match chunk_size(&self.line) {
                            Some(0) => State::Trailers,
                            Some(size) => State::ChunkData(size),
                            None => State::Off,
                        };
                        self.line.clear();
                        taken
                    }
                    None => {
                        self.off_if_longer(MAX_REQUEST_HEAD);
                        bytes.len()
                    }
                },
                State::ChunkData(left) => {
                    let take = bytes
                        .len()
                        .min(usize::try_from(*left).unwrap_or(usize::MAX));
                    *left -= take as u64;
                    if *left == 0 {
                        self.state = State::ChunkEnd;
                    }
                    take
                }
                State::ChunkEnd => match bytes.iter().position(|&b| b == b'\n') {
                    Some(at) => {
                        self.state = State::ChunkSize;
                        at + 1
                    }
                    None => bytes.len(),
                },
                State::Trailers => match take_line(&mut self.line, bytes) {
                    Some(taken) => {
                        if self.line.iter().all(|&b| b == b'\r') {
                            self.state = State::Head;
                        }
                        self.line.clear();
                        taken
                    }
                    None => {
                        self.off_if_longer(MAX_REQUEST_HEAD);
                        bytes.len()
                    }
                },
            };
            bytes = &bytes[consumed..];
        }
    }

    /// If the collected head is complete, act on it and return its length.
    fn end_of_head(&mut self) -> Option<usize> {
        if !matches!(self.state, State::Head) {
            return None;
        }
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut request = httparse::Request::new(&mut headers);
        let head_length = match request.parse(&self.line) {
            Ok(httparse::Status::Complete(head_length)) => head_length,
            Ok(httparse::Status::Partial) => {
                self.off_if_longer(MAX_REQUEST_HEAD);
                return None;
            }
            // hyper refuses it too (400/431), or it is the HTTP/2 preface.
            Err(_) => {
                self.state = State::Off;
                return None;
            }
        };
        let index = self.heads;
        self.heads += 1;
        let mut lengths = 0;
        let mut length = None;
        let mut transfer_encoding = None;
        for header in request.headers.iter() {
            if header.name.eq_ignore_ascii_case("content-length") {
                lengths += 1;
                length = Some(header.value);
            } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
                transfer_encoding = Some(header.value);
            }
        }
        self.state = if lengths > 1 || (lengths == 1 && transfer_encoding.is_some()) {
            self.flag.set(index);
            State::Off
        } else if let Some(coding) = transfer_encoding {
            match is_chunked(coding) {
                true => State::ChunkSize,
                false => State::Off,
            }
        } else {
            match length.map(parse_length) {
                None | Some(Some(0)) => State::Head,
                Some(Some(length)) => State::Body(length),
                Some(None) => State::Off,
            }
        };
        self.line.clear();
        Some(head_length)
    }

    fn off_if_longer(&mut self, limit: usize) {
        let len = match &self.state {
            State::Head | State::ChunkSize | State::Trailers => self.line.len(),
            _ => 0,
        };
        if len > limit {
            self.state = State::Off;
        }
    }
}

/// Append `bytes` to `line` up to and including the first `\n`; `Some(bytes taken)` once
/// the line is complete (`line` then holds it without the `\n`).
fn take_line(line: &mut Vec<u8>, bytes: &[u8]) -> Option<usize> {
    match bytes.iter().position(|&b| b == b'\n') {
        Some(at) => {
            line.extend_from_slice(&bytes[..at]);
            Some(at + 1)
        }
        None => {
            line.extend_from_slice(bytes);
            None
        }
    }
}

/// The size on a chunk-size line (`1a;ext=x\r`).
fn chunk_size(line: &[u8]) -> Option<u64> {
    let digits = line
        .split(|&b| b == b';' || b == b'\r' || b == b' ' || b == b'\t')
        .next()?;
    let digits = std::str::from_utf8(digits).ok()?;
    u64::from_str_radix(digits, 16).ok()
}

fn parse_length(value: &[u8]) -> Option<u64> {
    std::str::from_utf8(value).ok()?.trim().parse().ok()
}

fn is_chunked(coding: &[u8]) -> bool {
    coding
        .rsplit(|&b| b == b',')
        .next()
        .is_some_and(|last| last.trim_ascii().eq_ignore_ascii_case(b"chunked"))
}

impl<T: AsyncRead + Unpin> AsyncRead for FramingWatch<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = result {
            let this = &mut *self;
            if !matches!(this.state, State::Off) {
                this.observe(&buf.filled()[before..]);
            }
        }
        result
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for FramingWatch<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feed `stream` in pieces of `step` bytes; the first refused request, if any.
    fn marks(stream: &[u8], step: usize) -> Option<usize> {
        let flag = FramingFlag::default();
        let mut watch = FramingWatch::new((), flag.clone());
        for piece in stream.chunks(step) {
            watch.observe(piece);
        }
        (0..16).find(|&index| flag.refuses(index))
    }

    fn marks_at_any_split(stream: &[u8]) -> Option<usize> {
        let all: Vec<Option<usize>> = [1, 2, 3, 7, 64, stream.len()]
            .into_iter()
            .map(|step| marks(stream, step))
            .collect();
        assert!(all.iter().all(|m| *m == all[0]), "split-dependent: {all:?}");
        all[0]
    }

    #[test]
    fn ambiguous_framing_is_marked_wherever_it_appears() {
        let get = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n";
        let post = "POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello";
        let chunked = "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
                       5;ext=1\r\nhello\r\n3\r\nGET\r\n0\r\nTrailer: t\r\n\r\n";
        // The sidecar never switches protocols, so what follows these is HTTP/1.1 too.
        let upgrade =
            "GET /u HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
        let h2c_upgrade = "GET /h HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\nConnection: Upgrade, HTTP2-Settings\r\n\r\n";
        let connect = "CONNECT x:443 HTTP/1.1\r\nHost: x:443\r\n\r\n";
        for bad in [
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\ncontent-length: 4\r\n\r\n0\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
        ] {
            for (prefix, before) in [
                ("", 0),
                (get, 1),
                (post, 1),
                (chunked, 1),
                (upgrade, 1),
                (h2c_upgrade, 1),
                (connect, 1),
            ] {
                let stream = format!("{prefix}{get}{post}{chunked}{bad}{get}");
                // Requests before the ambiguous one are served; it and later ones are not.
                assert_eq!(
                    marks_at_any_split(stream.as_bytes()),
                    Some(before + 3),
                    "{stream:?}"
                );
            }
        }
    }

    #[test]
    fn unambiguous_streams_are_never_marked() {
        // Bodies that look like ambiguous heads must be skipped, not parsed.
        let smuggled_text =
            "GET / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n";
        let as_body = format!(
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{smuggled_text}",
            smuggled_text.len()
        );
        let as_chunk = format!(
            "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n{:x}\r\n{smuggled_text}\r\n0\r\n\r\n",
            smuggled_text.len()
        );
        let pipelined = "GET / HTTP/1.1\r\nHost: x\r\n\r\nHEAD / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n";
        for stream in [as_body.as_str(), as_chunk.as_str(), pipelined] {
            let twice = format!("{stream}{stream}");
            assert_eq!(marks_at_any_split(twice.as_bytes()), None, "{twice:?}");
        }
    }

    #[test]
    fn stops_watching_what_it_cannot_follow() {
        for stream in [
            // HTTP/2 prior knowledge.
            "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\nPOST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n",
            // A head hyper refuses.
            "GET / HTTP/1.1\r\nBad Header: x\r\n\r\nPOST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n",
        ] {
            assert_eq!(marks_at_any_split(stream.as_bytes()), None, "{stream:?}");
        }
    }
}
