//! [`Emulator`] and its builder: bind the listeners, generate the certificates, serve.

use std::{
    fmt,
    net::{Ipv4Addr, SocketAddr},
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, SystemTime},
};

use arc_swap::ArcSwap;
use rustls::{ClientConfig, pki_types::CertificateDer};
use tokio::{net::TcpListener, sync::watch, task::JoinHandle};
use tokio_rustls::TlsAcceptor;

use crate::{
    Config, DEFAULT_MAX_SKEW, Error, KeyStore, RequestRecord, Service, app, default_services, log,
    routes::Routes, server, targets, tls,
};

/// How many requests [`Emulator::requests`] remembers by default.
pub const DEFAULT_REQUEST_LOG_CAPACITY: usize = 1024;

/// The emulator's source of "now", replaceable for clock-skew tests.
pub type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

/// Configures and starts an [`Emulator`]. See the [crate docs](crate) for an example.
pub struct EmulatorBuilder {
    https_addr: SocketAddr,
    http_addr: SocketAddr,
    allow_non_loopback: bool,
    services: Vec<Service>,
    config: Option<Config>,
    keys: Option<KeyStore>,
    clock: Clock,
    max_skew: Duration,
    request_log_capacity: usize,
}

/// A running emulator. Dropping it stops the listeners and drains connections.
pub struct Emulator {
    https_addr: SocketAddr,
    http_addr: SocketAddr,
    ca_pem: String,
    ca_der: CertificateDer<'static>,
    app: Arc<app::App>,
    /// Issues the TLS listener's certificate, again when a reload changes the hosts.
    issuer: Arc<tls::Issuer>,
    /// The access key ids the current configuration added to the key store.
    config_keys: Mutex<Vec<String>>,
    keys: KeyStore,
    clock: app::ClockCell,
    log: log::RequestLog,
    shutdown: watch::Sender<()>,
    listeners: Vec<JoinHandle<()>>,
}

// === impl EmulatorBuilder ===

impl EmulatorBuilder {
    /// Listens for TLS on this address instead of `127.0.0.1:0`; must be loopback unless
    /// [`Self::allow_non_loopback`].
    pub fn https_addr(mut self, addr: SocketAddr) -> Self {
        self.https_addr = addr;
        self
    }

    /// Listens for plain HTTP on this address instead of `127.0.0.1:0`; must be loopback
    /// unless [`Self::allow_non_loopback`].
    pub fn http_addr(mut self, addr: SocketAddr) -> Self {
        self.http_addr = addr;
        self
    }

    /// Whether the listen addresses may be other than loopback (default `false`), e.g.
    /// `0.0.0.0` in a container. Anyone who can reach such a listener can call the
    /// emulator with the keys it accepts, and the built-in test identity's secret is
    /// public; [`Self::start`] logs a warning for each such address.
    pub fn allow_non_loopback(mut self, allow: bool) -> Self {
        self.allow_non_loopback = allow;
        self
    }

    /// Adds a virtual host (replacing any earlier service with the same host).
    pub fn service(mut self, service: Service) -> Self {
        self.services
            .retain(|existing| existing.host() != service.host());
        self.services.push(service);
        self
    }

    /// Serves exactly what `config` declares (its services replace the builder's), each
    /// under Lattice's auth types and auth policies, and accepts its `[[identity]]` keys:
    /// added to the [`Self::key_store`] if one is given, else the only keys accepted.
    pub fn config(mut self, config: Config) -> Self {
        self.config = Some(config);
        self
    }

    /// Starts with no services, so only those added with [`Self::service`] exist.
    pub fn without_default_services(mut self) -> Self {
        self.services.clear();
        self
    }

    /// Uses this key store (shared with the caller) instead of one holding the test identity.
    pub fn key_store(mut self, keys: KeyStore) -> Self {
        self.keys = Some(keys);
        self
    }

    /// Uses `clock` as "now" for signature dates and the `date` header.
    pub fn clock(mut self, clock: impl Fn() -> SystemTime + Send + Sync + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Overrides the 5 minute clock-skew allowance.
    pub fn max_skew(mut self, max_skew: Duration) -> Self {
        self.max_skew = max_skew;
        self
    }

    /// How many requests the log keeps (oldest dropped first).
    pub fn request_log_capacity(mut self, capacity: usize) -> Self {
        self.request_log_capacity = capacity;
        self
    }

    /// Binds both listeners, generates the certificates and starts serving.
    ///
    /// Fails if an address is not loopback (unless [`Self::allow_non_loopback`]), cannot
    /// be bound, or TLS setup fails. Must be called inside a Tokio runtime.
    pub async fn start(self) -> Result<Emulator, Error> {
        for addr in [self.https_addr, self.http_addr] {
            if addr.ip().is_loopback() {
                continue;
            }
            if !self.allow_non_loopback {
                return Err(Error::non_loopback(addr));
            }
            tracing::warn!(
                %addr,
                "listening on a non-loopback address (--allow-non-loopback): anyone who can \
                 reach it can call the emulator with the keys it accepts, and the built-in \
                 test identity's secret is public"
            );
        }
        let from_config = self.config.is_some();
        let (routes, secrets) = match self.config {
            Some(config) => (config.routes, config.secrets),
            None => (Routes::signature_only(&self.services), Vec::new()),
        };
        let hosts: Vec<String> = routes.hosts.keys().cloned().collect();
        let certificates = tls::Certificates::generate(&hosts)?;
        let https = bind(self.https_addr).await?;
        let http = bind(self.http_addr).await?;
        let https_addr = local_addr(&https, self.https_addr)?;
        let http_addr = local_addr(&http, self.http_addr)?;

        let keys = match self.keys {
            Some(keys) => keys,
            None if from_config => KeyStore::new(),
            None => KeyStore::with_test_identity(),
        };
        let config_keys = secrets.iter().map(|s| s.access_key_id.clone()).collect();
        for secret in secrets {
            keys.insert(secret);
        }
        let clock = app::ClockCell::new(self.clock);
        let log = log::RequestLog::new(self.request_log_capacity);
        let app = Arc::new(app::App {
            routes: ArcSwap::from_pointee(routes),
            keys: keys.clone(),
            clock: clock.clone(),
            log: log.clone(),
            max_skew: self.max_skew,
            greeter: targets::grpc::GreeterServer::new(targets::grpc::GreeterTarget),
            forward: targets::forward::client(),
        });

        let (shutdown, signal) = watch::channel(());
        let acceptor = TlsAcceptor::from(certificates.server_config);
        let listeners = vec![
            server::spawn_listener(https, Some(acceptor), app.clone(), signal.clone()),
            server::spawn_listener(http, None, app.clone(), signal),
        ];
        tracing::info!(%https_addr, %http_addr, "Lattice emulator listening");
        Ok(Emulator {
            https_addr,
            http_addr,
            ca_pem: certificates.ca_pem,
            ca_der: certificates.ca_der,
            app,
            issuer: certificates.issuer,
            config_keys: Mutex::new(config_keys),
            keys,
            clock,
            log,
            shutdown,
            listeners,
        })
    }
}

impl Default for EmulatorBuilder {
    fn default() -> Self {
        let any_loopback_port = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        Self {
            https_addr: any_loopback_port,
            http_addr: any_loopback_port,
            allow_non_loopback: false,
            services: default_services(),
            config: None,
            keys: None,
            clock: Arc::new(SystemTime::now),
            max_skew: DEFAULT_MAX_SKEW,
            request_log_capacity: DEFAULT_REQUEST_LOG_CAPACITY,
        }
    }
}

impl fmt::Debug for EmulatorBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmulatorBuilder")
            .field("https_addr", &self.https_addr)
            .field("http_addr", &self.http_addr)
            .field("allow_non_loopback", &self.allow_non_loopback)
            .field("services", &self.services)
            .field("config", &self.config)
            .field("keys", &self.keys)
            .field("max_skew", &self.max_skew)
            .field("request_log_capacity", &self.request_log_capacity)
            .finish_non_exhaustive()
    }
}

// === impl Emulator ===

impl Emulator {
    /// Starts configuring an emulator with the default services and test identity.
    pub fn builder() -> EmulatorBuilder {
        EmulatorBuilder::default()
    }

    /// The bound TLS address.
    pub fn https_addr(&self) -> SocketAddr {
        self.https_addr
    }

    /// The bound plain-HTTP address.
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// `https://<host>:<tls port><path_and_query>`; resolve `host` to [`Self::https_addr`].
    pub fn https_url(&self, host: &str, path_and_query: &str) -> String {
        format!("https://{host}:{}{path_and_query}", self.https_addr.port())
    }

    /// `http://<host>:<plain port><path_and_query>`; resolve `host` to [`Self::http_addr`].
    pub fn http_url(&self, host: &str, path_and_query: &str) -> String {
        format!("http://{host}:{}{path_and_query}", self.http_addr.port())
    }

    /// The run-time CA certificate, PEM encoded, for clients to trust.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The run-time CA certificate, DER encoded.
    pub fn ca_der(&self) -> &CertificateDer<'static> {
        &self.ca_der
    }

    /// An aws-lc-rs rustls client config trusting only this emulator's CA.
    ///
    /// No ALPN protocols are set: add `h2` and/or `http/1.1` to choose the version.
    pub fn client_tls_config(&self) -> Result<ClientConfig, Error> {
        tls::client_config(&self.ca_der)
    }

    /// The services (virtual hosts) being served, sorted by host.
    pub fn services(&self) -> Vec<Service> {
        self.app.routes.load().services()
    }

    /// Serves `config` from the next request on, as [`EmulatorBuilder::config`] would;
    /// requests already under way finish under the configuration they started with. The
    /// keys of the previous configuration's `[[identity]]` entries are removed from the
    /// key store and the new ones added, and the TLS certificate is issued again (by the
    /// same CA) if the hosts changed.
    pub fn reload(&self, config: Config) {
        let Config { routes, secrets } = config;
        let mut config_keys = self
            .config_keys
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for id in config_keys.drain(..) {
            self.keys.remove(&id);
        }
        for secret in secrets {
            config_keys.push(secret.access_key_id.clone());
            self.keys.insert(secret);
        }
        let mut hosts: Vec<String> = routes.hosts.keys().cloned().collect();
        let mut old_hosts: Vec<String> = self.app.routes.load().hosts.keys().cloned().collect();
        hosts.sort_unstable();
        old_hosts.sort_unstable();
        if hosts != old_hosts
            && let Err(error) = self.issuer.reissue(&hosts)
        {
            tracing::warn!(%error, "cannot issue a certificate for the new hosts; TLS keeps the old one");
        }
        self.app.routes.store(Arc::new(routes));
    }

    /// The live key store: inserting or removing keys takes effect on the next request.
    pub fn key_store(&self) -> &KeyStore {
        &self.keys
    }

    /// Replaces the emulator's clock while it runs.
    pub fn set_clock(&self, clock: impl Fn() -> SystemTime + Send + Sync + 'static) {
        self.clock.set(Arc::new(clock));
    }

    /// The emulator's current "now".
    pub fn now(&self) -> SystemTime {
        self.clock.now()
    }

    /// Every request that reached the emulator (up to the log capacity), oldest first.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.log.snapshot()
    }

    /// Forgets the logged requests.
    pub fn clear_requests(&self) {
        self.log.clear();
    }

    /// Stops accepting, lets open connections finish (bounded), and waits for that.
    pub async fn shutdown(mut self) {
        // Receivers may already be gone; either way the listeners stop.
        let _ = self.shutdown.send(());
        for listener in std::mem::take(&mut self.listeners) {
            if let Err(error) = listener.await {
                tracing::warn!(%error, "emulator listener task failed");
            }
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.shutdown.send(());
    }
}

impl fmt::Debug for Emulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Emulator")
            .field("https_addr", &self.https_addr)
            .field("http_addr", &self.http_addr)
            .field("services", &self.services())
            .field("keys", &self.keys)
            .finish_non_exhaustive()
    }
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, Error> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| Error::bind(addr, source))
}

fn local_addr(listener: &TcpListener, requested: SocketAddr) -> Result<SocketAddr, Error> {
    listener
        .local_addr()
        .map_err(|source| Error::bind(requested, source))
}
