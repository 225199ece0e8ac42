//! Fake AWS credential endpoints on loopback: the ECS/EKS container-credentials endpoint
//! and IMDSv2, in the shapes aws-config 1.8 parses (`aws-config/src/json_credentials.rs`,
//! `ecs.rs`, `imds/client/token.rs`, `imds/credentials.rs`).
//!
//! Every credentials response hands out a **new** short-lived key and registers it in an
//! emulator [`KeyStore`], removing every key older than the previous one, as STS does for
//! the emulator's "current and previous key" rule. The endpoint can be switched
//! [`Mode::Up`], [`Mode::Error500`], [`Mode::Hang`] or [`Mode::Refuse`] at run time.
//!
//! ```no_run
//! use lattice_emulator::Emulator;
//! use lattice_tests::fake_credentials::{FakeCredentialServer, Mode};
//!
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let emulator = Emulator::builder().start().await?;
//! let ecs = FakeCredentialServer::ecs()
//!     .lifetime(std::time::Duration::from_secs(60))
//!     .start(emulator.key_store().clone())
//!     .await?;
//! // For a child process (e.g. the sidecar): the env of an EKS Pod Identity pod.
//! let env = ecs.env();
//! ecs.set_mode(Mode::Refuse).await?; // connection refused from now on
//! # let _ = env;
//! # Ok(())
//! # }
//! ```

use std::{
    convert::Infallible,
    fmt, io,
    net::{Ipv4Addr, SocketAddr},
    path::PathBuf,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, SystemTime},
};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::{body::Incoming, service::service_fn};
use hyper_util::rt::TokioIo;
use sha2::{Digest, Sha256};
use tokio::{net::TcpListener, task::JoinHandle, task::JoinSet};

use lattice_emulator::verifier::Secret;
use lattice_emulator::{ACCOUNT_ID, KeyStore};

/// The path the ECS fake serves credentials on.
pub const ECS_PATH: &str = "/creds";
/// The IAM role name the IMDS fake reports.
pub const IMDS_ROLE: &str = "lattice-test-role";
/// Default credential lifetime: within the 60–90 s of the issue's rotation scenario.
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(75);

const IMDS_TOKEN_PATH: &str = "/latest/api/token";
const IMDS_CREDS_PREFIX: &str = "/latest/meta-data/iam/security-credentials/";
const IMDS_TTL_HEADER: &str = "x-aws-ec2-metadata-token-ttl-seconds";
const IMDS_TOKEN_HEADER: &str = "x-aws-ec2-metadata-token";

/// Which endpoint a [`FakeCredentialServer`] imitates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `AWS_CONTAINER_CREDENTIALS_FULL_URI` + `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`
    /// (EKS Pod Identity; ECS with a full URI).
    Ecs,
    /// IMDSv2 at `AWS_EC2_METADATA_SERVICE_ENDPOINT`.
    Imds,
}

/// How the endpoint behaves right now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Serves credentials.
    Up,
    /// Accepts connections and answers every request with 500.
    Error500,
    /// Accepts connections and never answers (a wedged agent).
    Hang,
    /// Not listening: connections are refused, open ones are closed.
    Refuse,
}

/// One key handed out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Issued {
    /// Its access key id.
    pub access_key_id: String,
    /// When it was handed out.
    pub issued_at: SystemTime,
    /// The `Expiration` sent with it (whole seconds).
    pub expiration: SystemTime,
}

/// Configures a [`FakeCredentialServer`].
#[derive(Debug)]
pub struct FakeCredentialServerBuilder {
    kind: Kind,
    lifetime: Duration,
}

/// A running fake endpoint on `127.0.0.1`. Dropping it stops it.
pub struct FakeCredentialServer {
    addr: SocketAddr,
    state: Arc<State>,
    serving: tokio::sync::Mutex<Option<JoinHandle<()>>>,
    /// Holds the EKS Pod Identity token file for [`Kind::Ecs`].
    token_dir: Option<tempfile::TempDir>,
}

struct State {
    kind: Kind,
    lifetime: Duration,
    keys: KeyStore,
    /// The `Authorization` value (ECS) or session token (IMDS) requests must carry.
    auth_token: String,
    mode: Mutex<Mode>,
    requests: AtomicU64,
    issued: Mutex<Vec<Issued>>,
}

// === impl FakeCredentialServerBuilder ===

impl FakeCredentialServerBuilder {
    /// How long each key is valid (default [`DEFAULT_LIFETIME`]). Whole seconds, at least 1.
    pub fn lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = lifetime.max(Duration::from_secs(1));
        self
    }

    /// Binds `127.0.0.1:0` and starts serving in [`Mode::Up`]; keys go into `keys`.
    pub async fn start(self, keys: KeyStore) -> io::Result<FakeCredentialServer> {
        let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await?;
        let addr = listener.local_addr()?;
        // Unguessable per run, so a request can only succeed if it read our token.
        let auth_token = hex::encode(Sha256::digest(format!("{addr}{:?}", now())));
        let token_dir = match self.kind {
            Kind::Ecs => {
                let dir = tempfile::tempdir()?;
                std::fs::write(dir.path().join("eks-pod-identity-token"), &auth_token)?;
                Some(dir)
            }
            Kind::Imds => None,
        };
        let state = Arc::new(State {
            kind: self.kind,
            lifetime: Duration::from_secs(self.lifetime.as_secs().max(1)),
            keys,
            auth_token,
            mode: Mutex::new(Mode::Up),
            requests: AtomicU64::new(0),
            issued: Mutex::new(Vec::new()),
        });
        let serving = tokio::spawn(serve(listener, state.clone()));
        Ok(FakeCredentialServer {
            addr,
            state,
            serving: tokio::sync::Mutex::new(Some(serving)),
            token_dir,
        })
    }
}

// === impl FakeCredentialServer ===

impl FakeCredentialServer {
    /// A fake ECS/EKS container-credentials endpoint.
    pub fn ecs() -> FakeCredentialServerBuilder {
        FakeCredentialServerBuilder {
            kind: Kind::Ecs,
            lifetime: DEFAULT_LIFETIME,
        }
    }

    /// A fake IMDSv2 endpoint.
    pub fn imds() -> FakeCredentialServerBuilder {
        FakeCredentialServerBuilder {
            kind: Kind::Imds,
            lifetime: DEFAULT_LIFETIME,
        }
    }

    /// What this server imitates.
    pub fn kind(&self) -> Kind {
        self.state.kind
    }

    /// The bound address (always loopback).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT/creds` (ECS) or `http://127.0.0.1:PORT` (IMDS endpoint).
    pub fn url(&self) -> String {
        match self.state.kind {
            Kind::Ecs => format!("http://{}{ECS_PATH}", self.addr),
            Kind::Imds => format!("http://{}", self.addr),
        }
    }

    /// The EKS Pod Identity token file (ECS only).
    pub fn token_file(&self) -> Option<PathBuf> {
        self.token_dir
            .as_ref()
            .map(|d| d.path().join("eks-pod-identity-token"))
    }

    /// The environment a process needs to use this endpoint through aws-config's default
    /// chain, and nothing else: IMDS is disabled for the ECS fake, and a region is set, so
    /// the chain never probes a real AWS address.
    pub fn env(&self) -> Vec<(String, String)> {
        let mut env = vec![("AWS_REGION".to_owned(), "us-west-2".to_owned())];
        match (self.state.kind, self.token_file()) {
            (Kind::Ecs, Some(file)) => {
                env.push(("AWS_CONTAINER_CREDENTIALS_FULL_URI".to_owned(), self.url()));
                env.push((
                    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE".to_owned(),
                    file.display().to_string(),
                ));
                env.push(("AWS_EC2_METADATA_DISABLED".to_owned(), "true".to_owned()));
            }
            _ => env.push(("AWS_EC2_METADATA_SERVICE_ENDPOINT".to_owned(), self.url())),
        }
        env
    }

    /// Switches behaviour. Returns once the change is in effect: after `Mode::Refuse`
    /// nothing listens and open connections are closed.
    pub async fn set_mode(&self, mode: Mode) -> io::Result<()> {
        let mut serving = self.serving.lock().await;
        *self
            .state
            .mode
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = mode;
        match (mode, serving.take()) {
            (Mode::Refuse, Some(task)) => {
                // Dropping the task drops the listener and every connection task.
                task.abort();
                let _ = task.await;
            }
            (Mode::Refuse, None) => {}
            (_, Some(task)) => *serving = Some(task),
            (_, None) => {
                let listener = TcpListener::bind(self.addr).await?;
                *serving = Some(tokio::spawn(serve(listener, self.state.clone())));
            }
        }
        Ok(())
    }

    /// The current behaviour.
    pub fn mode(&self) -> Mode {
        *self
            .state
            .mode
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// HTTP requests received (all paths, all modes except `Refuse`).
    pub fn requests(&self) -> u64 {
        self.state.requests.load(Ordering::Relaxed)
    }

    /// Every key handed out, oldest first.
    pub fn issued(&self) -> Vec<Issued> {
        self.state
            .issued
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Drop for FakeCredentialServer {
    fn drop(&mut self) {
        if let Some(task) = self.serving.get_mut().take() {
            task.abort();
        }
    }
}

impl fmt::Debug for FakeCredentialServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeCredentialServer")
            .field("kind", &self.state.kind)
            .field("addr", &self.addr)
            .field("lifetime", &self.state.lifetime)
            .field("mode", &self.mode())
            .field("requests", &self.requests())
            .finish_non_exhaustive()
    }
}

// === impl State ===

impl State {
    async fn handle(self: Arc<Self>, request: Request<Incoming>) -> Response<Full<Bytes>> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let mode = *self.mode.lock().unwrap_or_else(PoisonError::into_inner);
        match mode {
            Mode::Up => {}
            Mode::Error500 | Mode::Refuse => {
                return respond(StatusCode::INTERNAL_SERVER_ERROR, "fake outage");
            }
            Mode::Hang => std::future::pending::<()>().await,
        }
        match self.kind {
            Kind::Ecs => self.ecs(&request),
            Kind::Imds => self.imds(&request),
        }
    }

    fn ecs(&self, request: &Request<Incoming>) -> Response<Full<Bytes>> {
        if request.method() != Method::GET || request.uri().path() != ECS_PATH {
            return respond(StatusCode::NOT_FOUND, "not found");
        }
        let authorized = request
            .headers()
            .get(http::header::AUTHORIZATION)
            .is_some_and(|v| v.as_bytes() == self.auth_token.as_bytes());
        if !authorized {
            return respond(StatusCode::UNAUTHORIZED, "bad or missing Authorization");
        }
        self.credentials_json("ecs", false)
    }

    fn imds(&self, request: &Request<Incoming>) -> Response<Full<Bytes>> {
        let path = request.uri().path();
        if path == IMDS_TOKEN_PATH {
            let ttl = request.headers().get(IMDS_TTL_HEADER).cloned();
            return match (request.method(), ttl) {
                (&Method::PUT, Some(ttl)) => Response::builder()
                    .header(IMDS_TTL_HEADER, ttl)
                    .body(Full::new(Bytes::from(self.auth_token.clone())))
                    .unwrap_or_else(|_| respond(StatusCode::INTERNAL_SERVER_ERROR, "")),
                (&Method::PUT, None) => respond(StatusCode::BAD_REQUEST, "missing TTL"),
                _ => respond(StatusCode::METHOD_NOT_ALLOWED, ""),
            };
        }
        let authorized = request
            .headers()
            .get(IMDS_TOKEN_HEADER)
            .is_some_and(|v| v.as_bytes() == self.auth_token.as_bytes());
        if !authorized {
            // IMDSv2 answers 401 to a missing or stale session token.
            return respond(StatusCode::UNAUTHORIZED, "");
        }
        match path.strip_prefix(IMDS_CREDS_PREFIX) {
            _ if request.method() != Method::GET => respond(StatusCode::METHOD_NOT_ALLOWED, ""),
            Some("") => respond(StatusCode::OK, IMDS_ROLE),
            Some(IMDS_ROLE) => self.credentials_json("imds", true),
            _ => respond(StatusCode::NOT_FOUND, ""),
        }
    }

    /// Issues a new key, registers it and answers with it.
    fn credentials_json(&self, prefix: &str, imds: bool) -> Response<Full<Bytes>> {
        let issued_at = now();
        // Whole seconds: that is all the wire format carries.
        let expiration = truncate_to_secs(issued_at + self.lifetime);
        let mut issued = self.issued.lock().unwrap_or_else(PoisonError::into_inner);
        let n = issued.len();
        let access_key_id = format!("ASIAFAKE{}{n:08}", prefix.to_ascii_uppercase());
        let secret_access_key = hex::encode(Sha256::digest(format!(
            "{}{access_key_id}",
            self.auth_token
        )));
        let session_token = format!("{prefix}-session-token-{n}");
        self.keys.insert(Secret {
            access_key_id: access_key_id.clone(),
            secret_access_key: secret_access_key.clone(),
            session_token: Some(session_token.clone()),
            principal: format!("arn:aws:sts::{ACCOUNT_ID}:assumed-role/{IMDS_ROLE}/{prefix}"),
            session_name: Some(prefix.to_owned()),
        });
        // The emulator accepts the current and the previous key only.
        if let Some(stale) = n.checked_sub(2).and_then(|i| issued.get(..=i)) {
            for old in stale {
                self.keys.remove(&old.access_key_id);
            }
        }
        issued.push(Issued {
            access_key_id: access_key_id.clone(),
            issued_at,
            expiration,
        });
        drop(issued);

        let expiration = rfc3339(expiration);
        let mut body = serde_json::json!({
            "AccessKeyId": access_key_id,
            "SecretAccessKey": secret_access_key,
            "Token": session_token,
            "Expiration": expiration,
        });
        if imds {
            body["Code"] = "Success".into();
            body["LastUpdated"] = rfc3339(truncate_to_secs(issued_at)).into();
            body["Type"] = "AWS-HMAC".into();
        } else {
            body["RoleArn"] = format!("arn:aws:iam::{ACCOUNT_ID}:role/{IMDS_ROLE}").into();
        }
        respond(StatusCode::OK, body.to_string())
    }
}

async fn serve(listener: TcpListener, state: Arc<State>) {
    // Owned here, so aborting this task closes every connection too.
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let state = state.clone();
                connections.spawn(async move {
                    let service = service_fn(move |request| {
                        let state = state.clone();
                        async move { Ok::<_, Infallible>(state.handle(request).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
            Some(_) = connections.join_next() => {}
        }
    }
}

fn respond(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response
}

fn now() -> SystemTime {
    SystemTime::now()
}

fn truncate_to_secs(time: SystemTime) -> SystemTime {
    let since_epoch = time
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    SystemTime::UNIX_EPOCH + Duration::from_secs(since_epoch.as_secs())
}

/// `2026-11-22T08:30:00Z`, the form aws-config's JSON credentials parser reads.
fn rfc3339(time: SystemTime) -> String {
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    time::OffsetDateTime::from(time)
        .format(&format)
        .unwrap_or_default()
}
