//! The emulator's transport and Lattice-like answers, without any signer.

use std::time::Duration;

use http::{StatusCode, Version};
use lattice_emulator::{
    AuthType, Emulator, INVENTORY_HOST, ORDERS_CUSTOM_DOMAIN, ORDERS_HOST, Service, Verdict,
    greeter::{HelloRequest, greeter_client::GreeterClient},
    pattern_byte,
};
use rustls::pki_types::{CertificateDer, pem::PemObject};
use serde_json::Value;
use sha2::{Digest, Sha256};

const TIMEOUT: Duration = Duration::from_secs(5);
/// An auth-NONE service, so targets can be exercised without a signer.
const OPEN_HOST: &str = "open.example.com";

async fn start() -> Emulator {
    Emulator::builder()
        .service(Service::new(OPEN_HOST, "us-west-2", AuthType::None))
        .start()
        .await
        .expect("emulator starts")
}

/// A TLS client trusting only the emulator's PEM CA, with every service name pinned to it.
fn tls_client(emulator: &Emulator, alpn: &[u8]) -> reqwest::Client {
    let ca = CertificateDer::from_pem_slice(emulator.ca_pem().as_bytes()).expect("CA PEM parses");
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca).expect("CA is a valid trust anchor");
    let mut tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    tls.alpn_protocols = vec![alpn.to_vec()];
    let mut builder = reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .no_proxy()
        .timeout(TIMEOUT);
    for host in [ORDERS_HOST, ORDERS_CUSTOM_DOMAIN, INVENTORY_HOST, OPEN_HOST] {
        builder = builder.resolve(host, emulator.https_addr());
    }
    builder.build().unwrap()
}

fn plain_client(emulator: &Emulator) -> reqwest::ClientBuilder {
    // reqwest wants a TLS config even for http:// URLs when built without a provider.
    let tls = emulator.client_tls_config().unwrap();
    let mut builder = reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .no_proxy()
        .timeout(TIMEOUT);
    for host in [ORDERS_HOST, OPEN_HOST, "unknown.example.com"] {
        builder = builder.resolve(host, emulator.http_addr());
    }
    builder
}

async fn json(response: reqwest::Response) -> Value {
    assert_eq!(response.status(), StatusCode::OK);
    serde_json::from_slice(&response.bytes().await.unwrap()).unwrap()
}

#[tokio::test]
async fn unsigned_request_is_denied_like_lattice_over_h1_and_h2() {
    let emulator = start().await;
    for (alpn, version) in [
        (&b"http/1.1"[..], Version::HTTP_11),
        (b"h2", Version::HTTP_2),
    ] {
        let response = tls_client(&emulator, alpn)
            .get(emulator.https_url(ORDERS_HOST, "/orders/42?x=1"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.version(), version);
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        let headers = response.headers();
        assert_eq!(headers["x-amzn-errortype"], "AccessDeniedException");
        assert_eq!(headers["content-type"], "text/plain");
        assert!(headers.contains_key("date"));
        let body = response.text().await.unwrap();
        assert!(
            body.starts_with(
                "AccessDeniedException: User: anonymous is not authorized to perform: \
                 vpc-lattice-svcs:Invoke on resource: arn:aws:vpc-lattice:us-west-2:\
                 123456789012:service/svc-0123456789abcdef0/orders/42"
            ),
            "{body}"
        );
    }
    let requests = emulator.requests();
    assert_eq!(requests.len(), 2);
    for record in requests {
        assert_eq!(record.host.as_deref(), Some(ORDERS_HOST));
        assert_eq!(record.path, "/orders/42");
        assert_eq!(
            record.verdict,
            Verdict::Rejected {
                code: "AccessDeniedException"
            }
        );
    }
}

#[tokio::test]
async fn unknown_host_is_404_and_logged() {
    let emulator = start().await;
    let response = plain_client(&emulator)
        .build()
        .unwrap()
        .get(emulator.http_url("unknown.example.com", "/"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(response.headers()["content-type"], "text/plain");
    let requests = emulator.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].host.as_deref(), Some("unknown.example.com"));
    assert_eq!(requests[0].verdict, Verdict::UnknownHost);
}

#[tokio::test]
async fn ca_pem_validates_the_certificate_for_every_service_name() {
    let emulator = start().await;
    let client = tls_client(&emulator, b"h2");
    for host in [ORDERS_HOST, ORDERS_CUSTOM_DOMAIN, INVENTORY_HOST] {
        let response = client
            .get(emulator.https_url(host, "/"))
            .send()
            .await
            .unwrap_or_else(|error| panic!("TLS to {host} failed: {error:?}"));
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{host}");
    }

    // A name the certificate does not cover must fail validation.
    let stranger = reqwest::Client::builder()
        .use_preconfigured_tls(emulator.client_tls_config().unwrap())
        .resolve("stranger.example.com", emulator.https_addr())
        .no_proxy()
        .timeout(TIMEOUT)
        .build()
        .unwrap();
    let error = stranger
        .get(emulator.https_url("stranger.example.com", "/"))
        .send()
        .await
        .unwrap_err();
    assert!(error.is_connect(), "{error:?}");
}

#[tokio::test]
async fn plain_http_listener_serves_http1_and_h2c() {
    let emulator = start().await;
    let http1 = plain_client(&emulator).build().unwrap();
    let h2c = plain_client(&emulator)
        .http2_prior_knowledge()
        .build()
        .unwrap();
    for (client, version) in [(http1, "HTTP/1.1"), (h2c, "HTTP/2.0")] {
        let echo = json(
            client
                .get(emulator.http_url(OPEN_HOST, "/a%20b//c%2F?z=1&a"))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(echo["version"], version);
        // HTTP/2 carries the host as `:authority`; HTTP/1.1 as a `host` header.
        let authority = format!("{OPEN_HOST}:{}", emulator.http_addr().port());
        if version == "HTTP/2.0" {
            assert_eq!(echo["authority"], authority);
        } else {
            assert_eq!(echo["headers"]["host"][0], authority);
        }
        assert_eq!(echo["path"], "/a%20b//c%2F");
        assert_eq!(echo["query"], "z=1&a");
        assert_eq!(echo["identity"], "Type=Anonymous");
        assert_eq!(echo["verified"], Value::Null);

        let denied = client
            .get(emulator.http_url(ORDERS_HOST, "/"))
            .send()
            .await
            .unwrap();
        assert_eq!(denied.status(), StatusCode::FORBIDDEN);
    }
}

#[tokio::test]
async fn non_loopback_listen_addresses_are_refused() {
    for addr in ["0.0.0.0:0", "[::]:0", "192.0.2.1:0"] {
        let addr = addr.parse().unwrap();
        let https = Emulator::builder()
            .https_addr(addr)
            .start()
            .await
            .unwrap_err();
        let http = Emulator::builder()
            .http_addr(addr)
            .start()
            .await
            .unwrap_err();
        for error in [https, http] {
            assert!(error.is_non_loopback(), "{error}");
            assert!(error.to_string().contains("loopback"), "{error}");
        }
    }
    let loopback = Emulator::builder()
        .https_addr("127.0.0.1:0".parse().unwrap())
        .http_addr("[::1]:0".parse().unwrap())
        .start()
        .await;
    // Hosts without IPv6 cannot bind [::1]; that is a bind error, not a refusal.
    if let Err(error) = &loopback {
        assert!(!error.is_non_loopback(), "{error}");
    }
}

#[tokio::test]
async fn allow_non_loopback_lifts_only_the_loopback_check() {
    // 192.0.2.1 (TEST-NET-1, RFC 5737) is never a local address: the bind fails, so the
    // test proves the check was skipped without listening beyond loopback.
    let addr = "192.0.2.1:0".parse().unwrap();
    let error = Emulator::builder()
        .https_addr(addr)
        .allow_non_loopback(true)
        .start()
        .await
        .unwrap_err();
    assert!(!error.is_non_loopback(), "{error}");
    assert_eq!(error.to_string(), "cannot listen on 192.0.2.1:0");
}

#[tokio::test]
async fn echo_redacts_credentials_and_adds_lattice_headers() {
    let emulator = start().await;
    let client = tls_client(&emulator, b"h2");
    let echo = json(
        client
            .post(emulator.https_url(OPEN_HOST, "/echo"))
            .header(
                "authorization",
                "AWS4-HMAC-SHA256 Credential=secret-looking",
            )
            .header("x-amz-security-token", "token-value")
            .header("x-amzn-lattice-identity", "Principal=forged")
            .body("hello")
            .send()
            .await
            .unwrap(),
    )
    .await;
    let text = echo.to_string();
    assert!(
        !text.contains("secret-looking") && !text.contains("token-value"),
        "{text}"
    );
    assert!(!text.contains("forged"), "{text}");
    let headers = &echo["headers"];
    assert_eq!(headers["authorization"][0], "<present>");
    assert_eq!(headers["x-amz-security-token"][0], "<present>");
    assert_eq!(
        headers["x-amzn-lattice-network"][0],
        "SourceVpcArn=arn:aws:ec2:us-west-2:123456789012:vpc/vpc-0123456789abcdef0"
    );
    let target = headers["x-amzn-lattice-target"][0].as_str().unwrap();
    assert!(
        target.starts_with("ServiceArn=arn:aws:vpc-lattice:us-west-2:123456789012:service/svc-"),
        "{target}"
    );
    assert!(
        target.contains("; ServiceNetworkArn=") && target.contains("; TargetGroupArn="),
        "{target}"
    );
    assert_eq!(echo["body_len"], 5);
    assert_eq!(echo["body_sha256"], hex::encode(Sha256::digest(b"hello")));
    assert_eq!(echo["method"], "POST");
}

#[tokio::test]
async fn download_streams_the_pattern_and_upload_hashes_the_body() {
    let emulator = start().await;
    let client = tls_client(&emulator, b"http/1.1");
    let response = client
        .get(emulator.https_url(OPEN_HOST, "/download?bytes=200000&chunk=4096"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.content_length(), Some(200_000));
    let bytes = response.bytes().await.unwrap();
    assert_eq!(bytes.len(), 200_000);
    assert!(
        bytes
            .iter()
            .enumerate()
            .all(|(i, b)| *b == pattern_byte(i as u64))
    );

    let head = client
        .head(emulator.https_url(OPEN_HOST, "/download?bytes=1234"))
        .send()
        .await
        .unwrap();
    assert_eq!(head.headers()["content-length"], "1234");

    let chunked = client
        .get(emulator.https_url(OPEN_HOST, "/download?bytes=1000&chunked=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(chunked.headers()["transfer-encoding"], "chunked");
    assert_eq!(chunked.bytes().await.unwrap().len(), 1000);

    let body = vec![7u8; 300_000];
    let upload = json(
        client
            .put(emulator.https_url(OPEN_HOST, "/upload"))
            .body(body.clone())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(upload["bytes"], 300_000);
    assert_eq!(upload["sha256"], hex::encode(Sha256::digest(&body)));
}

#[tokio::test]
async fn slow_headers_delay_the_response() {
    let emulator = start().await;
    let client = tls_client(&emulator, b"h2");
    let error = client
        .get(emulator.https_url(OPEN_HOST, "/slow-headers?delay_ms=3000"))
        .timeout(Duration::from_millis(200))
        .send()
        .await
        .unwrap_err();
    assert!(error.is_timeout(), "{error:?}");
    let quick = client
        .get(emulator.https_url(OPEN_HOST, "/slow-headers?delay_ms=10"))
        .send()
        .await
        .unwrap();
    assert_eq!(quick.status(), StatusCode::OK);
}

#[tokio::test]
async fn greeter_answers_unary_server_and_client_streaming_calls() {
    let emulator = start().await;
    let channel =
        tonic::transport::Endpoint::from_shared(format!("http://{}", emulator.http_addr()))
            .unwrap()
            .origin(format!("http://{OPEN_HOST}").parse().unwrap())
            .connect_timeout(TIMEOUT)
            .timeout(TIMEOUT)
            .connect()
            .await
            .unwrap();
    let mut client = GreeterClient::new(channel);

    let reply = client
        .say_hello(HelloRequest { name: "ada".into() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.message, "Hello ada");

    let mut stream = client
        .stream_greetings(HelloRequest { name: "bo".into() })
        .await
        .unwrap()
        .into_inner();
    let mut replies = Vec::new();
    while let Some(reply) = stream.message().await.unwrap() {
        replies.push(reply.message);
    }
    assert_eq!(replies.len(), 5);
    assert_eq!(replies[4], "Hello bo #5");

    let names = ["x", "y", "z"].map(|name| HelloRequest { name: name.into() });
    let collected = client
        .collect_greetings(futures_util::stream::iter(names))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(collected.message, "Hello x, y, z");
    let forwarded = emulator
        .requests()
        .into_iter()
        .filter(|r| matches!(r.verdict, Verdict::Forwarded { .. }))
        .count();
    assert_eq!(forwarded, 3);
}

#[tokio::test]
async fn shutdown_stops_both_listeners() {
    let emulator = start().await;
    let (https, http) = (emulator.https_addr(), emulator.http_addr());
    tokio::time::timeout(TIMEOUT, emulator.shutdown())
        .await
        .unwrap();
    for addr in [https, http] {
        assert!(
            tokio::net::TcpStream::connect(addr).await.is_err(),
            "{addr} still open"
        );
    }
}

#[tokio::test]
async fn head_on_the_echo_target_has_no_body_over_h1_and_h2() {
    let emulator = start().await;
    for alpn in [&b"http/1.1"[..], b"h2"] {
        let response = tls_client(&emulator, alpn)
            .head(emulator.https_url(OPEN_HOST, "/anything"))
            .send()
            .await
            .expect("HEAD completes (HTTP/2 resets the stream if a body follows)");
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.bytes().await.unwrap().is_empty());
    }
}
