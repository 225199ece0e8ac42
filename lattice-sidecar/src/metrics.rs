//! Prometheus metrics (prometheus-client), served by the admin listener at `/metrics`.
//!
//! | metric | labels | meaning |
//! |---|---|---|
//! | `lattice_sidecar_requests_total` | `upstream`, `status` | responses sent to clients, synthetic ones with `upstream="-"` when no upstream was chosen |
//! | `lattice_sidecar_upstream_labels_folded_total` | | requests counted under `upstream="other"` (see below) |
//! | `lattice_sidecar_response_latency_seconds` | `upstream` | time from request to upstream response headers |
//! | `lattice_sidecar_errors_total` | `code` | synthetic responses, by `x-lattice-sidecar-error` code |
//! | `lattice_sidecar_signing_failures_total` | `reason` | requests the signer could not sign |
//! | `lattice_sidecar_upstream_connect_errors_total` | `upstream` | failed upstream connections (TCP or TLS) |
//! | `lattice_sidecar_open_connections` | `listener` | client connections open now |
//! | `lattice_sidecar_refused_connections_total` | | client connections refused over `--max-connections` |
//! | `lattice_sidecar_credential_refreshes_total` | | credential provider calls that succeeded |
//! | `lattice_sidecar_credential_refresh_failures_total` | | credential provider calls that failed |
//! | `lattice_sidecar_credentials_loaded` | | 1 while valid credentials are cached |
//! | `lattice_sidecar_credentials_expiry_timestamp_seconds` | | Unix time the cached credentials expire (absent for credentials without expiry) |
//!
//! The `upstream` label is bounded, whatever hosts clients name: configured upstreams
//! (fixed routes, exact `--custom-domain` names) always keep their own value; the first
//! [`MAX_UPSTREAM_LABELS`] other upstreams seen get theirs too, and every later one is
//! counted as `other`. Each label set lives as long as the process, so without the bound
//! every distinct Lattice name a client sent grew memory and `/metrics` for good.

use std::collections::HashSet;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::UNIX_EPOCH;

use lattice_client::CredentialsCache;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

/// `reason` label values of `lattice_sidecar_signing_failures_total`.
pub(crate) const SIGNING_FAILURE_REASONS: [&str; 3] = [
    "credentials-unavailable",
    "unsignable-request",
    "signing-failed",
];

/// Distinct `upstream` label values besides the configured upstreams.
pub(crate) const MAX_UPSTREAM_LABELS: usize = 100;
/// The `upstream` label of requests beyond [`MAX_UPSTREAM_LABELS`].
pub(crate) const OTHER_UPSTREAM: &str = "other";

/// Shared handles to every metric. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Metrics {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<UpstreamLabel, Histogram, fn() -> Histogram>,
    errors: Family<CodeLabel, Counter>,
    signing_failures: Family<ReasonLabel, Counter>,
    connect_errors: Family<UpstreamLabel, Counter>,
    open_connections: Family<ListenerLabel, Gauge>,
    refused_connections: Counter,
    upstream_labels: UpstreamLabels,
}

/// Hands out bounded `upstream` label values.
struct UpstreamLabels {
    /// Hosts (no port, no trailing dot) of configured upstreams; a handful, so a scan.
    configured: Vec<String>,
    /// Other upstreams with a label of their own, at most [`MAX_UPSTREAM_LABELS`].
    seen: Mutex<HashSet<Arc<str>>>,
    other: Arc<str>,
    folded: Counter,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    upstream: Arc<str>,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UpstreamLabel {
    upstream: Arc<str>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CodeLabel {
    code: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ListenerLabel {
    listener: String,
}

/// Reads the credentials cache's counters at scrape time.
#[derive(Debug)]
struct CredentialsCollector {
    credentials: CredentialsCache,
}

/// Decrements `lattice_sidecar_open_connections` when dropped.
pub(crate) struct ConnectionGuard {
    gauge: Gauge,
}

// === impl Metrics ===

impl Metrics {
    /// `configured_hosts`: the hosts of fixed routes and custom domains, which always keep
    /// their own `upstream` label.
    pub(crate) fn new(credentials: CredentialsCache, configured_hosts: &[String]) -> Self {
        let mut registry = Registry::with_prefix("lattice_sidecar");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "requests",
            "Responses sent to clients, by upstream and status",
            requests.clone(),
        );
        let latency: Family<UpstreamLabel, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(|| Histogram::new(exponential_buckets(0.001, 2.0, 16)));
        registry.register_with_unit(
            "response_latency",
            "Time from receiving a request to the upstream's response headers",
            Unit::Seconds,
            latency.clone(),
        );
        let errors = Family::<CodeLabel, Counter>::default();
        registry.register(
            "errors",
            "Synthetic error responses, by x-lattice-sidecar-error code",
            errors.clone(),
        );
        let signing_failures = Family::<ReasonLabel, Counter>::default();
        registry.register(
            "signing_failures",
            "Requests that could not be signed, by reason",
            signing_failures.clone(),
        );
        // Start known reasons at zero so dashboards and alerts see the series before the first failure.
        for reason in SIGNING_FAILURE_REASONS {
            let _ = signing_failures.get_or_create(&ReasonLabel { reason });
        }
        let connect_errors = Family::<UpstreamLabel, Counter>::default();
        registry.register(
            "upstream_connect_errors",
            "Failed upstream connections (TCP or TLS)",
            connect_errors.clone(),
        );
        let open_connections = Family::<ListenerLabel, Gauge>::default();
        registry.register(
            "open_connections",
            "Client connections currently open",
            open_connections.clone(),
        );
        let refused_connections = Counter::default();
        registry.register(
            "refused_connections",
            "Client connections refused because --max-connections were open",
            refused_connections.clone(),
        );
        let folded = Counter::default();
        registry.register(
            "upstream_labels_folded",
            "Requests counted under upstream=\"other\" because 100 other upstreams already have a label",
            folded.clone(),
        );
        registry.register_collector(Box::new(CredentialsCollector { credentials }));
        Self {
            inner: Arc::new(Inner {
                registry,
                requests,
                latency,
                errors,
                signing_failures,
                connect_errors,
                open_connections,
                refused_connections,
                upstream_labels: UpstreamLabels {
                    configured: configured_hosts
                        .iter()
                        .map(|h| h.trim_end_matches('.').to_owned())
                        .collect(),
                    seen: Mutex::default(),
                    other: OTHER_UPSTREAM.into(),
                    folded,
                },
            }),
        }
    }

    /// The `upstream` label value for an upstream authority: its own, or `other` once
    /// [`MAX_UPSTREAM_LABELS`] unconfigured upstreams have one.
    pub(crate) fn upstream_label(&self, upstream: &Arc<str>) -> Arc<str> {
        let labels = &self.inner.upstream_labels;
        let host = host_of(upstream).trim_end_matches('.');
        if labels
            .configured
            .iter()
            .any(|c| c.eq_ignore_ascii_case(host))
        {
            return upstream.clone();
        }
        let mut seen = labels.seen.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(label) = seen.get(upstream) {
            return label.clone();
        }
        if seen.len() < MAX_UPSTREAM_LABELS {
            seen.insert(upstream.clone());
            return upstream.clone();
        }
        labels.folded.inc();
        labels.other.clone()
    }

    pub(crate) fn response(&self, upstream: &Arc<str>, status: u16) {
        self.inner
            .requests
            .get_or_create(&RequestLabels {
                upstream: upstream.clone(),
                status,
            })
            .inc();
    }

    pub(crate) fn latency(&self, upstream: &Arc<str>, seconds: f64) {
        self.inner
            .latency
            .get_or_create(&UpstreamLabel {
                upstream: upstream.clone(),
            })
            .observe(seconds);
    }

    pub(crate) fn synthetic(&self, code: &'static str) {
        self.inner.errors.get_or_create(&CodeLabel { code }).inc();
    }

    pub(crate) fn signing_failure(&self, reason: &'static str) {
        self.inner
            .signing_failures
            .get_or_create(&ReasonLabel { reason })
            .inc();
    }

    pub(crate) fn connect_error(&self, upstream: &Arc<str>) {
        self.inner
            .connect_errors
            .get_or_create(&UpstreamLabel {
                upstream: upstream.clone(),
            })
            .inc();
    }

    /// Count an open connection until the guard drops.
    pub(crate) fn connection_opened(&self, listener: &str) -> ConnectionGuard {
        let gauge = self
            .inner
            .open_connections
            .get_or_create(&ListenerLabel {
                listener: listener.to_owned(),
            })
            .clone();
        gauge.inc();
        ConnectionGuard { gauge }
    }

    pub(crate) fn connection_refused(&self) {
        self.inner.refused_connections.inc();
    }

    /// The OpenMetrics text exposition.
    pub(crate) fn encode(&self) -> Result<String, fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.inner.registry)?;
        Ok(out)
    }
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

/// `host` of `host[:port]`.
fn host_of(authority: &str) -> &str {
    match authority.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => authority,
    }
}

// === impl CredentialsCollector ===

impl Collector for CredentialsCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), fmt::Error> {
        let stats = self.credentials.stats();
        let refreshes = ConstCounter::new(stats.refreshes);
        refreshes.encode(encoder.encode_descriptor(
            "credential_refreshes",
            "Credential provider calls that returned credentials",
            None,
            refreshes.metric_type(),
        )?)?;
        let failures = ConstCounter::new(stats.refresh_failures);
        failures.encode(encoder.encode_descriptor(
            "credential_refresh_failures",
            "Credential provider calls that failed or timed out",
            None,
            failures.metric_type(),
        )?)?;
        let loaded = ConstGauge::new(i64::from(self.credentials.cached().is_some()));
        loaded.encode(encoder.encode_descriptor(
            "credentials_loaded",
            "1 while valid AWS credentials are cached",
            None,
            loaded.metric_type(),
        )?)?;
        // Lets an alert (or a test) see a refresh land before expiry: `expiry - time()`
        // jumps back up at every rotation and never reaches zero while refreshes work.
        if let Some(expiry) = self.credentials.expires_at() {
            let secs = expiry
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
            let expiry = ConstGauge::new(secs);
            expiry.encode(encoder.encode_descriptor(
                "credentials_expiry_timestamp",
                "Unix time the cached AWS credentials expire",
                Some(&Unit::Seconds),
                expiry.metric_type(),
            )?)?;
        }
        Ok(())
    }
}

// === impl ConnectionGuard ===

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.gauge.dec();
    }
}

impl fmt::Debug for ConnectionGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionGuard").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use aws_credential_types::Credentials;

    use super::*;

    fn sample(text: &str, name: &str) -> Option<String> {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ').map(str::to_owned))
    }

    #[tokio::test]
    async fn credential_metrics_follow_the_cache() {
        let expiry = UNIX_EPOCH + Duration::from_secs(4_102_444_800); // 2100-01-01
        let credentials = Credentials::new("AKIDTEST", "secret", None, Some(expiry), "test");
        let cache = CredentialsCache::new(credentials);
        let metrics = Metrics::new(cache.clone(), &[]);

        let cold = metrics.encode().unwrap();
        assert_eq!(
            sample(&cold, "lattice_sidecar_credentials_loaded"),
            Some("0".into())
        );
        assert_eq!(
            sample(
                &cold,
                "lattice_sidecar_credentials_expiry_timestamp_seconds"
            ),
            None,
            "nothing cached yet"
        );

        cache.warm().await.unwrap();
        let warm = metrics.encode().unwrap();
        assert_eq!(
            sample(&warm, "lattice_sidecar_credentials_loaded"),
            Some("1".into())
        );
        assert_eq!(
            sample(
                &warm,
                "lattice_sidecar_credentials_expiry_timestamp_seconds"
            ),
            Some("4102444800".into())
        );
        assert_eq!(
            sample(&warm, "lattice_sidecar_credential_refreshes_total"),
            Some("1".into())
        );
        assert_eq!(
            sample(&warm, "lattice_sidecar_credential_refresh_failures_total"),
            Some("0".into())
        );
        assert!(
            warm.contains("# UNIT lattice_sidecar_credentials_expiry_timestamp_seconds seconds")
        );
    }

    #[tokio::test]
    async fn static_credentials_have_no_expiry_series() {
        let credentials = Credentials::new("AKIDTEST", "secret", None, None, "test");
        let cache = CredentialsCache::new(credentials);
        cache.warm().await.unwrap();
        let text = Metrics::new(cache, &[]).encode().unwrap();
        assert_eq!(
            sample(&text, "lattice_sidecar_credentials_loaded"),
            Some("1".into())
        );
        assert!(!text.contains("expiry_timestamp"), "{text}");
    }

    #[test]
    fn upstream_labels_stay_bounded_whatever_hosts_are_named() {
        let credentials = Credentials::new("AKIDTEST", "secret", None, None, "test");
        let configured = ["orders.example.com".to_owned()];
        let metrics = Metrics::new(CredentialsCache::new(credentials), &configured);
        let lattice = |i: usize| -> Arc<str> {
            format!("svc-{i:05}-0123456789abcdef0.7d67968.vpc-lattice-svcs.us-west-2.on.aws").into()
        };
        for i in 0..100_000 {
            let label = metrics.upstream_label(&lattice(i));
            metrics.response(&label, 503);
            metrics.latency(&label, 0.001);
        }
        // A configured upstream keeps its label, with any port and case, after the budget
        // is spent; so do the upstreams that got one first.
        for upstream in ["orders.example.com", "ORDERS.example.com:8443"] {
            let upstream: Arc<str> = upstream.into();
            assert_eq!(metrics.upstream_label(&upstream), upstream);
        }
        assert_eq!(metrics.upstream_label(&lattice(7)), lattice(7));
        assert_eq!(&*metrics.upstream_label(&lattice(100_000)), OTHER_UPSTREAM);

        let text = metrics.encode().unwrap();
        let series = text
            .lines()
            .filter(|l| l.starts_with("lattice_sidecar_requests_total{"))
            .count();
        assert_eq!(
            series,
            MAX_UPSTREAM_LABELS + 1,
            "one per labelled upstream, plus other"
        );
        assert!(text.contains(&format!(
            "lattice_sidecar_requests_total{{upstream=\"{OTHER_UPSTREAM}\",status=\"503\"}} {}",
            100_000 - MAX_UPSTREAM_LABELS
        )));
        assert_eq!(
            sample(&text, "lattice_sidecar_upstream_labels_folded_total"),
            Some((100_000 - MAX_UPSTREAM_LABELS + 1).to_string())
        );
        // 101 upstreams, each with a counter and a 16-bucket histogram (about 280 KB here):
        // bounded, where 500,000 unbounded names once made 52.7 MB.
        assert!(text.len() < 512 * 1024, "/metrics is {} bytes", text.len());
    }
}
