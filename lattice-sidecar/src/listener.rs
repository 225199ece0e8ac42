//! Binding and accept loops. Each connection is served by hyper-util's `auto` builder
//! (HTTP/1.1 and h2c prior knowledge on one port) and watched by a `GracefulShutdown`,
//! so a drain lets in-flight requests finish.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

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
use crate::metrics::{ConnectionGuard, Metrics};

/// Pause after an accept error (e.g. out of file descriptors) before trying again.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// The largest request head accepted (HTTP/1.1 request line and headers; HTTP/2 header
/// list). Larger ones get 431 from hyper at the edge. hyper's HTTP/1.1 default (~400 KiB)
/// let through heads that upstreams refuse, which then surfaced as a 502 after signing;
/// 64 KiB is in line with common proxies (Envoy: 60 KiB).
pub(crate) const MAX_REQUEST_HEAD: usize = 64 * 1024;
/// The most header fields in an HTTP/1.1 request (hyper's default, made explicit); more get 431.
pub(crate) const MAX_HEADERS: usize = 100;

/// The connection builder shared by every listener.
pub(crate) fn server_builder(config: &ServerConfig) -> auto::Builder<TokioExecutor> {
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
        .keep_alive_interval(Some(Duration::from_secs(30)))
        .keep_alive_timeout(Duration::from_secs(20));
    builder
}

pub(crate) async fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

/// Accept connections until the future is dropped (which closes the listener, so new
/// connections are refused) and serve each on this runtime, without draining (the admin
/// listener; proxied connections go through `workers`).
pub(crate) async fn serve<H, F, B>(
    listener: TcpListener,
    label: String,
    builder: &auto::Builder<TokioExecutor>,
    metrics: Metrics,
    handler: H,
) where
    H: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Result<Response<B>, Infallible>> + Send + 'static,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    accept(listener, &label, |stream, peer| {
        let connection = Connection {
            stream,
            peer,
            label: label.clone(),
        };
        serve_connection(connection, builder, None, &metrics, handler.clone());
    })
    .await;
}

/// An accepted client connection.
pub(crate) struct Connection {
    pub(crate) stream: TcpStream,
    pub(crate) peer: SocketAddr,
    /// The listener's label, for logs and metrics.
    pub(crate) label: String,
}

/// Accept connections and hand each to `on_accept`, until the future is dropped.
pub(crate) async fn accept(
    listener: TcpListener,
    label: &str,
    mut on_accept: impl FnMut(TcpStream, SocketAddr),
) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => on_accept(stream, peer),
            Err(error) => {
                tracing::warn!(listener = %label, %error, "accept failed");
                tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
            }
        }
    }
}

/// Serve one connection in a task on the current runtime, watched by `graceful`.
pub(crate) fn serve_connection<H, F, B>(
    connection: Connection,
    builder: &auto::Builder<TokioExecutor>,
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
    } = connection;
    if let Err(error) = stream.set_nodelay(true) {
        tracing::debug!(%error, "could not set TCP_NODELAY");
    }
    let guard = metrics.connection_opened(&label);
    let flag = FramingFlag::default();
    let stream = FramingWatch::new(stream, flag.clone());
    // HTTP/1.1 serves a connection's requests one at a time, in arrival order, so this
    // count matches the watcher's count of request heads.
    let requests = AtomicUsize::new(0);
    let service = service_fn(move |mut request: Request<Incoming>| {
        let index = requests.fetch_add(1, Ordering::Relaxed);
        if request.version() != http::Version::HTTP_2 && flag.refuses(index) {
            request.extensions_mut().insert(AmbiguousFraming);
        }
        handler(request)
    });
    let connection = builder
        .serve_connection(TokioIo::new(stream), service)
        .into_owned();
    match graceful {
        Some(graceful) => tokio::spawn(run_connection(
            graceful.watch(connection),
            label,
            peer,
            guard,
        )),
        None => tokio::spawn(run_connection(connection, label, peer, guard)),
    };
}

async fn run_connection<C, E>(
    connection: C,
    label: String,
    peer: SocketAddr,
    guard: ConnectionGuard,
) where
    C: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    if let Err(error) = connection.await {
        tracing::debug!(listener = %label, %peer, %error, "connection ended with an error");
    }
    drop(guard);
}
