//! `lattice-sidecar probe`, the health check for images without a shell or curl: exit 0
//! when the sidecar is ready, 1 with the reason when it is not or does not answer, 64 for
//! a bad URL.

use std::process::{Command, Output};
use std::time::Duration;

use lattice_emulator::Emulator;
use lattice_tests::sidecar::{BoxError, Sidecar, free_port, run_with_timeout, sidecar_binary};

const TIMEOUT: Duration = Duration::from_secs(20);

/// `lattice-sidecar probe ARGS` in a clean environment plus `env`.
fn probe(args: &[&str], env: &[(&str, &str)]) -> Result<Output, BoxError> {
    let mut command = Command::new(sidecar_binary()?);
    command
        .arg("probe")
        .args(args)
        .env_clear()
        .envs(env.iter().copied());
    run_with_timeout(&mut command, TIMEOUT)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ready_sidecar_passes() -> Result<(), BoxError> {
    let emulator = Emulator::builder().start().await?;
    let sidecar = Sidecar::builder().emulator(&emulator).spawn()?;
    let admin = sidecar.admin_addr().to_string();

    let output = probe(&[&format!("http://{admin}/readyz")], &[])?;
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_eq!(
        text(&output.stdout),
        format!("lattice-sidecar probe: http://{admin}/readyz: 200 OK: ready\n")
    );

    // The default URL follows the admin address a manifest gives the sidecar.
    let output = probe(&[], &[("LATTICE_SIDECAR_ADMIN_ADDR", &admin)])?;
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let output = probe(&["/livez", "--admin-listen", &admin], &[])?;
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert!(text(&output.stdout).ends_with("/livez: 200 OK: live\n"));
    Ok(())
}

#[test]
fn a_sidecar_without_credentials_fails_with_the_reason() -> Result<(), BoxError> {
    let sidecar = Sidecar::builder()
        .without_credentials()
        .wait_live_only()
        .spawn()?;
    let url = format!("http://{}/readyz", sidecar.admin_addr());
    let output = probe(&[&url], &[])?;
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stdout));
    assert_eq!(
        text(&output.stderr),
        format!(
            "lattice-sidecar probe: {url}: 503 Service Unavailable: \
             not ready: AWS credentials not loaded (see the logs)\n"
        )
    );
    assert!(output.stdout.is_empty());
    // Live all the same.
    let output = probe(
        &[
            "/livez",
            "--admin-listen",
            &sidecar.admin_addr().to_string(),
        ],
        &[],
    )?;
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    Ok(())
}

#[test]
fn nothing_listening_fails_fast() -> Result<(), BoxError> {
    let closed = free_port()?;
    let output = probe(
        &["--admin-listen", &closed.to_string(), "--timeout", "1s"],
        &[],
    )?;
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(
        stderr.starts_with(&format!(
            "lattice-sidecar probe: http://{closed}/readyz: cannot connect to {closed}:"
        )),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    Ok(())
}

#[test]
fn a_bad_url_exits_64() -> Result<(), BoxError> {
    for (args, expected) in [
        (
            &["https://127.0.0.1:9901/readyz"][..],
            "https is not supported: the admin listener speaks plain HTTP",
        ),
        (&["127.0.0.1:9901/readyz"], "is not a URL"),
        (&["--timeout", "soon"], "--timeout `soon` is not a duration"),
    ] {
        let output = probe(args, &[])?;
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(64), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
    // The same through the environment, as a manifest would set it.
    let output = probe(&[], &[("LATTICE_SIDECAR_PROBE_URL", "ftp://127.0.0.1/")])?;
    assert_eq!(output.status.code(), Some(64), "{}", text(&output.stderr));
    Ok(())
}
