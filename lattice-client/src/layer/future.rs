use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use pin_project_lite::pin_project;
use tower_service::Service;

use crate::clock::SigningClock;
use crate::error::{BoxError, Error};
use crate::signer::Signer;

type SignFuture<B> = Pin<Box<dyn Future<Output = (Result<(), Error>, http::Request<B>)> + Send>>;

pin_project! {
    /// Response future of [`SigV4`](super::SigV4): waits for credentials if the cache was
    /// cold, then drives the inner service's future and shows the response to the signer's
    /// clock-skew correction.
    pub struct ResponseFuture<S, B>
    where
        S: Service<http::Request<B>>,
    {
        #[pin]
        state: State<S, B>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, B>
    where
        S: Service<http::Request<B>>,
    {
        Signing { signing: SignFuture<B>, inner: Option<S>, clock: Option<Arc<SigningClock>> },
        Calling { #[pin] future: S::Future, clock: Option<Arc<SigningClock>> },
        Failed { error: Option<Error> },
    }
}

// === impl ResponseFuture ===

impl<S, B> ResponseFuture<S, B>
where
    S: Service<http::Request<B>>,
    B: Send + 'static,
{
    pub(crate) fn calling(future: S::Future, signer: &Signer) -> Self {
        Self {
            state: State::Calling {
                future,
                clock: skew_observer(signer),
            },
        }
    }

    pub(crate) fn failed(error: Error) -> Self {
        Self {
            state: State::Failed { error: Some(error) },
        }
    }

    pub(crate) fn awaiting_credentials(
        signer: Signer,
        mut request: http::Request<B>,
        inner: S,
    ) -> Self {
        let clock = skew_observer(&signer);
        let signing = Box::pin(async move {
            let result = signer.sign(&mut request).await.map(drop);
            (result, request)
        });
        Self {
            state: State::Signing {
                signing,
                inner: Some(inner),
                clock,
            },
        }
    }
}

/// The clock to show responses to, if the signer corrects skew (one `Arc` clone).
fn skew_observer(signer: &Signer) -> Option<Arc<SigningClock>> {
    let clock = signer.signing_clock();
    clock.corrects_skew().then(|| clock.clone())
}

impl<S, B, ResBody> Future for ResponseFuture<S, B>
where
    S: Service<http::Request<B>, Response = http::Response<ResBody>>,
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

impl<S, B> fmt::Debug for ResponseFuture<S, B>
where
    S: Service<http::Request<B>>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
