//! A credentials cache that keeps requests off the provider's critical path.
//!
//! aws-config's default chain does not cache, and an SDK's identity cache is not reachable
//! from a tower layer, so this module provides one:
//!
//! - Requests read the current credentials without awaiting anything while they are valid.
//! - A refresh starts early, `refresh_before_expiry` before expiry (or at half the remaining
//!   lifetime for short-lived credentials), and only one runs at a time however many
//!   requests arrive: concurrent callers share it.
//! - A failed refresh keeps serving the still-valid credentials and is retried with
//!   exponential backoff.
//! - Callers get an error only when no valid credentials exist, and then at once: after a
//!   failed provider call, requests do not queue behind the retry.

use std::fmt;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwapOption;
use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use tracing::Instrument;

use crate::clock::{SharedClock, SystemClock};
use crate::error::{BoxError, Error};

/// How long before expiry a refresh starts, by default.
const DEFAULT_REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(5 * 60);
/// A provider call that takes longer than this is abandoned.
const DEFAULT_LOAD_TIMEOUT: Duration = Duration::from_secs(5);
const DEFAULT_MIN_BACKOFF: Duration = Duration::from_millis(250);
const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Credentials without an expiry are re-read this often, so rotated static sources
/// (e.g. a re-written profile file) are picked up.
const NO_EXPIRY_REFRESH_INTERVAL: Duration = Duration::from_secs(15 * 60);

/// Why a provider call outside a Tokio runtime fails, and what to do about it.
const NO_RUNTIME: &str = "no Tokio runtime: load credentials from within one (hyper, reqwest and tonic run in one too; e.g. `#[tokio::main]`, or `Runtime::block_on` with timers enabled)";

/// A cloneable handle to cached AWS credentials. Clones share one cache.
///
/// Provider calls are bounded by `tokio::time::timeout`, so they need a Tokio runtime with
/// timers enabled (`enable_all()` or `enable_time()`, as hyper, reqwest and tonic also
/// need). Outside any Tokio runtime, `get()` returns an error saying so; in a runtime built
/// without timers, Tokio itself panics on the first provider call (it offers no way to ask
/// whether timers are enabled).
///
/// See the [crate docs](crate) for an example.
#[derive(Clone)]
pub struct CredentialsCache {
    inner: Arc<Inner>,
}

/// Settings for a [`CredentialsCache`].
#[derive(Debug)]
pub struct CredentialsCacheBuilder {
    provider: SharedCredentialsProvider,
    clock: SharedClock,
    refresh_before_expiry: Duration,
    load_timeout: Duration,
    min_backoff: Duration,
    max_backoff: Duration,
}

/// Counters about the cache's provider calls, e.g. for metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CredentialsStats {
    /// Provider calls that returned credentials.
    pub refreshes: u64,
    /// Provider calls that failed or timed out.
    pub refresh_failures: u64,
}

struct Inner {
    provider: SharedCredentialsProvider,
    clock: SharedClock,
    refresh_before_expiry: Duration,
    load_timeout: Duration,
    min_backoff: Duration,
    max_backoff: Duration,
    current: ArcSwapOption<Cached>,
    /// Held while a provider call is in flight: the single-flight gate.
    refresh_gate: Arc<tokio::sync::Mutex<()>>,
    failure: Mutex<Failure>,
    refreshes: AtomicU64,
    refresh_failures: AtomicU64,
    consecutive_failures: AtomicU32,
    /// Completed provider calls, so callers queued on the gate can tell one finished.
    load_attempts: AtomicU64,
}

#[derive(Default)]
struct Failure {
    /// No background attempt before this time (backoff after a failure).
    retry_not_before: Option<SystemTime>,
    last_error: Option<Arc<BoxError>>,
}

struct Cached {
    credentials: Credentials,
    expires_at: Option<SystemTime>,
    refresh_at: SystemTime,
}

// === impl CredentialsCache ===

impl CredentialsCache {
    /// A cache over any credentials provider, with default settings.
    pub fn new(provider: impl ProvideCredentials + 'static) -> Self {
        Self::builder(provider).build()
    }

    /// A cache configured by a builder.
    pub fn builder(provider: impl ProvideCredentials + 'static) -> CredentialsCacheBuilder {
        CredentialsCacheBuilder {
            provider: SharedCredentialsProvider::new(provider),
            clock: Arc::new(SystemClock),
            refresh_before_expiry: DEFAULT_REFRESH_BEFORE_EXPIRY,
            load_timeout: DEFAULT_LOAD_TIMEOUT,
            min_backoff: DEFAULT_MIN_BACKOFF,
            max_backoff: DEFAULT_MAX_BACKOFF,
        }
    }

    /// A cache holding fixed credentials (no expiry, never refreshed from elsewhere).
    pub fn from_static(credentials: Credentials) -> Self {
        Self::new(credentials)
    }

    /// The full default AWS chain (env, profile/SSO, web identity, ECS, EKS Pod Identity,
    /// IMDSv2), as loaded by `aws_config::defaults`.
    #[cfg(feature = "aws-config")]
    #[cfg_attr(docsrs, doc(cfg(feature = "aws-config")))]
    pub async fn from_default_chain() -> Self {
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .load()
            .await;
        match config.credentials_provider() {
            Some(provider) => Self::new(provider),
            None => Self::new(NoProvider),
        }
    }

    /// Load credentials now, so the first request does not wait for them.
    pub async fn warm(&self) -> Result<(), Error> {
        self.get().await.map(drop)
    }

    /// Valid credentials: the cached ones if still valid (starting a background refresh
    /// when they are close to expiry), otherwise the result of a provider call shared with
    /// every concurrent caller.
    pub async fn get(&self) -> Result<Credentials, Error> {
        if let Some(credentials) = self.cached() {
            return Ok(credentials);
        }
        // After a failed attempt, a retry is already scheduled (with backoff) by `cached()`;
        // fail now rather than make every request wait on a provider that is down.
        if let Some(error) = self.inner.failure_state().last_error.clone() {
            return Err(Error::credentials_unavailable(Some(Box::new(SharedError(
                error,
            )))));
        }
        self.inner.refresh_now().await
    }

    /// The cached credentials if they are valid, without waiting. Starts a background
    /// refresh when they are due for one (requires a Tokio runtime; without one the next
    /// `get()` refreshes instead).
    pub fn cached(&self) -> Option<Credentials> {
        self.with_cached(Credentials::clone)
    }

    /// Like [`cached`](Self::cached), but says why there are none.
    pub fn try_cached(&self) -> Result<Credentials, Error> {
        self.cached().ok_or_else(|| self.unavailable())
    }

    /// Like [`try_cached`](Self::try_cached) for callers that only need to know: it hands
    /// out no copy of the credentials.
    pub fn ensure_cached(&self) -> Result<(), Error> {
        self.with_cached(|_| ()).ok_or_else(|| self.unavailable())
    }

    /// Run `f` on the valid cached credentials, if any, without cloning them: a
    /// `Credentials` clone copies its property map (several allocations), too much for
    /// every request. Starts a background refresh when one is due, as `cached` does.
    pub(crate) fn with_cached<R>(&self, f: impl FnOnce(&Credentials) -> R) -> Option<R> {
        let now = self.inner.clock.now();
        let current = self.inner.current.load();
        if current.as_ref().is_none_or(|c| now >= c.refresh_at) {
            self.inner.spawn_background_refresh(now);
        }
        current
            .as_ref()
            .filter(|c| c.is_valid(now))
            .map(|c| f(&c.credentials))
    }

    fn unavailable(&self) -> Error {
        let last = self.inner.failure_state().last_error.clone();
        Error::credentials_unavailable(last.map(|e| Box::new(SharedError(e)) as BoxError))
    }

    /// Counters of provider calls.
    pub fn stats(&self) -> CredentialsStats {
        CredentialsStats {
            refreshes: self.inner.refreshes.load(Ordering::Relaxed),
            refresh_failures: self.inner.refresh_failures.load(Ordering::Relaxed),
        }
    }

    /// When the cached credentials expire, if any are cached and they expire.
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.inner
            .current
            .load()
            .as_ref()
            .and_then(|c| c.expires_at)
    }

    pub(crate) fn clock(&self) -> &SharedClock {
        &self.inner.clock
    }
}

impl fmt::Debug for CredentialsCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Credentials' own Debug redacts the secret and token.
        let current = self.inner.current.load();
        f.debug_struct("CredentialsCache")
            .field("provider", &self.inner.provider)
            .field(
                "access_key_id",
                &current
                    .as_ref()
                    .map(|c| c.credentials.access_key_id().to_owned()),
            )
            .field("expires_at", &current.as_ref().and_then(|c| c.expires_at))
            .field("stats", &self.stats())
            .finish()
    }
}

impl From<Credentials> for CredentialsCache {
    fn from(credentials: Credentials) -> Self {
        Self::from_static(credentials)
    }
}

// === impl CredentialsCacheBuilder ===

impl CredentialsCacheBuilder {
    /// The clock used to judge expiry.
    pub fn clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// How long before expiry to start refreshing (default 5 minutes). Credentials whose
    /// whole lifetime is shorter are refreshed at half their remaining lifetime.
    pub fn refresh_before_expiry(mut self, window: Duration) -> Self {
        self.refresh_before_expiry = window;
        self
    }

    /// The longest a provider call may take (default 5 s).
    pub fn load_timeout(mut self, timeout: Duration) -> Self {
        self.load_timeout = timeout;
        self
    }

    /// Backoff between failed background refreshes: starts at `min`, doubles up to `max`.
    pub fn backoff(mut self, min: Duration, max: Duration) -> Self {
        self.min_backoff = min;
        self.max_backoff = max.max(min);
        self
    }

    /// Build the cache. It is empty until `warm()` or the first use.
    pub fn build(self) -> CredentialsCache {
        CredentialsCache {
            inner: Arc::new(Inner {
                provider: self.provider,
                clock: self.clock,
                refresh_before_expiry: self.refresh_before_expiry,
                load_timeout: self.load_timeout,
                min_backoff: self.min_backoff,
                max_backoff: self.max_backoff,
                current: ArcSwapOption::empty(),
                refresh_gate: Arc::new(tokio::sync::Mutex::new(())),
                failure: Mutex::new(Failure::default()),
                refreshes: AtomicU64::new(0),
                refresh_failures: AtomicU64::new(0),
                consecutive_failures: AtomicU32::new(0),
                load_attempts: AtomicU64::new(0),
            }),
        }
    }
}

// === impl Inner ===

impl Inner {
    fn failure_state(&self) -> std::sync::MutexGuard<'_, Failure> {
        self.failure.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Wait for valid credentials, calling the provider unless a concurrent caller did so
    /// while we waited for the gate.
    async fn refresh_now(&self) -> Result<Credentials, Error> {
        let attempts_before = self.load_attempts.load(Ordering::Acquire);
        let _gate = self.refresh_gate.lock().await;
        let now = self.clock.now();
        if let Some(current) = self.current.load_full().filter(|c| c.is_valid(now)) {
            return Ok(current.credentials.clone());
        }
        // A provider call finished while we waited and left nothing valid: share its
        // failure instead of queueing one more call behind it.
        if self.load_attempts.load(Ordering::Acquire) != attempts_before {
            let last = self.failure_state().last_error.clone();
            return Err(Error::credentials_unavailable(
                last.map(|e| Box::new(SharedError(e)) as BoxError),
            ));
        }
        self.load().await
    }

    fn spawn_background_refresh(self: &Arc<Self>, now: SystemTime) {
        if self
            .failure_state()
            .retry_not_before
            .is_some_and(|t| now < t)
        {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let Ok(gate) = self.refresh_gate.clone().try_lock_owned() else {
            return; // a refresh is already running
        };
        let weak: Weak<Self> = Arc::downgrade(self);
        runtime.spawn(async move {
            let _gate = gate;
            if let Some(inner) = weak.upgrade() {
                // Another refresh may have finished between our check and taking the gate.
                let fresh = inner
                    .current
                    .load()
                    .as_ref()
                    .is_some_and(|c| inner.clock.now() < c.refresh_at);
                if !fresh {
                    let _ = inner.load().await;
                }
            }
        });
    }

    /// One provider call; the caller holds the gate.
    async fn load(&self) -> Result<Credentials, Error> {
        // Outside a Tokio runtime, `timeout` below and the AWS providers panic; say so instead.
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(Error::credentials_unavailable(Some(NO_RUNTIME.into())));
        }
        let span = tracing::debug_span!("credentials_refresh", provider = ?self.provider);
        let result = tokio::time::timeout(self.load_timeout, self.provider.provide_credentials())
            .instrument(span.clone())
            .await;
        let now = self.clock.now();
        self.load_attempts.fetch_add(1, Ordering::AcqRel);
        match result {
            Ok(Ok(credentials)) => {
                let cached = Cached::new(credentials, now, self.refresh_before_expiry);
                if !cached.is_valid(now) {
                    return Err(self.record_failure(
                        now,
                        "the provider returned credentials that have already expired".into(),
                    ));
                }
                self.refreshes.fetch_add(1, Ordering::Relaxed);
                self.consecutive_failures.store(0, Ordering::Relaxed);
                *self.failure_state() = Failure::default();
                tracing::info!(
                    parent: &span,
                    access_key_id = cached.credentials.access_key_id(),
                    expires_in_secs = cached.expires_at.and_then(|e| e.duration_since(now).ok()).map(|d| d.as_secs()),
                    "loaded AWS credentials"
                );
                let credentials = cached.credentials.clone();
                self.current.store(Some(Arc::new(cached)));
                Ok(credentials)
            }
            Ok(Err(error)) => Err(self.record_failure(now, Box::new(error))),
            Err(_elapsed) => {
                self.record_failure(
                    now,
                    format!("provider timed out after {:?}", self.load_timeout).into(),
                );
                Err(Error::credentials_timed_out())
            }
        }
    }

    fn record_failure(&self, now: SystemTime, error: BoxError) -> Error {
        self.refresh_failures.fetch_add(1, Ordering::Relaxed);
        let attempt = self
            .consecutive_failures
            .fetch_add(1, Ordering::Relaxed)
            .min(16);
        let backoff = self
            .min_backoff
            .saturating_mul(1 << attempt)
            .min(self.max_backoff);
        let still_valid = self
            .current
            .load()
            .as_ref()
            .is_some_and(|c| c.is_valid(now));
        tracing::warn!(error = %error, retry_in_ms = backoff.as_millis() as u64, still_valid, "credential refresh failed");
        let error = Arc::new(error);
        *self.failure_state() = Failure {
            retry_not_before: Some(now + backoff),
            last_error: Some(error.clone()),
        };
        Error::credentials_unavailable(Some(Box::new(SharedError(error))))
    }
}

// === impl Cached ===

impl Cached {
    fn new(credentials: Credentials, now: SystemTime, refresh_before_expiry: Duration) -> Self {
        let expires_at = credentials.expiry();
        let refresh_at = match expires_at {
            Some(expiry) => {
                let remaining = expiry.duration_since(now).unwrap_or_default();
                expiry - refresh_before_expiry.min(remaining / 2)
            }
            None => now + NO_EXPIRY_REFRESH_INTERVAL,
        };
        Self {
            credentials,
            expires_at,
            refresh_at,
        }
    }

    fn is_valid(&self, now: SystemTime) -> bool {
        self.expires_at.is_none_or(|expiry| now < expiry)
    }
}

/// A provider error shared between the cache and every caller that saw it.
struct SharedError(Arc<BoxError>);

impl fmt::Debug for SharedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self.0, f)
    }
}

impl fmt::Display for SharedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self.0, f)?;
        // Provider errors often hide the useful part in their source chain.
        let mut source = self.0.source();
        while let Some(s) = source {
            write!(f, ": {s}")?;
            source = s.source();
        }
        Ok(())
    }
}

impl std::error::Error for SharedError {}

/// Stands in when aws-config finds no provider at all.
#[cfg(feature = "aws-config")]
#[derive(Debug)]
struct NoProvider;

#[cfg(feature = "aws-config")]
impl ProvideCredentials for NoProvider {
    fn provide_credentials<'a>(
        &'a self,
    ) -> aws_credential_types::provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        aws_credential_types::provider::future::ProvideCredentials::ready(Err(
            aws_credential_types::provider::error::CredentialsError::not_loaded(
                "aws-config found no credentials provider: set AWS_PROFILE, AWS_ACCESS_KEY_ID/\
                 AWS_SECRET_ACCESS_KEY, or run where a role is available",
            ),
        ))
    }
}

#[cfg(test)]
mod tests;
