//! Signing cost of lattice-client next to a baseline that calls
//! `aws_sigv4::http_request::sign` directly, measured in the same run.
//!
//! `cargo bench -p lattice-client --bench sign`

use std::borrow::Cow;
use std::hint::black_box;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    PayloadChecksumKind, SignableBody, SignableRequest, SigningSettings, sign,
};
use aws_sigv4::sign::{v4, v4a};
use aws_smithy_runtime_api::client::identity::Identity;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use http::{HeaderMap, Method, Request, Uri};
use lattice_client::SigningConfig;

const HOST: &str = "orders-0123456789abcdef0.7d67968.vpc-lattice-svcs.us-west-2.on.aws";

struct Case {
    name: &'static str,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    sigv4a: bool,
    token: bool,
}

fn cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for sigv4a in [false, true] {
        for token in [false, true] {
            for (method, path) in [
                (Method::GET, "/orders?id=42&view=full"),
                (Method::POST, "/orders"),
            ] {
                let mut headers = HeaderMap::new();
                headers.insert("accept", "application/json".parse().unwrap());
                headers.insert("user-agent", "bench/1.0".parse().unwrap());
                if method == Method::POST {
                    headers.insert("content-type", "application/json".parse().unwrap());
                    headers.insert("content-length", "512".parse().unwrap());
                }
                let name = match (sigv4a, token, method == Method::GET) {
                    (false, false, true) => "sigv4/get",
                    (false, false, false) => "sigv4/post",
                    (false, true, true) => "sigv4/get+token",
                    (false, true, false) => "sigv4/post+token",
                    (true, false, true) => "sigv4a/get",
                    (true, false, false) => "sigv4a/post",
                    (true, true, true) => "sigv4a/get+token",
                    (true, true, false) => "sigv4a/post+token",
                };
                let uri = format!("https://{HOST}{path}").parse().unwrap();
                cases.push(Case {
                    name,
                    method,
                    uri,
                    headers,
                    sigv4a,
                    token,
                });
            }
        }
    }
    cases
}

fn credentials(token: bool) -> Credentials {
    let token = token.then(|| "IQoJb3JpZ2luX2VjEXAMPLETOKEN".repeat(20));
    Credentials::new(
        "AKIDEXAMPLE",
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        token,
        None,
        "bench",
    )
}

fn time() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

/// What a hand-written integration of aws-sigv4 does for Lattice: build a SignableRequest
/// from the request, sign with UNSIGNED-PAYLOAD, and apply the headers.
fn baseline_sign(case: &Case, identity: &Identity) -> Request<()> {
    let mut request = Request::builder()
        .method(case.method.clone())
        .uri(case.uri.clone());
    for (name, value) in &case.headers {
        request = request.header(name, value);
    }
    let mut request = request.body(()).unwrap();
    let mut settings = SigningSettings::default();
    settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    let params = if case.sigv4a {
        v4a::SigningParams::builder()
            .identity(identity)
            .region_set("*")
            .name("vpc-lattice-svcs")
            .time(time())
            .settings(settings)
            .build()
            .unwrap()
            .into()
    } else {
        v4::SigningParams::builder()
            .identity(identity)
            .region("us-west-2")
            .name("vpc-lattice-svcs")
            .time(time())
            .settings(settings)
            .build()
            .unwrap()
            .into()
    };
    let uri = request.uri().to_string();
    let signable = SignableRequest::new(
        request.method().as_str(),
        Cow::Owned(uri),
        request
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str(), v.to_str().unwrap())),
        SignableBody::UnsignedPayload,
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    instructions.apply_to_request_http1x(&mut request);
    request
}

fn bench_sign(c: &mut Criterion) {
    let mut group = c.benchmark_group("sign");
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(2));
    for case in cases() {
        let config = if case.sigv4a {
            SigningConfig::builder().sigv4a("*").build().unwrap()
        } else {
            SigningConfig::builder().build().unwrap()
        };
        let creds = credentials(case.token);
        let identity = Identity::from(creds.clone());
        group.bench_with_input(
            BenchmarkId::new("aws-sigv4", case.name),
            &case,
            |b, case| b.iter(|| black_box(baseline_sign(case, &identity))),
        );
        group.bench_with_input(
            BenchmarkId::new("lattice-client", case.name),
            &case,
            |b, case| {
                b.iter(|| {
                    let mut headers = case.headers.clone();
                    config
                        .sign(&case.method, &case.uri, &mut headers, &creds, time())
                        .unwrap();
                    black_box(headers)
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, bench_sign);
criterion_main!(benches);
