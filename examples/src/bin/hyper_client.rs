//! GET a URL with a hyper-util client wrapped in `SigV4Layer`; print the status and body.
//!
//! ```text
//! cargo run -p lattice-examples --bin hyper_client -- --url https://HOST:8443/hello \
//!     --resolve HOST:8443:127.0.0.1 --ca-file /tmp/lattice-ca.pem
//! ```

use std::process::ExitCode;

use bytes::Bytes;
use clap::Parser;
use http_body_util::{BodyExt, Empty};
use lattice_client::integrations::hyper::{client_with_connector, https_connector};
use lattice_examples::{BoxError, CommonArgs, print, report};
use tower::ServiceExt;

/// GET a VPC Lattice URL with hyper (HTTP/2 or HTTP/1.1 via ALPN) and SigV4/SigV4A signing.
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
    let connector = https_connector(common.tls()?, common.http_connector()?);
    let client = client_with_connector::<_, Empty<Bytes>>(signer, connector);

    let request = http::Request::get(common.url.clone()).body(Empty::new())?;
    let response = client.oneshot(request).await?;
    let status = response.status();
    print(format_args!("{status} ({:?})", response.version()))?;
    let body = response.into_body().collect().await?.to_bytes();
    print(String::from_utf8_lossy(&body))?;
    Ok(if status.is_success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
