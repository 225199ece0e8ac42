//! Hostile input at the sidecar's proxy port, as raw HTTP/1.1 bytes (and a few h2c
//! requests): every malformed, ambiguous or smuggling-shaped request is refused with a
//! 4xx before anything is signed or sent, and the sidecar keeps serving.
//!
//! Two kinds of refusal: the sidecar's own (status plus `x-lattice-sidecar-error`, one
//! line of text), and hyper's HTTP/1 parser, which answers malformed heads itself with a
//! bare `400`/`431` (no body, no sidecar header) and closes the connection.

use std::io::Read;
use std::net::TcpStream;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use lattice_emulator::{Emulator, ORDERS_HOST};
use lattice_tests::sidecar::{BoxError, IO_TIMEOUT, RawResponse, Sidecar, http1, read_response};

const ERROR_HEADER: &str = "x-lattice-sidecar-error";

fn describe(raw: &[u8]) -> String {
    String::from_utf8_lossy(raw).chars().take(160).collect()
}

/// A refusal by the sidecar: status, code, one line of text.
fn assert_refused(raw: &[u8], response: &RawResponse, status: u16, code: &str) {
    let what = describe(raw);
    assert_eq!(response.status, status, "{what:?}: {}", response.text());
    assert_eq!(
        response.header(ERROR_HEADER),
        Some(code),
        "{what:?}: {:?}",
        response.headers
    );
    let body = response.text();
    assert!(
        body.starts_with("lattice-sidecar: ") && body.trim_end().lines().count() == 1,
        "{what:?}: {body}"
    );
}

/// A refusal by hyper's parser: a bare status, no sidecar header, no body.
fn assert_parser_refused(raw: &[u8], response: &RawResponse, status: u16) {
    let what = describe(raw);
    assert_eq!(response.status, status, "{what:?}: {}", response.text());
    assert_eq!(response.header(ERROR_HEADER), None, "{what:?}");
    assert!(response.body.is_empty(), "{what:?}: {}", response.text());
}

fn assert_nothing_sent(emulator: &Emulator) {
    assert!(
        emulator.requests().is_empty(),
        "upstream saw {:?}",
        emulator.requests()
    );
}

/// Send `raw`, read one response, then require the sidecar to close the connection.
fn request_then_closed(sidecar: &Sidecar, raw: &[u8]) -> Result<RawResponse, BoxError> {
    let mut stream = TcpStream::connect_timeout(&sidecar.addr(), IO_TIMEOUT)?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    std::io::Write::write_all(&mut stream, raw)?;
    let response = read_response(&mut stream)?;
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest)?;
    assert!(
        rest.is_empty(),
        "{:?}: more after the response: {}",
        describe(raw),
        String::from_utf8_lossy(&rest)
    );
    Ok(response)
}

/// Send `raw` (two pipelined requests) on one connection and read both responses.
fn two_responses(sidecar: &Sidecar, raw: &[u8]) -> Result<(RawResponse, RawResponse), BoxError> {
    let mut stream = TcpStream::connect_timeout(&sidecar.addr(), IO_TIMEOUT)?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    std::io::Write::write_all(&mut stream, raw)?;
    // `read_response` reads ahead; one byte at a time leaves the second response unread.
    let mut reader = OneByteAtATime(stream);
    let first = read_response(&mut reader)?;
    let second = read_response(&mut reader)?;
    Ok((first, second))
}

struct OneByteAtATime(TcpStream);

impl Read for OneByteAtATime {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let len = buf.len().min(1);
        self.0.read(&mut buf[..len])
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_heads_get_a_bare_400_from_the_parser() -> Result<(), BoxError> {
    let emulator = Emulator::builder().start().await?;
    let sidecar = Sidecar::builder().emulator(&emulator).spawn()?;
    let o = ORDERS_HOST;
    let cases: Vec<Vec<u8>> = vec![
        // Malformed request lines.
        b"GET /echo HTTP/1.1 extra\r\nHost: x\r\n\r\n".to_vec(),
        b"GET  /echo HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        b"GET /ec ho HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        b"G(T /echo HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        // Invalid header bytes: NUL, DEL, a bare CR, a space in or before the name's colon.
        format!("GET /echo HTTP/1.1\r\nHost: {o}\r\nX-A: a\x00b\r\n\r\n").into_bytes(),
        format!("GET /echo HTTP/1.1\r\nHost: {o}\r\nX-A: a\x7fb\r\n\r\n").into_bytes(),
        format!("GET /echo HTTP/1.1\r\nHost: {o}\r\nX-A: a\rb\r\n\r\n").into_bytes(),
        format!("GET /echo HTTP/1.1\r\nHost: {o}\r\nX A: ab\r\n\r\n").into_bytes(),
        format!("GET /echo HTTP/1.1\r\nHost: {o}\r\nX-A : ab\r\n\r\n").into_bytes(),
        // obs-fold continuation lines (RFC 9112 §5.2), including one that would extend Host.
        format!("GET /echo HTTP/1.1\r\nHost: {o}\r\nX-A: a\r\n b\r\n\r\n").into_bytes(),
        format!("GET /echo HTTP/1.1\r\nHost: example.com\r\n {o}\r\n\r\n").into_bytes(),
        // Content-Length that disagrees with itself.
        format!("POST /echo HTTP/1.1\r\nHost: {o}\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!").into_bytes(),
        format!("POST /echo HTTP/1.1\r\nHost: {o}\r\nContent-Length: 5, 6\r\n\r\nhello!").into_bytes(),
        format!("POST /echo HTTP/1.1\r\nHost: {o}\r\nContent-Length: -1\r\n\r\n").into_bytes(),
        // Transfer-Encoding whose final coding is not chunked.
        format!("POST /echo HTTP/1.1\r\nHost: {o}\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n").into_bytes(),
        format!("POST /echo HTTP/1.1\r\nHost: {o}\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n").into_bytes(),
        // Transfer-Encoding in HTTP/1.0.
        format!("POST /echo HTTP/1.0\r\nHost: {o}\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n").into_bytes(),
        // Hosts the URI grammar refuses: a percent-encoded dot, a Unicode full stop.
        format!("GET http://{o}%2eevil.com/echo HTTP/1.1\r\n\r\n").into_bytes(),
        b"GET http://%6frders.vpc-lattice-svcs.us-west-2.on.aws/ HTTP/1.1\r\n\r\n".to_vec(),
        "GET http://orders.vpc-lattice-svcs.us-west-2.on.aws\u{ff0e}evil.com/ HTTP/1.1\r\n\r\n"
            .as_bytes()
            .to_vec(),
    ];
    for raw in &cases {
        let response = request_then_closed(&sidecar, raw)?;
        assert_parser_refused(raw, &response, 400);
    }
    assert_nothing_sent(&emulator);
    sidecar.assert_still_serving(ORDERS_HOST)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_heads_get_431() -> Result<(), BoxError> {
    let emulator = Emulator::builder().start().await?;
    let sidecar = Sidecar::builder().emulator(&emulator).spawn()?;
    let o = ORDERS_HOST;
    // Past the sidecar's 64 KiB head limit: one large header, a long target, many headers
    // (more than 100).
    let large = "a".repeat(66 * 1024);
    let many: String = (0..101).map(|i| format!("X-H{i}: v\r\n")).collect();
    let cases = [
        format!("GET /echo HTTP/1.1\r\nHost: {o}\r\nX-Large: {large}\r\n\r\n"),
        format!("GET /echo?{large} HTTP/1.1\r\nHost: {o}\r\n\r\n"),
        format!("GET /echo HTTP/1.1\r\nHost: {o}\r\n{many}\r\n"),
    ];
    for raw in &cases {
        let response = request_then_closed(&sidecar, raw.as_bytes())?;
        assert_parser_refused(raw.as_bytes(), &response, 431);
    }
    assert_nothing_sent(&emulator);

    // Well inside the limits: forwarded.
    let fine: String = (0..90).map(|i| format!("X-H{i}: v\r\n")).collect();
    let medium = "b".repeat(8 * 1024);
    let response = sidecar.request(&format!(
        "GET /echo HTTP/1.1\r\nHost: {o}\r\nX-Medium: {medium}\r\n{fine}Connection: close\r\n\r\n"
    ))?;
    assert_eq!(response.status, 200, "{}", response.text());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_smuggling_shapes_are_refused() -> Result<(), BoxError> {
    let emulator = Emulator::builder().start().await?;
    let sidecar = Sidecar::builder().emulator(&emulator).spawn()?;
    let o = ORDERS_HOST;

    // Content-Length and Transfer-Encoding (either order), or Content-Length twice (even
    // equal): hyper alone would accept these as RFC 9112 allows, so the sidecar's framing
    // watch refuses them, closes the connection, and the bytes a Content-Length reader would
    // see as a second request never become one.
    let smuggled = format!("GET /smuggled HTTP/1.1\r\nHost: {o}\r\n\r\n");
    let ambiguous = [
        format!(
            "Content-Length: {}\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            5 + smuggled.len()
        ),
        format!(
            "Transfer-Encoding: chunked\r\nContent-Length: {}\r\n\r\n0\r\n\r\n",
            5 + smuggled.len()
        ),
        "Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello".to_owned(),
    ];
    for framing in ambiguous {
        emulator.clear_requests();
        let raw = format!("POST /echo HTTP/1.1\r\nHost: {o}\r\n{framing}{smuggled}");
        let response = request_then_closed(&sidecar, raw.as_bytes())?;
        assert_refused(raw.as_bytes(), &response, 400, "ambiguous-framing");
        assert_eq!(response.header("connection"), Some("close"));
        assert_nothing_sent(&emulator);

        // The same shape after a good request on one keep-alive connection: the good one is
        // answered, the ambiguous one refused, the smuggled one never sent.
        emulator.clear_requests();
        let good = format!("GET /echo HTTP/1.1\r\nHost: {o}\r\n\r\n");
        let (first, second) = two_responses(&sidecar, format!("{good}{raw}").as_bytes())?;
        assert_eq!(first.status, 200, "{}", first.text());
        assert_refused(raw.as_bytes(), &second, 400, "ambiguous-framing");
        let seen: Vec<String> = emulator.requests().into_iter().map(|r| r.path).collect();
        assert_eq!(seen, ["/echo"]);
    }

    // A coding before chunked: hyper would strip only the chunked framing and pass the
    // gzip-coded bytes on as content, so the sidecar refuses it.
    emulator.clear_requests();
    let raw = format!(
        "POST /echo HTTP/1.1\r\nHost: {o}\r\nTransfer-Encoding: gzip, chunked\r\nConnection: close\r\n\r\n0\r\n\r\n"
    );
    let response = http1(sidecar.addr(), raw.as_bytes())?;
    assert_refused(raw.as_bytes(), &response, 400, "invalid-request");
    assert_nothing_sent(&emulator);
    sidecar.assert_still_serving(ORDERS_HOST)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ambiguous_or_disallowed_hosts_are_refused() -> Result<(), BoxError> {
    let emulator = Emulator::builder().start().await?;
    let sidecar = Sidecar::builder().emulator(&emulator).spawn()?;
    let o = ORDERS_HOST;
    let close = "Connection: close\r\n\r\n";
    let cases: Vec<(String, u16, &str)> = vec![
        // The absolute-form URI and Host name different hosts (or ports).
        (format!("GET http://{o}/echo HTTP/1.1\r\nHost: example.com\r\n{close}"), 400, "invalid-host"),
        (format!("GET http://{o}/echo HTTP/1.1\r\nHost: {o}:443\r\n{close}"), 400, "invalid-host"),
        // ... or a Host that names no host at all.
        (
            format!("GET http://{o}/echo HTTP/1.1\r\nHost: {o}/x\r\n{close}"),
            400,
            "invalid-host",
        ),
        (
            format!("GET http://{o}/echo HTTP/1.1\r\nHost:\r\n{close}"),
            400,
            "invalid-host",
        ),
        // User info, in the URI or Host, including an encoded-slash trick.
        (format!("GET http://user:pass@{o}/echo HTTP/1.1\r\nHost: {o}\r\n{close}"), 400, "invalid-host"),
        (format!("GET http://{o}@evil.example/echo HTTP/1.1\r\n{close}"), 400, "invalid-host"),
        (format!("GET http://{o}%2F@evil.example/echo HTTP/1.1\r\n{close}"), 400, "invalid-host"),
        (format!("GET /echo HTTP/1.1\r\nHost: {o}%2F@evil.example\r\n{close}"), 400, "invalid-host"),
        // Bytes no host[:port] has.
        (format!("GET /echo HTTP/1.1\r\nHost: {o}%00.evil.example\r\n{close}"), 400, "invalid-host"),
        ("GET /echo HTTP/1.1\r\nHost: orders.vpc-lattice-svcs.us-west-2.on.aws\u{ff0e}evil.com\r\nConnection: close\r\n\r\n".to_owned(), 400, "invalid-host"),
        // Ports outside 1-65535.
        (format!("GET /echo HTTP/1.1\r\nHost: {o}:99999\r\n{close}"), 400, "invalid-host"),
        (format!("GET http://{o}:0/echo HTTP/1.1\r\n{close}"), 400, "invalid-host"),
        // Schemes other than http and https.
        (format!("GET ftp://{o}/echo HTTP/1.1\r\n{close}"), 400, "invalid-request"),
        // Absolute-form to hosts off the allow-list.
        (format!("GET http://{o}.evil.example/echo HTTP/1.1\r\n{close}"), 403, "host-not-allowed"),
        (format!("GET http://169.254.169.254/latest/meta-data/ HTTP/1.1\r\n{close}"), 403, "host-not-allowed"),
        (format!("GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\n{close}"), 403, "host-not-allowed"),
        // Off the allow-list is reported as such even when Host names an allowed service.
        (format!("GET http://example.com/echo HTTP/1.1\r\nHost: {o}\r\n{close}"), 403, "host-not-allowed"),
        // Percent-encoding is not part of a host[:port].
        (format!("GET /echo HTTP/1.1\r\nHost: {o}%2eevil.example\r\n{close}"), 400, "invalid-host"),
        // IP literals: IPv6, IPv4-mapped IPv6, IPv4 and its integer / hex spellings.
        (format!("GET http://[::1]/echo HTTP/1.1\r\n{close}"), 403, "host-not-allowed"),
        (format!("GET http://[::ffff:127.0.0.1]:443/echo HTTP/1.1\r\n{close}"), 403, "host-not-allowed"),
        (format!("GET /echo HTTP/1.1\r\nHost: [::1]:8080\r\n{close}"), 403, "host-not-allowed"),
        (format!("GET http://127.0.0.1/echo HTTP/1.1\r\n{close}"), 403, "host-not-allowed"),
        (format!("GET http://2130706433/echo HTTP/1.1\r\n{close}"), 403, "host-not-allowed"),
        (format!("GET http://0x7f.1/echo HTTP/1.1\r\n{close}"), 403, "host-not-allowed"),
    ];
    for (raw, status, code) in &cases {
        let response = http1(sidecar.addr(), raw.as_bytes())?;
        assert_refused(raw.as_bytes(), &response, *status, code);
        if raw.contains('@') {
            assert!(response.text().contains("user info"), "{}", response.text());
        }
    }
    assert_nothing_sent(&emulator);

    // The same name spelled differently is the same host: accepted, sent to that service.
    let upper = o.to_ascii_uppercase();
    for raw in [
        format!("GET http://{o}/echo HTTP/1.1\r\nHost: {upper}.:80\r\n{close}"),
        format!("GET http://{upper}/echo HTTP/1.1\r\n{close}"),
        format!("GET /echo HTTP/1.1\r\nHost: {o}.\r\n{close}"),
    ] {
        let response = sidecar.request(&raw)?;
        assert_eq!(response.status, 200, "{raw:?}: {}", response.text());
    }
    let hosts: Vec<Option<String>> = emulator.requests().into_iter().map(|r| r.host).collect();
    assert_eq!(hosts, vec![Some(o.to_owned()); 3]);
    Ok(())
}

/// One h2c (prior knowledge) request with `authority` as `:authority` and an optional
/// `host` header. Returns the status and the sidecar error code.
async fn h2c(
    sidecar: &Sidecar,
    authority: &str,
    host: Option<&str>,
    extra: Option<(&str, String)>,
) -> Result<(u16, Option<String>), BoxError> {
    let mut request = http::Request::builder().uri(format!("http://{authority}/echo"));
    if let Some(host) = host {
        request = request.header(http::header::HOST, host);
    }
    if let Some((name, value)) = extra {
        request = request.header(name, value);
    }
    send_h2c(sidecar, request).await
}

/// Send `request` over a new h2c connection and read the whole response: its status and
/// the sidecar error code.
async fn send_h2c(
    sidecar: &Sidecar,
    request: http::request::Builder,
) -> Result<(u16, Option<String>), BoxError> {
    let stream = tokio::net::TcpStream::connect(sidecar.addr()).await?;
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream)).await?;
    let driver = tokio::spawn(connection);
    let request = request.body(Empty::<Bytes>::new())?;
    let response = tokio::time::timeout(IO_TIMEOUT, sender.send_request(request)).await??;
    let status = response.status().as_u16();
    let code = response
        .headers()
        .get(ERROR_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    tokio::time::timeout(IO_TIMEOUT, response.into_body().collect()).await??;
    drop(sender);
    let _ = tokio::time::timeout(Duration::from_secs(5), driver).await;
    Ok((status, code))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2c_authority_and_host_must_agree() -> Result<(), BoxError> {
    let emulator = Emulator::builder().start().await?;
    let sidecar = Sidecar::builder().emulator(&emulator).spawn()?;
    let o = ORDERS_HOST;
    let refused = [
        (o, Some("example.com"), None, 400, Some("invalid-host")),
        ("example.com", Some(o), None, 403, Some("host-not-allowed")),
        ("example.com", None, None, 403, Some("host-not-allowed")),
        ("[::1]:8080", None, None, 403, Some("host-not-allowed")),
        // A header list past the 64 KiB limit: h2 answers 431 itself.
        (o, None, Some(("x-large", "a".repeat(66 * 1024))), 431, None),
    ];
    for (authority, host, extra, status, code) in refused {
        let got = h2c(&sidecar, authority, host, extra).await?;
        assert_eq!(
            got,
            (status, code.map(str::to_owned)),
            "{authority} {host:?}"
        );
    }
    assert_nothing_sent(&emulator);
    // Agreeing ones go through.
    let upper = o.to_ascii_uppercase();
    assert_eq!(h2c(&sidecar, o, None, None).await?, (200, None));
    assert_eq!(h2c(&sidecar, o, Some(&upper), None).await?, (200, None));
    assert_eq!(emulator.requests().len(), 2);
    Ok(())
}

// Reproduction (before): after an `Upgrade` or `CONNECT` request, the framing guard stopped
// watching the connection, and a following request with both Content-Length and
// Transfer-Encoding was signed and forwarded (200). `Upgrade: websocket` was silently served
// as a plain request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_framing_guard_holds_after_upgrade_and_connect() -> Result<(), BoxError> {
    let emulator = Emulator::builder().start().await?;
    let sidecar = Sidecar::builder().emulator(&emulator).spawn()?;
    let o = ORDERS_HOST;
    let ambiguous = format!(
        "POST /echo HTTP/1.1\r\nHost: {o}\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
    );

    // `Upgrade: h2c` is ignored (the request is served as HTTP/1.1, as curl --http2
    // expects); the guard still sees the next request.
    let h2c = format!(
        "GET /echo HTTP/1.1\r\nHost: {o}\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\
         Connection: Upgrade, HTTP2-Settings\r\n\r\n"
    );
    let (first, second) = two_responses(&sidecar, format!("{h2c}{ambiguous}").as_bytes())?;
    assert_eq!(first.status, 200, "{}", first.text());
    assert_refused(ambiguous.as_bytes(), &second, 400, "ambiguous-framing");
    let seen = emulator.requests();
    assert_eq!(seen.len(), 1, "{seen:?}");

    // Any other upgrade, and CONNECT, are refused, and the connection is closed: what the
    // client sends next is not a request the sidecar should read.
    emulator.clear_requests();
    for (raw, status, code) in [
        (
            format!(
                "GET /ws HTTP/1.1\r\nHost: {o}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ),
            501,
            "upgrade-not-supported",
        ),
        (
            format!("CONNECT {o}:443 HTTP/1.1\r\nHost: {o}:443\r\n\r\n"),
            405,
            "connect-not-supported",
        ),
    ] {
        let stream = format!("{raw}{ambiguous}");
        let response = request_then_closed(&sidecar, stream.as_bytes())?;
        assert_refused(raw.as_bytes(), &response, status, code);
        assert_eq!(response.header("connection"), Some("close"));
    }
    assert_nothing_sent(&emulator);
    sidecar.assert_still_serving(ORDERS_HOST)
}

// Reproduction (before): a chunk size of `-1` in a request body was reported as 502
// `upstream-error`, blaming the upstream for the client's malformed body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_request_body_is_the_clients_error() -> Result<(), BoxError> {
    let emulator = Emulator::builder().start().await?;
    let sidecar = Sidecar::builder().emulator(&emulator).spawn()?;
    let o = ORDERS_HOST;
    // Bad chunk sizes, and a body cut short (the client half-closes mid-chunk).
    for (body, cut_short) in [
        ("3\r\nabc\r\n-1\r\nabc\r\n0\r\n\r\n", false),
        ("3\r\nabc\r\nzz\r\nabc\r\n0\r\n\r\n", false),
        ("3\r\nabc\r\n5\r\nab", true),
    ] {
        let raw =
            format!("POST /echo HTTP/1.1\r\nHost: {o}\r\nTransfer-Encoding: chunked\r\n\r\n{body}");
        let mut stream = TcpStream::connect_timeout(&sidecar.addr(), IO_TIMEOUT)?;
        stream.set_read_timeout(Some(IO_TIMEOUT))?;
        std::io::Write::write_all(&mut stream, raw.as_bytes())?;
        if cut_short {
            stream.shutdown(std::net::Shutdown::Write)?;
        }
        let response = read_response(&mut stream)?;
        assert_refused(raw.as_bytes(), &response, 400, "invalid-request-body");
    }
    let logs = sidecar.wait_for_log("invalid-request-body")?;
    assert!(!logs.contains("upstream-error"), "{logs}");
    sidecar.assert_still_serving(ORDERS_HOST)
}

// Reproduction (before): two `Transfer-Encoding: chunked` header lines were accepted,
// while `chunked, chunked` in one line was refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfer_encoding_is_judged_over_all_its_lines() -> Result<(), BoxError> {
    let emulator = Emulator::builder().start().await?;
    let sidecar = Sidecar::builder().emulator(&emulator).spawn()?;
    let o = ORDERS_HOST;
    for codings in [
        "Transfer-Encoding: chunked, chunked\r\n",
        "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
    ] {
        let raw = format!(
            "POST /echo HTTP/1.1\r\nHost: {o}\r\n{codings}Connection: close\r\n\r\n0\r\n\r\n"
        );
        let response = http1(sidecar.addr(), raw.as_bytes())?;
        assert_refused(raw.as_bytes(), &response, 400, "invalid-request");
    }
    assert_nothing_sent(&emulator);
    sidecar.assert_still_serving(ORDERS_HOST)
}

/// An h2c request with `count` small headers: its status and `x-lattice-sidecar-error`.
async fn h2c_with_headers(
    sidecar: &Sidecar,
    count: usize,
) -> Result<(u16, Option<String>), BoxError> {
    let mut request = http::Request::builder().uri(format!("http://{ORDERS_HOST}/echo"));
    for i in 0..count {
        request = request.header(format!("x-h{i}"), "v");
    }
    send_h2c(sidecar, request).await
}

// Reproduction (before): an h2c request with 1,200 headers was forwarded to the upstream,
// where an HTTP/1.1 client gets 431 from 101 on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2c_requests_have_the_http1_header_count_limit() -> Result<(), BoxError> {
    let emulator = Emulator::builder().start().await?;
    let sidecar = Sidecar::builder().emulator(&emulator).spawn()?;
    for count in [101, 1_200] {
        assert_eq!(
            h2c_with_headers(&sidecar, count).await?,
            (431, Some("too-many-headers".to_owned())),
            "{count} headers"
        );
    }
    assert_nothing_sent(&emulator);
    assert_eq!(h2c_with_headers(&sidecar, 90).await?, (200, None));
    Ok(())
}
