use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use clap::Parser;
use http::{HeaderMap, HeaderValue, StatusCode};
use lattice_client::CredentialsCache;

use super::*;
use crate::config::Args;

const ORDERS: &str = "orders-0123456789abcdef0.7d67968.vpc-lattice-svcs.us-west-2.on.aws";

fn sample(text: &str, name: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ').map(str::to_owned))
}

/// Metrics for a sidecar started with `args`, signing with `cache`; and its signer.
fn metrics_for(cache: CredentialsCache, args: &[&str]) -> (Metrics, Signer) {
    let argv = std::iter::once("lattice-sidecar").chain(args.iter().copied());
    let config = Config::from_args(Args::try_parse_from(argv).unwrap()).unwrap();
    let signer = Signer::new(config.signing.config.clone(), cache);
    let build = BuildInfo::with_tls_provider("ring");
    (Metrics::new(&signer, &build, &config), signer)
}

fn static_credentials() -> CredentialsCache {
    CredentialsCache::new(Credentials::new("AKIDTEST", "secret", None, None, "test"))
}

#[tokio::test]
async fn credential_metrics_follow_the_cache() {
    let expiry = UNIX_EPOCH + Duration::from_secs(4_102_444_800); // 2100-01-01
    let credentials = Credentials::new("AKIDTEST", "secret", None, Some(expiry), "test");
    let cache = CredentialsCache::new(credentials);
    let (metrics, _) = metrics_for(cache.clone(), &[]);

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
    assert!(warm.contains("# UNIT lattice_sidecar_credentials_expiry_timestamp_seconds seconds"));
}

#[tokio::test]
async fn static_credentials_have_no_expiry_series() {
    let cache = static_credentials();
    cache.warm().await.unwrap();
    let text = metrics_for(cache, &[]).0.encode().unwrap();
    assert_eq!(
        sample(&text, "lattice_sidecar_credentials_loaded"),
        Some("1".into())
    );
    assert!(!text.contains("expiry_timestamp"), "{text}");
}

#[test]
fn upstream_labels_stay_bounded_whatever_hosts_are_named() {
    let (metrics, _) = metrics_for(
        static_credentials(),
        &[
            "--custom-domain",
            "orders.example.com",
            "--region",
            "us-west-2",
        ],
    );
    let lattice = |i: usize| -> Arc<str> {
        format!("svc-{i:05}-0123456789abcdef0.7d67968.vpc-lattice-svcs.us-west-2.on.aws").into()
    };
    for i in 0..100_000 {
        let label = metrics.upstream_label(&lattice(i));
        metrics.response(&label, 503, 0.001);
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
    // 102 upstreams (`-` too), each with a counter and a 16-bucket histogram (about 280 KB here):
    // bounded, where 500,000 unbounded names once made 52.7 MB.
    assert!(text.len() < 512 * 1024, "/metrics is {} bytes", text.len());
}

#[test]
fn series_are_exported_from_start_up() {
    let (metrics, _) = metrics_for(
        static_credentials(),
        &["--upstream", &format!("https://{ORDERS}")],
    );
    let text = metrics.encode().unwrap();
    for (name, value) in [
        (
            format!(
                "lattice_sidecar_build_info{{version=\"{}\",revision=\"{}\",tls_provider=\"ring\"}}",
                crate::build_info::VERSION,
                crate::build_info::REVISION
            ),
            "1",
        ),
        ("lattice_sidecar_requests_in_flight".to_owned(), "0"),
        ("lattice_sidecar_clock_offset_seconds".to_owned(), "0.0"),
        (
            "lattice_sidecar_response_latency_seconds_count{upstream=\"-\"}".to_owned(),
            "0",
        ),
        (
            format!("lattice_sidecar_response_latency_seconds_count{{upstream=\"{ORDERS}\"}}"),
            "0",
        ),
    ] {
        assert_eq!(
            sample(&text, &name).as_deref(),
            Some(value),
            "{name} in:\n{text}"
        );
    }
    for process in [
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_start_time_seconds",
    ] {
        assert!(sample(&text, process).is_some(), "no {process} in:\n{text}");
    }
}

#[test]
fn requests_in_flight_follow_their_guards() {
    let (metrics, _) = metrics_for(static_credentials(), &[]);
    let in_flight =
        |m: &Metrics| sample(&m.encode().unwrap(), "lattice_sidecar_requests_in_flight");
    let first = metrics.request_started();
    let second = metrics.request_started();
    assert_eq!(in_flight(&metrics).as_deref(), Some("2"));
    drop(first);
    assert_eq!(in_flight(&metrics).as_deref(), Some("1"));
    drop(second);
    assert_eq!(in_flight(&metrics).as_deref(), Some("0"));
}

#[test]
fn the_clock_offset_is_what_the_signer_learned() {
    let (metrics, signer) = metrics_for(static_credentials(), &[]);
    // Lattice refuses a request with a Date ten minutes ahead of this host's clock.
    let ahead = SystemTime::now() + Duration::from_secs(600);
    let mut headers = HeaderMap::new();
    let date = HeaderValue::from_str(&httpdate::fmt_http_date(ahead)).unwrap();
    headers.insert(http::header::DATE, date);
    signer.observe_response(StatusCode::FORBIDDEN, &headers);
    let offset: f64 = sample(
        &metrics.encode().unwrap(),
        "lattice_sidecar_clock_offset_seconds",
    )
    .unwrap()
    .parse()
    .unwrap();
    assert!((offset - 600.0).abs() < 5.0, "{offset}");
}
