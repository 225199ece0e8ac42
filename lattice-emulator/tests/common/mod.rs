//! Running the `lattice-emulator` binary from the integration tests.

use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::process::Command;
use tokio::time::timeout;

/// Bounds every run, start-up and request.
pub(crate) const LIMIT: Duration = Duration::from_secs(20);
/// `EX_USAGE`: the exit code for a bad command line or configuration.
pub(crate) const EX_USAGE: i32 = 64;

/// The binary with an empty environment (no AWS_* or LATTICE_EMULATOR_* from the caller),
/// killed if the test ends first.
pub(crate) fn emulator(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_lattice-emulator"));
    command
        .args(args)
        .env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

/// Runs `command` to its exit: (status, stderr).
pub(crate) async fn run(mut command: Command) -> (ExitStatus, String) {
    let output = timeout(LIMIT, command.output())
        .await
        .expect("the emulator exits in time")
        .expect("the binary runs");
    (
        output.status,
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}
