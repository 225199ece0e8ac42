//! Heap allocations per proxied request, counted by `stats_alloc` over the whole process:
//! the sidecar runs in-process, while the client and the upstream are plain blocking
//! sockets with fixed buffers that allocate nothing per request.
//!
//! The sidecar reads credentials from the environment, which a test may not set for
//! itself (`set_var` is `unsafe`), so the counting runs in a child process of this test
//! binary that gets them from `Command::env`.

use std::alloc::System;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::time::Duration;

use clap::Parser;
use lattice_sidecar::{Args, Config};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Measured: 15.3 per request on this plain-HTTP path, the same to 0.01 across runs; 36
/// before the sidecar borrowed the cached credentials, stopped copying connection info,
/// host, path and upstream names, and parsed the `Host` header once. Tight, so that undoing
/// any one of those fails.
const MAX_ALLOCATIONS_PER_REQUEST: f64 = 16.0;
const REQUESTS: usize = 300;
const HOST: &str = "orders-0123456789abcdef0.7d67968.vpc-lattice-svcs.us-west-2.on.aws";
const CHILD_ENV: &str = "LATTICE_ALLOCATIONS_CHILD";

#[test]
fn proxied_requests_allocate_little() {
    let output = Command::new(std::env::current_exe().expect("test binary"))
        .args(["count_in_child", "--exact", "--ignored", "--nocapture"])
        .env(CHILD_ENV, "1")
        .env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
        .env(
            "AWS_SECRET_ACCESS_KEY",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        )
        .env(
            "AWS_SESSION_TOKEN",
            "IQoJb3JpZ2luX2VjEXAMPLETOKEN".repeat(20),
        )
        .env("AWS_REGION", "us-west-2")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE")
        .env_remove("RUST_LOG")
        .output()
        .expect("run the child");
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "the counting child failed");
    assert!(
        stdout.contains("allocations per proxied request"),
        "{stdout}"
    );
}

#[test]
#[ignore = "run by proxied_requests_allocate_little in a child process with credentials"]
fn count_in_child() {
    assert!(
        std::env::var_os(CHILD_ENV).is_some(),
        "run by the parent test"
    );
    let upstream = TcpListener::bind("127.0.0.1:0").expect("bind upstream");
    let upstream_addr = upstream.local_addr().expect("addr");
    std::thread::spawn(move || serve_upstream(upstream));

    let listen = free_port();
    let args = Args::try_parse_from([
        "lattice-sidecar",
        "--listen",
        &listen.to_string(),
        "--admin-listen",
        &free_port().to_string(),
        "--upstream",
        &format!("http://{HOST}:{}", upstream_addr.port()),
        "--resolve",
        &format!("{HOST}:{}:127.0.0.1", upstream_addr.port()),
        "--workers",
        "1",
    ])
    .expect("args");
    let config = Config::from_args(args).expect("config");
    let (_stop, signals) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        if let Err(error) = runtime.block_on(lattice_sidecar::run(config, signals)) {
            panic!("sidecar: {error}");
        }
    });

    let mut client = connect(listen);
    let request = format!(
        "GET /orders?id=42 HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n\r\n",
        listen.port()
    );
    let mut buffer = [0; 8192];
    // Warm-up: credentials loaded, upstream connection pooled, buffers grown.
    for _ in 0..50 {
        exchange(&mut client, request.as_bytes(), &mut buffer);
    }
    let region = Region::new(GLOBAL);
    for _ in 0..REQUESTS {
        exchange(&mut client, request.as_bytes(), &mut buffer);
    }
    let change = region.change();
    let per_request = (change.allocations + change.reallocations) as f64 / REQUESTS as f64;
    println!("allocations per proxied request: {per_request:.2}");
    assert!(
        per_request <= MAX_ALLOCATIONS_PER_REQUEST,
        "{per_request:.2} allocations per proxied request > {MAX_ALLOCATIONS_PER_REQUEST}"
    );
}

/// Answer every request on every connection with a fixed 200, no allocation per request.
fn serve_upstream(listener: TcpListener) {
    const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else { return };
        std::thread::spawn(move || {
            let mut buffer = [0; 16384];
            let mut filled = 0;
            loop {
                match stream.read(&mut buffer[filled..]) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => filled += n,
                }
                // GETs only: a head ends the request.
                while let Some(end) = find(&buffer[..filled], b"\r\n\r\n") {
                    if stream.write_all(RESPONSE).is_err() {
                        return;
                    }
                    buffer.copy_within(end + 4..filled, 0);
                    filled -= end + 4;
                }
                if filled == buffer.len() {
                    return;
                }
            }
        });
    }
}

/// Send one request and read its whole response (`content-length: 2`).
fn exchange(client: &mut TcpStream, request: &[u8], buffer: &mut [u8]) {
    client.write_all(request).expect("send");
    let mut filled = 0;
    loop {
        let n = client.read(&mut buffer[filled..]).expect("receive");
        assert!(n > 0, "the sidecar closed the connection");
        filled += n;
        if let Some(end) = find(&buffer[..filled], b"\r\n\r\n") {
            assert!(buffer.starts_with(b"HTTP/1.1 200"), "not a 200");
            if filled >= end + 4 + 2 {
                assert_eq!(filled, end + 4 + 2, "one response at a time");
                return;
            }
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn free_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr")
}

/// The sidecar binds its listener on its own thread: retry until it is up.
fn connect(addr: SocketAddr) -> TcpStream {
    for _ in 0..200 {
        if let Ok(stream) = TcpStream::connect(addr) {
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .expect("timeout");
            return stream;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("the sidecar did not start listening on {addr}");
}
