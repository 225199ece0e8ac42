//! Binding and accept loops. Each connection is served by hyper-util's `auto` builder
//! (HTTP/1.1 and h2c prior knowledge on one port) and watched by a `GracefulShutdown`,
//! so a drain lets in-flight requests finish.
//!
//! Every connection must send a complete request head within `--header-read-timeout` of
//! being accepted, or it is closed. hyper's own header timeout only starts once the `auto`
//! builder has seen enough bytes to pick HTTP/1.1 or HTTP/2, so a socket that never sends
//! a byte (or half of the h2 preface) would otherwise stay open for good.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use http::{Request, Response};
use http_body::Body;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpStream};

use crate::config::ServerConfig;
use crate::errors::BoxError;
use crate::framing::{AmbiguousFraming, FramingFlag, FramingWatch};
use crate::limits::{
    self, ConnectionLimit, ConnectionPermit, MAX_HEADERS, MAX_REQUEST_HEAD, SpareFd,
};
use crate::metrics::{GaugeGuard, Metrics};

/// Pause after an accept error (e.g. out of file descriptors) before trying again.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);
/// At most one warning this often for a run of failing accepts.
const ACCEPT_ERROR_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// Streams an h2c client may have open on one connection. RFC 9113 §6.5.2 asks for at
/// least 100; the windows below are sized from it.
pub(crate) const MAX_CONCURRENT_STREAMS: u32 = 100;
/// Request body bytes an h2c client may send ahead on one stream (hyper's default).
const STREAM_WINDOW: u32 = 1024 * 1024;
/// Enough for every stream's window at once, so that request bodies parked on streams
/// whose upstream reads slowly can never use up the connection's window and stall the
/// client's other streams (see `client` for the same rule toward the upstream).
const CONNECTION_WINDOW: u32 = MAX_CONCURRENT_STREAMS * STREAM_WINDOW;

/// How a listener serves its connections.
#[derive(Clone)]
pub(crate) struct ServeSettings {
    pub(crate) builder: auto::Builder<TokioExecutor>,
    /// A connection is closed if its first request head has not arrived by then.
    pub(crate) first_request_timeout: Duration,
}

impl ServeSettings {
    pub(crate) fn new(config: &ServerConfig) -> Self {
        Self {
            builder: server_builder(config),
            first_request_timeout: config.header_read_timeout,
        }
    }
}

/// The connection builder shared by every listener.
fn server_builder(config: &ServerConfig) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(config.header_read_timeout)
        .max_buf_size(MAX_REQUEST_HEAD)
        .max_headers(MAX_HEADERS)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(MAX_REQUEST_HEAD as u32)
        .max_concurrent_streams(MAX_CONCURRENT_STREAMS)
        .initial_stream_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW)
        .keep_alive_interval(Some(Duration::from_secs(30)))
        .keep_alive_timeout(Duration::from_secs(20));
    builder
}

/// Accept connections until the future is dropped (which closes the listener, so new
/// connections are refused) and serve each on this runtime, without draining: the admin
/// listener (proxied connections go through `workers`). At most
/// [`limits::ADMIN_MAX_CONNECTIONS`] are open at once; and when the process is out of
/// file descriptors, a spare one is given up so that a probe still gets its answer.
pub(crate) async fn serve_admin<H, F, B>(
    listener: TcpListener,
    label: String,
    settings: &ServeSettings,
    metrics: Metrics,
    handler: H,
) where
    H: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Result<Response<B>, Infallible>> + Send + 'static,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let limit = ConnectionLimit::new(limits::ADMIN_MAX_CONNECTIONS);
    let spare = Arc::new(Mutex::new(SpareFd::open()));
    let mut failures = AcceptFailures::default();
    loop {
        let accepted = match listener.accept().await {
            Err(error) if limits::is_out_of_fds(&error) && lock(&spare).release() => {
                tracing::warn!(listener = %label, "out of file descriptors: using the spare one for an admin connection");
                listener.accept().await
            }
            accepted => accepted,
        };
        lock(&spare).restore();
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                failures.failed(&label, &error);
                tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                continue;
            }
        };
        let Some(permit) = limit.try_acquire() else {
            limits::refuse(stream);
            continue;
        };
        let connection = Connection {
            stream,
            peer,
            label: label.clone(),
            permit,
            spare: Some(spare.clone()),
        };
        serve_connection(connection, settings, None, &metrics, handler.clone());
    }
}

/// An accepted client connection.
pub(crate) struct Connection {
    pub(crate) stream: TcpStream,
    pub(crate) peer: SocketAddr,
    /// The listener's label, for logs and metrics.
    pub(crate) label: String,
    /// Its place under the listener's connection limit.
    pub(crate) permit: ConnectionPermit,
    /// Taken back when the connection closes, if it was given up (the admin listener).
    pub(crate) spare: Option<Arc<Mutex<SpareFd>>>,
}

/// Logs failing accepts at most once per interval, with how many there were since.
#[derive(Default)]
struct AcceptFailures {
    since_warned: u64,
    last_warned: Option<Instant>,
}

/// Accept connections until the future is dropped. Each gets a place under `limit` and
/// goes to `on_accept`; one over the limit is answered with 503 and closed.
pub(crate) async fn accept(
    listener: TcpListener,
    label: &str,
    limit: &ConnectionLimit,
    metrics: &Metrics,
    mut on_accept: impl FnMut(TcpStream, SocketAddr, ConnectionPermit),
) {
    let mut failures = AcceptFailures::default();
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => match limit.try_acquire() {
                Some(permit) => on_accept(stream, peer, permit),
                None => {
                    metrics.connection_refused();
                    tracing::debug!(listener = %label, %peer, max = limit.max(), "refused a connection over --max-connections");
                    limits::refuse(stream);
                }
            },
            Err(error) => {
                failures.failed(label, &error);
                tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
            }
        }
    }
}

// === impl AcceptFailures ===

impl AcceptFailures {
    fn failed(&mut self, label: &str, error: &io::Error) {
        self.since_warned += 1;
        if self
            .last_warned
            .is_none_or(|at| at.elapsed() >= ACCEPT_ERROR_LOG_INTERVAL)
        {
            tracing::warn!(listener = %label, %error, failures = self.since_warned, "accept failed; retrying every 100 ms");
            self.since_warned = 0;
            self.last_warned = Some(Instant::now());
        }
    }
}

/// Serve one connection in a task on the current runtime, watched by `graceful`.
pub(crate) fn serve_connection<H, F, B>(
    connection: Connection,
    settings: &ServeSettings,
    graceful: Option<&GracefulShutdown>,
    metrics: &Metrics,
    handler: H,
) where
    H: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Result<Response<B>, Infallible>> + Send + 'static,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let Connection {
        stream,
        peer,
        label,
        permit,
        spare,
    } = connection;
    if let Err(error) = stream.set_nodelay(true) {
        tracing::debug!(%error, "could not set TCP_NODELAY");
    }
    let open = Open {
        _guard: metrics.connection_opened(&label),
        _permit: permit,
        label,
        peer,
        spare,
    };
    let flag = FramingFlag::default();
    let stream = FramingWatch::new(stream, flag.clone());
    let first_request = Arc::new(AtomicBool::new(false));
    // HTTP/1.1 serves a connection's requests one at a time, in arrival order, so this
    // count matches the watcher's count of request heads.
    let requests = AtomicUsize::new(0);
    let service = {
        let first_request = first_request.clone();
        service_fn(move |mut request: Request<Incoming>| {
            first_request.store(true, Ordering::Relaxed);
            let index = requests.fetch_add(1, Ordering::Relaxed);
            if request.version() != http::Version::HTTP_2 && flag.refuses(index) {
                request.extensions_mut().insert(AmbiguousFraming);
            }
            handler(request)
        })
    };
    let connection = settings
        .builder
        .serve_connection(TokioIo::new(stream), service)
        .into_owned();
    let deadline = FirstRequestDeadline {
        timeout: settings.first_request_timeout,
        arrived: first_request,
    };
    match graceful {
        Some(graceful) => tokio::spawn(run_connection(graceful.watch(connection), deadline, open)),
        None => tokio::spawn(run_connection(connection, deadline, open)),
    };
}

/// What an open connection holds until it ends.
struct Open {
    label: String,
    peer: SocketAddr,
    _guard: GaugeGuard,
    _permit: ConnectionPermit,
    spare: Option<Arc<Mutex<SpareFd>>>,
}

impl Drop for Open {
    fn drop(&mut self) {
        // The connection's socket is closed by now: take its descriptor for the spare
        // before any other task on this thread can.
        if let Some(spare) = &self.spare {
            lock(spare).restore();
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Closes a connection whose first request head has not arrived in time.
struct FirstRequestDeadline {
    timeout: Duration,
    /// Set by the service when the first request head arrives.
    arrived: Arc<AtomicBool>,
}

async fn run_connection<C, E>(connection: C, deadline: FirstRequestDeadline, open: Open)
where
    C: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    let mut connection = pin!(connection);
    let result = tokio::select! {
        result = &mut connection => result,
        () = tokio::time::sleep(deadline.timeout) => {
            if !deadline.arrived.load(Ordering::Relaxed) {
                tracing::debug!(listener = %open.label, peer = %open.peer, "closed: no request head within --header-read-timeout");
                return;
            }
            connection.await
        }
    };
    if let Err(error) = result {
        tracing::debug!(listener = %open.label, peer = %open.peer, %error, "connection ended with an error");
    }
}
