//! Sign requests sent with a [`hyper_util`] legacy client over rustls.
//!
//! There is no hyper-specific signing type: a hyper-util
//! [`Client`] is a `tower::Service<http::Request<B>>`, so [`SigV4Layer`](crate::SigV4Layer)
//! wraps it directly. HTTP/1.1 and HTTP/2 are negotiated with ALPN; the layer hands the
//! client a URI without a default port, so HTTP/2's `:authority` and HTTP/1.1's `Host`
//! both carry exactly the host that was signed.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! use bytes::Bytes;
//! use http_body_util::{BodyExt, Empty};
//! use hyper_util::client::legacy::{Client, connect::HttpConnector};
//! use hyper_util::rt::TokioExecutor;
//! use lattice_client::integrations::{hyper::https_connector, tls::TlsConfig};
//! use lattice_client::{CredentialsCache, SigV4Layer, Signer, SigningConfig};
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! let signer = Signer::new(
//!     SigningConfig::builder().build()?,
//!     CredentialsCache::from_default_chain().await,
//! );
//! signer.credentials().warm().await?;
//!
//! let connector = https_connector(TlsConfig::new().build()?, HttpConnector::new());
//! let client = Client::builder(TokioExecutor::new()).build::<_, Empty<Bytes>>(connector);
//! let service = ServiceBuilder::new().layer(SigV4Layer::new(signer)).service(client);
//!
//! let request = http::Request::get(
//!     "https://orders-0123456789abcdef0.7d67968.vpc-lattice-svcs.us-west-2.on.aws/orders",
//! )
//! .body(Empty::new())?;
//! let response = service.oneshot(request).await?;
//! let status = response.status();
//! let body = response.into_body().collect().await?.to_bytes();
//! println!("{status} {}", String::from_utf8_lossy(&body));
//! # Ok(()) }
//! ```
//!
//! [`client`] does the same in one call. To resolve names yourself (tests, a `--resolve`
//! flag, service discovery), build an [`HttpConnector`] with
//! [`HttpConnector::new_with_resolver`] and pass it to [`https_connector`] and
//! [`client_with_connector`].

use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{Connect, HttpConnector};
use hyper_util::rt::TokioExecutor;
use rustls::ClientConfig;

use crate::layer::SigV4;
use crate::signer::Signer;

/// A hyper-util client over rustls that negotiates HTTP/2 or HTTP/1.1, signed.
pub type SignedClient<B, R = hyper_util::client::legacy::connect::dns::GaiResolver> =
    SigV4<Client<HttpsConnector<HttpConnector<R>>, B>>;

/// A signing hyper-util client over the system resolver and `tls`, for request bodies
/// of type `B`.
///
/// ALPN follows `tls.alpn_protocols`: empty or both `h2` and `http/1.1` negotiates
/// either, one of them forces it. `http://` URIs are sent in clear text.
///
/// ```no_run
/// # async fn run(signer: lattice_client::Signer) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// use http_body_util::Full;
/// use lattice_client::integrations::{hyper::client, tls::TlsConfig};
/// use tower::ServiceExt;
///
/// let client = client::<Full<bytes::Bytes>>(signer, TlsConfig::new().build()?);
/// let request = http::Request::post(
///     "https://orders-0123456789abcdef0.7d67968.vpc-lattice-svcs.us-west-2.on.aws/orders",
/// )
/// .header("content-type", "application/json")
/// .body(Full::from(r#"{"item":"book"}"#))?;
/// let response = client.oneshot(request).await?;
/// # let _ = response; Ok(()) }
/// ```
pub fn client<B>(signer: Signer, tls: ClientConfig) -> SignedClient<B>
where
    B: http_body::Body + Send,
    B::Data: Send,
{
    client_with_connector(signer, https_connector(tls, HttpConnector::new()))
}

/// An HTTPS (and plain HTTP) connector over `http`, e.g. an [`HttpConnector`] with a
/// custom resolver. ALPN is taken from `tls.alpn_protocols` as in [`client`].
///
/// ```
/// use std::net::SocketAddr;
/// use hyper_util::client::legacy::connect::{HttpConnector, dns::Name};
/// use lattice_client::integrations::hyper::https_connector;
///
/// # fn run(tls: rustls::ClientConfig) {
/// // Send every name to one address, like curl's `--resolve`.
/// let resolver = tower::service_fn(|_name: Name| async {
///     let addr: SocketAddr = ([127, 0, 0, 1], 0).into();
///     Ok::<_, std::io::Error>(std::iter::once(addr))
/// });
/// let connector = https_connector(tls, HttpConnector::new_with_resolver(resolver));
/// # let _ = connector; }
/// ```
pub fn https_connector<R>(
    mut tls: ClientConfig,
    mut http: HttpConnector<R>,
) -> HttpsConnector<HttpConnector<R>> {
    http.enforce_http(false);
    let has = |protocol: &[u8]| tls.alpn_protocols.iter().any(|p| p == protocol);
    let (h1, h2) = (has(b"http/1.1"), has(b"h2"));
    // hyper-rustls sets ALPN itself and refuses a config that already has it.
    tls.alpn_protocols.clear();
    let builder = HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http();
    match (h1, h2) {
        (true, false) => builder.enable_http1().wrap_connector(http),
        (false, true) => builder.enable_http2().wrap_connector(http),
        _ => builder.enable_all_versions().wrap_connector(http),
    }
}

/// A signing hyper-util client over any connector (see [`https_connector`]).
///
/// ```no_run
/// # async fn run(signer: lattice_client::Signer, tls: rustls::ClientConfig) {
/// use http_body_util::Empty;
/// use hyper_util::client::legacy::connect::HttpConnector;
/// use lattice_client::integrations::hyper::{client_with_connector, https_connector};
///
/// let mut http = HttpConnector::new();
/// http.set_connect_timeout(Some(std::time::Duration::from_secs(2)));
/// let client = client_with_connector::<_, Empty<bytes::Bytes>>(signer, https_connector(tls, http));
/// # let _ = client; }
/// ```
pub fn client_with_connector<C, B>(signer: Signer, connector: C) -> SigV4<Client<C, B>>
where
    C: Connect + Clone,
    B: http_body::Body + Send,
    B::Data: Send,
{
    SigV4::new(
        Client::builder(TokioExecutor::new()).build(connector),
        signer,
    )
}

#[cfg(test)]
mod tests;
