//! A raw loopback upstream that misbehaves on purpose, for the sidecar's fault tests.
//!
//! A [`FaultServer`] listens on `127.0.0.1:0` and commits one [`Fault`] on every
//! connection: at the TLS layer (plaintext answer, close, reset or silence during the
//! handshake; a bad certificate) or at the HTTP/1.1 layer over a good TLS session (reset
//! in the middle of the request or response body, no answer, slow headers). Resets are
//! real TCP RSTs (`SO_LINGER` 0). Good certificates come from a [`FaultCa`] the sidecar
//! is told to trust (`--ca-file`), for one host name per server (`--resolve`). A
//! [`Blackhole`] is an address where connecting itself times out.
//!
//! Each server runs on its own thread and single-threaded runtime, so a test may block
//! its own threads on synchronous clients without starving it. Every read and hold is
//! bounded; dropping the server stops it and closes its sockets.
//!
//! ```no_run
//! use lattice_tests::fault_upstream::{Fault, FaultCa, FaultServer};
//!
//! # fn example() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let ca = FaultCa::generate()?;
//! let host = "down-0123456789abcdef0.7d67968.vpc-lattice-svcs.us-west-2.on.aws";
//! let server = FaultServer::start(Fault::NoResponse, &ca, host)?;
//! // lattice-sidecar --ca-file <ca.pem()> --resolve <host>:443:<server.addr()> --request-timeout 1s
//! # Ok(()) }
//! ```

use std::fmt;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustls::ServerConfig;
use rustls::crypto::aws_lc_rs;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, oneshot};
use tokio_rustls::TlsAcceptor;

use crate::sidecar::BoxError;

/// Upper bound for any single read, write or handshake of the server.
pub const IO_LIMIT: Duration = Duration::from_secs(10);
/// Longest a silent fault ([`Fault::NoResponse`], [`Fault::TlsStall`]) keeps a
/// connection open while the peer stays.
pub const HOLD_LIMIT: Duration = Duration::from_secs(60);
/// Body bytes a [`Fault::ResetMidResponseBody`] sends before the reset.
pub const PARTIAL_BODY_LEN: usize = 16 * 1024;
/// The body length a [`Fault::ResetMidResponseBody`] announces (and never completes).
pub const ANNOUNCED_BODY_LEN: usize = 1024 * 1024;
/// The body of a complete answer.
pub const OK_BODY: &[u8] = b"ok\n";

const MAX_HEAD: usize = 64 * 1024;

/// What a [`FaultServer`] does to every connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// No fault: answer `200 OK` with [`OK_BODY`] and close. The control case.
    Healthy,
    /// Answer the TLS ClientHello in plaintext HTTP, as a plain-HTTP server on the TLS
    /// port would.
    TlsGarbage,
    /// Read the ClientHello, then close the connection cleanly (FIN).
    TlsClose,
    /// Read the ClientHello, then reset the connection (RST).
    TlsReset,
    /// Read the ClientHello, then say nothing while the peer stays.
    TlsStall,
    /// Complete the handshake with a certificate from a CA nobody trusts.
    UntrustedCertificate,
    /// A certificate from the trusted CA, but for another host name.
    WrongHostCertificate,
    /// A certificate from the trusted CA whose validity ended in 2001.
    ExpiredCertificate,
    /// Read the request head and at least `after` bytes of body (as sent on the wire),
    /// then reset.
    ResetMidRequestBody {
        /// Body bytes to read first.
        after: usize,
    },
    /// Send `200 OK` headers announcing [`ANNOUNCED_BODY_LEN`] bytes (as
    /// `content-length`, or chunked) and [`PARTIAL_BODY_LEN`] of them, then reset. On a
    /// [gated](FaultServerBuilder::gated) server the reset waits for
    /// [`FaultServer::release`].
    ResetMidResponseBody {
        /// `transfer-encoding: chunked` instead of `content-length`.
        chunked: bool,
    },
    /// Read the request, then never answer while the peer stays.
    NoResponse,
    /// Answer `200 OK` with both `content-length` and `transfer-encoding: chunked` (a
    /// chunked [`OK_BODY`]): the framing RFC 9112 §6.3 says a recipient must not trust.
    AmbiguousResponseFraming,
    /// Read the request, wait `delay`, then answer like [`Fault::Healthy`].
    SlowHeaders {
        /// How long to wait before the response headers.
        delay: Duration,
    },
}

/// A throw-away CA for the good certificates of [`FaultServer`]s.
pub struct FaultCa {
    cert: Certificate,
    key: KeyPair,
}

/// Configures a [`FaultServer`].
#[derive(Debug)]
pub struct FaultServerBuilder {
    fault: Fault,
    host: String,
    gated: bool,
}

/// A running fault server. Stops (and closes every socket) when dropped.
pub struct FaultServer {
    addr: SocketAddr,
    fault: Fault,
    host: String,
    state: Arc<State>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

struct State {
    fault: Fault,
    tls: Option<TlsAcceptor>,
    gate: Option<Semaphore>,
    connections: AtomicU64,
    requests: AtomicU64,
    resets: AtomicU64,
}

/// A loopback address whose SYNs go unanswered, so connecting to it times out: a
/// listener with a full accept queue (filled by its own connections) that never accepts.
pub struct Blackhole {
    addr: SocketAddr,
    _listener: std::net::TcpListener,
    _fillers: Vec<std::net::TcpStream>,
}

// === impl Blackhole ===

impl Blackhole {
    /// Bind, then connect until the accept queue is full (Linux then drops new SYNs).
    pub fn start() -> Result<Self, BoxError> {
        // std cannot set the backlog; tokio can, and hands the socket back unregistered.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()?;
        let listener = runtime.block_on(async {
            let socket = tokio::net::TcpSocket::new_v4()?;
            socket.bind((Ipv4Addr::LOCALHOST, 0).into())?;
            socket.listen(1)?.into_std()
        })?;
        drop(runtime);
        let addr = listener.local_addr()?;
        let mut fillers = Vec::new();
        for _ in 0..16 {
            match std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(300)) {
                Ok(stream) => fillers.push(stream),
                Err(error) if error.kind() == io::ErrorKind::TimedOut => {
                    return Ok(Self {
                        addr,
                        _listener: listener,
                        _fillers: fillers,
                    });
                }
                Err(error) => return Err(error.into()),
            }
        }
        Err("the accept queue never filled: connections are not timing out".into())
    }

    /// The address that does not answer.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl fmt::Debug for Blackhole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Blackhole")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

// === impl Fault ===

impl Fault {
    /// Whether the fault happens after a good TLS handshake (so the server needs a
    /// certificate from the [`FaultCa`]).
    fn needs_good_tls(self) -> bool {
        matches!(
            self,
            Fault::Healthy
                | Fault::ResetMidRequestBody { .. }
                | Fault::ResetMidResponseBody { .. }
                | Fault::AmbiguousResponseFraming
                | Fault::NoResponse
                | Fault::SlowHeaders { .. }
        )
    }
}

// === impl FaultCa ===

impl FaultCa {
    /// A new CA key and self-signed certificate.
    pub fn generate() -> Result<Self, BoxError> {
        let (cert, key) = new_ca("Lattice fault-upstream test CA")?;
        Ok(Self { cert, key })
    }

    /// The CA certificate, PEM, for the sidecar's `--ca-file`.
    pub fn pem(&self) -> String {
        self.cert.pem()
    }

    /// A server config with a leaf for `names` signed by `issuer`, offering only
    /// HTTP/1.1 by ALPN (the raw server speaks nothing else).
    fn server_config(
        issuer: (&Certificate, &KeyPair),
        names: &[&str],
        expired: bool,
    ) -> Result<Arc<ServerConfig>, BoxError> {
        let key = KeyPair::generate()?;
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = CertificateParams::new(names)?;
        params
            .distinguished_name
            .push(DnType::CommonName, "Lattice fault upstream");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        if expired {
            params.not_before = rcgen::date_time_ymd(2000, 1, 1);
            params.not_after = rcgen::date_time_ymd(2001, 1, 1);
        }
        let leaf = params.signed_by(&key, issuer.0, issuer.1)?;
        let chain: Vec<CertificateDer<'static>> = vec![leaf.der().clone(), issuer.0.der().clone()];
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let mut config =
            ServerConfig::builder_with_provider(Arc::new(aws_lc_rs::default_provider()))
                .with_safe_default_protocol_versions()?
                .with_no_client_auth()
                .with_single_cert(chain, key)?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

impl fmt::Debug for FaultCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaultCa").finish_non_exhaustive()
    }
}

fn new_ca(name: &str) -> Result<(Certificate, KeyPair), BoxError> {
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let cert = params.self_signed(&key)?;
    Ok((cert, key))
}

// === impl FaultServerBuilder ===

impl FaultServerBuilder {
    /// Hold [`Fault::ResetMidResponseBody`] resets until [`FaultServer::release`], so a
    /// test can see the headers and partial body reach the client first.
    pub fn gated(mut self) -> Self {
        self.gated = true;
        self
    }

    /// Bind `127.0.0.1:0` and start serving.
    pub fn start(self, ca: &FaultCa) -> Result<FaultServer, BoxError> {
        let host = self.host.as_str();
        let tls = match self.fault {
            fault if fault.needs_good_tls() => {
                Some(FaultCa::server_config((&ca.cert, &ca.key), &[host], false)?)
            }
            Fault::UntrustedCertificate => {
                let (cert, key) = new_ca("Untrusted fault-upstream CA")?;
                Some(FaultCa::server_config((&cert, &key), &[host], false)?)
            }
            Fault::WrongHostCertificate => Some(FaultCa::server_config(
                (&ca.cert, &ca.key),
                &["wrong-host.example.invalid"],
                false,
            )?),
            Fault::ExpiredCertificate => {
                Some(FaultCa::server_config((&ca.cert, &ca.key), &[host], true)?)
            }
            _ => None,
        };
        let state = Arc::new(State {
            fault: self.fault,
            tls: tls.map(TlsAcceptor::from),
            gate: self.gated.then(|| Semaphore::new(0)),
            connections: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            resets: AtomicU64::new(0),
        });
        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (stop, stopped) = oneshot::channel();
        let accept_state = state.clone();
        let thread = std::thread::Builder::new()
            .name(format!("fault-upstream-{}", addr.port()))
            .spawn(move || {
                runtime.block_on(async move {
                    let listener = match TcpListener::from_std(listener) {
                        Ok(listener) => listener,
                        Err(error) => {
                            eprintln!("fault upstream: {error}");
                            return;
                        }
                    };
                    tokio::select! {
                        _ = stopped => {}
                        () = accept_loop(listener, accept_state) => {}
                    }
                });
                // Dropping the runtime drops every connection task, closing its socket.
            })?;
        Ok(FaultServer {
            addr,
            fault: self.fault,
            host: self.host,
            state,
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

// === impl FaultServer ===

impl FaultServer {
    /// A builder for a server committing `fault`, with certificates for `host`.
    pub fn builder(fault: Fault, host: impl Into<String>) -> FaultServerBuilder {
        FaultServerBuilder {
            fault,
            host: host.into(),
            gated: false,
        }
    }

    /// Start an ungated server committing `fault` for `host`.
    pub fn start(fault: Fault, ca: &FaultCa, host: &str) -> Result<Self, BoxError> {
        Self::builder(fault, host).start(ca)
    }

    /// The loopback address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The fault it commits.
    pub fn fault(&self) -> Fault {
        self.fault
    }

    /// The host name its certificates are for.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// `<host>:443:<addr>`, for the sidecar's `--resolve`.
    pub fn resolve_arg(&self) -> String {
        format!("{}:443:{}", self.host, self.addr)
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.state.connections.load(Ordering::SeqCst)
    }

    /// HTTP request heads read so far.
    pub fn requests(&self) -> u64 {
        self.state.requests.load(Ordering::SeqCst)
    }

    /// Connections reset so far (after any [gate](FaultServerBuilder::gated)).
    pub fn resets(&self) -> u64 {
        self.state.resets.load(Ordering::SeqCst)
    }

    /// Let one gated [`Fault::ResetMidResponseBody`] connection reset.
    pub fn release(&self) {
        if let Some(gate) = &self.state.gate {
            gate.add_permits(1);
        }
    }
}

impl Drop for FaultServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl fmt::Debug for FaultServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaultServer")
            .field("addr", &self.addr)
            .field("fault", &self.fault)
            .field("host", &self.host)
            .finish_non_exhaustive()
    }
}

// === serving ===

async fn accept_loop(listener: TcpListener, state: Arc<State>) {
    loop {
        let tcp = match listener.accept().await {
            Ok((tcp, _)) => tcp,
            Err(error) => {
                // Out of descriptors or similar: back off instead of spinning.
                eprintln!("fault upstream: accept failed: {error}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        state.connections.fetch_add(1, Ordering::SeqCst);
        let state = state.clone();
        tokio::spawn(async move {
            // Errors are the peer giving up, which is what the faults provoke.
            let _ = serve(tcp, &state).await;
        });
    }
}

async fn serve(mut tcp: TcpStream, state: &State) -> Result<(), BoxError> {
    let _ = tcp.set_nodelay(true);
    match state.fault {
        Fault::TlsGarbage => {
            read_some(&mut tcp).await?;
            let answer =
                b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
            bounded(tcp.write_all(answer)).await?;
            close_gracefully(tcp).await
        }
        Fault::TlsClose => {
            read_some(&mut tcp).await?;
            close_gracefully(tcp).await
        }
        Fault::TlsReset => {
            read_some(&mut tcp).await?;
            reset(tcp, state);
            Ok(())
        }
        Fault::TlsStall => {
            read_some(&mut tcp).await?;
            hold(&mut tcp).await;
            Ok(())
        }
        Fault::UntrustedCertificate | Fault::WrongHostCertificate | Fault::ExpiredCertificate => {
            // The client aborts the handshake with an alert; nothing more to do.
            let acceptor = state.tls.as_ref().ok_or("no TLS config")?;
            let _ = bounded(acceptor.accept(tcp)).await;
            Ok(())
        }
        Fault::Healthy
        | Fault::ResetMidRequestBody { .. }
        | Fault::ResetMidResponseBody { .. }
        | Fault::AmbiguousResponseFraming
        | Fault::NoResponse
        | Fault::SlowHeaders { .. } => {
            let acceptor = state.tls.as_ref().ok_or("no TLS config")?;
            let tls = bounded(acceptor.accept(tcp)).await?;
            serve_http(tls, state).await
        }
    }
}

async fn serve_http(
    mut tls: tokio_rustls::server::TlsStream<TcpStream>,
    state: &State,
) -> Result<(), BoxError> {
    let (_head, mut body) = read_head(&mut tls).await?;
    state.requests.fetch_add(1, Ordering::SeqCst);
    match state.fault {
        Fault::ResetMidRequestBody { after } => {
            let mut buf = vec![0u8; 16 * 1024];
            while body.len() < after {
                let n = bounded(tls.read(&mut buf)).await?;
                if n == 0 {
                    return Err("peer closed before the reset point".into());
                }
                body.extend_from_slice(&buf[..n]);
            }
            reset(tls.into_inner().0, state);
            Ok(())
        }
        Fault::ResetMidResponseBody { chunked } => {
            let mut out = Vec::with_capacity(PARTIAL_BODY_LEN + 256);
            out.extend_from_slice(b"HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\n");
            if chunked {
                out.extend_from_slice(b"transfer-encoding: chunked\r\n\r\n");
                out.extend_from_slice(format!("{ANNOUNCED_BODY_LEN:x}\r\n").as_bytes());
            } else {
                out.extend_from_slice(
                    format!("content-length: {ANNOUNCED_BODY_LEN}\r\n\r\n").as_bytes(),
                );
            }
            out.resize(out.len() + PARTIAL_BODY_LEN, b'x');
            bounded(tls.write_all(&out)).await?;
            bounded(tls.flush()).await?;
            if let Some(gate) = &state.gate {
                if let Ok(Ok(permit)) = tokio::time::timeout(IO_LIMIT, gate.acquire()).await {
                    permit.forget();
                }
            } else {
                // Give the peer a moment to read what was sent, as a real server dying
                // mid-stream would.
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            reset(tls.into_inner().0, state);
            Ok(())
        }
        Fault::AmbiguousResponseFraming => {
            let mut out = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 100\r\n\
                 transfer-encoding: chunked\r\nconnection: close\r\n\r\n{:x}\r\n",
                OK_BODY.len()
            )
            .into_bytes();
            out.extend_from_slice(OK_BODY);
            out.extend_from_slice(b"\r\n0\r\n\r\n");
            bounded(tls.write_all(&out)).await?;
            bounded(tls.flush()).await?;
            close_gracefully(tls.into_inner().0).await
        }
        Fault::NoResponse => {
            hold(&mut tls).await;
            Ok(())
        }
        Fault::SlowHeaders { delay } => {
            tokio::time::sleep(delay).await;
            answer_ok(tls).await
        }
        _ => answer_ok(tls).await,
    }
}

async fn answer_ok(mut tls: tokio_rustls::server::TlsStream<TcpStream>) -> Result<(), BoxError> {
    let mut out = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        OK_BODY.len()
    )
    .into_bytes();
    out.extend_from_slice(OK_BODY);
    bounded(tls.write_all(&out)).await?;
    // close_notify, then wait for the peer to close so our close is a FIN, not an RST.
    bounded(tls.shutdown()).await?;
    let mut buf = [0u8; 1024];
    while bounded(tls.read(&mut buf)).await.unwrap_or(0) > 0 {}
    Ok(())
}

/// Read the request head; returns it and any body bytes read with it.
async fn read_head<S: AsyncRead + Unpin>(stream: &mut S) -> Result<(String, Vec<u8>), BoxError> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buffer[..end]).into_owned();
            return Ok((head, buffer.split_off(end + 4)));
        }
        if buffer.len() > MAX_HEAD {
            return Err("request head too large".into());
        }
        let n = bounded(stream.read(&mut chunk)).await?;
        if n == 0 {
            return Err("peer closed before the request head ended".into());
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
}

/// Read at least one byte (the start of the ClientHello).
async fn read_some(tcp: &mut TcpStream) -> Result<(), BoxError> {
    let mut buf = [0u8; 4096];
    match bounded(tcp.read(&mut buf)).await? {
        0 => Err("peer closed before sending anything".into()),
        _ => Ok(()),
    }
}

/// Keep the connection open, reading and discarding, until the peer goes away or
/// [`HOLD_LIMIT`] passes.
async fn hold<S: AsyncRead + Unpin>(stream: &mut S) {
    let mut buf = [0u8; 4096];
    let _ = tokio::time::timeout(HOLD_LIMIT, async {
        while matches!(stream.read(&mut buf).await, Ok(n) if n > 0) {}
    })
    .await;
}

/// Send FIN, then wait (bounded) for the peer to close, so the close is clean.
async fn close_gracefully(mut tcp: TcpStream) -> Result<(), BoxError> {
    bounded(tcp.shutdown()).await?;
    let mut buf = [0u8; 4096];
    while bounded(tcp.read(&mut buf)).await.unwrap_or(0) > 0 {}
    Ok(())
}

/// Close with `SO_LINGER` 0, which makes the kernel send an RST.
fn reset(tcp: TcpStream, state: &State) {
    if let Err(error) = tcp.set_zero_linger() {
        eprintln!("fault upstream: SO_LINGER 0 failed: {error}");
    }
    state.resets.fetch_add(1, Ordering::SeqCst);
    drop(tcp);
}

async fn bounded<T, E>(future: impl Future<Output = Result<T, E>>) -> Result<T, BoxError>
where
    E: Into<BoxError>,
{
    match tokio::time::timeout(IO_LIMIT, future).await {
        Ok(result) => result.map_err(Into::into),
        Err(_) => Err(io::Error::from(io::ErrorKind::TimedOut).into()),
    }
}
