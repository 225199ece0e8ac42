//! The per-request path: refuse (route and checks), forward (clean headers, pick a client,
//! sign through [`SigV4Layer`], send), respond (relay the upstream's answer); failures
//! become synthetic responses.
//!
//! [`SigV4Layer`]: lattice_client::SigV4Layer

use std::convert::Infallible;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
use http::uri::Scheme;
use http::{Extensions, Request, Response, StatusCode, Version};
use hyper::body::Incoming;
use lattice_client::Signer;
use tower::ServiceExt;

use crate::body::{AccessLog, RequestBody, ResponseBody};
use crate::config::{Route, Target, UpstreamConfig};
use crate::diagnosis::{Forbidden, SignedHeadSlot};
use crate::errors::{BoxError, Synthetic, chain};
use crate::framing::AmbiguousFraming;
use crate::headers::{clean_request_headers, remove_hop_by_hop};
use crate::metrics::{Metrics, NO_UPSTREAM};
use crate::pool::{Lease, PoolKey, Pools};
use crate::route::{map_request, upstream_uri};
use crate::signing::SignedClients;

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
    /// The worker's signed upstream clients.
    pools: Pools<SignedClients>,
    metrics: Metrics,
    /// The log's and metrics' upstream until one is chosen.
    no_upstream: Arc<str>,
}

/// A request on its way: where it goes, and what the log and metrics say of it.
struct Exchange {
    log: AccessLog,
    grpc: bool,
    inbound_version: Version,
}

// === impl Proxy ===

impl Proxy {
    pub(crate) fn new(
        route: Route,
        upstream: &UpstreamConfig,
        signer: Signer,
        pools: Pools<SignedClients>,
        metrics: Metrics,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                route,
                default_scheme: upstream.scheme.clone(),
                request_timeout: upstream.request_timeout,
                signer,
                pools,
                metrics,
                no_upstream: NO_UPSTREAM.into(),
            }),
        }
    }

    /// Refuse the request, or forward it and relay the response; errors become synthetic
    /// responses.
    pub(crate) async fn handle(
        self,
        request: Request<Incoming>,
        client: SocketAddr,
    ) -> Result<Response<ResponseBody>, Infallible> {
        let (parts, body) = request.into_parts();
        let in_flight = self.inner.metrics.request_started();
        let exchange = Exchange {
            log: AccessLog::start(&parts, client, self.inner.no_upstream.clone(), in_flight),
            grpc: is_grpc(&parts.headers),
            inbound_version: parts.version,
        };
        let target = match self.refuse(&parts) {
            Ok(target) => target,
            Err(refusal) => return Ok(self.synthetic(refusal, exchange)),
        };
        Ok(self.forward(parts, body, target, exchange).await)
    }

    /// The upstream of a request, or why it is refused before anything is sent.
    fn refuse(&self, parts: &http::request::Parts) -> Result<Target, Synthetic> {
        let inner = &self.inner;
        if parts.extensions.get::<AmbiguousFraming>().is_some() {
            return Err(Synthetic::bad_request(
                "ambiguous-framing",
                "the connection sent a request with both Content-Length and Transfer-Encoding, \
                 or Content-Length twice; send exactly one (request smuggling guard)",
            ));
        }
        map_request(
            &inner.route,
            &inner.default_scheme,
            inner.signer.config(),
            &parts.method,
            &parts.uri,
            &parts.headers,
        )
    }

    /// Sign and send the request, and turn what comes back into the client's response.
    async fn forward(
        &self,
        mut parts: http::request::Parts,
        body: Incoming,
        target: Target,
        mut exchange: Exchange,
    ) -> Response<ResponseBody> {
        let inner = &self.inner;
        // One copy, shared by the log and the pool key.
        let upstream: Arc<str> = target.authority.as_str().into();
        exchange.log.upstream = upstream.clone();
        let uri = match upstream_uri(&target, &parts.uri) {
            Ok(uri) => uri,
            Err(synthetic) => return self.synthetic(synthetic, exchange),
        };
        // Credentials are loaded and refreshed in the background: a request never waits
        // for the provider, and fails fast while there are none.
        if let Err(error) = inner.signer.credentials().ensure_cached() {
            inner.metrics.signing_failure("credentials-unavailable");
            return self.synthetic(Synthetic::credentials_unavailable(error), exchange);
        }
        let h2c = target.scheme == Scheme::HTTP && exchange.inbound_version == Version::HTTP_2;
        let key = PoolKey {
            authority: upstream.clone(),
            https: target.scheme == Scheme::HTTPS,
            h2c,
        };
        let Some((clients, lease)) = inner.pools.acquire(&key) else {
            return self.synthetic(Synthetic::upstream_busy(&upstream), exchange);
        };
        let client = match h2c {
            true => clients.h2c.clone(),
            false => clients.negotiated.clone(),
        };

        clean_request_headers(&mut parts.headers);
        parts.uri = uri;
        // hyper picks HTTP/2 by ALPN (or h2c below); the request itself stays 1.1.
        parts.version = Version::HTTP_11;
        parts.extensions = Extensions::new();
        let slot = SignedHeadSlot::when_logged();
        if let Some(slot) = &slot {
            parts.extensions.insert(slot.clone());
        }
        let body = RequestBody::new(body, exchange.log.request_body.clone());
        let call = client.oneshot(Request::from_parts(parts, body));
        let result = match inner.request_timeout {
            Some(limit) => match tokio::time::timeout(limit, call).await {
                Ok(result) => result,
                Err(_elapsed) => {
                    tracing::warn!(%upstream, timeout_ms = limit.as_millis() as u64, "upstream response headers timed out");
                    return self.synthetic(Synthetic::upstream_timeout(&upstream), exchange);
                }
            },
            None => call.await,
        };
        match result {
            Ok(response) => self.respond(response, lease, slot, exchange),
            Err(error) => self.failed(&error, &upstream, exchange),
        }
    }

    /// Relay the upstream's response, unless its framing is ambiguous.
    fn respond(
        &self,
        response: Response<Incoming>,
        lease: Lease,
        slot: Option<SignedHeadSlot>,
        mut exchange: Exchange,
    ) -> Response<ResponseBody> {
        let inner = &self.inner;
        let upstream = exchange.log.upstream.clone();
        let label = self.label(&exchange);
        let (mut parts, body) = response.into_parts();
        // hyper decodes such a body by Transfer-Encoding and keeps Content-Length, which
        // would then describe a different body to the client (RFC 9112 §6.3: a sign of a
        // broken upstream or of response smuggling).
        if parts.headers.contains_key(TRANSFER_ENCODING)
            && parts.headers.contains_key(CONTENT_LENGTH)
        {
            tracing::warn!(%upstream, "upstream response has both Content-Length and Transfer-Encoding; not forwarded");
            return self.synthetic(Synthetic::upstream_invalid_response(&upstream), exchange);
        }
        remove_hop_by_hop(&mut parts.headers);
        parts.extensions = Extensions::new();
        parts.version = exchange.inbound_version;
        if parts.status == StatusCode::FORBIDDEN {
            let error_type = parts
                .headers
                .get(LATTICE_ERROR_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            exchange.log.forbidden = Some(Forbidden::new(error_type, slot, &inner.signer));
        }
        exchange.log.status = parts.status;
        let elapsed = exchange.log.start.elapsed().as_secs_f64();
        inner
            .metrics
            .response(&label, parts.status.as_u16(), elapsed);
        Response::from_parts(parts, ResponseBody::upstream(body, exchange.log, lease))
    }

    /// The response for a request that could not be signed or sent.
    fn failed(
        &self,
        error: &BoxError,
        upstream: &str,
        mut exchange: Exchange,
    ) -> Response<ResponseBody> {
        let inner = &self.inner;
        // A request body that failed to arrive fails the upstream call too; that is the
        // client's doing (e.g. a malformed chunk size), not the upstream's.
        if exchange.log.request_body.failed() {
            tracing::debug!(%upstream, error = %chain(&**error), "request body failed while forwarding");
            return self.synthetic(Synthetic::invalid_request_body(), exchange);
        }
        let synthetic = Synthetic::from_upstream_error(error, upstream);
        match synthetic.code {
            // The signer's allow-list: the host was never an upstream.
            "host-not-allowed" => {
                exchange.log.upstream = inner.no_upstream.clone();
                return self.synthetic(synthetic, exchange);
            }
            "upstream-connect-failed" | "upstream-tls-failed" | "upstream-connect-timeout" => {
                inner.metrics.connect_error(&self.label(&exchange))
            }
            code @ ("unsignable-request" | "signing-failed" | "credentials-unavailable") => {
                inner.metrics.signing_failure(code)
            }
            _ => {}
        }
        tracing::warn!(%upstream, code = synthetic.code, error = %chain(&**error), "request failed");
        self.synthetic(synthetic, exchange)
    }

    /// The exchange's `upstream` metrics label: `-` until an upstream is chosen, then a
    /// bounded one (see [`Metrics::upstream_label`]).
    fn label(&self, exchange: &Exchange) -> Arc<str> {
        let upstream = &exchange.log.upstream;
        match Arc::ptr_eq(upstream, &self.inner.no_upstream) {
            true => upstream.clone(),
            false => self.inner.metrics.upstream_label(upstream),
        }
    }

    /// The response for an error at the proxy edge. A gRPC client gets it as gRPC status
    /// (see [`Synthetic::into_grpc_response`]); the log and metrics keep the HTTP status.
    fn synthetic(&self, synthetic: Synthetic, exchange: Exchange) -> Response<ResponseBody> {
        tracing::debug!(status = synthetic.status.as_u16(), code = synthetic.code, message = %synthetic.message, "synthetic response");
        let label = self.label(&exchange);
        let Exchange { mut log, grpc, .. } = exchange;
        self.inner.metrics.synthetic(synthetic.code);
        let elapsed = log.start.elapsed().as_secs_f64();
        self.inner
            .metrics
            .response(&label, synthetic.status.as_u16(), elapsed);
        log.status = synthetic.status;
        log.error = Some(synthetic.code);
        let close = synthetic.closes_connection();
        let response: Response<bytes::Bytes> = match grpc {
            true => synthetic.into_grpc_response(),
            false => synthetic.into_response(),
        };
        let (mut parts, body) = response.into_parts();
        if close {
            parts.headers.insert(
                http::header::CONNECTION,
                http::HeaderValue::from_static("close"),
            );
        }
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
