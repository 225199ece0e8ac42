//! `lattice-sidecar`: a localhost proxy that signs requests for [Amazon VPC Lattice].
//!
//! Applications send plain HTTP/1.1 or h2c (gRPC) to `127.0.0.1:8080`; the sidecar picks
//! the upstream (fixed route, proxy URI or `Host`), refuses anything that is not a
//! Lattice service name or configured custom domain, signs with SigV4/SigV4A through
//! [`lattice_client::SigV4Layer`] (`UNSIGNED-PAYLOAD`, so bodies stream), and forwards over
//! HTTPS (h2 by ALPN, else HTTP/1.1). Errors at the edge become responses with an
//! `x-lattice-sidecar-error` header (see [`errors`]); `/livez`, `/readyz` and `/metrics`
//! live on a separate admin listener.
//!
//! The binary is a thin wrapper: [`Config::from_args`](config::Config::from_args),
//! [`init_tracing`], then [`run`] until a shutdown signal.
//!
//! [Amazon VPC Lattice]: https://docs.aws.amazon.com/vpc-lattice/latest/ug/sigv4-authenticated-requests.html

use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures_util::future::join_all;
use lattice_client::CredentialsCache;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

pub mod admin;
pub mod body;
pub mod config;
pub mod errors;
mod framing;
pub mod inbound;
pub mod limits;
mod listener;
pub mod metrics;
mod pool;
mod proxy;
pub mod signing;
pub mod upstream;
mod workers;

pub use crate::config::{Args, Config, ConfigError, EX_USAGE};

use crate::config::{LogConfig, LogFormat, Route};
use crate::errors::BoxError;

/// How often the credentials cache is checked, so refreshes (early, or retries after a
/// failure) happen even without traffic.
const CREDENTIALS_TICK: Duration = Duration::from_secs(1);
/// On shutdown, how long (at most half the grace period) connections stay open with every
/// HTTP/1 response saying `Connection: close` before idle ones are closed. A busy
/// keep-alive client then leaves after a complete response instead of racing the close of
/// an idle connection with its next request (which would get zero bytes back).
const DRAIN_SETTLE: Duration = Duration::from_secs(1);

/// Why the sidecar could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot set up the upstream client: {0}")]
    Client(BoxError),
    #[error("cannot start the worker threads: {0}")]
    Workers(std::io::Error),
}

/// Install the global tracing subscriber: `--log`, else `RUST_LOG`, else `info`.
pub fn init_tracing(config: &LogConfig, rust_log: Option<String>) {
    let filter = config
        .filter
        .clone()
        .or(rust_log)
        .and_then(|f| tracing_subscriber::EnvFilter::try_new(f).ok())
        .unwrap_or_else(|| tracing_subscriber::EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stdout);
    let _ = match config.format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
    };
}

/// Bind every listener, then serve until the first message on `signals`; then stop
/// accepting, let in-flight requests finish within the grace period (a second signal
/// cuts it short), and return. While draining, HTTP/1 responses carry `Connection: close`,
/// and idle connections are closed after 1 s (at most half the grace).
pub async fn run(config: Config, mut signals: mpsc::UnboundedReceiver<()>) -> Result<(), RunError> {
    let mut proxies = Vec::new();
    for listener in &config.listeners {
        let tcp = bind(listener.addr).await?;
        proxies.push((tcp, listener.route.clone()));
    }
    let admin_tcp = bind(config.admin.addr).await?;
    let open_file_limit = limits::raise_open_file_limit();
    let connection_limit = limits::ConnectionLimit::new(limits::max_connections(
        config.server.max_connections,
        open_file_limit,
    ));

    let credentials = signing::credentials(&config.signing.credentials).await;
    let signer = signing::signer(&config.signing, credentials.clone());
    let metrics = metrics::Metrics::new(credentials.clone(), &config.configured_hosts());
    let grace = config.server.shutdown_grace;
    let settings = listener::ServeSettings::new(&config.server);
    let shared = workers::Shared {
        settings: settings.clone(),
        metrics: metrics.clone(),
        draining: Arc::new(AtomicBool::new(false)),
        settle: DRAIN_SETTLE.min(grace / 2),
    };
    let labels: Vec<String> = proxies
        .iter()
        .map(|(tcp, route)| match route {
            Route::FromRequest => local_label(tcp),
            Route::Fixed(target) => format!("{} -> {target}", local_label(tcp)),
        })
        .collect();
    // Each worker gets its own upstream clients, hence its own connection pools.
    let services = || {
        let factory = upstream::ClientFactory::new(&config.upstream).map_err(RunError::Client)?;
        let pool_signer = signer.clone();
        let pools =
            pool::Pools::new(move || signing::sign_clients(&pool_signer, factory.clients()));
        let services = proxies.iter().zip(&labels).map(|((_, route), label)| {
            let proxy = proxy::Proxy::new(
                route.clone(),
                &config.upstream,
                signer.clone(),
                pools.clone(),
                metrics.clone(),
            );
            workers::ListenerService {
                label: label.clone(),
                proxy,
            }
        });
        Ok(services.collect())
    };
    // Before anything is spawned, so a bad upstream setting fails startup cleanly.
    let workers = workers::Workers::start(config.server.workers, services, &shared)?;
    let refresher = tokio::spawn(keep_credentials_fresh(credentials.clone()));

    let serving = Arc::new(AtomicBool::new(false));
    let admin = admin::Admin::new(serving.clone(), credentials.clone(), metrics.clone());
    let admin_metrics = metrics.clone();
    let admin_task = tokio::spawn(async move {
        let handler = move |request| admin.clone().handle(request);
        listener::serve_admin(
            admin_tcp,
            "admin".to_owned(),
            &settings,
            admin_metrics,
            handler,
        )
        .await;
    });

    {
        let loops =
            proxies
                .into_iter()
                .zip(&labels)
                .enumerate()
                .map(|(index, ((tcp, _), label))| {
                    let workers = &workers;
                    listener::accept(
                        tcp,
                        label,
                        &connection_limit,
                        &metrics,
                        move |stream, peer, permit| workers.dispatch(index, stream, peer, permit),
                    )
                });
        let accepting = pin!(join_all(loops));
        serving.store(true, Ordering::Release);
        tracing::info!(
            workers = config.server.workers,
            max_connections = connection_limit.max(),
            open_file_limit =
                open_file_limit.map_or_else(|| "unlimited".to_owned(), |l| l.to_string()),
            "lattice-sidecar ready to serve"
        );
        tokio::select! {
            _ = accepting => {}
            _ = signals.recv() => {}
        }
        // Dropping the accept loops closes the listeners: new connections are refused.
    }
    serving.store(false, Ordering::Release);
    shared.draining.store(true, Ordering::Release);

    tracing::info!(
        grace_ms = grace.as_millis() as u64,
        "shutting down: draining in-flight requests"
    );
    tokio::select! {
        drained = tokio::time::timeout(grace, workers.drain()) => match drained {
            Ok(()) => tracing::info!("drained; exiting"),
            Err(_) => tracing::warn!("shutdown grace period elapsed with requests still in flight; exiting"),
        },
        _ = signals.recv() => tracing::warn!("second signal: exiting without waiting for in-flight requests"),
    }
    admin_task.abort();
    refresher.abort();
    Ok(())
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, RunError> {
    let tcp = listener::bind(addr)
        .await
        .map_err(|source| RunError::Bind { addr, source })?;
    let local = tcp.local_addr().unwrap_or(addr);
    if !local.ip().is_loopback() {
        tracing::warn!(addr = %local, "listening on a non-loopback address (--allow-non-loopback): anyone who can reach it can send requests signed as this AWS identity");
    }
    tracing::info!(addr = %local, "listening");
    Ok(tcp)
}

fn local_label(tcp: &TcpListener) -> String {
    tcp.local_addr()
        .map(|a| a.to_string())
        .unwrap_or_else(|_| "?".to_owned())
}

/// Load credentials, then keep poking the cache: `cached()` starts a background refresh
/// when one is due (early, before expiry) or when a failed one may be retried.
async fn keep_credentials_fresh(credentials: CredentialsCache) {
    match credentials.warm().await {
        Ok(()) => tracing::info!("AWS credentials loaded"),
        Err(error) => {
            tracing::warn!(%error, "AWS credentials not loaded yet; requests get 503 until they are; retrying in the background")
        }
    }
    let mut tick = tokio::time::interval(CREDENTIALS_TICK);
    let mut loaded = credentials.cached().is_some();
    loop {
        tick.tick().await;
        let now_loaded = credentials.cached().is_some();
        if now_loaded != loaded {
            match now_loaded {
                true => tracing::info!("AWS credentials loaded"),
                false => tracing::warn!(
                    "AWS credentials expired and could not be refreshed; requests get 503"
                ),
            }
            loaded = now_loaded;
        }
    }
}
