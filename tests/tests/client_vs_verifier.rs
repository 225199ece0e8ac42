//! Differential check: every request lattice-client signs is accepted by the emulator's
//! independent verifier (its own canonicalization and crypto, proven on the AWS suite),
//! and any change after signing is rejected.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, HeaderValue};
use lattice_client::{Credentials, SigningConfig};
use lattice_emulator::verifier::{
    Algorithm, KeyLookup, Rejection, RequestView, Secret, Verified, VerifyOptions, verify,
};
use lattice_tests::cases::{RequestCase, edge_cases, random_cases};

const AKID: &str = "AKIDDIFFERENTIAL";
const SECRET: &str = "differential/secret+key";
const TOKEN: &str = "IQoJb3JpZ2luX2VjEDIFFERENTIAL//token==";

struct Keys {
    token: Option<String>,
}

impl KeyLookup for Keys {
    fn lookup(&self, access_key_id: &str) -> Option<Secret> {
        (access_key_id == AKID).then(|| Secret {
            access_key_id: AKID.to_owned(),
            secret_access_key: SECRET.to_owned(),
            session_token: self.token.clone(),
            principal: "arn:aws:iam::123456789012:user/differential".to_owned(),
            session_name: None,
        })
    }
}

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_763_800_000)
}

/// A signed request as a server receives it.
struct Received {
    method: String,
    path: String,
    query: Option<String>,
    headers: HeaderMap,
    authority: Option<String>,
}

impl Received {
    fn verify(&self, keys: &Keys) -> Result<Verified, Rejection> {
        let view = RequestView {
            method: &self.method,
            raw_path: &self.path,
            raw_query: self.query.as_deref(),
            headers: &self.headers,
            authority: self.authority.as_deref(),
        };
        verify(&view, keys, &VerifyOptions::new("us-west-2"), now())
    }
}

/// Sign `case` and deliver it as HTTP/1.1 (Host header) or HTTP/2 (`:authority` only).
fn sign(case: &RequestCase, config: &SigningConfig, token: Option<&str>, http2: bool) -> Received {
    let mut builder = http::Request::builder()
        .method(case.method.as_str())
        .uri(case.url.as_str());
    for (name, value) in &case.headers {
        builder = builder.header(name, value);
    }
    let (mut parts, ()) = builder.body(()).unwrap().into_parts();
    let credentials = Credentials::new(AKID, SECRET, token.map(str::to_owned), None, "test");
    lattice_client::canonicalize_authority(&mut parts.uri);
    config
        .sign(
            &parts.method,
            &parts.uri,
            &mut parts.headers,
            &credentials,
            now(),
        )
        .unwrap_or_else(|e| panic!("{}: {e}", case.name));
    let authority = parts.uri.authority().unwrap().as_str().to_owned();
    if !http2 {
        parts
            .headers
            .insert("host", HeaderValue::from_str(&authority).unwrap());
    }
    Received {
        method: case.method.clone(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers: parts.headers,
        authority: http2.then_some(authority),
    }
}

fn all_cases() -> Vec<RequestCase> {
    let mut cases = edge_cases();
    cases.extend(random_cases(0xd1ff, 200));
    cases
}

fn configs() -> [(SigningConfig, Algorithm); 2] {
    [
        (
            SigningConfig::builder()
                .custom_domain_in("orders.example.com", "us-west-2")
                .build()
                .unwrap(),
            Algorithm::SigV4,
        ),
        (
            SigningConfig::builder()
                .sigv4a("*")
                .custom_domain("orders.example.com")
                .build()
                .unwrap(),
            Algorithm::SigV4A,
        ),
    ]
}

#[test]
fn verifier_accepts_every_lattice_client_signature() {
    let mut checked = 0;
    let mut failures = Vec::new();
    for (config, algorithm) in configs() {
        for case in all_cases() {
            for (token, http2) in [(None, false), (Some(TOKEN), true), (Some(TOKEN), false)] {
                let keys = Keys {
                    token: token.map(str::to_owned),
                };
                let received = sign(&case, &config, token, http2);
                match received.verify(&keys) {
                    Ok(verified) => assert_eq!(verified.algorithm, algorithm),
                    Err(rejection) => failures.push(format!(
                        "{} ({algorithm:?}, token={}, h2={http2}): {rejection:?}",
                        case.name,
                        token.is_some()
                    )),
                }
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 2 * all_cases().len() * 3);
    assert!(
        failures.is_empty(),
        "{} of {checked} rejected:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn verifier_rejects_any_change_after_signing() {
    type Tamper = (&'static str, fn(&mut Received));
    let tampers: [Tamper; 5] = [
        ("path", |r| r.path.push('x')),
        ("query", |r| {
            r.query = Some(match r.query.take() {
                Some(q) => format!("{q}&extra=1"),
                None => "extra=1".to_owned(),
            })
        }),
        ("method", |r| {
            r.method = if r.method == "GET" {
                "POST".into()
            } else {
                "GET".into()
            }
        }),
        ("host", |r| {
            r.headers
                .insert("host", HeaderValue::from_static("other.example.com"));
            r.authority = None;
        }),
        ("signed header", |r| {
            r.headers
                .insert("x-amz-date", HeaderValue::from_static("20251122T083400Z"));
        }),
    ];
    let keys = Keys { token: None };
    let mut checked = 0;
    for (config, _) in configs() {
        for case in all_cases().iter().take(60) {
            for (what, tamper) in &tampers {
                let mut received = sign(case, &config, None, false);
                if let Err(rejection) = received.verify(&keys) {
                    panic!("{}: untampered must pass: {rejection:?}", case.name);
                }
                tamper(&mut received);
                let rejection = received
                    .verify(&keys)
                    .expect_err(&format!("{} {what}", case.name));
                assert!(
                    matches!(rejection, Rejection::InvalidSignature(_)),
                    "{} {what}: {rejection:?}",
                    case.name
                );
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 2 * 60 * 5);
}
