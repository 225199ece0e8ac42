//! Signing cost of lattice-client next to a baseline that calls
//! `aws_sigv4::http_request::sign` directly, measured in the same run.
//!
//! `cargo bench -p lattice-client --bench sign`
//!
//! The `floor` rows measure, in the same run, the two costs any signer pays for the
//! `sigv4/get+token` case whatever its design: SHA-256 over that case's canonical request
//! plus the HMAC of its string to sign with a ready key, and adding the four signed
//! headers to the request's `HeaderMap`. Setup checks that the floor's signature equals
//! lattice-client's, so it hashes exactly the bytes that are signed.
//!
//! The `signer` row signs the same case the way the tower layer does: through a `Signer`
//! and its credentials cache, with credentials carrying the property map aws-config's
//! providers set.

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
use lattice_client::{CredentialsCache, Signer, SigningConfig};

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

/// The `sigv4/get+token` canonical request (`user-agent` is unsigned by default).
fn get_token_canonical_request(token: &str) -> String {
    [
        "GET\n/orders\nid=42&view=full\naccept:application/json\nhost:",
        HOST,
        "\nx-amz-content-sha256:UNSIGNED-PAYLOAD\nx-amz-date:20231114T221320Z\n",
        "x-amz-security-token:",
        token,
        "\n\naccept;host;x-amz-content-sha256;x-amz-date;x-amz-security-token\nUNSIGNED-PAYLOAD",
    ]
    .concat()
}

fn bench_floor(c: &mut Criterion) {
    use hmac::{KeyInit, Mac};
    use http::{HeaderName, HeaderValue};
    use sha2::{Digest, Sha256};

    let mut group = c.benchmark_group("floor");
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(2));
    let creds = credentials(true);
    let token = creds.session_token().expect("token");
    let creq = get_token_canonical_request(token);
    let signing_key = v4::generate_signing_key(
        creds.secret_access_key(),
        time(),
        "us-west-2",
        "vpc-lattice-svcs",
    );
    let key = hmac::Hmac::<Sha256>::new_from_slice(signing_key.as_ref()).expect("any key length");
    let floor_signature = || {
        let hash = Sha256::digest(black_box(creq.as_bytes()));
        let mut sts = String::with_capacity(160);
        sts.push_str("AWS4-HMAC-SHA256\n20231114T221320Z\n");
        sts.push_str("20231114/us-west-2/vpc-lattice-svcs/aws4_request\n");
        for byte in hash {
            for nibble in [byte >> 4, byte & 0xf] {
                sts.push(char::from(b"0123456789abcdef"[usize::from(nibble)]));
            }
        }
        key.clone()
            .chain_update(sts.as_bytes())
            .finalize()
            .into_bytes()
    };
    let case = cases()
        .into_iter()
        .find(|c| c.name == "sigv4/get+token")
        .expect("case");
    // The floor hashes exactly what lattice-client signs: same signature.
    let mut signed = case.headers.clone();
    SigningConfig::builder()
        .build()
        .unwrap()
        .sign(&case.method, &case.uri, &mut signed, &creds, time())
        .unwrap();
    let authorization = signed["authorization"].to_str().unwrap();
    let expected: String = floor_signature()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert!(
        authorization.ends_with(&format!("Signature={expected}")),
        "the floor's canonical request differs from the signed one: {authorization}"
    );
    group.bench_function("sigv4/get+token/sha256+hmac", |b| {
        b.iter(|| black_box(floor_signature()))
    });
    let date = HeaderValue::from_static("20231114T221320Z");
    let authorization = HeaderValue::from_static("AWS4-HMAC-SHA256 Credential=..");
    let token = HeaderValue::from_str(token).expect("token");
    group.bench_function("sigv4/get+token/header-inserts", |b| {
        b.iter(|| {
            let mut headers = case.headers.clone();
            headers.reserve(4);
            for (name, value) in [
                ("x-amz-date", &date),
                ("authorization", &authorization),
                ("x-amz-content-sha256", &date),
                ("x-amz-security-token", &token),
            ] {
                headers.insert(HeaderName::from_static(name), value.clone());
            }
            black_box(headers)
        })
    });
    group.finish();
}

fn bench_signer(c: &mut Criterion) {
    use aws_credential_types::credential_feature::AwsCredentialFeature;

    let mut group = c.benchmark_group("signer");
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(2));
    let case = cases()
        .into_iter()
        .find(|c| c.name == "sigv4/get+token")
        .expect("case");
    let mut creds = credentials(true);
    creds
        .get_property_mut_or_default::<Vec<AwsCredentialFeature>>()
        .push(AwsCredentialFeature::CredentialsEnvVars);
    let config = SigningConfig::builder().build().unwrap();
    let signer = Signer::new(config, CredentialsCache::from_static(creds));
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(signer.credentials().warm())
        .expect("static credentials");
    group.bench_function("lattice-client/sigv4/get+token", |b| {
        b.iter(|| {
            let mut uri = case.uri.clone();
            let mut headers = case.headers.clone();
            let signed = signer
                .sign_parts_if_warm(&case.method, &mut uri, &mut headers)
                .unwrap();
            black_box((signed, headers))
        })
    });
    group.finish();
}

criterion_group!(benches, bench_sign, bench_floor, bench_signer);
criterion_main!(benches);
