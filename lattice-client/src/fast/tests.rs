//! SigV4A checks that need the fast path's internals: the KDF against aws-sigv4's, the
//! derived public key against the AWS suite, and the string to sign proven equal to
//! aws-sigv4's by verifying aws-sigv4's (deterministic) signature over ours.

use std::borrow::Cow;
use std::time::{Duration, UNIX_EPOCH};

use aws_credential_types::Credentials;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1, KeyPair, UnparsedPublicKey};
use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SessionTokenMode, SignableBody, SignableRequest,
    SignatureLocation, SigningSettings, UriPathNormalizationMode, sign,
};
use aws_sigv4::sign::v4a;
use aws_smithy_runtime_api::client::identity::Identity;
use proptest::prelude::*;

use super::{Request, Timestamp, keys, string_to_sign_for_tests};

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
    // Each time twice in a row: the second is the thread's memo of the last second.
    for (secs, expected) in cases.iter().flat_map(|case| [case, case]) {
        let ts = Timestamp::new(UNIX_EPOCH + Duration::new(*secs, 999_999_999)).expect("in range");
        assert_eq!(ts.date_time(), *expected);
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
    let key_pair = keys::v4a_key_pair(&credentials).expect("key pair");
    let x = "b6618f6a65740a99e650b33b6b4b5bd0d43b176d721a3edfea7e7d2d56d936b1";
    let y = "865ed22a7eadc9c5cb9d2cbaca1b3699139fedc5043dc6661864218330c8e518";
    let mut expected = vec![0x04];
    expected.extend(unhex(x));
    expected.extend(unhex(y));
    assert_eq!(key_pair.public_key().as_ref(), expected.as_slice());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn kdf_matches_aws_sigv4(akid in "[A-Z0-9]{16,20}", secret in "[A-Za-z0-9/+]{40}") {
        let ours = keys::v4a_private_scalar(&akid, &secret).expect("scalar");
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

        // aws-sigv4, fed as the signer feeds it (literal `+` as `%2B` in the query).
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

        let sts = string_to_sign_for_tests(
            Request { method: "GET", path: uri.path(), query: uri.query(), double_encode_path: double, headers: &mut signable },
            "*",
            SERVICE,
            token.as_deref(),
            Timestamp::new(time).expect("in range"),
        );
        let key_pair = keys::v4a_key_pair(&credentials).expect("key pair");
        let public_key = UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, key_pair.public_key().as_ref().to_vec());
        // aws-sigv4's signature verifies over our string to sign only if the two are equal.
        prop_assert!(public_key.verify(sts.as_bytes(), &unhex(&their_signature)).is_ok(), "string to sign differs:\n{}", sts);
        let ours = key_pair.sign(&aws_lc_rs::rand::SystemRandom::new(), sts.as_bytes()).expect("sign");
        prop_assert!(public_key.verify(sts.as_bytes(), ours.as_ref()).is_ok());
    }
}

#[test]
fn v4_key_cache_tells_secrets_days_and_regions_apart() {
    let cases = [
        ("AKID1", "secret-one", 19_000, "us-west-2"),
        ("AKID1", "secret-two", 19_000, "us-west-2"),
        ("AKID1", "secret-one", 19_001, "us-west-2"),
        ("AKID1", "secret-one", 19_000, "eu-west-1"),
        ("AKID2", "secret-one", 19_000, "us-west-2"),
    ];
    // Twice round: the second pass is served from the cache.
    for _ in 0..2 {
        for (akid, secret, day, region) in cases {
            let credentials = Credentials::new(akid, secret, None, None, "t");
            let time = UNIX_EPOCH + Duration::from_secs(day * 86_400 + 1234);
            let ours = our_v4_signature(&credentials, time, region, SERVICE);
            let theirs = their_v4_signature(secret, time, region, SERVICE);
            assert_eq!(theirs, ours, "{akid} {day} {region}");
        }
    }
}

/// A made-up hex canonical-request hash: the signature's input after the prefix.
const CREQ_HEX: &[u8; 64] = b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn our_v4_signature(
    credentials: &Credentials,
    time: std::time::SystemTime,
    region: &str,
    service: &str,
) -> Vec<u8> {
    let ts = Timestamp::new(time).expect("in range");
    let scope = keys::V4Scope {
        day: ts.day(),
        date: ts.date(),
        region,
        service,
    };
    keys::v4_signature(credentials, scope, ts.date_time(), CREQ_HEX).to_vec()
}

fn their_v4_signature(
    secret: &str,
    time: std::time::SystemTime,
    region: &str,
    service: &str,
) -> Vec<u8> {
    use aws_sigv4::sign::v4;

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
fn v4_key_memo_misses_when_any_part_of_the_scope_changes() {
    // (secret, seconds since the epoch, region, service)
    let base = ("secret-one", 19_000 * 86_400 + 1234, "us-west-2", SERVICE);
    let changed = [
        ("secret-two", 19_000 * 86_400 + 1234, "us-west-2", SERVICE),
        ("secret-one", 19_001 * 86_400 + 1234, "us-west-2", SERVICE),
        ("secret-one", 19_000 * 86_400 + 1234, "eu-west-1", SERVICE),
        (
            "secret-one",
            19_000 * 86_400 + 1234,
            "us-west-2",
            "execute-api",
        ),
        // The same day and key, one second later: the string to sign's memoized prefix
        // holds the time and must not be reused.
        ("secret-one", 19_000 * 86_400 + 1235, "us-west-2", SERVICE),
    ];
    // Each change comes straight after the base case, so the thread's memo holds the base
    // key and must not serve it.
    for case in changed.into_iter().flat_map(|c| [base, c, c]) {
        let (secret, secs, region, service) = case;
        let credentials = Credentials::new("AKID1", secret, None, None, "t");
        let time = UNIX_EPOCH + Duration::from_secs(secs);
        let ours = our_v4_signature(&credentials, time, region, service);
        assert_eq!(
            their_v4_signature(secret, time, region, service),
            ours,
            "{case:?}"
        );
    }
}

#[test]
fn v4_key_memo_serves_equal_credentials_held_elsewhere() {
    // Equal credentials in another allocation hit the memo by content; a rotated secret
    // under the same key id in yet another one does not.
    let time = UNIX_EPOCH + Duration::from_secs(19_000 * 86_400 + 1234);
    for secret in ["secret-one", "secret-one", "secret-two", "secret-one"] {
        let credentials = Credentials::new("AKID1", secret, None, None, "t");
        assert_eq!(
            their_v4_signature(secret, time, "us-west-2", SERVICE),
            our_v4_signature(&credentials, time, "us-west-2", SERVICE),
            "{secret}"
        );
    }
}

#[test]
fn signer_owned_names_match_the_public_list() {
    let owned = super::SIGNER_OWNED;
    let names: Vec<&str> = owned.iter().map(http::HeaderName::as_str).collect();
    assert_eq!(names, crate::SIGNER_OWNED_HEADERS);
}
