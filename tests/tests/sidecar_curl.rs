//! curl through the sidecar in each routing mode: forward proxy (`-x`), Host header, and
//! fixed upstream (`--upstream`, `--route`, h2c); SigV4 and SigV4A; custom domains; raw
//! paths and unsorted queries arrive byte-for-byte and still verify.

use std::process::Command;
use std::time::Duration;

use lattice_emulator::{Emulator, INVENTORY_HOST, ORDERS_CUSTOM_DOMAIN, ORDERS_HOST};
use lattice_tests::sidecar::{BoxError, Sidecar, run_with_timeout};
use serde_json::Value;

const CURL_TIMEOUT: Duration = Duration::from_secs(30);
/// Unsorted, repeated, encoded and empty parameters: re-encoding or sorting would show.
const RAW_QUERY: &str = "z=1&b=%2F%20x&a=2&a=1&empty=&flag&%7Etilde=%7e";
const RAW_PATH: &str = "/echo/a%2Fb/%7Euser/x+y";

/// Run curl; returns `(status, body)`. `-s -S` keeps errors visible.
fn curl(args: &[&str]) -> Result<(u16, String), BoxError> {
    let output = run_with_timeout(
        Command::new("curl")
            .args(["-sS", "--max-time", "20", "-w", "\n%{http_code}"])
            .args(args),
        CURL_TIMEOUT,
    )?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        return Err(format!(
            "curl {args:?} failed: {}\n{stdout}",
            String::from_utf8_lossy(&output.stderr)
        )
        .into());
    }
    let (body, status) = stdout.rsplit_once('\n').ok_or("no status line from curl")?;
    Ok((status.trim().parse()?, body.to_owned()))
}

fn echo(body: &str) -> Result<Value, BoxError> {
    serde_json::from_str(body).map_err(|e| format!("not an echo ({e}): {body}").into())
}

/// The echo shows a request that Lattice verified, with this algorithm.
fn assert_verified(echo: &Value, algorithm: &str) {
    assert_eq!(echo["verified"]["algorithm"], algorithm, "{echo:#}");
    assert_eq!(
        echo["verified"]["access_key_id"], "AKIDLATTICEEMULATOR",
        "{echo:#}"
    );
    assert_eq!(
        echo["headers"]["x-amz-content-sha256"][0], "UNSIGNED-PAYLOAD",
        "{echo:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forward_proxy_mode_keeps_path_and_query_byte_for_byte() -> Result<(), BoxError> {
    let emulator = Emulator::builder().start().await?;
    let sidecar = Sidecar::builder().emulator(&emulator).spawn()?;
    let url = format!("http://{ORDERS_HOST}{RAW_PATH}?{RAW_QUERY}");
    let (status, body) = curl(&[
        "--path-as-is",
        "-x",
        &sidecar.proxy_url(),
        "-H",
        "Authorization: Bearer client-supplied",
        "-H",
        "X-Amz-Date: 19990101T000000Z",
        "-H",
        "X-Custom: kept",
        &url,
    ])?;
    assert_eq!(status, 200, "{body}\n{}", sidecar.logs());
    let echo = echo(&body)?;
    assert_verified(&echo, "AWS4-HMAC-SHA256");
    assert_eq!(echo["path"], RAW_PATH);
    assert_eq!(echo["query"], RAW_QUERY);
    assert_eq!(echo["headers"]["x-custom"][0], "kept");
    // The sidecar's own date, not the client's.
    assert_ne!(echo["headers"]["x-amz-date"][0], "19990101T000000Z");
    // Upstream over TLS (ALPN picked h2) even though the client asked for http://.
    assert_eq!(echo["version"], "HTTP/2.0");
    assert_eq!(echo["authority"], ORDERS_HOST);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_header_mode_routes_by_host() -> Result<(), BoxError> {
    let emulator = Emulator::builder().start().await?;
    let sidecar = Sidecar::builder().emulator(&emulator).spawn()?;
    for host in [ORDERS_HOST, INVENTORY_HOST] {
        let url = format!("http://{}{RAW_PATH}?{RAW_QUERY}", sidecar.addr());
        let (status, body) = curl(&["--path-as-is", "-H", &format!("Host: {host}"), &url])?;
        assert_eq!(status, 200, "{body}");
        let echo = echo(&body)?;
        assert_verified(&echo, "AWS4-HMAC-SHA256");
        assert_eq!(echo["authority"], host);
        assert_eq!(echo["query"], RAW_QUERY);
        assert_eq!(echo["path"], RAW_PATH);
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixed_upstream_and_routes_ignore_the_local_host_header() -> Result<(), BoxError> {
    let emulator = Emulator::builder().start().await?;
    let sidecar = Sidecar::builder()
        .emulator(&emulator)
        .upstream(format!("https://{ORDERS_HOST}"))
        .route(format!("https://{INVENTORY_HOST}"))
        .spawn()?;

    let (status, body) = curl(&[&format!("http://{}/echo?{RAW_QUERY}", sidecar.addr())])?;
    assert_eq!(status, 200, "{body}");
    let echo_main = echo(&body)?;
    assert_verified(&echo_main, "AWS4-HMAC-SHA256");
    assert_eq!(echo_main["authority"], ORDERS_HOST);
    assert_eq!(echo_main["query"], RAW_QUERY);

    // The route listener, over h2c as a gRPC stub would connect.
    let url = format!("http://{}/echo?{RAW_QUERY}", sidecar.route_addr(0));
    let (status, body) = curl(&["--http2-prior-knowledge", &url])?;
    assert_eq!(status, 200, "{body}");
    let echo_route = echo(&body)?;
    assert_verified(&echo_route, "AWS4-HMAC-SHA256");
    assert_eq!(echo_route["authority"], INVENTORY_HOST);
    assert_eq!(echo_route["query"], RAW_QUERY);

    // Naming another Lattice service on a fixed route is misdirected: 421, nothing sent.
    emulator.clear_requests();
    let (status, body) = curl(&[
        "-x",
        &sidecar.proxy_url(),
        &format!("http://{INVENTORY_HOST}/echo"),
    ])?;
    assert_eq!(status, 421, "{body}");
    assert!(emulator.requests().is_empty());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigv4a_signs_with_the_region_set() -> Result<(), BoxError> {
    let emulator = Emulator::builder().start().await?;
    let sidecar = Sidecar::builder()
        .emulator(&emulator)
        .args(["--sigv4a"])
        .spawn()?;
    let url = format!("http://{ORDERS_HOST}/echo?{RAW_QUERY}");
    let (status, body) = curl(&["-x", &sidecar.proxy_url(), &url])?;
    assert_eq!(status, 200, "{body}\n{}", sidecar.logs());
    let echo = echo(&body)?;
    assert_verified(&echo, "AWS4-ECDSA-P256-SHA256");
    assert_eq!(echo["headers"]["x-amz-region-set"][0], "*");
    assert_eq!(echo["query"], RAW_QUERY);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_domains_sign_with_the_configured_region() -> Result<(), BoxError> {
    let emulator = Emulator::builder().start().await?;
    let sidecar = Sidecar::builder()
        .emulator(&emulator)
        .env("LATTICE_SIDECAR_CUSTOM_DOMAINS", ORDERS_CUSTOM_DOMAIN)
        .env("LATTICE_SIDECAR_REGION", "us-west-2")
        .spawn()?;
    let (status, body) = curl(&[
        "-x",
        &sidecar.proxy_url(),
        &format!("http://{ORDERS_CUSTOM_DOMAIN}/echo?b=1&a=2"),
    ])?;
    assert_eq!(status, 200, "{body}");
    let echo = echo(&body)?;
    assert_verified(&echo, "AWS4-HMAC-SHA256");
    assert_eq!(echo["authority"], ORDERS_CUSTOM_DOMAIN);
    assert_eq!(echo["query"], "b=1&a=2");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_scheme_http_uses_the_plain_listener() -> Result<(), BoxError> {
    let emulator = Emulator::builder().start().await?;
    let sidecar = Sidecar::builder()
        .emulator(&emulator)
        .args(["--upstream-scheme", "http"])
        .spawn()?;
    let (status, body) = curl(&[
        "-x",
        &sidecar.proxy_url(),
        &format!("http://{ORDERS_HOST}/echo?b=1&a=2"),
    ])?;
    assert_eq!(status, 200, "{body}");
    let echo = echo(&body)?;
    assert_verified(&echo, "AWS4-HMAC-SHA256");
    assert_eq!(echo["version"], "HTTP/1.1");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_with_expect_100_continue() -> Result<(), BoxError> {
    let emulator = Emulator::builder().start().await?;
    let sidecar = Sidecar::builder().emulator(&emulator).spawn()?;
    let file = sidecar.dir().join("upload.bin");
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&file, &data)?;
    let started = std::time::Instant::now();
    let (status, body) = curl(&[
        "-x",
        &sidecar.proxy_url(),
        "-H",
        "Expect: 100-continue",
        "--expect100-timeout",
        "10",
        "--data-binary",
        &format!("@{}", file.display()),
        &format!("http://{ORDERS_HOST}/upload"),
    ])?;
    assert_eq!(status, 200, "{body}");
    // curl waits up to 10 s for `100 Continue`; getting it promptly means it was sent.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "100-continue took {:?}",
        started.elapsed()
    );
    let upload = echo(&body)?;
    assert_eq!(upload["bytes"], data.len());
    // The access log counts the request body.
    sidecar.wait_for_log("bytes_in=200000")?;
    Ok(())
}
