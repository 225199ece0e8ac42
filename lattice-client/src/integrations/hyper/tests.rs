use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tower::ServiceExt;

use super::*;
use crate::integrations::tls::{TEST_CA, TlsConfig};
use crate::{Credentials, CredentialsCache, SigningConfig};

const HOST: &str = "orders-0123456789abcdef0.7d67968.vpc-lattice-svcs.us-west-2.on.aws";

fn tls() -> ClientConfig {
    TlsConfig::new()
        .native_roots(false)
        .ca_pem(TEST_CA)
        .build()
        .unwrap()
}

/// A plain HTTP/1.1 server on loopback that answers with the `Host` header and
/// whether the request was signed.
async fn echo_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let service = hyper::service::service_fn(
                |request: http::Request<hyper::body::Incoming>| async move {
                    let host = request
                        .headers()
                        .get("host")
                        .and_then(|h| h.to_str().ok())
                        .unwrap_or("-")
                        .to_owned();
                    let signed = request.headers().contains_key("authorization");
                    let body = request.into_body().collect().await?.to_bytes();
                    let reply = format!(
                        "{host} signed={signed} body={}",
                        String::from_utf8_lossy(&body)
                    );
                    Ok::<_, hyper::Error>(http::Response::new(Full::new(Bytes::from(reply))))
                },
            );
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service),
            );
        }
    });
    addr
}

#[tokio::test]
async fn signs_through_a_custom_resolver() {
    let addr = echo_server().await;
    let resolver = tower::service_fn(move |name: Name| async move {
        assert_eq!(name.as_str(), HOST);
        Ok::<_, std::io::Error>(std::iter::once(SocketAddr::new(addr.ip(), 0)))
    });
    let signer = Signer::new(
        SigningConfig::builder().build().unwrap(),
        CredentialsCache::from_static(Credentials::new("AKID", "secret", None, None, "test")),
    );
    let client = client_with_connector::<_, Full<Bytes>>(
        signer,
        https_connector(tls(), HttpConnector::new_with_resolver(resolver)),
    );
    let request = http::Request::post(format!("http://{HOST}:{}/x", addr.port()))
        .body(Full::new(Bytes::from_static(b"hello")))
        .unwrap();
    let response = client.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), 200);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(
        body,
        format!("{HOST}:{} signed=true body=hello", addr.port())
    );

    let request = http::Request::get("http://example.com/")
        .body(Full::default())
        .unwrap();
    let error = client.oneshot(request).await.unwrap_err();
    assert_eq!(
        crate::Error::find_in(&*error).map(crate::Error::kind),
        Some(crate::ErrorKind::HostNotAllowed)
    );
}

#[test]
fn connector_accepts_any_preset_alpn() {
    for alpn in [
        vec![],
        vec![b"h2".to_vec()],
        vec![b"http/1.1".to_vec()],
        vec![b"h2".to_vec(), b"http/1.1".to_vec()],
    ] {
        let mut config = tls();
        config.alpn_protocols = alpn;
        let _ = https_connector(config, HttpConnector::new());
    }
    let _ = Arc::new(client::<Full<Bytes>>(
        Signer::new(
            SigningConfig::builder().build().unwrap(),
            CredentialsCache::from_static(Credentials::new("AKID", "secret", None, None, "test")),
        ),
        tls(),
    ));
}
