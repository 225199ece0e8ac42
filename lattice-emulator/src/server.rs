//! Accept loops: one task per listener, one task per connection, graceful drain.

use std::{convert::Infallible, net::SocketAddr, sync::Arc, time::Duration};

use hyper::service::service_fn;
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::{
        conn::auto,
        graceful::{GracefulShutdown, Watcher},
    },
};
use tokio::{
    io::{AsyncRead, AsyncWrite},
    net::{TcpListener, TcpStream},
    sync::watch,
    task::{JoinHandle, JoinSet},
};
use tokio_rustls::TlsAcceptor;

use crate::app::{App, Connection};

/// Bounds a stalled TLS client so it cannot pin a task forever.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long open connections get to finish their requests on shutdown.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);
/// Back-off after a failed accept (e.g. out of file descriptors), to avoid spinning.
const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(50);

/// Serves `listener` until `shutdown` fires or its sender is dropped.
pub(crate) fn spawn_listener(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    app: Arc<App>,
    shutdown: watch::Receiver<()>,
) -> JoinHandle<()> {
    tokio::spawn(accept_loop(listener, tls, app, shutdown))
}

async fn accept_loop(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    app: Arc<App>,
    mut shutdown: watch::Receiver<()>,
) {
    let graceful = GracefulShutdown::new();
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    connections.spawn(serve_connection(
                        stream,
                        peer,
                        tls.clone(),
                        app.clone(),
                        graceful.watcher(),
                        shutdown.clone(),
                    ));
                }
                Err(error) => {
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(ACCEPT_ERROR_BACKOFF).await;
                }
            },
            // Reap finished connections so the set does not grow without bound.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::debug!("connections still open after the drain timeout; aborting them");
    }
    connections.shutdown().await;
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    tls: Option<TlsAcceptor>,
    app: Arc<App>,
    watcher: Watcher,
    mut shutdown: watch::Receiver<()>,
) {
    let local = match stream.local_addr() {
        Ok(local) => local,
        Err(error) => {
            tracing::debug!(%peer, %error, "connection closed before it was served");
            return;
        }
    };
    let mut connection = Connection {
        peer,
        local,
        tls: false,
    };
    let Some(tls) = tls else {
        serve_http(stream, connection, app, watcher).await;
        return;
    };
    connection.tls = true;
    let handshake = tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, tls.accept(stream));
    let stream = tokio::select! {
        _ = shutdown.changed() => return,
        result = handshake => match result {
            Ok(Ok(stream)) => stream,
            Ok(Err(error)) => {
                tracing::debug!(%peer, %error, "TLS handshake failed");
                return;
            }
            Err(_) => {
                tracing::debug!(%peer, "TLS handshake timed out");
                return;
            }
        },
    };
    serve_http(stream, connection, app, watcher).await;
}

/// HTTP/1.1 or HTTP/2 (ALPN `h2` or the h2c prior-knowledge preface), detected per connection.
async fn serve_http<I>(io: I, connection: Connection, app: Arc<App>, watcher: Watcher)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let peer = connection.peer;
    let service = service_fn(move |request| {
        let app = app.clone();
        async move { Ok::<_, Infallible>(app.handle(connection, request).await) }
    });
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new());
    builder.http2().timer(TokioTimer::new());
    let connection = builder.serve_connection(TokioIo::new(io), service);
    if let Err(error) = watcher.watch(connection).await {
        tracing::debug!(%peer, %error, "connection ended with an error");
    }
}
