//! The canonical request: the text a signature covers.
//!
//! It follows aws-sigv4 1.6 (`http_request/canonical_request.rs`) for headers signed with
//! `x-amz-content-sha256: UNSIGNED-PAYLOAD`:
//! - path: `normalize_uri_path`, then `label::fmt_string(.., Greedy)` (double encoding); or
//!   the path as sent (single encoding);
//! - query: `form_urlencoded::parse`, each key and value encoded again with smithy's
//!   `BASE_SET`, sorted by encoded key, then value. A literal `+` is taken as `%2B`, as AWS
//!   services read it (aws-sigv4 itself would sign a space: smithy-rs#4227);
//! - headers: names sorted, values trimmed of spaces (runs of spaces become one), repeated
//!   headers joined with `,` in request order. The headers the signer adds are written as
//!   given, as aws-sigv4 inserts its own.

use std::borrow::Cow;
use std::fmt;

use http::header::{AUTHORIZATION, HOST};
use http::uri::Scheme;
use http::{HeaderMap, Method, Uri};
use percent_encoding::percent_decode;
use sha2::{Digest, Sha256};
use smallvec::SmallVec;

use crate::error::Error;
use crate::signer::PathEncoding;

pub(crate) const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

/// What [`CanonicalRequest::from_signed_parts`] writes for a redacted value.
const REDACTED: &str = "<redacted>";

/// smithy `urlencode::BASE_SET`: every byte but `ALPHA DIGIT - . _ ~` (spelled out as
/// smithy does, so a reader can compare the two lists).
const BASE_SET: [bool; 256] = encode_set(b" /:,?#[]{}|@!$&'()*+;=%<>\"^`\\");
/// smithy `label` `GREEDY`: `BASE_SET` without `/`.
const GREEDY_SET: [bool; 256] = {
    let mut set = BASE_SET;
    set[b'/' as usize] = false;
    set
};

/// The headers of one request, on the stack up to this many: most requests fit, which
/// saves an allocation per signature.
pub(crate) type Headers<'a> = SmallVec<[Header<'a>; 20]>;

/// A SigV4 canonical request as lattice-client signs it: method, path, query, the signed
/// headers with their values, the `SignedHeaders` list and `UNSIGNED-PAYLOAD`, one per line.
///
/// The signer writes one for each signature. [`from_signed_parts`](Self::from_signed_parts)
/// rebuilds it from a request that was signed, which is what to compare with the canonical
/// request a service computed when it answers 403.
///
/// It holds header values, the session token among them, so its `Debug` shows only the
/// signed header names.
///
/// ```
/// use http::{HeaderMap, Method, Uri};
/// use lattice_client::{CanonicalRequest, PathEncoding};
///
/// let mut headers = HeaderMap::new();
/// headers.insert(
///     "authorization",
///     "AWS4-HMAC-SHA256 Credential=AKID/20240101/us-west-2/vpc-lattice-svcs/aws4_request, \
///      SignedHeaders=host;x-amz-date;x-amz-security-token, Signature=0123"
///         .parse()?,
/// );
/// headers.insert("x-amz-date", "20240101T000000Z".parse()?);
/// headers.insert("x-amz-security-token", "secret-token".parse()?);
/// let uri: Uri = "https://svc.example.com/a?b=2&a=1".parse()?;
///
/// let sensitive = |name: &str| name == "x-amz-security-token";
/// let creq = CanonicalRequest::from_signed_parts(
///     &Method::GET,
///     &uri,
///     &headers,
///     PathEncoding::Double,
///     sensitive,
/// )?;
/// assert_eq!(
///     creq.as_str(),
///     "GET\n/a\na=1&b=2\nhost:svc.example.com\nx-amz-date:20240101T000000Z\n\
///      x-amz-security-token:<redacted>\n\nhost;x-amz-date;x-amz-security-token\nUNSIGNED-PAYLOAD"
/// );
/// assert_eq!(creq.signed_headers(), "host;x-amz-date;x-amz-security-token");
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Default)]
pub struct CanonicalRequest {
    text: String,
}

/// Where a canonical request is written: the text of a [`CanonicalRequest`], or straight
/// into SHA-256 when the signer needs only its hash (which saves a buffer per signature).
pub(crate) trait Sink {
    fn write(&mut self, text: &str);
}

/// SHA-256 of what is written.
pub(crate) struct Hashed(Sha256);

/// A header as it enters the canonical request.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Header<'a> {
    /// Lowercase.
    pub(crate) name: &'a str,
    pub(crate) value: &'a str,
    /// Written as given rather than trimmed.
    pub(crate) as_given: bool,
}

/// The host a request is signed for.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SignedHost<'a> {
    pub(crate) host: &'a str,
    /// From the `Host` header; else from the URI, and the canonical request adds it.
    pub(crate) from_header: bool,
}

// === impl CanonicalRequest ===

impl CanonicalRequest {
    /// An empty canonical request, to write into with
    /// [`write_signed_parts`](Self::write_signed_parts).
    pub fn new() -> Self {
        Self::default()
    }

    /// The canonical request of a signed request: its method and URI, and the headers its
    /// `Authorization` header lists in `SignedHeaders`, with their values as sent. A
    /// `SignedHeaders` name for which `redact` is true is written with the value
    /// `<redacted>`; pass `|_| false` to keep every value.
    ///
    /// `path_encoding` must be the one the request was signed with
    /// ([`SigningConfig::path_encoding`](crate::SigningConfig::path_encoding)).
    ///
    /// # Errors
    /// [`ErrorKind::InvalidRequest`](crate::ErrorKind::InvalidRequest) if the request has no
    /// `SignedHeaders` list, no host, a URI that is not origin- or absolute-form, or a signed
    /// header value that is not visible ASCII.
    pub fn from_signed_parts(
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        path_encoding: PathEncoding,
        redact: impl Fn(&str) -> bool,
    ) -> Result<Self, Error> {
        let mut canonical = Self::new();
        canonical.write_signed_parts(method, uri, headers, path_encoding, redact)?;
        Ok(canonical)
    }

    /// [`from_signed_parts`](Self::from_signed_parts) into this value, reusing its buffer.
    pub fn write_signed_parts(
        &mut self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        path_encoding: PathEncoding,
        redact: impl Fn(&str) -> bool,
    ) -> Result<(), Error> {
        let listed = headers
            .get(AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(signed_headers_of)
            .ok_or_else(Error::not_signed)?;
        let mut signed = Headers::new();
        for name in listed.split(';') {
            if redact(name) {
                signed.push(Header::as_given(name, REDACTED));
            } else if name == HOST.as_str() && !headers.contains_key(HOST) {
                signed.push(Header::trimmed(name, signed_host(uri, headers)?.host));
            } else {
                for value in headers.get_all(name) {
                    let value = value
                        .to_str()
                        .map_err(|_| Error::invalid_header_value(name))?;
                    signed.push(Header::trimmed(name, value));
                }
            }
        }
        self.write(method.as_str(), uri, path_encoding, &mut signed)
    }

    /// The canonical request.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The `SignedHeaders` list: the signed header names, sorted, joined with `;`.
    pub fn signed_headers(&self) -> &str {
        // The line before `UNSIGNED-PAYLOAD`; header values hold no line breaks.
        self.text.rsplit('\n').nth(1).unwrap_or_default()
    }

    /// Write the canonical request of `method`, `uri` and `headers` (which it sorts).
    pub(crate) fn write(
        &mut self,
        method: &str,
        uri: &Uri,
        path_encoding: PathEncoding,
        headers: &mut [Header<'_>],
    ) -> Result<(), Error> {
        self.text.clear();
        write(&mut self.text, method, uri, path_encoding, headers)
    }
}

/// Write the canonical request of `method`, `uri` and `headers` (which it sorts) into
/// `out`: the one canonicalization, for the signer and for [`CanonicalRequest`].
pub(crate) fn write(
    out: &mut impl Sink,
    method: &str,
    uri: &Uri,
    path_encoding: PathEncoding,
    headers: &mut [Header<'_>],
) -> Result<(), Error> {
    let path = origin_form_path(uri)?;
    out.write(method);
    out.write("\n");
    match path_encoding {
        PathEncoding::Double => write_normalized_encoded_path(out, path),
        PathEncoding::Single => out.write(path),
    }
    out.write("\n");
    write_query(out, uri.query().unwrap_or_default());
    out.write("\n");
    // Stable: the values of a repeated header stay in request order.
    headers.sort_by(|a, b| a.name.cmp(b.name));
    for same_name in headers.chunk_by(|a, b| a.name == b.name) {
        out.write(same_name[0].name);
        out.write(":");
        for (i, header) in same_name.iter().enumerate() {
            if i > 0 {
                out.write(",");
            }
            if header.as_given {
                out.write(header.value);
            } else {
                write_trimmed(out, header.value);
            }
        }
        out.write("\n");
    }
    out.write("\n");
    write_signed_headers(out, headers);
    out.write("\n");
    out.write(UNSIGNED_PAYLOAD);
    Ok(())
}

/// The `SignedHeaders` list of sorted `headers`: each name once, joined with `;`.
pub(crate) fn write_signed_headers(out: &mut impl Sink, headers: &[Header<'_>]) {
    for (i, same_name) in headers.chunk_by(|a, b| a.name == b.name).enumerate() {
        if i > 0 {
            out.write(";");
        }
        out.write(same_name[0].name);
    }
}

// === impl Sink ===

impl Sink for String {
    fn write(&mut self, text: &str) {
        self.push_str(text);
    }
}

impl Sink for Vec<u8> {
    fn write(&mut self, text: &str) {
        self.extend_from_slice(text.as_bytes());
    }
}

impl Sink for Hashed {
    fn write(&mut self, text: &str) {
        self.0.update(text.as_bytes());
    }
}

/// Counts the bytes written, to size a buffer before writing into it.
impl Sink for usize {
    fn write(&mut self, text: &str) {
        *self += text.len();
    }
}

// === impl Hashed ===

impl Hashed {
    pub(crate) fn new() -> Self {
        Self(Sha256::new())
    }

    pub(crate) fn finish(self) -> [u8; 32] {
        self.0.finalize().into()
    }
}

impl fmt::Debug for CanonicalRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CanonicalRequest")
            .field("signed_headers", &self.signed_headers())
            .finish_non_exhaustive()
    }
}

/// The `SignedHeaders=a;b;c` list of an `Authorization` header value (the last one: only
/// the hex signature follows it, where the access key id comes before).
fn signed_headers_of(authorization: &str) -> Option<&str> {
    let (_, rest) = authorization.rsplit_once("SignedHeaders=")?;
    let list = rest.split(',').next()?.trim();
    (!list.is_empty()).then_some(list)
}

// === impl Header ===

impl<'a> Header<'a> {
    /// A request header: its value is trimmed.
    pub(crate) fn trimmed(name: &'a str, value: &'a str) -> Self {
        Self {
            name,
            value,
            as_given: false,
        }
    }

    /// A header the signer adds: written as given.
    pub(crate) fn as_given(name: &'a str, value: &'a str) -> Self {
        Self {
            name,
            value,
            as_given: true,
        }
    }
}

/// The host a request is signed for: its `Host` header if it has one, else the URI's
/// authority without a default port, which is what an HTTP/1.1 client sends as `Host`.
pub(crate) fn signed_host<'a>(
    uri: &'a Uri,
    headers: &'a HeaderMap,
) -> Result<SignedHost<'a>, Error> {
    let mut hosts = headers.get_all(HOST).iter();
    if let Some(host) = hosts.next() {
        if hosts.next().is_some() {
            return Err(Error::invalid_uri("request has more than one Host header"));
        }
        let host = host
            .to_str()
            .map_err(|_| Error::invalid_header_value(HOST.as_str()))?;
        return Ok(SignedHost {
            host,
            from_header: true,
        });
    }
    let authority = uri.authority().ok_or_else(Error::missing_authority)?;
    let default_port = match uri.scheme() {
        Some(s) if *s == Scheme::HTTPS => Some(443),
        Some(s) if *s == Scheme::HTTP => Some(80),
        _ => None,
    };
    let port = authority.port_u16();
    let host = if port.is_some() && port == default_port {
        authority.host()
    } else {
        authority.as_str()
    };
    Ok(SignedHost {
        host,
        from_header: false,
    })
}

/// The path of an origin-form request target (`/path`, also in absolute-form URIs). The
/// other two forms have no path that SigV4 can sign.
fn origin_form_path(uri: &Uri) -> Result<&str, Error> {
    match uri.path() {
        path if path.starts_with('/') => Ok(path),
        "*" => Err(Error::invalid_uri(
            "it is asterisk-form (`*`, as in `OPTIONS *`), which SigV4 cannot sign; \
             request a path such as `/` instead",
        )),
        _ => Err(Error::invalid_uri(
            "it is authority-form (`host:port`, as in `CONNECT`), which has no path \
             for SigV4 to sign",
        )),
    }
}

/// The query's `key=value` pairs, decoded and encoded again, sorted.
fn write_query(out: &mut impl Sink, raw: &str) {
    if is_canonical_query(raw) {
        out.write(raw);
        return;
    }
    let mut pairs: SmallVec<[(Cow<'_, str>, Cow<'_, str>); 8]> = SmallVec::new();
    for pair in raw.split('&').filter(|pair| !pair.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        pairs.push((query_component(key), query_component(value)));
    }
    pairs.sort_unstable();
    for (i, (key, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.write("&");
        }
        out.write(key);
        out.write("=");
        out.write(value);
    }
}

/// Whether `raw` is its own canonical form: `key=value` pairs with one `=` each, of bytes
/// that decoding and encoding both leave as they are, already in sorted order. Most
/// queries are, and copying them saves splitting, checking and sorting the pairs: 5-6% of
/// a `sigv4/get+token` signature, nearly all of the query's share (`benches/query_order.rs`).
pub(crate) fn is_canonical_query(raw: &str) -> bool {
    // One pass over the bytes: `split` and `split_once` searched each pair twice.
    let bytes = raw.as_bytes();
    let mut previous: Option<(&[u8], &[u8])> = None;
    let (mut start, mut equals) = (0, None);
    for i in 0..=bytes.len() {
        match bytes.get(i) {
            Some(b'=') if equals.is_none() => equals = Some(i),
            Some(b'&') | None => {
                let Some(e) = equals else {
                    return false;
                };
                let pair = (&bytes[start..e], &bytes[e + 1..i]);
                if previous > Some(pair) {
                    return false;
                }
                previous = Some(pair);
                (start, equals) = (i + 1, None);
            }
            Some(&b) if BASE_SET[usize::from(b)] => return false,
            Some(_) => {}
        }
    }
    true
}

/// `form_urlencoded` decoding (with `+` kept literal, see the module docs), then smithy's
/// query encoding.
fn query_component(raw: &str) -> Cow<'_, str> {
    if raw.bytes().all(|b| !BASE_SET[usize::from(b)]) {
        // Unreserved bytes only: decoding and encoding both leave it as it is.
        return Cow::Borrowed(raw);
    }
    let decoded = percent_decode(raw.as_bytes()).decode_utf8_lossy();
    let mut encoded = String::with_capacity(3 * decoded.len());
    write_encoded(&mut encoded, &decoded, &BASE_SET);
    Cow::Owned(encoded)
}

const fn encode_set(extra: &[u8]) -> [bool; 256] {
    // percent-encoding's CONTROLS plus every non-ASCII byte (always encoded).
    let mut set = [false; 256];
    let mut b = 0;
    while b < 256 {
        set[b] = b < 0x20 || b >= 0x7f;
        b += 1;
    }
    let mut i = 0;
    while i < extra.len() {
        set[extra[i] as usize] = true;
        i += 1;
    }
    set
}

/// `%XX` for every byte, back to back: the escape of `b` is `ESCAPES[3 * b..][..3]`.
const ESCAPES: &str = {
    const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";
    const BYTES: [u8; 768] = {
        let mut bytes = [0; 768];
        let mut b = 0;
        while b < 256 {
            bytes[3 * b] = b'%';
            bytes[3 * b + 1] = HEX_UPPER[b >> 4];
            bytes[3 * b + 2] = HEX_UPPER[b & 0xf];
            b += 1;
        }
        bytes
    };
    match std::str::from_utf8(&BYTES) {
        Ok(escapes) => escapes,
        Err(_) => panic!("ASCII only"),
    }
};

fn write_encoded(out: &mut impl Sink, value: &str, set: &[bool; 256]) {
    // Every non-ASCII byte is in `set`, so runs of unencoded bytes are ASCII and the
    // slices below always fall on char boundaries.
    let mut start = 0;
    for (i, &b) in value.as_bytes().iter().enumerate() {
        if set[usize::from(b)] {
            // Inside a multi-byte char `start..i` is empty but not on a boundary.
            if start < i {
                out.write(&value[start..i]);
            }
            out.write(&ESCAPES[3 * usize::from(b)..][..3]);
            start = i + 1;
        }
    }
    if start < value.len() {
        out.write(&value[start..]);
    }
}

/// Spaces trimmed at both ends and runs of spaces made one (aws-sigv4 `trim_all`; only
/// `' '`, not tabs).
fn write_trimmed(out: &mut impl Sink, value: &str) {
    // Most values have no space at all: a `memchr` answers that, where searching for two
    // spaces with `contains("  ")` cost about 4% of a signature.
    if !value.as_bytes().contains(&b' ') {
        out.write(value);
        return;
    }
    for (i, word) in value.split(' ').filter(|word| !word.is_empty()).enumerate() {
        if i > 0 {
            out.write(" ");
        }
        out.write(word);
    }
}

/// aws-sigv4 `normalize_uri_path` (RFC 3986 5.2.4 dot-segment removal, `//` merged), then
/// the greedy label encoding. `path` starts with `/`.
fn write_normalized_encoded_path(out: &mut impl Sink, path: &str) {
    if !(path.contains('.') || path.contains("//")) {
        write_encoded(out, path, &GREEDY_SET);
        return;
    }
    let mut segments: SmallVec<[&str; 16]> = SmallVec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            segment => segments.push(segment),
        }
    }
    for segment in &segments {
        out.write("/");
        write_encoded(out, segment, &GREEDY_SET);
    }
    let ends_with_slash = ["/", "/.", "/./", "/..", "/../"]
        .iter()
        .any(|s| path.ends_with(s));
    if segments.is_empty() || ends_with_slash {
        out.write("/");
    }
}
