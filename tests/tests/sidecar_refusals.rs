//! What the sidecar refuses, and that it keeps serving afterwards: hosts outside the
//! allow-list (403, nothing sent upstream), CONNECT (405), and malformed requests (400),
//! written as raw bytes.

use lattice_emulator::{Emulator, ORDERS_HOST};
use lattice_tests::sidecar::{BoxError, RawResponse, Sidecar, http1};

const ERROR_HEADER: &str = "x-lattice-sidecar-error";

fn assert_refused(response: &RawResponse, status: u16, code: &str) {
    assert_eq!(response.status, status, "{}", response.text());
    assert_eq!(
        response.header(ERROR_HEADER),
        Some(code),
        "{:?}",
        response.headers
    );
    let body = response.text();
    assert!(
        body.starts_with("lattice-sidecar: ") && body.trim_end().lines().count() == 1,
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosts_outside_the_allow_list_get_403_and_nothing_is_sent() -> Result<(), BoxError> {
    let emulator = Emulator::builder().start().await?;
    let sidecar = Sidecar::builder().emulator(&emulator).spawn()?;
    let refused = [
        // Host mode.
        "GET /echo HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n".to_owned(),
        format!("GET /echo HTTP/1.1\r\nHost: {ORDERS_HOST}.evil.example\r\nConnection: close\r\n\r\n"),
        // The sidecar's own address, as an app without a Host override would send.
        format!("GET /echo HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n", sidecar.addr()),
        "GET /echo HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".to_owned(),
        // Forward-proxy mode, including a look-alike and an IP.
        "GET http://metadata.example.internal/latest HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_owned(),
        "GET http://vpc-lattice-svcs.us-west-2.on.aws/ HTTP/1.1\r\nConnection: close\r\n\r\n".to_owned(),
        "GET http://127.0.0.1:1/ HTTP/1.1\r\nConnection: close\r\n\r\n".to_owned(),
    ];
    for raw in &refused {
        let response = sidecar.request(raw)?;
        assert_refused(&response, 403, "host-not-allowed");
    }
    assert!(
        emulator.requests().is_empty(),
        "upstream saw {:?}",
        emulator.requests()
    );
    sidecar.assert_still_serving(ORDERS_HOST)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_is_refused_with_an_explanation() -> Result<(), BoxError> {
    let emulator = Emulator::builder().start().await?;
    let sidecar = Sidecar::builder().emulator(&emulator).spawn()?;
    let response = sidecar.request(&format!(
        "CONNECT {ORDERS_HOST}:443 HTTP/1.1\r\nHost: {ORDERS_HOST}:443\r\n\r\n"
    ))?;
    assert_refused(&response, 405, "connect-not-supported");
    assert!(response.text().contains("http://"), "{}", response.text());
    assert!(emulator.requests().is_empty());
    sidecar.assert_still_serving(ORDERS_HOST)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_get_400() -> Result<(), BoxError> {
    let emulator = Emulator::builder().start().await?;
    let sidecar = Sidecar::builder().emulator(&emulator).spawn()?;

    // Refused by the sidecar's own checks: 400 with a code.
    let semantic: [(Vec<u8>, &str); 5] = [
        (
            b"GET /echo HTTP/1.1\r\nConnection: close\r\n\r\n".to_vec(),
            "missing-host",
        ),
        (
            format!("GET /echo HTTP/1.1\r\nHost: {ORDERS_HOST}\r\nHost: example.com\r\n\r\n")
                .into_bytes(),
            "invalid-host",
        ),
        (
            format!("GET /echo HTTP/1.1\r\nHost: user@{ORDERS_HOST}\r\n\r\n").into_bytes(),
            "invalid-host",
        ),
        (
            b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
            "invalid-request",
        ),
        // SigV4 signs only visible-ASCII header values.
        (
            [
                format!("GET /echo HTTP/1.1\r\nHost: {ORDERS_HOST}\r\nX-Name: caf").as_bytes(),
                b"\xe9\r\n\r\n",
            ]
            .concat(),
            "unsignable-request",
        ),
    ];
    for (raw, code) in &semantic {
        let response = http1(sidecar.addr(), raw)?;
        assert_refused(&response, 400, code);
    }
    // Rejected by the HTTP parser: a bare 400 from hyper.
    let syntactic: [&[u8]; 4] = [
        b"GARBAGE\r\n\r\n",
        b"GET /echo HTTP/1.1\r\nBad Header: x\r\n\r\n",
        b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: ten\r\n\r\n",
        b"GET /echo HTTP/9.9\r\nHost: x\r\n\r\n",
    ];
    for raw in syntactic {
        let response = http1(sidecar.addr(), raw)?;
        assert!(
            response.status == 400 || response.status == 505,
            "{:?} -> {} {}",
            String::from_utf8_lossy(raw),
            response.status,
            response.text()
        );
    }
    assert!(
        emulator.requests().is_empty(),
        "upstream saw {:?}",
        emulator.requests()
    );
    sidecar.assert_still_serving(ORDERS_HOST)
}
