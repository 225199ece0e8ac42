//! Real client libraries through the sidecar: Python `requests` with `HTTP_PROXY`, and a
//! grpcio client over h2c on a fixed route (unary, server- and client-streaming).
//!
//! Needs `pip install requests grpcio grpcio-tools`; the tests fail (not skip) without.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use lattice_emulator::{DEFAULT_PRINCIPAL, Emulator, ORDERS_HOST, greeter};
use lattice_tests::sidecar::{BoxError, Sidecar, run_with_timeout};
use serde_json::Value;

const SCRIPT_TIMEOUT: Duration = Duration::from_secs(60);
const PROXY_VARIABLES: [&str; 10] = [
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
    "GRPC_PROXY",
    "grpc_proxy",
];

fn tests_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Run a script from `tests/scripts` with `python3`; stdout on success.
fn python(script: &str, args: &[String], env: &[(&str, String)]) -> Result<String, BoxError> {
    let mut command = Command::new("python3");
    command
        .arg(tests_dir().join("scripts").join(script))
        .args(args);
    for name in PROXY_VARIABLES {
        command.env_remove(name);
    }
    for (name, value) in env {
        command.env(name, value);
    }
    let output = run_with_timeout(&mut command, SCRIPT_TIMEOUT)?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if output.status.code() == Some(3) {
        return Err(format!("{stderr}\nrun: pip install requests grpcio grpcio-tools").into());
    }
    if !output.status.success() {
        return Err(format!("{script} failed ({}):\n{stderr}", output.status).into());
    }
    Ok(String::from_utf8(output.stdout)?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_requests_through_http_proxy() -> Result<(), BoxError> {
    let emulator = Emulator::builder().start().await?;
    let sidecar = Sidecar::builder().emulator(&emulator).spawn()?;
    let query = "z=1&b=%2F&a=2&a=1";
    let url = format!("http://{ORDERS_HOST}/echo?{query}");
    let stdout = python(
        "sidecar_requests.py",
        &[url],
        &[("HTTP_PROXY", sidecar.proxy_url())],
    )?;
    let lines: Vec<Value> = stdout
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    assert_eq!(lines.len(), 2, "{stdout}");
    assert_eq!(lines[0]["status"], 200, "{stdout}\n{}", sidecar.logs());
    let echo: Value = serde_json::from_str(lines[0]["body"].as_str().ok_or("no body")?)?;
    assert_eq!(
        echo["verified"]["algorithm"], "AWS4-HMAC-SHA256",
        "{echo:#}"
    );
    assert_eq!(echo["query"], query);
    assert_eq!(echo["authority"], ORDERS_HOST);
    // requests sends absolute-form URIs to a proxy.
    sidecar.wait_for_log(&format!("host={ORDERS_HOST}"))?;
    assert_eq!(lines[1]["status"], 200, "{stdout}");
    let upload: Value = serde_json::from_str(lines[1]["body"].as_str().ok_or("no body")?)?;
    assert_eq!(upload["bytes"], 100_000);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpcio_over_h2c_on_a_fixed_route() -> Result<(), BoxError> {
    let emulator = Emulator::builder().start().await?;
    let sidecar = Sidecar::builder()
        .emulator(&emulator)
        .route(format!("https://{ORDERS_HOST}"))
        .spawn()?;
    // The script generates its stubs from the emulator's proto, next to them.
    let out = tempfile::tempdir()?;
    std::fs::write(out.path().join("greeter.proto"), greeter::PROTO)?;
    let stdout = python(
        "sidecar_grpc.py",
        &[
            sidecar.route_addr(0).to_string(),
            out.path().display().to_string(),
            out.path().display().to_string(),
        ],
        &[],
    )?;
    let result: Value = serde_json::from_str(stdout.trim())?;
    assert!(
        result["unary"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("unary")),
        "{result:#}"
    );
    assert_eq!(
        result["unary"]["principal"], DEFAULT_PRINCIPAL,
        "{result:#}"
    );
    let streamed = result["streamed"].as_array().ok_or("no stream")?;
    assert_eq!(streamed.len(), 5, "{result:#}");
    let collected = result["collected"].as_str().ok_or("no collected")?;
    assert!(
        ["a", "b", "c"].iter().all(|n| collected.contains(n)),
        "{result:#}"
    );
    // Every call went upstream signed, over HTTP/2.
    let records = emulator.requests();
    assert_eq!(records.len(), 3, "{records:?}");
    assert!(
        records.iter().all(|r| matches!(
            &r.verdict,
            lattice_emulator::Verdict::Forwarded {
                access_key_id: Some(_)
            }
        )),
        "{records:?}"
    );
    Ok(())
}
