//! The signing engine: a request's method, URI and headers, credentials, a scope and a time
//! in; the headers to add out.
//!
//! It computes what aws-sigv4 1.6 `http_request::sign` computes with the settings Lattice
//! needs (signature in headers, `x-amz-content-sha256: UNSIGNED-PAYLOAD`, the session token
//! signed), byte for byte. aws-sigv4 is a dev-dependency only: the oracle of
//! `tests/sign_vs_aws_sigv4.rs`, of the `canonical_request` fuzz target and of the benches.
//! SigV4A signatures are randomized ECDSA here (aws-sigv4 uses RFC 6979), so those compare
//! by verification.
//!
//! - [`canonical`]: the canonical request, written as text ([`CanonicalRequest`]) or, when
//!   signing, straight into SHA-256;
//! - [`string_to_sign`]: the string to sign, and lowercase hex;
//! - [`keys`]: key derivation;
//! - [`cache`]: the derived keys and header values, the only state signing keeps;
//! - [`scope`]: the timestamp and the credential scope.

mod cache;
mod canonical;
mod keys;
mod scope;
mod string_to_sign;
#[cfg(test)]
mod tests;

use aws_credential_types::Credentials;
use aws_lc_rs::rand::SystemRandom;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Uri};

use crate::error::Error;
use crate::signer::PathEncoding;

pub(crate) use self::cache::SigningCache;
pub use self::canonical::CanonicalRequest;
pub(crate) use self::canonical::{Header, Headers, SignedHost, signed_host};
pub(crate) use self::scope::{Scope, Timestamp};

use self::canonical::{Hashed, Sink, UNSIGNED_PAYLOAD, write_signed_headers};
use self::scope::CredentialScope;
use self::string_to_sign::{SIGV4, SIGV4A, StringToSign, hex_into};

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

/// A request to sign.
#[derive(Debug)]
pub(crate) struct Request<'a> {
    pub(crate) method: &'a str,
    pub(crate) uri: &'a Uri,
    pub(crate) path_encoding: PathEncoding,
    /// The request's headers to sign, `host` included, signer-owned ones excluded.
    pub(crate) headers: Headers<'a>,
}

/// What a signature is for, besides the request.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Params<'a> {
    pub(crate) credentials: &'a Credentials,
    pub(crate) service: &'a str,
    pub(crate) scope: Scope<'a>,
    pub(crate) time: &'a Timestamp,
}

/// The headers a signature adds.
#[derive(Debug)]
pub(crate) struct SignedHeaders {
    date: HeaderValue,
    region_set: Option<HeaderValue>,
    /// Sensitive, like `security_token`: `HeaderValue`'s `Debug` hides both.
    authorization: HeaderValue,
    security_token: Option<HeaderValue>,
}

/// Sign `request`. Errors never hold a secret or a header value.
pub(crate) fn sign<'a>(
    request: &mut Request<'a>,
    params: Params<'a>,
    cache: &SigningCache,
) -> Result<SignedHeaders, Error> {
    let Params {
        credentials,
        service,
        scope,
        time,
    } = params;
    let date_time = time.date_time();
    let token = credentials.session_token();
    let headers = &mut request.headers;
    headers.push(Header::as_given("x-amz-content-sha256", UNSIGNED_PAYLOAD));
    headers.push(Header::as_given("x-amz-date", date_time));
    if let Scope::RegionSet(region_set) = scope {
        headers.push(Header::as_given("x-amz-region-set", region_set));
    }
    if let Some(token) = token {
        headers.push(Header::as_given("x-amz-security-token", token));
    }
    let mut canonical = Hashed::new();
    canonical::write(
        &mut canonical,
        request.method,
        request.uri,
        request.path_encoding,
        headers,
    )?;
    let mut hash = [0; 64];
    let hash = hex_into(&canonical.finish(), &mut hash);

    let credential_scope = CredentialScope::new(time, scope, service);
    // A DER-encoded P-256 signature is at most 72 bytes.
    let mut signature = [0; 2 * 72];
    let (algorithm, signature, security_token) = match scope {
        Scope::Region(region) => {
            let string_to_sign = StringToSign::new(SIGV4, date_time, &credential_scope, hash);
            let (tag, security_token) =
                cache.with_v4(credentials, time, region, service, |key, token| {
                    (key.sign(&string_to_sign), token.cloned())
                })?;
            (SIGV4, hex_into(&tag, &mut signature), security_token)
        }
        Scope::RegionSet(_) => {
            let string_to_sign = StringToSign::new(SIGV4A, date_time, &credential_scope, hash);
            let (der, security_token) = cache.with_v4a(credentials, |key, token| {
                let der = key.sign(&SystemRandom::new(), &string_to_sign.to_bytes());
                (der, token.cloned())
            })?;
            let der = der.map_err(|_| Error::signing("ECDSA signing failed"))?;
            (
                SIGV4A,
                hex_into(der.as_ref(), &mut signature),
                security_token,
            )
        }
    };
    let authorization = authorization(
        algorithm,
        credentials.access_key_id(),
        &credential_scope,
        headers,
        signature,
    );

    let mut authorization = HeaderValue::from_maybe_shared(Bytes::from(authorization))
        .map_err(|_| Error::signing("the access key id is not a valid header value"))?;
    authorization.set_sensitive(true);
    let region_set = match scope {
        Scope::RegionSet(region_set) => Some(
            HeaderValue::from_str(region_set)
                .map_err(|_| Error::signing("the region set is not a valid header value"))?,
        ),
        Scope::Region(_) => None,
    };
    Ok(SignedHeaders {
        date: cache.date(time)?,
        region_set,
        authorization,
        security_token,
    })
}

// === impl SignedHeaders ===

impl SignedHeaders {
    /// Insert the headers in aws-sigv4's order, growing the map once.
    pub(crate) fn insert_into(self, headers: &mut HeaderMap) {
        let Self {
            date,
            region_set,
            authorization,
            security_token,
        } = self;
        headers
            .reserve(3 + usize::from(region_set.is_some()) + usize::from(security_token.is_some()));
        headers.insert(X_AMZ_DATE, date);
        if let Some(region_set) = region_set {
            headers.insert(X_AMZ_REGION_SET, region_set);
        }
        headers.insert(AUTHORIZATION, authorization);
        headers.insert(
            X_AMZ_CONTENT_SHA256,
            HeaderValue::from_static(UNSIGNED_PAYLOAD),
        );
        if let Some(token) = security_token {
            headers.insert(X_AMZ_SECURITY_TOKEN, token);
        }
    }
}

/// `{algorithm} Credential={akid}/{scope}, SignedHeaders={signed}, Signature={signature}`,
/// built at its exact size so that the header value takes the buffer without a copy.
/// `headers` are the signed headers, sorted.
fn authorization(
    algorithm: &str,
    access_key_id: &str,
    scope: &CredentialScope<'_>,
    headers: &[Header<'_>],
    signature: &[u8],
) -> Vec<u8> {
    let [date, slash, region, region_slash, service, end] = scope.parts();
    let head = [
        algorithm,
        " Credential=",
        access_key_id,
        "/",
        date,
        slash,
        region,
        region_slash,
        service,
        end,
        ", SignedHeaders=",
    ];
    const SIGNATURE: &str = ", Signature=";
    let mut signed_headers_len = 0;
    write_signed_headers(&mut signed_headers_len, headers);
    let head_len: usize = head.iter().map(|part| part.len()).sum();
    let mut value =
        Vec::with_capacity(head_len + signed_headers_len + SIGNATURE.len() + signature.len());
    for part in head {
        value.write(part);
    }
    write_signed_headers(&mut value, headers);
    value.write(SIGNATURE);
    value.extend_from_slice(signature);
    value
}
