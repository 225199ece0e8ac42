//! Where a request goes and how it gets there: routing (fixed upstream, proxy URI or
//! Host), header hygiene, and the pooled hyper-util client over rustls with `--resolve`
//! overrides.

use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::header::{CONNECTION, EXPECT, HOST, TE, TRANSFER_ENCODING, UPGRADE};
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use lattice_client::{SIGNER_OWNED_HEADERS, SigningConfig};
use pin_project_lite::pin_project;
use tokio::net::TcpStream;
use tower_service::Service;

use crate::body::RequestBody;
use crate::config::{ResolveEntry, Route, Target, UpstreamConfig, without_default_port};
use crate::errors::{BoxError, Synthetic, TcpConnectError};
use crate::pool::STREAMS_PER_CONNECTION;

/// The pooled client: HTTPS with ALPN (h2, else HTTP/1.1), or plain HTTP/1.1.
pub type HttpClient = Client<TimedConnector, RequestBody>;

/// Both clients the proxy needs. Plain-HTTP upstreams get h2c (prior knowledge) when the
/// client spoke HTTP/2, since gRPC needs HTTP/2 end to end.
#[derive(Clone, Debug)]
pub struct Clients {
    pub negotiated: HttpClient,
    pub h2c: HttpClient,
}

/// Makes [`Clients`], each pair with pools of its own, over one connector (so the TLS roots
/// are loaded once per worker).
#[derive(Clone, Debug)]
pub struct ClientFactory {
    connector: TimedConnector,
    idle_timeout: Duration,
}

/// An `HttpConnector` that honours `--resolve` entries before DNS.
#[derive(Clone, Debug)]
pub struct ResolvingConnector {
    http: HttpConnector,
    overrides: Arc<[ResolveEntry]>,
}

/// [`HttpsConnector`] under one deadline for TCP *and* TLS. `HttpConnector`'s own timeout
/// stops at TCP, so an upstream that accepts and then stalls the handshake would otherwise
/// hold the request until `--request-timeout` (or forever, with none).
#[derive(Clone, Debug)]
pub struct TimedConnector {
    inner: HttpsConnector<ResolvingConnector>,
    timeout: Duration,
}

/// Response bytes one upstream HTTP/2 stream may have in flight to the sidecar. A client
/// that reads slowly holds this much of its stream, and no more: 256 KiB keeps a stream
/// near 2 Gbit/s at 1 ms of round trip, and 100 parked streams under 26 MiB. (hyper's
/// default is 2 MiB, Envoy suggests 64 KiB to 1 MiB at the edge.)
const UPSTREAM_STREAM_WINDOW: u32 = 256 * 1024;
/// Room for every stream's window at once. Unread bytes count against the connection's
/// window too, so with hyper's defaults (2 MiB per stream, 5 MiB per connection) three
/// slow readers used it up and every other response on the connection stalled. With
/// [`STREAMS_PER_CONNECTION`] streams at most per connection (see `pool`), slow readers
/// can never hold all of it: a stream whose reader is slow holds back only itself.
const UPSTREAM_CONNECTION_WINDOW: u32 = STREAMS_PER_CONNECTION as u32 * UPSTREAM_STREAM_WINDOW;

// === impl ClientFactory ===

impl ClientFactory {
    pub fn new(config: &UpstreamConfig) -> Result<Self, BoxError> {
        let tls = tls_config(&config.extra_roots)?;
        let mut http = HttpConnector::new();
        // hyper-rustls hands https URIs to the TCP connector too.
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(config.connect_timeout));
        http.set_keepalive(Some(std::time::Duration::from_secs(60)));
        let connector = ResolvingConnector {
            http,
            overrides: config.resolve.clone().into(),
        };
        Ok(Self {
            connector: TimedConnector {
                inner: HttpsConnectorBuilder::new()
                    .with_tls_config(tls)
                    .https_or_http()
                    .enable_http1()
                    .enable_http2()
                    .wrap_connector(connector),
                timeout: config.connect_timeout,
            },
            idle_timeout: config.idle_timeout,
        })
    }

    /// A new pair of clients, with empty pools.
    pub fn clients(&self) -> Clients {
        let build = |h2_only: bool| {
            let mut builder = Client::builder(TokioExecutor::new());
            builder
                .pool_idle_timeout(self.idle_timeout)
                .pool_timer(TokioTimer::new())
                .timer(TokioTimer::new())
                .http2_only(h2_only)
                .http2_initial_stream_window_size(UPSTREAM_STREAM_WINDOW)
                .http2_initial_connection_window_size(UPSTREAM_CONNECTION_WINDOW)
                // The Host header is set from the URI, which names the upstream.
                .set_host(true);
            builder.build(self.connector.clone())
        };
        Clients {
            negotiated: build(false),
            h2c: build(true),
        }
    }
}

fn tls_config(
    extra_roots: &[rustls::pki_types::CertificateDer<'static>],
) -> Result<rustls::ClientConfig, BoxError> {
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for error in &native.errors {
        tracing::debug!(%error, "skipping an unreadable system CA certificate");
    }
    let (added, ignored) = roots.add_parsable_certificates(native.certs);
    tracing::debug!(added, ignored, "loaded system CA certificates");
    for cert in extra_roots {
        roots
            .add(cert.clone())
            .map_err(|e| format!("--ca-file: unusable CA certificate: {e}"))?;
    }
    if roots.is_empty() {
        tracing::warn!(
            "no trusted CA certificates: upstream TLS will fail; install the system CA bundle or pass --ca-file"
        );
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

// === impl TimedConnector ===

impl Service<Uri> for TimedConnector {
    type Response = <HttpsConnector<ResolvingConnector> as Service<Uri>>::Response;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let connecting = self.inner.call(uri);
        let timeout = self.timeout;
        Box::pin(async move {
            match tokio::time::timeout(timeout, connecting).await {
                Ok(connected) => connected,
                Err(_) => Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "TCP and TLS setup took longer than --connect-timeout",
                )
                .into()),
            }
        })
    }
}

// === impl ResolvingConnector ===

impl Service<Uri> for ResolvingConnector {
    type Response = UpstreamTcp;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.http.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let default_port = if uri.scheme() == Some(&Scheme::HTTPS) {
            443
        } else {
            80
        };
        let port = uri.port_u16().unwrap_or(default_port);
        let host = uri
            .host()
            .unwrap_or_default()
            .trim_end_matches('.')
            .to_ascii_lowercase();
        let destination = match self
            .overrides
            .iter()
            .find(|e| e.host == host && e.port == port)
        {
            Some(entry) => match Uri::from_str(&format!("http://{}", entry.addr)) {
                Ok(uri) => uri,
                Err(error) => return Box::pin(std::future::ready(Err(error.into()))),
            },
            None => uri,
        };
        let connecting = self.http.call(destination);
        // Marked, so a failed TLS handshake on top is not mistaken for it.
        Box::pin(async move {
            match connecting.await {
                Ok(tcp) => Ok(UpstreamTcp { inner: tcp }),
                Err(error) => Err(TcpConnectError::new(error).into()),
            }
        })
    }
}

pin_project! {
    /// An upstream TCP connection that reports no connection info. hyper-util's
    /// `TcpStream` reports its addresses, and the pooled client then copies them into the
    /// extensions of every response (three allocations per request) that the proxy drops.
    pub struct UpstreamTcp {
        #[pin]
        inner: TokioIo<TcpStream>,
    }
}

impl Connection for UpstreamTcp {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

impl hyper::rt::Read for UpstreamTcp {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        self.project().inner.poll_read(cx, buf)
    }
}

impl hyper::rt::Write for UpstreamTcp {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.project().inner.poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        self.project().inner.poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.project().inner.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.project().inner.poll_shutdown(cx)
    }
}

impl std::fmt::Debug for UpstreamTcp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamTcp").finish_non_exhaustive()
    }
}

// === routing ===

/// Decide the upstream of a request, or refuse it.
pub fn route_request(
    route: &Route,
    default_scheme: &Scheme,
    signing: &SigningConfig,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<Target, Synthetic> {
    if method == Method::CONNECT {
        return Err(Synthetic::connect_not_supported());
    }
    if let Some(protocols) = unsupported_upgrade(headers) {
        return Err(Synthetic::upgrade_not_supported(&protocols));
    }
    if uri.path() == "*" {
        return Err(Synthetic::bad_request(
            "invalid-request",
            "asterisk-form request targets (`OPTIONS *`) cannot be forwarded",
        ));
    }
    let requested = requested_authority(uri, headers)?;
    match route {
        Route::Fixed(target) => {
            // Apps on fixed routes send `Host: 127.0.0.1:8081`, which is fine; naming a
            // different Lattice service means the request reached the wrong listener.
            if let Some(requested) = &requested
                && signing.allows_host(requested.as_str())
                && !requested.host().eq_ignore_ascii_case(target.host())
            {
                return Err(Synthetic::misdirected(
                    requested.as_str(),
                    &target.to_string(),
                ));
            }
            Ok(target.clone())
        }
        Route::FromRequest => {
            let Some(authority) = requested else {
                return Err(Synthetic::bad_request(
                    "missing-host",
                    "the request names no host: use the sidecar as an HTTP proxy (absolute URL) or send a Host header naming the service",
                ));
            };
            if !signing.allows_host(authority.as_str()) {
                return Err(Synthetic::host_not_allowed(authority.as_str()));
            }
            let client_scheme = uri.scheme().cloned().unwrap_or(Scheme::HTTP);
            let scheme = if client_scheme == Scheme::HTTPS {
                Scheme::HTTPS
            } else {
                default_scheme.clone()
            };
            // `http://svc:80/` means "the default port", which for https is 443.
            let authority = without_default_port(&client_scheme, &authority);
            let authority = without_default_port(&scheme, &authority);
            Ok(Target { scheme, authority })
        }
    }
}

/// The protocols an `Upgrade` header asks for, unless it asks for nothing or only `h2c`.
/// The sidecar never switches protocols: Lattice has no WebSockets, and a tunnel could
/// not be signed. `Upgrade: h2c` (what `curl --http2` sends for http:// URLs) is ignored
/// and the request served as HTTP/1.1, which RFC 9110 §7.8 allows and clients expect.
fn unsupported_upgrade(headers: &HeaderMap) -> Option<String> {
    let protocols: Vec<&str> = headers
        .get_all(UPGRADE)
        .iter()
        .flat_map(|v| v.to_str().unwrap_or("?").split(','))
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    match protocols.iter().all(|p| p.eq_ignore_ascii_case("h2c")) {
        true => None,
        false => Some(protocols.join(", ")),
    }
}

/// The host a request names: the URI's authority (absolute-form, or HTTP/2
/// `:authority`), else the `Host` header.
fn requested_authority(uri: &Uri, headers: &HeaderMap) -> Result<Option<Authority>, Synthetic> {
    let mut hosts = headers.get_all(HOST).iter();
    let host = hosts.next();
    if hosts.next().is_some() {
        return Err(Synthetic::bad_request(
            "invalid-host",
            "the request has more than one Host header",
        ));
    }
    let authority = match (uri.authority(), host) {
        (Some(authority), _) => authority.clone(),
        (None, None) => return Ok(None),
        (None, Some(value)) if value.is_empty() => return Ok(None),
        (None, Some(value)) => Authority::try_from(value.as_bytes()).map_err(|_| {
            Synthetic::bad_request("invalid-host", "the Host header is not a valid host[:port]")
        })?,
    };
    if authority.as_str().contains('@') {
        return Err(Synthetic::bad_request(
            "invalid-host",
            "the request host must not contain user info (`user@`)",
        ));
    }
    Ok(Some(authority))
}

/// `scheme://authority` of the target plus the path and query exactly as received.
pub fn upstream_uri(target: &Target, uri: &Uri) -> Result<Uri, Synthetic> {
    let path_and_query = uri
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| PathAndQuery::from_static("/"));
    Uri::builder()
        .scheme(target.scheme.clone())
        .authority(target.authority.clone())
        .path_and_query(path_and_query)
        .build()
        .map_err(|_| {
            Synthetic::bad_request("invalid-request", "the request target cannot be forwarded")
        })
}

// === header hygiene ===

/// Prepare client headers for signing and forwarding: drop hop-by-hop headers (and what
/// `Connection` names), `Host` (the upstream's is set from the URI), `Expect` (the sidecar
/// answers `100-continue` itself), and any client-supplied signature headers. `TE:
/// trailers` survives, for gRPC. Every other header is kept.
pub fn clean_request_headers(headers: &mut HeaderMap) {
    let wants_trailers = headers
        .get_all(TE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| {
            t.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .eq_ignore_ascii_case("trailers")
        });
    remove_hop_by_hop(headers);
    headers.remove(HOST);
    headers.remove(EXPECT);
    headers.remove("http2-settings");
    for name in SIGNER_OWNED_HEADERS {
        headers.remove(name);
    }
    if wants_trailers {
        headers.insert(TE, HeaderValue::from_static("trailers"));
    }
}

/// Drop hop-by-hop headers from an upstream response.
pub fn clean_response_headers(headers: &mut HeaderMap) {
    remove_hop_by_hop(headers);
}

fn remove_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in [CONNECTION, TE, TRANSFER_ENCODING, UPGRADE] {
        headers.remove(name);
    }
    headers.remove("keep-alive");
    let proxy: Vec<HeaderName> = headers
        .keys()
        .filter(|n| n.as_str().starts_with("proxy-"))
        .cloned()
        .collect();
    for name in proxy {
        headers.remove(name);
    }
}

#[cfg(test)]
mod tests;
