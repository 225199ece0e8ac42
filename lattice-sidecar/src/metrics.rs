//! Prometheus metrics (prometheus-client), served by the admin listener at `/metrics`.
//!
//! | metric | labels | meaning |
//! |---|---|---|
//! | `lattice_sidecar_build_info` | `version`, `revision`, `tls_provider` | always 1: what is running |
//! | `lattice_sidecar_requests_total` | `upstream`, `status` | responses sent to clients, synthetic ones with `upstream="-"` when no upstream was chosen |
//! | `lattice_sidecar_requests_in_flight` | | requests received whose response (headers and body) has not finished |
//! | `lattice_sidecar_upstream_labels_folded_total` | | requests counted under `upstream="other"` (see below) |
//! | `lattice_sidecar_response_latency_seconds` | `upstream` | time from request to response headers, the upstream's or the sidecar's own; exported from start-up for `upstream="-"` and each fixed route |
//! | `lattice_sidecar_errors_total` | `code` | synthetic responses, by `x-lattice-sidecar-error` code |
//! | `lattice_sidecar_signing_failures_total` | `reason` | requests the signer could not sign |
//! | `lattice_sidecar_upstream_connect_errors_total` | `upstream` | failed upstream connections (TCP or TLS) |
//! | `lattice_sidecar_open_connections` | `listener` | client connections open now |
//! | `lattice_sidecar_refused_connections_total` | | client connections refused over `--max-connections` |
//! | `lattice_sidecar_credential_refreshes_total` | | credential provider calls that succeeded |
//! | `lattice_sidecar_credential_refresh_failures_total` | | credential provider calls that failed |
//! | `lattice_sidecar_credentials_loaded` | | 1 while valid credentials are cached |
//! | `lattice_sidecar_credentials_expiry_timestamp_seconds` | | Unix time the cached credentials expire (absent for credentials without expiry) |
//! | `lattice_sidecar_clock_offset_seconds` | | Lattice's clock minus the local one, learned from refused requests (0 within a minute) |
//! | `process_*` | | CPU, memory, file descriptors, start time: see [`process`] |
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

use lattice_client::Signer;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

use crate::build_info::BuildInfo;
use crate::config::{Config, Route};

mod process;

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
/// The `upstream` label of responses the sidecar made before choosing an upstream.
pub(crate) const NO_UPSTREAM: &str = "-";

/// Shared handles to every metric. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Metrics {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    in_flight: Gauge,
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
struct BuildLabels {
    version: &'static str,
    revision: &'static str,
    tls_provider: String,
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

/// Reads the signer's credentials cache and learned clock offset at scrape time.
#[derive(Debug)]
struct SignerCollector {
    signer: Signer,
}

/// Decrements a gauge when dropped: an open connection, a request in flight.
pub(crate) struct GaugeGuard {
    gauge: Gauge,
}

// === impl Metrics ===

impl Metrics {
    /// The configuration's fixed routes and exact custom domains always keep their own
    /// `upstream` label.
    pub(crate) fn new(signer: &Signer, build: &BuildInfo, config: &Config) -> Self {
        let mut root = Registry::default();
        // The standard `process_*` names are unprefixed, as every exporter writes them.
        root.register_collector(Box::new(process::ProcessCollector::new()));
        let registry = root.sub_registry_with_prefix("lattice_sidecar");
        let build_info = Family::<BuildLabels, Gauge>::default();
        registry.register(
            "build_info",
            "Always 1; the labels say which build runs and its TLS provider",
            build_info.clone(),
        );
        build_info
            .get_or_create(&BuildLabels {
                version: build.version,
                revision: build.revision,
                tls_provider: build.tls_provider.clone(),
            })
            .set(1);
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "requests",
            "Responses sent to clients, by upstream and status",
            requests.clone(),
        );
        let in_flight = Gauge::default();
        registry.register(
            "requests_in_flight",
            "Requests received whose response (headers and body) has not finished",
            in_flight.clone(),
        );
        let latency: Family<UpstreamLabel, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(|| Histogram::new(exponential_buckets(0.001, 2.0, 16)));
        registry.register_with_unit(
            "response_latency",
            "Time from receiving a request to its response headers, the upstream's or the sidecar's own",
            Unit::Seconds,
            latency.clone(),
        );
        // Exported from start-up, so dashboards and alerts see the series (at zero) before
        // the first request: answers made without an upstream, and each fixed route's.
        let known_upstreams = config.listeners.iter().filter_map(|l| match &l.route {
            Route::Fixed(target) => Some(target.authority.as_str()),
            Route::FromRequest => None,
        });
        for upstream in std::iter::once(NO_UPSTREAM).chain(known_upstreams) {
            let _ = latency.get_or_create(&UpstreamLabel {
                upstream: upstream.into(),
            });
        }
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
        registry.register_collector(Box::new(SignerCollector {
            signer: signer.clone(),
        }));
        Self {
            inner: Arc::new(Inner {
                registry: root,
                requests,
                in_flight,
                latency,
                errors,
                signing_failures,
                connect_errors,
                open_connections,
                refused_connections,
                upstream_labels: UpstreamLabels {
                    configured: (config.configured_hosts().iter())
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

    /// Count a request in flight until the guard drops.
    pub(crate) fn request_started(&self) -> GaugeGuard {
        GaugeGuard::inc(self.inner.in_flight.clone())
    }

    /// A response's headers went out `seconds` after its request came in.
    pub(crate) fn response(&self, upstream: &Arc<str>, status: u16, seconds: f64) {
        self.inner
            .requests
            .get_or_create(&RequestLabels {
                upstream: upstream.clone(),
                status,
            })
            .inc();
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
    pub(crate) fn connection_opened(&self, listener: &str) -> GaugeGuard {
        let gauge = self
            .inner
            .open_connections
            .get_or_create(&ListenerLabel {
                listener: listener.to_owned(),
            })
            .clone();
        GaugeGuard::inc(gauge)
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

// === impl SignerCollector ===

impl Collector for SignerCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), fmt::Error> {
        let credentials = self.signer.credentials();
        let stats = credentials.stats();
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
        let loaded = ConstGauge::new(i64::from(credentials.cached().is_some()));
        loaded.encode(encoder.encode_descriptor(
            "credentials_loaded",
            "1 while valid AWS credentials are cached",
            None,
            loaded.metric_type(),
        )?)?;
        // Lets an alert (or a test) see a refresh land before expiry: `expiry - time()`
        // jumps back up at every rotation and never reaches zero while refreshes work.
        if let Some(expiry) = credentials.expires_at() {
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
        let offset = ConstGauge::new(self.signer.clock_offset_millis() as f64 / 1000.0);
        offset.encode(encoder.encode_descriptor(
            "clock_offset",
            "Lattice's clock minus the local clock, learned from the Date of refused requests \
             (0 while they agree within a minute); signatures are dated with it",
            Some(&Unit::Seconds),
            offset.metric_type(),
        )?)?;
        Ok(())
    }
}

// === impl GaugeGuard ===

impl GaugeGuard {
    fn inc(gauge: Gauge) -> Self {
        gauge.inc();
        Self { gauge }
    }
}

impl Drop for GaugeGuard {
    fn drop(&mut self) {
        self.gauge.dec();
    }
}

impl fmt::Debug for GaugeGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GaugeGuard").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
