//! Upstream and credential faults become clear synthetic responses: 502 when the
//! upstream is down or its certificate is not trusted, 504 when it is too slow, 503 while
//! credentials are unavailable, and recovery without a restart once they are back. gRPC
//! clients get the same errors as gRPC statuses.

use std::time::{Duration, Instant};

use lattice_emulator::{DEFAULT_ACCESS_KEY_ID, DEFAULT_SECRET_ACCESS_KEY, Emulator, ORDERS_HOST};
use lattice_tests::sidecar::{BoxError, RawResponse, Sidecar, free_port};

const ERROR_HEADER: &str = "x-lattice-sidecar-error";

fn assert_error(response: &RawResponse, status: u16, code: &str) {
    assert_eq!(response.status, status, "{}", response.text());
    assert_eq!(
        response.header(ERROR_HEADER),
        Some(code),
        "{}",
        response.text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_down_is_502() -> Result<(), BoxError> {
    // Nothing listens on a port we just released.
    let closed = free_port()?;
    let sidecar = Sidecar::builder()
        .args(["--resolve", &format!("{ORDERS_HOST}:443:{closed}")])
        .spawn()?;
    let response = sidecar.get(ORDERS_HOST, "/echo")?;
    assert_error(&response, 502, "upstream-connect-failed");
    let (_, metrics) = sidecar.admin_get("/metrics")?;
    assert!(
        metrics.contains(&format!(
            "lattice_sidecar_upstream_connect_errors_total{{upstream=\"{ORDERS_HOST}\"}} 1"
        )),
        "{metrics}"
    );
    Ok(())
}

/// A gRPC client sees the refusal as `UNAVAILABLE` with the sidecar's explanation, not
/// as an HTTP 502 its library would describe only by number.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_down_is_unavailable_for_grpc_clients() -> Result<(), BoxError> {
    use lattice_emulator::greeter::HelloRequest;
    use lattice_emulator::greeter::greeter_client::GreeterClient;

    let closed = free_port()?;
    let sidecar = Sidecar::builder()
        .args(["--resolve", &format!("{ORDERS_HOST}:443:{closed}")])
        .route(format!("https://{ORDERS_HOST}"))
        .spawn()?;
    let channel =
        tonic::transport::Endpoint::from_shared(format!("http://{}", sidecar.route_addr(0)))?
            .connect()
            .await?;
    let request = HelloRequest { name: "Ada".into() };
    let status = GreeterClient::new(channel)
        .say_hello(request)
        .await
        .expect_err("the upstream is down");
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    assert!(
        status.message().starts_with("lattice-sidecar: ") && status.message().contains(ORDERS_HOST),
        "{status:?}"
    );
    assert_eq!(
        status
            .metadata()
            .get(ERROR_HEADER)
            .and_then(|v| v.to_str().ok()),
        Some("upstream-connect-failed")
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untrusted_upstream_certificate_is_502() -> Result<(), BoxError> {
    let emulator = Emulator::builder().start().await?;
    // The emulator's address, but not its CA.
    let sidecar = Sidecar::builder()
        .args([
            "--resolve",
            &format!("{ORDERS_HOST}:443:{}", emulator.https_addr()),
        ])
        .spawn()?;
    let response = sidecar.get(ORDERS_HOST, "/echo")?;
    assert_error(&response, 502, "upstream-tls-failed");
    assert!(response.text().contains("--ca-file"), "{}", response.text());
    assert!(emulator.requests().is_empty());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_upstream_is_504_and_the_sidecar_recovers() -> Result<(), BoxError> {
    let emulator = Emulator::builder().start().await?;
    let sidecar = Sidecar::builder()
        .emulator(&emulator)
        .args(["--request-timeout", "500ms"])
        .spawn()?;
    let started = Instant::now();
    let response = sidecar.get(ORDERS_HOST, "/slow-headers?delay_ms=5000")?;
    assert_error(&response, 504, "upstream-timeout");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
    let response = sidecar.get(ORDERS_HOST, "/slow-headers?delay_ms=10")?;
    assert_eq!(response.status, 200, "{}", response.text());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_credentials_are_503_until_they_appear() -> Result<(), BoxError> {
    let emulator = Emulator::builder().start().await?;
    let dir = tempfile::tempdir()?;
    // A credential_process that fails until the flag file exists.
    let flag = dir.path().join("credentials-ready");
    let script = dir.path().join("credentials.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nif [ ! -e '{flag}' ]; then echo 'credentials not ready' >&2; exit 1; fi\n\
             printf '{{\"Version\": 1, \"AccessKeyId\": \"{DEFAULT_ACCESS_KEY_ID}\", \"SecretAccessKey\": \"{DEFAULT_SECRET_ACCESS_KEY}\"}}'\n",
            flag = flag.display()
        ),
    )?;
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
    let config = dir.path().join("aws-config");
    std::fs::write(
        &config,
        format!("[default]\ncredential_process = {}\n", script.display()),
    )?;

    let sidecar = Sidecar::builder()
        .emulator(&emulator)
        .without_credentials()
        .env("AWS_CONFIG_FILE", config.display().to_string())
        .wait_live_only()
        .spawn()?;
    // Wait until the credential_process has really failed (not merely not run yet).
    let deadline = Instant::now() + Duration::from_secs(10);
    while sidecar
        .admin_get("/metrics")?
        .1
        .contains("lattice_sidecar_credential_refresh_failures_total 0")
    {
        assert!(
            Instant::now() < deadline,
            "credential_process never ran:\n{}",
            sidecar.logs()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let response = sidecar.get(ORDERS_HOST, "/echo")?;
    assert_error(&response, 503, "credentials-unavailable");
    let (status, body) = sidecar.admin_get("/readyz")?;
    assert_eq!(status, 503, "{body}");
    assert!(emulator.requests().is_empty());

    std::fs::write(&flag, "")?;
    let deadline = Instant::now() + Duration::from_secs(15);
    let response = loop {
        let response = sidecar.get(ORDERS_HOST, "/echo")?;
        if response.status == 200 || Instant::now() >= deadline {
            break response;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(
        response.status,
        200,
        "{}\n{}",
        response.text(),
        sidecar.logs()
    );
    assert_eq!(sidecar.admin_get("/readyz")?.0, 200);
    let (_, metrics) = sidecar.admin_get("/metrics")?;
    assert!(
        metrics.contains("lattice_sidecar_credential_refreshes_total 1"),
        "{metrics}"
    );
    assert!(
        !metrics.contains("lattice_sidecar_credential_refresh_failures_total 0"),
        "{metrics}"
    );
    Ok(())
}

/// The sidecar's host clock is 10 minutes behind Lattice's: the first request is refused
/// (403 passed through), the sidecar learns the offset from that response's `Date`, and
/// the following requests succeed without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clock_skew_costs_one_request() -> Result<(), BoxError> {
    let emulator = Emulator::builder().start().await?;
    let ahead = Duration::from_secs(10 * 60);
    emulator.set_clock(move || std::time::SystemTime::now() + ahead);
    let sidecar = Sidecar::builder().emulator(&emulator).spawn()?;

    let refused = sidecar.get(ORDERS_HOST, "/echo")?;
    assert_eq!(refused.status, 403, "{}", refused.text());
    assert_eq!(
        refused.header("x-amzn-errortype"),
        Some("InvalidSignatureException"),
        "{}",
        refused.text()
    );
    for _ in 0..3 {
        let response = sidecar.get(ORDERS_HOST, "/echo")?;
        assert_eq!(response.status, 200, "{}", response.text());
    }
    assert!(
        sidecar.logs().contains("signing with the server's time"),
        "{}",
        sidecar.logs()
    );
    Ok(())
}
