//! `canonical_request`: signing arbitrary requests never panics, SigV4 headers equal those
//! of `aws_sigv4::http_request::sign` (the reference) with the same settings, and the
//! canonical request rebuilt from a signed request lists the headers that were signed.
#![no_main]

use std::borrow::Cow;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arbitrary::Arbitrary;
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SessionTokenMode, SignableBody, SignableRequest,
    SignatureLocation, SigningSettings, UriPathNormalizationMode, sign,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request};
use lattice_client::host::{lattice_region, normalize_host};
use lattice_client::{
    CanonicalRequest, DEFAULT_UNSIGNED_HEADERS, PathEncoding, SIGNER_OWNED_HEADERS, SigningConfig,
};
use libfuzzer_sys::fuzz_target;

const ORDERS: &str = "orders-0123456789abcdef0.7d67968.vpc-lattice-svcs.us-west-2.on.aws";
const AUTHORITIES: [&str; 6] = [
    ORDERS,
    "orders-0123456789abcdef0.7d67968.vpc-lattice-svcs.us-west-2.on.aws:443",
    "orders-0123456789abcdef0.7d67968.vpc-lattice-svcs.us-west-2.on.aws:8443",
    "ORDERS-0123456789ABCDEF0.7D67968.VPC-LATTICE-SVCS.US-WEST-2.ON.AWS",
    "orders-0123456789abcdef0.7d67968.vpc-lattice-svcs.us-west-2.on.aws.",
    "api.example.com",
];
const METHODS: [&str; 5] = ["GET", "POST", "PUT", "DELETE", "PATCH"];
/// Latest time aws-sigv4 and lattice-client both sign (9999-12-31T23:59:59Z).
const MAX_SECS: u64 = 253_402_300_799;

#[derive(Arbitrary, Debug)]
struct Input {
    method: u8,
    custom_method: Option<String>,
    https: bool,
    authority: u8,
    host_header: Option<u8>,
    path: String,
    query: Option<String>,
    headers: Vec<(String, String)>,
    session_token: Option<String>,
    time: u64,
    single_encoding: bool,
}

fuzz_target!(|input: Input| check(input));

fn check(input: Input) {
    let method = match &input.custom_method {
        Some(m) => match Method::from_bytes(m.as_bytes()) {
            Ok(m) => m,
            Err(_) => return,
        },
        None => Method::from_bytes(METHODS[usize::from(input.method) % METHODS.len()].as_bytes())
            .unwrap(),
    };
    let authority = AUTHORITIES[usize::from(input.authority) % AUTHORITIES.len()];
    let scheme = if input.https { "https" } else { "http" };
    let query = input
        .query
        .as_deref()
        .map(|q| format!("?{q}"))
        .unwrap_or_default();
    // A path must start with `/`, or it would run into the authority.
    let slash = if input.path.starts_with('/') { "" } else { "/" };
    let uri = format!("{scheme}://{authority}{slash}{}{query}", input.path);
    let mut builder = Request::builder().method(method.clone()).uri(uri);
    if let Some(h) = input.host_header {
        builder = builder.header("host", AUTHORITIES[usize::from(h) % AUTHORITIES.len()]);
    }
    for (name, value) in &input.headers {
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_bytes(value.as_bytes()),
        ) else {
            continue;
        };
        builder = builder.header(name, value);
    }
    let Ok(request) = builder.body(()) else {
        return;
    };
    let (parts, ()) = request.into_parts();

    let credentials = Credentials::new(
        "AKIDEXAMPLE",
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        input
            .session_token
            .clone()
            .filter(|t| HeaderValue::from_str(t).is_ok()),
        None,
        "fuzz",
    );
    let time = UNIX_EPOCH + Duration::from_secs(input.time % MAX_SECS);
    let encoding = if input.single_encoding {
        PathEncoding::Single
    } else {
        PathEncoding::Double
    };

    // SigV4A signatures are randomized: only check that signing does not panic.
    let v4a = SigningConfig::builder()
        .sigv4a("*")
        .custom_domain("api.example.com")
        .path_encoding(encoding)
        .build()
        .unwrap();
    let mut v4a_headers = parts.headers.clone();
    let _ = v4a.sign(
        &parts.method,
        &parts.uri,
        &mut v4a_headers,
        &credentials,
        time,
    );

    let v4 = SigningConfig::builder()
        .custom_domain_in("api.example.com", "us-west-2")
        .path_encoding(encoding)
        .build()
        .unwrap();
    let mut headers = parts.headers.clone();
    let ours = v4.sign(&parts.method, &parts.uri, &mut headers, &credentials, time);
    if ours.is_ok() {
        check_rebuilt(&parts.method, &parts.uri, &headers, encoding);
    }

    // Trailing `.`/`..` segments: normalizers legitimately disagree on the final slash.
    let path = parts.uri.path();
    if path.ends_with("/.") || path.ends_with("/..") {
        return;
    }
    let reference = reference_sign(
        &parts.method,
        &parts.uri,
        &parts.headers,
        &credentials,
        time,
        encoding,
    );
    match (ours, reference) {
        (Ok(_), Some(Ok(expected))) => {
            for name in [
                "x-amz-date",
                "x-amz-content-sha256",
                "x-amz-security-token",
                "authorization",
            ] {
                // Bytes, not str: a session token may hold obs-text, which both sides keep.
                let got = headers.get(name).map(|v| v.as_bytes().to_vec());
                let want = expected
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v.as_bytes().to_vec());
                assert_eq!(got, want, "header {name} differs for {parts:?}");
            }
        }
        (Ok(_), Some(Err(e))) => {
            panic!("lattice-client signed what aws-sigv4 rejects ({e}): {parts:?}")
        }
        // The reference cannot express the request (e.g. a non-ASCII header): an error is right.
        (Err(_), None | Some(Err(_))) => {}
        (Ok(_), None) => panic!("lattice-client signed an unsignable request: {parts:?}"),
        (Err(e), Some(Ok(_))) => {
            panic!("lattice-client refused ({e}) what aws-sigv4 signs: {parts:?}")
        }
    }
}

/// A signed request's canonical request can be rebuilt, and it lists the signed headers.
/// A session token may hold obs-text, which the signer signs as bytes (as aws-sigv4 does)
/// but a `str` cannot show: such a token is redacted, as the sidecar redacts every token.
fn check_rebuilt(method: &Method, uri: &http::Uri, signed: &HeaderMap, encoding: PathEncoding) {
    let token_is_text = signed
        .get("x-amz-security-token")
        .is_none_or(|v| v.to_str().is_ok());
    let redact = |name: &str| name == "x-amz-security-token" && !token_is_text;
    let rebuilt = CanonicalRequest::from_signed_parts(method, uri, signed, encoding, redact)
        .unwrap_or_else(|e| panic!("a signed request could not be rebuilt ({e}): {uri}"));
    let authorization = signed["authorization"].to_str().expect("ASCII");
    let listed = format!("SignedHeaders={},", rebuilt.signed_headers());
    assert!(authorization.contains(&listed), "{authorization} vs {listed}");
}

/// What aws-sigv4 signs for this request, written from the Lattice rules, not from the
/// implementation: `None` if the request is not signable at all.
fn reference_sign(
    method: &Method,
    uri: &http::Uri,
    original: &HeaderMap,
    credentials: &Credentials,
    time: SystemTime,
    encoding: PathEncoding,
) -> Option<Result<Vec<(String, String)>, String>> {
    let mut headers = original.clone();
    for name in SIGNER_OWNED_HEADERS {
        headers.remove(name);
    }
    let hosts: Vec<&HeaderValue> = headers.get_all("host").iter().collect();
    let host: String = match hosts.as_slice() {
        [] => {
            let authority = uri.authority()?;
            let default = if uri.scheme_str() == Some("https") {
                443
            } else {
                80
            };
            if authority.port_u16() == Some(default) {
                authority.host().to_owned()
            } else {
                authority.as_str().to_owned()
            }
        }
        [one] => one.to_str().ok()?.to_owned(),
        _ => return None,
    };
    // Only Lattice names and the configured custom domain are signed (the `host_parser`
    // target checks these two functions).
    let allowed = lattice_region(&host).is_some()
        || normalize_host(&host).as_deref() == Some("api.example.com");
    if !allowed {
        return None;
    }
    let unsigned = |name: &str| {
        DEFAULT_UNSIGNED_HEADERS
            .iter()
            .any(|u| match u.strip_suffix('*') {
                Some(prefix) => name.starts_with(prefix),
                None => name == *u,
            })
    };
    let mut signable: Vec<(&str, &str)> = Vec::new();
    if hosts.is_empty() {
        signable.push(("host", &host));
    }
    for (name, value) in &headers {
        if unsigned(name.as_str()) {
            continue;
        }
        signable.push((name.as_str(), value.to_str().ok()?));
    }
    // AWS canonicalizes a literal `+` in the query as `%2B` (smithy-rs#4227).
    let path_and_query = match uri.query() {
        Some(q) => format!("{}?{}", uri.path(), q.replace('+', "%2B")),
        None => uri.path().to_owned(),
    };
    let mut settings = SigningSettings::default();
    settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    settings.signature_location = SignatureLocation::Headers;
    settings.session_token_mode = SessionTokenMode::Include;
    settings.excluded_headers = Some(vec![Cow::Borrowed("authorization")]);
    (
        settings.percent_encoding_mode,
        settings.uri_path_normalization_mode,
    ) = match encoding {
        PathEncoding::Single => (
            PercentEncodingMode::Single,
            UriPathNormalizationMode::Disabled,
        ),
        _ => (
            PercentEncodingMode::Double,
            UriPathNormalizationMode::Enabled,
        ),
    };
    let request = match SignableRequest::new(
        method.as_str(),
        path_and_query.as_str(),
        signable.into_iter(),
        SignableBody::UnsignedPayload,
    ) {
        Ok(r) => r,
        Err(e) => return Some(Err(e.to_string())),
    };
    let identity = Identity::from(credentials.clone());
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-west-2")
        .name("vpc-lattice-svcs")
        .time(time)
        .settings(settings)
        .build()
        .unwrap()
        .into();
    Some(match sign(request, &params) {
        Ok(output) => Ok(output
            .into_parts()
            .0
            .into_parts()
            .0
            .into_iter()
            .map(|h| (h.name().to_owned(), h.value().to_owned()))
            .collect()),
        Err(e) => Err(e.to_string()),
    })
}
