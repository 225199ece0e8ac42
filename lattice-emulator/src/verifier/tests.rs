//! Decision tests for [`verify`]: requests are signed here with the verifier's
//! own building blocks (the suite tests prove those against AWS's vectors), then
//! altered one way at a time.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, HeaderName, HeaderValue};

use super::canonical::{
    CanonicalHeaders, canonical_query, canonical_request, credential_scope, string_to_sign,
};
use super::*;

const AKID: &str = "AKIDEXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const TEMP_AKID: &str = "ASIATEMPEXAMPLE";
const TEMP_SECRET: &str = "temporary/secret+key";
const TOKEN: &str = "FwoGZXIvYXdzEXAMPLE+token/value==";
const REGION: &str = "us-west-2";
const HOST: &str = "svc-0123.7d67968.vpc-lattice-svcs.us-west-2.on.aws";

struct Keys(Vec<Secret>);

impl KeyLookup for Keys {
    fn lookup(&self, access_key_id: &str) -> Option<Secret> {
        self.0
            .iter()
            .find(|s| s.access_key_id == access_key_id)
            .cloned()
    }
}

fn keys() -> Keys {
    Keys(vec![
        Secret {
            access_key_id: AKID.into(),
            secret_access_key: SECRET.into(),
            session_token: None,
            principal: "arn:aws:iam::123456789012:user/alice".into(),
            session_name: None,
        },
        Secret {
            access_key_id: TEMP_AKID.into(),
            secret_access_key: TEMP_SECRET.into(),
            session_token: Some(TOKEN.into()),
            principal: "arn:aws:sts::123456789012:assumed-role/role/sess".into(),
            session_name: Some("sess".into()),
        },
    ])
}

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

#[derive(Debug, Clone)]
struct TestRequest {
    method: String,
    path: String,
    query: Option<String>,
    headers: HeaderMap,
    authority: Option<String>,
}

impl TestRequest {
    /// A Lattice-shaped request: `host` and `x-amz-content-sha256: UNSIGNED-PAYLOAD`.
    fn new(method: &str, path_and_query: &str) -> Self {
        let (path, query) = match path_and_query.split_once('?') {
            Some((p, q)) => (p, Some(q.to_owned())),
            None => (path_and_query, None),
        };
        Self {
            method: method.into(),
            path: path.into(),
            query,
            headers: HeaderMap::new(),
            authority: None,
        }
        .with("host", HOST)
        .with("x-amz-content-sha256", UNSIGNED_PAYLOAD)
    }

    fn with(mut self, name: &str, value: &str) -> Self {
        self.headers.append(
            HeaderName::from_bytes(name.as_bytes()).expect("name"),
            HeaderValue::from_str(value).expect("value"),
        );
        self
    }

    fn without(mut self, name: &str) -> Self {
        self.headers.remove(name);
        self
    }

    /// HTTP/2 shape: no `host` header, the authority carries it.
    fn http2(mut self) -> Self {
        self.headers.remove("host");
        self.authority = Some(HOST.into());
        self
    }

    fn view(&self) -> RequestView<'_> {
        RequestView {
            method: &self.method,
            raw_path: &self.path,
            raw_query: self.query.as_deref(),
            headers: &self.headers,
            authority: self.authority.as_deref(),
        }
    }

    fn authorization(&self) -> String {
        self.headers["authorization"]
            .to_str()
            .expect("ascii")
            .to_owned()
    }

    fn set_authorization(mut self, value: &str) -> Self {
        self.headers.insert(
            "authorization",
            HeaderValue::from_str(value).expect("value"),
        );
        self
    }
}

/// A minimal signer over the verifier's building blocks.
#[derive(Debug, Clone)]
struct Signer {
    algorithm: Algorithm,
    access_key_id: String,
    secret: String,
    token: Option<String>,
    /// SigV4 scope region, or the SigV4A region set.
    region: String,
    service: String,
    time: SystemTime,
    encoding: UriEncoding,
    /// Headers present but left out of `SignedHeaders`.
    unsigned: Vec<&'static str>,
}

impl Signer {
    fn v4() -> Self {
        Self {
            algorithm: Algorithm::SigV4,
            access_key_id: AKID.into(),
            secret: SECRET.into(),
            token: None,
            region: REGION.into(),
            service: SIGNING_NAME.into(),
            time: now(),
            encoding: UriEncoding::Double,
            unsigned: Vec::new(),
        }
    }

    fn v4a(region_set: &str) -> Self {
        Self {
            algorithm: Algorithm::SigV4A,
            region: region_set.into(),
            ..Self::v4()
        }
    }

    fn temp(self, token: Option<&str>) -> Self {
        Self {
            access_key_id: TEMP_AKID.into(),
            secret: TEMP_SECRET.into(),
            token: token.map(Into::into),
            ..self
        }
    }

    fn sign(&self, mut req: TestRequest) -> TestRequest {
        let amz_date = format_amz_date(self.time);
        req = req.with("x-amz-date", &amz_date);
        if self.algorithm == Algorithm::SigV4A {
            req = req.with("x-amz-region-set", &self.region);
        }
        if let Some(token) = &self.token {
            req = req.with("x-amz-security-token", token);
        }
        let mut headers = CanonicalHeaders::from_header_map(&req.headers);
        if let Some(authority) = &req.authority {
            headers.append("host", authority.as_bytes());
        }
        let signed: Vec<&str> = headers
            .names()
            .filter(|n| !self.unsigned.contains(n))
            .collect();
        let payload = headers
            .get("x-amz-content-sha256")
            .map_or(UNSIGNED_PAYLOAD.to_owned(), |v| {
                String::from_utf8_lossy(v).into_owned()
            });
        let creq = canonical_request(
            &req.method,
            &self.encoding.canonical_uri(&req.path),
            &canonical_query(req.query.as_deref().unwrap_or("")),
            &headers,
            &signed,
            &payload,
        )
        .expect("signed headers come from the request");
        let date = &amz_date[..8];
        let scope = credential_scope(self.algorithm, date, &self.region, &self.service);
        let sts = string_to_sign(self.algorithm, &amz_date, &scope, &creq);
        let signature = match self.algorithm {
            Algorithm::SigV4 => v4::signature(
                &v4::signing_key(&self.secret, date, &self.region, &self.service),
                &sts,
            ),
            Algorithm::SigV4A => {
                let key = v4a::derive_signing_key(&self.access_key_id, &self.secret).expect("key");
                v4a::sign(&key, &sts)
            }
        };
        let value = format!(
            "{} Credential={}/{scope}, SignedHeaders={}, Signature={signature}",
            self.algorithm.name(),
            self.access_key_id,
            signed.join(";"),
        );
        req.set_authorization(&value)
    }
}

fn opts() -> VerifyOptions {
    VerifyOptions::new(REGION)
}

fn check(req: &TestRequest) -> Result<Verified, Rejection> {
    verify(&req.view(), &keys(), &opts(), now())
}

fn get() -> TestRequest {
    TestRequest::new("GET", "/pets/dogs?limit=10&name=a+b")
}

/// Asserts `result` is the rejection `kind` (compared by code) whose message
/// contains `needle`, and returns the message.
#[track_caller]
fn assert_rejected(
    result: Result<Verified, Rejection>,
    kind: fn(String) -> Rejection,
    needle: &str,
) {
    let want = kind(String::new()).code();
    match result {
        Ok(v) => panic!("expected {want}, but verified: {v:?}"),
        Err(r) => {
            assert_eq!(r.code(), want, "wrong rejection: {r}");
            assert!(
                r.message().contains(needle),
                "message lacks {needle:?}: {r}"
            );
            assert!(!r.message().contains(SECRET) && !r.message().contains(TEMP_SECRET));
            assert!(!r.message().contains(TOKEN), "token leaked: {r}");
        }
    }
}

// === acceptance ===

#[test]
fn accepts_valid_v4() {
    let v = check(&Signer::v4().sign(get())).expect("valid v4");
    assert_eq!(v.access_key_id, AKID);
    assert_eq!(v.principal, "arn:aws:iam::123456789012:user/alice");
    assert_eq!(v.algorithm, Algorithm::SigV4);
    assert_eq!(
        v.signed_headers,
        ["host", "x-amz-content-sha256", "x-amz-date"]
    );
    assert_eq!(v.uri_encoding, UriEncoding::Double);
    assert!(
        v.canonical_request
            .starts_with("GET\n/pets/dogs\nlimit=10&name=a%2Bb\n")
    );
    assert!(v.canonical_request.ends_with("\nUNSIGNED-PAYLOAD"));
}

#[test]
fn accepts_valid_v4a_and_wildcard_region_sets() {
    for set in [
        "us-west-2",
        "*",
        "us-*",
        "eu-west-1, us-west-2",
        "eu-*,us-west-?,us-w*t-2",
    ] {
        let v = check(&Signer::v4a(set).sign(get())).unwrap_or_else(|r| panic!("{set}: {r}"));
        assert_eq!(v.algorithm, Algorithm::SigV4A);
        assert!(v.signed_headers.contains(&"x-amz-region-set".to_owned()));
    }
}

#[test]
fn accepts_http2_authority_instead_of_host() {
    for signer in [Signer::v4(), Signer::v4a("*")] {
        let req = signer.sign(get().http2());
        assert!(!req.headers.contains_key("host"));
        let v = check(&req).unwrap_or_else(|r| panic!("{:?}: {r}", signer.algorithm));
        assert!(v.canonical_request.contains(&format!("\nhost:{HOST}\n")));
    }
    // The signed `host` must come from somewhere.
    let mut req = Signer::v4().sign(get().http2());
    req.authority = None;
    assert_rejected(check(&req), Rejection::IncompleteSignature, "'host'");
}

#[test]
fn accepts_both_uri_encodings() {
    let path = "/a%3Ab/c%2Fd/./e f/%7e";
    for (encoding, algorithm) in [
        (UriEncoding::Double, Algorithm::SigV4),
        (UriEncoding::Single, Algorithm::SigV4),
        (UriEncoding::Single, Algorithm::SigV4A),
    ] {
        let signer = Signer {
            encoding,
            algorithm,
            region: if algorithm == Algorithm::SigV4 {
                REGION
            } else {
                "*"
            }
            .into(),
            ..Signer::v4()
        };
        let v = check(&signer.sign(TestRequest::new("PUT", path))).expect("valid");
        assert_eq!(v.uri_encoding, encoding);
    }
    // Where both forms coincide, Double is reported.
    let signer = Signer {
        encoding: UriEncoding::Single,
        ..Signer::v4()
    };
    assert_eq!(
        check(&signer.sign(get())).map(|v| v.uri_encoding),
        Ok(UriEncoding::Double)
    );
}

#[test]
fn accepts_tolerable_authorization_spacing() {
    let req = Signer::v4().sign(get());
    for value in [
        req.authorization().replace(", ", ","),
        req.authorization().replace(", ", ",  "),
    ] {
        assert!(
            check(&req.clone().set_authorization(&value)).is_ok(),
            "{value}"
        );
    }
}

#[test]
fn accepts_skew_within_limit() {
    let minutes = |m: u64| Duration::from_secs(m * 60);
    for time in [
        now() - minutes(4),
        now() + minutes(4),
        now() - minutes(5),
        now() + minutes(5),
    ] {
        assert!(
            check(
                &Signer {
                    time,
                    ..Signer::v4()
                }
                .sign(get())
            )
            .is_ok(),
            "{time:?}"
        );
    }
}

#[test]
fn accepts_session_token_and_redacts_it() {
    let v = check(&Signer::v4().temp(Some(TOKEN)).sign(get())).expect("valid");
    assert_eq!(v.session_name.as_deref(), Some("sess"));
    assert!(!v.canonical_request.contains(TOKEN));
    assert!(
        v.canonical_request
            .contains("x-amz-security-token:** redacted **")
    );
}

// === rejections ===

#[test]
fn no_authorization_is_access_denied() {
    assert_rejected(
        check(&get()),
        Rejection::AccessDenied,
        "User: anonymous is not authorized",
    );
    let presigned = TestRequest::new(
        "GET",
        "/?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=00",
    );
    assert_rejected(check(&presigned), Rejection::AccessDenied, "presigned");
}

#[test]
fn malformed_authorization_is_incomplete() {
    let good = Signer::v4().sign(get()).authorization();
    for bad in [
        String::from("AWS4-HMAC-SHA256"),
        good.replace("Credential=", "Credentials="),
        good.replace("SignedHeaders=", "Signedheaders="),
        good.replace("/aws4_request", "/aws4_reqest"),
        good.replace(", Signature=", ", Signature=zz"),
        good.replace("host;", "Host;"),
        good.replace("host;", ""),
        good.replace(", ", "; "),
        good.replace("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA512"),
        format!("{good}, Signature=00"),
    ] {
        let req = get().set_authorization(&bad);
        assert_rejected(check(&req), Rejection::IncompleteSignature, "");
    }
    let two = Signer::v4().sign(get()).with("authorization", &good);
    assert_rejected(check(&two), Rejection::IncompleteSignature, "more than one");
    let mut binary = get();
    binary.headers.insert(
        "authorization",
        HeaderValue::from_bytes(b"AWS4 \xff").expect("obs-text"),
    );
    assert_rejected(check(&binary), Rejection::IncompleteSignature, "ASCII");
}

#[test]
fn unknown_key_is_unrecognized_client() {
    let signer = Signer {
        access_key_id: "AKIDUNKNOWN".into(),
        ..Signer::v4()
    };
    assert_rejected(
        check(&signer.sign(get())),
        Rejection::UnrecognizedClient,
        "AKIDUNKNOWN",
    );
}

#[test]
fn wrong_scope_is_invalid_signature() {
    let wrong_region = Signer {
        region: "us-east-1".into(),
        ..Signer::v4()
    };
    assert_rejected(
        check(&wrong_region.sign(get())),
        Rejection::InvalidSignature,
        "'us-west-2'",
    );
    let wrong_service = Signer {
        service: "execute-api".into(),
        ..Signer::v4()
    };
    assert_rejected(
        check(&wrong_service.sign(get())),
        Rejection::InvalidSignature,
        "'vpc-lattice-svcs'",
    );
    // Scope date must be x-amz-date's date.
    let req = Signer::v4().sign(get());
    let other_day = req.authorization().replace("/20231114/", "/20231113/");
    assert_rejected(
        check(&req.set_authorization(&other_day)),
        Rejection::InvalidSignature,
        "Date in Credential scope",
    );
}

#[test]
fn skew_beyond_limit_is_invalid_signature() {
    let late = Signer {
        time: now() - Duration::from_secs(301),
        ..Signer::v4()
    };
    assert_rejected(
        check(&late.sign(get())),
        Rejection::InvalidSignature,
        "Signature expired",
    );
    let early = Signer {
        time: now() + Duration::from_secs(301),
        ..Signer::v4()
    };
    assert_rejected(
        check(&early.sign(get())),
        Rejection::InvalidSignature,
        "not yet current",
    );
    let far = Signer {
        time: now() + Duration::from_secs(86_400 * 365),
        ..Signer::v4a("*")
    };
    assert_rejected(
        check(&far.sign(get())),
        Rejection::InvalidSignature,
        "not yet current",
    );
}

#[test]
fn content_sha256_must_be_present_and_signed() {
    let missing = Signer::v4().sign(get().without("x-amz-content-sha256"));
    assert_rejected(
        check(&missing),
        Rejection::IncompleteSignature,
        "x-amz-content-sha256",
    );
    let unsigned = Signer {
        unsigned: vec!["x-amz-content-sha256"],
        ..Signer::v4()
    };
    assert_rejected(
        check(&unsigned.sign(get())),
        Rejection::IncompleteSignature,
        "must be signed",
    );
}

#[test]
fn x_amz_date_must_be_present_signed_and_well_formed() {
    let unsigned = Signer {
        unsigned: vec!["x-amz-date"],
        ..Signer::v4()
    };
    assert_rejected(
        check(&unsigned.sign(get())),
        Rejection::IncompleteSignature,
        "x-amz-date",
    );
    let req = Signer::v4().sign(get());
    let missing = req.clone().without("x-amz-date");
    assert_rejected(
        check(&missing),
        Rejection::IncompleteSignature,
        "x-amz-date",
    );
    let mut malformed = req;
    malformed.headers.insert(
        "x-amz-date",
        HeaderValue::from_static("2023-11-14T22:13:20Z"),
    );
    assert_rejected(
        check(&malformed),
        Rejection::IncompleteSignature,
        "ISO-8601",
    );
}

#[test]
fn signed_header_absent_is_incomplete() {
    let req = Signer::v4()
        .sign(get().with("x-custom", "1"))
        .without("x-custom");
    assert_rejected(check(&req), Rejection::IncompleteSignature, "'x-custom'");
}

#[test]
fn tampering_is_invalid_signature() {
    for signer in [Signer::v4(), Signer::v4a("*")] {
        let req = signer.sign(get().with("x-custom", "original"));
        let mut path = req.clone();
        path.path = "/pets/cats".into();
        let mut query = req.clone();
        query.query = Some("limit=11&name=a+b".into());
        let mut header = req.clone();
        header
            .headers
            .insert("x-custom", HeaderValue::from_static("changed"));
        let mut method = req.clone();
        method.method = "DELETE".into();
        for tampered in [path, query, header, method] {
            assert_rejected(
                check(&tampered),
                Rejection::InvalidSignature,
                "The Canonical String for this request should have been",
            );
        }
        // An unsigned header may change freely.
        assert!(check(&req.with("x-unsigned", "anything")).is_ok());
    }
}

#[test]
fn mismatch_message_shows_canonical_request_and_string_to_sign() {
    let mut req = Signer::v4().sign(get());
    req.path = "/a%3Ab".into();
    let message = check(&req).expect_err("tampered").message().to_owned();
    assert!(
        message.contains("'GET\n/a%253Ab\nlimit=10&name=a%2Bb\nhost:"),
        "{message}"
    );
    assert!(
        message
            .contains("The String-to-Sign should have been\n'AWS4-HMAC-SHA256\n20231114T221320Z\n")
    );
    assert!(message.contains("'/a%3Ab' was also tried"), "{message}");
}

#[test]
fn session_token_must_match_and_be_signed() {
    let wrong = Signer::v4().temp(Some("not-the-token"));
    let invalid_token = "security token included in the request is invalid";
    assert_rejected(
        check(&wrong.sign(get())),
        Rejection::InvalidSignature,
        invalid_token,
    );
    let missing = Signer::v4().temp(None);
    assert_rejected(
        check(&missing.sign(get())),
        Rejection::InvalidSignature,
        invalid_token,
    );
    let unsigned = Signer {
        unsigned: vec!["x-amz-security-token"],
        ..Signer::v4().temp(Some(TOKEN))
    };
    assert_rejected(
        check(&unsigned.sign(get())),
        Rejection::InvalidSignature,
        "must be signed",
    );
    let stray = Signer {
        token: Some(TOKEN.into()),
        ..Signer::v4()
    };
    assert_rejected(
        check(&stray.sign(get())),
        Rejection::InvalidSignature,
        invalid_token,
    );
    // A tampered request from a token holder must not echo the token.
    let mut tampered = Signer::v4a("*").temp(Some(TOKEN)).sign(get());
    tampered.path = "/other".into();
    assert_rejected(
        check(&tampered),
        Rejection::InvalidSignature,
        "** redacted **",
    );
}

#[test]
fn v4a_region_set_must_cover_region() {
    for set in ["us-east-1", "eu-*", "us-west-2x", "*-east-*", ","] {
        assert_rejected(
            check(&Signer::v4a(set).sign(get())),
            Rejection::InvalidSignature,
            "region set",
        );
    }
    let missing = Signer::v4a("*").sign(get()).without("x-amz-region-set");
    assert_rejected(
        check(&missing),
        Rejection::IncompleteSignature,
        "x-amz-region-set",
    );
    let unsigned = Signer {
        unsigned: vec!["x-amz-region-set"],
        ..Signer::v4a("*")
    };
    assert_rejected(
        check(&unsigned.sign(get())),
        Rejection::IncompleteSignature,
        "must be signed",
    );
}

#[test]
fn every_single_byte_change_to_authorization_fails() {
    for signer in [Signer::v4(), Signer::v4a("*")] {
        let req = signer.sign(get());
        let good = req.authorization();
        for i in 0..good.len() {
            let mut bad = good.clone().into_bytes();
            bad[i] = if bad[i] == b'0' { b'1' } else { b'0' };
            let bad = String::from_utf8(bad).expect("ascii");
            assert!(
                check(&req.clone().set_authorization(&bad)).is_err(),
                "accepted {bad}"
            );
            assert!(
                check(&req.clone().set_authorization(&good[..i])).is_err(),
                "prefix {i}"
            );
        }
    }
}

#[test]
fn hostile_paths_and_queries_do_not_panic() {
    let req = Signer::v4().sign(get());
    for (path, query) in [
        ("", None),
        ("%", Some("%")),
        ("/%%%/%F", Some("=&==&%FF=%E1%88&a=%zz")),
        ("/../../..", Some("&&&")),
        ("/\u{1234}/%00", Some("\u{1234}=\u{5678}")),
        ("*", Some("X-Amz-Signature")),
    ] {
        let mut r = req.clone();
        r.path = path.into();
        r.query = query.map(Into::into);
        assert!(check(&r).is_err(), "{path:?} {query:?}");
        r.headers.remove("authorization");
        assert!(check(&r).is_err());
    }
}

#[test]
fn debug_output_hides_secrets() {
    let secret = keys().lookup(TEMP_AKID).expect("known");
    let debug = format!("{secret:?}");
    assert!(debug.contains(TEMP_AKID) && debug.contains("** redacted **"));
    assert!(!debug.contains(TEMP_SECRET) && !debug.contains(TOKEN));
    let req = Signer::v4().temp(Some(TOKEN)).sign(get());
    assert!(!format!("{:?}", req.view()).contains(TOKEN));
}
