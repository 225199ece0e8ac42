//! The upstream clients: hyper-util's pooled client over rustls, with `--resolve`
//! overrides, one deadline for TCP and TLS setup, and HTTP/2 windows sized so that slow
//! readers hold back only their own streams.

use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::Uri;
use http::uri::Scheme;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use pin_project_lite::pin_project;
use tokio::net::TcpStream;
use tower_service::Service;

use crate::body::RequestBody;
use crate::config::{ResolveEntry, UpstreamConfig};
use crate::errors::{BoxError, TcpConnectError};
use crate::pool::STREAMS_PER_CONNECTION;

/// The pooled client: HTTPS with ALPN (h2, else HTTP/1.1), or plain HTTP/1.1.
pub(crate) type HttpClient = Client<TimedConnector, RequestBody>;

/// Both clients the proxy needs. Plain-HTTP upstreams get h2c (prior knowledge) when the
/// client spoke HTTP/2, since gRPC needs HTTP/2 end to end.
#[derive(Clone, Debug)]
pub(crate) struct Clients {
    pub negotiated: HttpClient,
    pub h2c: HttpClient,
}

/// Makes [`Clients`], each pair with pools of its own, over one connector (so the TLS roots
/// are loaded once per worker).
#[derive(Clone, Debug)]
pub(crate) struct ClientFactory {
    connector: TimedConnector,
    idle_timeout: Duration,
}

/// An `HttpConnector` that honours `--resolve` entries before DNS.
#[derive(Clone, Debug)]
pub(crate) struct ResolvingConnector {
    http: HttpConnector,
    overrides: Arc<[ResolveEntry]>,
}

/// [`HttpsConnector`] under one deadline for TCP *and* TLS. `HttpConnector`'s own timeout
/// stops at TCP, so an upstream that accepts and then stalls the handshake would otherwise
/// hold the request until `--request-timeout` (or forever, with none).
#[derive(Clone, Debug)]
pub(crate) struct TimedConnector {
    inner: HttpsConnector<ResolvingConnector>,
    timeout: Duration,
}

/// Response bytes one upstream HTTP/2 stream may have in flight to the sidecar: what a
/// client that reads slowly can park, and no more. hyper's default is 2 MiB; Envoy
/// suggests 64 KiB to 1 MiB at the edge. A 1 GiB download through the sidecar took as
/// long with 1 MiB as with 2 MiB (ratio 0.99 over ten alternating runs on loopback),
/// while 256 KiB made it 1.38x slower; 100 parked streams hold at most 100 MiB.
const UPSTREAM_STREAM_WINDOW: u32 = 1024 * 1024;
/// Room for every stream's window at once. Unread bytes count against the connection's
/// window too, so with hyper's defaults (2 MiB per stream, 5 MiB per connection) three
/// slow readers used it up and every other response on the connection stalled. With
/// [`STREAMS_PER_CONNECTION`] streams at most per connection (see `pool`), slow readers
/// can never hold all of it: a stream whose reader is slow holds back only itself.
const UPSTREAM_CONNECTION_WINDOW: u32 = STREAMS_PER_CONNECTION as u32 * UPSTREAM_STREAM_WINDOW;

// === impl ClientFactory ===

impl ClientFactory {
    pub(crate) fn new(config: &UpstreamConfig) -> Result<Self, BoxError> {
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
    pub(crate) fn clients(&self) -> Clients {
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

/// The rustls crypto provider of every upstream client (`tls_config`), for `--version` and
/// `lattice_sidecar_build_info`. A constant: the provider is chosen at compile time.
pub(crate) const TLS_PROVIDER: &str = "aws-lc-rs";

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
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tls_provider_has_a_name() {
        // The name --version and the metrics give is the provider the clients are built with.
        assert!(
            ["ring", "aws-lc-rs"].contains(&TLS_PROVIDER),
            "{TLS_PROVIDER}"
        );
        let config = tls_config(&[]).unwrap();
        let built = format!("{:?}", config.crypto_provider().key_provider);
        assert_eq!(
            built, "AwsLcRs",
            "rename TLS_PROVIDER to match the provider"
        );
        assert!(!config.fips());
    }
}
