//! Every way an upstream can fail gets a bounded, documented answer from the sidecar,
//! against the raw fault server in `lattice_tests::fault_upstream`:
//!
//! | fault | status | `x-lattice-sidecar-error` |
//! |---|---|---|
//! | connection refused | 502 | `upstream-connect-failed` |
//! | connection not answered (SYNs dropped) | 504 | `upstream-connect-timeout` |
//! | TLS handshake fails (plaintext answer, FIN, RST) | 502 | `upstream-tls-failed` |
//! | bad certificate (untrusted CA, wrong name, expired) | 502 | `upstream-tls-failed` |
//! | reset while the request body streams | 502 | `upstream-error` |
//! | TLS handshake stalls, no response, slow headers | 504 | `upstream-timeout` |
//! | reset while the response body streams | headers already sent: the client's connection (HTTP/1.1) or stream (HTTP/2) is aborted, never a short body passed off as complete |
//!
//! Then 10,000 such faults, mixed and concurrent, must leave the sidecar's file
//! descriptors and RSS where they were.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use lattice_tests::fault_upstream::{
    ANNOUNCED_BODY_LEN, Blackhole, Fault, FaultCa, FaultServer, OK_BODY, PARTIAL_BODY_LEN,
};
use lattice_tests::sidecar::{
    BoxError, IO_TIMEOUT, RawResponse, Sidecar, free_port, read_response,
};
use tempfile::TempDir;

const ERROR_HEADER: &str = "x-lattice-sidecar-error";
/// `--request-timeout` of the sidecars here: small, so hangs answer fast.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(1);
/// `--connect-timeout` of the sidecars here. It covers TCP and TLS setup, so it is kept
/// clear of `REQUEST_TIMEOUT`: a stalled handshake then always ends as `upstream-timeout`.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Every fault must be answered within this (generous for a loaded 2-core machine).
const ANSWER_BOUND: Duration = Duration::from_secs(5);

/// A Lattice service name (so the sidecar signs for it) unique to `label`.
fn fault_host(label: &str) -> String {
    format!("{label}-0123456789abcdef0.7d67968.vpc-lattice-svcs.us-west-2.on.aws")
}

/// A sidecar trusting `ca`, resolving each server's host to it and each `(host, addr)`
/// in `extra` to that address.
fn sidecar_for(
    ca: &FaultCa,
    servers: &[&FaultServer],
    extra: &[(&str, SocketAddr)],
    request_timeout: Duration,
) -> Result<(Sidecar, TempDir), BoxError> {
    let dir = tempfile::tempdir()?;
    let ca_file = dir.path().join("fault-ca.pem");
    std::fs::write(&ca_file, ca.pem())?;
    let timeout = format!("{}ms", request_timeout.as_millis());
    let connect_timeout = format!("{}ms", CONNECT_TIMEOUT.as_millis());
    let mut builder = Sidecar::builder().args([
        "--ca-file",
        &ca_file.display().to_string(),
        "--request-timeout",
        &timeout,
        "--connect-timeout",
        &connect_timeout,
    ]);
    for server in servers {
        builder = builder.args(["--resolve".to_owned(), server.resolve_arg()]);
    }
    for (host, addr) in extra {
        builder = builder.args(["--resolve".to_owned(), format!("{host}:443:{addr}")]);
    }
    let sidecar = builder.spawn()?;
    Ok((sidecar, dir))
}

fn assert_error(response: &RawResponse, status: u16, code: &str, what: &str) {
    assert_eq!(response.status, status, "{what}: {}", response.text());
    assert_eq!(
        response.header(ERROR_HEADER),
        Some(code),
        "{what}: {}",
        response.text()
    );
}

fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let started = Instant::now();
    let value = f();
    (value, started.elapsed())
}

fn metric_value(metrics: &str, series: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
}

#[test]
fn connect_and_tls_faults_are_502_with_a_code_and_a_remedy() -> Result<(), BoxError> {
    let ca = FaultCa::generate()?;
    // (fault, host label, code, a phrase of the remedy the message must carry)
    let cases = [
        (
            Fault::TlsGarbage,
            "tls-garbage",
            "upstream-tls-failed",
            "serves TLS on that port",
        ),
        (
            Fault::TlsClose,
            "tls-close",
            "upstream-tls-failed",
            "serves TLS on that port",
        ),
        (
            Fault::TlsReset,
            "tls-reset",
            "upstream-tls-failed",
            "serves TLS on that port",
        ),
        (
            Fault::UntrustedCertificate,
            "untrusted",
            "upstream-tls-failed",
            "--ca-file",
        ),
        (
            Fault::WrongHostCertificate,
            "wrong-host",
            "upstream-tls-failed",
            "--resolve/--upstream",
        ),
        (
            Fault::ExpiredCertificate,
            "expired",
            "upstream-tls-failed",
            "renew it",
        ),
    ];
    let servers = cases
        .iter()
        .map(|(fault, label, _, _)| FaultServer::start(*fault, &ca, &fault_host(label)))
        .collect::<Result<Vec<_>, _>>()?;
    let refused_host = fault_host("refused");
    let refused = free_port()?;
    let (sidecar, _dir) = sidecar_for(
        &ca,
        &servers.iter().collect::<Vec<_>>(),
        &[(&refused_host, refused)],
        REQUEST_TIMEOUT,
    )?;

    let (response, took) = timed(|| sidecar.get(&refused_host, "/x"));
    let response = response?;
    assert_error(&response, 502, "upstream-connect-failed", "refused");
    assert!(
        response.text().contains("security groups"),
        "{}",
        response.text()
    );
    assert!(took < ANSWER_BOUND, "refused took {took:?}");

    for ((fault, _, code, remedy), server) in cases.iter().zip(&servers) {
        let (response, took) = timed(|| sidecar.get(server.host(), "/x"));
        let response = response?;
        assert_error(&response, 502, code, &format!("{fault:?}"));
        assert!(
            response.text().contains(remedy),
            "{fault:?}: {}",
            response.text()
        );
        assert!(took < ANSWER_BOUND, "{fault:?} took {took:?}");
        assert!(server.connections() >= 1, "{fault:?}: never connected");
        assert_eq!(server.requests(), 0, "{fault:?}: a request got through");
    }

    // Each TLS failure is a failed connection, counted per upstream.
    let (_, metrics) = sidecar.admin_get("/metrics")?;
    for server in &servers {
        let series = format!(
            "lattice_sidecar_upstream_connect_errors_total{{upstream=\"{}\"}}",
            server.host()
        );
        assert_eq!(
            metric_value(&metrics, &series),
            Some(1.0),
            "{series}\n{metrics}"
        );
    }
    assert_eq!(
        metric_value(
            &metrics,
            "lattice_sidecar_errors_total{code=\"upstream-tls-failed\"}"
        ),
        Some(cases.len() as f64),
        "{metrics}"
    );
    Ok(())
}

#[test]
fn unanswered_connect_is_504_connect_timeout() -> Result<(), BoxError> {
    let ca = FaultCa::generate()?;
    let blackhole = Blackhole::start()?;
    let host = fault_host("blackhole");
    // The connect timeout is shorter than the request timeout, so it must be what answers.
    let (sidecar, _dir) = sidecar_for(&ca, &[], &[(&host, blackhole.addr())], REQUEST_TIMEOUT * 3)?;
    let (response, took) = timed(|| sidecar.get(&host, "/x"));
    let response = response?;
    assert_error(&response, 504, "upstream-connect-timeout", "blackhole");
    assert!(
        response.text().contains("--connect-timeout"),
        "{}",
        response.text()
    );
    assert!(
        took >= CONNECT_TIMEOUT - Duration::from_millis(50) && took < ANSWER_BOUND,
        "took {took:?} (connect timeout {CONNECT_TIMEOUT:?})"
    );
    Ok(())
}

/// `--connect-timeout` bounds the TLS handshake too, not only TCP: with no request timeout
/// at all (`0`), an upstream that accepts and then never answers the ClientHello is still
/// a 504 within the connect timeout, never a hang.
#[test]
fn stalled_tls_handshake_is_bounded_by_the_connect_timeout() -> Result<(), BoxError> {
    let ca = FaultCa::generate()?;
    let stall = FaultServer::start(Fault::TlsStall, &ca, &fault_host("tls-stall-only"))?;
    let (sidecar, _dir) = sidecar_for(&ca, &[&stall], &[], Duration::ZERO)?;
    let (response, took) = timed(|| sidecar.get(stall.host(), "/x"));
    assert_error(&response?, 504, "upstream-connect-timeout", "TlsStall");
    assert!(
        took >= CONNECT_TIMEOUT - Duration::from_millis(50)
            && took < ANSWER_BOUND + CONNECT_TIMEOUT,
        "took {took:?} (connect timeout {CONNECT_TIMEOUT:?})"
    );
    Ok(())
}

#[test]
fn silent_upstreams_are_504_within_the_request_timeout() -> Result<(), BoxError> {
    let ca = FaultCa::generate()?;
    let stall = FaultServer::start(Fault::TlsStall, &ca, &fault_host("tls-stall"))?;
    let silent = FaultServer::start(Fault::NoResponse, &ca, &fault_host("no-response"))?;
    let slow = FaultServer::start(
        Fault::SlowHeaders {
            delay: Duration::from_secs(30),
        },
        &ca,
        &fault_host("slow-headers"),
    )?;
    // Controls: the same server code answering in time.
    let quick = FaultServer::start(
        Fault::SlowHeaders {
            delay: Duration::from_millis(100),
        },
        &ca,
        &fault_host("quick-headers"),
    )?;
    let healthy = FaultServer::start(Fault::Healthy, &ca, &fault_host("healthy"))?;
    let (sidecar, _dir) = sidecar_for(
        &ca,
        &[&stall, &silent, &slow, &quick, &healthy],
        &[],
        REQUEST_TIMEOUT,
    )?;

    for server in [&stall, &silent, &slow] {
        let (response, took) = timed(|| sidecar.get(server.host(), "/x"));
        let response = response?;
        let fault = server.fault();
        assert_error(&response, 504, "upstream-timeout", &format!("{fault:?}"));
        assert!(
            took >= REQUEST_TIMEOUT - Duration::from_millis(50) && took < ANSWER_BOUND,
            "{fault:?} took {took:?} (request timeout {REQUEST_TIMEOUT:?})"
        );
    }
    // The request reached the silent servers: the timeout, not a failed send, answered.
    assert_eq!(stall.requests(), 0);
    assert_eq!(silent.requests(), 1);
    assert_eq!(slow.requests(), 1);

    for server in [&quick, &healthy] {
        let response = sidecar.get(server.host(), "/x")?;
        assert_eq!(
            response.status,
            200,
            "{:?}: {}",
            server.fault(),
            response.text()
        );
        assert_eq!(response.body, OK_BODY);
    }
    Ok(())
}

#[test]
fn reset_while_the_request_body_streams_is_502() -> Result<(), BoxError> {
    const BODY_LEN: usize = 512 * 1024;
    const RESET_AFTER: usize = 64 * 1024;
    let ca = FaultCa::generate()?;
    let server = FaultServer::start(
        Fault::ResetMidRequestBody { after: RESET_AFTER },
        &ca,
        &fault_host("reset-upload"),
    )?;
    let (sidecar, _dir) = sidecar_for(&ca, &[&server], &[], REQUEST_TIMEOUT)?;

    for chunked in [true, false] {
        let started = Instant::now();
        let mut stream = TcpStream::connect_timeout(&sidecar.addr(), IO_TIMEOUT)?;
        stream.set_read_timeout(Some(IO_TIMEOUT))?;
        stream.set_write_timeout(Some(IO_TIMEOUT))?;
        let framing = if chunked {
            "transfer-encoding: chunked".to_owned()
        } else {
            format!("content-length: {BODY_LEN}")
        };
        let head = format!(
            "PUT /upload HTTP/1.1\r\nhost: {}\r\n{framing}\r\n\r\n",
            server.host()
        );
        stream.write_all(head.as_bytes())?;
        // Stream the body from another thread: the sidecar may stop reading it once the
        // upstream is gone, and the answer must arrive regardless.
        let mut writer = stream.try_clone()?;
        let upload = std::thread::spawn(move || -> std::io::Result<()> {
            let block = vec![b'u'; 8 * 1024];
            for _ in 0..BODY_LEN / block.len() {
                if chunked {
                    writer.write_all(format!("{:x}\r\n", block.len()).as_bytes())?;
                    writer.write_all(&block)?;
                    writer.write_all(b"\r\n")?;
                } else {
                    writer.write_all(&block)?;
                }
            }
            if chunked {
                writer.write_all(b"0\r\n\r\n")?;
            }
            Ok(())
        });
        let response = read_response(&mut stream)?;
        let took = started.elapsed();
        assert_error(
            &response,
            502,
            "upstream-error",
            &format!("chunked={chunked}"),
        );
        assert!(took < ANSWER_BOUND, "chunked={chunked} took {took:?}");
        drop(stream);
        // The upload either finished or was cut off; it must not hang.
        let _ = upload.join().map_err(|_| "upload thread panicked")?;
    }
    assert_eq!(server.requests(), 2);
    assert_eq!(server.resets(), 2);
    Ok(())
}

/// Releases a gated fault server once `threshold` bytes have been read through it.
struct ReleaseAfter<'a, R> {
    inner: R,
    /// The start of what was read (the response head).
    head: Vec<u8>,
    seen: usize,
    threshold: usize,
    server: &'a FaultServer,
    released: bool,
}

impl<R: Read> Read for ReleaseAfter<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let keep = n.min(1024usize.saturating_sub(self.head.len()));
        self.head.extend_from_slice(&buf[..keep]);
        self.seen += n;
        if !self.released && self.seen >= self.threshold {
            self.released = true;
            self.server.release();
        }
        Ok(n)
    }
}

#[test]
fn reset_while_the_response_body_streams_truncates_http1_visibly() -> Result<(), BoxError> {
    let ca = FaultCa::generate()?;
    let sized = FaultServer::builder(
        Fault::ResetMidResponseBody { chunked: false },
        fault_host("reset-sized"),
    )
    .gated()
    .start(&ca)?;
    let chunked = FaultServer::builder(
        Fault::ResetMidResponseBody { chunked: true },
        fault_host("reset-chunked"),
    )
    .gated()
    .start(&ca)?;
    let healthy = FaultServer::start(Fault::Healthy, &ca, &fault_host("healthy"))?;
    let (sidecar, _dir) = sidecar_for(&ca, &[&sized, &chunked, &healthy], &[], REQUEST_TIMEOUT)?;

    for server in [&sized, &chunked] {
        let fault = server.fault();
        let started = Instant::now();
        let mut stream = TcpStream::connect_timeout(&sidecar.addr(), IO_TIMEOUT)?;
        stream.set_read_timeout(Some(ANSWER_BOUND))?;
        stream.set_write_timeout(Some(IO_TIMEOUT))?;
        // Keep-alive: the sidecar must close the connection itself.
        let head = format!("GET /download HTTP/1.1\r\nhost: {}\r\n\r\n", server.host());
        stream.write_all(head.as_bytes())?;
        let mut reader = ReleaseAfter {
            inner: &mut stream,
            head: Vec::new(),
            seen: 0,
            threshold: PARTIAL_BODY_LEN,
            server,
            released: false,
        };
        // The harness reader fails unless the body is complete.
        let outcome = read_response(&mut reader);
        let took = started.elapsed();
        assert!(reader.released, "{fault:?}: the partial body never arrived");
        // The upstream's headers were forwarded, with framing that lets the client tell
        // a short body from a complete one; then the body was cut.
        let head = String::from_utf8_lossy(&reader.head).to_ascii_lowercase();
        assert!(head.starts_with("http/1.1 200"), "{fault:?}: {head}");
        assert!(!head.contains(ERROR_HEADER), "{fault:?}: {head}");
        let framing = match fault {
            Fault::ResetMidResponseBody { chunked: true } => {
                "transfer-encoding: chunked".to_owned()
            }
            _ => format!("content-length: {ANNOUNCED_BODY_LEN}"),
        };
        assert!(head.contains(&framing), "{fault:?}: {head}");
        let error = outcome
            .err()
            .ok_or_else(|| format!("{fault:?}: a truncated body was delivered as complete"))?;
        assert!(
            error.to_string().contains("closed inside"),
            "{fault:?}: {error}"
        );
        assert!(took < ANSWER_BOUND, "{fault:?} took {took:?}");
        assert_eq!(server.resets(), 1, "{fault:?}");
    }
    // Both aborted responses are in the access log, as aborted and incomplete.
    let logs = sidecar.wait_for_log("host=reset-chunked")?;
    assert_eq!(aborted_in_log(&logs), 2, "{logs}");
    // And the sidecar carries on.
    let response = sidecar.get(healthy.host(), "/x")?;
    assert_eq!(response.status, 200, "{}", response.text());
    Ok(())
}

/// Access-log lines of `/download` responses cut short by the upstream.
fn aborted_in_log(logs: &str) -> usize {
    logs.lines()
        .filter(|l| {
            l.contains("path=/download")
                && l.contains("error=\"upstream-response-aborted\"")
                && l.contains("complete=false")
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_while_the_response_body_streams_resets_the_h2_stream() -> Result<(), BoxError> {
    let ca = FaultCa::generate()?;
    let server = FaultServer::builder(
        Fault::ResetMidResponseBody { chunked: false },
        fault_host("reset-h2"),
    )
    .gated()
    .start(&ca)?;
    let healthy = FaultServer::start(Fault::Healthy, &ca, &fault_host("healthy"))?;
    let (sidecar, _dir) = sidecar_for(&ca, &[&server, &healthy], &[], REQUEST_TIMEOUT)?;

    let stream = tokio::net::TcpStream::connect(sidecar.addr()).await?;
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream)).await?;
    let driver = tokio::spawn(connection);

    let run = async {
        let request = http::Request::get(format!("http://{}/download", server.host()))
            .body(Empty::<Bytes>::new())?;
        let response = sender.send_request(request).await?;
        assert_eq!(response.status(), 200);
        assert!(response.headers().get(ERROR_HEADER).is_none());
        let mut body = response.into_body();
        let mut received = 0usize;
        let outcome = loop {
            match body.frame().await {
                Some(Ok(frame)) => {
                    received += frame.data_ref().map_or(0, |d| d.len());
                    if received >= PARTIAL_BODY_LEN {
                        server.release();
                    }
                }
                Some(Err(error)) => break Err(error),
                None => break Ok(()),
            }
        };
        assert!(received >= PARTIAL_BODY_LEN, "received {received}");
        assert!(received < ANNOUNCED_BODY_LEN, "received {received}");
        let error = outcome
            .err()
            .ok_or("the h2 stream ended cleanly: a truncated body was delivered as complete")?;
        // hyper does not re-export h2's error; its Debug names the RST_STREAM.
        let debug = format!("{error:?}");
        assert!(debug.contains("Reset("), "not a stream reset: {debug}");

        // Only the stream was reset: the connection still carries requests.
        let request = http::Request::get(format!("http://{}/x", healthy.host()))
            .body(Empty::<Bytes>::new())?;
        let response = sender.send_request(request).await?;
        assert_eq!(response.status(), 200);
        let body = response.into_body().collect().await?.to_bytes();
        assert_eq!(&body[..], OK_BODY);
        Ok::<(), BoxError>(())
    };
    tokio::time::timeout(ANSWER_BOUND * 2, run)
        .await
        .map_err(|_| "h2 fault exchange hung")??;
    driver.abort();
    // The aborted stream's access line is written when its body is dropped, which can be
    // after the healthy request's line: wait for the abort itself.
    let logs = sidecar.wait_for_log("upstream-response-aborted")?;
    assert_eq!(aborted_in_log(&logs), 1, "{logs}");
    Ok(())
}

// === 10,000 faults ===

/// Requests in the resource test, and in its warm-up.
const FAULTY_REQUESTS: usize = 10_000;
const WARM_UP_REQUESTS: usize = 1_000;
/// Concurrent keep-alive client connections.
const CONCURRENCY: usize = 64;
/// `--request-timeout` there: short, since a few percent of requests wait it out.
const LOAD_REQUEST_TIMEOUT: Duration = Duration::from_secs(1);
/// Fast faults that may still hit the request timeout when the machine stalls for a
/// second (the timeout covers connect, handshake and upload too). A misclassification
/// would show up in hundreds of requests, not a handful.
const LATE_ALLOWANCE: usize = FAULTY_REQUESTS / 1000;
/// The whole run must finish within this on a loaded 2-core machine (typically ~10 s).
const LOAD_BOUND: Duration = Duration::from_secs(120);
/// Request body of the upload faults, and where the upstream resets it.
const UPLOAD_LEN: usize = 64 * 1024;
const UPLOAD_RESET_AFTER: usize = 16 * 1024;
/// After the run, the sidecar's RSS may exceed the warmed-up baseline by this much: the
/// allocator keeps some freed pages, and per-connection buffers differ run to run. A
/// leak of even 1 KiB per faulty request would be ~10 MiB, well over it.
const RSS_TOLERANCE_KIB: u64 = 4 * 1024;
/// How long descriptors may take to return to baseline once the clients are gone.
const SETTLE_BOUND: Duration = Duration::from_secs(15);

/// One slot per 1/40 of the traffic, so every fault recurs every 40 requests and the
/// slow ones (which wait out the request timeout) stay a small share.
const MIX: [Fault; 39] = [
    Fault::TlsGarbage,
    Fault::TlsGarbage,
    Fault::TlsGarbage,
    Fault::TlsGarbage,
    Fault::TlsClose,
    Fault::TlsClose,
    Fault::TlsClose,
    Fault::TlsClose,
    Fault::TlsReset,
    Fault::TlsReset,
    Fault::TlsReset,
    Fault::TlsReset,
    Fault::UntrustedCertificate,
    Fault::UntrustedCertificate,
    Fault::UntrustedCertificate,
    Fault::WrongHostCertificate,
    Fault::WrongHostCertificate,
    Fault::WrongHostCertificate,
    Fault::ExpiredCertificate,
    Fault::ExpiredCertificate,
    Fault::ExpiredCertificate,
    Fault::ResetMidRequestBody {
        after: UPLOAD_RESET_AFTER,
    },
    Fault::ResetMidRequestBody {
        after: UPLOAD_RESET_AFTER,
    },
    Fault::ResetMidRequestBody {
        after: UPLOAD_RESET_AFTER,
    },
    Fault::ResetMidRequestBody {
        after: UPLOAD_RESET_AFTER,
    },
    Fault::ResetMidRequestBody {
        after: UPLOAD_RESET_AFTER,
    },
    Fault::ResetMidResponseBody { chunked: false },
    Fault::ResetMidResponseBody { chunked: false },
    Fault::ResetMidResponseBody { chunked: false },
    Fault::ResetMidResponseBody { chunked: true },
    Fault::ResetMidResponseBody { chunked: true },
    Fault::NoResponse,
    Fault::SlowHeaders {
        delay: Duration::from_secs(5),
    },
    Fault::TlsStall,
    Fault::AmbiguousResponseFraming,
    Fault::Healthy,
    Fault::Healthy,
    Fault::Healthy,
    Fault::Healthy,
];
/// Slots (of 40) that go to a refused port.
const REFUSED_SLOTS: usize = 40 - MIX.len();

/// What the test client saw.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    /// A synthetic response: status and `x-lattice-sidecar-error`.
    Synthetic(u16, String),
    /// A response whose body arrived in full.
    Complete(u16, Vec<u8>),
    /// Headers, then a body error: the truncation was visible.
    Truncated(u16),
    /// No response at all (the client's error).
    Failed(String),
    /// No answer within the client's bound.
    Hung,
}

/// Whether `outcome` is the documented answer to `target` (`None`: refused port).
fn expected(target: Option<Fault>, outcome: &Outcome) -> bool {
    let synthetic = |status: u16, code: &str| *outcome == Outcome::Synthetic(status, code.into());
    match target {
        None => synthetic(502, "upstream-connect-failed"),
        Some(Fault::Healthy) => *outcome == Outcome::Complete(200, OK_BODY.to_vec()),
        Some(
            Fault::TlsGarbage
            | Fault::TlsClose
            | Fault::TlsReset
            | Fault::UntrustedCertificate
            | Fault::WrongHostCertificate
            | Fault::ExpiredCertificate,
        ) => synthetic(502, "upstream-tls-failed"),
        Some(Fault::ResetMidRequestBody { .. }) => synthetic(502, "upstream-error"),
        // Ungated, the reset may land before the headers are read (502) or after (the
        // client sees the truncation); never a complete-looking body.
        Some(Fault::ResetMidResponseBody { .. }) => {
            *outcome == Outcome::Truncated(200) || synthetic(502, "upstream-error")
        }
        Some(Fault::NoResponse | Fault::SlowHeaders { .. } | Fault::TlsStall) => {
            synthetic(504, "upstream-timeout")
        }
        Some(Fault::AmbiguousResponseFraming) => synthetic(502, "upstream-invalid-response"),
    }
}

type LoadClient = hyper_util::client::legacy::Client<
    hyper_util::client::legacy::connect::HttpConnector,
    http_body_util::Full<Bytes>,
>;

async fn send(
    client: &LoadClient,
    sidecar: SocketAddr,
    host: &str,
    target: Option<Fault>,
    upload: &Bytes,
) -> Outcome {
    let upload_fault = matches!(target, Some(Fault::ResetMidRequestBody { .. }));
    let mut request = http::Request::builder()
        .uri(format!("http://{sidecar}/fault"))
        .header(http::header::HOST, host);
    let body = if upload_fault {
        // The sidecar cannot reuse a connection whose request body it stopped reading.
        request = request
            .method(http::Method::PUT)
            .header(http::header::CONNECTION, "close");
        http_body_util::Full::new(upload.clone())
    } else {
        http_body_util::Full::new(Bytes::new())
    };
    let request = match request.body(body) {
        Ok(request) => request,
        Err(error) => return Outcome::Failed(error.to_string()),
    };
    let exchange = async {
        let response = match client.request(request).await {
            Ok(response) => response,
            Err(error) => return Outcome::Failed(format!("{error:?}")),
        };
        let status = response.status().as_u16();
        if let Some(code) = response.headers().get(ERROR_HEADER) {
            return Outcome::Synthetic(status, code.to_str().unwrap_or("?").to_owned());
        }
        match response.into_body().collect().await {
            Ok(body) => Outcome::Complete(status, body.to_bytes().to_vec()),
            Err(_) => Outcome::Truncated(status),
        }
    };
    tokio::time::timeout(ANSWER_BOUND, exchange)
        .await
        .unwrap_or(Outcome::Hung)
}

/// A fast fault answered by the request timeout: legitimate only if the machine stalled.
fn late(target: Option<Fault>, outcome: &Outcome) -> bool {
    !matches!(
        target,
        Some(Fault::NoResponse | Fault::SlowHeaders { .. } | Fault::TlsStall)
    ) && *outcome == Outcome::Synthetic(504, "upstream-timeout".into())
}

/// What [`run_mix`] saw besides the expected.
#[derive(Debug, Default)]
struct MixReport {
    /// Unexpected outcomes (the first 20).
    unexpected: Vec<String>,
    /// How many outcomes were unexpected.
    unexpected_count: usize,
    /// Fast faults answered by the request timeout.
    late: Vec<String>,
}

/// Send `count` requests over the mix with [`CONCURRENCY`] keep-alive connections.
async fn run_mix(
    sidecar: SocketAddr,
    routes: &[(Option<Fault>, String)],
    count: usize,
) -> MixReport {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    let client: LoadClient = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(CONCURRENCY)
        .build_http();
    let next = Arc::new(AtomicUsize::new(0));
    let routes: Arc<[(Option<Fault>, String)]> = routes.into();
    let upload = Bytes::from(vec![b'u'; UPLOAD_LEN]);
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..CONCURRENCY {
        let (client, next, routes, upload) =
            (client.clone(), next.clone(), routes.clone(), upload.clone());
        workers.spawn(async move {
            let mut report = MixReport::default();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    return report;
                }
                let (target, host) = &routes[i % routes.len()];
                let outcome = send(&client, sidecar, host, *target, &upload).await;
                if late(*target, &outcome) {
                    report.late.push(format!("#{i} {target:?}"));
                } else if !expected(*target, &outcome) {
                    report
                        .unexpected
                        .push(format!("#{i} {target:?}: {outcome:?}"));
                }
            }
        });
    }
    let mut report = MixReport::default();
    while let Some(joined) = workers.join_next().await {
        match joined {
            Ok(found) => {
                report.unexpected.extend(found.unexpected);
                report.late.extend(found.late);
            }
            Err(error) => report.unexpected.push(format!("worker failed: {error}")),
        }
    }
    report.unexpected_count = report.unexpected.len();
    report.unexpected.truncate(20);
    report
}

fn open_fds(pid: u32) -> Result<Vec<String>, BoxError> {
    let mut fds = Vec::new();
    for entry in std::fs::read_dir(format!("/proc/{pid}/fd"))? {
        let entry = entry?;
        // A descriptor may close between listing and reading the link.
        let target = std::fs::read_link(entry.path())
            .map(|t| t.display().to_string())
            .unwrap_or_else(|_| "?".to_owned());
        fds.push(format!(
            "{} -> {target}",
            entry.file_name().to_string_lossy()
        ));
    }
    fds.sort();
    Ok(fds)
}

/// Wait until the descriptor count has not changed for a second (bounded).
async fn settled_fds(pid: u32) -> Result<Vec<String>, BoxError> {
    let deadline = Instant::now() + SETTLE_BOUND;
    let mut last = open_fds(pid)?;
    let mut stable_since = Instant::now();
    while stable_since.elapsed() < Duration::from_secs(1) {
        if Instant::now() >= deadline {
            return Err(format!("descriptors never settled: {last:#?}").into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = open_fds(pid)?;
        if now.len() != last.len() {
            stable_since = Instant::now();
        }
        last = now;
    }
    Ok(last)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_faults_leave_descriptors_and_memory_at_baseline() -> Result<(), BoxError> {
    let ca = FaultCa::generate()?;
    let mut servers: Vec<FaultServer> = Vec::new();
    let mut routes: Vec<(Option<Fault>, String)> = Vec::new();
    for (slot, fault) in MIX.iter().enumerate() {
        let existing = servers.iter().position(|s| s.fault() == *fault);
        let index = match existing {
            Some(index) => index,
            None => {
                let label = format!("load-{slot}");
                servers.push(FaultServer::start(*fault, &ca, &fault_host(&label))?);
                servers.len() - 1
            }
        };
        routes.push((Some(*fault), servers[index].host().to_owned()));
    }
    let refused_host = fault_host("load-refused");
    let refused = free_port()?;
    for slot in 0..REFUSED_SLOTS {
        // Spread the refused slots through the cycle.
        routes.insert(slot * 10, (None, refused_host.clone()));
    }
    assert_eq!(routes.len(), 40);
    let (sidecar, _dir) = sidecar_for(
        &ca,
        &servers.iter().collect::<Vec<_>>(),
        &[(&refused_host, refused)],
        LOAD_REQUEST_TIMEOUT,
    )?;
    let pid = sidecar.pid();

    // Warm up (pools, allocator arenas, TLS session state), then take the baseline.
    let warm_up = run_mix(sidecar.addr(), &routes, WARM_UP_REQUESTS).await;
    assert_eq!(warm_up.unexpected_count, 0, "warm-up: {warm_up:#?}");
    let baseline_fds = settled_fds(pid).await?;
    let baseline_rss = sidecar.memory_kib("VmRSS")?;

    // Sample descriptors during the run, to show the run did open connections (so
    // getting back to baseline means something).
    let (stop_sampling, mut stopped) = tokio::sync::oneshot::channel::<()>();
    let sampler = tokio::spawn(async move {
        let mut peak = 0;
        loop {
            peak = peak.max(open_fds(pid).map_or(0, |fds| fds.len()));
            tokio::select! {
                _ = &mut stopped => return peak,
                () = tokio::time::sleep(Duration::from_millis(20)) => {}
            }
        }
    });
    let started = Instant::now();
    let report = run_mix(sidecar.addr(), &routes, FAULTY_REQUESTS).await;
    let took = started.elapsed();
    let _ = stop_sampling.send(());
    let peak_fds = sampler.await?;
    assert!(
        peak_fds > baseline_fds.len() + CONCURRENCY / 2,
        "only {peak_fds} descriptors at peak (baseline {})",
        baseline_fds.len()
    );
    assert_eq!(
        report.unexpected_count, 0,
        "{} unexpected outcomes, e.g. {:#?}",
        report.unexpected_count, report.unexpected
    );
    assert!(
        report.late.len() <= LATE_ALLOWANCE,
        "{} fast faults hit the request timeout: {:#?}",
        report.late.len(),
        report.late
    );
    assert!(took < LOAD_BOUND, "{FAULTY_REQUESTS} faults took {took:?}");
    let peak_rss = sidecar.memory_kib("VmHWM")?;

    // Descriptors: exactly back to baseline once the clients have gone.
    let deadline = Instant::now() + SETTLE_BOUND;
    let after_fds = loop {
        let fds = open_fds(pid)?;
        if fds.len() <= baseline_fds.len() || Instant::now() >= deadline {
            break fds;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        after_fds.len(),
        baseline_fds.len(),
        "descriptors after {FAULTY_REQUESTS} faults: {after_fds:#?}\nbaseline: {baseline_fds:#?}"
    );
    let after_rss = sidecar.memory_kib("VmRSS")?;
    eprintln!(
        "{FAULTY_REQUESTS} faults in {took:?} ({} late): fds {} -> {} (peak {peak_fds}), VmRSS {baseline_rss} KiB -> {after_rss} KiB (peak {peak_rss} KiB)",
        report.late.len(),
        baseline_fds.len(),
        after_fds.len()
    );
    assert!(
        after_rss <= baseline_rss + RSS_TOLERANCE_KIB,
        "VmRSS grew from {baseline_rss} KiB to {after_rss} KiB over {FAULTY_REQUESTS} faults"
    );

    // Every fault server was exercised, and the sidecar still answers.
    for server in &servers {
        assert!(
            server.connections() > 0,
            "{:?} never reached",
            server.fault()
        );
    }
    let healthy = servers
        .iter()
        .find(|s| s.fault() == Fault::Healthy)
        .ok_or("no healthy server")?;
    let response = sidecar.get(healthy.host(), "/x")?;
    assert_eq!(response.status, 200, "{}", response.text());
    Ok(())
}

// Reproduction (before): an upstream response with both Content-Length and
// Transfer-Encoding gave the client an empty reply, while the access log said
// `status=200 complete=true`.
#[test]
fn a_response_with_ambiguous_framing_is_a_502_and_logged_as_one() -> Result<(), BoxError> {
    let ca = FaultCa::generate()?;
    let server = FaultServer::start(
        Fault::AmbiguousResponseFraming,
        &ca,
        &fault_host("ambiguous-response"),
    )?;
    let (sidecar, _dir) = sidecar_for(&ca, &[&server], &[], REQUEST_TIMEOUT)?;
    let response = sidecar.get(server.host(), "/x")?;
    assert_error(
        &response,
        502,
        "upstream-invalid-response",
        "Content-Length with Transfer-Encoding",
    );
    assert!(
        response
            .text()
            .contains("Content-Length and Transfer-Encoding"),
        "{}",
        response.text()
    );
    assert_eq!(server.requests(), 1);
    let logs = sidecar.wait_for_log("error=\"upstream-invalid-response\"")?;
    let line = logs
        .lines()
        .find(|l| l.contains("error=\"upstream-invalid-response\""))
        .unwrap_or_default();
    assert!(line.contains("status=502"), "{line}");
    assert!(!logs.contains("status=200"), "{logs}");
    Ok(())
}
