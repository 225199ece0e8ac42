//! reqwest + `SigV4Middleware` (and the tower `SigV4Service`) against the emulator over
//! real TLS: every request shape for SigV4/SigV4A with and without a session token,
//! 100 MB streams in bounded memory, and requests Lattice must refuse.

mod e2e_common;

use std::time::Duration;

use e2e_common::*;
use http::Method;
use lattice_client::integrations::reqwest::{SigV4Middleware, find_error};
use lattice_client::integrations::tls::TlsConfig;
use lattice_client::{ErrorKind, Signer};
use lattice_emulator::{Emulator, INVENTORY_HOST, ORDERS_CUSTOM_DOMAIN, ORDERS_HOST};
use reqwest_middleware::ClientWithMiddleware;
use serde_json::Value;
use tower::{ServiceBuilder, ServiceExt};

const TIMEOUT: Duration = Duration::from_secs(60);

/// A plain reqwest client trusting the emulator, with every service name pinned to it.
fn plain_client(emulator: &Emulator, tls: TlsConfig) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .tls_backend_preconfigured(tls.build().unwrap())
        .no_proxy()
        .timeout(TIMEOUT);
    for host in [ORDERS_HOST, ORDERS_CUSTOM_DOMAIN, INVENTORY_HOST] {
        builder = builder.resolve(host, emulator.https_addr());
    }
    builder.build().unwrap()
}

fn signed(client: reqwest::Client, signer: Signer) -> ClientWithMiddleware {
    reqwest_middleware::ClientBuilder::new(client)
        .with(SigV4Middleware::new(signer))
        .build()
}

/// Status, `x-amzn-errortype` and body.
async fn parts(response: reqwest::Response) -> (u16, Option<String>, String) {
    let status = response.status().as_u16();
    let error_type = response
        .headers()
        .get("x-amzn-errortype")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (status, error_type, response.text().await.unwrap())
}

async fn edge_requests(variant: Variant, tls: fn(&Emulator) -> TlsConfig, version: &str) {
    let emulator = start().await;
    let client = signed(
        plain_client(&emulator, tls(&emulator)),
        variant.signer().await,
    );
    for host in [ORDERS_HOST, ORDERS_CUSTOM_DOMAIN] {
        for (method, path_and_query) in EDGE_REQUESTS {
            let url = emulator.https_url(host, path_and_query);
            let mut request = client
                .request(Method::from_bytes(method.as_bytes()).unwrap(), &url)
                .header("x-e2e", "reqwest");
            if matches!(method, "POST" | "PUT" | "PATCH") {
                request = request
                    .header("content-type", "application/json")
                    .body(r#"{"n":1}"#);
            }
            let (status, _, body) = parts(request.send().await.unwrap()).await;
            assert_eq!(status, 200, "{method} {url}: {body}");
            let echo: Value = serde_json::from_str(&body).unwrap();
            assert_verified(&echo, variant);
            let signed = echo["verified"]["signed_headers"].to_string();
            assert!(signed.contains("\"x-e2e\""), "{signed}");
            assert_eq!(echo["method"], method);
            assert_eq!(echo["version"], version);
            // reqwest sends the URL as the `url` crate normalizes it (dot segments resolved).
            let sent = reqwest::Url::parse(&url).unwrap();
            assert_eq!(echo["path"], sent.path(), "{url}");
            assert_eq!(echo["query"].as_str(), sent.query(), "{url}");
            if matches!(method, "POST" | "PUT" | "PATCH") {
                assert_eq!(echo["body_len"], 7);
            }
        }
        // HEAD: signed like any other method, answered with no body.
        let response = client
            .head(emulator.https_url(host, "/download?bytes=16&z=1&a=2"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.headers()["content-length"], "16", "HEAD {host}");
        let (status, _, body) = parts(response).await;
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
    edge_requests(SIGV4_SESSION, |e| tls(e).http1_only(), "HTTP/1.1").await;
    edge_requests(SIGV4A, |e| tls(e).http1_only(), "HTTP/1.1").await;
}

#[tokio::test]
async fn tower_service_signs_reqwest_requests() {
    let emulator = start().await;
    let client = plain_client(&emulator, tls(&emulator));
    for variant in VARIANTS {
        let service = ServiceBuilder::new()
            .layer(SigV4Middleware::new(variant.signer().await))
            .service(client.clone());
        let request = client
            .delete(emulator.https_url(ORDERS_CUSTOM_DOMAIN, "/orders/7?z=1&a=%2F"))
            .build()
            .unwrap();
        let (status, _, body) = parts(service.oneshot(request).await.unwrap()).await;
        assert_eq!(status, 200, "{variant:?}: {body}");
        let echo: Value = serde_json::from_str(&body).unwrap();
        assert_verified(&echo, variant);
        assert_eq!(echo["query"], "z=1&a=%2F");
    }
}

async fn upload_large(variant: Variant) {
    let emulator = start().await;
    let client = signed(
        plain_client(&emulator, tls(&emulator)),
        variant.signer().await,
    );
    let expected = large_sha256();
    let _heavy = heavy_lock().await;
    let probe = MemoryProbe::start();
    let response = client
        .put(emulator.https_url(ORDERS_HOST, "/upload"))
        .header("content-type", "application/octet-stream")
        .body(reqwest::Body::wrap_stream(large_stream()))
        .send()
        .await
        .unwrap();
    let (status, _, body) = parts(response).await;
    probe.assert_bounded("reqwest upload");
    assert_eq!(status, 200, "{body}");
    let digest: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(digest["bytes"], LARGE_LEN);
    assert_eq!(digest["sha256"], expected);
}

async fn download_large(variant: Variant) {
    let emulator = start().await;
    let client = signed(
        plain_client(&emulator, tls(&emulator)),
        variant.signer().await,
    );
    large_sha256();
    let _heavy = heavy_lock().await;
    let probe = MemoryProbe::start();
    let url = emulator.https_url(ORDERS_HOST, &format!("/download?bytes={LARGE_LEN}"));
    let mut response = client.get(url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let mut digest = StreamDigest::default();
    while let Some(chunk) = response.chunk().await.unwrap() {
        digest.update(&chunk);
    }
    probe.assert_bounded("reqwest download");
    digest.assert_large_pattern();
}

#[tokio::test]
async fn sigv4_upload_of_100_mb_streams() {
    upload_large(SIGV4).await;
}

#[tokio::test]
async fn sigv4a_session_token_upload_of_100_mb_streams() {
    upload_large(SIGV4A_SESSION).await;
}

#[tokio::test]
async fn sigv4_session_token_download_of_100_mb_streams() {
    download_large(SIGV4_SESSION).await;
}

#[tokio::test]
async fn sigv4a_download_of_100_mb_streams() {
    download_large(SIGV4A).await;
}

async fn assert_refused(client: &ClientWithMiddleware, url: &str, code: &str) {
    let response = client.get(url).header("x-e2e", "1").send().await.unwrap();
    let (status, error_type, body) = parts(response).await;
    assert_rejected(status, error_type.as_deref(), &body, code);
}

#[tokio::test]
async fn wrong_secret_is_refused() {
    let emulator = start().await;
    let client = plain_client(&emulator, tls(&emulator));
    for variant in [SIGV4, SIGV4A] {
        let signer = signer_with(variant.config().build().unwrap(), wrong_secret()).await;
        let url = emulator.https_url(ORDERS_HOST, "/orders");
        assert_refused(
            &signed(client.clone(), signer),
            &url,
            "InvalidSignatureException",
        )
        .await;
    }
}

#[tokio::test]
async fn wrong_region_for_a_custom_domain_is_refused() {
    let emulator = start().await;
    let client = plain_client(&emulator, tls(&emulator));
    for sigv4a in [false, true] {
        let signer = signer_with(wrong_region_config(sigv4a), SIGV4.credentials()).await;
        let url = emulator.https_url(ORDERS_CUSTOM_DOMAIN, "/orders");
        assert_refused(
            &signed(client.clone(), signer),
            &url,
            "InvalidSignatureException",
        )
        .await;
    }
}

#[tokio::test]
async fn stale_timestamp_is_refused() {
    let emulator = start().await;
    let client = plain_client(&emulator, tls(&emulator));
    for variant in [SIGV4_SESSION, SIGV4A] {
        let signer = stale_signer(variant, &emulator, Duration::from_secs(10 * 60)).await;
        let url = emulator.https_url(ORDERS_HOST, "/orders");
        assert_refused(
            &signed(client.clone(), signer),
            &url,
            "InvalidSignatureException",
        )
        .await;
    }
}

/// A clock 10 minutes slow costs one refused request: the 403's `Date` corrects the
/// following signatures, as the AWS SDKs do. With correction off, every request fails.
#[tokio::test]
async fn clock_skew_is_corrected_after_one_refusal() {
    let emulator = start().await;
    let plain = plain_client(&emulator, tls(&emulator));
    let url = emulator.https_url(ORDERS_HOST, "/orders");
    let behind = Duration::from_secs(10 * 60);
    for variant in [SIGV4_SESSION, SIGV4A] {
        let signer = stale_signer(variant, &emulator, behind).await;
        let client = signed(plain.clone(), signer.clone());
        assert_refused(&client, &url, "InvalidSignatureException").await;
        let offset = signer.clock_offset_millis();
        assert!(
            (598_000..=602_000).contains(&offset),
            "learned offset {offset} ms, expected about +600 s"
        );
        for _ in 0..3 {
            let (status, _, body) = parts(client.get(&url).send().await.unwrap()).await;
            assert_eq!(status, 200, "{body}");
        }

        let uncorrected = stale_signer(variant, &emulator, behind)
            .await
            .with_clock_skew_correction(false);
        let client = signed(plain.clone(), uncorrected.clone());
        for _ in 0..2 {
            assert_refused(&client, &url, "InvalidSignatureException").await;
        }
        assert_eq!(uncorrected.clock_offset_millis(), 0);
    }
}

/// Sign an `http::Request` with `Signer::sign`, let `tamper` change it, then send it
/// through a client that does not sign.
async fn send_tampered(
    emulator: &Emulator,
    variant: Variant,
    tamper: impl FnOnce(&mut http::Request<()>),
) -> (u16, Option<String>, String) {
    let signer = variant.signer().await;
    let mut request = http::Request::get(emulator.https_url(ORDERS_HOST, "/orders/1?a=1&b=2"))
        .header("x-e2e", "original")
        .body(())
        .unwrap();
    signer.sign(&mut request).await.unwrap();
    tamper(&mut request);
    let request = reqwest::Request::try_from(request.map(|()| Vec::<u8>::new())).unwrap();
    parts(
        plain_client(emulator, tls(emulator))
            .execute(request)
            .await
            .unwrap(),
    )
    .await
}

/// Changes a signed request before it is sent.
type Tamper = fn(&mut http::Request<()>);

fn replace_uri(request: &mut http::Request<()>, from: &str, to: &str) {
    *request.uri_mut() = request.uri().to_string().replace(from, to).parse().unwrap();
}

#[tokio::test]
async fn requests_tampered_after_signing_are_refused() {
    let emulator = start().await;
    for variant in [SIGV4, SIGV4A_SESSION] {
        let (status, _, body) = send_tampered(&emulator, variant, |_| {}).await;
        assert_eq!(status, 200, "the untampered request is accepted: {body}");

        let tampers: [(&str, Tamper); 3] = [
            ("path", |r| replace_uri(r, "/orders/1", "/orders/2")),
            ("query", |r| replace_uri(r, "a=1", "a=9")),
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
    let client = signed(
        plain_client(&emulator, tls(&emulator)),
        SIGV4.signer().await,
    );
    let error = client
        .get("https://not-lattice.example.com/")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        find_error(&error).map(|e| e.kind()),
        Some(ErrorKind::HostNotAllowed)
    );
    assert!(emulator.requests().is_empty());
}
