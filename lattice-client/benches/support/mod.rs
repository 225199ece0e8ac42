//! What the signing benches share: the cases, the credentials and time, the aws-sigv4
//! baseline, and the floor of the `sigv4/get+token` case.

use std::borrow::Cow;
use std::hint::black_box;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_credential_types::Credentials;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair};
use aws_sigv4::http_request::{
    PayloadChecksumKind, SignableBody, SignableRequest, SigningSettings, sign,
};
use aws_sigv4::sign::{v4, v4a};
use aws_smithy_runtime_api::client::identity::Identity;
use hmac::{KeyInit, Mac};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Uri};
use lattice_client::SigningConfig;
use sha2::{Digest, Sha256};

pub(crate) const HOST: &str = "orders-0123456789abcdef0.7d67968.vpc-lattice-svcs.us-west-2.on.aws";

pub(crate) struct Case {
    pub(crate) name: &'static str,
    pub(crate) method: Method,
    pub(crate) uri: Uri,
    pub(crate) headers: HeaderMap,
    pub(crate) sigv4a: bool,
    pub(crate) token: bool,
}

pub(crate) fn cases() -> Vec<Case> {
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

/// `sigv4/get+token`, the case the SigV4 bar is measured on.
pub(crate) fn get_token_case() -> Case {
    case_named("sigv4/get+token")
}

/// The case called `name` in [`cases`].
pub(crate) fn case_named(name: &str) -> Case {
    cases().into_iter().find(|c| c.name == name).expect("case")
}

pub(crate) fn credentials(token: bool) -> Credentials {
    let token = token.then(|| "IQoJb3JpZ2luX2VjEXAMPLETOKEN".repeat(20));
    Credentials::new(
        "AKIDEXAMPLE",
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        token,
        None,
        "bench",
    )
}

pub(crate) fn time() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

/// What a hand-written integration of aws-sigv4 does for Lattice: build a SignableRequest
/// from the request, sign with UNSIGNED-PAYLOAD, and apply the headers.
pub(crate) fn baseline_sign(case: &Case, identity: &Identity) -> Request<()> {
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

/// The two costs any signer pays for `sigv4/get+token` whatever its design: SHA-256 over the
/// case's canonical request plus the HMAC of its string to sign with a ready key
/// ([`Floor::signature`]), and adding the four signed headers to a clone of the request's
/// headers ([`Floor::insert_headers`]).
pub(crate) struct Floor {
    pub(crate) case: Case,
    creq: String,
    key: hmac::Hmac<Sha256>,
    date: HeaderValue,
    authorization: HeaderValue,
    token: HeaderValue,
}

impl Floor {
    /// Panics unless the floor's signature equals lattice-client's for the case, so the
    /// floor hashes exactly the bytes that are signed.
    pub(crate) fn new() -> Self {
        let creds = credentials(true);
        let token = creds.session_token().expect("token");
        let signing_key = v4::generate_signing_key(
            creds.secret_access_key(),
            time(),
            "us-west-2",
            "vpc-lattice-svcs",
        );
        let floor = Floor {
            case: get_token_case(),
            creq: get_token_canonical_request(token),
            key: hmac::Hmac::new_from_slice(signing_key.as_ref()).expect("any key length"),
            date: HeaderValue::from_static("20231114T221320Z"),
            authorization: HeaderValue::from_static("AWS4-HMAC-SHA256 Credential=.."),
            token: HeaderValue::from_str(token).expect("token"),
        };
        let mut signed = floor.case.headers.clone();
        SigningConfig::builder()
            .build()
            .expect("config")
            .sign(
                &floor.case.method,
                &floor.case.uri,
                &mut signed,
                &creds,
                time(),
            )
            .expect("sign");
        let authorization = signed["authorization"].to_str().expect("ASCII");
        let expected: String = floor
            .signature()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert!(
            authorization.ends_with(&format!("Signature={expected}")),
            "the floor's canonical request differs from the signed one: {authorization}"
        );
        floor
    }

    /// SHA-256 of the canonical request, the hex string to sign, and its HMAC.
    pub(crate) fn signature(&self) -> [u8; 32] {
        let hash = Sha256::digest(black_box(self.creq.as_bytes()));
        let mut sts = String::with_capacity(160);
        sts.push_str("AWS4-HMAC-SHA256\n20231114T221320Z\n");
        sts.push_str("20231114/us-west-2/vpc-lattice-svcs/aws4_request\n");
        for byte in hash {
            for nibble in [byte >> 4, byte & 0xf] {
                sts.push(char::from(b"0123456789abcdef"[usize::from(nibble)]));
            }
        }
        self.key
            .clone()
            .chain_update(sts.as_bytes())
            .finalize()
            .into_bytes()
            .into()
    }

    /// The request's headers, cloned, with the four signed headers added.
    pub(crate) fn insert_headers(&self) -> HeaderMap {
        let mut headers = self.case.headers.clone();
        headers.reserve(4);
        for (name, value) in [
            ("x-amz-date", &self.date),
            ("authorization", &self.authorization),
            ("x-amz-content-sha256", &self.date),
            ("x-amz-security-token", &self.token),
        ] {
            headers.insert(HeaderName::from_static(name), value.clone());
        }
        headers
    }
}

/// lattice-client's signature of `case`: its headers, cloned and signed.
#[allow(dead_code)] // For `sign` and `ratio`.
pub(crate) fn lattice_sign(
    config: &SigningConfig,
    case: &Case,
    credentials: &Credentials,
) -> HeaderMap {
    let mut headers = case.headers.clone();
    config
        .sign(&case.method, &case.uri, &mut headers, credentials, time())
        .expect("sign");
    headers
}

/// A fresh P-256 key and a SigV4A string to sign as long as the bench cases' (the same
/// scope, date and hex digest lengths): ECDSA alone over it is what every SigV4A signature
/// costs at least with aws-lc-rs.
#[allow(dead_code)] // For `sign` and `ratio`.
pub(crate) fn ecdsa_floor() -> (EcdsaKeyPair, Vec<u8>) {
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &SystemRandom::new())
        .expect("key");
    let key =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref()).expect("key");
    let string_to_sign = [
        "AWS4-ECDSA-P256-SHA256\n20231114T221320Z\n",
        "20231114/vpc-lattice-svcs/aws4_request\n",
        &"0123456789abcdef".repeat(4),
    ]
    .concat();
    (key, string_to_sign.into_bytes())
}

/// The median of batch timings (the upper one of an even count).
#[allow(dead_code)] // For the batch benches (`ratio`, `query_order`); criterion has its own.
pub(crate) fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}
