//! Differential test: `SigningConfig::sign` against `aws_sigv4::http_request::sign` (the
//! oracle) with the same settings, time and headers.
//!
//! SigV4: every header the signer adds, `authorization` included, must be byte-identical.
//! SigV4A: the same, except the signature itself (aws-sigv4 uses RFC 6979 nonces, we use
//! aws-lc-rs's randomized ECDSA); `src/sign/tests.rs` proves the string to sign equal by
//! verifying aws-sigv4's signature over ours.
//!
//! Each signed request is also rebuilt with `CanonicalRequest::from_signed_parts`, and
//! aws-sigv4's signature over the rebuilt canonical request must be the one sent.
//!
//! `PROPTEST_CASES` overrides the default of 512 cases.

use std::borrow::Cow;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SessionTokenMode, SignableBody, SignableRequest,
    SignatureLocation, SigningSettings, UriPathNormalizationMode, sign,
};
use aws_sigv4::sign::{v4, v4a};
use aws_smithy_runtime_api::client::identity::Identity;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};
use lattice_client::{
    CanonicalRequest, DEFAULT_UNSIGNED_HEADERS, PathEncoding, SIGNER_OWNED_HEADERS, SigningConfig,
};
use proptest::prelude::*;
use sha2::{Digest, Sha256};

const HOST: &str = "svc-0123456789abcdef0.7d67968.vpc-lattice-svcs.us-west-2.on.aws";
const REGION: &str = "us-west-2";

#[derive(Debug, Clone)]
struct Case {
    method: Method,
    path: String,
    query: Option<String>,
    host: HostForm,
    headers: Vec<(&'static str, String)>,
    token: Option<String>,
    double: bool,
    sigv4a: bool,
    time: SystemTime,
}

#[derive(Debug, Clone, Copy)]
enum HostForm {
    Authority,
    AuthorityDefaultPort,
    AuthorityOtherPort,
    Header,
    HeaderWithPort,
}

fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just(".".to_owned()),
        Just("..".to_owned()),
        "[a-zA-Z0-9]{1,6}",
        Just("%2F".to_owned()),
        Just("%20".to_owned()),
        Just("%25".to_owned()),
        Just("%3a".to_owned()),
        Just("%E2%82%AC".to_owned()),
        Just("caf%C3%A9".to_owned()),
        Just("a+b".to_owned()),
        Just("!$&'()*,;=:@".to_owned()),
        Just("-._~".to_owned()),
        Just("...".to_owned()),
        Just(".hidden".to_owned()),
    ]
}

fn path() -> impl Strategy<Value = String> {
    (prop::collection::vec(segment(), 0..6), any::<bool>()).prop_map(|(segments, trailing)| {
        let mut path = String::from("/");
        path.push_str(&segments.join("/"));
        if trailing && !path.ends_with('/') {
            path.push('/');
        }
        path
    })
}

fn query_atom() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "[a-zA-Z0-9]{1,5}",
        Just("a".to_owned()),
        Just("A".to_owned()),
        Just("a%20b".to_owned()),
        Just("%41".to_owned()),
        Just("%2B".to_owned()),
        Just("%2b".to_owned()),
        Just("x+y".to_owned()),
        Just("+".to_owned()),
        Just("%".to_owned()),
        Just("%zz".to_owned()),
        Just("%C3%A9t%C3%A9".to_owned()),
        Just("%FF%FE".to_owned()),
        Just("-_.~".to_owned()),
        Just("!$'()*,;:@/?".to_owned()),
    ]
}

fn query() -> impl Strategy<Value = Option<String>> {
    let pair = (query_atom(), prop::option::of(query_atom())).prop_map(|(k, v)| match v {
        Some(v) => format!("{k}={v}"),
        None => k,
    });
    // Plain `key=value` pairs from a small alphabet, in any order and with repeats: the
    // form most queries take.
    let plain = prop::collection::vec(("[ab]{0,2}", "[a1+%]{0,2}"), 1..4).prop_map(|pairs| {
        let pairs: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        pairs.join("&")
    });
    prop::option::of(prop_oneof![
        prop::collection::vec(pair, 0..6).prop_map(|pairs| pairs.join("&")),
        plain,
    ])
}

fn header_value() -> impl Strategy<Value = String> {
    "[ \t]{0,2}[!-~]{0,5}( {1,3}[!-~]{1,4}){0,2}[ \t]{0,3}"
}

fn headers() -> impl Strategy<Value = Vec<(&'static str, String)>> {
    let name = prop::sample::select(vec![
        "accept",
        "content-type",
        "x-custom",
        "x-dup",
        "x-dup",
        "x-amz-meta-a",
        "x-amz-target",
        "cookie",
        "a",
        "zz-last",
        "user-agent",
        "x-forwarded-for",
        "content-length",
        "traceparent",
    ]);
    prop::collection::vec((name, header_value()), 0..8)
}

fn case() -> impl Strategy<Value = Case> {
    let method = prop::sample::select(vec![
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::PATCH,
        Method::HEAD,
        Method::OPTIONS,
    ]);
    let host = prop::sample::select(vec![
        HostForm::Authority,
        HostForm::AuthorityDefaultPort,
        HostForm::AuthorityOtherPort,
        HostForm::Header,
        HostForm::HeaderWithPort,
    ]);
    let token = prop::option::of("[A-Za-z0-9+/=]{1,600}");
    // 1970 to the end of 9999, with sub-second noise that must be truncated.
    let time = (0u64..253_402_300_800, 0u32..1_000_000_000)
        .prop_map(|(secs, nanos)| UNIX_EPOCH + Duration::new(secs, nanos));
    (
        method,
        path(),
        query(),
        host,
        headers(),
        token,
        any::<bool>(),
        any::<bool>(),
        time,
    )
        .prop_map(
            |(method, path, query, host, headers, token, double, sigv4a, time)| Case {
                method,
                path,
                query,
                host,
                headers,
                token,
                double,
                sigv4a,
                time,
            },
        )
}

fn build(case: &Case) -> (Uri, HeaderMap) {
    let authority = match case.host {
        HostForm::AuthorityDefaultPort => format!("{HOST}:443"),
        HostForm::AuthorityOtherPort => format!("{HOST}:8443"),
        _ => HOST.to_owned(),
    };
    let query = case
        .query
        .as_deref()
        .map(|q| format!("?{q}"))
        .unwrap_or_default();
    let uri: Uri = format!("https://{authority}{}{query}", case.path)
        .parse()
        .expect("valid uri");
    let mut headers = HeaderMap::new();
    match case.host {
        HostForm::Header => {
            headers.insert("host", HeaderValue::from_static(HOST));
        }
        HostForm::HeaderWithPort => {
            headers.insert(
                "host",
                HeaderValue::from_str(&format!("{HOST}:8443")).expect("host"),
            );
        }
        _ => {}
    }
    for (name, value) in &case.headers {
        headers.append(*name, HeaderValue::from_str(value).expect("valid value"));
    }
    (uri, headers)
}

fn credentials(token: Option<&str>) -> Credentials {
    Credentials::new(
        "AKIDEXAMPLE",
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        token.map(str::to_owned),
        None,
        "test",
    )
}

fn is_unsigned(name: &str) -> bool {
    DEFAULT_UNSIGNED_HEADERS
        .iter()
        .any(|h| match h.strip_suffix('*') {
            Some(prefix) => name.starts_with(prefix),
            None => *h == name,
        })
}

/// aws-sigv4, fed the headers `SigningConfig::sign` signs, with the settings it signs with.
fn oracle(case: &Case, uri: &Uri, headers: &HeaderMap) -> Vec<(String, String, bool)> {
    let host = match headers.get("host") {
        Some(h) => h.to_str().expect("host").to_owned(),
        None => {
            let authority = uri.authority().expect("authority");
            if authority.port_u16() == Some(443) {
                authority.host().to_owned()
            } else {
                authority.as_str().to_owned()
            }
        }
    };
    let mut signable: Vec<(&str, &str)> = Vec::new();
    if !headers.contains_key("host") {
        signable.push(("host", &host));
    }
    for (name, value) in headers {
        if !is_unsigned(name.as_str()) {
            signable.push((name.as_str(), value.to_str().expect("visible ascii")));
        }
    }
    // AWS services read a literal `+` in the query as `%2B` (aws-sigv4 alone would sign a
    // space: smithy-rs#4227), and so does lattice-client.
    let pq = uri.path_and_query().map_or("/", |pq| pq.as_str());
    let path_and_query = match uri.query() {
        Some(q) if q.contains('+') => {
            format!("{}{}", &pq[..pq.len() - q.len()], q.replace('+', "%2B"))
        }
        _ => pq.to_owned(),
    };
    let request = SignableRequest::new(
        case.method.as_str(),
        Cow::Owned(path_and_query),
        signable.into_iter(),
        SignableBody::UnsignedPayload,
    )
    .expect("signable");

    let mut settings = SigningSettings::default();
    settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    settings.signature_location = SignatureLocation::Headers;
    settings.session_token_mode = SessionTokenMode::Include;
    settings.excluded_headers = Some(vec![Cow::Borrowed("authorization")]);
    if case.double {
        settings.percent_encoding_mode = PercentEncodingMode::Double;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Enabled;
    } else {
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    }
    let identity = Identity::from(credentials(case.token.as_deref()));
    let params = if case.sigv4a {
        v4a::SigningParams::builder()
            .identity(&identity)
            .region_set("*")
            .name("vpc-lattice-svcs")
            .time(case.time)
            .settings(settings)
            .build()
            .expect("params")
            .into()
    } else {
        v4::SigningParams::builder()
            .identity(&identity)
            .region(REGION)
            .name("vpc-lattice-svcs")
            .time(case.time)
            .settings(settings)
            .build()
            .expect("params")
            .into()
    };
    let (instructions, _) = sign(request, &params).expect("oracle signs").into_parts();
    instructions
        .into_parts()
        .0
        .into_iter()
        .map(|h| {
            (
                h.name().to_owned(),
                h.value().to_owned(),
                h.sensitive() || h.name() == "authorization",
            )
        })
        .collect()
}

fn check(case: &Case) -> Result<(), TestCaseError> {
    let (uri, headers) = build(case);
    let expected = oracle(case, &uri, &headers);

    let config = if case.sigv4a {
        SigningConfig::builder().sigv4a("*")
    } else {
        SigningConfig::builder()
    };
    let encoding = if case.double {
        PathEncoding::Double
    } else {
        PathEncoding::Single
    };
    let config = config.path_encoding(encoding).build().expect("config");
    let mut signed = headers.clone();
    config
        .sign(
            &case.method,
            &uri,
            &mut signed,
            &credentials(case.token.as_deref()),
            case.time,
        )
        .expect("lattice-client signs");

    let added: Vec<&str> = SIGNER_OWNED_HEADERS
        .iter()
        .copied()
        .filter(|name| signed.contains_key(*name))
        .collect();
    prop_assert_eq!(
        added.len(),
        expected.len(),
        "added {:?}, expected {:?}",
        added,
        expected
    );
    for (name, value, sensitive) in &expected {
        let actual = signed
            .get(HeaderName::from_bytes(name.as_bytes()).expect("name"))
            .expect("header added");
        let actual_str = actual.to_str().expect("ascii");
        if case.sigv4a && name == "authorization" {
            // Everything up to the (randomized) ECDSA signature must match.
            let cut = |v: &str| {
                v.split_once(", Signature=")
                    .map(|(head, _)| head.to_owned())
            };
            prop_assert_eq!(cut(actual_str), cut(value));
        } else {
            prop_assert_eq!(actual_str, value.as_str(), "header {}", name);
        }
        prop_assert_eq!(actual.is_sensitive(), *sensitive, "sensitivity of {}", name);
    }
    if !case.sigv4a {
        check_rebuilt(case, &uri, &signed, encoding)?;
    }
    Ok(())
}

/// The canonical request rebuilt from the signed request is the one that was signed:
/// aws-sigv4's signature over it is the one in `authorization`.
fn check_rebuilt(
    case: &Case,
    uri: &Uri,
    signed: &HeaderMap,
    encoding: PathEncoding,
) -> Result<(), TestCaseError> {
    let rebuilt =
        CanonicalRequest::from_signed_parts(&case.method, uri, signed, encoding, |_| false)
            .expect("a signed request");
    let date_time = signed["x-amz-date"].to_str().expect("ASCII");
    let hash: String = Sha256::digest(rebuilt.as_str())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{date_time}\n{}/{REGION}/vpc-lattice-svcs/aws4_request\n{hash}",
        &date_time[..8]
    );
    let key = v4::generate_signing_key(
        credentials(None).secret_access_key(),
        case.time,
        REGION,
        "vpc-lattice-svcs",
    );
    let expected = v4::calculate_signature(key, string_to_sign.as_bytes());
    let authorization = signed["authorization"].to_str().expect("ASCII");
    prop_assert!(
        authorization.ends_with(&format!(", Signature={expected}")),
        "rebuilt:\n{}\nsent: {}",
        rebuilt.as_str(),
        authorization
    );
    prop_assert_eq!(
        authorization.contains(&format!("SignedHeaders={},", rebuilt.signed_headers())),
        true
    );
    Ok(())
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(512)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn fast_path_matches_aws_sigv4(case in case()) {
        check(&case)?;
        // The same request in another second, with the key from the cache.
        let one_second = Duration::from_secs(1);
        let other_second = case.time.checked_sub(one_second).unwrap_or(case.time + one_second);
        check(&Case { time: other_second, ..case.clone() })?;
    }
}

#[test]
fn fixed_cases_match() {
    let base = Case {
        method: Method::GET,
        path: "/orders".to_owned(),
        query: Some("id=42&view=full".to_owned()),
        host: HostForm::Authority,
        headers: vec![("accept", "application/json".to_owned())],
        token: None,
        double: true,
        sigv4a: false,
        time: UNIX_EPOCH + Duration::from_secs(1_700_000_000),
    };
    let variants = [
        base.clone(),
        Case {
            token: Some("IQoJb3JpZ2luX2VjEXAMPLETOKEN".repeat(20)),
            ..base.clone()
        },
        Case {
            path: "/a/./b/../c//d/%2F%20".to_owned(),
            ..base.clone()
        },
        Case {
            path: "/a/./b/../c//d/%2F%20".to_owned(),
            double: false,
            ..base.clone()
        },
        Case {
            query: Some("b=2&a=1&a=0&c&=x&&+=%2B&x+y=1+1".to_owned()),
            ..base.clone()
        },
        Case {
            headers: vec![
                ("x-dup", "  a   b  ".to_owned()),
                ("x-dup", "\tc".to_owned()),
            ],
            ..base.clone()
        },
        Case {
            sigv4a: true,
            ..base.clone()
        },
        Case {
            path: "/".to_owned(),
            query: None,
            host: HostForm::HeaderWithPort,
            ..base.clone()
        },
        Case {
            time: UNIX_EPOCH,
            ..base.clone()
        },
        Case {
            time: UNIX_EPOCH + Duration::from_secs(253_402_300_799),
            ..base
        },
    ];
    for case in &variants {
        check(case).unwrap_or_else(|e| panic!("{case:?}: {e}"));
    }
}
