//! Call the emulator's `lattice.test.Greeter` over a signed tonic channel (or with
//! `SigV4Interceptor`); print the replies.
//!
//! ```text
//! cargo run -p lattice-examples --bin tonic_greeter -- --url https://HOST:8443 \
//!     --resolve HOST:8443:127.0.0.1 --ca-file /tmp/lattice-ca.pem --name Ada
//! ```

use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use http::Uri;
use http::uri::Scheme;
use lattice_client::canonicalize_authority;
use lattice_client::integrations::tonic::{SigV4Interceptor, signed_channel};
use lattice_emulator::greeter::HelloRequest;
use lattice_emulator::greeter::greeter_client::GreeterClient;
use lattice_examples::{BoxError, CommonArgs, SetupError, print, report};
use tonic::codegen::{Body, Bytes, StdError};
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint};

/// Call lattice.test.Greeter through VPC Lattice with SigV4/SigV4A signing.
#[derive(Parser, Debug)]
struct Cli {
    #[command(flatten)]
    common: CommonArgs,

    /// Who to greet; for `--call collect`, a comma-separated list.
    #[arg(long, default_value = "world")]
    name: String,

    /// Which RPC to make.
    #[arg(long, value_enum, default_value_t = Call::Unary)]
    call: Call,

    /// Sign with `SigV4Interceptor` instead of the channel layer.
    #[arg(long)]
    interceptor: bool,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Call {
    /// SayHello: one request, one reply.
    Unary,
    /// StreamGreetings: one request, a stream of replies.
    Stream,
    /// CollectGreetings: a stream of requests, one reply.
    Collect,
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // Lattice refuses with a plain-text 403; tonic keeps its headers as metadata.
            if let Some(status) = error.downcast_ref::<tonic::Status>()
                && let Some(code) = status.metadata().get("x-amzn-errortype")
            {
                eprintln!("Lattice refused the call: {}", code.to_str().unwrap_or("?"));
            }
            report(&*error)
        }
    }
}

async fn run(cli: Cli) -> Result<(), BoxError> {
    let common = &cli.common;
    let signer = common.signer().await?;

    // The channel sends `:authority` exactly as the endpoint URI has it, and the signer
    // signs the host without a default port: use one canonical origin for both.
    let mut origin = common.url.clone();
    canonicalize_authority(&mut origin);
    let authority = origin
        .authority()
        .cloned()
        .ok_or_else(|| SetupError::RelativeUrl(common.url.clone()))?;
    let scheme = origin.scheme().cloned().unwrap_or(Scheme::HTTPS);
    let origin = Uri::builder()
        .scheme(scheme.clone())
        .authority(authority)
        .path_and_query("/")
        .build()?;

    let mut endpoint = Endpoint::from(origin.clone());
    if scheme == Scheme::HTTPS {
        let mut tls = ClientTlsConfig::new().with_native_roots();
        if let Some(pem) = common.ca_pem()? {
            tls = tls.ca_certificate(Certificate::from_pem(pem));
        }
        endpoint = endpoint.tls_config(tls)?;
    }
    let channel = endpoint
        .connect_with_connector(common.http_connector()?)
        .await?;

    if cli.interceptor {
        let client =
            GreeterClient::with_interceptor(channel, SigV4Interceptor::new(signer, origin)?);
        call(client, cli.call, &cli.name).await
    } else {
        call(
            GreeterClient::new(signed_channel(channel, origin, signer)?),
            cli.call,
            &cli.name,
        )
        .await
    }
}

async fn call<T>(mut client: GreeterClient<T>, call: Call, name: &str) -> Result<(), BoxError>
where
    T: tonic::client::GrpcService<tonic::body::Body>,
    T::Error: Into<StdError>,
    T::ResponseBody: Body<Data = Bytes> + Send + 'static,
    <T::ResponseBody as Body>::Error: Into<StdError> + Send,
{
    let hello = |name: &str| HelloRequest {
        name: name.to_owned(),
    };
    match call {
        Call::Unary => {
            let reply = client.say_hello(hello(name)).await?.into_inner();
            print(format_args!(
                "{} (principal: {})",
                reply.message, reply.principal
            ))?;
        }
        Call::Stream => {
            let mut replies = client.stream_greetings(hello(name)).await?.into_inner();
            while let Some(reply) = replies.message().await? {
                print(format_args!(
                    "{} (principal: {})",
                    reply.message, reply.principal
                ))?;
            }
        }
        Call::Collect => {
            let requests: Vec<HelloRequest> = name.split(',').map(|n| hello(n.trim())).collect();
            let reply = client
                .collect_greetings(tokio_stream_iter(requests))
                .await?
                .into_inner();
            print(format_args!(
                "{} (principal: {})",
                reply.message, reply.principal
            ))?;
        }
    }
    Ok(())
}

/// A stream of requests for a client-streaming call.
fn tokio_stream_iter(
    requests: Vec<HelloRequest>,
) -> impl tonic::codegen::tokio_stream::Stream<Item = HelloRequest> {
    tonic::codegen::tokio_stream::iter(requests)
}
