//! What operators and their engines expect of the process: SIGHUP does not kill it,
//! `--check-config` validates without binding, `--version` says what is running, and a
//! `--profile` that does not exist stops start-up (one that does is used, whatever the
//! environment holds).

use std::net::TcpListener;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use lattice_emulator::{
    DEFAULT_ACCESS_KEY_ID, DEFAULT_SECRET_ACCESS_KEY, Emulator, ORDERS_HOST, Verdict,
};
use lattice_tests::sidecar::{BoxError, Sidecar, run_with_timeout, sidecar_binary};

const TIMEOUT: Duration = Duration::from_secs(20);

/// The binary with `args`, in a clean environment plus `env`.
fn run_binary(args: &[&str], env: &[(&str, &str)]) -> Result<Output, BoxError> {
    let mut command = Command::new(sidecar_binary()?);
    command.args(args).env_clear().envs(env.iter().copied());
    run_with_timeout(&mut command, TIMEOUT)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_is_logged_and_ignored() -> Result<(), BoxError> {
    let emulator = Emulator::builder().start().await?;
    let mut sidecar = Sidecar::builder().emulator(&emulator).spawn()?;
    for _ in 0..3 {
        sidecar.signal("HUP")?;
    }
    let logs = sidecar.wait_for_log("SIGHUP ignored")?;
    assert!(logs.contains("restart it to apply changes"), "{logs}");

    // Still serving, still ready: nothing was drained or reloaded.
    std::thread::sleep(Duration::from_millis(200));
    assert!(sidecar.is_running(), "{}", sidecar.logs());
    assert_eq!(sidecar.admin_get("/readyz")?, (200, "ready\n".to_owned()));
    assert_eq!(sidecar.get(ORDERS_HOST, "/echo")?.status, 200);
    assert!(!sidecar.logs().contains("draining"), "{}", sidecar.logs());

    // SIGTERM still drains and exits 0.
    sidecar.terminate()?;
    let status = sidecar.wait_exit(Duration::from_secs(10))?;
    assert_eq!(status.code(), Some(0), "{}", sidecar.logs());
    Ok(())
}

#[test]
fn check_config_validates_without_binding() -> Result<(), BoxError> {
    // Both ports are taken: a check that bound them would fail.
    let taken = TcpListener::bind("127.0.0.1:0")?;
    let taken_admin = TcpListener::bind("127.0.0.1:0")?;
    let (listen, admin) = (taken.local_addr()?, taken_admin.local_addr()?);
    let route = TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("sidecar.toml");
    std::fs::write(
        &file,
        format!("[[routes]]\nlisten = \"{route}\"\nupstream = \"https://{ORDERS_HOST}\"\n"),
    )?;
    let started = Instant::now();
    let output = run_binary(
        &[
            "--check-config",
            "--listen",
            &listen.to_string(),
            "--config",
            &file.display().to_string(),
        ],
        // No credentials anywhere, and nothing is fetched.
        &[
            ("LATTICE_SIDECAR_ADMIN_ADDR", &admin.to_string()),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ],
    )?;
    let stdout = text(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{stdout}{}",
        text(&output.stderr)
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        stdout,
        format!(
            "lattice-sidecar: the configuration is valid\n  \
             listen {listen}: upstream from each request\n  \
             listen {route}: upstream https://{ORDERS_HOST}\n  \
             admin {admin}: /livez, /readyz, /metrics\n"
        )
    );
    // Still theirs.
    assert_eq!(taken.local_addr()?, listen);
    Ok(())
}

#[test]
fn check_config_reports_every_problem_with_exit_64() -> Result<(), BoxError> {
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("sidecar.toml");
    std::fs::write(&file, "[[routes]]\nlisten = \"127.0.0.1:9\"\n")?;
    let output = run_binary(
        &[
            "--check-config",
            "--config",
            &file.display().to_string(),
            "--log-format",
            "xml",
        ],
        &[("LATTICE_SIDECAR_CONNECT_TIMEOUT", "soon")],
    )?;
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(64), "{stderr}");
    for expected in [
        "invalid configuration (3 problems)",
        "invalid TOML",
        "--log-format `xml`",
        "--connect-timeout `soon` is not a duration",
    ] {
        assert!(
            stderr.contains(expected),
            "missing {expected:?} in:\n{stderr}"
        );
    }
    assert!(output.stdout.is_empty(), "{}", text(&output.stdout));

    // A PEM that parses but holds no usable certificate is found too (it used to
    // surface only when the clients were built, with exit 1).
    let ca = dir.path().join("ca.pem");
    std::fs::write(
        &ca,
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    )?;
    let output = run_binary(
        &["--check-config", "--ca-file", &ca.display().to_string()],
        &[],
    )?;
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(64), "{stderr}");
    assert!(stderr.contains("--ca-file"), "{stderr}");
    Ok(())
}

#[test]
fn version_names_the_revision_and_the_tls_provider() -> Result<(), BoxError> {
    let manifest = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../lattice-sidecar/Cargo.toml"
    ))?;
    let version = manifest
        .lines()
        .find_map(|l| l.strip_prefix("version = \""))
        .and_then(|v| v.strip_suffix('"'))
        .ok_or("no version in lattice-sidecar/Cargo.toml")?;
    for flag in ["--version", "-V"] {
        let output = run_binary(&[flag], &[])?;
        assert_eq!(output.status.code(), Some(0));
        let stdout = text(&output.stdout);
        let rest = stdout
            .strip_prefix(&format!("lattice-sidecar {version} (revision "))
            .ok_or(format!("unexpected: {stdout}"))?;
        let (revision, provider) = rest
            .split_once("; TLS: rustls with ")
            .ok_or(format!("unexpected: {stdout}"))?;
        assert!(
            revision == "unknown"
                || (revision.len() >= 7 && revision.bytes().all(|b| b.is_ascii_hexdigit())),
            "{stdout}"
        );
        assert!(
            ["ring)\n", "aws-lc-rs)\n", "aws-lc-rs (FIPS))\n"].contains(&provider),
            "{stdout}"
        );
    }
    Ok(())
}

#[test]
fn a_missing_profile_exits_64_at_start_up() -> Result<(), BoxError> {
    let dir = tempfile::tempdir()?;
    let (config, credentials) = (dir.path().join("config"), dir.path().join("credentials"));
    std::fs::write(&config, "[profile dev]\nregion = us-west-2\n")?;
    std::fs::write(&credentials, "[prod]\naws_access_key_id = AKIDEXAMPLE\n")?;
    let (config, credentials) = (
        config.display().to_string(),
        credentials.display().to_string(),
    );
    let started = Instant::now();
    let output = run_binary(
        &["--profile", "staging"],
        &[
            ("AWS_CONFIG_FILE", &config),
            ("AWS_SHARED_CREDENTIALS_FILE", &credentials),
            // These used to win silently.
            ("AWS_ACCESS_KEY_ID", DEFAULT_ACCESS_KEY_ID),
            ("AWS_SECRET_ACCESS_KEY", DEFAULT_SECRET_ACCESS_KEY),
        ],
    )?;
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(64), "{stderr}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(
        stderr.contains(&format!(
            "The config profile (staging) could not be found in {config} or {credentials}"
        )),
        "{stderr}"
    );
    assert!(
        output.stdout.is_empty(),
        "nothing started: {}",
        text(&output.stdout)
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_profile_is_used_even_with_credentials_in_the_environment() -> Result<(), BoxError> {
    let emulator = Emulator::builder().start().await?;
    let dir = tempfile::tempdir()?;
    let credentials = dir.path().join("credentials");
    // Keys the emulator does not know: requests signed with them are refused.
    std::fs::write(
        &credentials,
        "[other]\naws_access_key_id = AKIDUNKNOWNTOLATTICE\n\
         aws_secret_access_key = notTheEmulatorsSecretKey0000000000000000\n",
    )?;
    // The harness puts the emulator's own keys in the environment.
    let sidecar = Sidecar::builder()
        .emulator(&emulator)
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            credentials.display().to_string(),
        )
        .args(["--profile", "other"])
        .spawn()?;
    let response = sidecar.get(ORDERS_HOST, "/echo")?;
    assert_eq!(
        response.status,
        403,
        "signed with the environment's keys: {}",
        response.text()
    );
    let refused = emulator.requests();
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert!(
        matches!(refused[0].verdict, Verdict::Rejected { .. }),
        "{refused:?}"
    );
    Ok(())
}
