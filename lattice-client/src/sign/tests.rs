//! Checks that need the engine's internals: the SigV4A KDF against aws-sigv4's, the derived
//! public key against the AWS suite, the SigV4A string to sign proven equal to aws-sigv4's
//! by verifying aws-sigv4's (deterministic) signature over ours, the key cache, and the
//! canonical query.

use std::borrow::Cow;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_credential_types::Credentials;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1, KeyPair, UnparsedPublicKey};
use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SessionTokenMode, SignableBody, SignableRequest,
    SignatureLocation, SigningSettings, UriPathNormalizationMode, sign,
};
use aws_sigv4::sign::{v4, v4a};
use aws_smithy_runtime_api::client::identity::Identity;
use proptest::prelude::*;
use sha2::Digest;

use super::cache::SigningCache;
use super::canonical::{self, CanonicalRequest, Hashed, Header, UNSIGNED_PAYLOAD};
use super::keys::v4a_private_scalar;
use super::scope::{CredentialScope, Scope, Timestamp};
use super::string_to_sign::{SIGV4, SIGV4A, StringToSign, hex_into};
use crate::PathEncoding;

const SERVICE: &str = "vpc-lattice-svcs";

fn unhex(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
        .collect()
}

#[test]
fn timestamps_format_like_aws_sigv4() {
    let cases = [
        (0, "19700101T000000Z"),
        (1_700_000_000, "20231114T221320Z"),
        (951_782_400, "20000229T000000Z"),
        (253_402_300_799, "99991231T235959Z"),
    ];
    for (secs, expected) in cases {
        let ts = Timestamp::new(UNIX_EPOCH + Duration::new(secs, 999_999_999)).expect("in range");
        assert_eq!(ts.date_time(), expected);
        assert_eq!(ts.date(), &expected[..8]);
        assert_eq!(ts.day(), secs / 86_400);
    }
    assert!(Timestamp::new(UNIX_EPOCH + Duration::from_secs(253_402_300_800)).is_none());
    assert!(Timestamp::new(UNIX_EPOCH - Duration::from_secs(1)).is_none());
}

/// `/work/shared/sigv4-test-suite/v4a/get-vanilla/public-key.json` (AWS signing test
/// suite, via aws-c-auth), for AKIDEXAMPLE.
#[test]
fn derived_public_key_matches_the_aws_suite() {
    let credentials = Credentials::new(
        "AKIDEXAMPLE",
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        None,
        None,
        "test",
    );
    let public_key = SigningCache::new()
        .with_v4a(&credentials, |key, _| key.public_key().as_ref().to_vec())
        .expect("key pair");
    let x = "b6618f6a65740a99e650b33b6b4b5bd0d43b176d721a3edfea7e7d2d56d936b1";
    let y = "865ed22a7eadc9c5cb9d2cbaca1b3699139fedc5043dc6661864218330c8e518";
    let mut expected = vec![0x04];
    expected.extend(unhex(x));
    expected.extend(unhex(y));
    assert_eq!(public_key, expected);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn kdf_matches_aws_sigv4(akid in "[A-Z0-9]{16,20}", secret in "[A-Za-z0-9/+]{40}") {
        let ours = v4a_private_scalar(&akid, &secret).expect("scalar");
        let theirs = v4a::generate_signing_key(&akid, &secret);
        prop_assert_eq!(ours.as_slice(), theirs.as_ref());
    }

    #[test]
    fn v4a_string_to_sign_matches_aws_sigv4(
        path in "(/([a-z0-9]{1,4}|\\.|\\.\\.|%2F|%20|)){0,5}",
        query in "([a-zA-Z0-9%+]{0,4}(=[a-zA-Z0-9%+]{0,4})?&){0,4}",
        headers in prop::collection::vec(
            (prop::sample::select(vec!["accept", "x-dup", "x-dup", "content-type", "zz"]), "[ ]{0,2}[!-~]{0,4}( {1,3}[!-~]{1,3})?[ ]{0,2}"),
            0..5,
        ),
        token in prop::option::of("[A-Za-z0-9+/=]{1,64}"),
        double in any::<bool>(),
        secs in 0u64..4_102_444_800,
    ) {
        let path = if path.is_empty() { "/".to_owned() } else { path };
        let query = query.trim_end_matches('&').to_owned();
        let uri: http::Uri = format!("https://h.example.com{path}?{query}").parse().expect("uri");
        let time = UNIX_EPOCH + Duration::from_secs(secs);
        let credentials = Credentials::new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token.clone(), None, "t");

        let mut signable: Vec<(&str, &str)> = vec![("host", "h.example.com")];
        signable.extend(headers.iter().map(|(n, v)| (*n, v.as_str())));

        // aws-sigv4, fed as AWS services read a literal `+` in the query: `%2B`.
        let path_and_query = format!("{}?{}", uri.path(), query.replace('+', "%2B"));
        let request = SignableRequest::new("GET", Cow::Owned(path_and_query), signable.clone().into_iter(), SignableBody::UnsignedPayload).expect("signable");
        let mut settings = SigningSettings::default();
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        settings.signature_location = SignatureLocation::Headers;
        settings.session_token_mode = SessionTokenMode::Include;
        (settings.percent_encoding_mode, settings.uri_path_normalization_mode) = if double {
            (PercentEncodingMode::Double, UriPathNormalizationMode::Enabled)
        } else {
            (PercentEncodingMode::Single, UriPathNormalizationMode::Disabled)
        };
        let identity = Identity::from(credentials.clone());
        let params = v4a::SigningParams::builder().identity(&identity).region_set("*").name(SERVICE).time(time).settings(settings).build().expect("params").into();
        let (_, their_signature) = sign(request, &params).expect("oracle").into_parts();

        // Ours: the canonical request with the headers the signer adds, then the string to sign.
        let ts = Timestamp::new(time).expect("in range");
        let mut headers: Vec<Header<'_>> = signable.iter().map(|(n, v)| Header::trimmed(n, v)).collect();
        headers.extend([
            Header::as_given("x-amz-content-sha256", UNSIGNED_PAYLOAD),
            Header::as_given("x-amz-date", ts.date_time()),
            Header::as_given("x-amz-region-set", "*"),
        ]);
        headers.extend(token.as_deref().map(|t| Header::as_given("x-amz-security-token", t)));
        let encoding = if double { PathEncoding::Double } else { PathEncoding::Single };
        let mut canonical = CanonicalRequest::new();
        canonical.write("GET", &uri, encoding, &mut headers).expect("origin-form");
        let mut hash = [0; 64];
        let hash = hex_into(&sha2::Sha256::digest(canonical.as_str()), &mut hash);
        let scope = CredentialScope::new(&ts, Scope::RegionSet("*"), SERVICE);
        let sts = StringToSign::new(SIGV4A, ts.date_time(), &scope, hash).to_bytes();

        let (public_key, ours) = SigningCache::new().with_v4a(&credentials, |key, _| {
            let ours = key.sign(&aws_lc_rs::rand::SystemRandom::new(), &sts).expect("sign");
            (key.public_key().as_ref().to_vec(), ours)
        }).expect("key pair");
        let public_key = UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, public_key);
        // aws-sigv4's signature verifies over our string to sign only if the two are equal.
        prop_assert!(public_key.verify(&sts, &unhex(&their_signature)).is_ok(), "string to sign differs:\n{}", String::from_utf8_lossy(&sts));
        prop_assert!(public_key.verify(&sts, ours.as_ref()).is_ok());
    }
}

/// A made-up hex canonical-request hash: the signature's input after the scope.
const CREQ_HEX: &[u8; 64] = b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn our_v4_signature(
    keys: &SigningCache,
    credentials: &Credentials,
    time: SystemTime,
    region: &str,
    service: &str,
) -> Vec<u8> {
    let ts = Timestamp::new(time).expect("in range");
    let scope = CredentialScope::new(&ts, Scope::Region(region), service);
    let string_to_sign = StringToSign::new(SIGV4, ts.date_time(), &scope, CREQ_HEX);
    keys.with_v4(credentials, &ts, region, service, |key, _| {
        key.sign(&string_to_sign)
    })
    .expect("a valid session token")
    .to_vec()
}

fn their_v4_signature(secret: &str, time: SystemTime, region: &str, service: &str) -> Vec<u8> {
    let ts = Timestamp::new(time).expect("in range");
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{}\n{}/{region}/{service}/aws4_request\n{}",
        ts.date_time(),
        ts.date(),
        std::str::from_utf8(CREQ_HEX).expect("ASCII"),
    );
    let signature = v4::calculate_signature(
        v4::generate_signing_key(secret, time, region, service),
        string_to_sign.as_bytes(),
    );
    unhex(&signature)
}

#[test]
fn v4_key_cache_tells_secrets_days_regions_and_services_apart() {
    // (access key id, secret, seconds since the epoch, region, service)
    let base = (
        "AKID1",
        "secret-one",
        19_000 * 86_400 + 1234,
        "us-west-2",
        SERVICE,
    );
    let changed = [
        (
            "AKID1",
            "secret-two",
            19_000 * 86_400 + 1234,
            "us-west-2",
            SERVICE,
        ),
        (
            "AKID1",
            "secret-one",
            19_001 * 86_400 + 1234,
            "us-west-2",
            SERVICE,
        ),
        (
            "AKID1",
            "secret-one",
            19_000 * 86_400 + 1234,
            "eu-west-1",
            SERVICE,
        ),
        (
            "AKID1",
            "secret-one",
            19_000 * 86_400 + 1234,
            "us-west-2",
            "execute-api",
        ),
        (
            "AKID2",
            "secret-one",
            19_000 * 86_400 + 1234,
            "us-west-2",
            SERVICE,
        ),
        // The same day and key one second later: a new string to sign, the same key.
        (
            "AKID1",
            "secret-one",
            19_000 * 86_400 + 1235,
            "us-west-2",
            SERVICE,
        ),
    ];
    let keys = SigningCache::new();
    // Each change straight after the base case, twice: the cache holds the base key and
    // must not serve it, then serves the changed one.
    for case in changed.into_iter().flat_map(|c| [base, c, c]) {
        let (akid, secret, secs, region, service) = case;
        let credentials = Credentials::new(akid, secret, None, None, "t");
        let time = UNIX_EPOCH + Duration::from_secs(secs);
        assert_eq!(
            their_v4_signature(secret, time, region, service),
            our_v4_signature(&keys, &credentials, time, region, service),
            "{case:?}"
        );
    }
}

#[test]
fn v4_key_cache_serves_equal_credentials_and_keeps_its_newest_keys() {
    let time = UNIX_EPOCH + Duration::from_secs(19_000 * 86_400 + 1234);
    let keys = SigningCache::new();
    // Equal credentials in another allocation are the same credentials; a rotated secret
    // under the same key id is not.
    for secret in ["secret-one", "secret-one", "secret-two", "secret-one"] {
        let credentials = Credentials::new("AKID1", secret, None, None, "t");
        assert_eq!(
            their_v4_signature(secret, time, "us-west-2", SERVICE),
            our_v4_signature(&keys, &credentials, time, "us-west-2", SERVICE),
            "{secret}"
        );
    }
    // Twenty regions in turn, twice: more than the cache holds, so keys are dropped and
    // derived again, and every signature stays right.
    let credentials = Credentials::new("AKID1", "secret-one", None, None, "t");
    for round in 0..2 {
        for n in 0..20 {
            let region = format!("us-test-{n}");
            assert_eq!(
                their_v4_signature("secret-one", time, &region, SERVICE),
                our_v4_signature(&keys, &credentials, time, &region, SERVICE),
                "{region}, round {round}"
            );
        }
    }
    assert!(format!("{keys:?}").contains("entries: 8"), "{keys:?}");
}

#[test]
fn v4a_key_cache_tells_credentials_apart() {
    let keys = SigningCache::new();
    let public_key = |akid: &str, secret: &str| {
        let credentials = Credentials::new(akid, secret, None, None, "t");
        let public_key = |keys: &SigningCache| {
            keys.with_v4a(&credentials, |key, _| key.public_key().as_ref().to_vec())
                .expect("key pair")
        };
        let ours = public_key(&keys);
        assert_eq!(ours, public_key(&SigningCache::new()));
        ours
    };
    let one = public_key("AKID1", "secret-one");
    assert_eq!(one, public_key("AKID1", "secret-one"));
    assert_ne!(one, public_key("AKID1", "secret-two"));
    assert_ne!(one, public_key("AKID2", "secret-one"));
    assert_eq!(one, public_key("AKID1", "secret-one"));
}

#[test]
fn signer_owned_names_match_the_public_list() {
    let owned = super::SIGNER_OWNED;
    let names: Vec<&str> = owned.iter().map(http::HeaderName::as_str).collect();
    assert_eq!(names, crate::SIGNER_OWNED_HEADERS);
}

/// The cached `x-amz-security-token` value is always the one of the credentials signing:
/// the same credentials, equal ones elsewhere, a new token, none, and the first again.
#[test]
fn the_token_value_follows_the_credentials() {
    let with_token = |token: Option<&str>| {
        Credentials::new("AKID", "secret", token.map(str::to_owned), None, "t")
    };
    let cache = SigningCache::new();
    let time = Timestamp::new(UNIX_EPOCH + Duration::from_secs(1_700_000_000)).expect("in range");
    let first = with_token(Some("token-one"));
    let steps = [
        (&first, Some("token-one")),
        (&first, Some("token-one")),
        (&with_token(Some("token-one")), Some("token-one")),
        (&with_token(Some("token-two")), Some("token-two")),
        (&with_token(None), None),
        (&first, Some("token-one")),
    ];
    for (credentials, expected) in steps {
        let token = cache
            .with_v4(credentials, &time, "us-west-2", SERVICE, |_, token| {
                token.cloned()
            })
            .expect("a valid token");
        assert_eq!(
            token.as_ref().map(|t| t.as_bytes()),
            expected.map(str::as_bytes)
        );
        assert!(token.is_none_or(|t| t.is_sensitive()));
    }
    let bad = cache.with_v4(
        &with_token(Some("bad\ntoken")),
        &time,
        "us-west-2",
        SERVICE,
        |_, _| (),
    );
    let error = bad.expect_err("a token that is no header value");
    assert!(!error.to_string().contains("bad"), "{error}");
}

/// The canonical query of each query: its pairs decoded, encoded again and sorted. Only
/// queries already in that form are copied as they are.
#[test]
fn queries_canonicalize() {
    let cases = [
        ("", ""),
        ("id=42&view=full", "id=42&view=full"),
        ("view=full&id=42", "id=42&view=full"),
        ("a=1&a=2&b=", "a=1&a=2&b="),
        ("a=2&a=1", "a=1&a=2"),
        ("=x&a=", "=x&a="),
        ("k=-_.~", "k=-_.~"),
        ("a=1&a=1", "a=1&a=1"),
        ("a", "a="),
        ("a=1&&b=2", "a=1&b=2"),
        ("a=1&", "a=1"),
        ("a=b=c", "a=b%3Dc"),
        ("a=%41", "a=A"),
        ("a=x+y", "a=x%2By"),
        ("a=caf\u{e9}", "a=caf%C3%A9"),
        ("A=1&a=1&B=1", "A=1&B=1&a=1"),
        ("b=%zz&a=%", "a=%25&b=%25zz"),
    ];
    let uri = |query: &str| -> http::Uri {
        let path_and_query = if query.is_empty() {
            "/".to_owned()
        } else {
            format!("/?{query}")
        };
        http::Uri::builder()
            .path_and_query(path_and_query)
            .build()
            .expect("uri")
    };
    for (query, expected) in cases {
        // Copied as it is only when that is its canonical form.
        if canonical::is_canonical_query(query) {
            assert_eq!(query, expected);
        }
        let mut canonical = CanonicalRequest::new();
        canonical
            .write("GET", &uri(query), PathEncoding::Double, &mut [])
            .expect("origin-form");
        let line = canonical.as_str().lines().nth(2).expect("a query line");
        assert_eq!(line, expected, "{query}");
    }
    for query in [
        "id=42&view=full",
        "a=1&a=2&b=",
        "=x&a=",
        "k=-_.~",
        "a=1&a=1",
    ] {
        assert!(canonical::is_canonical_query(query), "{query}");
    }
    let not_canonical = [
        "",
        "view=full&id=42",
        "a=2&a=1",
        "a",
        "a=1&&b=2",
        "a=1&",
        "a=b=c",
        "a=%41",
        "a=x+y",
        "a=caf\u{e9}",
        "A=1&a=1&B=1",
    ];
    for query in not_canonical {
        assert!(!canonical::is_canonical_query(query), "{query}");
    }
}

/// A reused buffer holds exactly what a fresh one does, whatever it held before, and the
/// signer's hash of the text as it is written is the hash of that text.
#[test]
fn a_reused_canonical_request_equals_a_fresh_one_and_its_hash() {
    let requests = [
        ("GET", "https://a.example.com/a/../b?z=1&y=2", "v  v "),
        ("POST", "https://a.example.com/", ""),
        (
            "GET",
            "https://a.example.com/long/path/%2F?q=x+y",
            &*"v".repeat(300),
        ),
        ("GET", "https://a.example.com/", "x"),
    ];
    let mut reused = CanonicalRequest::new();
    for (method, uri, value) in requests {
        let uri: http::Uri = uri.parse().expect("uri");
        let headers = || vec![Header::trimmed("x-a", value), Header::trimmed("host", "a")];
        reused
            .write(method, &uri, PathEncoding::Double, &mut headers())
            .expect("origin-form");
        let mut fresh = CanonicalRequest::new();
        fresh
            .write(method, &uri, PathEncoding::Double, &mut headers())
            .expect("origin-form");
        assert_eq!(reused.as_str(), fresh.as_str());
        assert_eq!(reused.signed_headers(), "host;x-a");
        let mut hashed = Hashed::new();
        canonical::write(
            &mut hashed,
            method,
            &uri,
            PathEncoding::Double,
            &mut headers(),
        )
        .expect("origin-form");
        let expected: [u8; 32] = sha2::Sha256::digest(fresh.as_str()).into();
        assert_eq!(hashed.finish(), expected);
    }
}

/// The cache's `x-amz-date` value is always the one of the time asked for.
#[test]
fn the_date_value_follows_the_time() {
    let cache = SigningCache::new();
    for secs in [
        1_700_000_000,
        1_700_000_000,
        1_700_000_001,
        1_700_000_000,
        0,
    ] {
        let time = Timestamp::new(UNIX_EPOCH + Duration::from_secs(secs)).expect("in range");
        let value = cache.date(&time).expect("a date");
        assert_eq!(value.as_bytes(), time.date_time().as_bytes(), "{secs}");
    }
}
