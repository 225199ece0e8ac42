//! The admin listener: `/livez`, `/readyz`, `/metrics` after traffic, and it never
//! proxies.

use lattice_emulator::{Emulator, ORDERS_HOST};
use lattice_tests::sidecar::{BoxError, Sidecar, http1};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_metrics_after_traffic() -> Result<(), BoxError> {
    let emulator = Emulator::builder().start().await?;
    let sidecar = Sidecar::builder().emulator(&emulator).spawn()?;
    assert_eq!(sidecar.admin_get("/livez")?, (200, "live\n".to_owned()));
    assert_eq!(sidecar.admin_get("/readyz")?, (200, "ready\n".to_owned()));

    for _ in 0..2 {
        assert_eq!(sidecar.get(ORDERS_HOST, "/echo")?.status, 200);
    }
    assert_eq!(sidecar.get("example.com", "/echo")?.status, 403);

    let (status, metrics) = sidecar.admin_get("/metrics")?;
    assert_eq!(status, 200);
    for expected in [
        format!("lattice_sidecar_requests_total{{upstream=\"{ORDERS_HOST}\",status=\"200\"}} 2"),
        "lattice_sidecar_requests_total{upstream=\"-\",status=\"403\"} 1".to_owned(),
        "lattice_sidecar_errors_total{code=\"host-not-allowed\"} 1".to_owned(),
        format!("lattice_sidecar_response_latency_seconds_count{{upstream=\"{ORDERS_HOST}\"}} 2"),
        "lattice_sidecar_credential_refreshes_total 1".to_owned(),
        "lattice_sidecar_credential_refresh_failures_total 0".to_owned(),
        "lattice_sidecar_credentials_loaded 1".to_owned(),
        "lattice_sidecar_signing_failures_total{reason=\"credentials-unavailable\"} 0".to_owned(),
        "lattice_sidecar_signing_failures_total{reason=\"unsignable-request\"} 0".to_owned(),
        format!(
            "lattice_sidecar_open_connections{{listener=\"{}\"}}",
            sidecar.addr()
        ),
    ] {
        assert!(
            metrics.contains(&expected),
            "missing {expected:?} in:\n{metrics}"
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_listener_never_proxies() -> Result<(), BoxError> {
    let emulator = Emulator::builder().start().await?;
    let sidecar = Sidecar::builder().emulator(&emulator).spawn()?;
    let attempts = [
        (
            format!(
                "GET http://{ORDERS_HOST}/echo HTTP/1.1\r\nHost: {ORDERS_HOST}\r\nConnection: close\r\n\r\n"
            ),
            404,
            "admin-does-not-proxy",
        ),
        (
            format!("GET /echo HTTP/1.1\r\nHost: {ORDERS_HOST}\r\nConnection: close\r\n\r\n"),
            404,
            "admin-not-found",
        ),
        (
            "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                .to_owned(),
            405,
            "admin-method-not-allowed",
        ),
    ];
    for (raw, status, code) in attempts {
        let response = http1(sidecar.admin_addr(), raw.as_bytes())?;
        assert_eq!(response.status, status, "{}", response.text());
        assert_eq!(response.header("x-lattice-sidecar-error"), Some(code));
    }
    assert!(
        emulator.requests().is_empty(),
        "upstream saw {:?}",
        emulator.requests()
    );
    Ok(())
}
