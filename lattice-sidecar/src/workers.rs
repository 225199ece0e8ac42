//! Thread-per-core serving. The accept loops hand each connection to one of N worker
//! threads; each runs a single-threaded Tokio runtime with its own upstream connection
//! pools, so a request never leaves the thread its connection lives on.
//!
//! Why not one work-stealing runtime: a proxied request there hops between threads (the
//! client connection's task, the upstream h2 connection's task, idle workers woken to
//! steal). With one request in flight that measured 2.8 context switches and ~200 µs of
//! CPU per request, against ~1.5 and ~120 µs with everything on one thread (a fifth
//! less CPU per request in `bench/sidecar.sh`). Envoy's workers are built the same way. The cost: all streams of
//! one h2c client connection share one core.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::future::join_all;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};

use crate::body::ResponseBody;
use crate::limits::ConnectionPermit;
use crate::listener::{self, Connection, ServeSettings};
use crate::metrics::Metrics;
use crate::proxy::Proxy;

/// One listener's proxy, as a worker serves it.
#[derive(Clone)]
pub(crate) struct ListenerService {
    pub(crate) label: String,
    pub(crate) proxy: Proxy,
}

/// What every worker shares.
#[derive(Clone)]
pub(crate) struct Shared {
    pub(crate) settings: ServeSettings,
    pub(crate) metrics: Metrics,
    /// Set once shutdown starts: HTTP/1 responses then carry `Connection: close`.
    pub(crate) draining: Arc<AtomicBool>,
    /// How long connections may keep going with `Connection: close` before idle ones are
    /// closed.
    pub(crate) settle: Duration,
}

struct Handoff {
    listener: usize,
    stream: std::net::TcpStream,
    peer: SocketAddr,
    permit: ConnectionPermit,
}

/// The running worker threads.
pub(crate) struct Workers {
    queues: Vec<mpsc::UnboundedSender<Handoff>>,
    next: AtomicUsize,
    finished: Vec<oneshot::Receiver<()>>,
}

// === impl Workers ===

impl Workers {
    /// Start one thread per entry of `services`: that thread's services, one per
    /// listener, in listener order.
    pub(crate) fn start(services: Vec<Vec<ListenerService>>, shared: &Shared) -> io::Result<Self> {
        let mut workers = Workers {
            queues: Vec::with_capacity(services.len()),
            next: AtomicUsize::new(0),
            finished: Vec::with_capacity(services.len()),
        };
        for (index, services) in services.into_iter().enumerate() {
            // Built here, so a failure stops startup instead of losing a thread silently.
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let (queue, handoffs) = mpsc::unbounded_channel();
            let (finished, on_finished) = oneshot::channel();
            let shared = shared.clone();
            std::thread::Builder::new()
                .name(format!("lattice-worker-{index}"))
                .spawn(move || {
                    runtime.block_on(serve(handoffs, services, shared));
                    let _ = finished.send(());
                })?;
            workers.queues.push(queue);
            workers.finished.push(on_finished);
        }
        Ok(workers)
    }

    /// Hand an accepted connection of listener `listener` to the next worker.
    pub(crate) fn dispatch(
        &self,
        listener: usize,
        stream: TcpStream,
        peer: SocketAddr,
        permit: ConnectionPermit,
    ) {
        // Leaves this runtime's reactor; the worker registers it with its own.
        let stream = match stream.into_std() {
            Ok(stream) => stream,
            Err(error) => {
                tracing::warn!(%peer, %error, "cannot hand the connection to a worker");
                return;
            }
        };
        let mut handoff = Handoff {
            listener,
            stream,
            peer,
            permit,
        };
        for _ in 0..self.queues.len() {
            let index = self.next.fetch_add(1, Ordering::Relaxed) % self.queues.len();
            match self.queues[index].send(handoff) {
                Ok(()) => return,
                // That worker has stopped (it only does on shutdown); try the next.
                Err(mpsc::error::SendError(back)) => handoff = back,
            }
        }
        tracing::error!(%peer, "no worker thread is running; closing the connection");
    }

    /// Stop handing out connections and wait until every worker has drained.
    pub(crate) async fn drain(self) {
        drop(self.queues);
        join_all(self.finished).await;
    }
}

/// A worker: serve handed-over connections until the queue closes, then drain them.
async fn serve(
    mut handoffs: mpsc::UnboundedReceiver<Handoff>,
    services: Vec<ListenerService>,
    shared: Shared,
) {
    let graceful = GracefulShutdown::new();
    while let Some(handoff) = handoffs.recv().await {
        let Some(service) = services.get(handoff.listener) else {
            continue;
        };
        let stream = match TcpStream::from_std(handoff.stream) {
            Ok(stream) => stream,
            Err(error) => {
                tracing::warn!(peer = %handoff.peer, %error, "cannot serve the connection");
                continue;
            }
        };
        let proxy = service.proxy.clone();
        let draining = shared.draining.clone();
        let peer = handoff.peer;
        let handler = move |request| respond(proxy.clone(), draining.clone(), peer, request);
        let connection = Connection {
            stream,
            peer: handoff.peer,
            label: service.label.clone(),
            permit: handoff.permit,
            spare: None,
        };
        listener::serve_connection(
            connection,
            &shared.settings,
            Some(&graceful),
            &shared.metrics,
            handler,
        );
    }

    let settled = tokio::time::Instant::now() + shared.settle;
    while graceful.count() > 0 && tokio::time::Instant::now() < settled {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Closes idle connections, finishes in-flight requests, sends HTTP/2 GOAWAY.
    graceful.shutdown().await;
}

async fn respond(
    proxy: Proxy,
    draining: Arc<AtomicBool>,
    peer: SocketAddr,
    request: Request<Incoming>,
) -> Result<Response<ResponseBody>, Infallible> {
    let http1 = request.version() < http::Version::HTTP_2;
    let Ok(mut response) = proxy.handle(request, peer).await;
    if http1 && draining.load(Ordering::Acquire) {
        // hyper closes the connection after this response.
        response.headers_mut().insert(
            http::header::CONNECTION,
            http::HeaderValue::from_static("close"),
        );
    }
    Ok(response)
}
