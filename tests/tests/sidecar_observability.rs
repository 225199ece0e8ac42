//! What the sidecar tells its operators: "ready to serve" exactly when `/readyz` turns
//! ready.

use std::time::{Duration, Instant};

use lattice_emulator::{Emulator, ORDERS_HOST};
use lattice_tests::fake_credentials::{FakeCredentialServer, Mode};
use lattice_tests::sidecar::{BoxError, Sidecar};

const READY: &str = "lattice-sidecar ready to serve";

/// The line numbers of the first log line containing each needle.
fn positions(logs: &str, needles: &[&str]) -> Vec<Option<usize>> {
    needles
        .iter()
        .map(|needle| logs.lines().position(|l| l.contains(needle)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_is_logged_after_the_credentials_load() -> Result<(), BoxError> {
    let emulator = Emulator::builder().start().await?;
    let sidecar = Sidecar::builder().emulator(&emulator).spawn()?;
    let logs = sidecar.wait_for_log(READY)?;
    let [serving, loaded, ready] = positions(
        &logs,
        &["serving; ready once", "AWS credentials loaded", READY],
    )[..] else {
        unreachable!()
    };
    assert!(serving < loaded && loaded < ready, "{logs}");
    assert_eq!(logs.matches(READY).count(), 1, "{logs}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_is_not_logged_while_the_credentials_are_missing() -> Result<(), BoxError> {
    let emulator = Emulator::builder().start().await?;
    let ecs = FakeCredentialServer::ecs()
        .start(emulator.key_store().clone())
        .await?;
    ecs.set_mode(Mode::Error500).await?;
    let mut builder = Sidecar::builder()
        .emulator(&emulator)
        .without_credentials()
        .wait_live_only();
    for (key, value) in ecs.env() {
        builder = builder.env(key, value);
    }
    let sidecar =
        tokio::task::spawn_blocking(move || builder.spawn().map_err(|e| e.to_string())).await??;

    // Serving, not ready, and not saying it is.
    sidecar.wait_for_log("AWS credentials not loaded yet")?;
    let deadline = Instant::now() + Duration::from_millis(1500);
    while Instant::now() < deadline {
        let (status, body) = sidecar.admin_get("/readyz")?;
        assert_eq!(status, 503, "{body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!sidecar.logs().contains(READY), "{}", sidecar.logs());

    // The provider comes back: ready, and said so once.
    ecs.set_mode(Mode::Up).await?;
    let deadline = Instant::now() + Duration::from_secs(15);
    while sidecar.admin_get("/readyz")?.0 != 200 {
        assert!(
            Instant::now() < deadline,
            "never ready:\n{}",
            sidecar.logs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let logs = sidecar.wait_for_log(READY)?;
    let [not_loaded, loaded, ready] = positions(
        &logs,
        &[
            "AWS credentials not loaded yet",
            "AWS credentials loaded",
            READY,
        ],
    )[..] else {
        unreachable!()
    };
    assert!(not_loaded < loaded && loaded < ready, "{logs}");
    assert_eq!(logs.matches(READY).count(), 1, "{logs}");
    assert_eq!(sidecar.get(ORDERS_HOST, "/echo")?.status, 200);
    Ok(())
}
