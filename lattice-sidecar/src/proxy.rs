//! The per-request path: route, clean headers, sign (through [`SigV4Layer`]), forward,
//! and turn failures into synthetic responses.
//!
//! [`SigV4Layer`]: lattice_client::SigV4Layer

use std::convert::Infallible;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use http::header::HOST;
use http::uri::Scheme;
use http::{Extensions, Request, Response, StatusCode, Version};
use hyper::body::Incoming;
use lattice_client::Signer;
use tower::ServiceExt;

use crate::body::{ACCESS_LOG, AccessLog, RequestBody, ResponseBody};
use crate::config::{Route, UpstreamConfig};
use crate::errors::{Synthetic, chain};
use crate::framing::AmbiguousFraming;
use crate::inbound::map_request;
use crate::metrics::Metrics;
use crate::signing::{Forbidden, SignedClient, SignedHeadSlot};
use crate::upstream::{clean_request_headers, clean_response_headers, upstream_uri};

const LATTICE_ERROR_TYPE: &str = "x-amzn-errortype";

/// The proxy service of one listener. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Proxy {
    inner: Arc<Inner>,
}

struct Inner {
    route: Route,
    default_scheme: Scheme,
    request_timeout: Option<Duration>,
    signer: Signer,
    /// HTTPS with ALPN, or HTTP/1.1.
    negotiated: SignedClient,
    /// Plain-HTTP upstreams for HTTP/2 clients (gRPC).
    h2c: SignedClient,
    metrics: Metrics,
    /// The log's and metrics' upstream until one is chosen.
    no_upstream: Arc<str>,
}

// === impl Proxy ===

impl Proxy {
    pub(crate) fn new(
        route: Route,
        upstream: &UpstreamConfig,
        signer: Signer,
        negotiated: SignedClient,
        h2c: SignedClient,
        metrics: Metrics,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                route,
                default_scheme: upstream.scheme.clone(),
                request_timeout: upstream.request_timeout,
                signer,
                negotiated,
                h2c,
                metrics,
                no_upstream: "-".into(),
            }),
        }
    }

    pub(crate) async fn handle(
        self,
        request: Request<Incoming>,
    ) -> Result<Response<ResponseBody>, Infallible> {
        let inner = &self.inner;
        let (mut parts, body) = request.into_parts();
        let inbound_version = parts.version;
        let grpc = is_grpc(&parts.headers);
        // Host and path are only for the access-log line: not copied when it is off.
        let logged = tracing::enabled!(target: ACCESS_LOG, tracing::Level::INFO);
        let (host, path) = match logged {
            true => (requested_host(&parts), parts.uri.path().to_owned()),
            false => (String::new(), String::new()),
        };
        let mut log = AccessLog {
            start: Instant::now(),
            method: parts.method.clone(),
            host,
            path,
            upstream: inner.no_upstream.clone(),
            status: StatusCode::OK,
            error: None,
            bytes_in: Arc::new(AtomicU64::new(0)),
            bytes_out: 0,
            complete: false,
            forbidden: None,
        };

        if parts.extensions.get::<AmbiguousFraming>().is_some() {
            let refusal = Synthetic::bad_request(
                "ambiguous-framing",
                "the connection sent a request with both Content-Length and Transfer-Encoding, \
                 or Content-Length twice; send exactly one (request smuggling guard)",
            );
            let mut response = self.synthetic(refusal, log, grpc);
            response.headers_mut().insert(
                http::header::CONNECTION,
                http::HeaderValue::from_static("close"),
            );
            return Ok(response);
        }
        let target = match map_request(
            &inner.route,
            &inner.default_scheme,
            inner.signer.config(),
            &parts.method,
            &parts.uri,
            &parts.headers,
        ) {
            Ok(target) => target,
            Err(synthetic) => return Ok(self.synthetic(synthetic, log, grpc)),
        };
        // One copy, shared by the log and the metrics' labels.
        let upstream: Arc<str> = target.authority.as_str().into();
        log.upstream = upstream.clone();
        let uri = match upstream_uri(&target, &parts.uri) {
            Ok(uri) => uri,
            Err(synthetic) => return Ok(self.synthetic(synthetic, log, grpc)),
        };
        // Credentials are loaded and refreshed in the background: a request never waits
        // for the provider, and fails fast while there are none.
        if let Err(error) = inner.signer.credentials().ensure_cached() {
            inner.metrics.signing_failure("credentials-unavailable");
            return Ok(self.synthetic(Synthetic::credentials_unavailable(error), log, grpc));
        }

        clean_request_headers(&mut parts.headers);
        parts.uri = uri;
        // hyper picks HTTP/2 by ALPN (or h2c below); the request itself stays 1.1.
        parts.version = Version::HTTP_11;
        parts.extensions = Extensions::new();
        let slot = tracing::enabled!(target: "lattice_sidecar::diagnosis", tracing::Level::DEBUG)
            .then(|| {
                let slot = SignedHeadSlot::default();
                parts.extensions.insert(slot.clone());
                slot
            });
        let body = RequestBody::new(body, log.bytes_in.clone());
        let client = match target.scheme == Scheme::HTTP && inbound_version == Version::HTTP_2 {
            true => inner.h2c.clone(),
            false => inner.negotiated.clone(),
        };
        let call = client.oneshot(Request::from_parts(parts, body));
        let result = match inner.request_timeout {
            Some(limit) => match tokio::time::timeout(limit, call).await {
                Ok(result) => result,
                Err(_elapsed) => {
                    tracing::warn!(%upstream, timeout_ms = limit.as_millis() as u64, "upstream response headers timed out");
                    return Ok(self.synthetic(Synthetic::upstream_timeout(&upstream), log, grpc));
                }
            },
            None => call.await,
        };

        match result {
            Ok(response) => {
                inner
                    .metrics
                    .latency(&upstream, log.start.elapsed().as_secs_f64());
                let (mut parts, body) = response.into_parts();
                clean_response_headers(&mut parts.headers);
                parts.extensions = Extensions::new();
                parts.version = inbound_version;
                if parts.status == StatusCode::FORBIDDEN {
                    let error_type = parts
                        .headers
                        .get(LATTICE_ERROR_TYPE)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned);
                    log.forbidden = Some(Forbidden::new(error_type, slot, &inner.signer));
                }
                log.status = parts.status;
                inner.metrics.response(&upstream, parts.status.as_u16());
                Ok(Response::from_parts(
                    parts,
                    ResponseBody::upstream(body, log),
                ))
            }
            Err(error) => {
                let synthetic = Synthetic::from_upstream_error(&error, &upstream);
                match synthetic.code {
                    "upstream-connect-failed"
                    | "upstream-tls-failed"
                    | "upstream-connect-timeout" => inner.metrics.connect_error(&upstream),
                    code
                    @ ("unsignable-request" | "signing-failed" | "credentials-unavailable") => {
                        inner.metrics.signing_failure(code)
                    }
                    _ => {}
                }
                tracing::warn!(%upstream, code = synthetic.code, error = %chain(&*error), "request failed");
                Ok(self.synthetic(synthetic, log, grpc))
            }
        }
    }

    /// The response for an error at the proxy edge. A gRPC client gets it as gRPC status
    /// (see [`Synthetic::into_grpc_response`]); the log and metrics keep the HTTP status.
    fn synthetic(
        &self,
        synthetic: Synthetic,
        mut log: AccessLog,
        grpc: bool,
    ) -> Response<ResponseBody> {
        tracing::debug!(status = synthetic.status.as_u16(), code = synthetic.code, message = %synthetic.message, "synthetic response");
        self.inner.metrics.synthetic(synthetic.code);
        self.inner
            .metrics
            .response(&log.upstream, synthetic.status.as_u16());
        log.status = synthetic.status;
        log.error = Some(synthetic.code);
        let response: Response<bytes::Bytes> = match grpc {
            true => synthetic.into_grpc_response(),
            false => synthetic.into_response(),
        };
        let (parts, body) = response.into_parts();
        Response::from_parts(parts, ResponseBody::synthetic(body, log))
    }
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Proxy")
            .field("route", &self.inner.route)
            .finish_non_exhaustive()
    }
}

/// A gRPC call (`application/grpc`, `application/grpc+proto`, ...).
fn is_grpc(headers: &http::HeaderMap) -> bool {
    headers
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"))
}

/// The host the client named, for the access log.
fn requested_host(parts: &http::request::Parts) -> String {
    parts
        .uri
        .authority()
        .map(|a| a.to_string())
        .or_else(|| {
            parts
                .headers
                .get(HOST)
                .and_then(|h| h.to_str().ok())
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "-".to_owned())
}
