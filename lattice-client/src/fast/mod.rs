//! The fast signing path: what `aws-sigv4` 1.6 `http_request::sign` computes for the
//! signer's fixed settings (headers, `UNSIGNED-PAYLOAD`, `x-amz-content-sha256`, session
//! token signed), byte for byte, at the cost of the crypto.
//!
//! - the canonical request and string to sign go into per-thread buffers that are reused;
//! - SigV4 signing keys are cached per day/region, SigV4A key pairs per credentials
//!   ([`keys`]);
//! - SHA-256 and HMAC come from RustCrypto (see [`keys`]), ECDSA P-256 from aws-lc-rs.
//!
//! aws-sigv4 stays the reference: `tests/fast_vs_aws_sigv4.rs` compares the two. SigV4A
//! signatures are randomized ECDSA here (aws-sigv4 uses RFC 6979), so they are compared by
//! verification rather than by bytes.

mod canonical;
mod date;
mod keys;
#[cfg(test)]
mod tests;

use std::cell::RefCell;
use std::sync::Arc;

use aws_credential_types::Credentials;
use aws_lc_rs::rand::SystemRandom;
use bytes::Bytes;
use http::{HeaderName, HeaderValue};

use self::canonical::{Extra, Scratch, hex_into};
pub(crate) use self::date::Timestamp;

pub(crate) const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
const V4_ALGORITHM: &str = "AWS4-HMAC-SHA256";
const V4A_ALGORITHM: &str = "AWS4-ECDSA-P256-SHA256";

/// [`crate::SIGNER_OWNED_HEADERS`], parsed once (a `&str` name is parsed on every map
/// operation).
pub(crate) const SIGNER_OWNED: [HeaderName; 5] = [
    AUTHORIZATION,
    X_AMZ_DATE,
    X_AMZ_CONTENT_SHA256,
    X_AMZ_SECURITY_TOKEN,
    X_AMZ_REGION_SET,
];
const AUTHORIZATION: HeaderName = http::header::AUTHORIZATION;
const X_AMZ_DATE: HeaderName = HeaderName::from_static("x-amz-date");
const X_AMZ_CONTENT_SHA256: HeaderName = HeaderName::from_static("x-amz-content-sha256");
const X_AMZ_SECURITY_TOKEN: HeaderName = HeaderName::from_static("x-amz-security-token");
const X_AMZ_REGION_SET: HeaderName = HeaderName::from_static("x-amz-region-set");

thread_local! {
    static SCRATCH: RefCell<Scratch> = const { RefCell::new(Scratch::new()) };
}

/// Which signature, and where it is valid.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Scope<'a> {
    /// SigV4 for one region.
    Region(&'a str),
    /// SigV4A for a region set.
    RegionSet(&'a str),
}

/// The request as signed. `path` starts with `/`; `query` is the raw query as sent.
#[derive(Debug)]
pub(crate) struct Request<'a, 'h> {
    pub(crate) method: &'a str,
    pub(crate) path: &'a str,
    pub(crate) query: Option<&'a str>,
    /// Normalize, then encode the path again (`PathEncoding::Double`).
    pub(crate) double_encode_path: bool,
    /// Signed headers with lowercase names, `host` included, signer-owned ones excluded.
    /// Sorted in place.
    pub(crate) headers: &'h mut [(&'a str, &'a str)],
}

/// The headers to add. [`sign`] fills them in place: returned by value, they were copied
/// through each layer of `Result` on the way out, a measurable share of a signature.
#[derive(Default)]
pub(crate) struct SignedHeaders {
    date: Option<HeaderValue>,
    region_set: Option<HeaderValue>,
    authorization: Option<HeaderValue>,
    security_token: Option<HeaderValue>,
}

impl std::fmt::Debug for SignedHeaders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // HeaderValue's Debug already hides sensitive values; be explicit anyway.
        f.debug_struct("SignedHeaders")
            .field("date", &self.date)
            .finish_non_exhaustive()
    }
}

// === impl SignedHeaders ===

impl SignedHeaders {
    /// Insert the headers, in aws-sigv4's order, growing the map once.
    pub(crate) fn insert_into(self, headers: &mut http::HeaderMap) {
        let Self {
            date,
            region_set,
            authorization,
            security_token,
        } = self;
        // `x-amz-content-sha256` is always added.
        let count = [&date, &region_set, &authorization, &security_token]
            .iter()
            .filter(|v| v.is_some())
            .count();
        headers.reserve(count + 1);
        if let Some(date) = date {
            headers.insert(X_AMZ_DATE, date);
        }
        if let Some(region_set) = region_set {
            headers.insert(X_AMZ_REGION_SET, region_set);
        }
        if let Some(authorization) = authorization {
            headers.insert(AUTHORIZATION, authorization);
        }
        headers.insert(
            X_AMZ_CONTENT_SHA256,
            HeaderValue::from_static(UNSIGNED_PAYLOAD),
        );
        if let Some(token) = security_token {
            headers.insert(X_AMZ_SECURITY_TOKEN, token);
        }
    }
}

/// Sign `request` into `out`. Errors are static messages (no secret can end up in one).
pub(crate) fn sign(
    request: Request<'_, '_>,
    credentials: &Credentials,
    service: &str,
    scope: Scope<'_>,
    time: Timestamp,
    out: &mut SignedHeaders,
) -> Result<(), &'static str> {
    let token = credentials.session_token();
    // Validated once here rather than at every use.
    let date_time = time.date_time();
    let date = &date_time[..8];
    if let Scope::RegionSet(set) = scope {
        out.region_set = Some(HeaderValue::from_str(set).map_err(|_| "invalid region set")?);
    }

    // Names in sorted order; aws-sigv4 `insert`s these after the request's headers.
    let mut extras: [Extra<'_>; 4] = [("", ""); 4];
    let mut n = 0;
    for extra in [
        Some(("x-amz-content-sha256", UNSIGNED_PAYLOAD)),
        Some((canonical::TIME_DEPENDENT_HEADER, date_time)),
        matches!(scope, Scope::RegionSet(_)).then_some(("x-amz-region-set", region_set_str(scope))),
        token.map(|t| ("x-amz-security-token", t)),
    ]
    .into_iter()
    .flatten()
    {
        extras[n] = extra;
        n += 1;
    }

    with_scratch(|scratch| {
        scratch.values.date(date_time, &mut out.date)?;
        scratch
            .values
            .security_token(credentials, &mut out.security_token)?;
        scratch.canonical_request(
            request.method,
            request.path,
            request.query,
            request.double_encode_path,
            request.headers,
            &extras[..n],
        );
        let creq_hash = scratch.creq_hash();
        scratch.finish();
        let mut creq_hex = [0; 64];
        let creq_hex = hex_into(creq_hash.as_ref(), &mut creq_hex);

        let akid = credentials.access_key_id();
        let authorization = match scope {
            Scope::Region(region) => {
                let key_scope = keys::V4Scope {
                    day: time.day(),
                    date,
                    region,
                    service,
                };
                let tag = keys::v4_signature(credentials, key_scope, date_time, creq_hex);
                let mut sig = [0; 64];
                let sig = hex_into(&tag, &mut sig);
                let credential = Credential {
                    akid,
                    date,
                    region: Some(region),
                    service,
                };
                authorization(V4_ALGORITHM, credential, &scratch.signed, sig)
            }
            Scope::RegionSet(_) => {
                write_v4a_string_to_sign(&mut scratch.sts, service, date_time, creq_hex);
                let key_pair: Arc<_> = keys::v4a_key_pair(credentials)?;
                let signature = key_pair
                    .sign(&SystemRandom::new(), &scratch.sts)
                    .map_err(|_| "ECDSA signing failed")?;
                // A DER P-256 signature is at most 72 bytes.
                let mut sig = [0; 2 * 80];
                let sig = hex_into(signature.as_ref(), &mut sig);
                let credential = Credential {
                    akid,
                    date,
                    region: None,
                    service,
                };
                authorization(V4A_ALGORITHM, credential, &scratch.signed, sig)
            }
        };
        match HeaderValue::from_maybe_shared(Bytes::from(authorization)) {
            Ok(value) => out.authorization.insert(value).set_sensitive(true),
            Err(_) => return Err("the access key id is not a valid header value"),
        }
        Ok(())
    })
}

fn region_set_str(scope: Scope<'_>) -> &str {
    match scope {
        Scope::RegionSet(set) => set,
        Scope::Region(_) => "",
    }
}

fn with_scratch<R>(f: impl FnOnce(&mut Scratch) -> R) -> R {
    let mut f = Some(f);
    let mut run = |scratch: &mut Scratch| f.take().map(|f| f(scratch));
    let reused = SCRATCH.try_with(|cell| match cell.try_borrow_mut() {
        Ok(mut scratch) => run(&mut scratch),
        // Not reentrant in practice; a fresh buffer keeps it correct if it ever is.
        Err(_) => run(&mut Scratch::new()),
    });
    match reused {
        Ok(Some(result)) => result,
        // Thread-local storage is gone (signing from a thread-local destructor).
        _ => run(&mut Scratch::new()).unwrap_or_else(|| unreachable!("`f` runs once")),
    }
}

/// The SigV4A string to sign. (SigV4's is never written out: see `keys::v4_signature`.)
fn write_v4a_string_to_sign(out: &mut Vec<u8>, service: &str, date_time: &str, creq_hex: &[u8]) {
    out.clear();
    for part in [
        V4A_ALGORITHM,
        "\n",
        date_time,
        "\n",
        &date_time[..8],
        "/",
        service,
    ] {
        out.extend_from_slice(part.as_bytes());
    }
    out.extend_from_slice(b"/aws4_request\n");
    out.extend_from_slice(creq_hex);
}

/// Whether two strings are the same text, where `held` is kept alive by a memo: then its
/// bytes cannot move or change, so the same address means the same text and the common
/// case (the credentials cache lends the same `Credentials` every time) needs no byte
/// comparison.
pub(crate) fn same_text(held: &str, given: &str) -> bool {
    std::ptr::eq(held, given) || held == given
}

/// `{akid}/{date}/[{region}/]{service}/aws4_request`: the `Credential` of an
/// `Authorization` header (SigV4A has no region).
struct Credential<'a> {
    akid: &'a str,
    date: &'a str,
    region: Option<&'a str>,
    service: &'a str,
}

/// `{algorithm} Credential={credential}, SignedHeaders={signed}, Signature={sig}`, built
/// at its exact size so the header takes the buffer without copying.
fn authorization(
    algorithm: &str,
    credential: Credential<'_>,
    signed: &str,
    signature: &[u8],
) -> Vec<u8> {
    // The literals are written one by one rather than looped over, so that each copy of a
    // known length is inlined instead of being a `memcpy` call.
    const CREDENTIAL: &[u8] = b" Credential=";
    const SCOPE_END: &[u8] = b"/aws4_request";
    const SIGNED_HEADERS: &[u8] = b", SignedHeaders=";
    const SIGNATURE: &[u8] = b", Signature=";
    let Credential {
        akid,
        date,
        region,
        service,
    } = credential;
    let region_len = region.map_or(0, |r| r.len() + 1);
    let len = algorithm.len()
        + CREDENTIAL.len()
        + akid.len()
        + date.len()
        + region_len
        + service.len()
        + 2
        + SCOPE_END.len()
        + SIGNED_HEADERS.len()
        + signed.len()
        + SIGNATURE.len()
        + signature.len();
    let mut value = Vec::with_capacity(len);
    value.extend_from_slice(algorithm.as_bytes());
    value.extend_from_slice(CREDENTIAL);
    value.extend_from_slice(akid.as_bytes());
    value.push(b'/');
    value.extend_from_slice(date.as_bytes());
    value.push(b'/');
    if let Some(region) = region {
        value.extend_from_slice(region.as_bytes());
        value.push(b'/');
    }
    value.extend_from_slice(service.as_bytes());
    value.extend_from_slice(SCOPE_END);
    value.extend_from_slice(SIGNED_HEADERS);
    value.extend_from_slice(signed.as_bytes());
    value.extend_from_slice(SIGNATURE);
    value.extend_from_slice(signature);
    value
}

#[cfg(test)]
/// The SigV4A string to sign for `region_set`.
pub(crate) fn string_to_sign_for_tests(
    request: Request<'_, '_>,
    region_set: &str,
    service: &str,
    token: Option<&str>,
    time: Timestamp,
) -> String {
    use sha2::{Digest, Sha256};

    // The same steps as `sign`, on a fresh buffer, with the plain hash.
    let mut scratch = Scratch::new();
    let mut extras: Vec<Extra<'_>> = vec![
        ("x-amz-content-sha256", UNSIGNED_PAYLOAD),
        ("x-amz-date", time.date_time()),
        ("x-amz-region-set", region_set),
    ];
    if let Some(token) = token {
        extras.push(("x-amz-security-token", token));
    }
    scratch.canonical_request(
        request.method,
        request.path,
        request.query,
        request.double_encode_path,
        request.headers,
        &extras,
    );
    let hash = Sha256::digest(scratch.creq.as_bytes());
    let mut hex = [0; 64];
    let hex = hex_into(hash.as_ref(), &mut hex);
    let mut sts = Vec::new();
    write_v4a_string_to_sign(&mut sts, service, time.date_time(), hex);
    String::from_utf8(sts).expect("ASCII")
}
