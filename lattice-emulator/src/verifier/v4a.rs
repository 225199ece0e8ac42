//! SigV4A (`AWS4-ECDSA-P256-SHA256`) key derivation and signatures.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use hmac::Mac;
use p256::ecdsa::signature::{Signer, Verifier};
use p256::ecdsa::{DerSignature, Signature, SigningKey, VerifyingKey};
use p256::elliptic_curve::PrimeField;
use p256::{FieldBytes, NonZeroScalar, Scalar, Sec1Point};
use sha2::{Digest, Sha256};

use super::v4::mac;

/// Label fixed by the KDF; the same string as the algorithm name.
const KDF_LABEL: &[u8] = b"AWS4-ECDSA-P256-SHA256";

/// Derivations cached before the cache is simply emptied; only known keys get
/// here, so this just bounds memory if a test creates keys in a loop.
const CACHE_LIMIT: usize = 1024;

/// Cache key: access key id plus a digest of the secret, so a rotated secret
/// is never served a stale key and the cache holds no secret material.
type CacheKey = (String, [u8; 32]);

static KEY_CACHE: Mutex<Option<HashMap<CacheKey, VerifyingKey>>> = Mutex::new(None);

/// Derives the SigV4A private key from an access key pair.
///
/// This is the counter-mode HMAC-SHA256 KDF (NIST SP 800-108) of aws-c-auth's
/// `key_derivation.c`: HMAC key `"AWS4A"+secret`, input
/// `00000001 || label || 00 || access_key_id || counter || 00000100`, output
/// read as a big-endian 256-bit `k0`; the first `k0 <= n-2` gives `k0 + 1`.
/// `None` only if all 254 counters fail, which has probability ~2^-8000.
pub fn derive_signing_key(access_key_id: &str, secret_access_key: &str) -> Option<SigningKey> {
    let hmac_key = format!("AWS4A{secret_access_key}");
    for counter in 1..=254u8 {
        let mut m = mac(hmac_key.as_bytes());
        m.update(&1u32.to_be_bytes());
        m.update(KDF_LABEL);
        m.update(&[0]);
        m.update(access_key_id.as_bytes());
        m.update(&[counter]);
        m.update(&256u32.to_be_bytes()); // output length in bits
        let k0 = m.finalize().into_bytes();
        // `from_repr` accepts exactly k0 < n, and `k0 + 1` is non-zero exactly
        // when k0 != n-1, so together they are the `k0 <= n-2` rule.
        let Some(k0) = Option::<Scalar>::from(Scalar::from_repr(k0)) else {
            continue;
        };
        if let Some(private) = Option::<NonZeroScalar>::from(NonZeroScalar::new(k0 + Scalar::ONE)) {
            return Some(SigningKey::from(private));
        }
    }
    None
}

/// The public key for an access key pair, derived once per pair and cached.
pub(crate) fn cached_verifying_key(
    access_key_id: &str,
    secret_access_key: &str,
) -> Option<VerifyingKey> {
    let key = (
        access_key_id.to_owned(),
        Sha256::digest(secret_access_key.as_bytes()).into(),
    );
    // A poisoned lock only means another thread panicked mid-insert; the map
    // is still a valid cache, so keep using it rather than propagate the panic.
    let mut guard = KEY_CACHE.lock().unwrap_or_else(PoisonError::into_inner);
    let cache = guard.get_or_insert_with(HashMap::new);
    if let Some(found) = cache.get(&key) {
        return Some(*found);
    }
    let derived = *derive_signing_key(access_key_id, secret_access_key)?.verifying_key();
    if cache.len() >= CACHE_LIMIT {
        cache.clear();
    }
    cache.insert(key, derived);
    Some(derived)
}

/// The public key from big-endian affine coordinates (as in `public-key.json`).
pub fn verifying_key_from_xy(x: &[u8], y: &[u8]) -> Option<VerifyingKey> {
    // 32 bytes each, or no key.
    let x = <&FieldBytes>::try_from(x).ok()?;
    let y = <&FieldBytes>::try_from(y).ok()?;
    let point = Sec1Point::from_affine_coordinates(x, y, false);
    VerifyingKey::from_sec1_point(&point).ok()
}

/// The big-endian affine coordinates `(x, y)` of a public key.
pub fn public_key_xy(key: &VerifyingKey) -> ([u8; 32], [u8; 32]) {
    let point = key.to_sec1_point(false);
    let mut x = [0u8; 32];
    let mut y = [0u8; 32];
    // An uncompressed point of a valid key always has both coordinates.
    if let (Some(px), Some(py)) = (point.x(), point.y()) {
        x.copy_from_slice(px);
        y.copy_from_slice(py);
    }
    (x, y)
}

/// Whether `signature_der` is a valid ECDSA P-256 signature over
/// SHA-256(`string_to_sign`). `Verifier::verify` does the one SHA-256 itself.
/// High-S signatures are accepted: aws-c-auth does not normalize S.
pub fn verify_signature(key: &VerifyingKey, string_to_sign: &str, signature_der: &[u8]) -> bool {
    match Signature::from_der(signature_der) {
        Ok(sig) => key.verify(string_to_sign.as_bytes(), &sig).is_ok(),
        Err(_) => false,
    }
}

/// Signs `string_to_sign` (SHA-256 then ECDSA), returning lowercase DER hex.
pub fn sign(key: &SigningKey, string_to_sign: &str) -> String {
    let sig: DerSignature = key.sign(string_to_sign.as_bytes());
    hex::encode(sig.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_then_verify_and_tamper() {
        let key = derive_signing_key("AKID", "secret").expect("derivable");
        let sig = hex::decode(sign(&key, "sts")).expect("hex");
        assert!(verify_signature(key.verifying_key(), "sts", &sig));
        assert!(!verify_signature(key.verifying_key(), "sts!", &sig));
        assert!(!verify_signature(key.verifying_key(), "sts", &sig[1..]));
        assert!(!verify_signature(key.verifying_key(), "sts", b""));
    }

    #[test]
    fn cache_follows_the_secret() {
        let a = cached_verifying_key("AKID-cache", "one").expect("derivable");
        let b = cached_verifying_key("AKID-cache", "two").expect("derivable");
        assert_ne!(a, b);
        assert_eq!(Some(a), cached_verifying_key("AKID-cache", "one"));
        let (x, y) = public_key_xy(&a);
        assert_eq!(verifying_key_from_xy(&x, &y), Some(a));
        assert_eq!(verifying_key_from_xy(&x[1..], &y), None);
    }
}
