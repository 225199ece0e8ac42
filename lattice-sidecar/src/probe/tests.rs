use std::net::TcpListener;
use std::thread;

use super::*;

fn args(target: Option<&str>, admin: &str, timeout: &str) -> ProbeArgs {
    ProbeArgs {
        target: target.map(str::to_owned),
        admin_listen: admin.to_owned(),
        timeout: timeout.to_owned(),
    }
}

fn probe(target: &str) -> Result<Probe, String> {
    Probe::from_args(&args(Some(target), "127.0.0.1:9901", "2s"))
}

/// A one-shot HTTP server on loopback: reads the request head, sends `response`, closes.
fn serve_once(response: impl Into<Vec<u8>>) -> SocketAddr {
    let response = response.into();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") && head.len() < 8192 {
            if stream.read(&mut byte).unwrap_or(0) == 0 {
                return;
            }
            head.push(byte[0]);
        }
        let _ = stream.write_all(&response);
    });
    addr
}

#[test]
fn default_and_paths_go_to_the_admin_listener() {
    let default = Probe::from_args(&args(None, "127.0.0.1:9901", "2s")).unwrap();
    assert_eq!(default.to_string(), "http://127.0.0.1:9901/readyz");
    assert_eq!(default.timeout, Duration::from_secs(2));

    let live = Probe::from_args(&args(Some("/livez"), "127.0.0.1:9902", "500ms")).unwrap();
    assert_eq!(live.to_string(), "http://127.0.0.1:9902/livez");
    assert_eq!(live.timeout, Duration::from_millis(500));

    // An admin listener on every address is probed on loopback.
    let any = Probe::from_args(&args(None, "0.0.0.0:9901", "2s")).unwrap();
    assert_eq!(any.to_string(), "http://127.0.0.1:9901/readyz");
    let any6 = Probe::from_args(&args(None, "[::]:9901", "2s")).unwrap();
    assert_eq!(any6.to_string(), "http://[::1]:9901/readyz");
}

#[test]
fn urls_keep_host_port_path_and_query() {
    let url = probe("http://localhost:9902/readyz?verbose=1").unwrap();
    assert_eq!((url.host.as_str(), url.port), ("localhost", 9902));
    assert_eq!(url.path, "/readyz?verbose=1");
    let url = probe("http://[::1]:9901").unwrap();
    assert_eq!(
        (url.host.as_str(), url.port, url.path.as_str()),
        ("[::1]", 9901, "/")
    );
    let url = probe("http://127.0.0.1/readyz").unwrap();
    assert_eq!(url.port, 80);
}

#[test]
fn bad_urls_and_timeouts_say_what_to_fix() {
    for (target, expected) in [
        ("https://127.0.0.1:9901/readyz", "https is not supported"),
        ("ftp://127.0.0.1/readyz", "scheme `ftp` is not http"),
        ("127.0.0.1:9901/readyz", "is not a URL"),
        ("readyz", "needs http:// and a host"),
        (
            "http://user@127.0.0.1:9901/readyz",
            "must not contain user info",
        ),
        ("http://127.0.0.1:0/readyz", "port 0"),
        ("http://127.0.0.1:/readyz", "empty port"),
        ("http://a b/", "is not a URL"),
    ] {
        let error = probe(target).unwrap_err();
        assert!(error.contains(expected), "{target}: {error}");
    }
    for (timeout, expected) in [("soon", "is not a duration"), ("0s", "more than zero")] {
        let error = Probe::from_args(&args(None, "127.0.0.1:9901", timeout)).unwrap_err();
        assert!(error.contains(expected), "{timeout}: {error}");
    }
    let error = Probe::from_args(&args(None, "localhost:9901", "2s")).unwrap_err();
    assert!(
        error.contains("--admin-listen `localhost:9901` is not IP:PORT"),
        "{error}"
    );
}

#[test]
fn a_2xx_is_ready_and_anything_else_is_not() {
    let ok = serve_once("HTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\nready\n");
    let probe = probe(&format!("http://{ok}/readyz")).unwrap();
    assert_eq!(
        probe.get().unwrap(),
        Answer {
            code: 200,
            phrase: "OK".into(),
            line: "ready".into()
        }
    );

    let body = "not ready: AWS credentials not loaded (see the logs)\n";
    let unavailable = serve_once(format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    ));
    let failure = self::probe(&format!("http://{unavailable}/readyz"))
        .unwrap()
        .get()
        .unwrap_err();
    assert_eq!(
        failure.to_string(),
        "503 Service Unavailable: not ready: AWS credentials not loaded (see the logs)"
    );

    // Chunked, multi-line, with control characters: one clean line.
    let chunked = serve_once(
        &b"HTTP/1.1 500 Internal Server Error\r\ntransfer-encoding: chunked\r\n\r\n\
          10\r\nbroken\x1b[31m\nmore\r\n0\r\n\r\n"[..],
    );
    let failure = self::probe(&format!("http://{chunked}/"))
        .unwrap()
        .get()
        .unwrap_err();
    assert_eq!(
        failure.to_string(),
        "500 Internal Server Error: broken?[31m"
    );
}

#[test]
fn no_answer_is_a_failure_with_the_reason() {
    // A closed port.
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let failure = probe(&format!("http://{closed}/readyz"))
        .unwrap()
        .get()
        .unwrap_err();
    assert!(
        failure
            .to_string()
            .starts_with(&format!("cannot connect to {closed}")),
        "{failure}"
    );

    // Not HTTP.
    let garbage = serve_once("SSH-2.0-OpenSSH_9.6\r\n");
    let failure = probe(&format!("http://{garbage}/"))
        .unwrap()
        .get()
        .unwrap_err();
    assert!(
        failure.to_string().starts_with("not an HTTP response"),
        "{failure}"
    );

    // Accepts, then says nothing: bounded by the timeout.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap();
    let started = Instant::now();
    let failure = Probe::from_args(&args(
        Some(&format!("http://{addr}/")),
        "127.0.0.1:1",
        "300ms",
    ))
    .unwrap()
    .get()
    .unwrap_err();
    assert!(matches!(failure, Failure::TimedOut(_)), "{failure}");
    assert_eq!(failure.to_string(), "no answer within 300ms (--timeout)");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    drop(silent);
}
