use std::task::{Context, Poll};

use tower_service::Service;

use super::future::SignThenCall;
use super::{ResponseFuture, SigV4Layer};
use crate::error::BoxError;
use crate::signer::Signer;

/// Signs each request with SigV4/SigV4A for VPC Lattice, then calls the inner service.
///
/// With warm credentials the request is signed synchronously inside `call`; only a cold
/// cache makes the returned future wait for the credentials provider.
///
/// See the [module docs](crate::layer) for an example.
#[derive(Clone, Debug)]
pub struct SigV4<S> {
    inner: S,
    signer: Signer,
}

// === impl SigV4 ===

impl<S> SigV4<S> {
    /// Wrap `inner`.
    pub fn new(inner: S, signer: Signer) -> Self {
        Self { inner, signer }
    }

    /// A layer that wraps services in `SigV4`.
    pub fn layer(signer: Signer) -> SigV4Layer {
        SigV4Layer::new(signer)
    }

    inner_service_accessors!();
}

impl<S, B, ResBody> Service<http::Request<B>> for SigV4<S>
where
    S: Service<http::Request<B>, Response = http::Response<ResBody>> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S, B>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        // `poll_ready` was called on `self.inner`; take that one and leave a fresh clone.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);

        let (mut parts, body) = request.into_parts();
        let signed =
            self.signer
                .sign_parts_if_warm(&parts.method, &mut parts.uri, &mut parts.headers);
        let request = http::Request::from_parts(parts, body);
        ResponseFuture::new(SignThenCall::start(
            signed,
            inner,
            request,
            &self.signer,
            |signer, mut request| {
                Box::pin(async move {
                    let result = signer.sign(&mut request).await.map(drop);
                    (result, request)
                })
            },
        ))
    }
}
