//! GET a URL with reqwest, signed by `SigV4Middleware`; print the status and body.
//!
//! ```text
//! cargo run -p lattice-examples --bin reqwest_get -- --url https://HOST:8443/hello \
//!     --resolve HOST:8443:127.0.0.1 --ca-file /tmp/lattice-ca.pem
//! ```

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Parser;
use lattice_client::integrations::reqwest::SigV4Middleware;
use lattice_examples::{BoxError, CommonArgs, print, report};

/// GET a VPC Lattice URL with reqwest and SigV4/SigV4A signing.
#[derive(Parser, Debug)]
struct Cli {
    #[command(flatten)]
    common: CommonArgs,
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Cli::parse()).await {
        Ok(code) => code,
        Err(error) => report(&*error),
    }
}

async fn run(cli: Cli) -> Result<ExitCode, BoxError> {
    let common = cli.common;
    let signer = common.signer().await?;

    let mut builder = reqwest::Client::builder().tls_backend_preconfigured(common.tls()?);
    let (host, port) = common.host_and_port()?;
    if let Some(addr) = common.overrides()?.get(&host) {
        builder = builder.resolve(&host, SocketAddr::new(addr, port));
    }
    let client = reqwest_middleware::ClientBuilder::new(builder.build()?)
        .with(SigV4Middleware::new(signer))
        .build();

    let response = client.get(common.url.to_string()).send().await?;
    let status = response.status();
    print(format_args!("{status} ({:?})", response.version()))?;
    print(response.text().await?)?;
    Ok(if status.is_success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
