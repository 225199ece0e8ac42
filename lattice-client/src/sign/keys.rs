//! Signing keys, derived from credentials: SigV4's HMAC chain and SigV4A's KDF. The cache
//! that keeps them is `super::cache`.

use aws_credential_types::Credentials;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair};
use hmac::{KeyInit, Mac};
use zeroize::Zeroizing;

use super::string_to_sign::{SIGV4A, StringToSign};

/// HMAC-SHA256 from RustCrypto rather than aws-lc: its keyed state is the two SHA-256
/// states after the padded key, so a signature clones 144 bytes and hashes only the
/// message, where aws-lc copies its ~1.2 KiB `HMAC_CTX` per tag. The `zeroize` feature
/// wipes dropped states.
type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// A SigV4 signing key, ready to tag strings to sign.
#[derive(Clone)]
pub(crate) struct V4Key(HmacSha256);

// === impl V4Key ===

impl V4Key {
    /// The SigV4 signature: the HMAC of the string to sign.
    pub(crate) fn sign(&self, string_to_sign: &StringToSign<'_>) -> [u8; 32] {
        let mut mac = self.0.clone();
        for part in string_to_sign.parts() {
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }

    fn tag(&self, message: &[u8]) -> [u8; 32] {
        self.0
            .clone()
            .chain_update(message)
            .finalize()
            .into_bytes()
            .into()
    }
}

/// `HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request")`.
pub(crate) fn derive_v4(secret: &str, date: &str, region: &str, service: &str) -> V4Key {
    let mut k_secret = Zeroizing::new(Vec::with_capacity(4 + secret.len()));
    k_secret.extend_from_slice(b"AWS4");
    k_secret.extend_from_slice(secret.as_bytes());
    let mut key = keyed(&k_secret);
    for part in [date, region, service, "aws4_request"] {
        let tag = Zeroizing::new(key.tag(part.as_bytes()));
        key = keyed(tag.as_ref());
    }
    key
}

fn keyed(key: &[u8]) -> V4Key {
    V4Key(
        <HmacSha256 as KeyInit>::new_from_slice(key)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length")),
    )
}

pub(crate) fn derive_v4a(credentials: &Credentials) -> Result<EcdsaKeyPair, &'static str> {
    let scalar = v4a_private_scalar(credentials.access_key_id(), credentials.secret_access_key())?;
    let der = sec1_der(&scalar);
    EcdsaKeyPair::from_private_key_der(&ECDSA_P256_SHA256_ASN1_SIGNING, der.as_ref())
        .map_err(|_| "the SigV4A private key was rejected")
}

/// The P-256 order minus 2: the KDF accepts a candidate `k0 <= n - 2` and uses `k0 + 1`.
const ORDER_MINUS_2: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x4f,
];

/// aws-sigv4 `v4a::generate_signing_key`: NIST SP 800-108 counter-mode KDF with
/// HMAC-SHA256 over `"AWS4A" + secret`, fixed input
/// `i32(1) || "AWS4-ECDSA-P256-SHA256" || 0 || access_key_id || counter || i32(256)`.
pub(crate) fn v4a_private_scalar(
    access_key_id: &str,
    secret: &str,
) -> Result<Zeroizing<[u8; 32]>, &'static str> {
    let mut input_key = Zeroizing::new(Vec::with_capacity(5 + secret.len()));
    input_key.extend_from_slice(b"AWS4A");
    input_key.extend_from_slice(secret.as_bytes());
    let key = keyed(&input_key);

    let mut fixed = Vec::with_capacity(4 + SIGV4A.len() + 1 + access_key_id.len() + 1 + 4);
    for counter in 1..=u8::MAX {
        fixed.clear();
        fixed.extend_from_slice(&1i32.to_be_bytes());
        fixed.extend_from_slice(SIGV4A.as_bytes());
        fixed.push(0);
        fixed.extend_from_slice(access_key_id.as_bytes());
        fixed.push(counter);
        fixed.extend_from_slice(&256i32.to_be_bytes());
        let mut k0 = Zeroizing::new(key.tag(&fixed));
        // Big-endian byte arrays of equal length compare like the numbers they encode.
        if *k0 <= ORDER_MINUS_2 {
            for byte in k0.iter_mut().rev() {
                let (sum, carry) = byte.overflowing_add(1);
                *byte = sum;
                if !carry {
                    break;
                }
            }
            return Ok(k0);
        }
    }
    Err("the SigV4A key derivation found no valid scalar")
}

/// RFC 5915 `ECPrivateKey` for a P-256 scalar, without the optional public key.
fn sec1_der(scalar: &[u8; 32]) -> Zeroizing<[u8; 51]> {
    const PREFIX: [u8; 7] = [0x30, 0x31, 0x02, 0x01, 0x01, 0x04, 0x20];
    // [0] { OID prime256v1 1.2.840.10045.3.1.7 }
    const SUFFIX: [u8; 12] = [
        0xa0, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07,
    ];
    let mut der = Zeroizing::new([0; 51]);
    der[..7].copy_from_slice(&PREFIX);
    der[7..39].copy_from_slice(scalar);
    der[39..].copy_from_slice(&SUFFIX);
    der
}
