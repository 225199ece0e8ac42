//! `lattice-emulator`: run the local VPC Lattice emulator by hand, e.g. to try the
//! sidecar or curl against it.

use std::{net::SocketAddr, path::PathBuf, process::ExitCode};

use clap::Parser;
use lattice_emulator::{
    DEFAULT_ACCESS_KEY_ID, DEFAULT_PRINCIPAL, DEFAULT_SECRET_ACCESS_KEY, Emulator, KeyStore,
    ORDERS_HOST, ORDERS_REGION, SIGNING_NAME, Secret,
};
use tracing_subscriber::EnvFilter;

/// BSD `EX_USAGE`: the command line was wrong.
const EX_USAGE: u8 = 64;
const EX_SOFTWARE: u8 = 70;

/// A local Amazon VPC Lattice emulator: verifies SigV4/SigV4A and echoes requests.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// TLS listener (ALPN h2 and http/1.1); loopback only.
    #[arg(long, default_value = "127.0.0.1:8443", value_parser = loopback_addr)]
    https_listen: SocketAddr,

    /// Plain HTTP listener (HTTP/1.1 and h2c prior knowledge); loopback only.
    #[arg(long, default_value = "127.0.0.1:8080", value_parser = loopback_addr)]
    http_listen: SocketAddr,

    /// Write the run-time CA certificate (PEM) here, for `curl --cacert`.
    #[arg(long, value_name = "PATH")]
    write_ca: Option<PathBuf>,

    /// Access key id to accept [default: the built-in test identity].
    #[arg(long, env = "AWS_ACCESS_KEY_ID", requires = "secret_access_key")]
    access_key_id: Option<String>,

    /// Secret access key for --access-key-id.
    #[arg(
        long,
        env = "AWS_SECRET_ACCESS_KEY",
        hide_env_values = true,
        requires = "access_key_id"
    )]
    secret_access_key: Option<String>,

    /// Session token that must accompany --access-key-id.
    #[arg(
        long,
        env = "AWS_SESSION_TOKEN",
        hide_env_values = true,
        requires = "access_key_id"
    )]
    session_token: Option<String>,

    /// Principal ARN reported to targets in x-amzn-lattice-identity.
    #[arg(long, env = "LATTICE_EMULATOR_PRINCIPAL", default_value = DEFAULT_PRINCIPAL)]
    principal: String,
}

fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(args) => args,
        Err(error) => {
            // --help and --version are "errors" printed to stdout.
            let _ = error.print();
            return if error.use_stderr() {
                ExitCode::from(EX_USAGE)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    // Logs go to stderr so stdout carries only the banner.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();

    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("lattice-emulator: cannot start the Tokio runtime: {error}");
            return ExitCode::from(EX_SOFTWARE);
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("lattice-emulator: {error}");
            let mut source = error.source();
            while let Some(cause) = source {
                eprintln!("  caused by: {cause}");
                source = cause.source();
            }
            ExitCode::from(EX_SOFTWARE)
        }
    }
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let custom_identity = args.access_key_id.is_some();
    let keys = KeyStore::new();
    keys.insert(Secret {
        access_key_id: args
            .access_key_id
            .unwrap_or_else(|| DEFAULT_ACCESS_KEY_ID.to_owned()),
        secret_access_key: args
            .secret_access_key
            .unwrap_or_else(|| DEFAULT_SECRET_ACCESS_KEY.to_owned()),
        session_token: args.session_token,
        principal: args.principal,
        session_name: None,
    });

    let emulator = Emulator::builder()
        .https_addr(args.https_listen)
        .http_addr(args.http_listen)
        .key_store(keys)
        .start()
        .await?;
    if let Some(path) = &args.write_ca {
        std::fs::write(path, emulator.ca_pem())
            .map_err(|error| format!("cannot write the CA to {}: {error}", path.display()))?;
    }
    print_banner(&emulator, args.write_ca.as_deref(), custom_identity);

    wait_for_signal().await?;
    tracing::info!("shutting down");
    emulator.shutdown().await;
    Ok(())
}

fn print_banner(emulator: &Emulator, ca_path: Option<&std::path::Path>, custom_identity: bool) {
    let https = emulator.https_addr();
    let http = emulator.http_addr();
    println!("Lattice emulator listening on https://{https} and http://{http}");
    println!("Services:");
    for service in emulator.services() {
        println!(
            "  {} (region {}, auth {}, {})",
            service.host(),
            service.region(),
            service.auth(),
            service.arn()
        );
    }
    // Real credentials from the environment are never echoed to the terminal.
    let user = if custom_identity {
        "\"$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY\"".to_owned()
    } else {
        format!("'{DEFAULT_ACCESS_KEY_ID}:{DEFAULT_SECRET_ACCESS_KEY}'")
    };
    let sign = format!(
        "--aws-sigv4 'aws:amz:{ORDERS_REGION}:{SIGNING_NAME}' --user {user} \
         -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD'"
    );
    println!("\nTry it (plain HTTP listener):");
    println!(
        "  curl {sign} --resolve {ORDERS_HOST}:{port}:{ip} http://{ORDERS_HOST}:{port}/hello",
        port = http.port(),
        ip = http.ip(),
    );
    println!("\nOr over TLS:");
    match ca_path {
        Some(path) => println!(
            "  curl {sign} --cacert {} --resolve {ORDERS_HOST}:{port}:{ip} https://{ORDERS_HOST}:{port}/hello",
            path.display(),
            port = https.port(),
            ip = https.ip(),
        ),
        None => println!("  (start with --write-ca ca.pem, then pass --cacert ca.pem to curl)"),
    }
}

/// Wait for Ctrl-C or SIGTERM.
async fn wait_for_signal() -> std::io::Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result,
        _ = terminate.recv() => Ok(()),
    }
}

/// A clap value parser for listen addresses: loopback only.
fn loopback_addr(value: &str) -> Result<SocketAddr, String> {
    let addr: SocketAddr = value
        .parse()
        .map_err(|error| format!("{error} (expected IP:PORT, e.g. 127.0.0.1:8443)"))?;
    if addr.ip().is_loopback() {
        Ok(addr)
    } else {
        Err(format!(
            "{addr} is not a loopback address; this server only listens on 127.0.0.0/8 or [::1]"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_non_loopback_listen_addresses() {
        let error = Args::try_parse_from(["lattice-emulator", "--https-listen", "0.0.0.0:8443"])
            .unwrap_err();
        assert!(error.use_stderr());
        assert!(
            error.to_string().contains("not a loopback address"),
            "{error}"
        );
    }
}
