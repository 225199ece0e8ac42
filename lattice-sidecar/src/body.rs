//! Body wrappers that stream frames through untouched (data and trailers), counting bytes
//! for the access log. Nothing is buffered, except up to [`crate::diagnosis::CAPTURE`]
//! bytes of a Lattice 403 body, copied as it passes for the diagnosis log.

use std::fmt;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderValue, Method, StatusCode, Version};
use http_body::{Body, Frame, SizeHint};
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use pin_project_lite::pin_project;

use crate::diagnosis::Forbidden;
use crate::errors::BoxError;
use crate::metrics::{GaugeGuard, NO_UPSTREAM};
use crate::pool::Lease;

/// The access log's `error` for a response whose upstream body failed after the
/// headers were forwarded.
pub(crate) const UPSTREAM_RESPONSE_ABORTED: &str = "upstream-response-aborted";

/// The `tracing` target of the access-log lines.
pub(crate) const ACCESS_LOG: &str = "lattice_sidecar::access";
/// The W3C Trace Context header.
const TRACEPARENT: &str = "traceparent";

pin_project! {
    /// A client's request body on its way upstream.
    pub struct RequestBody {
        #[pin]
        inner: Incoming,
        progress: Arc<RequestProgress>,
    }
}

/// What became of a request body, shared with the access log.
#[derive(Debug, Default)]
pub(crate) struct RequestProgress {
    received: AtomicU64,
    /// Reading it from the client failed (a malformed chunk, the client went away): when
    /// forwarding then fails, that is the client's doing, not the upstream's.
    failed: AtomicBool,
}

pin_project! {
    /// The body sent back to the client: the upstream's, or a synthetic one. Emits the
    /// access-log line when dropped, i.e. when the response is finished or abandoned, and
    /// then gives back the request's place in its upstream client.
    pub struct ResponseBody {
        #[pin]
        inner: Either<Incoming, Full<Bytes>>,
        log: AccessLog,
        _lease: Option<Lease>,
    }
}

/// What the access-log line says about one request; while it lives, the request counts
/// as in flight.
pub(crate) struct AccessLog {
    pub start: Instant,
    pub method: Method,
    /// The client's HTTP version.
    pub version: Version,
    /// The client's address.
    pub client: SocketAddr,
    /// The host the client named (or the fixed upstream's); `None` when it named none, or
    /// while the access log is off.
    pub host: Option<String>,
    /// Path only: queries can carry secrets (presigned URLs). Empty while the access log
    /// is off.
    pub path: String,
    /// The W3C `traceparent` the client sent, to join the line to its trace; kept only
    /// while the access log is on.
    pub traceparent: Option<HeaderValue>,
    /// Shared with the metrics' labels; [`NO_UPSTREAM`] (logged as `null`) until one is
    /// chosen.
    pub upstream: Arc<str>,
    pub status: StatusCode,
    pub error: Option<&'static str>,
    pub request_body: Arc<RequestProgress>,
    pub bytes_out: u64,
    pub complete: bool,
    pub forbidden: Option<Forbidden>,
    _in_flight: GaugeGuard,
}

// === impl RequestBody ===

impl RequestBody {
    pub(crate) fn new(inner: Incoming, progress: Arc<RequestProgress>) -> Self {
        Self { inner, progress }
    }
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.project();
        let polled = this.inner.poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.progress
                        .received
                        .fetch_add(data.len() as u64, Ordering::Relaxed);
                }
            }
            Poll::Ready(Some(Err(_))) => this.progress.failed.store(true, Ordering::Relaxed),
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl fmt::Debug for RequestBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestBody").finish_non_exhaustive()
    }
}

// === impl RequestProgress ===

impl RequestProgress {
    pub(crate) fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }

    pub(crate) fn failed(&self) -> bool {
        self.failed.load(Ordering::Relaxed)
    }
}

// === impl ResponseBody ===

impl ResponseBody {
    pub(crate) fn upstream(inner: Incoming, log: AccessLog, lease: Lease) -> Self {
        Self {
            inner: Either::Left(inner),
            log,
            _lease: Some(lease),
        }
    }

    pub(crate) fn synthetic(body: Bytes, log: AccessLog) -> Self {
        Self {
            inner: Either::Right(Full::new(body)),
            log,
            _lease: None,
        }
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let mut this = self.project();
        let polled = this.inner.as_mut().poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.log.bytes_out += data.len() as u64;
                    if let Some(forbidden) = &mut this.log.forbidden {
                        forbidden.capture(data);
                    }
                }
            }
            Poll::Ready(None) => this.log.complete = true,
            // The upstream failed mid-body: hyper aborts the client's connection (HTTP/1.1)
            // or stream (HTTP/2), and the access log says why.
            Poll::Ready(Some(Err(_))) => this.log.error = Some(UPSTREAM_RESPONSE_ABORTED),
            _ => {}
        }
        // hyper stops polling once a body says it has ended, so check here too.
        if this.inner.is_end_stream() {
            this.log.complete = true;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl fmt::Debug for ResponseBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseBody").finish_non_exhaustive()
    }
}

// === impl AccessLog ===

impl AccessLog {
    /// The log of a request just received from `client`. Host, path and `traceparent` are
    /// copied only while the access log is on.
    pub(crate) fn start(
        parts: &http::request::Parts,
        client: SocketAddr,
        no_upstream: Arc<str>,
        in_flight: GaugeGuard,
    ) -> Self {
        let logged = tracing::enabled!(target: ACCESS_LOG, tracing::Level::INFO);
        let (host, path, traceparent) = match logged {
            true => (
                requested_host(parts),
                parts.uri.path().to_owned(),
                parts.headers.get(TRACEPARENT).cloned(),
            ),
            false => (None, String::new(), None),
        };
        Self {
            start: Instant::now(),
            method: parts.method.clone(),
            version: parts.version,
            client,
            host,
            path,
            traceparent,
            upstream: no_upstream,
            status: StatusCode::OK,
            error: None,
            request_body: Arc::default(),
            bytes_out: 0,
            complete: false,
            forbidden: None,
            _in_flight: in_flight,
        }
    }
}

/// The host the client named, for the access log.
fn requested_host(parts: &http::request::Parts) -> Option<String> {
    parts.uri.authority().map(|a| a.to_string()).or_else(|| {
        parts
            .headers
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_owned)
    })
}

/// How the access log names an HTTP version.
fn version_name(version: Version) -> &'static str {
    match version {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_11 => "HTTP/1.1",
        Version::HTTP_2 => "HTTP/2",
        Version::HTTP_3 => "HTTP/3",
        _ => "HTTP/?",
    }
}

impl Drop for AccessLog {
    fn drop(&mut self) {
        if let Some(forbidden) = self.forbidden.take() {
            forbidden.log(&self.upstream);
        }
        // A field without a value (`None`) is `null` in JSON lines and left out of text.
        tracing::info!(
            target: ACCESS_LOG,
            method = %self.method,
            host = self.host.as_deref().map(display),
            path = %self.path,
            status = self.status.as_u16(),
            duration_ms = (self.start.elapsed().as_secs_f64() * 1e6).round() / 1e3,
            bytes_in = self.request_body.received(),
            bytes_out = self.bytes_out,
            upstream = (&*self.upstream != NO_UPSTREAM).then(|| display(&self.upstream)),
            error = self.error,
            complete = self.complete,
            http_version = %version_name(self.version),
            client = %self.client,
            traceparent = self.traceparent.as_ref().and_then(|v| v.to_str().ok()),
            "request"
        );
    }
}

impl fmt::Debug for AccessLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessLog")
            .field("method", &self.method)
            .field("host", &self.host)
            .field("path", &self.path)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}
