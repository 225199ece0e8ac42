//! tonic against the emulator's `lattice.test.Greeter` over real TLS (h2): unary,
//! server-streaming and client-streaming calls through the signed `Channel` layer and
//! through `SigV4Interceptor`, for SigV4/SigV4A with and without a session token, plus
//! calls Lattice must refuse.

mod e2e_common;

use std::time::Duration;

use e2e_common::*;
use http::Uri;
use lattice_client::Signer;
use lattice_client::integrations::tonic::{HttpErrorsAsStatus, SigV4Interceptor, signed_channel};
use lattice_emulator::greeter::HelloRequest;
use lattice_emulator::greeter::greeter_client::GreeterClient;
use lattice_emulator::{Emulator, ORDERS_CUSTOM_DOMAIN, ORDERS_HOST, Verdict};
use tonic::Code;
use tonic::codegen::{Body, Bytes, StdError};
use tonic::metadata::MetadataValue;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};

/// The origin for `host` on the emulator, and a channel to it (every name resolves to
/// the emulator; only its CA is trusted).
async fn channel(emulator: &Emulator, host: &str) -> (Channel, Uri) {
    let origin: Uri = emulator.https_url(host, "").parse().unwrap();
    let tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(emulator.ca_pem()));
    let channel = Endpoint::from(origin.clone())
        .tls_config(tls)
        .unwrap()
        .timeout(Duration::from_secs(30))
        .connect_with_connector(connector(emulator))
        .await
        .unwrap();
    (channel, origin)
}

async fn layer_client(
    emulator: &Emulator,
    host: &str,
    signer: Signer,
) -> GreeterClient<impl GrpcService + use<>> {
    let (channel, origin) = channel(emulator, host).await;
    GreeterClient::new(signed_channel(channel, origin, signer).unwrap())
}

async fn interceptor_client(
    emulator: &Emulator,
    host: &str,
    signer: Signer,
) -> GreeterClient<impl GrpcService + use<>> {
    let (channel, origin) = channel(emulator, host).await;
    GreeterClient::with_interceptor(channel, SigV4Interceptor::new(signer, origin).unwrap())
}

/// What a generated client needs of its transport.
trait GrpcService:
    tonic::client::GrpcService<
        tonic::body::Body,
        Error: Into<StdError>,
        ResponseBody: Body<Data = Bytes, Error: Into<StdError> + Send> + Send + 'static,
    >
{
}

impl<T> GrpcService for T where
    T: tonic::client::GrpcService<
            tonic::body::Body,
            Error: Into<StdError>,
            ResponseBody: Body<Data = Bytes, Error: Into<StdError> + Send> + Send + 'static,
        >
{
}

/// A request with metadata and a deadline: both travel as signed headers.
fn hello(name: &str) -> tonic::Request<HelloRequest> {
    let mut request = tonic::Request::new(HelloRequest {
        name: name.to_owned(),
    });
    request
        .metadata_mut()
        .insert("x-e2e", MetadataValue::from_static("tonic"));
    request
        .metadata_mut()
        .insert_bin("x-trace-bin", MetadataValue::from_bytes(b"\x00\x01\xff"));
    request.set_timeout(Duration::from_secs(20));
    request
}

/// Unary, server-streaming and client-streaming calls, all answered for `principal`.
async fn all_call_kinds(mut client: GreeterClient<impl GrpcService>, principal: &str) {
    let reply = client.say_hello(hello("Ada")).await.unwrap().into_inner();
    assert_eq!(
        (reply.message.as_str(), reply.principal.as_str()),
        ("Hello Ada", principal)
    );

    let mut replies = client
        .stream_greetings(hello("Bo"))
        .await
        .unwrap()
        .into_inner();
    let mut messages = Vec::new();
    while let Some(reply) = replies.message().await.unwrap() {
        assert_eq!(reply.principal, principal);
        messages.push(reply.message);
    }
    assert_eq!(
        messages,
        (1..=5)
            .map(|n| format!("Hello Bo #{n}"))
            .collect::<Vec<_>>()
    );

    let names = ["Cy", "Di", "Ed"].map(|name| HelloRequest {
        name: name.to_owned(),
    });
    let mut request = tonic::Request::new(tokio_stream::iter(names));
    request
        .metadata_mut()
        .insert("x-e2e", MetadataValue::from_static("tonic"));
    let reply = client
        .collect_greetings(request)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (reply.message.as_str(), reply.principal.as_str()),
        ("Hello Cy, Di, Ed", principal)
    );
}

async fn through_layer(variant: Variant, host: &str) {
    let emulator = start().await;
    let client = layer_client(&emulator, host, variant.signer().await).await;
    all_call_kinds(client, variant.principal()).await;
    assert_all_forwarded(&emulator, variant, 3);
}

async fn through_interceptor(variant: Variant, host: &str) {
    let emulator = start().await;
    let client = interceptor_client(&emulator, host, variant.signer().await).await;
    all_call_kinds(client, variant.principal()).await;
    assert_all_forwarded(&emulator, variant, 3);
}

fn assert_all_forwarded(emulator: &Emulator, variant: Variant, calls: usize) {
    let requests = emulator.requests();
    assert_eq!(requests.len(), calls, "{requests:?}");
    for record in requests {
        let expected = Verdict::Forwarded {
            access_key_id: Some(variant.access_key_id().to_owned()),
        };
        assert_eq!(record.verdict, expected, "{record:?}");
        assert_eq!(record.method, "POST");
        assert!(
            record.path.starts_with("/lattice.test.Greeter/"),
            "{record:?}"
        );
    }
}

#[tokio::test]
async fn layer_sigv4() {
    through_layer(SIGV4, ORDERS_HOST).await;
}

#[tokio::test]
async fn layer_sigv4_session_token() {
    through_layer(SIGV4_SESSION, ORDERS_HOST).await;
}

#[tokio::test]
async fn layer_sigv4a() {
    through_layer(SIGV4A, ORDERS_HOST).await;
}

#[tokio::test]
async fn layer_sigv4a_session_token() {
    through_layer(SIGV4A_SESSION, ORDERS_HOST).await;
}

#[tokio::test]
async fn interceptor_sigv4() {
    through_interceptor(SIGV4, ORDERS_HOST).await;
}

#[tokio::test]
async fn interceptor_sigv4_session_token() {
    through_interceptor(SIGV4_SESSION, ORDERS_HOST).await;
}

#[tokio::test]
async fn interceptor_sigv4a() {
    through_interceptor(SIGV4A, ORDERS_HOST).await;
}

#[tokio::test]
async fn interceptor_sigv4a_session_token() {
    through_interceptor(SIGV4A_SESSION, ORDERS_HOST).await;
}

#[tokio::test]
async fn custom_domain_through_layer_and_interceptor() {
    through_layer(SIGV4_SESSION, ORDERS_CUSTOM_DOMAIN).await;
    through_interceptor(SIGV4A, ORDERS_CUSTOM_DOMAIN).await;
}

/// Both flavours surface Lattice's plain-text 403 as a `Status` that names the HTTP
/// status and carries the response headers, `x-amzn-errortype` included. The signed
/// channel maps it to `PermissionDenied`; behind the interceptor (which sees no
/// responses) tonic decodes the text body as gRPC, hence `Internal` there.
async fn assert_refused(emulator: &Emulator, host: &str, signer: Signer) {
    let mut client = layer_client(emulator, host, signer.clone()).await;
    assert_permission_denied(client.say_hello(hello("Ada")).await.unwrap_err());
    let mut client = interceptor_client(emulator, host, signer.clone()).await;
    assert_403(client.say_hello(hello("Ada")).await.unwrap_err());
    // The interceptor over a channel that maps HTTP errors, as the README suggests.
    let (channel, origin) = channel(emulator, host).await;
    let mut client = GreeterClient::with_interceptor(
        HttpErrorsAsStatus::new(channel),
        SigV4Interceptor::new(signer, origin).unwrap(),
    );
    assert_permission_denied(client.say_hello(hello("Ada")).await.unwrap_err());

    let requests = emulator.requests();
    assert_eq!(requests.len(), 3, "{requests:?}");
    for record in requests {
        assert_eq!(
            record.verdict,
            Verdict::Rejected {
                code: "InvalidSignatureException"
            }
        );
    }
    emulator.clear_requests();
}

/// What the signed channel makes of Lattice's 403.
fn assert_permission_denied(status: tonic::Status) {
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    assert_eq!(
        status.message(),
        "HTTP 403 Forbidden from the server: InvalidSignatureException"
    );
    assert_403(status);
}

fn assert_403(status: tonic::Status) {
    assert!(
        matches!(status.code(), Code::PermissionDenied | Code::Internal),
        "{status:?}"
    );
    assert!(status.message().contains("403"), "{status:?}");
    let error_type = status.metadata().get("x-amzn-errortype");
    assert_eq!(
        error_type.and_then(|v| v.to_str().ok()),
        Some("InvalidSignatureException")
    );
}

#[tokio::test]
async fn wrong_secret_is_refused() {
    let emulator = start().await;
    for variant in [SIGV4, SIGV4A] {
        let signer = signer_with(variant.config().build().unwrap(), wrong_secret()).await;
        assert_refused(&emulator, ORDERS_HOST, signer).await;
    }
}

#[tokio::test]
async fn wrong_region_for_a_custom_domain_is_refused() {
    let emulator = start().await;
    for sigv4a in [false, true] {
        let signer = signer_with(wrong_region_config(sigv4a), SIGV4_SESSION.credentials()).await;
        assert_refused(&emulator, ORDERS_CUSTOM_DOMAIN, signer).await;
    }
}

#[tokio::test]
async fn stale_timestamp_is_refused() {
    let emulator = start().await;
    for variant in [SIGV4_SESSION, SIGV4A] {
        // Correction off, so the interceptor call after the layer's refusal is still stale.
        let signer = stale_signer(variant, &emulator, Duration::from_secs(10 * 60))
            .await
            .with_clock_skew_correction(false);
        assert_refused(&emulator, ORDERS_HOST, signer).await;
    }
}

/// `signed_channel` signs through `SigV4Layer`, which shows the 403's `Date` to the
/// signer: the next call is signed with the server's time and succeeds.
#[tokio::test]
async fn clock_skew_is_corrected_through_the_signed_channel() {
    let emulator = start().await;
    for variant in [SIGV4_SESSION, SIGV4A] {
        let signer = stale_signer(variant, &emulator, Duration::from_secs(10 * 60)).await;
        let mut client = layer_client(&emulator, ORDERS_HOST, signer.clone()).await;
        assert_permission_denied(client.say_hello(hello("Ada")).await.unwrap_err());
        let reply = client.say_hello(hello("Ada")).await.unwrap().into_inner();
        assert_eq!(reply.principal, variant.principal());
        assert!(signer.clock_offset_millis() >= 598_000);
    }
}

#[tokio::test]
async fn interceptor_with_a_cold_cache_fails_fast_and_says_why() {
    let emulator = start().await;
    let signer = Signer::new(
        SIGV4.config().build().unwrap(),
        lattice_client::CredentialsCache::from_static(SIGV4.credentials()),
    );
    let mut client = interceptor_client(&emulator, ORDERS_HOST, signer.clone()).await;
    let status = client.say_hello(hello("Ada")).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(status.message().contains("warm()"), "{}", status.message());
    assert!(emulator.requests().is_empty());

    signer.credentials().warm().await.unwrap();
    let reply = client.say_hello(hello("Ada")).await.unwrap().into_inner();
    assert_eq!(reply.principal, SIGV4.principal());
}
