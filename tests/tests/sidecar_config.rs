//! Start-up configuration of the real binary: every problem reported at once with exit
//! 64, every option in `--help` with its environment variable, routes from a TOML config
//! file, and `--listen` with several addresses.

use std::net::{Ipv6Addr, TcpListener};
use std::time::Duration;

use lattice_emulator::{DEFAULT_ACCESS_KEY_ID, Emulator, ORDERS_CUSTOM_DOMAIN, ORDERS_HOST};
use lattice_tests::sidecar::{BoxError, Sidecar, free_port, http1};

const TIMEOUT: Duration = Duration::from_secs(20);

fn run_binary(args: &[&str]) -> Result<std::process::Output, BoxError> {
    lattice_tests::sidecar::run_binary(args, &[], TIMEOUT)
}

#[test]
fn invalid_configuration_reports_every_problem_and_exits_64() -> Result<(), BoxError> {
    let output = run_binary(&[
        "--listen",
        "0.0.0.0:8080",
        "--admin-listen",
        "nope",
        "--upstream",
        "https://example.com",
        "--route",
        "127.0.0.1:9000",
        "--connect-timeout",
        "5 parsecs",
        "--resolve",
        "only-a-host",
        "--region-set",
        "us-*",
        "--custom-domain",
        "orders.example.com",
        "--log-format",
        "xml",
        "--role-session-name",
        "x",
        "--ca-file",
        "/nonexistent/ca.pem",
    ])?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(64), "{stderr}");
    for expected in [
        "--listen `0.0.0.0:8080` is not a loopback address",
        "--admin-listen `nope` is not IP:PORT",
        "`example.com` is not a VPC Lattice service name",
        "route `127.0.0.1:9000` is not ADDR=URL",
        "--connect-timeout `5 parsecs` is not a duration",
        "--resolve `only-a-host` is not HOST:PORT:ADDR",
        "--region-set only applies with --sigv4a",
        "custom domain `orders.example.com` needs a region",
        "--log-format `xml`",
        "--role-session-name needs --role-arn",
        "--ca-file /nonexistent/ca.pem: cannot read it",
    ] {
        assert!(
            stderr.contains(expected),
            "missing {expected:?} in:\n{stderr}"
        );
    }
    // Nothing was started: no "listening" lines.
    assert!(
        output.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    Ok(())
}

#[test]
fn help_lists_every_option_with_its_environment_variable() -> Result<(), BoxError> {
    let output = run_binary(&["--help"])?;
    assert_eq!(output.status.code(), Some(0));
    let help = String::from_utf8_lossy(&output.stdout);
    for (flag, env) in [
        ("--listen", "LATTICE_SIDECAR_LISTEN_ADDR"),
        ("--upstream", "LATTICE_SIDECAR_UPSTREAM"),
        ("--route", "LATTICE_SIDECAR_ROUTES"),
        ("--allow-non-loopback", "LATTICE_SIDECAR_ALLOW_NON_LOOPBACK"),
        ("--upstream-scheme", "LATTICE_SIDECAR_UPSTREAM_SCHEME"),
        ("--region", "LATTICE_SIDECAR_REGION"),
        ("--custom-domain", "LATTICE_SIDECAR_CUSTOM_DOMAINS"),
        ("--sigv4a", "LATTICE_SIDECAR_SIGV4A"),
        ("--region-set", "LATTICE_SIDECAR_REGION_SET"),
        ("--profile", "LATTICE_SIDECAR_PROFILE"),
        ("--role-arn", "LATTICE_SIDECAR_ROLE_ARN"),
        ("--role-session-name", "LATTICE_SIDECAR_ROLE_SESSION_NAME"),
        ("--external-id", "LATTICE_SIDECAR_EXTERNAL_ID"),
        ("--ca-file", "LATTICE_SIDECAR_CA_FILES"),
        ("--resolve", "LATTICE_SIDECAR_RESOLVE"),
        ("--admin-listen", "LATTICE_SIDECAR_ADMIN_ADDR"),
        ("--connect-timeout", "LATTICE_SIDECAR_CONNECT_TIMEOUT"),
        (
            "--header-read-timeout",
            "LATTICE_SIDECAR_HEADER_READ_TIMEOUT",
        ),
        ("--idle-timeout", "LATTICE_SIDECAR_IDLE_TIMEOUT"),
        ("--request-timeout", "LATTICE_SIDECAR_REQUEST_TIMEOUT"),
        ("--shutdown-grace", "LATTICE_SIDECAR_SHUTDOWN_GRACE"),
        ("--log-format", "LATTICE_SIDECAR_LOG_FORMAT"),
        ("--log ", "LATTICE_SIDECAR_LOG"),
        ("--config", "LATTICE_SIDECAR_CONFIG"),
    ] {
        assert!(help.contains(flag), "{flag} missing from --help");
        assert!(
            help.contains(&format!("[env: {env}")),
            "{env} missing from --help"
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_and_custom_domains_from_a_config_file() -> Result<(), BoxError> {
    let emulator = Emulator::builder().start().await?;
    let route = free_port()?;
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("sidecar.toml");
    std::fs::write(
        &file,
        format!(
            "region = \"us-west-2\"\ncustom_domains = [\"{ORDERS_CUSTOM_DOMAIN}\"]\n\n\
             [[routes]]\nlisten = \"{route}\"\nupstream = \"https://{ORDERS_HOST}\"\n"
        ),
    )?;
    let sidecar = Sidecar::builder()
        .emulator(&emulator)
        .env("LATTICE_SIDECAR_CONFIG", file.display().to_string())
        .args(["--log-format", "json"])
        .spawn()?;

    let response = http1(
        route,
        b"GET /echo?b=1&a=2 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    )?;
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.json()?["authority"], ORDERS_HOST);
    let response = sidecar.get(ORDERS_CUSTOM_DOMAIN, "/echo")?;
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.json()?["authority"], ORDERS_CUSTOM_DOMAIN);

    // JSON logs: one access-log object per request.
    sidecar.wait_for_log(&format!("\"upstream\":\"{ORDERS_HOST}\""))?;
    let logs = sidecar.wait_for_log(&format!("\"host\":\"{ORDERS_CUSTOM_DOMAIN}\""))?;
    let access: Vec<serde_json::Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["target"] == "lattice_sidecar::access")
        .collect();
    assert_eq!(access.len(), 2, "{logs}");
    assert!(
        access.iter().all(|a| a["status"] == 200
            && a["method"] == "GET"
            && a["bytes_out"].as_u64() > Some(0)),
        "{access:?}"
    );
    Ok(())
}

/// Transparent mode sends IPv6 calls to `[::1]`: one `--listen` list serves both families.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_listen_address_serves_requests() -> Result<(), BoxError> {
    let emulator = Emulator::builder().start().await?;
    let ipv6 = TcpListener::bind((Ipv6Addr::LOCALHOST, 0))?.local_addr()?;
    let sidecar = Sidecar::builder()
        .emulator(&emulator)
        .args(["--listen", &ipv6.to_string()])
        .spawn()?;
    assert!(sidecar.addr().is_ipv4());
    for addr in [sidecar.addr(), ipv6] {
        let request =
            format!("GET /echo HTTP/1.1\r\nHost: {ORDERS_HOST}\r\nConnection: close\r\n\r\n");
        let response = http1(addr, request.as_bytes())?;
        assert_eq!(response.status, 200, "{addr}: {}", response.text());
        let echo = response.json()?;
        assert_eq!(echo["authority"], ORDERS_HOST, "{addr}");
        assert_eq!(
            echo["verified"]["access_key_id"], DEFAULT_ACCESS_KEY_ID,
            "{addr}"
        );
    }
    Ok(())
}
