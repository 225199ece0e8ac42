use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::Extensions;
use reqwest_middleware::{ClientBuilder, Middleware, Next};
use tower::{ServiceBuilder, ServiceExt};

use super::*;
use crate::clock::ManualClock;
use crate::integrations::tls::{TEST_CA, TlsConfig};
use crate::{Credentials, CredentialsCache, ErrorKind, SigningConfig};

const HOST: &str = "orders-0123456789abcdef0.7d67968.vpc-lattice-svcs.us-west-2.on.aws";

fn signer(credentials: CredentialsCache) -> Signer {
    let config = SigningConfig::builder()
        .custom_domain_in("orders.example.com", "us-west-2")
        .build()
        .unwrap();
    let clock = ManualClock::new(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000));
    Signer::new(config, credentials).with_clock(Arc::new(clock))
}

/// reqwest is built without a crypto provider: it needs a rustls configuration.
fn client() -> reqwest::Client {
    let tls = TlsConfig::new()
        .native_roots(false)
        .ca_pem(TEST_CA)
        .build()
        .unwrap();
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .build()
        .unwrap()
}

fn credentials() -> Credentials {
    Credentials::new("AKIDEXAMPLE", "secret", Some("token".into()), None, "test")
}

/// Ends the middleware chain: keeps the request instead of sending it.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Option<reqwest::Request>>>);

#[async_trait::async_trait]
impl Middleware for Capture {
    async fn handle(
        &self,
        request: reqwest::Request,
        _: &mut Extensions,
        _: Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        *self.0.lock().unwrap() = Some(request);
        Ok(reqwest::Response::from(http::Response::new("ok")))
    }
}

impl Capture {
    fn take(&self) -> reqwest::Request {
        self.0
            .lock()
            .unwrap()
            .take()
            .expect("a request reached the end of the chain")
    }
}

/// What the core signer produces for the same request as an `http::Request`.
async fn expected_authorization(signer: &Signer, uri: &str, headers: &[(&str, &str)]) -> String {
    let mut request = http::Request::post(uri).body(()).unwrap();
    for (name, value) in headers {
        request.headers_mut().insert(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    signer.sign(&mut request).await.unwrap();
    request.headers()["authorization"]
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn middleware_signs_like_the_core_and_keeps_streaming_bodies() {
    let signer = signer(CredentialsCache::from_static(credentials()));
    let capture = Capture::default();
    let client = ClientBuilder::new(client())
        .with(SigV4Middleware::new(signer.clone()))
        .with(capture.clone())
        .build();
    let url = format!("https://{HOST}:443/a%20b/%E2%9C%93?z=1&a=%2F");
    let chunks =
        futures_util::stream::iter([Ok::<_, std::io::Error>(Bytes::from_static(b"chunk"))]);
    let response = client
        .post(&url)
        .header("content-type", "application/json")
        .header("x-custom", "1")
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let sent = capture.take();
    assert!(
        sent.body().is_some_and(|b| b.as_bytes().is_none()),
        "body must still be a stream"
    );
    let headers = sent.headers();
    assert_eq!(headers["x-amz-content-sha256"], "UNSIGNED-PAYLOAD");
    assert_eq!(headers["x-amz-security-token"], "token");
    assert!(headers["authorization"].is_sensitive());
    // reqwest dropped the default port; the signature covers the URL as sent.
    assert_eq!(
        sent.url().as_str(),
        format!("https://{HOST}/a%20b/%E2%9C%93?z=1&a=%2F")
    );
    let expected = expected_authorization(
        &signer,
        &format!("https://{HOST}/a%20b/%E2%9C%93?z=1&a=%2F"),
        &[("content-type", "application/json"), ("x-custom", "1")],
    )
    .await;
    assert_eq!(headers["authorization"], expected.as_str());
    assert!(expected.contains("SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date;x-amz-security-token;x-custom,"));
}

#[tokio::test]
async fn middleware_errors_are_findable() {
    let capture = Capture::default();
    let client = ClientBuilder::new(client())
        .with(SigV4Middleware::new(signer(CredentialsCache::from_static(
            credentials(),
        ))))
        .with(capture)
        .build();
    let error = client.get("https://example.com/").send().await.unwrap_err();
    assert_eq!(
        find_error(&error).map(Error::kind),
        Some(ErrorKind::HostNotAllowed)
    );
    // The plain source chain does not reach it through reqwest-middleware's transparent error.
    assert!(
        error
            .to_string()
            .contains("refusing to sign for host `example.com`"),
        "{error}"
    );
}

#[tokio::test]
async fn custom_domains_are_signed_lowercased_as_sent() {
    let signer = signer(CredentialsCache::from_static(credentials()));
    let capture = Capture::default();
    let client = ClientBuilder::new(client())
        .with(SigV4Middleware::new(signer.clone()))
        .with(capture.clone())
        .build();
    client
        .delete("https://Orders.Example.com/x/./y/../z")
        .send()
        .await
        .unwrap();
    let sent = capture.take();
    assert_eq!(sent.url().as_str(), "https://orders.example.com/x/z");
    let authorization = sent.headers()["authorization"].to_str().unwrap().to_owned();
    assert!(
        authorization.contains("/us-west-2/vpc-lattice-svcs/aws4_request"),
        "{authorization}"
    );
}

#[tokio::test]
async fn tower_service_signs_with_cold_and_warm_cache() {
    let signer = signer(CredentialsCache::from_static(credentials()));
    assert!(signer.credentials().cached().is_none(), "starts cold");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let inner = {
        let seen = seen.clone();
        tower::service_fn(move |request: reqwest::Request| {
            let seen = seen.clone();
            async move {
                seen.lock()
                    .unwrap()
                    .push(request.headers().get("authorization").cloned());
                Ok::<_, std::convert::Infallible>(reqwest::Response::from(http::Response::new(
                    "done",
                )))
            }
        })
    };
    let service = ServiceBuilder::new()
        .layer(SigV4Middleware::new(signer.clone()))
        .service(inner);
    let client = client();
    for _ in 0..2 {
        let request = client
            .get(format!("https://{HOST}/orders"))
            .build()
            .unwrap();
        let response = service.clone().oneshot(request).await.unwrap();
        assert_eq!(response.text().await.unwrap(), "done");
    }
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    assert!(seen.iter().all(Option::is_some));
    assert_eq!(
        seen[0], seen[1],
        "fixed clock, same request, same signature"
    );

    let request = client.get("https://example.com/").build().unwrap();
    let error = service.clone().oneshot(request).await.unwrap_err();
    assert_eq!(
        Error::find_in(&*error).map(Error::kind),
        Some(ErrorKind::HostNotAllowed)
    );
}

/// The tower service shows each response to the clock-skew correction, whether the call
/// waited for credentials (cold) or not (warm).
#[tokio::test]
async fn tower_service_learns_clock_skew_from_refusals() {
    let signer = signer(CredentialsCache::from_static(credentials()));
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let server_ahead = Arc::new(Mutex::new(Duration::ZERO));
    let inner = {
        let server_ahead = server_ahead.clone();
        tower::service_fn(move |_: reqwest::Request| {
            let date = httpdate::fmt_http_date(now + *server_ahead.lock().unwrap());
            async move {
                let response = http::Response::builder()
                    .status(403)
                    .header("date", date)
                    .body("InvalidSignatureException")
                    .unwrap();
                Ok::<_, std::convert::Infallible>(reqwest::Response::from(response))
            }
        })
    };
    let service = ServiceBuilder::new()
        .layer(SigV4Middleware::new(signer.clone()))
        .service(inner);
    let client = client();
    for (cache, ahead) in [("cold", 600), ("warm", 1200)] {
        assert_eq!(signer.credentials().cached().is_some(), cache == "warm");
        *server_ahead.lock().unwrap() = Duration::from_secs(ahead);
        let request = client
            .get(format!("https://{HOST}/orders"))
            .build()
            .unwrap();
        let response = service.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), 403);
        assert_eq!(
            signer.clock_offset_millis(),
            i64::try_from(ahead).unwrap() * 1000,
            "{cache} cache"
        );
    }
}

#[tokio::test]
async fn sign_replaces_forged_signer_headers() {
    let signer = signer(CredentialsCache::from_static(credentials()));
    let mut request = client()
        .get(format!("https://{HOST}/"))
        .header("authorization", "forged")
        .header("x-amz-date", "forged")
        .build()
        .unwrap();
    assert_eq!(sign(&signer, &mut request).await.unwrap(), Signed::Signed);
    assert!(
        request.headers()["authorization"]
            .to_str()
            .unwrap()
            .starts_with("AWS4-HMAC-SHA256 ")
    );
    assert_eq!(request.headers()["x-amz-date"], "20231114T221320Z");
}
