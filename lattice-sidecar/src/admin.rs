//! The admin listener (default `127.0.0.1:9901`). It never proxies.
//!
//! | route | answer |
//! |---|---|
//! | `GET /livez` (`/live`) | 200 while the process runs |
//! | `GET /readyz` (`/ready`) | 200 once every listener is bound and AWS credentials are loaded, 503 (with the reason) otherwise and while draining |
//! | `GET /metrics` | Prometheus metrics (OpenMetrics text), see [`crate::metrics`] |

use std::convert::Infallible;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use lattice_client::CredentialsCache;

use crate::errors::Synthetic;
use crate::metrics::Metrics;

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Admin request handler. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Admin {
    inner: Arc<Inner>,
}

struct Inner {
    readiness: Readiness,
    metrics: Metrics,
}

/// Whether the sidecar is ready: its listeners serve and AWS credentials are loaded.
/// `/readyz` answers from it, and the "ready to serve" log follows it. Cheap to clone.
#[derive(Clone, Debug)]
pub(crate) struct Readiness {
    /// Listeners bound and not draining.
    serving: Arc<AtomicBool>,
    credentials: CredentialsCache,
}

// === impl Admin ===

impl Admin {
    pub(crate) fn new(readiness: Readiness, metrics: Metrics) -> Self {
        Self {
            inner: Arc::new(Inner { readiness, metrics }),
        }
    }

    pub(crate) async fn handle(
        self,
        request: Request<Incoming>,
    ) -> Result<Response<Full<Bytes>>, Infallible> {
        // An absolute URI means someone uses this port as a proxy: refuse, loudly.
        if request.uri().authority().is_some() && request.version() != http::Version::HTTP_2 {
            return Ok(Synthetic::new(
                StatusCode::NOT_FOUND,
                "admin-does-not-proxy",
                "this is the admin listener; it does not proxy: send requests to the proxy listener",
            )
            .into_response());
        }
        if request.method() != Method::GET && request.method() != Method::HEAD {
            return Ok(Synthetic::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "admin-method-not-allowed",
                "admin endpoints take GET",
            )
            .into_response());
        }
        let response = match request.uri().path() {
            "/livez" | "/live" => text(StatusCode::OK, "live\n".to_owned()),
            "/readyz" | "/ready" => self.ready(),
            "/metrics" => match self.inner.metrics.encode() {
                Ok(body) => {
                    let mut response = text(StatusCode::OK, body);
                    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(OPENMETRICS));
                    response
                }
                Err(_) => text(StatusCode::INTERNAL_SERVER_ERROR, "metrics encoding failed\n".to_owned()),
            },
            _ => Synthetic::new(
                StatusCode::NOT_FOUND,
                "admin-not-found",
                "not an admin endpoint (try /livez, /readyz or /metrics); the admin listener does not proxy",
            )
            .into_response(),
        };
        Ok(response)
    }

    fn ready(&self) -> Response<Full<Bytes>> {
        match self.inner.readiness.check() {
            Ok(()) => text(StatusCode::OK, "ready\n".to_owned()),
            Err(reason) => text(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("not ready: {reason}\n"),
            ),
        }
    }
}

// === impl Readiness ===

impl Readiness {
    /// Not serving until [`Self::set_serving`].
    pub(crate) fn new(credentials: CredentialsCache) -> Self {
        Self {
            serving: Arc::default(),
            credentials,
        }
    }

    pub(crate) fn set_serving(&self, serving: bool) {
        self.serving.store(serving, Ordering::Release);
    }

    /// `Ok` when ready, else why not.
    pub(crate) fn check(&self) -> Result<(), &'static str> {
        if !self.serving.load(Ordering::Acquire) {
            return Err("listeners not serving (starting or draining)");
        }
        if self.credentials.cached().is_none() {
            return Err("AWS credentials not loaded (see the logs)");
        }
        Ok(())
    }
}

impl fmt::Debug for Admin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Admin").finish_non_exhaustive()
    }
}

fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}
