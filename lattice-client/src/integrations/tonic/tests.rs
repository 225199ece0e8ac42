use std::error::Error as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tonic::Code;
use tonic::service::interceptor::InterceptedService;
use tower::ServiceExt;

use super::*;
use crate::clock::ManualClock;
use crate::{Credentials, CredentialsCache, SigningConfig};

const HOST: &str = "greeter-0123456789abcdef0.7d67968.vpc-lattice-svcs.us-west-2.on.aws";
const PATH: &str = "/lattice.test.Greeter/SayHello";

fn signer() -> Signer {
    let clock = ManualClock::new(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000));
    let credentials = Credentials::new("AKIDEXAMPLE", "secret", Some("token".into()), None, "test");
    Signer::new(
        SigningConfig::builder().build().unwrap(),
        CredentialsCache::from_static(credentials),
    )
    .with_clock(Arc::new(clock))
}

fn origin() -> Uri {
    format!("https://{HOST}:8443").parse().unwrap()
}

/// A request as `tonic::client::Grpc` hands it to the channel: path-only URI, gRPC
/// headers, metadata, the `GrpcMethod` extension.
fn grpc_request() -> http::Request<()> {
    let mut request = http::Request::post(PATH)
        .version(http::Version::HTTP_2)
        .header("te", "trailers")
        .header("content-type", "application/grpc")
        .header("grpc-timeout", "5000000u")
        .header("x-user", "ada")
        .header("x-trace-bin", "AAEC")
        .body(())
        .unwrap();
    request
        .headers_mut()
        .insert("x-opaque", HeaderValue::from_bytes(b"caf\xe9").unwrap());
    request
        .extensions_mut()
        .insert(GrpcMethod::new("lattice.test.Greeter", "SayHello"));
    request
}

type Captured = Arc<Mutex<Vec<http::Request<()>>>>;

fn capture() -> (
    Captured,
    impl Service<
        http::Request<()>,
        Response = http::Response<()>,
        Error = std::convert::Infallible,
        Future: Send,
    > + Clone
    + Send
    + 'static,
) {
    let captured = Captured::default();
    let sink = captured.clone();
    let service = tower::service_fn(move |request: http::Request<()>| {
        sink.lock().unwrap().push(request);
        async { Ok(http::Response::new(())) }
    });
    (captured, service)
}

/// What Channel does after any layer or interceptor: set the origin, add `user-agent`.
fn as_channel_sends(mut request: http::Request<()>) -> http::Request<()> {
    let mut parts = std::mem::take(request.uri_mut()).into_parts();
    parts.scheme = Some(Scheme::HTTPS);
    parts.authority = Some(format!("{HOST}:8443").parse().unwrap());
    *request.uri_mut() = Uri::from_parts(parts).unwrap();
    request
        .headers_mut()
        .insert("user-agent", HeaderValue::from_static("tonic/0.14"));
    request
}

/// Re-sign what went on the wire with the same clock: equal iff every signed part
/// arrived unchanged.
async fn assert_signature_matches_wire(sent: &http::Request<()>) {
    let mut again = http::Request::post(sent.uri().clone()).body(()).unwrap();
    for (name, value) in sent.headers() {
        if value.to_str().is_ok() {
            again.headers_mut().append(name, value.clone());
        }
    }
    signer().sign(&mut again).await.unwrap();
    assert_eq!(
        sent.headers()["authorization"],
        again.headers()["authorization"]
    );
}

fn signed_headers(request: &http::Request<()>) -> String {
    let authorization = request.headers()["authorization"].to_str().unwrap();
    let start = authorization.find("SignedHeaders=").unwrap() + "SignedHeaders=".len();
    authorization[start..].split(',').next().unwrap().to_owned()
}

#[tokio::test]
async fn layer_signs_the_origin_the_channel_will_send() {
    let (captured, inner) = capture();
    let service = WithOrigin::new(SigV4::new(inner, signer()), origin()).unwrap();
    let mut request = grpc_request();
    request.headers_mut().remove("x-opaque");
    service.oneshot(request).await.unwrap();

    let sent = as_channel_sends(captured.lock().unwrap().pop().unwrap());
    assert_eq!(sent.uri().to_string(), format!("https://{HOST}:8443{PATH}"));
    assert_signature_matches_wire(&sent).await;
    assert_eq!(
        signed_headers(&sent),
        "content-type;grpc-timeout;host;x-amz-content-sha256;x-amz-date;x-amz-security-token;x-trace-bin;x-user"
    );
}

#[tokio::test]
async fn interceptor_signs_what_the_channel_sends() {
    let signer = signer();
    signer.credentials().warm().await.unwrap();
    let (captured, inner) = capture();
    let interceptor = SigV4Interceptor::new(signer, origin()).unwrap();
    let service = InterceptedService::new(inner, interceptor);
    let response = service.oneshot(grpc_request()).await.unwrap();
    assert_eq!(response.status(), 200);

    let sent = captured.lock().unwrap().pop().unwrap();
    assert_eq!(
        sent.uri(),
        PATH,
        "the interceptor leaves the URI to the channel"
    );
    assert_eq!(
        sent.headers()["x-opaque"].as_bytes(),
        b"caf\xe9",
        "unsignable values still travel"
    );
    assert!(sent.headers()["authorization"].is_sensitive());
    let sent = as_channel_sends(sent);
    assert_signature_matches_wire(&sent).await;
    assert_eq!(
        signed_headers(&sent),
        "content-type;grpc-timeout;host;x-amz-content-sha256;x-amz-date;x-amz-security-token;x-trace-bin;x-user"
    );
}

#[test]
fn interceptor_needs_warm_credentials_and_a_grpc_method() {
    let mut interceptor = SigV4Interceptor::new(signer(), origin()).unwrap();
    let mut request = tonic::Request::new(());
    request
        .extensions_mut()
        .insert(GrpcMethod::new("lattice.test.Greeter", "SayHello"));
    let status = interceptor.call(request).unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    assert!(status.message().contains("warm()"), "{}", status.message());
    let source = status.source().expect("the signing error is the source");
    assert_eq!(
        Error::find_in(source).map(Error::kind),
        Some(ErrorKind::Credentials)
    );

    let status = interceptor.call(tonic::Request::new(())).unwrap_err();
    assert_eq!(status.code(), Code::Internal);
    assert!(
        status.message().contains("GrpcMethod"),
        "{}",
        status.message()
    );
}

#[test]
fn origins_must_be_absolute_without_default_ports() {
    for bad in [
        "/only/a/path",
        "https://example.com:443",
        "http://example.com:80/",
    ] {
        let error = SigV4Interceptor::new(signer(), bad.parse().unwrap()).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidRequest, "{bad}");
    }
    let error = WithOrigin::new((), "https://example.com:443".parse().unwrap()).unwrap_err();
    assert!(error.to_string().contains("https://example.com"), "{error}");
    for good in [
        "https://example.com",
        "http://example.com:8080",
        "https://example.com:80",
    ] {
        assert!(WithOrigin::new((), good.parse().unwrap()).is_ok(), "{good}");
    }
}

/// Runs one response through [`HttpErrorsAsStatus`] and reads it the way tonic does.
async fn status_of(response: http::Response<()>) -> (http::Response<()>, Option<Status>) {
    let respond = tower::service_fn(move |_: http::Request<()>| {
        let response = response.clone();
        async move { Ok::<_, std::convert::Infallible>(response) }
    });
    let mapped = HttpErrorsAsStatus::new(respond)
        .oneshot(http::Request::new(()))
        .await
        .unwrap();
    let status = Status::from_header_map(mapped.headers());
    (mapped, status)
}

fn http_response(status: u16, headers: &[(&str, &str)]) -> http::Response<()> {
    let mut response = http::Response::builder().status(status);
    for (name, value) in headers {
        response = response.header(*name, *value);
    }
    response.body(()).unwrap()
}

#[tokio::test]
async fn lattice_refusals_become_grpc_statuses() {
    let refused = http_response(
        403,
        &[
            ("content-type", "text/plain"),
            ("x-amzn-errortype", "InvalidSignatureException"),
            ("date", "Tue, 14 Nov 2023 22:13:20 GMT"),
        ],
    );
    let (mapped, status) = status_of(refused).await;
    let status = status.expect("a grpc-status header");
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    assert_eq!(
        status.message(),
        "HTTP 403 Forbidden from the server: InvalidSignatureException"
    );
    // Still the HTTP response underneath, for anything that looks at it.
    assert_eq!(mapped.status(), 403);
    let error_type = status.metadata().get("x-amzn-errortype");
    assert_eq!(
        error_type.and_then(|v| v.to_str().ok()),
        Some("InvalidSignatureException")
    );

    for (http_status, code) in [
        (400, Code::Internal),
        (401, Code::Unauthenticated),
        (404, Code::Unimplemented),
        (429, Code::Unavailable),
        (500, Code::Unknown),
        (502, Code::Unavailable),
        (503, Code::Unavailable),
        (504, Code::Unavailable),
    ] {
        let (_, status) = status_of(http_response(http_status, &[])).await;
        let status = status.expect("a grpc-status header");
        assert_eq!(status.code(), code, "{http_status}: {status:?}");
        assert!(
            status.message().contains(&http_status.to_string()),
            "{status:?}"
        );
    }

    // A `%` in the error type survives grpc-message's percent-encoding.
    let (_, status) = status_of(http_response(403, &[("x-amzn-errortype", "Odd%41Type")])).await;
    assert!(status.unwrap().message().ends_with("Odd%41Type"));
}

#[tokio::test]
async fn grpc_responses_pass_through_unchanged() {
    for response in [
        http_response(200, &[("content-type", "application/grpc")]),
        // Trailers-only error from a gRPC server: its own status wins.
        http_response(
            200,
            &[("content-type", "application/grpc"), ("grpc-status", "5")],
        ),
        // A gRPC server behind a proxy that changed the HTTP status: still gRPC.
        http_response(503, &[("content-type", "application/grpc+proto")]),
        http_response(503, &[("grpc-status", "14"), ("grpc-message", "drain")]),
        // Not gRPC, but a success: tonic reports what it finds in the body.
        http_response(200, &[("content-type", "text/plain")]),
    ] {
        let before = response.headers().clone();
        let (mapped, _) = status_of(response).await;
        assert_eq!(mapped.headers(), &before);
    }
}
