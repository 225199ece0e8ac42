use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, error::CredentialsError, future};

use super::CredentialsCache;
use crate::ErrorKind;
use crate::clock::{Clock, ManualClock};

/// Hands out credentials that expire `ttl` after the clock's now, with a new key each call.
#[derive(Debug, Clone)]
struct RotatingProvider {
    clock: ManualClock,
    ttl: Duration,
    delay: Duration,
    calls: Arc<AtomicUsize>,
    failing: Arc<AtomicBool>,
}

impl RotatingProvider {
    fn new(clock: &ManualClock, ttl: Duration) -> Self {
        Self {
            clock: clock.clone(),
            ttl,
            delay: Duration::ZERO,
            calls: Arc::default(),
            failing: Arc::default(),
        }
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

impl ProvideCredentials for RotatingProvider {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(async move {
            let n = self.calls.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(self.delay).await;
            if self.failing.load(Ordering::SeqCst) {
                return Err(CredentialsError::provider_error("endpoint down"));
            }
            let expiry = self.clock.now() + self.ttl;
            Ok(Credentials::new(
                format!("AKID{n}"),
                "very-secret",
                Some("tok".into()),
                Some(expiry),
                "rotating",
            ))
        })
    }
}

fn start() -> ManualClock {
    ManualClock::new(UNIX_EPOCH + Duration::from_secs(1_700_000_000))
}

fn cache(provider: &RotatingProvider, clock: &ManualClock) -> CredentialsCache {
    CredentialsCache::builder(provider.clone())
        .clock(Arc::new(clock.clone()))
        .refresh_before_expiry(Duration::from_secs(300))
        .backoff(Duration::from_secs(1), Duration::from_secs(8))
        .load_timeout(Duration::from_millis(500))
        .build()
}

async fn settle() {
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
}

#[tokio::test]
async fn concurrent_cold_requests_share_one_provider_call() {
    let clock = start();
    let mut provider = RotatingProvider::new(&clock, Duration::from_secs(3600));
    provider.delay = Duration::from_millis(50);
    let cache = cache(&provider, &clock);
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let cache = cache.clone();
            tokio::spawn(async move { cache.get().await.map(|c| c.access_key_id().to_owned()) })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap(), "AKID0");
    }
    assert_eq!(provider.calls(), 1);
    assert_eq!(cache.stats().refreshes, 1);
}

#[tokio::test]
async fn warm_credentials_are_served_without_the_provider() {
    let clock = start();
    let provider = RotatingProvider::new(&clock, Duration::from_secs(3600));
    let cache = cache(&provider, &clock);
    cache.warm().await.unwrap();
    provider.failing.store(true, Ordering::SeqCst);
    for _ in 0..1000 {
        assert_eq!(cache.cached().unwrap().access_key_id(), "AKID0");
    }
    settle().await;
    assert_eq!(provider.calls(), 1);
}

#[tokio::test]
async fn refresh_starts_early_and_only_once() {
    let clock = start();
    let mut provider = RotatingProvider::new(&clock, Duration::from_secs(3600));
    provider.delay = Duration::from_millis(30);
    let cache = cache(&provider, &clock);
    cache.warm().await.unwrap();
    // Inside the 5-minute window, still valid: old key served while one refresh runs.
    clock.advance(Duration::from_secs(3600 - 200));
    let seen: Vec<String> = (0..100)
        .map(|_| cache.cached().unwrap().access_key_id().to_owned())
        .collect();
    assert!(seen.iter().all(|k| k == "AKID0"));
    settle().await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(provider.calls(), 2, "exactly one background refresh");
    assert_eq!(cache.cached().unwrap().access_key_id(), "AKID1");
}

#[tokio::test]
async fn short_lived_credentials_refresh_at_half_life_across_many_expiries() {
    let clock = start();
    let provider = RotatingProvider::new(&clock, Duration::from_secs(60));
    let cache = cache(&provider, &clock);
    cache.warm().await.unwrap();
    // 10 lifetimes in 5 s steps: every request must find valid credentials.
    for step in 0..120 {
        clock.advance(Duration::from_secs(5));
        let credentials = cache
            .get()
            .await
            .unwrap_or_else(|e| panic!("step {step}: {e}"));
        assert!(credentials.expiry().unwrap() > clock.now());
        settle().await;
    }
    let calls = provider.calls();
    assert!(
        (20..=25).contains(&calls),
        "refreshed {calls} times for 600 s of 60 s credentials"
    );
}

#[tokio::test]
async fn failed_refresh_keeps_serving_valid_credentials_and_backs_off() {
    let clock = start();
    let provider = RotatingProvider::new(&clock, Duration::from_secs(3600));
    let cache = cache(&provider, &clock);
    cache.warm().await.unwrap();
    provider.failing.store(true, Ordering::SeqCst);
    clock.advance(Duration::from_secs(3600 - 100));
    assert_eq!(cache.cached().unwrap().access_key_id(), "AKID0");
    settle().await;
    assert_eq!(provider.calls(), 2);
    assert_eq!(cache.stats().refresh_failures, 1);
    // Within the 1 s backoff: no new attempt however many requests.
    for _ in 0..50 {
        assert!(cache.cached().is_some());
    }
    settle().await;
    assert_eq!(provider.calls(), 2, "backoff must hold off retries");
    clock.advance(Duration::from_millis(1100));
    assert!(cache.cached().is_some());
    settle().await;
    assert_eq!(provider.calls(), 3, "retried after backoff");
    // Provider recovers: next attempt (after a 2 s backoff) succeeds.
    provider.failing.store(false, Ordering::SeqCst);
    clock.advance(Duration::from_millis(2100));
    assert!(cache.cached().is_some());
    settle().await;
    assert_eq!(cache.cached().unwrap().access_key_id(), "AKID3");
}

#[tokio::test]
async fn expired_credentials_and_failing_provider_give_a_clear_error() {
    let clock = start();
    let provider = RotatingProvider::new(&clock, Duration::from_secs(60));
    let cache = cache(&provider, &clock);
    cache.warm().await.unwrap();
    provider.failing.store(true, Ordering::SeqCst);
    clock.advance(Duration::from_secs(61));
    assert!(cache.cached().is_none());
    let err = cache.get().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Credentials);
    assert!(err.to_string().contains("endpoint down"), "{err}");
    let err = cache.try_cached().unwrap_err();
    assert!(err.to_string().contains("endpoint down"), "{err}");
    // Recovery without a new cache: the retry after the backoff succeeds.
    provider.failing.store(false, Ordering::SeqCst);
    clock.advance(Duration::from_secs(2));
    assert!(cache.cached().is_none());
    settle().await;
    assert!(cache.get().await.is_ok());
}

#[tokio::test]
async fn callers_do_not_queue_behind_a_failing_provider() {
    let clock = start();
    let mut provider = RotatingProvider::new(&clock, Duration::from_secs(3600));
    provider.delay = Duration::from_secs(30); // hangs past the 500 ms load timeout
    let cache = cache(&provider, &clock);
    let started = std::time::Instant::now();
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let cache = cache.clone();
            tokio::spawn(async move { cache.get().await })
        })
        .collect();
    for task in tasks {
        assert_eq!(
            task.await.unwrap().unwrap_err().kind(),
            ErrorKind::Credentials
        );
    }
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(provider.calls(), 1, "waiters share the one failed call");
    // Later requests fail at once while the retry backs off.
    let started = std::time::Instant::now();
    assert!(cache.get().await.is_err());
    assert!(started.elapsed() < Duration::from_millis(100));
    assert_eq!(provider.calls(), 1);
}

#[tokio::test]
async fn slow_provider_times_out() {
    let clock = start();
    let mut provider = RotatingProvider::new(&clock, Duration::from_secs(3600));
    provider.delay = Duration::from_secs(30);
    let cache = cache(&provider, &clock);
    let started = std::time::Instant::now();
    let err = cache.get().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Credentials);
    assert!(err.to_string().contains("timed out"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn debug_never_prints_secrets() {
    let clock = start();
    let provider = RotatingProvider::new(&clock, Duration::from_secs(3600));
    let cache = cache(&provider, &clock);
    cache.warm().await.unwrap();
    let debug = format!("{cache:?}");
    assert!(debug.contains("AKID0"), "{debug}");
    assert!(
        !debug.contains("very-secret") && !debug.contains("tok\""),
        "{debug}"
    );
}

#[test]
fn expired_static_credentials_are_not_served() {
    let expired = Credentials::new("A", "S", None, Some(SystemTime::UNIX_EPOCH), "static");
    let cache = CredentialsCache::from_static(expired);
    assert!(cache.cached().is_none());
}

#[test]
fn outside_a_tokio_runtime_get_fails_with_the_fix_instead_of_panicking() {
    use futures_util::FutureExt;
    let clock = start();
    let provider = RotatingProvider::new(&clock, Duration::from_secs(3600));
    let cache = cache(&provider, &clock);
    // Polled once, by no runtime: nothing in the cache waits on a timer before this error.
    let err = cache
        .get()
        .now_or_never()
        .expect("ready at once")
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Credentials);
    assert!(err.to_string().contains("no Tokio runtime"), "{err}");
    assert_eq!(
        provider.calls(),
        0,
        "the provider would panic outside a runtime"
    );
    // Not a provider failure: no backoff, so a caller inside a runtime loads at once.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    assert!(runtime.block_on(cache.get()).is_ok());
    assert_eq!(provider.calls(), 1);
}
