//! `lattice-emulator`: run the local VPC Lattice emulator by hand or in a container, e.g.
//! to try the sidecar or curl against it. Exits 64 for a bad command line.

use std::{
    io::IsTerminal,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    path::{Path, PathBuf},
    process::ExitCode,
};

use clap::{Parser, Subcommand, ValueEnum};
use lattice_emulator::{
    Config, DEFAULT_ACCESS_KEY_ID, DEFAULT_PRINCIPAL, DEFAULT_SECRET_ACCESS_KEY, Emulator,
    KeyStore, ORDERS_HOST, ORDERS_REGION, SIGNING_NAME, Secret,
};
use tokio::signal::unix::{SignalKind, signal};
use tracing_subscriber::EnvFilter;

mod policy_check;

/// BSD `EX_USAGE`: the command line was wrong.
const EX_USAGE: u8 = 64;
/// BSD `EX_SOFTWARE`: the emulator could not start or serve.
const EX_SOFTWARE: u8 = 70;

/// A local Amazon VPC Lattice emulator: verifies SigV4/SigV4A and echoes requests.
// No Debug: the arguments hold the secret access key and session token.
#[derive(Parser)]
#[command(
    version,
    about,
    after_help = "Exit codes: 0 after SIGINT/SIGTERM, 64 for an invalid command line or \
        --config file, 70 if the emulator cannot start. SIGHUP reloads --config."
)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,

    /// Serve the identities, service networks, services, auth policies and targets this
    /// TOML file declares instead of the built-in services; reloaded on SIGHUP.
    #[arg(long, env = "LATTICE_EMULATOR_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,

    /// Log format on stderr: `text`, or `json` (one object per line) for machines.
    #[arg(
        long,
        env = "LATTICE_EMULATOR_LOG_FORMAT",
        value_name = "FORMAT",
        default_value = "text"
    )]
    log_format: LogFormat,

    /// TLS listener (ALPN h2 and http/1.1); loopback unless --allow-non-loopback.
    #[arg(
        long,
        env = "LATTICE_EMULATOR_HTTPS_LISTEN",
        value_name = "ADDR",
        default_value = "127.0.0.1:8443",
        value_parser = parse_listen_addr
    )]
    https_listen: SocketAddr,

    /// Plain HTTP listener (HTTP/1.1 and h2c prior knowledge); loopback unless
    /// --allow-non-loopback.
    #[arg(
        long,
        env = "LATTICE_EMULATOR_HTTP_LISTEN",
        value_name = "ADDR",
        default_value = "127.0.0.1:8080",
        value_parser = parse_listen_addr
    )]
    http_listen: SocketAddr,

    /// Allow listen addresses other than loopback, e.g. 0.0.0.0 in a container. Anyone
    /// who can reach the emulator can then call it with the keys it accepts, and the
    /// built-in test identity's secret is public.
    #[arg(long, env = "LATTICE_EMULATOR_ALLOW_NON_LOOPBACK")]
    allow_non_loopback: bool,

    /// Write the run-time CA certificate (PEM) here, for `curl --cacert`.
    #[arg(long, env = "LATTICE_EMULATOR_WRITE_CA", value_name = "PATH")]
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

/// Without a subcommand, the emulator serves.
#[derive(Subcommand)]
enum Command {
    /// Check auth policies without a server.
    #[command(subcommand)]
    Policy(policy_check::PolicyCommand),
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum LogFormat {
    Text,
    Json,
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
    if let Some(Command::Policy(command)) = args.command {
        return policy_check::run(command);
    }
    if let Err(problems) = args.check() {
        for problem in problems {
            eprintln!("lattice-emulator: {problem}");
        }
        return ExitCode::from(EX_USAGE);
    }
    let config = match args.config.as_deref().map(Config::load).transpose() {
        Ok(config) => config,
        Err(error) => {
            for problem in error.problems() {
                eprintln!("lattice-emulator: {problem}");
            }
            return ExitCode::from(EX_USAGE);
        }
    };
    // Logs go to stderr so stdout carries only the banner.
    // Colours only on a terminal: container logs keep plain text.
    let logs = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        );
    match args.log_format {
        LogFormat::Text => logs.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => logs.json().init(),
    }

    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("lattice-emulator: cannot start the Tokio runtime: {error}");
            return ExitCode::from(EX_SOFTWARE);
        }
    };
    match runtime.block_on(run(args, config)) {
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

async fn run(
    args: Args,
    config: Option<Config>,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let custom_identity = args.access_key_id.is_some();
    let builder = Emulator::builder()
        .https_addr(args.https_listen)
        .http_addr(args.http_listen)
        .allow_non_loopback(args.allow_non_loopback);
    let builder = match config {
        // The file declares the identities too.
        Some(config) => {
            if custom_identity {
                tracing::warn!(
                    "--access-key-id (or AWS_ACCESS_KEY_ID) is ignored with --config: \
                     declare the keys to accept as [[identity]] entries"
                );
            }
            builder.config(config)
        }
        None => builder.key_store(command_line_identity(&args)),
    };
    let emulator = builder.start().await?;
    if let Some(path) = &args.write_ca {
        std::fs::write(path, emulator.ca_pem())
            .map_err(|error| format!("cannot write the CA to {}: {error}", path.display()))?;
    }
    print_banner(
        &emulator,
        args.write_ca.as_deref(),
        custom_identity,
        args.config.is_some(),
    );

    // Signal streams are created once, so no signal is lost between two waits.
    let mut interrupt = std::pin::pin!(tokio::signal::ctrl_c());
    let mut terminate = signal(SignalKind::terminate())?;
    let mut hangup = signal(SignalKind::hangup())?;
    loop {
        tokio::select! {
            result = &mut interrupt => break result?,
            _ = terminate.recv() => break,
            _ = hangup.recv() => reload(&emulator, args.config.as_deref()),
        }
    }
    tracing::info!("shutting down");
    emulator.shutdown().await;
    Ok(())
}

/// SIGHUP: serve the new `--config` if it is valid, else keep the current one and say why.
fn reload(emulator: &Emulator, path: Option<&Path>) {
    let Some(path) = path else {
        tracing::info!("SIGHUP ignored: there is no --config to reload");
        return;
    };
    match Config::load(path) {
        Ok(config) => {
            let services = config.services().len();
            emulator.reload(config);
            tracing::info!(config = %path.display(), services, "reloaded the configuration");
        }
        Err(error) => tracing::error!(
            config = %path.display(),
            %error,
            "refused the new configuration; still serving the previous one"
        ),
    }
}

/// The one key accepted without --config: the flags', or the built-in test identity.
fn command_line_identity(args: &Args) -> KeyStore {
    let keys = KeyStore::new();
    keys.insert(Secret {
        access_key_id: args
            .access_key_id
            .clone()
            .unwrap_or_else(|| DEFAULT_ACCESS_KEY_ID.to_owned()),
        secret_access_key: args
            .secret_access_key
            .clone()
            .unwrap_or_else(|| DEFAULT_SECRET_ACCESS_KEY.to_owned()),
        session_token: args.session_token.clone(),
        principal: args.principal.clone(),
        session_name: None,
    });
    keys
}

fn print_banner(
    emulator: &Emulator,
    ca_path: Option<&Path>,
    custom_identity: bool,
    from_config: bool,
) {
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
    if from_config {
        // The file's services and keys are the team's own: no ready-made command.
        return;
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
            ip = reachable_ip(https),
        ),
        None => println!("  (start with --write-ca ca.pem, then pass --cacert ca.pem to curl)"),
    }
}

/// A clap value parser for listen addresses, with an example in the error.
fn parse_listen_addr(value: &str) -> Result<SocketAddr, String> {
    value
        .parse()
        .map_err(|error| format!("{error} (expected IP:PORT, e.g. 127.0.0.1:8443)"))
}

/// Where a local client reaches a listener: loopback for a wildcard address.
fn reachable_ip(addr: SocketAddr) -> IpAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => Ipv4Addr::LOCALHOST.into(),
        IpAddr::V6(ip) if ip.is_unspecified() => Ipv6Addr::LOCALHOST.into(),
        ip => ip,
    }
}

// === impl Args ===

impl Args {
    /// What clap cannot check alone: every listen address outside loopback needs
    /// --allow-non-loopback. Reports each problem with its fix.
    fn check(&self) -> Result<(), Vec<String>> {
        if self.allow_non_loopback {
            return Ok(());
        }
        let problems: Vec<String> = [
            ("--https-listen", self.https_listen),
            ("--http-listen", self.http_listen),
        ]
        .into_iter()
        .filter(|(_, addr)| !addr.ip().is_loopback())
        .map(|(flag, addr)| {
            format!(
                "{flag} {addr} is not a loopback address: anyone who can reach it could call \
                 the emulator with its public test identity; use 127.0.0.1, or pass \
                 --allow-non-loopback if that is intended (e.g. in a container)"
            )
        })
        .collect();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(extra: &[&str]) -> Args {
        let argv = ["lattice-emulator"].iter().chain(extra);
        Args::try_parse_from(argv).expect("the command line parses")
    }

    #[test]
    fn non_loopback_listen_addresses_need_the_flag() {
        let problems = args(&["--https-listen", "0.0.0.0:8443", "--http-listen", "[::]:80"])
            .check()
            .unwrap_err();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].starts_with("--https-listen 0.0.0.0:8443 is not a loopback"));
        assert!(problems[1].starts_with("--http-listen [::]:80 is not a loopback"));
        assert!(problems.iter().all(|p| p.contains("--allow-non-loopback")));

        for refused in ["0.0.0.0:8443", "[::]:1", "10.0.0.1:80"] {
            assert!(
                args(&["--http-listen", refused]).check().is_err(),
                "{refused}"
            );
            let allowed = args(&["--http-listen", refused, "--allow-non-loopback"]);
            assert_eq!(allowed.check(), Ok(()), "{refused}");
        }
    }

    #[test]
    fn loopback_addresses_need_no_flag() {
        for addr in ["127.0.0.1:0", "127.3.2.1:80", "[::1]:1"] {
            let args = args(&["--https-listen", addr, "--http-listen", addr]);
            assert_eq!(args.check(), Ok(()), "{addr}");
        }
    }

    #[test]
    fn listen_addresses_must_be_ip_and_port() {
        for bad in ["localhost:80", "127.0.0.1", "nope"] {
            let Err(error) = Args::try_parse_from(["lattice-emulator", "--http-listen", bad])
            else {
                panic!("{bad} parsed as a listen address");
            };
            assert!(error.use_stderr());
            assert!(error.to_string().contains("expected IP:PORT"), "{error}");
        }
    }

    #[test]
    fn wildcard_listeners_are_reached_on_loopback() {
        let v4: SocketAddr = "0.0.0.0:8080".parse().unwrap();
        let v6: SocketAddr = "[::]:8080".parse().unwrap();
        let other: SocketAddr = "10.1.2.3:8080".parse().unwrap();
        assert_eq!(reachable_ip(v4), IpAddr::from(Ipv4Addr::LOCALHOST));
        assert_eq!(reachable_ip(v6), IpAddr::from(Ipv6Addr::LOCALHOST));
        assert_eq!(reachable_ip(other), other.ip());
    }
}
