//! The canonical request, written straight into reused buffers.
//!
//! Mirrors `aws-sigv4` 1.6 `http_request/canonical_request.rs` for header signing with
//! `UNSIGNED-PAYLOAD` and `x-amz-content-sha256`:
//! - path: `normalize_uri_path` then `label::fmt_string(.., Greedy)` (double encoding), or
//!   the path as sent (single encoding);
//! - query: `form_urlencoded::parse`, each key and value re-encoded with smithy's
//!   `BASE_SET`, sorted by encoded key then value. A literal `+` is taken as `%2B`, which is
//!   what the signer feeds aws-sigv4 (see `signable_path_and_query`);
//! - headers: values trimmed of spaces (runs of spaces become one), duplicates joined with
//!   `,` in request order, names sorted.

use std::borrow::Cow;
use std::cmp::Ordering;

use aws_credential_types::Credentials;
use http::HeaderValue;
use percent_encoding::percent_decode;
use sha2::{Digest, Sha256};

/// smithy `urlencode::BASE_SET`: every byte but `ALPHA DIGIT - . _ ~` (spelled out as
/// smithy does, so a reader can compare the two lists).
const BASE_SET: [bool; 256] = encode_set(b" /:,?#[]{}|@!$&'()*+;=%<>\"^`\\");
/// smithy `label` `GREEDY`: `BASE_SET` without `/`.
const GREEDY_SET: [bool; 256] = {
    let mut set = BASE_SET;
    set[b'/' as usize] = false;
    set
};

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

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";
const HEX_LOWER: &[u8; 16] = b"0123456789abcdef";

/// The signer-owned headers that enter the canonical request, in name order. Their values
/// are written as given (aws-sigv4 inserts them without trimming).
pub(crate) type Extra<'a> = (&'static str, &'a str);

/// The first header of the canonical request whose value changes with time; `sign` passes
/// it among the extras under this name.
pub(crate) const TIME_DEPENDENT_HEADER: &str = "x-amz-date";

/// Reused buffers for one signature. Each thread keeps one (see `fast::with_scratch`).
#[derive(Default)]
pub(crate) struct Scratch {
    /// The canonical request. It holds header values, the session token among them, until
    /// the next signature overwrites it: the same token sits in the credentials cache and
    /// on every request, and wiping ~1 KiB per signature cost 5-10% of the fast path.
    pub(crate) creq: String,
    /// `SignedHeaders`: `host;x-amz-date;..`.
    pub(crate) signed: String,
    /// The SigV4A string to sign (SigV4 hashes its parts without writing them out).
    pub(crate) sts: Vec<u8>,
    /// Encoded query pairs, back to back.
    query: String,
    /// `(start, key_end, value_end)` into `query`.
    pairs: Vec<(usize, usize, usize)>,
    /// Header values that repeat from one request to the next.
    pub(crate) values: ValueCache,
    /// Where `x-amz-date`'s value starts in `creq`: every byte before it is the same
    /// whenever the request is (method, path, query, the headers that sort first).
    time_start: usize,
    /// The hash state over the last canonical request's leading blocks.
    head: HashedHead,
}

/// SHA-256 over the whole 64-byte blocks of a canonical request before its first
/// time-dependent byte, with those bytes. A client calling one endpoint over and over
/// (a gRPC method, a health check) repeats them on every request, and the Lattice `host`
/// header alone is more than a block long: reusing the state skips those blocks (two of
/// the bench's `sigv4/get+token` request's fourteen). The bytes are compared in full
/// before the state is reused, so a hit is exact. Like `creq`, they may hold header
/// values until the next signature.
#[derive(Default)]
struct HashedHead {
    bytes: Vec<u8>,
    /// `None` until the first head is hashed (`Sha256::new` is not `const`).
    state: Option<Sha256>,
}

/// The last `x-amz-date` and `x-amz-security-token` values: requests signed within the
/// same second, or with the same credentials, share them (a `HeaderValue` clone is a
/// reference count, where building one validates and copies ~1 KiB of token).
#[derive(Default)]
pub(crate) struct ValueCache {
    date: Option<HeaderValue>,
    /// Sensitive, like the credentials it comes from; never printed. The credentials are
    /// kept with it so that the same ones are recognized by address.
    token: Option<(Credentials, HeaderValue)>,
}

// === impl ValueCache ===

impl ValueCache {
    const fn new() -> Self {
        Self {
            date: None,
            token: None,
        }
    }

    // Both write into `out` rather than return a `Result<HeaderValue, _>`: the copies of
    // those on the way out stalled the CPU (a store-to-load forwarding miss on the value's
    // flag byte), which was a measurable share of a signature.

    /// The `x-amz-date` value.
    pub(crate) fn date(
        &mut self,
        date_time: &str,
        out: &mut Option<HeaderValue>,
    ) -> Result<(), &'static str> {
        if let Some(cached) = self
            .date
            .as_ref()
            .filter(|c| c.as_bytes() == date_time.as_bytes())
        {
            *out = Some(cached.clone());
            return Ok(());
        }
        let fresh = HeaderValue::from_str(date_time).map_err(|_| "invalid date")?;
        *out = Some(self.date.insert(fresh).clone());
        Ok(())
    }

    /// The `x-amz-security-token` value for `credentials`, if they have a session token.
    pub(crate) fn security_token(
        &mut self,
        credentials: &Credentials,
        out: &mut Option<HeaderValue>,
    ) -> Result<(), &'static str> {
        let Some(token) = credentials.session_token() else {
            *out = None;
            return Ok(());
        };
        if let Some((held, value)) = &self.token
            && super::same_text(held.session_token().unwrap_or_default(), token)
        {
            *out = Some(value.clone());
            return Ok(());
        }
        let mut fresh = HeaderValue::from_str(token)
            .map_err(|_| "the session token is not a valid header value")?;
        fresh.set_sensitive(true);
        *out = Some(fresh.clone());
        self.token = Some((credentials.clone(), fresh));
        Ok(())
    }
}

// === impl Scratch ===

impl Scratch {
    pub(crate) const fn new() -> Self {
        Self {
            creq: String::new(),
            signed: String::new(),
            sts: Vec::new(),
            query: String::new(),
            pairs: Vec::new(),
            values: ValueCache::new(),
            time_start: 0,
            head: HashedHead {
                bytes: Vec::new(),
                state: None,
            },
        }
    }

    /// SHA-256 of `self.creq`, the canonical request just written.
    pub(crate) fn creq_hash(&mut self) -> [u8; 32] {
        let creq = self.creq.as_bytes();
        let head_len = self.time_start.min(creq.len()) / 64 * 64;
        let (head, tail) = creq.split_at(head_len);
        let mut hasher = match &self.head.state {
            _ if head.is_empty() => Sha256::new(),
            Some(state) if self.head.bytes == head => state.clone(),
            _ => {
                let mut state = Sha256::new();
                state.update(head);
                self.head.bytes.clear();
                self.head.bytes.extend_from_slice(head);
                self.head.state = Some(state.clone());
                state
            }
        };
        hasher.update(tail);
        hasher.finalize().into()
    }

    /// Write the canonical request into `self.creq` and the signed-header list into
    /// `self.signed`. `headers` must not contain the names in `extras`; the signer removes
    /// them from requests first.
    pub(crate) fn canonical_request(
        &mut self,
        method: &str,
        path: &str,
        query: Option<&str>,
        double_encode_path: bool,
        headers: &mut [(&str, &str)],
        extras: &[Extra<'_>],
    ) {
        self.creq.clear();
        self.signed.clear();
        self.time_start = 0;
        self.creq.push_str(method);
        self.creq.push('\n');
        if double_encode_path {
            write_normalized_encoded_path(&mut self.creq, path);
        } else {
            self.creq.push_str(path);
        }
        self.creq.push('\n');
        self.write_query(query.unwrap_or_default());
        self.creq.push('\n');
        self.write_headers(headers, extras);
        self.creq.push('\n');
        self.creq.push_str(&self.signed);
        self.creq.push('\n');
        self.creq.push_str(super::UNSIGNED_PAYLOAD);
    }

    fn write_query(&mut self, raw: &str) {
        if is_canonical_query(raw) {
            self.creq.push_str(raw);
        } else {
            self.write_sorted_query(raw);
        }
    }

    /// Decode, re-encode and sort the pairs of `raw`.
    fn write_sorted_query(&mut self, raw: &str) {
        self.query.clear();
        self.pairs.clear();
        for pair in raw.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let start = self.query.len();
            write_query_component(&mut self.query, key);
            let key_end = self.query.len();
            write_query_component(&mut self.query, value);
            self.pairs.push((start, key_end, self.query.len()));
        }
        let query = &self.query;
        let part = |&(s, k, e): &(usize, usize, usize)| (&query[s..k], &query[k..e]);
        self.pairs.sort_unstable_by(|a, b| part(a).cmp(&part(b)));
        for (i, pair) in self.pairs.iter().enumerate() {
            let (key, value) = part(pair);
            if i > 0 {
                self.creq.push('&');
            }
            self.creq.push_str(key);
            self.creq.push('=');
            self.creq.push_str(value);
        }
    }

    fn write_headers(&mut self, headers: &mut [(&str, &str)], extras: &[Extra<'_>]) {
        // Stable: values of a repeated header stay in request order, as HeaderMap keeps them.
        headers.sort_by(|a, b| a.0.cmp(b.0));
        let mut extras = extras.iter().peekable();
        let mut i = 0;
        loop {
            // Merge the two sorted lists; names never repeat across them.
            let take_extra = match (headers.get(i), extras.peek()) {
                (None, None) => break,
                (Some(_), None) => false,
                (None, Some(_)) => true,
                (Some(h), Some(e)) => e.0.cmp(h.0) == Ordering::Less,
            };
            if take_extra {
                if let Some((name, value)) = extras.next() {
                    self.start_header(name);
                    if *name == TIME_DEPENDENT_HEADER {
                        self.time_start = self.creq.len();
                    }
                    self.creq.push_str(value);
                    self.creq.push('\n');
                }
                continue;
            }
            let name = headers[i].0;
            self.start_header(name);
            let mut first = true;
            while let Some(&(n, value)) = headers.get(i) {
                if n != name {
                    break;
                }
                if !first {
                    self.creq.push(',');
                }
                first = false;
                write_trimmed(&mut self.creq, value);
                i += 1;
            }
            self.creq.push('\n');
        }
    }

    fn start_header(&mut self, name: &str) {
        if !self.signed.is_empty() {
            self.signed.push(';');
        }
        self.signed.push_str(name);
        self.creq.push_str(name);
        self.creq.push(':');
    }

    /// Drop oversized buffers (a one-off huge request).
    pub(crate) fn finish(&mut self) {
        const KEEP: usize = 16 * 1024;
        for buffer in [&mut self.creq, &mut self.signed, &mut self.query] {
            if buffer.capacity() > KEEP {
                *buffer = String::new();
            }
        }
        if self.sts.capacity() > KEEP {
            self.sts = Vec::new();
        }
        if self.head.bytes.capacity() > KEEP {
            self.head = HashedHead::default();
        }
        if self.pairs.capacity() > KEEP / 16 {
            self.pairs = Vec::new();
        }
    }
}

/// Whether `raw` is its own canonical form: `key=value` pairs with one `=` each, of bytes
/// that decoding and encoding both leave as they are, already in sorted order. Most
/// queries are, and are then copied as they are instead of being split, re-encoded and
/// sorted: 3-7% of a `sigv4/get+token` signature (`benches/query_order.rs`).
fn is_canonical_query(raw: &str) -> bool {
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
fn write_query_component(out: &mut String, raw: &str) {
    if raw.bytes().all(|b| !BASE_SET[usize::from(b)]) {
        // Unreserved bytes only: decoding and encoding both leave it as is.
        out.push_str(raw);
        return;
    }
    let decoded: Cow<'_, str> = percent_decode(raw.as_bytes()).decode_utf8_lossy();
    write_encoded(out, &decoded, &BASE_SET);
}

fn write_encoded(out: &mut String, value: &str, set: &[bool; 256]) {
    // Every non-ASCII byte is in `set`, so runs of unencoded bytes are ASCII and the
    // slices below always fall on char boundaries.
    let mut start = 0;
    for (i, &b) in value.as_bytes().iter().enumerate() {
        if set[usize::from(b)] {
            if start < i {
                out.push_str(&value[start..i]);
            }
            out.push('%');
            out.push(char::from(HEX_UPPER[usize::from(b >> 4)]));
            out.push(char::from(HEX_UPPER[usize::from(b & 0xf)]));
            start = i + 1;
        }
    }
    if start < value.len() {
        out.push_str(&value[start..]);
    }
}

/// Spaces trimmed at both ends and runs of spaces made one (aws-sigv4 `trim_all`; only
/// `' '`, not tabs).
fn write_trimmed(out: &mut String, value: &str) {
    let value = value.trim_matches(' ');
    if !value.contains("  ") {
        out.push_str(value);
        return;
    }
    let mut previous_space = false;
    for c in value.chars() {
        let space = c == ' ';
        if !(space && previous_space) {
            out.push(c);
        }
        previous_space = space;
    }
}

/// aws-sigv4 `normalize_uri_path` (RFC 3986 5.2.4 dot-segment removal, `//` merged), then
/// the greedy label encoding. `path` starts with `/` (checked by the caller).
fn write_normalized_encoded_path(out: &mut String, path: &str) {
    if path.is_empty() {
        out.push('/');
        return;
    }
    if !(path.contains('.') || path.contains("//")) {
        write_encoded(out, path, &GREEDY_SET);
        return;
    }
    // Build the normalized path in place at the end of `out`: `/seg/seg`, popping on `..`.
    let base = out.len();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                let last = out[base..].rfind('/').map_or(base, |i| base + i);
                out.truncate(last);
            }
            segment => {
                out.push('/');
                write_encoded(out, segment, &GREEDY_SET);
            }
        }
    }
    if out.len() == base {
        out.push('/');
    }
    let ends_with_slash = ["/", "/.", "/./", "/..", "/../"]
        .iter()
        .any(|s| path.ends_with(s));
    if ends_with_slash && !out.ends_with('/') {
        out.push('/');
    }
}

/// Both lowercase hex digits of every byte: one lookup per byte instead of two.
const HEX_PAIRS: [[u8; 2]; 256] = {
    let mut pairs = [[0; 2]; 256];
    let mut b = 0;
    while b < 256 {
        pairs[b] = [HEX_LOWER[b >> 4], HEX_LOWER[b & 0xf]];
        b += 1;
    }
    pairs
};

/// Lowercase hex of `bytes` into `out` (twice as long). Bytes, not `&str`: every use
/// hashes or copies them, and a UTF-8 check of known-ASCII text would be wasted.
pub(crate) fn hex_into<'a>(bytes: &[u8], out: &'a mut [u8]) -> &'a [u8] {
    for (pair, b) in out.chunks_exact_mut(2).zip(bytes) {
        pair.copy_from_slice(&HEX_PAIRS[usize::from(*b)]);
    }
    let len = (bytes.len() * 2).min(out.len());
    &out[..len]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_value_follows_the_credentials() {
        let with_token =
            |token: &str| Credentials::new("AKID", "secret", Some(token.to_owned()), None, "t");
        let mut cache = ValueCache::new();
        let first = with_token("token-one");
        let value = |cache: &mut ValueCache, credentials: &Credentials| {
            let mut out = Some(HeaderValue::from_static("stale"));
            cache.security_token(credentials, &mut out).expect("valid");
            out.map(|v| v.as_bytes().to_vec())
        };
        // The same credentials (served by address), equal ones elsewhere (by content), a
        // new token, none at all, and the first token again after a change.
        let steps = [
            (&first, Some("token-one")),
            (&first, Some("token-one")),
            (&with_token("token-one"), Some("token-one")),
            (&with_token("token-two"), Some("token-two")),
            (&Credentials::new("AKID", "secret", None, None, "t"), None),
            (&first, Some("token-one")),
        ];
        for (credentials, expected) in steps {
            let expected = expected.map(|t| t.as_bytes().to_vec());
            assert_eq!(value(&mut cache, credentials), expected);
        }
        let mut sensitive = None;
        cache.security_token(&first, &mut sensitive).expect("valid");
        assert!(sensitive.expect("token").is_sensitive());
        let bad = cache.security_token(&with_token("bad\ntoken"), &mut None);
        assert!(bad.is_err());
    }

    #[test]
    fn the_canonical_request_hash_reuses_only_an_identical_head() {
        const HOST: &str = "orders-0123456789abcdef0.7d67968.vpc-lattice-svcs.us-west-2.on.aws";
        let mut scratch = Scratch::new();
        let mut hash = |method: &str, path: &str, value: &str, date: &str| {
            let mut headers = [("a-header", value), ("host", HOST)];
            let extras = [("x-amz-date", date), ("x-amz-security-token", "token")];
            scratch.canonical_request(method, path, None, false, &mut headers, &extras);
            let expected: [u8; 32] = Sha256::digest(scratch.creq.as_bytes()).into();
            assert_eq!(scratch.creq_hash(), expected, "{}", scratch.creq);
            scratch.head.bytes.len()
        };
        let base = "v".repeat(150);
        // 251 bytes come before the date here, so the head is the first three blocks.
        assert_eq!(hash("GET", "/", &base, "20231114T221320Z"), 192);
        // A new second: the head is reused.
        assert_eq!(hash("GET", "/", &base, "20231114T221321Z"), 192);
        // Each byte of the value changed in turn, the length kept, then back: every
        // position inside and just past the head must miss, or the hash is wrong.
        for at in 0..base.len() {
            let mut changed = base.clone().into_bytes();
            changed[at] = b'w';
            let changed = String::from_utf8(changed).expect("ASCII");
            hash("GET", "/", &changed, "20231114T221321Z");
            hash("GET", "/", &base, "20231114T221321Z");
        }
        // Heads of other lengths, and none at all (shorter than a block).
        hash("POST", "/", &base, "20231114T221321Z");
        hash("GET", "/longer/path", &base, "20231114T221321Z");
        hash("GET", "/", "", "20231114T221321Z");
        let mut short = [("host", "h")];
        scratch.canonical_request("GET", "/", None, false, &mut short, &[("x-amz-date", "d")]);
        let expected: [u8; 32] = Sha256::digest(scratch.creq.as_bytes()).into();
        assert_eq!(scratch.creq_hash(), expected);
    }

    #[test]
    fn only_queries_that_canonicalize_to_themselves_are_copied() {
        let canonical = [
            "id=42&view=full",
            "a=1&a=2&b=",
            "=x&a=",
            "k=-_.~",
            "a=1&a=1",
        ];
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
        for query in canonical {
            assert!(is_canonical_query(query), "{query}");
            // The full canonicalization leaves it unchanged, so copying it is right.
            let mut scratch = Scratch::new();
            scratch.write_sorted_query(query);
            assert_eq!(scratch.creq, query);
        }
        for query in not_canonical {
            assert!(!is_canonical_query(query), "{query}");
        }
    }
}
