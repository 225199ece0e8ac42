//! The app: binds the listeners, builds the building blocks (credentials, signer,
//! metrics, per-worker clients and proxies), serves until a signal, then drains.

use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures_util::future::join_all;
use lattice_client::{CredentialsCache, Signer};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use crate::admin::{Admin, Readiness};
use crate::build_info::BuildInfo;
use crate::client::ClientFactory;
use crate::config::{Config, EX_USAGE, Route};
use crate::errors::BoxError;
use crate::limits::{self, ConnectionLimit};
use crate::listener::{self, ServeSettings};
use crate::metrics::Metrics;
use crate::pool::Pools;
use crate::proxy::Proxy;
use crate::signing;
use crate::workers::{self, ListenerService, Workers};

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

// === impl RunError ===

impl RunError {
    /// The process exit code: 64 (`EX_USAGE`) when the configuration is at fault, as for
    /// the problems [`Config::from_args`] finds; 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            RunError::Client(_) => EX_USAGE,
            RunError::Bind { .. } | RunError::Workers(_) => 1,
        }
    }
}

/// `--check-config`: what [`run`] would build before binding, without binding, spawning or
/// fetching credentials (the TLS roots with `--ca-file`). Returns a summary to print.
pub fn check(config: &Config) -> Result<String, RunError> {
    ClientFactory::new(&config.upstream).map_err(RunError::Client)?;
    let mut summary = String::from("lattice-sidecar: the configuration is valid\n");
    for listener in &config.listeners {
        let route = match &listener.route {
            Route::FromRequest => "upstream from each request".to_owned(),
            Route::Fixed(target) => format!("upstream {target}"),
        };
        summary.push_str(&format!("  listen {}: {route}\n", listener.addr));
    }
    summary.push_str(&format!(
        "  admin {}: /livez, /readyz, /metrics\n",
        config.admin.addr
    ));
    Ok(summary)
}

/// A bound proxy listener.
struct BoundListener {
    tcp: TcpListener,
    route: Route,
    /// For logs and metrics: the address, and the fixed upstream if any.
    label: String,
}

/// Bind every listener, then serve until the first message on `signals`; then stop
/// accepting, let in-flight requests finish within the grace period (a second signal
/// cuts it short), and return. While draining, HTTP/1 responses carry `Connection: close`,
/// and idle connections are closed after 1 s (at most half the grace).
pub async fn run(config: Config, mut signals: mpsc::UnboundedReceiver<()>) -> Result<(), RunError> {
    let mut listeners = Vec::new();
    for listener in &config.listeners {
        let tcp = bind(listener.addr).await?;
        let label = match &listener.route {
            Route::FromRequest => local_label(&tcp),
            Route::Fixed(target) => format!("{} -> {target}", local_label(&tcp)),
        };
        let route = listener.route.clone();
        listeners.push(BoundListener { tcp, route, label });
    }
    let admin_tcp = bind(config.admin.addr).await?;
    let open_file_limit = limits::raise_open_file_limit();
    let max_connections = limits::max_connections(config.server.max_connections, open_file_limit);

    // One per worker, so each loads its TLS roots; built before anything is spawned, so a
    // bad upstream setting fails startup cleanly.
    let factories = (0..config.server.workers)
        .map(|_| ClientFactory::new(&config.upstream).map_err(RunError::Client))
        .collect::<Result<Vec<_>, _>>()?;
    let build = BuildInfo::current();
    tracing::info!(version = build.version, revision = build.revision, tls_provider = %build.tls_provider, "lattice-sidecar starting");
    let credentials = signing::credentials(&config.signing.credentials).await;
    let signer = Signer::new(config.signing.config.clone(), credentials.clone());
    let metrics = Metrics::new(&signer, &build, &config);
    let settings = ServeSettings::new(&config.server);
    let shared = workers::Shared {
        settings: settings.clone(),
        metrics: metrics.clone(),
        draining: Arc::new(AtomicBool::new(false)),
        settle: DRAIN_SETTLE.min(config.server.shutdown_grace / 2),
    };
    let services = factories
        .into_iter()
        .map(|factory| worker_services(factory, &config, &listeners, &signer, &metrics))
        .collect();
    let workers = Workers::start(services, &shared).map_err(RunError::Workers)?;
    let readiness = Readiness::new(credentials.clone());
    let admin = Admin::new(readiness.clone(), metrics.clone());
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

    let refresher = {
        let limit = ConnectionLimit::new(max_connections);
        let loops = listeners.into_iter().enumerate().map(|(index, bound)| {
            let workers = &workers;
            let (limit, metrics) = (&limit, &metrics);
            async move {
                listener::accept(
                    bound.tcp,
                    &bound.label,
                    limit,
                    metrics,
                    |stream, peer, permit| workers.dispatch(index, stream, peer, permit),
                )
                .await
            }
        });
        let accepting = pin!(join_all(loops));
        readiness.set_serving(true);
        tracing::info!(
            workers = config.server.workers,
            max_connections,
            open_file_limit =
                open_file_limit.map_or_else(|| "unlimited".to_owned(), |l| l.to_string()),
            "serving; ready once AWS credentials are loaded"
        );
        // Spawned once serving, so "ready to serve" is logged when `/readyz` turns ready.
        let refresher = tokio::spawn(keep_credentials_fresh(credentials, readiness.clone()));
        tokio::select! {
            _ = accepting => {}
            _ = signals.recv() => {}
        }
        // Dropping the accept loops closes the listeners: new connections are refused.
        refresher
    };
    readiness.set_serving(false);
    shared.draining.store(true, Ordering::Release);
    drain(workers, config.server.shutdown_grace, &mut signals).await;
    admin_task.abort();
    refresher.abort();
    Ok(())
}

/// One worker's services, one per listener: its own upstream clients (so connection
/// pools), shared by its listeners.
fn worker_services(
    factory: ClientFactory,
    config: &Config,
    listeners: &[BoundListener],
    signer: &Signer,
    metrics: &Metrics,
) -> Vec<ListenerService> {
    let pool_signer = signer.clone();
    let pools = Pools::new(move || signing::sign_clients(&pool_signer, factory.clients()));
    let services = listeners.iter().map(|bound| ListenerService {
        label: bound.label.clone(),
        proxy: Proxy::new(
            bound.route.clone(),
            &config.upstream,
            signer.clone(),
            pools.clone(),
            metrics.clone(),
        ),
    });
    services.collect()
}

/// Wait for the workers to finish their requests, within `grace`; a second signal ends it.
async fn drain(workers: Workers, grace: Duration, signals: &mut mpsc::UnboundedReceiver<()>) {
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
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, RunError> {
    let tcp = TcpListener::bind(addr)
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
/// when one is due (early, before expiry) or when a failed one may be retried. Logs when
/// credentials come and go, and when the sidecar turns ready (as `/readyz` does) or stops
/// being ready.
async fn keep_credentials_fresh(credentials: CredentialsCache, readiness: Readiness) {
    match credentials.warm().await {
        Ok(()) => tracing::info!("AWS credentials loaded"),
        Err(error) => {
            tracing::warn!(%error, "AWS credentials not loaded yet; requests get 503 until they are; retrying in the background")
        }
    }
    let mut tick = tokio::time::interval(CREDENTIALS_TICK);
    let mut loaded = credentials.cached().is_some();
    let mut ready = false;
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
        let now_ready = readiness.check();
        match (now_ready, ready) {
            (Ok(()), false) => tracing::info!("lattice-sidecar ready to serve"),
            // Expired credentials were warned about above; draining is expected.
            (Err(reason), true) => tracing::info!(reason, "lattice-sidecar not ready"),
            _ => {}
        }
        ready = now_ready.is_ok();
    }
}
