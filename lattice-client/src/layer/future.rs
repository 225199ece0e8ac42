use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use http::{HeaderMap, StatusCode};
use pin_project_lite::pin_project;
use tower_service::Service;

use crate::clock::SigningClock;
use crate::error::{BoxError, Error};
use crate::signer::{Signed, Signer};

pin_project! {
    /// Response future of [`SigV4`](super::SigV4): waits for credentials if the cache was
    /// cold, then drives the inner service's future and shows the response to the signer's
    /// clock-skew correction.
    pub struct ResponseFuture<S, B>
    where
        S: Service<http::Request<B>>,
    {
        #[pin]
        call: SignThenCall<S, http::Request<B>>,
    }
}

// === impl ResponseFuture ===

impl<S, B> ResponseFuture<S, B>
where
    S: Service<http::Request<B>>,
    B: Send + 'static,
{
    pub(crate) fn new(call: SignThenCall<S, http::Request<B>>) -> Self {
        Self { call }
    }
}

impl<S, B, ResBody> Future for ResponseFuture<S, B>
where
    S: Service<http::Request<B>, Response = http::Response<ResBody>>,
    S::Error: Into<BoxError>,
{
    type Output = Result<S::Response, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().call.poll(cx)
    }
}

impl<S, B> fmt::Debug for ResponseFuture<S, B>
where
    S: Service<http::Request<B>>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

/// What the clock-skew correction reads from a response. Implemented for each response
/// type an integration returns, so [`SignThenCall`] serves them all.
pub(crate) trait ResponseHead {
    fn status(&self) -> StatusCode;
    fn headers(&self) -> &HeaderMap;
}

impl<B> ResponseHead for http::Response<B> {
    fn status(&self) -> StatusCode {
        self.status()
    }

    fn headers(&self) -> &HeaderMap {
        self.headers()
    }
}

/// Signs a request with credentials the cache has yet to load; yields the request back
/// with the outcome.
pub(crate) type SignFuture<Req> = Pin<Box<dyn Future<Output = (Result<(), Error>, Req)> + Send>>;

pin_project! {
    /// The state machine behind every integration's response future, whatever its request
    /// type: wait for signing if the cache was cold, call the inner service, and show the
    /// response to the clock-skew correction.
    pub(crate) struct SignThenCall<S, Req>
    where
        S: Service<Req>,
    {
        #[pin]
        state: State<S, Req>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, Req>
    where
        S: Service<Req>,
    {
        Signing { signing: SignFuture<Req>, inner: Option<S>, clock: Option<Arc<SigningClock>> },
        Calling { #[pin] future: S::Future, clock: Option<Arc<SigningClock>> },
        Failed { error: Option<Error> },
    }
}

// === impl SignThenCall ===

impl<S, Req> SignThenCall<S, Req>
where
    S: Service<Req>,
{
    /// Start a call. `warm` is the outcome of signing with the cached credentials: signed
    /// (call the inner service now), `Ok(None)` (the cache is cold: `sign_when_ready`
    /// waits for credentials and signs, then the call runs), or the error to return.
    pub(crate) fn start(
        warm: Result<Option<Signed>, Error>,
        mut inner: S,
        request: Req,
        signer: &Signer,
        sign_when_ready: impl FnOnce(Signer, Req) -> SignFuture<Req>,
    ) -> Self {
        let state = match warm {
            Ok(Some(_)) => State::Calling {
                future: inner.call(request),
                clock: skew_observer(signer),
            },
            Ok(None) => State::Signing {
                signing: sign_when_ready(signer.clone(), request),
                inner: Some(inner),
                clock: skew_observer(signer),
            },
            Err(error) => State::Failed { error: Some(error) },
        };
        Self { state }
    }
}

/// The clock to show responses to, if the signer corrects skew (one `Arc` clone).
fn skew_observer(signer: &Signer) -> Option<Arc<SigningClock>> {
    let clock = signer.signing_clock();
    clock.corrects_skew().then(|| clock.clone())
}

impl<S, Req> Future for SignThenCall<S, Req>
where
    S: Service<Req>,
    S::Response: ResponseHead,
    S::Error: Into<BoxError>,
{
    type Output = Result<S::Response, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Signing {
                    signing,
                    inner,
                    clock,
                } => {
                    let (result, request) = ready!(signing.as_mut().poll(cx));
                    if let Err(error) = result {
                        return Poll::Ready(Err(error.into()));
                    }
                    let Some(mut inner) = inner.take() else {
                        return Poll::Ready(Err("ResponseFuture polled after completion".into()));
                    };
                    let future = inner.call(request);
                    let clock = clock.take();
                    this.state.set(State::Calling { future, clock });
                }
                StateProj::Calling { future, clock } => {
                    let response = ready!(future.poll(cx)).map_err(Into::into)?;
                    if let Some(clock) = clock {
                        clock.observe(response.status(), response.headers());
                    }
                    return Poll::Ready(Ok(response));
                }
                StateProj::Failed { error } => {
                    return Poll::Ready(Err(match error.take() {
                        Some(error) => error.into(),
                        None => "ResponseFuture polled after completion".into(),
                    }));
                }
            }
        }
    }
}
