//! One client must never stall another, nor grow the sidecar without bound: slow readers,
//! silent sockets, more requests than one upstream connection's streams, a low open-file
//! limit, and an app that calls many service names.
//!
//! Each test reproduces a failure found against the sidecar as it was before these
//! limits (the numbers in the comments are from that run), with time and count bounds so
//! that a regression fails in seconds rather than hanging.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Empty;
use hyper_util::rt::{TokioExecutor, TokioIo};
use lattice_emulator::{Emulator, ORDERS_HOST};
use lattice_tests::sidecar::{BoxError, RawResponse, Sidecar, read_response};

const ERROR_HEADER: &str = "x-lattice-sidecar-error";
/// How long one measured request may take before the test calls it stalled.
const STALL: Duration = Duration::from_secs(5);
/// How much slower than alone a request may be while other streams are parked: a few ms
/// of work, plus this noisy 2-vCPU machine's scheduling.
const ALLOWED_SLOWDOWN: Duration = Duration::from_millis(50);

fn connect(addr: SocketAddr, timeout: Duration) -> Result<TcpStream, BoxError> {
    let stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    // Requests go out in several small writes; without this, Nagle's algorithm holds the
    // second behind the sidecar's delayed ACK (40 ms).
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// One `GET /echo` on a new connection, timed from connect to the last body byte.
fn timed_echo(sidecar: &Sidecar) -> Result<Duration, BoxError> {
    let started = Instant::now();
    let mut stream = connect(sidecar.addr(), STALL)?;
    write!(
        stream,
        "GET /echo HTTP/1.1\r\nHost: {ORDERS_HOST}\r\nConnection: close\r\n\r\n"
    )?;
    let response =
        read_response(&mut stream).map_err(|e| format!("the unrelated request stalled: {e}"))?;
    assert_eq!(response.status, 200, "{}", response.text());
    Ok(started.elapsed())
}

/// The median of `runs` timings of `measure`.
fn median(
    runs: usize,
    mut measure: impl FnMut() -> Result<Duration, BoxError>,
) -> Result<Duration, BoxError> {
    let mut timings = (0..runs)
        .map(|_| measure())
        .collect::<Result<Vec<_>, _>>()?;
    timings.sort();
    Ok(timings[runs / 2])
}

/// A sidecar with one worker (so every request shares its upstream connection), and how
/// long an unrelated request takes through it alone.
fn one_worker_sidecar(emulator: &Emulator) -> Result<(Sidecar, Duration), BoxError> {
    let sidecar = Sidecar::builder()
        .emulator(emulator)
        .args(["--workers", "1"])
        .spawn()?;
    timed_echo(&sidecar)?; // The upstream connection is up.
    let alone = median(5, || timed_echo(&sidecar))?;
    Ok((sidecar, alone))
}

/// Start a 1 GiB download that is never read: its response stays parked in the sidecar.
fn slow_reader(sidecar: &Sidecar) -> Result<TcpStream, BoxError> {
    let mut stream = connect(sidecar.addr(), STALL)?;
    write!(
        stream,
        "GET /download?bytes=1073741824 HTTP/1.1\r\nHost: {ORDERS_HOST}\r\n\r\n"
    )?;
    Ok(stream)
}

// Reproduction (before): with `--workers 1`, three `curl --limit-rate 1k` downloads of a
// 1 GB body held the one pooled h2 connection's whole window (hyper's 5 MiB, against 2 MiB
// per stream), and an unrelated request's body hung until its client gave up (10 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_readers_hold_back_only_their_own_streams() -> Result<(), BoxError> {
    let emulator = Emulator::builder().start().await?;
    let (sidecar, alone) = one_worker_sidecar(&emulator)?;
    for readers in [3, 20] {
        let parked = (0..readers)
            .map(|_| slow_reader(&sidecar))
            .collect::<Result<Vec<_>, _>>()?;
        // Loopback fills the sockets' buffers and then the streams' windows in
        // milliseconds; give it ample time.
        std::thread::sleep(Duration::from_secs(1));
        let beside = median(5, || timed_echo(&sidecar))?;
        println!("{readers} slow readers: alone {alone:?}, beside them {beside:?}");
        assert!(
            beside <= alone + ALLOWED_SLOWDOWN,
            "{readers} slow readers slowed an unrelated request from {alone:?} to {beside:?}"
        );
        drop(parked);
    }
    sidecar.assert_still_serving(ORDERS_HOST)?;
    Ok(())
}

// Reproduction (before): an h2c client with SETTINGS_INITIAL_WINDOW_SIZE=0 opened 10
// downloads, and a different client's request waited 9.5 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_h2c_client_that_reads_nothing_stalls_no_one_else() -> Result<(), BoxError> {
    let emulator = Emulator::builder().start().await?;
    let (sidecar, alone) = one_worker_sidecar(&emulator)?;

    let stream = tokio::net::TcpStream::connect(sidecar.addr()).await?;
    let (mut sender, connection) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
        .initial_stream_window_size(0)
        .handshake(TokioIo::new(stream))
        .await?;
    let driver = tokio::spawn(connection);
    let mut downloads = Vec::new();
    for _ in 0..10 {
        let request = http::Request::builder()
            .uri(format!("http://{ORDERS_HOST}/download?bytes=1073741824"))
            .body(Empty::<Bytes>::new())?;
        let response = tokio::time::timeout(STALL, sender.send_request(request)).await??;
        assert_eq!(response.status(), 200);
        downloads.push(response); // Kept, never read: the sidecar may send it nothing.
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let beside = tokio::task::block_in_place(|| median(5, || timed_echo(&sidecar)))?;
    println!("10 zero-window h2c downloads: alone {alone:?}, beside them {beside:?}");
    assert!(
        beside <= alone + ALLOWED_SLOWDOWN,
        "a zero-window h2c client slowed another client's request from {alone:?} to {beside:?}"
    );
    drop(downloads);
    driver.abort();
    Ok(())
}

// Reproduction (before): requests beyond the upstream h2 connection's stream limit (the
// emulator allows 200) queued inside h2: with 250 slow requests in flight, a small one
// waited about 10 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_requests_than_one_connection_carries_open_another_connection() -> Result<(), BoxError>
{
    const SLOW: usize = 250;
    const DELAY: Duration = Duration::from_secs(4);
    let emulator = Emulator::builder().start().await?;
    let sidecar = Sidecar::builder()
        .emulator(&emulator)
        .args(["--workers", "1"])
        .spawn()?;
    timed_echo(&sidecar)?;
    let started = Instant::now();
    let slow = (0..SLOW)
        .map(|_| {
            let mut stream = connect(sidecar.addr(), STALL + DELAY)?;
            write!(
                stream,
                "GET /slow-headers?delay_ms={} HTTP/1.1\r\nHost: {ORDERS_HOST}\r\nConnection: close\r\n\r\n",
                DELAY.as_millis()
            )?;
            Ok(stream)
        })
        .collect::<Result<Vec<TcpStream>, BoxError>>()?;
    // Until every slow request is with the emulator (so in flight on an upstream stream),
    // well before the first of them is answered.
    let deadline = started + DELAY / 2;
    while emulator.requests().len() < 1 + SLOW && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let in_flight = emulator.requests().len() - 1;
    let quick = timed_echo(&sidecar)?;
    println!("{in_flight} slow requests reached the emulator; a quick one took {quick:?}");
    assert_eq!(
        in_flight,
        SLOW,
        "only {in_flight} of {SLOW} slow requests reached the upstream within {:?}: the \
         others waited for a stream",
        DELAY / 2
    );
    assert!(
        quick < DELAY / 4,
        "a quick request waited {quick:?} behind {SLOW} slow ones: queued for a stream"
    );
    for mut stream in slow {
        let response = read_response(&mut stream)?;
        assert_eq!(response.status, 200, "{}", response.text());
    }
    Ok(())
}

/// Read until the sidecar closes the connection; how long that took, and what came.
fn until_closed(stream: &mut TcpStream, limit: Duration) -> Result<(Duration, Vec<u8>), BoxError> {
    let started = Instant::now();
    stream.set_read_timeout(Some(limit))?;
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => return Ok((started.elapsed(), received)),
            Ok(n) => received.extend_from_slice(&buffer[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => {
                return Ok((started.elapsed(), received));
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Err(format!("still open after {limit:?}").into());
            }
            Err(e) => return Err(e.into()),
        }
    }
}

// Reproduction (before): a TCP connection that never sent a byte was still open after
// 150 s (the HTTP/1-or-h2 detection waited for bytes without a timer), while one that
// sent a single byte was closed at 30 s (--header-read-timeout).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_without_a_request_head_are_closed_after_the_timeout() -> Result<(), BoxError> {
    let emulator = Emulator::builder().start().await?;
    let sidecar = Sidecar::builder()
        .emulator(&emulator)
        .args(["--header-read-timeout", "1s"])
        .spawn()?;
    let h2_preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    // An empty SETTINGS frame: a complete h2c connection start, with no request.
    let h2_start: Vec<u8> = [&h2_preface[..], &[0, 0, 0, 4, 0, 0, 0, 0, 0]].concat();
    let openings: [(&str, &[u8]); 5] = [
        ("nothing", b""),
        ("one byte", b"G"),
        ("half a request head", b"GET /echo HTTP/1.1\r\nHost: x\r\n"),
        ("half the h2 preface", &h2_preface[..16]),
        ("an h2c start without a request", &h2_start),
    ];
    let mut sockets = Vec::new();
    for (what, bytes) in openings {
        let mut stream = connect(sidecar.addr(), STALL)?;
        stream.write_all(bytes)?;
        sockets.push((what, stream));
    }
    for (what, mut stream) in sockets {
        let (after, _) = until_closed(&mut stream, STALL).map_err(|e| format!("{what}: {e}"))?;
        assert!(
            after < Duration::from_secs(3),
            "{what}: closed after {after:?}"
        );
    }
    // The client closed its ends too: the sidecar has no connection left.
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let (_, metrics) = sidecar.admin_get("/metrics")?;
        let proxy_open = metrics.lines().find(|l| {
            l.starts_with("lattice_sidecar_open_connections{") && !l.contains("\"admin\"")
        });
        if proxy_open.is_some_and(|l| l.ends_with(" 0")) {
            break;
        }
        assert!(Instant::now() < deadline, "{metrics}");
        std::thread::sleep(Duration::from_millis(20));
    }
    sidecar.assert_still_serving(ORDERS_HOST)?;
    Ok(())
}

/// Open `count` silent sockets; those the sidecar answers at once are returned apart.
fn silent_sockets(
    sidecar: &Sidecar,
    count: usize,
) -> Result<(Vec<TcpStream>, Vec<RawResponse>), BoxError> {
    let sockets = (0..count)
        .map(|_| connect(sidecar.addr(), STALL))
        .collect::<Result<Vec<_>, _>>()?;
    // A refusal is written right after the accept; let the sidecar catch up.
    std::thread::sleep(Duration::from_millis(500));
    let mut held = Vec::new();
    let mut refused = Vec::new();
    for mut stream in sockets {
        stream.set_nonblocking(true)?;
        let answered = match stream.peek(&mut [0u8; 1]) {
            Ok(_) => true,
            Err(e) if e.kind() == ErrorKind::WouldBlock => false,
            Err(e) => return Err(e.into()),
        };
        stream.set_nonblocking(false)?;
        match answered {
            true => refused.push(read_response(&mut stream)?),
            false => held.push(stream),
        }
    }
    Ok((held, refused))
}

/// `/livez`, timed.
fn livez(sidecar: &Sidecar) -> Result<Duration, BoxError> {
    let started = Instant::now();
    let (status, body) = sidecar.admin_get("/livez")?;
    assert_eq!((status, body.as_str()), (200, "live\n"));
    Ok(started.elapsed())
}

// Reproduction (before): with a file-descriptor limit of 256, 300 silent sockets made
// the proxy and the admin `/livez` unreachable for as long as they stayed open, and the
// log showed 1,376 "Too many open files" warnings.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_a_low_fd_limit_silent_sockets_are_refused_and_livez_answers() -> Result<(), BoxError>
{
    let emulator = Emulator::builder().start().await?;
    let sidecar = Sidecar::builder()
        .emulator(&emulator)
        .open_file_limit(256)
        .args(["--header-read-timeout", "5s", "--workers", "1"])
        .spawn()?;
    let (held, refused) = silent_sockets(&sidecar, 300)?;
    // The default --max-connections under 256 fds: (256 - 128 reserved) / 2.
    assert_eq!(held.len(), 64, "{} refused", refused.len());
    for response in &refused {
        assert_eq!(response.status, 503, "{}", response.text());
        assert_eq!(response.header(ERROR_HEADER), Some("too-many-connections"));
        assert!(response.text().contains("--max-connections"));
    }
    assert!(livez(&sidecar)? < Duration::from_secs(1));
    let (_, metrics) = sidecar.admin_get("/metrics")?;
    assert!(
        metrics.contains(&format!(
            "lattice_sidecar_refused_connections_total {}",
            refused.len()
        )),
        "{metrics}"
    );
    for mut stream in held {
        until_closed(&mut stream, Duration::from_secs(10))?;
    }
    sidecar.assert_still_serving(ORDERS_HOST)?;
    let logs = sidecar.logs();
    assert!(!logs.contains("Too many open files"), "{logs}");
    Ok(())
}

// The same, with --max-connections set above what the fd limit allows: the proxy runs out
// of descriptors, and /livez still answers (through the admin listener's spare one).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_fds_the_admin_listener_still_answers() -> Result<(), BoxError> {
    let emulator = Emulator::builder().start().await?;
    let sidecar = Sidecar::builder()
        .emulator(&emulator)
        .open_file_limit(256)
        .args(["--header-read-timeout", "5s", "--workers", "1"])
        .args(["--max-connections", "1000"])
        .spawn()?;
    let started = Instant::now();
    // Left in the listen backlog once the sidecar is out of descriptors.
    let (held, refused) = silent_sockets(&sidecar, 300)?;
    assert!(refused.is_empty(), "{:?}", refused.first());
    let open = sidecar.open_fds()?;
    assert!(open >= 250, "the sidecar has only {open} fds open");
    for _ in 0..3 {
        assert!(livez(&sidecar)? < Duration::from_secs(1));
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "too slow to tell the timeout from the probes"
    );
    for mut stream in held {
        until_closed(&mut stream, Duration::from_secs(10))?;
    }
    sidecar.assert_still_serving(ORDERS_HOST)?;
    assert!(livez(&sidecar)? < Duration::from_secs(1));
    let logs = sidecar.logs();
    let warnings = logs.matches("accept failed").count();
    assert!(
        (1..=2).contains(&warnings),
        "{warnings} accept warnings:\n{logs}"
    );
    Ok(())
}

// Reproduction (before): every distinct allowed host:port created a requests_total series
// that was never removed, on the 503 credentials path too: 500,000 names grew RSS from 11
// to 110 MB and /metrics to 52.7 MB (7 s to scrape).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_service_names_keep_memory_and_metrics_bounded() -> Result<(), BoxError> {
    const NAMES: usize = 100_000;
    const CLIENTS: usize = 4;
    let sidecar = Sidecar::builder()
        .without_credentials()
        .wait_live_only()
        .args(["--log", "warn"])
        .spawn()?;
    let name = |i: usize| {
        format!("svc-{i:06}-0123456789abcdef0.7d67968.vpc-lattice-svcs.us-west-2.on.aws")
    };
    let send = |range: std::ops::Range<usize>| -> Result<(), BoxError> {
        let mut stream = connect(sidecar.addr(), STALL)?;
        let mut reader = stream.try_clone()?;
        for i in range {
            write!(stream, "GET / HTTP/1.1\r\nHost: {}\r\n\r\n", name(i))?;
            let response = read_response(&mut reader)?;
            assert_eq!(
                refusal_code(&response),
                (503, Some("credentials-unavailable"))
            );
        }
        Ok(())
    };
    // Warm up: the first 1,000 names, so the labelled set is full and buffers are grown.
    send(0..1_000)?;
    let before = sidecar.memory_kib("VmRSS")?;
    let started = Instant::now();
    let send = &send;
    std::thread::scope(|scope| {
        let chunk = NAMES / CLIENTS;
        let workers: Vec<_> = (0..CLIENTS)
            .map(|c| scope.spawn(move || send(1_000 + c * chunk..1_000 + (c + 1) * chunk)))
            .collect();
        workers
            .into_iter()
            .try_for_each(|w| w.join().map_err(|_| "client thread panicked")?)
    })?;
    let after = sidecar.memory_kib("VmRSS")?;
    let (status, metrics) = sidecar.admin_get("/metrics")?;
    assert_eq!(status, 200);
    println!(
        "{NAMES} names in {:?}: RSS {before} -> {after} KiB, /metrics {} bytes",
        started.elapsed(),
        metrics.len()
    );
    assert!(
        after.saturating_sub(before) < 4 * 1024,
        "RSS grew from {before} to {after} KiB"
    );
    assert!(
        metrics.len() < 512 * 1024,
        "/metrics is {} bytes",
        metrics.len()
    );
    assert!(
        metrics.contains(&format!(
            "lattice_sidecar_upstream_labels_folded_total {}",
            NAMES + 1_000 - 100
        )),
        "{metrics}"
    );
    Ok(())
}

fn refusal_code(response: &RawResponse) -> (u16, Option<&str>) {
    (response.status, response.header(ERROR_HEADER))
}
