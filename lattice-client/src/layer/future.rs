use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use pin_project_lite::pin_project;
use tower_service::Service;

use crate::error::{BoxError, Error};
use crate::signer::Signer;

type SignFuture<B> = Pin<Box<dyn Future<Output = (Result<(), Error>, http::Request<B>)> + Send>>;

pin_project! {
    /// Response future of [`SigV4`](super::SigV4): waits for credentials if the cache was
    /// cold, then drives the inner service's future.
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
        Signing { signing: SignFuture<B>, inner: Option<S> },
        Calling { #[pin] future: S::Future },
        Failed { error: Option<Error> },
    }
}

// === impl ResponseFuture ===

impl<S, B> ResponseFuture<S, B>
where
    S: Service<http::Request<B>>,
    B: Send + 'static,
{
    pub(crate) fn calling(future: S::Future) -> Self {
        Self {
            state: State::Calling { future },
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
        let signing = Box::pin(async move {
            let result = signer.sign(&mut request).await.map(drop);
            (result, request)
        });
        Self {
            state: State::Signing {
                signing,
                inner: Some(inner),
            },
        }
    }
}

impl<S, B> Future for ResponseFuture<S, B>
where
    S: Service<http::Request<B>>,
    S::Error: Into<BoxError>,
{
    type Output = Result<S::Response, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Signing { signing, inner } => {
                    let (result, request) = ready!(signing.as_mut().poll(cx));
                    if let Err(error) = result {
                        return Poll::Ready(Err(error.into()));
                    }
                    let Some(mut inner) = inner.take() else {
                        return Poll::Ready(Err("ResponseFuture polled after completion".into()));
                    };
                    let future = inner.call(request);
                    this.state.set(State::Calling { future });
                }
                StateProj::Calling { future } => return future.poll(cx).map_err(Into::into),
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
