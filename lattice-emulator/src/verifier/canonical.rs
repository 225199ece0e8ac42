//! Canonical request construction (AWS SigV4 spec, "Create a canonical request").
//!
//! Every function here is total: any byte sequence a client sends yields some
//! canonical form (possibly one that will not match its signature), never a panic.

use std::collections::BTreeMap;
use std::fmt;

use http::HeaderMap;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, percent_encode};
use sha2::{Digest, Sha256};

use super::Algorithm;

/// Everything except the SigV4 unreserved characters `A-Za-z0-9-._~` is encoded.
/// `percent_encode` always encodes non-ASCII bytes and emits uppercase hex.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Path encoding additionally keeps `/`, the segment separator.
const PATH: &AsciiSet = &UNRESERVED.remove(b'/');

/// Which canonical URI form a request's signature matched.
///
/// Signers disagree on how to turn the wire path into the canonical URI, so
/// [`verify`](super::verify) accepts both common forms:
///
/// * [`Double`](Self::Double): the standard (non-S3) SigV4 form. Normalize the
///   path, then URI-encode the already-encoded path again (`%3A` becomes
///   `%253A`). Produced by aws-c-auth / the CRT by default, `aws-sigv4`
///   (AWS SDK for Rust) by default, botocore and the Java v2 / Go v2 / JS v3
///   SDKs for every service except S3.
/// * [`Single`](Self::Single): the S3-style form. No normalization; each path
///   segment is decoded and encoded exactly once, so what the client
///   percent-encoded (including `%2F`) stays encoded once. Produced by S3
///   signers (botocore `s3v4`, Java v2 with `doubleUrlEncode=false`) and by
///   hand-written signers that encode the decoded path once.
///
/// When both forms give the same string (most paths), `Double` is reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UriEncoding {
    /// Normalized, then encoded on top of the client's encoding.
    Double,
    /// Not normalized; each segment decoded, then encoded once.
    Single,
}

/// Canonical headers: lowercase name to canonical value, sorted by name.
///
/// Values are bytes because HTTP allows obs-text (bytes >= 0x80) in values;
/// converting them to `str` lossily would change what gets hashed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CanonicalHeaders {
    map: BTreeMap<String, Vec<u8>>,
}

/// A name listed in `SignedHeaders` that the request does not carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingHeader(pub String);

// === impl UriEncoding ===

impl UriEncoding {
    /// The canonical URI for `raw_path` in this form (see the type docs).
    pub fn canonical_uri(self, raw_path: &str) -> String {
        match self {
            Self::Double => canonical_uri_double(raw_path, true),
            Self::Single => canonical_uri_single(raw_path),
        }
    }
}

// === impl CanonicalHeaders ===

impl CanonicalHeaders {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// All headers of `headers`, multiple values joined in received order.
    pub fn from_header_map(headers: &HeaderMap) -> Self {
        let mut out = Self::new();
        // `iter` yields every value; those of one name come out in received order.
        for (name, value) in headers {
            out.append(name.as_str(), value.as_bytes());
        }
        out
    }

    /// Adds one header line. A repeated name gets its value appended after a `,`.
    pub fn append(&mut self, name: &str, value: &[u8]) {
        let value = canonical_header_value(value);
        let name = name.to_ascii_lowercase();
        match self.map.get_mut(&name) {
            Some(existing) => {
                existing.push(b',');
                existing.extend_from_slice(&value);
            }
            None => {
                self.map.insert(name, value);
            }
        }
    }

    /// The canonical value of `name` (lowercase), if present.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.map.get(name).map(Vec::as_slice)
    }

    /// Whether `name` (lowercase) is present.
    pub fn contains(&self, name: &str) -> bool {
        self.map.contains_key(name)
    }

    /// Header names, lowercase and sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.map.keys().map(String::as_str)
    }
}

// === impl MissingHeader ===

impl fmt::Display for MissingHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Header '{}' is listed in SignedHeaders but is not present in the request.",
            self.0
        )
    }
}

impl std::error::Error for MissingHeader {}

// === functions ===

/// URI-encodes every byte outside the unreserved set, uppercase hex.
pub fn uri_encode(bytes: &[u8]) -> String {
    percent_encode(bytes, UNRESERVED).to_string()
}

/// Removes `.` and `..` segments and merges repeated `/`, keeping a trailing
/// slash. The result always starts with `/`. Works on the raw (still encoded)
/// path, so `%2E%2E` is an ordinary segment, as in aws-c-auth.
pub fn normalize_path(raw_path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for segment in raw_path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut out = String::with_capacity(raw_path.len() + 1);
    out.push('/');
    out.push_str(&segments.join("/"));
    if !segments.is_empty() && raw_path.ends_with('/') {
        out.push('/');
    }
    out
}

/// The standard SigV4 canonical URI: optionally normalize, then encode the raw
/// path again (a literal `%` becomes `%25`). `normalize = false` is the suite's
/// S3-style "unnormalized" setting.
pub fn canonical_uri_double(raw_path: &str, normalize: bool) -> String {
    let path = if normalize {
        normalize_path(raw_path)
    } else {
        raw_path.to_owned()
    };
    with_leading_slash(percent_encode(path.as_bytes(), PATH).to_string())
}

/// The single-encoding canonical URI: no normalization; each segment is
/// percent-decoded and then encoded once with the unreserved set.
pub fn canonical_uri_single(raw_path: &str) -> String {
    let encoded: Vec<String> = raw_path.split('/').map(reencode).collect();
    with_leading_slash(encoded.join("/"))
}

fn with_leading_slash(path: String) -> String {
    if path.starts_with('/') {
        path
    } else {
        format!("/{path}")
    }
}

/// The canonical query string for a raw query (without `?`).
///
/// Each `&`-separated `k=v` (a missing `=` means an empty value; empty pieces
/// are skipped) is decoded and re-encoded with the unreserved set, so `+` is a
/// literal plus (`%2B`), then pairs are sorted by encoded key, then value.
pub fn canonical_query(raw_query: &str) -> String {
    let mut pairs: Vec<(String, String)> = raw_query
        .split('&')
        .filter(|piece| !piece.is_empty())
        .map(|piece| {
            let (key, value) = piece.split_once('=').unwrap_or((piece, ""));
            (reencode(key), reencode(value))
        })
        .collect();
    // Tuple order is key, then value; `String` order is byte order.
    pairs.sort();
    let pairs: Vec<String> = pairs.into_iter().map(|(k, v)| format!("{k}={v}")).collect();
    pairs.join("&")
}

/// Percent-decodes, then encodes once with the unreserved set. Invalid escapes
/// such as `%zz` decode to themselves, so their `%` becomes `%25`.
fn reencode(component: &str) -> String {
    uri_encode(&percent_decode_str(component).collect::<Vec<u8>>())
}

/// Trims surrounding spaces/tabs and collapses internal runs of spaces to one.
pub fn canonical_header_value(raw: &[u8]) -> Vec<u8> {
    let is_ows = |b: &u8| *b == b' ' || *b == b'\t';
    let start = raw.iter().position(|b| !is_ows(b)).unwrap_or(raw.len());
    let end = raw
        .iter()
        .rposition(|b| !is_ows(b))
        .map_or(start, |i| i + 1);
    let mut out = Vec::with_capacity(end - start);
    for &b in &raw[start..end] {
        if !(b == b' ' && out.last() == Some(&b' ')) {
            out.push(b);
        }
    }
    out
}

/// Builds the canonical request:
/// `method \n uri \n query \n (name:value \n)* \n signed;headers \n payload_hash`.
///
/// `signed_headers` must already be lowercase and sorted; each must be in `headers`.
pub fn canonical_request<S: AsRef<str>>(
    method: &str,
    canonical_uri: &str,
    canonical_query: &str,
    headers: &CanonicalHeaders,
    signed_headers: &[S],
    payload_hash: &str,
) -> Result<Vec<u8>, MissingHeader> {
    let mut out = Vec::with_capacity(256);
    for part in [method, canonical_uri, canonical_query] {
        out.extend_from_slice(part.as_bytes());
        out.push(b'\n');
    }
    for name in signed_headers {
        let name = name.as_ref();
        let value = headers
            .get(name)
            .ok_or_else(|| MissingHeader(name.to_owned()))?;
        out.extend_from_slice(name.as_bytes());
        out.push(b':');
        out.extend_from_slice(value);
        out.push(b'\n');
    }
    out.push(b'\n');
    let names: Vec<&str> = signed_headers.iter().map(AsRef::as_ref).collect();
    out.extend_from_slice(names.join(";").as_bytes());
    out.push(b'\n');
    out.extend_from_slice(payload_hash.as_bytes());
    Ok(out)
}

/// Lowercase hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The credential scope: `date/region/service/aws4_request` for SigV4,
/// `date/service/aws4_request` for SigV4A (whose region is the region set).
pub fn credential_scope(algorithm: Algorithm, date: &str, region: &str, service: &str) -> String {
    match algorithm {
        Algorithm::SigV4 => format!("{date}/{region}/{service}/aws4_request"),
        Algorithm::SigV4A => format!("{date}/{service}/aws4_request"),
    }
}

/// `ALGORITHM \n amz_date \n scope \n hex(sha256(canonical_request))`.
pub fn string_to_sign(
    algorithm: Algorithm,
    amz_date: &str,
    scope: &str,
    canonical_request: &[u8],
) -> String {
    format!(
        "{}\n{amz_date}\n{scope}\n{}",
        algorithm.name(),
        sha256_hex(canonical_request)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_like_the_suite() {
        for (raw, want) in [
            ("", "/"),
            ("/", "/"),
            ("//", "/"),
            ("/./", "/"),
            ("/example/..", "/"),
            ("/example1/example2/../..", "/"),
            ("/./example", "/example"),
            ("//example//", "/example/"),
            ("/../../a", "/a"),
            ("/a/%2E%2E/b", "/a/%2E%2E/b"),
        ] {
            assert_eq!(normalize_path(raw), want, "{raw:?}");
        }
    }

    #[test]
    fn uri_forms() {
        let raw = "/a b/%3A/c%2Fd/./$";
        assert_eq!(canonical_uri_double(raw, true), "/a%20b/%253A/c%252Fd/%24");
        assert_eq!(
            canonical_uri_double(raw, false),
            "/a%20b/%253A/c%252Fd/./%24"
        );
        assert_eq!(canonical_uri_single(raw), "/a%20b/%3A/c%2Fd/./%24");
        assert_eq!(canonical_uri_single("/%7e%41"), "/~A");
        assert_eq!(canonical_uri_single(""), "/");
        assert_eq!(canonical_uri_double("", false), "/");
    }

    #[test]
    fn query_rules() {
        assert_eq!(canonical_query(""), "");
        assert_eq!(
            canonical_query("b=2&a&a=1+1&&c=%7e%zz"),
            "a=&a=1%2B1&b=2&c=~%25zz"
        );
        assert_eq!(canonical_query("k=a=b"), "k=a%3Db");
        assert_eq!(canonical_query("P=value2&P=Value1"), "P=Value1&P=value2");
    }

    #[test]
    fn header_values() {
        assert_eq!(canonical_header_value(b"  a   b \t"), b"a b");
        assert_eq!(canonical_header_value(b"   "), b"");
        assert_eq!(canonical_header_value(b"\xff  x"), b"\xff x");
        let mut headers = CanonicalHeaders::new();
        headers.append("My-Header", b" v2 ");
        headers.append("my-header", b"v1");
        assert_eq!(headers.get("my-header"), Some(&b"v2,v1"[..]));
    }

    #[test]
    fn request_layout_and_missing_header() {
        let mut headers = CanonicalHeaders::new();
        headers.append("Host", b"h");
        let creq = canonical_request("GET", "/", "", &headers, &["host"], "UNSIGNED-PAYLOAD");
        assert_eq!(
            creq,
            Ok(b"GET\n/\n\nhost:h\n\nhost\nUNSIGNED-PAYLOAD".to_vec())
        );
        let missing = canonical_request("GET", "/", "", &headers, &["host", "x"], "-");
        assert_eq!(missing, Err(MissingHeader("x".into())));
    }
}
