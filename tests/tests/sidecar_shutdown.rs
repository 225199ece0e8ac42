//! Graceful shutdown under load: SIGTERM while several clients are busy.
//!
//! What the sidecar guarantees, and what these tests assert:
//! - A request in flight at SIGTERM (the upstream has it, or its response is streaming)
//!   completes with its full body; on keep-alive connections that last response says
//!   `connection: close`.
//! - No response is ever cut short: a client gets all of a response or none of it.
//! - Once the listener is closed, every new connection is refused.
//! - The process exits 0 when the last in-flight request is done, and at the latest when
//!   `--shutdown-grace` runs out.
//!
//! - For a settle period after SIGTERM (1 s, at most half the grace) open connections keep
//!   serving, and every HTTP/1 response says `connection: close`: a busy keep-alive client
//!   gets a complete response and then a closed connection, never a zero-byte reply.
//! - Idle keep-alive connections are closed after the settle period, not held for the grace.
//!
//! Not guaranteed, by HTTP/1.1 itself: a request written on a keep-alive connection that
//! was idle for the whole settle period, at the very moment the sidecar closes it, sees
//! the connection close with zero bytes of response. That request was never processed, so
//! an idempotent one may be retried on a new connection (hyper's and Go's clients do);
//! the retry is then refused. The load loops here never idle that long, so they must see
//! no zero-byte close at all.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use lattice_emulator::{Emulator, ORDERS_HOST, pattern_byte};
use lattice_tests::sidecar::{BoxError, RawResponse, Sidecar, read_response};

const GRACE: &str = "10s";
/// The sidecar's settle period for this grace (`DRAIN_SETTLE` in lattice-sidecar).
const SETTLE: Duration = Duration::from_secs(1);
const IO_TIMEOUT: Duration = Duration::from_secs(20);
/// A bound on every loop.
const TEST_DEADLINE: Duration = Duration::from_secs(60);
const LOAD_LOOPS: usize = 4;
const SLOW_CLIENTS: usize = 3;
const DOWNLOAD_BYTES: usize = 2_000_000;

/// How one request ended, from the client's side.
#[derive(Debug)]
enum Outcome {
    /// A whole response.
    Full(RawResponse),
    /// The connection closed or reset before any byte of a response.
    Empty(String),
    /// Some bytes of a response, then the connection ended: never acceptable.
    Partial(String),
    /// `connect` failed.
    ConnectFailed(ErrorKind),
}

#[derive(Debug)]
struct Record {
    /// When the request was written, or the connect attempted.
    at: Instant,
    /// Sent on a connection that had carried a request before.
    reused: bool,
    outcome: Outcome,
}

/// Counts what a reader returned, to tell "nothing" from "part of a response".
struct Counting<'a> {
    inner: &'a mut TcpStream,
    bytes: usize,
}

impl Read for Counting<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes += n;
        Ok(n)
    }
}

fn connect(addr: SocketAddr) -> std::io::Result<TcpStream> {
    assert!(addr.ip().is_loopback());
    let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

fn get_request(path: &str) -> String {
    // Keep-alive: HTTP/1.1's default.
    format!("GET {path} HTTP/1.1\r\nHost: {ORDERS_HOST}\r\n\r\n")
}

/// Write a request and read its response; `Err` if writing failed.
fn exchange(stream: &mut TcpStream, path: &str) -> (Instant, Outcome) {
    let written = stream.write_all(get_request(path).as_bytes());
    let at = Instant::now();
    if let Err(error) = written {
        return (at, Outcome::Empty(format!("write: {error}")));
    }
    let mut reader = Counting {
        inner: stream,
        bytes: 0,
    };
    let outcome = match read_response(&mut reader) {
        Ok(response) => Outcome::Full(response),
        Err(error) if reader.bytes == 0 => Outcome::Empty(error.to_string()),
        Err(error) => Outcome::Partial(format!("after {} bytes: {error}", reader.bytes)),
    };
    (at, outcome)
}

fn wants_close(response: &RawResponse) -> bool {
    response
        .header("connection")
        .is_some_and(|v| v.eq_ignore_ascii_case("close"))
}

/// Sequential keep-alive requests, reconnecting when the sidecar closes, until a connect
/// fails after `stop` is set (or the deadline).
fn load_loop(addr: SocketAddr, path: &'static str, stop: Arc<AtomicBool>) -> Vec<Record> {
    let deadline = Instant::now() + TEST_DEADLINE;
    let mut records = Vec::new();
    let mut connection: Option<(TcpStream, bool)> = None;
    while Instant::now() < deadline {
        let (mut stream, reused) = match connection.take() {
            Some(open) => open,
            None => {
                let at = Instant::now();
                match connect(addr) {
                    Ok(stream) => (stream, false),
                    Err(error) => {
                        records.push(Record {
                            at,
                            reused: false,
                            outcome: Outcome::ConnectFailed(error.kind()),
                        });
                        if stop.load(Ordering::Acquire) {
                            break;
                        }
                        std::thread::sleep(Duration::from_millis(20));
                        continue;
                    }
                }
            }
        };
        let (at, outcome) = exchange(&mut stream, path);
        let keep = matches!(&outcome, Outcome::Full(r) if !wants_close(r));
        records.push(Record {
            at,
            reused,
            outcome,
        });
        if keep {
            connection = Some((stream, true));
        }
    }
    records
}

/// A client with one slow request on a keep-alive connection; returns the response and
/// whether the connection was then closed by the sidecar.
fn slow_client(addr: SocketAddr) -> Result<(RawResponse, bool), String> {
    let mut stream = connect(addr).map_err(|e| e.to_string())?;
    match exchange(&mut stream, "/slow-headers?delay_ms=1500").1 {
        Outcome::Full(response) => {
            let mut rest = [0u8; 1];
            let closed = matches!(stream.read(&mut rest), Ok(0));
            Ok((response, closed))
        }
        other => Err(format!("{other:?}")),
    }
}

fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn upstream_saw(emulator: &Emulator, path: &str) -> usize {
    emulator
        .requests()
        .iter()
        .filter(|r| r.path == path)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_drains_in_flight_and_refuses_new() -> Result<(), BoxError> {
    let emulator = Emulator::builder()
        .request_log_capacity(1 << 20)
        .start()
        .await?;
    let emulator = Arc::new(emulator);
    let mut sidecar = Sidecar::builder()
        .emulator(&emulator)
        .args(["--shutdown-grace", GRACE])
        .spawn()?;
    let addr = sidecar.addr();
    let stop = Arc::new(AtomicBool::new(false));

    // Steady keep-alive load, fast and slow-ish requests.
    let loops: Vec<JoinHandle<Vec<Record>>> = (0..LOAD_LOOPS)
        .map(|i| {
            let stop = stop.clone();
            let path = match i % 2 {
                0 => "/echo",
                // A ~300 ms streamed body: often in flight at the signal.
                _ => "/download?bytes=10000&chunk=1000&delay_ms=30",
            };
            std::thread::spawn(move || load_loop(addr, path, stop))
        })
        .collect();
    wait_until("steady load", Duration::from_secs(20), || {
        upstream_saw(&emulator, "/echo") > 300
    });
    // Slow requests and a streaming download, all in flight when the signal comes.
    let slow: Vec<JoinHandle<_>> = (0..SLOW_CLIENTS)
        .map(|_| std::thread::spawn(move || slow_client(addr)))
        .collect();
    let download_headers = Arc::new(AtomicBool::new(false));
    let download = {
        let headers = download_headers.clone();
        std::thread::spawn(move || -> Result<Vec<u8>, String> {
            let mut stream = connect(addr).map_err(|e| e.to_string())?;
            let path = format!("/download?bytes={DOWNLOAD_BYTES}&chunk=65536&delay_ms=50");
            stream
                .write_all(get_request(&path).as_bytes())
                .map_err(|e| e.to_string())?;
            let mut first = [0u8; 1];
            stream.read_exact(&mut first).map_err(|e| e.to_string())?;
            headers.store(true, Ordering::Release);
            let mut rest = first.as_slice().chain(&mut stream);
            read_response(&mut rest)
                .map(|r| r.body)
                .map_err(|e| e.to_string())
        })
    };

    let sidecar_busy = {
        let emulator = emulator.clone();
        move || {
            upstream_saw(&emulator, "/slow-headers") >= SLOW_CLIENTS
                && download_headers.load(Ordering::Acquire)
        }
    };
    wait_until(
        "load to be in flight",
        Duration::from_secs(20),
        sidecar_busy,
    );
    let sigterm = Instant::now();
    stop.store(true, Ordering::Release);
    sidecar.terminate()?;

    // The listener closes promptly: probe until refused.
    let refused_at = {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let at = Instant::now();
            match TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
                Err(error) if error.kind() == ErrorKind::ConnectionRefused => break at,
                _ => {
                    assert!(Instant::now() < deadline, "still accepting after SIGTERM");
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        }
    };
    assert!(sidecar.is_running(), "exited with requests in flight");
    // Refused stays refused while the drain goes on.
    for _ in 0..20 {
        let error = TcpStream::connect_timeout(&addr, Duration::from_millis(200))
            .expect_err("a connection was accepted after the listener closed");
        assert_eq!(error.kind(), ErrorKind::ConnectionRefused);
    }

    // In-flight requests: complete, and the keep-alive connection is then closed.
    for client in slow {
        let (response, closed) = client.join().map_err(|_| "slow client panicked")??;
        assert_eq!(response.status, 200, "{}", response.text());
        assert_eq!(response.json()?["path"], "/slow-headers");
        assert!(wants_close(&response), "no connection: close: {response:?}");
        assert!(closed, "the drained connection stayed open");
    }
    let body = download.join().map_err(|_| "download panicked")??;
    assert_eq!(body.len(), DOWNLOAD_BYTES, "streaming download cut short");
    assert!(
        body.iter()
            .enumerate()
            .all(|(i, b)| *b == pattern_byte(i as u64)),
        "download corrupted"
    );

    let status = sidecar.wait_exit(Duration::from_secs(15))?;
    let exited_after = sigterm.elapsed();
    assert_eq!(status.code(), Some(0), "{}", sidecar.logs());
    assert!(exited_after < Duration::from_secs(10), "{exited_after:?}");
    assert!(sidecar.logs().contains("drained"), "{}", sidecar.logs());

    // The load loops.
    let mut ok = 0;
    let mut closed_cleanly = 0;
    for handle in loops {
        let records = handle.join().map_err(|_| "load loop panicked")?;
        let last = records.last().ok_or("a load loop recorded nothing")?;
        assert!(
            matches!(
                last.outcome,
                Outcome::ConnectFailed(ErrorKind::ConnectionRefused)
            ),
            "a load loop did not end refused: {last:?}"
        );
        for record in &records {
            match &record.outcome {
                Outcome::Full(response) => {
                    assert_eq!(response.status, 200, "{}", response.text());
                    ok += 1;
                    // Loops drop a connection only after this (or a failure, which
                    // panics below), so every loop that ended refused saw one.
                    if wants_close(response) {
                        closed_cleanly += 1;
                    }
                }
                Outcome::Partial(error) => panic!("a response was cut short: {error}"),
                Outcome::Empty(error) => panic!(
                    "zero-byte reply to a request written {:?} after SIGTERM ({}): {error}",
                    record.at.saturating_duration_since(sigterm),
                    if record.reused {
                        "keep-alive"
                    } else {
                        "new connection"
                    },
                ),
                Outcome::ConnectFailed(kind) => {
                    assert!(
                        record.at > sigterm,
                        "connect failed before SIGTERM: {kind:?}"
                    );
                    assert_eq!(*kind, ErrorKind::ConnectionRefused, "{record:?}");
                }
            }
            // After the listener closed, no connect may have succeeded.
            if !record.reused && record.at > refused_at {
                assert!(
                    matches!(record.outcome, Outcome::ConnectFailed(_)),
                    "a connection made after the listener closed: {record:?}"
                );
            }
        }
    }
    println!(
        "load: {ok} full responses, {closed_cleanly} with connection: close; \
         listener closed {:?} after SIGTERM, exit after {exited_after:?}",
        refused_at.saturating_duration_since(sigterm)
    );
    assert!(ok > 200, "too little load: {ok}");
    assert!(closed_cleanly >= LOAD_LOOPS, "{closed_cleanly}");
    Ok(())
}

/// An idle keep-alive connection does not hold the process for the whole grace period: it
/// is closed once the settle period is over, and the process exits 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_keep_alive_connection_is_closed() -> Result<(), BoxError> {
    let emulator = Emulator::builder().start().await?;
    let mut sidecar = Sidecar::builder()
        .emulator(&emulator)
        .args(["--shutdown-grace", GRACE])
        .spawn()?;
    let mut idle = connect(sidecar.addr())?;
    match exchange(&mut idle, "/echo").1 {
        Outcome::Full(response) => assert!(!wants_close(&response)),
        other => panic!("{other:?}"),
    }
    let sigterm = Instant::now();
    sidecar.terminate()?;
    let mut byte = [0u8; 1];
    let read = idle.read(&mut byte);
    assert!(
        matches!(read, Ok(0)) || read.is_err(),
        "expected a close: {read:?}"
    );
    let closed_after = sigterm.elapsed();
    let status = sidecar.wait_exit(Duration::from_secs(10))?;
    assert_eq!(status.code(), Some(0), "{}", sidecar.logs());
    assert!(
        closed_after >= SETTLE / 2,
        "closed before settling: {closed_after:?}"
    );
    assert!(
        sigterm.elapsed() < Duration::from_secs(5),
        "held for the grace period: {:?}",
        sigterm.elapsed()
    );
    Ok(())
}

/// A request longer than `--shutdown-grace` does not hold the process: it exits 0 when
/// the grace period runs out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grace_period_bounds_the_drain() -> Result<(), BoxError> {
    let emulator = Emulator::builder().start().await?;
    let mut sidecar = Sidecar::builder()
        .emulator(&emulator)
        .args(["--shutdown-grace", "1s"])
        .spawn()?;
    let addr = sidecar.addr();
    let stuck = std::thread::spawn(move || {
        let mut stream = connect(addr).map_err(|e| e.to_string())?;
        Ok::<_, String>(exchange(&mut stream, "/slow-headers?delay_ms=20000").1)
    });
    let emulator_ref = &emulator;
    wait_until("the slow request upstream", Duration::from_secs(10), || {
        upstream_saw(emulator_ref, "/slow-headers") == 1
    });
    let sigterm = Instant::now();
    sidecar.terminate()?;
    let status = sidecar.wait_exit(Duration::from_secs(10))?;
    let took = sigterm.elapsed();
    assert_eq!(status.code(), Some(0), "{}", sidecar.logs());
    assert!(took >= Duration::from_millis(900), "did not wait: {took:?}");
    assert!(
        took < Duration::from_secs(5),
        "grace not enforced: {took:?}"
    );
    assert!(
        sidecar.logs().contains("grace period elapsed"),
        "{}",
        sidecar.logs()
    );
    // The cut request ends without a response (the process is gone), not with a hang.
    let outcome = stuck.join().map_err(|_| "client panicked")??;
    assert!(matches!(outcome, Outcome::Empty(_)), "{outcome:?}");
    Ok(())
}

/// Shared state for the h2c case.
#[derive(Default)]
struct H2Results {
    statuses: Mutex<Vec<Result<u16, String>>>,
}

/// h2c prior knowledge: SIGTERM sends GOAWAY; streams in flight finish on the same
/// connection, and the client sees no error for them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2c_streams_in_flight_complete() -> Result<(), BoxError> {
    let emulator = Emulator::builder().start().await?;
    let mut sidecar = Sidecar::builder()
        .emulator(&emulator)
        .route(format!("https://{ORDERS_HOST}"))
        .args(["--shutdown-grace", GRACE])
        .spawn()?;
    // reqwest wants a process-wide rustls provider even for plain HTTP.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let client = reqwest::Client::builder()
        .no_proxy()
        .http2_prior_knowledge()
        .timeout(IO_TIMEOUT)
        .build()?;
    let results = Arc::new(H2Results::default());
    let url = format!(
        "http://{}/slow-headers?delay_ms=1500",
        sidecar.route_addr(0)
    );
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let (client, url, results) = (client.clone(), url.clone(), results.clone());
        tasks.spawn(async move {
            let result = match client.get(&url).send().await {
                Ok(r) => {
                    let status = r.status().as_u16();
                    r.bytes()
                        .await
                        .map(|_| status)
                        .map_err(|e| format!("{e:?}"))
                }
                Err(e) => Err(format!("{e:?}")),
            };
            results.statuses.lock().unwrap().push(result);
        });
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while upstream_saw(&emulator, "/slow-headers") < 4 {
        assert!(
            Instant::now() < deadline,
            "streams never reached the upstream"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    sidecar.terminate()?;
    while tasks.join_next().await.is_some() {}
    let statuses = results.statuses.lock().unwrap().clone();
    assert_eq!(statuses, vec![Ok(200); 4]);
    let status = tokio::task::spawn_blocking(move || {
        sidecar
            .wait_exit(Duration::from_secs(15))
            .map(|s| s.code())
            .map_err(|e| e.to_string())
    })
    .await??;
    assert_eq!(status, Some(0));
    Ok(())
}
