//! Sign [`reqwest`] requests: a [`reqwest_middleware`] middleware, and a tower layer over
//! any `Service<reqwest::Request>` such as [`reqwest::Client`].
//!
//! Both sign the [`reqwest::Request`] itself, right before it is sent: method, URL and
//! headers. The body is never read, so streaming bodies (`reqwest::Body::wrap_stream`)
//! keep streaming.
//!
//! # With reqwest-middleware
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! use lattice_client::integrations::reqwest::SigV4Middleware;
//! use lattice_client::integrations::tls::TlsConfig;
//! use lattice_client::{CredentialsCache, Signer, SigningConfig};
//!
//! let signer = Signer::new(
//!     SigningConfig::builder().build()?,
//!     CredentialsCache::from_default_chain().await,
//! );
//! signer.credentials().warm().await?;
//!
//! // reqwest is built without a default crypto provider: hand it a rustls config.
//! let client = reqwest::Client::builder()
//!     .tls_backend_preconfigured(TlsConfig::new().build()?)
//!     .build()?;
//! let client = reqwest_middleware::ClientBuilder::new(client)
//!     .with(SigV4Middleware::new(signer))
//!     .build();
//!
//! let response = client
//!     .get("https://orders-0123456789abcdef0.7d67968.vpc-lattice-svcs.us-west-2.on.aws/orders?limit=10")
//!     .send()
//!     .await?;
//! println!("{} {}", response.status(), response.text().await?);
//! # Ok(()) }
//! ```
//!
//! Middleware runs in the order it is attached, so attach `SigV4Middleware` **last**,
//! after retry middleware such as `RetryTransientMiddleware`: each attempt is then signed
//! afresh, with its own `x-amz-date`. Signing failures come back as
//! [`reqwest_middleware::Error::Middleware`]; [`find_error`] digs out the
//! [`lattice_client::Error`](crate::Error).
//!
//! # With tower
//!
//! [`reqwest::Client`] is a `tower::Service<reqwest::Request>`, and `SigV4Middleware` is
//! also a [`Layer`] for such services:
//!
//! ```no_run
//! # async fn run(signer: lattice_client::Signer) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! use lattice_client::integrations::reqwest::SigV4Middleware;
//! use lattice_client::integrations::tls::TlsConfig;
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! let client = reqwest::Client::builder()
//!     .tls_backend_preconfigured(TlsConfig::new().build()?)
//!     .build()?;
//! let service = ServiceBuilder::new()
//!     .layer(SigV4Middleware::new(signer))
//!     .service(client.clone());
//!
//! let request = client
//!     .get("https://orders-0123456789abcdef0.7d67968.vpc-lattice-svcs.us-west-2.on.aws/orders")
//!     .build()?;
//! let response = service.oneshot(request).await?;
//! println!("{}", response.status());
//! # Ok(()) }
//! ```
//!
//! Why not [`SigV4Layer`](crate::SigV4Layer) over `http::Request`? reqwest turns an
//! `http::Request` into a `url::Url` before sending it, which lower-cases the host,
//! resolves `.`/`..` segments and percent-encodes some characters. A signature computed
//! before that conversion can then cover a request that is never sent. Signing the
//! `reqwest::Request` signs exactly the URL reqwest puts on the wire.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::{Extensions, Uri};
use pin_project_lite::pin_project;
use reqwest_middleware::{Middleware, Next};
use tower_layer::Layer;
use tower_service::Service;

use crate::error::{BoxError, Error};
use crate::layer::{ResponseHead, SignThenCall};
use crate::signer::{Signed, Signer};

/// Signs every request a [`reqwest_middleware::ClientWithMiddleware`] sends; also a tower
/// [`Layer`] producing [`SigV4Service`]. Cheap to clone.
///
/// See the [module docs](self) for examples.
#[derive(Clone, Debug)]
pub struct SigV4Middleware {
    signer: Signer,
}

/// Signs each [`reqwest::Request`], then calls the inner service (e.g. a
/// [`reqwest::Client`]). The `reqwest::Request` counterpart of [`SigV4`](crate::SigV4).
///
/// With warm credentials the request is signed synchronously inside `call`; only a cold
/// cache makes the returned future wait for the credentials provider.
///
/// See the [module docs](self) for an example.
#[derive(Clone, Debug)]
pub struct SigV4Service<S> {
    inner: S,
    signer: Signer,
}

pin_project! {
    /// Response future of [`SigV4Service`].
    pub struct ResponseFuture<S>
    where
        S: Service<reqwest::Request>,
    {
        #[pin]
        call: SignThenCall<S, reqwest::Request>,
    }
}

/// Sign a [`reqwest::Request`] in place, waiting for credentials only if none are cached.
///
/// The method, URL (exactly as reqwest will send it) and headers are signed; the body is
/// not touched. [`SigV4Middleware`] and [`SigV4Service`] call this for you.
///
/// ```no_run
/// # async fn run(signer: lattice_client::Signer) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// use lattice_client::integrations::tls::TlsConfig;
///
/// let client = reqwest::Client::builder()
///     .tls_backend_preconfigured(TlsConfig::new().build()?)
///     .build()?;
/// let mut request = client
///     .get("https://orders-0123456789abcdef0.7d67968.vpc-lattice-svcs.us-west-2.on.aws/orders")
///     .build()?;
/// lattice_client::integrations::reqwest::sign(&signer, &mut request).await?;
/// let response = client.execute(request).await?;
/// # let _ = response; Ok(()) }
/// ```
pub async fn sign(signer: &Signer, request: &mut reqwest::Request) -> Result<Signed, Error> {
    if let Some(signed) = sign_if_warm(signer, request)? {
        return Ok(signed);
    }
    let credentials = signer.credentials().get().await?;
    let mut uri = url_to_uri(request.url())?;
    let method = request.method().clone();
    signer.sign_parts(&method, &mut uri, request.headers_mut(), Some(&credentials))
}

/// The [`lattice_client::Error`](crate::Error) inside a `reqwest_middleware::Error`, if
/// signing is what failed.
///
/// ```
/// # fn handle(error: reqwest_middleware::Error) {
/// use lattice_client::ErrorKind;
/// use lattice_client::integrations::reqwest::find_error;
///
/// match find_error(&error).map(|e| e.kind()) {
///     Some(ErrorKind::Credentials) => eprintln!("no AWS credentials: {error}"),
///     Some(_) => eprintln!("cannot sign: {error}"),
///     None => eprintln!("request failed: {error}"),
/// }
/// # }
/// ```
pub fn find_error(error: &reqwest_middleware::Error) -> Option<&Error> {
    match error {
        // `reqwest_middleware::Error` is `#[error(transparent)]`, so its `source()` skips
        // the wrapped error itself: look inside the anyhow error instead.
        reqwest_middleware::Error::Middleware(inner) => Error::find_in(inner.as_ref()),
        reqwest_middleware::Error::Reqwest(inner) => Error::find_in(inner),
    }
}

/// The URI reqwest sends for a URL: it parses `url.as_str()` the same way.
fn url_to_uri(url: &reqwest::Url) -> Result<Uri, Error> {
    url.as_str()
        .parse::<Uri>()
        .map_err(|_| Error::invalid_uri("the reqwest URL is not a valid HTTP URI"))
}

/// Sign with cached credentials; `Ok(None)` if the cache is cold and the host needs them.
fn sign_if_warm(signer: &Signer, request: &mut reqwest::Request) -> Result<Option<Signed>, Error> {
    let mut uri = url_to_uri(request.url())?;
    let method = request.method().clone();
    signer.sign_parts_if_warm(&method, &mut uri, request.headers_mut())
}

// === impl SigV4Middleware ===

impl SigV4Middleware {
    /// A middleware that signs with `signer`.
    pub fn new(signer: Signer) -> Self {
        Self { signer }
    }

    /// The signer.
    pub fn signer(&self) -> &Signer {
        &self.signer
    }
}

#[async_trait::async_trait]
impl Middleware for SigV4Middleware {
    async fn handle(
        &self,
        mut request: reqwest::Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        sign(&self.signer, &mut request)
            .await
            .map_err(reqwest_middleware::Error::middleware)?;
        let response = next.run(request, extensions).await?;
        self.signer
            .observe_response(response.status(), response.headers());
        Ok(response)
    }
}

impl<S> Layer<S> for SigV4Middleware {
    type Service = SigV4Service<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SigV4Service::new(inner, self.signer.clone())
    }
}

// === impl SigV4Service ===

impl<S> SigV4Service<S> {
    /// Wrap `inner`.
    pub fn new(inner: S, signer: Signer) -> Self {
        Self { inner, signer }
    }

    inner_service_accessors!();
}

impl<S> Service<reqwest::Request> for SigV4Service<S>
where
    S: Service<reqwest::Request, Response = reqwest::Response> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, mut request: reqwest::Request) -> Self::Future {
        // `poll_ready` was called on `self.inner`; take that one and leave a fresh clone.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        let signed = sign_if_warm(&self.signer, &mut request);
        let call = SignThenCall::start(
            signed,
            inner,
            request,
            &self.signer,
            |signer, mut request| {
                Box::pin(async move {
                    let result = sign(&signer, &mut request).await.map(drop);
                    (result, request)
                })
            },
        );
        ResponseFuture { call }
    }
}

// === impl ResponseFuture ===

impl<S> Future for ResponseFuture<S>
where
    S: Service<reqwest::Request, Response = reqwest::Response>,
    S::Error: Into<BoxError>,
{
    type Output = Result<S::Response, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().call.poll(cx)
    }
}

impl ResponseHead for reqwest::Response {
    fn status(&self) -> http::StatusCode {
        self.status()
    }

    fn headers(&self) -> &http::HeaderMap {
        self.headers()
    }
}

impl<S> fmt::Debug for ResponseFuture<S>
where
    S: Service<reqwest::Request>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
