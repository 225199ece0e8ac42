//! Sign gRPC calls made with [`tonic`]: a layer around a [`Channel`] (recommended), or a
//! [`SigV4Interceptor`] for `XClient::with_interceptor`.
//!
//! # The origin problem
//!
//! Generated clients send requests with a path-only URI (`/package.Service/Method`);
//! the `Channel` fills in the scheme and authority from its `Endpoint` *inside* itself,
//! after any layer wrapped around it has run. A signer wrapped around a `Channel` would
//! therefore see no host to sign. [`signed_channel`] solves this by putting a
//! [`WithOrigin`] in front of the [`SigV4`] layer: it sets the same scheme and authority
//! the `Channel` will set, before signing, so the host that is signed is the
//! `:authority` that is sent. Both must be equal, so:
//!
//! - pass the **same origin** as the `Endpoint`'s URI (or its
//!   [`Endpoint::origin`](tonic::transport::Endpoint::origin)), and
//! - leave out default ports (`https://host`, not `https://host:443`): the `Channel`
//!   sends the authority exactly as written, while the signer signs the host without a
//!   default port, as HTTP/1.1 `Host` headers carry it. [`signed_channel`] and
//!   [`SigV4Interceptor::new`] reject origins with a default port rather than produce a
//!   signature that Lattice would refuse.
//!
//! # Layer or interceptor?
//!
//! | | [`signed_channel`] (layer) | [`SigV4Interceptor`] |
//! |---|---|---|
//! | sees | the whole `http::Request`: method, URI, every header | only metadata and extensions |
//! | path signed | the real one | rebuilt as `/{service}/{method}` from [`tonic::GrpcMethod`] |
//! | credentials | waits for the provider when the cache is cold | warm cache only; a cold cache fails the call with `Unavailable` |
//! | client type | `XClient<SignedChannel>` | `XClient<InterceptedService<Channel, SigV4Interceptor>>` |
//! | Lattice's 403 | `PermissionDenied` (see [`HttpErrorsAsStatus`]) | `Internal`, unless the channel is wrapped in [`HttpErrorsAsStatus`] |
//!
//! Prefer the layer. Use the interceptor when the client type is fixed to
//! `InterceptedService` (e.g. other interceptors are already in use), and call
//! [`CredentialsCache::warm`](crate::CredentialsCache::warm) at start-up.
//!
//! Either way the signature covers every header present when tonic hands the request to
//! the channel: `content-type: application/grpc`, `grpc-timeout` (if the call has a
//! timeout), `grpc-accept-encoding`/`grpc-encoding` (if compression is configured) and
//! all ASCII metadata. The `Channel` adds `user-agent` afterwards, which is unsigned by
//! default; `te: trailers` is never signed.
//!
//! # Example
//!
//! ```no_run
//! # mod greeter { pub struct GreeterClient<T>(T); impl<T> GreeterClient<T> { pub fn new(t: T) -> Self { Self(t) } } }
//! # async fn run() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! use lattice_client::integrations::tonic::signed_channel;
//! use lattice_client::{CredentialsCache, Signer, SigningConfig};
//! use tonic::transport::{ClientTlsConfig, Endpoint};
//! # use greeter::GreeterClient;
//!
//! let signer = Signer::new(
//!     SigningConfig::builder().build()?,
//!     CredentialsCache::from_default_chain().await,
//! );
//! signer.credentials().warm().await?;
//!
//! let origin: http::Uri =
//!     "https://greeter-0123456789abcdef0.7d67968.vpc-lattice-svcs.us-west-2.on.aws".parse()?;
//! // `with_enabled_roots` needs tonic's `tls-native-roots` or `tls-webpki-roots` feature.
//! let channel = Endpoint::from(origin.clone())
//!     .tls_config(ClientTlsConfig::new().with_enabled_roots())?
//!     .connect()
//!     .await?;
//! let mut client = GreeterClient::new(signed_channel(channel, origin, signer)?);
//! // client.say_hello(HelloRequest { name: "Ada".into() }).await?;
//! # Ok(()) }
//! ```

use std::fmt;
use std::task::{Context, Poll};

use http::uri::{Authority, Scheme};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};
use tonic::metadata::MetadataMap;
use tonic::service::Interceptor;
use tonic::transport::Channel;
use tonic::{GrpcMethod, Status};
use tower_service::Service;

use crate::error::{Error, ErrorKind};
use crate::layer::SigV4;
use crate::signer::Signer;

/// A [`Channel`] that signs every call: what [`signed_channel`] returns.
pub type SignedChannel = WithOrigin<HttpErrorsAsStatus<SigV4<Channel>>>;

/// Gives a non-gRPC HTTP error response a gRPC status, following gRPC's HTTP-to-gRPC
/// status mapping (401 `Unauthenticated`, 403 `PermissionDenied`, 429/502/503/504
/// `Unavailable`, ...), so that a call Lattice refuses fails with that status, naming the
/// HTTP status and `x-amzn-ErrorType`. Without it tonic decodes Lattice's plain-text body
/// as gRPC frames and reports a protocol error (`Internal`). The response headers stay
/// readable as the status's metadata. [`signed_channel`] puts it outside [`SigV4`], which
/// must still see the HTTP status (clock-skew correction reads the refused response).
#[derive(Clone, Debug)]
pub struct HttpErrorsAsStatus<S> {
    inner: S,
}

/// Sets the scheme and authority of each request's URI to a fixed origin, keeping the
/// path. Put it in front of [`SigV4`] wrapping a [`Channel`], so the signer sees the
/// authority the `Channel` will send; [`signed_channel`] does that.
///
/// See the [module docs](self) for why it is needed.
#[derive(Clone, Debug)]
pub struct WithOrigin<S> {
    inner: S,
    scheme: Scheme,
    authority: Authority,
}

/// A [`tonic::service::Interceptor`] that signs each call with cached credentials.
///
/// An interceptor only sees metadata and extensions: tonic strips the URI and method
/// before calling it. So this one rebuilds the path as `/{service}/{method}` from the
/// [`tonic::GrpcMethod`] extension that generated clients add, signs `POST` to its own
/// configured origin, signs every ASCII metadata entry (values that are not visible
/// ASCII are sent unsigned), and writes the signer's headers (`authorization`,
/// `x-amz-date`, `x-amz-content-sha256`, `x-amz-security-token`, `x-amz-region-set`)
/// into the metadata.
///
/// It cannot wait, so it only uses credentials that are already cached: call
/// [`CredentialsCache::warm`](crate::CredentialsCache::warm) first. When none are cached
/// the call fails with [`tonic::Code::Unavailable`] (and a background refresh starts).
/// Origins with a path prefix are not supported: use [`signed_channel`] for those.
///
/// The layer returned by [`signed_channel`] has none of these limits; see the
/// [module docs](self) for the trade-off.
///
/// ```no_run
/// # mod greeter { pub struct GreeterClient<T>(T); impl<T> GreeterClient<T> {
/// #     pub fn with_interceptor<F>(t: T, f: F) -> Self { let _ = f; Self(t) } } }
/// # async fn run(signer: lattice_client::Signer) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// use lattice_client::integrations::tonic::SigV4Interceptor;
/// use tonic::transport::{ClientTlsConfig, Endpoint};
/// # use greeter::GreeterClient;
///
/// signer.credentials().warm().await?;
/// let origin: http::Uri =
///     "https://greeter-0123456789abcdef0.7d67968.vpc-lattice-svcs.us-west-2.on.aws".parse()?;
/// let channel = Endpoint::from(origin.clone())
///     .tls_config(ClientTlsConfig::new().with_enabled_roots())?
///     .connect()
///     .await?;
/// let client = GreeterClient::with_interceptor(channel, SigV4Interceptor::new(signer, origin)?);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct SigV4Interceptor {
    signer: Signer,
    scheme: Scheme,
    authority: Authority,
}

/// Wrap a connected (or lazy) [`Channel`] so that every call is signed for `origin`,
/// which must equal the channel's `Endpoint` URI (or its custom origin) and have no
/// default port.
///
/// Fails if `origin` has no scheme or authority, or names a default port.
///
/// See the [module docs](self) for an example.
pub fn signed_channel(
    channel: Channel,
    origin: Uri,
    signer: Signer,
) -> Result<SignedChannel, Error> {
    WithOrigin::new(HttpErrorsAsStatus::new(SigV4::new(channel, signer)), origin)
}

/// The scheme and authority of an origin that a `Channel` will send unchanged.
fn parse_origin(origin: Uri) -> Result<(Scheme, Authority), Error> {
    let shown = origin.to_string();
    let parts = origin.into_parts();
    let (Some(scheme), Some(authority)) = (parts.scheme, parts.authority) else {
        return Err(Error::invalid_uri(format!(
            "origin `{shown}` must be absolute, like `https://host` or `http://host:port`"
        )));
    };
    let default_port = if scheme == Scheme::HTTPS {
        Some(443)
    } else if scheme == Scheme::HTTP {
        Some(80)
    } else {
        None
    };
    if authority.port_u16().is_some() && authority.port_u16() == default_port {
        return Err(Error::invalid_uri(format!(
            "origin `{shown}` names the default port: tonic sends `:authority` as written while the \
             signature covers `{}`; build the Endpoint and the origin from `{scheme}://{}` instead",
            authority.host(),
            authority.host(),
        )));
    }
    Ok((scheme, authority))
}

// === impl WithOrigin ===

impl<S> WithOrigin<S> {
    /// Wrap `inner`, setting the scheme and authority of `origin` on every request.
    ///
    /// Fails if `origin` has no scheme or authority, or names a default port (see the
    /// [module docs](self)).
    ///
    /// ```
    /// use lattice_client::integrations::tonic::WithOrigin;
    ///
    /// let service = tower::service_fn(|request: http::Request<()>| async move {
    ///     Ok::<_, std::convert::Infallible>(request.uri().to_string())
    /// });
    /// let service = WithOrigin::new(service, "https://example.com".parse()?)?;
    /// # Ok::<_, Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(inner: S, origin: Uri) -> Result<Self, Error> {
        let (scheme, authority) = parse_origin(origin)?;
        Ok(Self {
            inner,
            scheme,
            authority,
        })
    }

    inner_service_accessors!();
}

impl<S, B> Service<http::Request<B>> for WithOrigin<S>
where
    S: Service<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        let mut parts = std::mem::take(request.uri_mut()).into_parts();
        parts.scheme = Some(self.scheme.clone());
        parts.authority = Some(self.authority.clone());
        if parts.path_and_query.is_none() {
            parts.path_and_query = Some(http::uri::PathAndQuery::from_static("/"));
        }
        // Scheme, authority and path are all set, so this cannot fail; if it somehow did,
        // the request goes on without an authority and the signer reports that.
        *request.uri_mut() = Uri::from_parts(parts).unwrap_or_default();
        self.inner.call(request)
    }
}

// === impl HttpErrorsAsStatus ===

impl<S> HttpErrorsAsStatus<S> {
    /// Wrap `inner`.
    pub fn new(inner: S) -> Self {
        Self { inner }
    }

    inner_service_accessors!();
}

impl<S, B, ResBody> Service<http::Request<B>> for HttpErrorsAsStatus<S>
where
    S: Service<http::Request<B>, Response = http::Response<ResBody>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = futures_util::future::MapOk<S::Future, fn(S::Response) -> S::Response>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        futures_util::TryFutureExt::map_ok(self.inner.call(request), with_grpc_status)
    }
}

/// Adds `grpc-status` and `grpc-message` to a response that is neither a success nor gRPC.
/// tonic reads a `grpc-status` header before the body (a trailers-only response), so the
/// body is never decoded.
fn with_grpc_status<ResBody>(mut response: http::Response<ResBody>) -> http::Response<ResBody> {
    const GRPC_STATUS: HeaderName = HeaderName::from_static("grpc-status");
    const GRPC_MESSAGE: HeaderName = HeaderName::from_static("grpc-message");
    let status = response.status();
    let headers = response.headers();
    let is_grpc = headers
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"));
    if status == http::StatusCode::OK || is_grpc || headers.contains_key(GRPC_STATUS) {
        return response;
    }
    let code = tonic::Code::from_i32(crate::grpc::code_for_http_status(status));
    let error_type = headers
        .get("x-amzn-errortype")
        .and_then(|v| v.to_str().ok())
        // Lattice may append `:<url>` to the type, as other AWS services do.
        .map(|v| v.split(':').next().unwrap_or(v));
    let message = match error_type {
        Some(error_type) => format!("HTTP {status} from the server: {error_type}"),
        None => format!("HTTP {status} from the server, not a gRPC response"),
    };
    // grpc-message is percent-encoded; these characters are all that can occur here.
    let message = message.replace('%', "%25");
    let headers = response.headers_mut();
    headers.insert(GRPC_STATUS, HeaderValue::from(code as i32));
    if let Ok(value) = HeaderValue::from_str(&message) {
        headers.insert(GRPC_MESSAGE, value);
    }
    response
}

// === impl SigV4Interceptor ===

impl SigV4Interceptor {
    /// An interceptor signing for `origin`, which must equal the channel's `Endpoint` URI
    /// (or its custom origin) and have no default port.
    ///
    /// Fails if `origin` has no scheme or authority, or names a default port.
    ///
    /// See the [type docs](Self) for an example.
    pub fn new(signer: Signer, origin: Uri) -> Result<Self, Error> {
        let (scheme, authority) = parse_origin(origin)?;
        Ok(Self {
            signer,
            scheme,
            authority,
        })
    }

    /// The signer.
    pub fn signer(&self) -> &Signer {
        &self.signer
    }

    fn sign(&self, metadata: &mut MetadataMap, path: &str) -> Result<(), Error> {
        let uri = Uri::builder()
            .scheme(self.scheme.clone())
            .authority(self.authority.clone())
            .path_and_query(path)
            .build()
            .map_err(|_| {
                Error::invalid_uri(format!("gRPC path `{path}` is not a valid URI path"))
            })?;
        let mut request = http::Request::new(());
        *request.method_mut() = Method::POST;
        *request.uri_mut() = uri;
        *request.headers_mut() = std::mem::take(metadata).into_headers();

        // SigV4 can only sign visible ASCII; such values travel unsigned instead.
        let unsignable = set_aside_unsignable(request.headers_mut());
        let result = self.signer.sign_cached(&mut request);
        let mut headers = std::mem::take(request.headers_mut());
        for (name, value) in unsignable {
            headers.append(name, value);
        }
        *metadata = MetadataMap::from_headers(headers);
        result.map(drop)
    }
}

impl Interceptor for SigV4Interceptor {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, Status> {
        let Some(method) = request.extensions().get::<GrpcMethod<'static>>() else {
            return Err(Status::internal(
                "SigV4Interceptor needs the `tonic::GrpcMethod` extension that tonic-build clients add; \
                 for hand-written clients use `signed_channel` instead",
            ));
        };
        let path = format!("/{}/{}", method.service(), method.method());
        match self.sign(request.metadata_mut(), &path) {
            Ok(()) => Ok(request),
            Err(error) => Err(status_for(error)),
        }
    }
}

impl fmt::Debug for SigV4Interceptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigV4Interceptor")
            .field(
                "origin",
                &format_args!("{}://{}", self.scheme, self.authority),
            )
            .field("signer", &self.signer)
            .finish()
    }
}

/// Remove every header with a value that is not visible ASCII, returning them in order.
fn set_aside_unsignable(headers: &mut HeaderMap) -> Vec<(HeaderName, HeaderValue)> {
    let names: Vec<HeaderName> = headers
        .keys()
        .filter(|name| headers.get_all(*name).iter().any(|v| v.to_str().is_err()))
        .cloned()
        .collect();
    let mut removed = Vec::new();
    for name in names {
        tracing::debug!(header = %name, "not signing a header whose value is not visible ASCII");
        let values: Vec<HeaderValue> = headers.get_all(&name).iter().cloned().collect();
        headers.remove(&name);
        removed.extend(values.into_iter().map(|v| (name.clone(), v)));
    }
    removed
}

fn status_for(error: Error) -> Status {
    let mut status = match error.kind() {
        ErrorKind::Credentials => Status::unavailable(format!(
            "{error}. SigV4Interceptor cannot wait for credentials: call \
             `signer.credentials().warm().await` before making calls"
        )),
        _ => Status::internal(format!("cannot sign the gRPC request: {error}")),
    };
    status.set_source(std::sync::Arc::new(error));
    status
}

#[cfg(test)]
mod tests;
