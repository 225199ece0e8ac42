//! What the sidecar tells its operators: metrics from start-up (build, process, requests
//! in flight, clock offset, the latency histogram), JSON access-log lines with the HTTP
//! version, the client's address, `traceparent` and `null`s, and "ready to serve"
//! exactly when `/readyz` turns ready.

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lattice_emulator::{Emulator, ORDERS_HOST};
use lattice_tests::fake_credentials::{FakeCredentialServer, Mode};
use lattice_tests::sidecar::{
    BoxError, IO_TIMEOUT, Sidecar, http1, metric, read_response, run_binary,
};

const READY: &str = "lattice-sidecar ready to serve";

/// The line numbers of the first log line containing each needle.
fn positions(logs: &str, needles: &[&str]) -> Vec<Option<usize>> {
    needles
        .iter()
        .map(|needle| logs.lines().position(|l| l.contains(needle)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_is_logged_after_the_credentials_load() -> Result<(), BoxError> {
    let emulator = Emulator::builder().start().await?;
    let sidecar = Sidecar::builder().emulator(&emulator).spawn()?;
    let logs = sidecar.wait_for_log(READY)?;
    let [serving, loaded, ready] = positions(
        &logs,
        &["serving; ready once", "AWS credentials loaded", READY],
    )[..] else {
        unreachable!()
    };
    assert!(serving < loaded && loaded < ready, "{logs}");
    assert_eq!(logs.matches(READY).count(), 1, "{logs}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_is_not_logged_while_the_credentials_are_missing() -> Result<(), BoxError> {
    let emulator = Emulator::builder().start().await?;
    let ecs = FakeCredentialServer::ecs()
        .start(emulator.key_store().clone())
        .await?;
    ecs.set_mode(Mode::Error500).await?;
    let mut builder = Sidecar::builder()
        .emulator(&emulator)
        .without_credentials()
        .wait_live_only();
    for (key, value) in ecs.env() {
        builder = builder.env(key, value);
    }
    let sidecar =
        tokio::task::spawn_blocking(move || builder.spawn().map_err(|e| e.to_string())).await??;

    // Serving, not ready, and not saying it is.
    sidecar.wait_for_log("AWS credentials not loaded yet")?;
    let deadline = Instant::now() + Duration::from_millis(1500);
    while Instant::now() < deadline {
        let (status, body) = sidecar.admin_get("/readyz")?;
        assert_eq!(status, 503, "{body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!sidecar.logs().contains(READY), "{}", sidecar.logs());

    // The provider comes back: ready, and said so once.
    ecs.set_mode(Mode::Up).await?;
    let deadline = Instant::now() + Duration::from_secs(15);
    while sidecar.admin_get("/readyz")?.0 != 200 {
        assert!(
            Instant::now() < deadline,
            "never ready:\n{}",
            sidecar.logs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let logs = sidecar.wait_for_log(READY)?;
    let [not_loaded, loaded, ready] = positions(
        &logs,
        &[
            "AWS credentials not loaded yet",
            "AWS credentials loaded",
            READY,
        ],
    )[..] else {
        unreachable!()
    };
    assert!(not_loaded < loaded && loaded < ready, "{logs}");
    assert_eq!(logs.matches(READY).count(), 1, "{logs}");
    assert_eq!(sidecar.get(ORDERS_HOST, "/echo")?.status, 200);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_exported_from_start_up() -> Result<(), BoxError> {
    let emulator = Emulator::builder().start().await?;
    let sidecar = Sidecar::builder()
        .emulator(&emulator)
        .upstream(format!("https://{ORDERS_HOST}"))
        .spawn()?;
    // Before any request.
    let (status, text) = sidecar.admin_get("/metrics")?;
    assert_eq!(status, 200);

    // Build info, with the labels --version prints.
    let version = String::from_utf8(run_binary(&["--version"], &[], IO_TIMEOUT)?.stdout)?;
    let build = text
        .lines()
        .find(|l| l.starts_with("lattice_sidecar_build_info{"))
        .ok_or(format!("no build_info in:\n{text}"))?;
    let label = |name: &str| -> Option<&str> {
        build.split(&format!("{name}=\"")).nth(1)?.split('"').next()
    };
    let (number, revision, provider) = (
        label("version").ok_or(build)?,
        label("revision").ok_or(build)?,
        label("tls_provider").ok_or(build)?,
    );
    assert!(build.ends_with("} 1"), "{build}");
    assert_eq!(
        version,
        format!("lattice-sidecar {number} (revision {revision}; TLS: rustls with {provider})\n")
    );

    for (series, expected) in [
        ("lattice_sidecar_requests_in_flight".to_owned(), 0.0),
        ("lattice_sidecar_clock_offset_seconds".to_owned(), 0.0),
        (
            "lattice_sidecar_response_latency_seconds_count{upstream=\"-\"}".to_owned(),
            0.0,
        ),
        (
            format!("lattice_sidecar_response_latency_seconds_count{{upstream=\"{ORDERS_HOST}\"}}"),
            0.0,
        ),
        (
            format!(
                "lattice_sidecar_response_latency_seconds_bucket{{le=\"+Inf\",upstream=\"{ORDERS_HOST}\"}}"
            ),
            0.0,
        ),
    ] {
        assert_eq!(
            metric(&text, &series),
            Some(expected),
            "{series} in:\n{text}"
        );
    }

    // The process, as /proc tells it from outside.
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs_f64();
    let start = metric(&text, "process_start_time_seconds").ok_or("no start time")?;
    assert!(start <= now + 1.0 && start > now - 60.0, "{start} vs {now}");
    let rss = metric(&text, "process_resident_memory_bytes").ok_or("no rss")?;
    let vm_rss = sidecar.memory_kib("VmRSS")? as f64 * 1024.0;
    assert!(
        rss > 0.5 * vm_rss && rss < 2.0 * vm_rss,
        "{rss} vs {vm_rss}"
    );
    let fds = metric(&text, "process_open_fds").ok_or("no open fds")?;
    let actual = sidecar.open_fds()? as f64;
    assert!((fds - actual).abs() <= 4.0, "{fds} vs {actual}");
    // utime + stime, in the kernel's 100 ticks a second (USER_HZ), as ps reads them.
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", sidecar.pid()))?;
    let fields: Vec<f64> = (stat.rsplit_once(')').ok_or("bad stat")?.1)
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0.0))
        .collect();
    let cpu_outside = (fields[11] + fields[12]) / 100.0;
    let cpu = metric(&text, "process_cpu_seconds_total").ok_or("no cpu")?;
    assert!(
        cpu >= 0.0 && cpu <= cpu_outside + 0.001,
        "{cpu} vs {cpu_outside}"
    );
    assert!(cpu_outside - cpu < 0.5, "{cpu} vs {cpu_outside}");
    assert!(metric(&text, "process_max_fds").ok_or("no max fds")? >= fds);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_in_flight_are_counted_until_their_response_ends() -> Result<(), BoxError> {
    let emulator = Emulator::builder().start().await?;
    let sidecar = Sidecar::builder().emulator(&emulator).spawn()?;
    let addr = sidecar.addr();
    let slow = std::thread::spawn(move || {
        let raw = format!(
            "GET /slow-headers?delay_ms=1500 HTTP/1.1\r\nHost: {ORDERS_HOST}\r\nConnection: close\r\n\r\n"
        );
        http1(addr, raw.as_bytes()).map_err(|e| e.to_string())
    });
    let deadline = Instant::now() + Duration::from_secs(5);
    while emulator.requests().is_empty() {
        assert!(Instant::now() < deadline, "the slow request never arrived");
        std::thread::sleep(Duration::from_millis(10));
    }
    let during = metric(
        &sidecar.admin_get("/metrics")?.1,
        "lattice_sidecar_requests_in_flight",
    );
    assert_eq!(during, Some(1.0));
    let response = slow.join().map_err(|_| "client thread panicked")??;
    assert_eq!(response.status, 200, "{}", response.text());
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let text = sidecar.admin_get("/metrics")?.1;
        if metric(&text, "lattice_sidecar_requests_in_flight") == Some(0.0) {
            // The slow one's latency is in the histogram.
            let slow_count = format!(
                "lattice_sidecar_response_latency_seconds_bucket{{le=\"1.024\",upstream=\"{ORDERS_HOST}\"}}"
            );
            assert_eq!(metric(&text, &slow_count), Some(0.0), "{text}");
            break;
        }
        assert!(Instant::now() < deadline, "still in flight:\n{text}");
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_access_log_lines_carry_version_client_traceparent_and_nulls() -> Result<(), BoxError>
{
    let emulator = Emulator::builder().start().await?;
    let sidecar = Sidecar::builder()
        .emulator(&emulator)
        .args(["--log-format", "json"])
        .spawn()?;
    const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    // Forwarded, traced, over HTTP/1.1 from a port we know.
    let mut stream = TcpStream::connect(sidecar.addr())?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    let client = stream.local_addr()?;
    write!(
        stream,
        "GET /echo HTTP/1.1\r\nHost: {ORDERS_HOST}\r\ntraceparent: {TRACEPARENT}\r\nConnection: close\r\n\r\n"
    )?;
    assert_eq!(read_response(&mut stream)?.status, 200);
    // Refused before an upstream is chosen: no upstream, an error, no trace.
    assert_eq!(sidecar.get("example.com", "/echo")?.status, 403);
    // HTTP/1.0 without a Host: no host either.
    assert_eq!(sidecar.request("GET /echo HTTP/1.0\r\n\r\n")?.status, 400);

    let logs = sidecar.wait_for_log("\"error\":\"missing-host\"")?;
    let lines: Vec<serde_json::Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["target"] == "lattice_sidecar::access")
        .collect();
    assert_eq!(lines.len(), 3, "{logs}");
    let (forwarded, refused, hostless) = (&lines[0], &lines[1], &lines[2]);
    let null = serde_json::Value::Null;

    assert_eq!(forwarded["http_version"], "HTTP/1.1", "{forwarded}");
    assert_eq!(forwarded["client"], client.to_string(), "{forwarded}");
    assert_eq!(forwarded["traceparent"], TRACEPARENT, "{forwarded}");
    assert_eq!(forwarded["upstream"], ORDERS_HOST, "{forwarded}");
    assert_eq!(forwarded["error"], null, "{forwarded}");
    assert_eq!(forwarded["status"], 200, "{forwarded}");

    assert_eq!(refused["upstream"], null, "{refused}");
    assert_eq!(refused["error"], "host-not-allowed", "{refused}");
    assert_eq!(refused["traceparent"], null, "{refused}");
    assert_eq!(refused["host"], "example.com", "{refused}");

    assert_eq!(hostless["http_version"], "HTTP/1.0", "{hostless}");
    assert_eq!(hostless["host"], null, "{hostless}");
    for line in &lines {
        // Every line has every key; none says "-".
        for key in [
            "host",
            "upstream",
            "error",
            "traceparent",
            "client",
            "http_version",
        ] {
            assert!(line.get(key).is_some(), "no {key} in {line}");
            assert_ne!(line[key], "-", "{key} in {line}");
        }
    }
    Ok(())
}
