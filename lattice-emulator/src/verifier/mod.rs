//! An independent SigV4 / SigV4A verifier, written from the AWS specification.
//!
//! It shares no code with `lattice-client` or `aws-sigv4`: the whole point is
//! that a signer bug cannot be hidden by the same bug in the checker. It is
//! proven against the official vectors in `shared/sigv4-test-suite/`
//! (see `tests/suite_vectors.rs`) before the emulator trusts it.
//!
//! INTERFACE CONTRACT (the emulator codes against exactly these items):
//!
//! ```ignore
//! pub struct Secret { pub access_key_id: String, pub secret_access_key: String,
//!                     pub session_token: Option<String>, pub principal: String,
//!                     pub session_name: Option<String> }
//! pub trait KeyLookup: Send + Sync { fn lookup(&self, access_key_id: &str) -> Option<Secret>; }
//! pub struct RequestView<'a> {
//!     pub method: &'a str,
//!     pub raw_path: &'a str,            // path exactly as received, e.g. "/a%20b/../c"
//!     pub raw_query: Option<&'a str>,   // query exactly as received, without '?'
//!     pub headers: &'a http::HeaderMap, // as received; may lack `host` on HTTP/2
//!     pub authority: Option<&'a str>,   // `:authority` (HTTP/2) or absolute-form authority
//! }
//! pub struct VerifyOptions { pub service: String, pub region: String,
//!                            pub max_skew: std::time::Duration }
//! pub struct Verified { pub access_key_id: String, pub principal: String,
//!                       pub session_name: Option<String>, pub algorithm: Algorithm,
//!                       pub signed_headers: Vec<String>, pub canonical_request: String }
//! pub enum Algorithm { SigV4, SigV4A }
//! pub enum Rejection {                 // every variant becomes a 403 in the emulator
//!     AccessDenied(String),            // no Authorization at all
//!     InvalidSignature(String),        // mismatch, wrong region/service, skew, bad region set
//!     IncompleteSignature(String),     // malformed Authorization, missing/unsigned
//!                                      // x-amz-content-sha256, signed header absent
//!     UnrecognizedClient(String),      // unknown access key id
//! }
//! impl Rejection { pub fn code(&self) -> &'static str; pub fn message(&self) -> &str; }
//! pub fn verify(req: &RequestView<'_>, keys: &dyn KeyLookup, opts: &VerifyOptions,
//!               now: std::time::SystemTime) -> Result<Verified, Rejection>;
//! ```
//!
//! The building blocks are public too, so the suite tests can drive them with
//! the suite's own settings: [`canonical`] (canonical request and
//! string-to-sign), [`v4`] (HMAC key chain) and [`v4a`] (ECDSA key derivation).
//!
//! Lattice specifics checked by [`verify`]: payload signing is not supported,
//! so `x-amz-content-sha256` must be present and signed and its value is used
//! verbatim as the payload hash (the body is never read); presigned URLs are
//! not accepted.

use std::fmt;
use std::time::{Duration, SystemTime};

use http::HeaderMap;
use sha2::{Digest, Sha256};

mod auth;
pub mod canonical;
pub mod v4;
pub mod v4a;

pub use auth::{
    Authorization, format_amz_date, format_amz_date_unix, parse_amz_date, region_set_matches,
};
pub use canonical::UriEncoding;

use canonical::{
    CanonicalHeaders, canonical_query, canonical_request, credential_scope, string_to_sign,
};

/// The SigV4 signing name of VPC Lattice services.
pub const SIGNING_NAME: &str = "vpc-lattice-svcs";

/// How far `x-amz-date` may be from the verifier's clock: the 5 minutes Lattice tolerates.
pub const DEFAULT_MAX_SKEW: Duration = Duration::from_secs(5 * 60);

/// The payload hash Lattice clients send, since Lattice does not sign bodies.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

const X_AMZ_DATE: &str = "x-amz-date";
const X_AMZ_CONTENT_SHA256: &str = "x-amz-content-sha256";
const X_AMZ_REGION_SET: &str = "x-amz-region-set";
const X_AMZ_SECURITY_TOKEN: &str = "x-amz-security-token";

/// Replaces session-token values in anything we print.
const REDACTED: &str = "** redacted **";

/// A known access key and who it belongs to.
#[derive(Clone)]
pub struct Secret {
    /// The access key id (`AKIA...`/`ASIA...`).
    pub access_key_id: String,
    /// The secret access key. Never printed.
    pub secret_access_key: String,
    /// For temporary credentials, the token the request must carry. Never printed.
    pub session_token: Option<String>,
    /// The caller's principal ARN, reported back in [`Verified`].
    pub principal: String,
    /// The role session name, for assumed-role principals.
    pub session_name: Option<String>,
}

/// Finds the [`Secret`] for an access key id.
pub trait KeyLookup: Send + Sync {
    /// The secret for `access_key_id`, or `None` if the key is unknown.
    fn lookup(&self, access_key_id: &str) -> Option<Secret>;
}

/// The parts of a received request that a signature covers.
#[derive(Clone, Copy)]
pub struct RequestView<'a> {
    /// The method, as received.
    pub method: &'a str,
    /// The path exactly as received, e.g. `/a%20b/../c`.
    pub raw_path: &'a str,
    /// The query exactly as received, without `?`.
    pub raw_query: Option<&'a str>,
    /// The headers as received; may lack `host` on HTTP/2.
    pub headers: &'a HeaderMap,
    /// `:authority` (HTTP/2) or the absolute-form authority; used as `host`
    /// when there is no `host` header.
    pub authority: Option<&'a str>,
}

/// What the emulator expects of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyOptions {
    /// The signing name the scope must carry, normally [`SIGNING_NAME`].
    pub service: String,
    /// The emulated region: the SigV4 scope region, or a member of the SigV4A region set.
    pub region: String,
    /// The largest accepted distance between `x-amz-date` and now.
    pub max_skew: Duration,
}

/// A request whose signature checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The access key id that signed.
    pub access_key_id: String,
    /// [`Secret::principal`] of that key.
    pub principal: String,
    /// [`Secret::session_name`] of that key.
    pub session_name: Option<String>,
    /// SigV4 or SigV4A.
    pub algorithm: Algorithm,
    /// `SignedHeaders`, in order.
    pub signed_headers: Vec<String>,
    /// The canonical request that matched, with any session token shown as
    /// `** redacted **` so it can be logged.
    pub canonical_request: String,
    /// The string-to-sign that matched.
    pub string_to_sign: String,
    /// Which canonical URI form matched.
    pub uri_encoding: UriEncoding,
}

/// The signing algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// `AWS4-HMAC-SHA256`: HMAC, scoped to one region.
    SigV4,
    /// `AWS4-ECDSA-P256-SHA256`: ECDSA, valid in a set of regions.
    SigV4A,
}

/// Why a request was refused. Every variant becomes a 403 in the emulator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// No `Authorization` header at all.
    AccessDenied(String),
    /// Signature mismatch, wrong region/service, clock skew, region set
    /// mismatch, or a wrong session token.
    InvalidSignature(String),
    /// Malformed `Authorization`, a missing or unsigned required header, or a
    /// signed header absent from the request.
    IncompleteSignature(String),
    /// Unknown access key id.
    UnrecognizedClient(String),
}

// === impl Secret ===

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Secret")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &REDACTED)
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| REDACTED),
            )
            .field("principal", &self.principal)
            .field("session_name", &self.session_name)
            .finish()
    }
}

// === impl RequestView ===

impl fmt::Debug for RequestView<'_> {
    // Header values are left out: they include credentials such as the session token.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.headers.keys().map(|n| n.as_str()).collect();
        f.debug_struct("RequestView")
            .field("method", &self.method)
            .field("raw_path", &self.raw_path)
            .field("raw_query", &self.raw_query)
            .field("header_names", &names)
            .field("authority", &self.authority)
            .finish()
    }
}

// === impl VerifyOptions ===

impl VerifyOptions {
    /// Options for Lattice in `region`: service [`SIGNING_NAME`], skew [`DEFAULT_MAX_SKEW`].
    pub fn new(region: impl Into<String>) -> Self {
        Self {
            service: SIGNING_NAME.to_owned(),
            region: region.into(),
            max_skew: DEFAULT_MAX_SKEW,
        }
    }
}

// === impl Algorithm ===

impl Algorithm {
    /// The name used in `Authorization` and the string-to-sign.
    pub fn name(self) -> &'static str {
        match self {
            Self::SigV4 => "AWS4-HMAC-SHA256",
            Self::SigV4A => "AWS4-ECDSA-P256-SHA256",
        }
    }

    /// The algorithm called `name`, if supported.
    pub fn from_name(name: &str) -> Option<Self> {
        [Self::SigV4, Self::SigV4A]
            .into_iter()
            .find(|a| a.name() == name)
    }
}

// === impl Rejection ===

impl Rejection {
    /// The AWS error code, e.g. `InvalidSignatureException`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::AccessDenied(_) => "AccessDeniedException",
            Self::InvalidSignature(_) => "InvalidSignatureException",
            Self::IncompleteSignature(_) => "IncompleteSignatureException",
            Self::UnrecognizedClient(_) => "UnrecognizedClientException",
        }
    }

    /// The explanation for the client.
    pub fn message(&self) -> &str {
        match self {
            Self::AccessDenied(m)
            | Self::InvalidSignature(m)
            | Self::IncompleteSignature(m)
            | Self::UnrecognizedClient(m) => m,
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code(), self.message())
    }
}

impl std::error::Error for Rejection {}

// === verify ===

/// Checks a request's SigV4 or SigV4A `Authorization` header the way Lattice
/// does. `now` is a parameter so tests control the clock.
///
/// Header values are canonicalized from `req.headers`; when there is no `host`
/// header, `req.authority` stands in for it (HTTP/2). The canonical URI is
/// accepted in either [`UriEncoding`] form.
pub fn verify(
    req: &RequestView<'_>,
    keys: &dyn KeyLookup,
    opts: &VerifyOptions,
    now: SystemTime,
) -> Result<Verified, Rejection> {
    let auth = parse_authorization(req, opts)?;

    let mut headers = CanonicalHeaders::from_header_map(req.headers);
    if !headers.contains("host")
        && let Some(authority) = req.authority
    {
        headers.append("host", authority.as_bytes());
    }

    let payload_hash = required_signed_header(&auth, &headers, X_AMZ_CONTENT_SHA256)?;
    let amz_date = required_signed_header(&auth, &headers, X_AMZ_DATE)?;
    let region_set = match auth.algorithm {
        Algorithm::SigV4A => Some(required_signed_header(&auth, &headers, X_AMZ_REGION_SET)?),
        Algorithm::SigV4 => None,
    };
    if let Some(name) = auth.signed_headers.iter().find(|n| !headers.contains(n)) {
        return Err(Rejection::IncompleteSignature(format!(
            "Header '{name}' is listed in SignedHeaders but is not present in the request."
        )));
    }
    let request_time = parse_amz_date(amz_date).ok_or_else(|| {
        Rejection::IncompleteSignature(format!(
            "X-Amz-Date must be in the ISO-8601 basic format YYYYMMDD'T'HHMMSS'Z', got '{amz_date}'."
        ))
    })?;

    check_scope(&auth, amz_date, region_set, opts)?;
    check_skew(request_time, now, opts.max_skew)?;

    let secret = keys.lookup(&auth.access_key_id).ok_or_else(|| {
        Rejection::UnrecognizedClient(format!(
            "The security token included in the request is invalid: \
             the access key id '{}' is not known.",
            auth.access_key_id
        ))
    })?;
    check_session_token(&auth, &headers, &secret)?;

    let signature = SignatureCheck::new(&auth, &secret)?;
    let query = canonical_query(req.raw_query.unwrap_or(""));
    let scope = credential_scope(
        auth.algorithm,
        &auth.date,
        auth.region.as_deref().unwrap_or_default(),
        &auth.service,
    );
    let redact = Redactor::new(&headers, &secret);

    // (uri, canonical request, string-to-sign) of the first form, for the error.
    let mut expected: Option<(String, Vec<u8>, String)> = None;
    for encoding in [UriEncoding::Double, UriEncoding::Single] {
        let uri = encoding.canonical_uri(req.raw_path);
        if expected.as_ref().is_some_and(|(first, ..)| *first == uri) {
            continue;
        }
        let creq = canonical_request(
            req.method,
            &uri,
            &query,
            &headers,
            &auth.signed_headers,
            payload_hash,
        )
        .map_err(|e| Rejection::IncompleteSignature(e.to_string()))?;
        let sts = string_to_sign(auth.algorithm, amz_date, &scope, &creq);
        if signature.matches(&sts) {
            return Ok(Verified {
                access_key_id: auth.access_key_id,
                principal: secret.principal,
                session_name: secret.session_name,
                algorithm: auth.algorithm,
                signed_headers: auth.signed_headers,
                canonical_request: redact.apply(&creq),
                string_to_sign: sts,
                uri_encoding: encoding,
            });
        }
        if expected.is_none() {
            expected = Some((uri, creq, sts));
        }
    }

    let (uri, creq, sts) = expected.unwrap_or_default();
    let mut message = format!(
        "The request signature we calculated does not match the signature you provided. \
         Check your AWS Secret Access Key and signing method. Consult the service \
         documentation for details.\n\nThe Canonical String for this request should have been\n\
         '{}'\n\nThe String-to-Sign should have been\n'{sts}'\n",
        redact.apply(&creq)
    );
    let single = UriEncoding::Single.canonical_uri(req.raw_path);
    if single != uri {
        message.push_str(&format!(
            "\n(The single-encoded canonical URI '{single}' was also tried instead of '{uri}'.)\n"
        ));
    }
    Err(Rejection::InvalidSignature(message))
}

fn parse_authorization(
    req: &RequestView<'_>,
    opts: &VerifyOptions,
) -> Result<Authorization, Rejection> {
    let mut values = req.headers.get_all(http::header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Err(anonymous(req, opts));
    };
    if values.next().is_some() {
        return Err(Rejection::IncompleteSignature(
            "The request has more than one Authorization header.".to_owned(),
        ));
    }
    let value = value.to_str().map_err(|_| {
        Rejection::IncompleteSignature("The Authorization header is not valid ASCII.".to_owned())
    })?;
    Authorization::parse(value).map_err(Rejection::IncompleteSignature)
}

fn anonymous(req: &RequestView<'_>, opts: &VerifyOptions) -> Rejection {
    let host = req
        .headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .or(req.authority)
        .unwrap_or_default();
    let presigned = req
        .raw_query
        .unwrap_or_default()
        .split('&')
        .any(|p| p.split_once('=').map_or(p, |(k, _)| k) == "X-Amz-Signature");
    let hint = if presigned {
        "query-string (presigned URL) authentication is not supported; \
         send the signature in an Authorization header"
    } else {
        "the request has no Authorization header"
    };
    Rejection::AccessDenied(format!(
        "User: anonymous is not authorized to perform: {service}:Invoke on resource: \
         {host}{path} because no resource-based policy allows the {service}:Invoke action \
         ({hint}).",
        service = opts.service,
        path = req.raw_path,
    ))
}

/// The canonical value of a header that Lattice requires to be present and signed.
fn required_signed_header<'h>(
    auth: &Authorization,
    headers: &'h CanonicalHeaders,
    name: &str,
) -> Result<&'h str, Rejection> {
    let value = headers.get(name).ok_or_else(|| {
        Rejection::IncompleteSignature(format!(
            "Missing required header for this request: '{name}'."
        ))
    })?;
    if !auth.signs(name) {
        return Err(Rejection::IncompleteSignature(format!(
            "Header '{name}' must be signed: add it to SignedHeaders."
        )));
    }
    std::str::from_utf8(value)
        .map_err(|_| Rejection::IncompleteSignature(format!("Header '{name}' is not valid UTF-8.")))
}

fn check_scope(
    auth: &Authorization,
    amz_date: &str,
    region_set: Option<&str>,
    opts: &VerifyOptions,
) -> Result<(), Rejection> {
    // `amz_date` parsed, so it is 16 ASCII bytes.
    let day = amz_date.get(..8).unwrap_or_default();
    if auth.date != day {
        return Err(Rejection::InvalidSignature(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date \
             from HTTP: '{}' != '{day}', from '{amz_date}'.",
            auth.date
        )));
    }
    if auth.service != opts.service {
        return Err(Rejection::InvalidSignature(format!(
            "Credential should be scoped to correct service: '{}', not '{}'.",
            opts.service, auth.service
        )));
    }
    if let Some(region) = &auth.region
        && *region != opts.region
    {
        return Err(Rejection::InvalidSignature(format!(
            "Credential should be scoped to a valid region: '{}', not '{region}'.",
            opts.region
        )));
    }
    if let Some(set) = region_set
        && !region_set_matches(set, &opts.region)
    {
        return Err(Rejection::InvalidSignature(format!(
            "The SigV4A region set '{set}' (x-amz-region-set) does not include \
             this endpoint's region '{}'.",
            opts.region
        )));
    }
    Ok(())
}

fn check_skew(request_time: i64, now: SystemTime, max_skew: Duration) -> Result<(), Rejection> {
    let now = auth::unix_seconds(now);
    let skew = i64::try_from(max_skew.as_secs()).unwrap_or(i64::MAX);
    let age = i128::from(now) - i128::from(request_time);
    let skew_text = if skew % 60 == 0 {
        format!("{} min.", skew / 60)
    } else {
        format!("{skew} s")
    };
    let show = format_amz_date_unix;
    if age > i128::from(skew) {
        return Err(Rejection::InvalidSignature(format!(
            "Signature expired: {} is now earlier than {} ({} - {skew_text})",
            show(request_time),
            show(now.saturating_sub(skew)),
            show(now),
        )));
    }
    if -age > i128::from(skew) {
        return Err(Rejection::InvalidSignature(format!(
            "Signature not yet current: {} is still later than {} ({} + {skew_text})",
            show(request_time),
            show(now.saturating_add(skew)),
            show(now),
        )));
    }
    Ok(())
}

fn check_session_token(
    auth: &Authorization,
    headers: &CanonicalHeaders,
    secret: &Secret,
) -> Result<(), Rejection> {
    let provided = headers.get(X_AMZ_SECURITY_TOKEN);
    match (&secret.session_token, provided) {
        (None, None) => Ok(()),
        // Comparing digests keeps the comparison from leaking the token's bytes.
        (Some(expected), Some(provided))
            if Sha256::digest(expected.as_bytes()) == Sha256::digest(provided) =>
        {
            if auth.signs(X_AMZ_SECURITY_TOKEN) {
                Ok(())
            } else {
                Err(Rejection::InvalidSignature(format!(
                    "Header '{X_AMZ_SECURITY_TOKEN}' must be signed: add it to SignedHeaders."
                )))
            }
        }
        _ => Err(Rejection::InvalidSignature(
            "The security token included in the request is invalid.".to_owned(),
        )),
    }
}

/// The key material for one request, prepared once for both URI forms.
enum SignatureCheck<'a> {
    V4 {
        key: [u8; 32],
        provided: &'a [u8],
    },
    V4a {
        key: p256::ecdsa::VerifyingKey,
        provided: &'a [u8],
    },
}

impl<'a> SignatureCheck<'a> {
    fn new(auth: &'a Authorization, secret: &Secret) -> Result<Self, Rejection> {
        let provided = auth.signature.as_slice();
        Ok(match auth.algorithm {
            Algorithm::SigV4 => Self::V4 {
                key: v4::signing_key(
                    &secret.secret_access_key,
                    &auth.date,
                    auth.region.as_deref().unwrap_or_default(),
                    &auth.service,
                ),
                provided,
            },
            Algorithm::SigV4A => Self::V4a {
                key: v4a::cached_verifying_key(&secret.access_key_id, &secret.secret_access_key)
                    .ok_or_else(|| {
                        Rejection::InvalidSignature(
                            "No SigV4A key can be derived from this access key.".to_owned(),
                        )
                    })?,
                provided,
            },
        })
    }

    fn matches(&self, string_to_sign: &str) -> bool {
        match self {
            Self::V4 { key, provided } => v4::verify_signature(key, string_to_sign, provided),
            Self::V4a { key, provided } => v4a::verify_signature(key, string_to_sign, provided),
        }
    }
}

/// Hides session tokens (the expected one and whatever the client sent) in
/// canonical requests that end up in messages or logs.
struct Redactor {
    tokens: Vec<String>,
}

impl Redactor {
    fn new(headers: &CanonicalHeaders, secret: &Secret) -> Self {
        let provided = headers
            .get(X_AMZ_SECURITY_TOKEN)
            .map(|t| String::from_utf8_lossy(t).into_owned());
        let tokens = secret
            .session_token
            .iter()
            .cloned()
            .chain(provided)
            .filter(|t| !t.is_empty())
            .collect();
        Self { tokens }
    }

    fn apply(&self, canonical_request: &[u8]) -> String {
        let mut text = String::from_utf8_lossy(canonical_request).into_owned();
        for token in &self.tokens {
            text = text.replace(token.as_str(), REDACTED);
        }
        text
    }
}

#[cfg(test)]
mod tests;
