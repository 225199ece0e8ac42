//! SigV4 (`AWS4-HMAC-SHA256`) key derivation and signatures.

use hmac::digest::Key;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// A MAC keyed with `key`, built through the infallible fixed-size constructor.
///
/// RFC 2104 hashes keys longer than the block and zero-pads shorter ones,
/// which is exactly what `new_from_slice` does; doing it here avoids an
/// `unwrap` on a `Result` that can never be `Err`.
pub(crate) fn mac(key: &[u8]) -> HmacSha256 {
    let mut block = Key::<HmacSha256>::default();
    if key.len() > block.len() {
        let digest = Sha256::digest(key);
        block[..digest.len()].copy_from_slice(&digest);
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    HmacSha256::new(&block)
}

/// `HMAC-SHA256(key, data)`.
pub fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut m = mac(key);
    m.update(data);
    m.finalize().into_bytes().into()
}

/// The SigV4 signing key: HMAC chain `"AWS4"+secret` → date → region → service → `aws4_request`.
pub fn signing_key(secret_access_key: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let k_secret = format!("AWS4{secret_access_key}");
    let k_date = hmac_sha256(k_secret.as_bytes(), date.as_bytes());
    let k_region = hmac_sha256(&k_date, region.as_bytes());
    let k_service = hmac_sha256(&k_region, service.as_bytes());
    hmac_sha256(&k_service, b"aws4_request")
}

/// The lowercase hex signature of `string_to_sign`.
pub fn signature(signing_key: &[u8; 32], string_to_sign: &str) -> String {
    hex::encode(hmac_sha256(signing_key, string_to_sign.as_bytes()))
}

/// Whether `provided` (raw signature bytes, hex-decoded) is the signature of
/// `string_to_sign`, compared in constant time.
pub fn verify_signature(signing_key: &[u8; 32], string_to_sign: &str, provided: &[u8]) -> bool {
    let mut m = mac(signing_key);
    m.update(string_to_sign.as_bytes());
    m.verify_slice(provided).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_matches_new_from_slice_for_every_key_length() {
        for len in 0..=150usize {
            let key: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
            let mut ours = mac(&key);
            let mut reference = HmacSha256::new_from_slice(&key).expect("hmac accepts any key");
            ours.update(b"data");
            reference.update(b"data");
            assert_eq!(
                ours.finalize().into_bytes(),
                reference.finalize().into_bytes(),
                "len {len}"
            );
        }
    }

    #[test]
    fn rfc4231_case_2() {
        let out = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(out),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn verify_rejects_wrong_and_truncated() {
        let key = signing_key("secret", "20150830", "us-east-1", "service");
        let sig = hex::decode(signature(&key, "sts")).expect("hex");
        assert!(verify_signature(&key, "sts", &sig));
        assert!(!verify_signature(&key, "sts2", &sig));
        assert!(!verify_signature(&key, "sts", &sig[..31]));
    }
}
