//! A hyper-util client wrapped in `SigV4Layer` against the emulator over real TLS
//! (HTTP/2 and HTTP/1.1 via ALPN): every request shape for SigV4/SigV4A with and without a
//! session token, 100 MB streams in bounded memory, and requests Lattice must refuse.

mod e2e_common;

use std::time::Duration;

use bytes::Bytes;
use e2e_common::*;
use futures_util::StreamExt;
use http::{Request, Response};
use http_body::Frame;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full, StreamBody};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use lattice_client::integrations::hyper::{client_with_connector, https_connector};
use lattice_client::integrations::tls::TlsConfig;
use lattice_client::{BoxError, Error, ErrorKind, SigV4Layer, Signer};
use lattice_emulator::{Emulator, ORDERS_CUSTOM_DOMAIN, ORDERS_HOST};
use serde_json::Value;
use tower::{ServiceBuilder, ServiceExt};

type Body = BoxBody<Bytes, BoxError>;

fn empty() -> Body {
    Empty::new().map_err(|never| match never {}).boxed()
}

fn full(bytes: &'static [u8]) -> Body {
    Full::new(Bytes::from_static(bytes))
        .map_err(|never| match never {})
        .boxed()
}

/// `SigV4Layer` over a hyper-util client whose resolver sends every name to the emulator.
fn signed_client(
    emulator: &Emulator,
    tls: TlsConfig,
    signer: Signer,
) -> impl tower::Service<Request<Body>, Response = Response<Incoming>, Error = BoxError, Future: Send>
+ Clone {
    client_with_connector(
        signer,
        https_connector(tls.build().unwrap(), connector(emulator)),
    )
}

async fn send(
    client: impl tower::Service<Request<Body>, Response = Response<Incoming>, Error = BoxError>,
    request: Request<Body>,
) -> (u16, Option<String>, String) {
    let response = client.oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let error_type = response
        .headers()
        .get("x-amzn-errortype")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        error_type,
        String::from_utf8_lossy(&body).into_owned(),
    )
}

async fn edge_requests(variant: Variant, tls: fn(&Emulator) -> TlsConfig, version: &str) {
    let emulator = start().await;
    let client = signed_client(&emulator, tls(&emulator), variant.signer().await);
    for host in [ORDERS_HOST, ORDERS_CUSTOM_DOMAIN] {
        for (method, path_and_query) in EDGE_REQUESTS {
            let url = emulator.https_url(host, path_and_query);
            let builder = Request::builder()
                .method(method)
                .uri(&url)
                .header("x-e2e", "hyper");
            let request = if matches!(method, "POST" | "PUT" | "PATCH") {
                builder
                    .header("content-type", "application/json")
                    .body(full(br#"{"n":1}"#))
            } else {
                builder.body(empty())
            };
            let (status, _, body) = send(client.clone(), request.unwrap()).await;
            assert_eq!(status, 200, "{method} {url}: {body}");
            let echo: Value = serde_json::from_str(&body).unwrap();
            assert_verified(&echo, variant);
            assert!(
                echo["verified"]["signed_headers"]
                    .to_string()
                    .contains("\"x-e2e\"")
            );
            assert_eq!(echo["method"], method);
            assert_eq!(echo["version"], version);
            // hyper sends the path and query exactly as given: nothing is normalized.
            let (path, query) = match path_and_query.split_once('?') {
                Some((path, query)) => (path, Some(query)),
                None => (path_and_query, None),
            };
            assert_eq!(echo["path"], path);
            assert_eq!(echo["query"].as_str(), query);
        }
        // HEAD: signed like any other method, answered with no body.
        let request = Request::head(emulator.https_url(host, "/download?bytes=16&z=1&a=2"));
        let (status, _, body) = send(client.clone(), request.body(empty()).unwrap()).await;
        assert_eq!((status, body.as_str()), (200, ""), "HEAD {host}");
    }
}

#[tokio::test]
async fn sigv4_requests_are_accepted() {
    edge_requests(SIGV4, tls, "HTTP/2.0").await;
}

#[tokio::test]
async fn sigv4_session_token_requests_are_accepted() {
    edge_requests(SIGV4_SESSION, tls, "HTTP/2.0").await;
}

#[tokio::test]
async fn sigv4a_requests_are_accepted() {
    edge_requests(SIGV4A, tls, "HTTP/2.0").await;
}

#[tokio::test]
async fn sigv4a_session_token_requests_are_accepted() {
    edge_requests(SIGV4A_SESSION, tls, "HTTP/2.0").await;
}

#[tokio::test]
async fn http1_requests_are_accepted() {
    edge_requests(SIGV4, |e| tls(e).http1_only(), "HTTP/1.1").await;
    edge_requests(SIGV4A_SESSION, |e| tls(e).http1_only(), "HTTP/1.1").await;
}

#[tokio::test]
async fn service_builder_composition_from_the_docs() {
    let emulator = start().await;
    let connector = https_connector(tls(&emulator).build().unwrap(), connector(&emulator));
    let client = Client::builder(TokioExecutor::new()).build::<_, Body>(connector);
    let service = ServiceBuilder::new()
        .layer(SigV4Layer::new(SIGV4A_SESSION.signer().await))
        .service(client);
    let request = Request::get(emulator.https_url(ORDERS_HOST, "/?x=1"))
        .body(empty())
        .unwrap();
    let (status, _, body) = send(service, request).await;
    assert_eq!(status, 200, "{body}");
    assert_verified(&serde_json::from_str(&body).unwrap(), SIGV4A_SESSION);
}

async fn upload_large(variant: Variant) {
    let emulator = start().await;
    let client = signed_client(&emulator, tls(&emulator), variant.signer().await);
    let expected = large_sha256();
    let _heavy = heavy_lock().await;
    let probe = MemoryProbe::start();
    let frames = large_stream().map(|chunk| chunk.map(Frame::data).map_err(BoxError::from));
    let request = Request::post(emulator.https_url(ORDERS_HOST, "/upload"))
        .header("content-type", "application/octet-stream")
        .body(BodyExt::boxed(StreamBody::new(frames)))
        .unwrap();
    let (status, _, body) = send(client, request).await;
    probe.assert_bounded("hyper upload");
    assert_eq!(status, 200, "{body}");
    let digest: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(digest["bytes"], LARGE_LEN);
    assert_eq!(digest["sha256"], expected);
}

async fn download_large(variant: Variant) {
    let emulator = start().await;
    let client = signed_client(&emulator, tls(&emulator), variant.signer().await);
    large_sha256();
    let _heavy = heavy_lock().await;
    let probe = MemoryProbe::start();
    let url = emulator.https_url(ORDERS_HOST, &format!("/download?bytes={LARGE_LEN}"));
    let response = client
        .oneshot(Request::get(url).body(empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut body = response.into_body();
    let mut digest = StreamDigest::default();
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.unwrap().into_data() {
            digest.update(&data);
        }
    }
    probe.assert_bounded("hyper download");
    digest.assert_large_pattern();
}

#[tokio::test]
async fn sigv4_session_token_upload_of_100_mb_streams() {
    upload_large(SIGV4_SESSION).await;
}

#[tokio::test]
async fn sigv4a_upload_of_100_mb_streams() {
    upload_large(SIGV4A).await;
}

#[tokio::test]
async fn sigv4_download_of_100_mb_streams() {
    download_large(SIGV4).await;
}

#[tokio::test]
async fn sigv4a_session_token_download_of_100_mb_streams() {
    download_large(SIGV4A_SESSION).await;
}

async fn assert_refused(emulator: &Emulator, signer: Signer, host: &str) {
    let client = signed_client(emulator, tls(emulator), signer);
    let request = Request::get(emulator.https_url(host, "/orders"))
        .body(empty())
        .unwrap();
    let (status, error_type, body) = send(client, request).await;
    assert_rejected(
        status,
        error_type.as_deref(),
        &body,
        "InvalidSignatureException",
    );
}

#[tokio::test]
async fn wrong_secret_is_refused() {
    let emulator = start().await;
    for variant in [SIGV4, SIGV4A] {
        let signer = signer_with(variant.config().build().unwrap(), wrong_secret()).await;
        assert_refused(&emulator, signer, ORDERS_HOST).await;
    }
}

#[tokio::test]
async fn wrong_region_for_a_custom_domain_is_refused() {
    let emulator = start().await;
    for sigv4a in [false, true] {
        let signer = signer_with(wrong_region_config(sigv4a), SIGV4_SESSION.credentials()).await;
        assert_refused(&emulator, signer, ORDERS_CUSTOM_DOMAIN).await;
    }
}

#[tokio::test]
async fn stale_timestamp_is_refused() {
    let emulator = start().await;
    for variant in [SIGV4, SIGV4A_SESSION] {
        let signer = stale_signer(variant, &emulator, Duration::from_secs(10 * 60)).await;
        assert_refused(&emulator, signer, ORDERS_HOST).await;
    }
}

/// The layer shows each response to the signer: after one 403 with a `Date` 10 minutes
/// ahead, requests are signed with the server's time and succeed.
#[tokio::test]
async fn clock_skew_is_corrected_through_the_layer() {
    let emulator = start().await;
    for variant in [SIGV4, SIGV4A_SESSION] {
        let signer = stale_signer(variant, &emulator, Duration::from_secs(10 * 60)).await;
        assert_refused(&emulator, signer.clone(), ORDERS_HOST).await;
        assert!(
            signer.clock_offset_millis() >= 598_000,
            "{}",
            signer.clock_offset_millis()
        );
        let client = signed_client(&emulator, tls(&emulator), signer);
        let request = Request::get(emulator.https_url(ORDERS_HOST, "/orders"))
            .body(empty())
            .unwrap();
        let (status, _, body) = send(client, request).await;
        assert_eq!(status, 200, "{body}");
    }
}

/// Sign with `Signer::sign`, let `tamper` change the request, send it unsigned.
async fn send_tampered(
    emulator: &Emulator,
    variant: Variant,
    tamper: fn(&mut Request<Body>),
) -> (u16, Option<String>, String) {
    let mut request = Request::get(emulator.https_url(ORDERS_HOST, "/orders/1?a=1&b=2"))
        .header("x-e2e", "original")
        .body(empty())
        .unwrap();
    variant.signer().await.sign(&mut request).await.unwrap();
    tamper(&mut request);
    let connector = https_connector(tls(emulator).build().unwrap(), connector(emulator));
    let plain = Client::builder(TokioExecutor::new()).build::<_, Body>(connector);
    send(plain.map_err(BoxError::from), request).await
}

/// Changes a signed request before it is sent.
type Tamper = fn(&mut Request<Body>);

fn replace_uri(request: &mut Request<Body>, from: &str, to: &str) {
    *request.uri_mut() = request.uri().to_string().replace(from, to).parse().unwrap();
}

#[tokio::test]
async fn requests_tampered_after_signing_are_refused() {
    let emulator = start().await;
    for variant in [SIGV4_SESSION, SIGV4A] {
        let (status, _, body) = send_tampered(&emulator, variant, |_| {}).await;
        assert_eq!(status, 200, "the untampered request is accepted: {body}");

        let tampers: [(&str, Tamper); 3] = [
            ("path", |r| replace_uri(r, "/orders/1", "/orders/2")),
            ("query", |r| replace_uri(r, "b=2", "b=3")),
            ("header", |r| {
                r.headers_mut().insert("x-e2e", "changed".parse().unwrap());
            }),
        ];
        for (what, tamper) in tampers {
            let (status, error_type, body) = send_tampered(&emulator, variant, tamper).await;
            assert_eq!(status, 403, "{variant:?} {what}: {body}");
            assert_rejected(
                status,
                error_type.as_deref(),
                &body,
                "InvalidSignatureException",
            );
        }
    }
}

#[tokio::test]
async fn hosts_that_are_not_allowed_are_never_signed() {
    let emulator = start().await;
    let client = signed_client(&emulator, tls(&emulator), SIGV4.signer().await);
    let request = Request::get("https://not-lattice.example.com/")
        .body(empty())
        .unwrap();
    let error = client.oneshot(request).await.unwrap_err();
    assert_eq!(
        Error::find_in(&*error).map(Error::kind),
        Some(ErrorKind::HostNotAllowed)
    );
    assert!(emulator.requests().is_empty());
}
