//! The string to sign:
//! `{algorithm}\n{date_time}\n{credential scope}\n{hex(SHA-256(canonical request))}`.

use super::scope::CredentialScope;

pub(crate) const SIGV4: &str = "AWS4-HMAC-SHA256";
pub(crate) const SIGV4A: &str = "AWS4-ECDSA-P256-SHA256";

/// The string to sign in consecutive pieces: SigV4 feeds them to its HMAC one by one
/// (joining them first cost an allocation), SigV4A joins them for ECDSA.
#[derive(Debug)]
pub(crate) struct StringToSign<'a>([&'a [u8]; 12]);

// === impl StringToSign ===

impl<'a> StringToSign<'a> {
    /// `canonical_request_hash` is the lowercase hex of the canonical request's SHA-256.
    pub(crate) fn new(
        algorithm: &'a str,
        date_time: &'a str,
        scope: &CredentialScope<'a>,
        canonical_request_hash: &'a [u8],
    ) -> Self {
        let [date, slash, region, region_slash, service, end] = scope.parts();
        Self([
            algorithm.as_bytes(),
            b"\n",
            date_time.as_bytes(),
            b"\n",
            date.as_bytes(),
            slash.as_bytes(),
            region.as_bytes(),
            region_slash.as_bytes(),
            service.as_bytes(),
            end.as_bytes(),
            b"\n",
            canonical_request_hash,
        ])
    }

    pub(crate) fn parts(&self) -> &[&'a [u8]] {
        &self.0
    }

    /// The whole string.
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        self.0.concat()
    }
}

/// Both lowercase hex digits of every byte: one lookup per byte instead of two.
const HEX_PAIRS: [[u8; 2]; 256] = {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut pairs = [[0; 2]; 256];
    let mut b = 0;
    while b < 256 {
        pairs[b] = [HEX[b >> 4], HEX[b & 0xf]];
        b += 1;
    }
    pairs
};

/// Lowercase hex of `bytes` into `out` (twice as long), as bytes: every use hashes or
/// copies them, so a UTF-8 check would be wasted.
pub(crate) fn hex_into<'o>(bytes: &[u8], out: &'o mut [u8]) -> &'o [u8] {
    for (pair, b) in out.chunks_exact_mut(2).zip(bytes) {
        pair.copy_from_slice(&HEX_PAIRS[usize::from(*b)]);
    }
    let len = (bytes.len() * 2).min(out.len());
    &out[..len]
}
