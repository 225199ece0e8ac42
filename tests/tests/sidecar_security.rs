//! Security properties of the real binary: it binds loopback unless told otherwise, the
//! allow-list matches exact normalized names only, client-supplied signature headers never
//! reach the upstream, secrets never reach logs, metrics or error bodies (even at trace
//! level), there is no switch that turns TLS verification off, and the admin listener does
//! not proxy, over h2c either.
//!
//! Covered elsewhere: `--listen 0.0.0.0` refused with exit 64 (sidecar_config.rs), the
//! untrusted upstream certificate (sidecar_faults.rs), HTTP/1.1 proxy-shaped requests to the
//! admin port (sidecar_admin.rs), hostile request shapes (sidecar_hostile_input.rs).

use std::fs::File;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use lattice_emulator::{
    DEFAULT_ACCESS_KEY_ID, DEFAULT_PRINCIPAL, Emulator, KeyStore, ORDERS_CUSTOM_DOMAIN,
    ORDERS_HOST, ORDERS_REGION, Secret,
};
use lattice_tests::sidecar::{
    BoxError, IO_TIMEOUT, Sidecar, free_port, free_ports, http1, run_with_timeout, sidecar_binary,
};

const ERROR_HEADER: &str = "x-lattice-sidecar-error";
const TIMEOUT: Duration = Duration::from_secs(30);

fn run_binary(args: &[&str]) -> Result<std::process::Output, BoxError> {
    let mut command = Command::new(sidecar_binary()?);
    command
        .args(args)
        .env_clear()
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_REGION", "us-west-2");
    run_with_timeout(&mut command, TIMEOUT)
}

#[test]
fn the_default_listen_address_is_loopback() -> Result<(), BoxError> {
    let dir = tempfile::tempdir()?;
    let log_path = dir.path().join("sidecar.log");
    let log = File::create(&log_path)?;
    // No --listen and no --admin-listen: the defaults. Whether the ports are free or not,
    // the sidecar names the address it binds (or fails to bind) in its log.
    let mut child = Command::new(sidecar_binary()?)
        .env_clear()
        .env("HOME", dir.path())
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_REGION", "us-west-2")
        .env("AWS_CONFIG_FILE", dir.path().join("none"))
        .env("AWS_SHARED_CREDENTIALS_FILE", dir.path().join("none"))
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()?;
    let deadline = Instant::now() + TIMEOUT;
    let text = loop {
        // Exit status first, then the log: a child that exited has written all of it.
        let exited = child.try_wait()?.is_some();
        let text = std::fs::read_to_string(&log_path)?;
        let proxy = text.contains("addr=127.0.0.1:8080") || text.contains("127.0.0.1:8080:");
        let admin = text.contains("addr=127.0.0.1:9901") || text.contains("127.0.0.1:9901:");
        if (proxy && (admin || exited)) || (exited && text.contains("cannot listen")) {
            break text;
        }
        if exited || Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("no listen address logged:\n{text}").into());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let _ = child.kill();
    let _ = child.wait();
    // Every address it bound or tried is loopback.
    let addresses: Vec<&str> = text
        .lines()
        .filter_map(|line| {
            let (_, rest) = line
                .split_once("listening addr=")
                .or_else(|| line.split_once("cannot listen on "))?;
            rest.split(|c: char| c.is_whitespace() || c == ',').next()
        })
        .map(|addr| addr.trim_end_matches(':'))
        .collect();
    assert!(!addresses.is_empty(), "{text}");
    assert!(
        addresses
            .iter()
            .all(|a| *a == "127.0.0.1:8080" || *a == "127.0.0.1:9901"),
        "{addresses:?}\n{text}"
    );
    assert!(!text.contains("non-loopback"), "{text}");

    let help = run_binary(&["--help"])?;
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("[default: 127.0.0.1:8080]"), "{help}");
    assert!(help.contains("[default: 127.0.0.1:9901]"), "{help}");
    Ok(())
}

#[test]
fn non_loopback_addresses_are_refused_before_binding() -> Result<(), BoxError> {
    let ports = free_ports(2)?;
    let (port, admin) = (ports[0].port(), ports[1].to_string());
    let wildcard = format!("0.0.0.0:{port}");
    let v6 = format!("[::]:{port}");
    let route = format!("0.0.0.0:{port}=https://{ORDERS_HOST}");
    let cases: [(Vec<&str>, &str); 4] = [
        (
            vec!["--listen", &wildcard, "--admin-listen", &admin],
            "--listen",
        ),
        (vec!["--listen", &v6, "--admin-listen", &admin], "--listen"),
        (vec!["--admin-listen", &wildcard], "--admin-listen"),
        (vec!["--admin-listen", &admin, "--route", &route], "route"),
    ];
    for (args, flag) in cases {
        let output = run_binary(&args)?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(64), "{args:?}: {stderr}");
        assert!(
            stderr.contains(&format!("{flag} `")) && stderr.contains("is not a loopback address"),
            "{args:?}: {stderr}"
        );
        // The fix is in the message.
        assert!(
            stderr.contains("use 127.0.0.1, or pass --allow-non-loopback"),
            "{stderr}"
        );
        // Refused while parsing the configuration: nothing was bound or logged.
        assert!(output.stdout.is_empty(), "{args:?}: {:?}", output.stdout);
    }
    // The environment variable is checked the same way.
    let mut command = Command::new(sidecar_binary()?);
    command
        .env_clear()
        .env("LATTICE_SIDECAR_LISTEN_ADDR", &wildcard)
        .args(["--admin-listen", &admin]);
    let output = run_with_timeout(&mut command, TIMEOUT)?;
    assert_eq!(output.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&output.stderr).contains("is not a loopback address"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_allow_list_matches_exact_normalized_names_only() -> Result<(), BoxError> {
    let emulator = Emulator::builder().start().await?;
    let sidecar = Sidecar::builder()
        .emulator(&emulator)
        .args([
            "--custom-domain",
            &format!("{ORDERS_CUSTOM_DOMAIN}={ORDERS_REGION}"),
            "--custom-domain",
            "*.internal.example=us-west-2",
        ])
        .spawn()?;
    let custom = ORDERS_CUSTOM_DOMAIN; // orders.example.com
    let lattice_suffix = ".7d67968.vpc-lattice-svcs.us-west-2.on.aws";
    let refused_403 = [
        // Suffix and prefix tricks on the custom domain.
        format!("evil{custom}"),
        format!("x.{custom}"),
        format!("{custom}.evil.com"),
        format!("{custom}.evil.com:443"),
        "example.com".to_owned(),
        // ... and on the wildcard one: it needs one more label, not more characters.
        "internal.example".to_owned(),
        "evilinternal.example".to_owned(),
        "x.evilinternal.example".to_owned(),
        "x.internal.example.evil.com".to_owned(),
        // IDNA: a punycode name is a different name.
        "xn--rders-4ve.example.com".to_owned(),
        // Lattice look-alikes: suffix appended, region or label changed, punycode label.
        format!("{ORDERS_HOST}.evil.com"),
        format!("x{lattice_suffix}.evil.com"),
        "x.vpc-lattice-svcs.us-west-2.on.aws.evil.com".to_owned(),
        "x.vpc-lattice-svcs.us-west-2.on.aws-evil.com".to_owned(),
        "x.vpc-lattice-svcs.us-west-2.on.xn--ws-8ja".to_owned(),
        "x.xn--vpc-lattice-svs-ghb.us-west-2.on.aws".to_owned(),
        "x.vpc-lattice-svcs.on.aws".to_owned(),
        "vpc-lattice-svcs.us-west-2.on.aws".to_owned(),
    ];
    let refused_400 = [
        // Unicode look-alikes (Cyrillic `о`, fullwidth dot) and percent-encoding are not
        // host[:port] at all.
        "\u{043e}rders.example.com".to_owned(),
        "orders\u{ff0e}example.com".to_owned(),
        "orders%2eexample.com".to_owned(),
        "x.internal.example%2e".to_owned(),
        format!("x.vpc-lattice-svcs.us-west-2.on.aws%2f.{custom}"),
    ];
    for (hosts, status, code) in [
        (&refused_403[..], 403, "host-not-allowed"),
        (&refused_400[..], 400, "invalid-host"),
    ] {
        for host in hosts {
            let raw = format!("GET /echo HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
            let response = http1(sidecar.addr(), raw.as_bytes())?;
            assert_eq!(response.status, status, "{host:?}: {}", response.text());
            assert_eq!(response.header(ERROR_HEADER), Some(code), "{host:?}");
        }
    }
    assert!(
        emulator.requests().is_empty(),
        "upstream saw {:?}",
        emulator.requests()
    );

    // Case, a trailing dot and the default port name the same host: signed and sent.
    for host in [
        custom.to_owned(),
        custom.to_ascii_uppercase(),
        format!("{custom}."),
        format!("{custom}:443"),
        ORDERS_HOST.to_ascii_uppercase(),
    ] {
        let response = sidecar.get(&host, "/echo")?;
        assert_eq!(response.status, 200, "{host:?}: {}", response.text());
        assert_eq!(
            response.json()?["verified"]["access_key_id"],
            DEFAULT_ACCESS_KEY_ID
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_signature_headers_are_always_replaced() -> Result<(), BoxError> {
    let emulator = Emulator::builder().start().await?;
    let sidecar = Sidecar::builder().emulator(&emulator).spawn()?;
    // Everything a client could send to sign (or half-sign) the request itself, in odd
    // cases and twice; plus proxy credentials meant for the sidecar.
    let forged = [
        "Authorization: AWS4-HMAC-SHA256 Credential=AKIDFORGED/20200101/us-west-2/vpc-lattice-svcs/aws4_request, SignedHeaders=host, Signature=00",
        "authorization: Bearer forged",
        "X-Amz-Date: 20000101T000000Z",
        "x-amz-date: 20000101T000001Z",
        "X-AMZ-SECURITY-TOKEN: forged-token",
        "X-Amz-Content-Sha256: 0000000000000000000000000000000000000000000000000000000000000000",
        "X-Amz-Region-Set: *",
        "Proxy-Authorization: Basic Zm9yZ2VkOmZvcmdlZA==",
    ]
    .join("\r\n");
    // Presigned-URL parameters in the query are the application's: they are forwarded
    // unchanged (and covered by the header signature), never used as the signature.
    let query = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDFORGED%2F20200101%2Fus-west-2%2Fvpc-lattice-svcs%2Faws4_request&X-Amz-Signature=00";
    let response = sidecar.request(&format!(
        "GET /echo?{query} HTTP/1.1\r\nHost: {ORDERS_HOST}\r\n{forged}\r\nConnection: close\r\n\r\n"
    ))?;
    assert_eq!(response.status, 200, "{}", response.text());
    let echo = response.json()?;
    let headers = &echo["headers"];
    // Verified with the sidecar's identity, so the Authorization is the sidecar's.
    assert_eq!(
        echo["verified"]["access_key_id"], DEFAULT_ACCESS_KEY_ID,
        "{echo}"
    );
    assert_eq!(
        headers["authorization"].as_array().map(Vec::len),
        Some(1),
        "{echo}"
    );
    let date = headers["x-amz-date"].as_array().ok_or("no x-amz-date")?;
    assert_eq!(date.len(), 1, "{echo}");
    assert!(
        !date[0].as_str().unwrap_or_default().starts_with("2000"),
        "{echo}"
    );
    assert_eq!(
        headers["x-amz-content-sha256"],
        serde_json::json!(["UNSIGNED-PAYLOAD"])
    );
    // These credentials have no session token and this is SigV4: both headers are gone.
    assert!(headers.get("x-amz-security-token").is_none(), "{echo}");
    assert!(headers.get("x-amz-region-set").is_none(), "{echo}");
    assert!(headers.get("proxy-authorization").is_none(), "{echo}");
    assert_eq!(echo["query"], query);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_reach_logs_metrics_or_error_bodies() -> Result<(), BoxError> {
    const ACCESS_KEY_ID: &str = "ASIALATTICESECURITYTEST";
    const SECRET: &str = "s3cr3t/Access/Key/Only/In/The/Environment/7f4e1a";
    const TOKEN: &str = "T0KEN-only-in-the-environment-IQoJb3JpZ2luX2VjE/9b2c8d";
    let keys = KeyStore::new();
    keys.insert(Secret {
        access_key_id: ACCESS_KEY_ID.to_owned(),
        secret_access_key: SECRET.to_owned(),
        session_token: Some(TOKEN.to_owned()),
        principal: DEFAULT_PRINCIPAL.to_owned(),
        session_name: None,
    });
    let emulator = Emulator::builder().key_store(keys).start().await?;
    let unreachable = free_port()?;
    let dead_host = "dead-0123456789abcdef0.7d67968.vpc-lattice-svcs.us-west-2.on.aws";
    let sidecar = Sidecar::builder()
        .emulator(&emulator)
        .without_credentials()
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", SECRET)
        .env("AWS_SESSION_TOKEN", TOKEN)
        .env("RUST_LOG", "trace")
        .args([
            "--log",
            "trace",
            "--resolve",
            &format!("{dead_host}:443:{unreachable}"),
        ])
        .spawn()?;

    let mut bodies = Vec::new();
    // Signed and accepted, over HTTP/1.1 and h2c.
    let ok = sidecar.get(ORDERS_HOST, "/echo")?;
    assert_eq!(ok.status, 200, "{}", ok.text());
    assert_eq!(ok.json()?["verified"]["access_key_id"], ACCESS_KEY_ID);
    bodies.push(ok.text());
    let (status, body) = h2c_get(sidecar.addr(), ORDERS_HOST).await?;
    assert_eq!(status, 200, "{body}");
    bodies.push(body);
    // Refused by Lattice (clock skew): the 403 diagnosis and canonical request are logged.
    emulator.set_clock(|| std::time::SystemTime::now() + Duration::from_secs(3600));
    let forbidden = sidecar.get(ORDERS_HOST, "/echo?a=b")?;
    assert_eq!(forbidden.status, 403, "{}", forbidden.text());
    bodies.push(forbidden.text());
    sidecar.wait_for_log("canonical request as signed")?;
    // Refused by the sidecar, and an upstream that is down.
    for (host, status) in [("example.com", 403), (dead_host, 502)] {
        let response = sidecar.get(host, "/echo")?;
        assert_eq!(response.status, status, "{}", response.text());
        bodies.push(response.text());
    }
    let (status, metrics) = sidecar.admin_get("/metrics")?;
    assert_eq!(status, 200);

    let logs = sidecar.logs();
    // The trace level really was on (hyper's and h2's own trace lines are there).
    assert!(logs.contains("TRACE"), "no trace output:\n{logs}");
    assert!(
        logs.contains(ACCESS_KEY_ID),
        "the key id is not secret and is logged"
    );
    for (what, text) in [("logs", &logs), ("metrics", &metrics)]
        .into_iter()
        .chain(bodies.iter().map(|b| ("a response body", b)))
    {
        for secret in [SECRET, TOKEN] {
            assert!(!text.contains(secret), "{what} contain a secret");
        }
        // Nor any long fragment of them (e.g. a truncated or split value).
        for secret in [SECRET, TOKEN] {
            for window in secret.as_bytes().windows(16) {
                let fragment = std::str::from_utf8(window)?;
                assert!(!text.contains(fragment), "{what} contain {fragment:?}");
            }
        }
    }
    Ok(())
}

async fn h2c_get(addr: std::net::SocketAddr, authority: &str) -> Result<(u16, String), BoxError> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream)).await?;
    let driver = tokio::spawn(connection);
    let request = http::Request::builder()
        .uri(format!("http://{authority}/echo"))
        .body(Empty::<Bytes>::new())?;
    let response = tokio::time::timeout(IO_TIMEOUT, sender.send_request(request)).await??;
    let status = response.status().as_u16();
    let body = tokio::time::timeout(IO_TIMEOUT, response.into_body().collect())
        .await??
        .to_bytes();
    drop(sender);
    let _ = tokio::time::timeout(Duration::from_secs(5), driver).await;
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

#[test]
fn there_is_no_switch_to_turn_tls_verification_off() -> Result<(), BoxError> {
    for flag in [
        "--insecure",
        "--no-verify",
        "--insecure-skip-verify",
        "--tls-skip-verify",
        "--danger-accept-invalid-certs",
        "-k",
    ] {
        let output = run_binary(&[flag])?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(64), "{flag}: {stderr}");
        assert!(stderr.contains("unexpected argument"), "{flag}: {stderr}");
    }
    let help = run_binary(&["--help"])?;
    let help = String::from_utf8_lossy(&help.stdout).to_ascii_lowercase();
    for word in ["insecure", "verify", "skip", "danger"] {
        assert!(!help.contains(word), "--help mentions {word:?}:\n{help}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_listener_does_not_proxy_h2c_or_connect() -> Result<(), BoxError> {
    let emulator = Emulator::builder().start().await?;
    let sidecar = Sidecar::builder().emulator(&emulator).spawn()?;
    let (status, body) = h2c_get(sidecar.admin_addr(), ORDERS_HOST).await?;
    assert_eq!(status, 404, "{body}");
    let raw = format!("CONNECT {ORDERS_HOST}:443 HTTP/1.1\r\nHost: {ORDERS_HOST}:443\r\n\r\n");
    let response = http1(sidecar.admin_addr(), raw.as_bytes())?;
    assert!(
        (400..500).contains(&response.status),
        "{} {}",
        response.status,
        response.text()
    );
    assert!(
        response.header(ERROR_HEADER).is_some(),
        "{:?}",
        response.headers
    );
    assert!(
        emulator.requests().is_empty(),
        "upstream saw {:?}",
        emulator.requests()
    );
    Ok(())
}
