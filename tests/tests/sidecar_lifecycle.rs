//! Lifecycle and hygiene: SIGTERM drains in-flight requests while refusing new
//! connections and exits 0; trace-level logs never contain the secret key, the session
//! token or a client's Authorization; Lattice 403s pass through unchanged with a
//! diagnosis in the logs.

use std::io::ErrorKind;
use std::net::TcpStream;
use std::time::{Duration, Instant, SystemTime};

use lattice_emulator::{Emulator, ORDERS_HOST, Secret};
use lattice_tests::sidecar::{BoxError, Sidecar, http1};

const SESSION_ACCESS_KEY_ID: &str = "ASIASIDECARTEST00001";
const SESSION_SECRET: &str = "wJalrXUtnFEMI/K7MDENG/sidecar+secret+key+0001";
const SESSION_TOKEN: &str = "IQoJb3JpZ2luX2VjSidecarSessionTokenNeverLogged0123456789";
const CLIENT_SECRET: &str = "client-bearer-secret-42";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_in_flight_requests_and_exits_0() -> Result<(), BoxError> {
    let emulator = Emulator::builder().start().await?;
    let mut sidecar = Sidecar::builder()
        .emulator(&emulator)
        .args(["--shutdown-grace", "10s"])
        .spawn()?;
    let addr = sidecar.addr();
    let slow = std::thread::spawn(move || {
        let raw = format!(
            "GET /slow-headers?delay_ms=1500 HTTP/1.1\r\nHost: {ORDERS_HOST}\r\nConnection: close\r\n\r\n"
        );
        http1(addr, raw.as_bytes()).map_err(|e| e.to_string())
    });
    // Let the slow request reach the upstream, then ask the sidecar to stop.
    let deadline = Instant::now() + Duration::from_secs(5);
    while emulator.requests().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(
        emulator.requests().len(),
        1,
        "the slow request never reached the upstream"
    );
    sidecar.terminate()?;

    // New connections are refused once the listener closes.
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        match TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
            Err(error) if error.kind() == ErrorKind::ConnectionRefused => break,
            _ if Instant::now() >= deadline => panic!("still accepting connections after SIGTERM"),
            _ => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    assert!(
        sidecar.is_running(),
        "exited before the in-flight request finished"
    );

    let response = slow.join().map_err(|_| "client thread panicked")??;
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.json()?["path"], "/slow-headers");
    let status = sidecar.wait_exit(Duration::from_secs(10))?;
    assert_eq!(status.code(), Some(0), "{}", sidecar.logs());
    assert!(sidecar.logs().contains("drained"), "{}", sidecar.logs());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_logs_contain_no_secrets() -> Result<(), BoxError> {
    let emulator = Emulator::builder().start().await?;
    emulator.key_store().insert(Secret {
        access_key_id: SESSION_ACCESS_KEY_ID.to_owned(),
        secret_access_key: SESSION_SECRET.to_owned(),
        session_token: Some(SESSION_TOKEN.to_owned()),
        principal: "arn:aws:sts::123456789012:assumed-role/sidecar-test/session".to_owned(),
        session_name: Some("session".to_owned()),
    });
    let sidecar = Sidecar::builder()
        .emulator(&emulator)
        .without_credentials()
        .env("AWS_ACCESS_KEY_ID", SESSION_ACCESS_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", SESSION_SECRET)
        .env("AWS_SESSION_TOKEN", SESSION_TOKEN)
        .env("RUST_LOG", "trace")
        .route(format!("http://{ORDERS_HOST}"))
        .spawn()?;

    // HTTP/2 over TLS upstream, with client-supplied credentials to strip.
    let response = sidecar.request(&format!(
        "GET /echo?X-Amz-Security-Token=client-query HTTP/1.1\r\nHost: {ORDERS_HOST}\r\n\
         Authorization: Bearer {CLIENT_SECRET}\r\nX-Amz-Security-Token: {CLIENT_SECRET}\r\nConnection: close\r\n\r\n"
    ))?;
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(
        response.json()?["verified"]["access_key_id"],
        SESSION_ACCESS_KEY_ID
    );
    // HTTP/1.1 plain upstream.
    let raw = "GET /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let response = http1(sidecar.route_addr(0), raw.as_bytes())?;
    assert_eq!(response.status, 200, "{}", response.text());
    // A Lattice 403 (clock skew), whose diagnosis is logged.
    emulator.set_clock(|| SystemTime::now() + Duration::from_secs(3600));
    let response = sidecar.get(ORDERS_HOST, "/echo")?;
    assert_eq!(response.status, 403, "{}", response.text());

    let logs = sidecar.wait_for_log("canonical_request")?;
    assert!(logs.contains("TRACE"), "trace logging was not on");
    assert!(logs.contains("likely_cause"), "no 403 diagnosis:\n{logs}");
    assert!(
        logs.contains("canonical_request"),
        "no canonical request at debug:\n{logs}"
    );
    for secret in [SESSION_SECRET, SESSION_TOKEN, CLIENT_SECRET, "Signature="] {
        let line = logs.lines().find(|l| l.contains(secret));
        assert!(line.is_none(), "logs contain {secret:?}: {line:?}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lattice_403_passes_through_with_a_diagnosis() -> Result<(), BoxError> {
    let emulator = Emulator::builder().start().await?;
    let sidecar = Sidecar::builder().emulator(&emulator).spawn()?;
    // The sidecar's clock is an hour behind the emulator's.
    emulator.set_clock(|| SystemTime::now() + Duration::from_secs(3600));
    let response = sidecar.get(ORDERS_HOST, "/echo")?;
    assert_eq!(response.status, 403, "{}", response.text());
    assert_eq!(
        response.header("x-amzn-errortype"),
        Some("InvalidSignatureException")
    );
    assert_eq!(response.header("x-lattice-sidecar-error"), None);
    assert!(
        response.text().starts_with("InvalidSignatureException: "),
        "{}",
        response.text()
    );
    let logs = sidecar.wait_for_log("likely_cause")?;
    let diagnosis = logs
        .lines()
        .find(|l| l.contains("likely_cause"))
        .ok_or_else(|| format!("no diagnosis:\n{logs}"))?;
    assert!(diagnosis.contains("clock skew"), "{diagnosis}");
    Ok(())
}

/// `--workers N`: N serving threads, connections dealt out in turn, and each thread keeps
/// its own upstream pool, so a request never waits on another thread's connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_worker_thread_serves_connections_with_its_own_upstream_pool() -> Result<(), BoxError>
{
    const WORKERS: usize = 3;
    let emulator = Emulator::builder().start().await?;
    let sidecar = Sidecar::builder()
        .emulator(&emulator)
        .args(["--workers", &WORKERS.to_string()])
        .spawn()?;

    // A new thread takes its name once it first runs, which may be just after readiness.
    let deadline = Instant::now() + Duration::from_secs(5);
    let workers = loop {
        let threads: Vec<String> = std::fs::read_dir(format!("/proc/{}/task", sidecar.pid()))?
            .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
            .collect();
        let workers = threads
            .iter()
            .filter(|name| name.starts_with("lattice-worker"));
        if workers.count() == WORKERS || Instant::now() > deadline {
            break threads;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let count = workers
        .iter()
        .filter(|name| name.starts_with("lattice-worker"));
    assert_eq!(count.count(), WORKERS, "worker threads: {workers:?}");

    // One connection each (`Connection: close`), dealt out round-robin: two per worker.
    for _ in 0..2 * WORKERS {
        let response = sidecar.get(ORDERS_HOST, "/")?;
        assert_eq!(response.status, 200, "{}", response.text());
    }
    // Each worker opened one h2 connection to the emulator and reused it for its second
    // client; one shared pool would show 1, a pool per connection 6.
    let upstream_port = emulator.https_addr().port();
    assert_eq!(established_to(upstream_port)?, WORKERS);
    Ok(())
}

/// Established TCP connections (in this network namespace) whose remote port is `port`.
fn established_to(port: u16) -> Result<usize, BoxError> {
    const ESTABLISHED: &str = "01";
    let mut count = 0;
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        // `sl local_address rem_address st ...`, addresses as HEXIP:HEXPORT.
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (Some(remote), Some(state)) = (fields.get(2), fields.get(3)) else {
                continue;
            };
            let remote_port = remote
                .rsplit_once(':')
                .and_then(|(_, p)| u16::from_str_radix(p, 16).ok());
            if remote_port == Some(port) && *state == ESTABLISHED {
                count += 1;
            }
        }
    }
    Ok(count)
}
