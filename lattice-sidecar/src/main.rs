//! The `lattice-sidecar` binary: parse and validate the configuration (exit 64 on any
//! problem), init tracing, serve until SIGTERM/SIGINT, drain, exit 0. `--check-config`
//! stops after validation, `--version` before it, and `lattice-sidecar probe` is a health
//! check instead (see `probe`).

use std::process::ExitCode;

use clap::Parser;
use lattice_sidecar::{Args, BuildInfo, Command, Config, EX_USAGE};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(args) => args,
        Err(error) => {
            let _ = error.print();
            return match error.use_stderr() {
                true => ExitCode::from(EX_USAGE),
                false => ExitCode::SUCCESS, // --help, --version
            };
        }
    };
    if args.version {
        println!("{}", BuildInfo::current());
        return ExitCode::SUCCESS;
    }
    if let Some(Command::Probe(probe)) = &args.command {
        return lattice_sidecar::probe::run(probe);
    }
    let check_only = args.check_config;
    let config = match Config::from_args(args) {
        Ok(config) => config,
        Err(error) => {
            eprint!("lattice-sidecar: {error}");
            return ExitCode::from(EX_USAGE);
        }
    };
    if check_only {
        return match lattice_sidecar::check(&config) {
            Ok(summary) => {
                print!("{summary}");
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("lattice-sidecar: invalid configuration: {error}");
                ExitCode::from(error.exit_code())
            }
        };
    }
    lattice_sidecar::init_tracing(&config.log, std::env::var("RUST_LOG").ok());

    // Accept loops, admin, signals and credential refreshes; connections are served on
    // the worker threads (`--workers`), each with a runtime of its own.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            tracing::error!(%error, "cannot start the Tokio runtime");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let signals = match forward_signals() {
            Ok(signals) => signals,
            Err(error) => {
                tracing::error!(%error, "cannot install signal handlers");
                return Err(ExitCode::FAILURE);
            }
        };
        lattice_sidecar::run(config, signals)
            .await
            .map_err(|error| {
                tracing::error!(%error, "lattice-sidecar failed");
                ExitCode::from(error.exit_code())
            })
    });
    // Spawned connection tasks may still hold the runtime; don't wait for them.
    runtime.shutdown_background();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(code) => code,
    }
}

/// One message per SIGTERM or SIGINT: the first drains, a second exits at once.
///
/// SIGHUP is logged and ignored (its default action killed the sidecar without draining).
/// Reloading would mean rebinding listeners for the config file's routes, swapping the
/// signer's allow-list and rebuilding every worker's upstream clients for new CA files,
/// all while requests are in flight; a restart does the same with a drain, and
/// orchestrators roll a pod or task on a configuration change anyway.
fn forward_signals() -> std::io::Result<mpsc::UnboundedReceiver<()>> {
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let name = tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
                _ = hup.recv() => {
                    tracing::warn!(signal = "SIGHUP", "SIGHUP ignored: lattice-sidecar does not reload its configuration or CA files; restart it to apply changes (SIGTERM drains)");
                    continue;
                }
            };
            tracing::info!(signal = name, "received shutdown signal");
            if tx.send(()).is_err() {
                break;
            }
        }
    });
    Ok(rx)
}
