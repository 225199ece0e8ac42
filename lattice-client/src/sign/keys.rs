//! What signing derives from credentials (the signing keys, and the session token as a
//! header value), kept in the one cache a [`SigningConfig`](crate::SigningConfig) owns.
//!
//! Deriving a SigV4 key costs four HMACs, and a SigV4A key a KDF plus a P-256 key-pair
//! set-up, where a signature with a ready key costs one HMAC or one ECDSA signature. The
//! cache follows the Go SDK v2 signer's `derivedKeyCache`
//! (`aws/signer/internal/v4/cache.go`):
//!
//! - **Owner**: the configuration, shared by its clones and by the `Signer`s built on it.
//! - **Key**: the credentials (access key id, session token, and a keyed hash of the
//!   secret, so a secret rotated under the same key id gets a new key) and, for a SigV4 key,
//!   the day, region and service it signs for.
//! - **Invalidation**: none. The key holds everything an entry is derived from, so an entry
//!   is either right or never found again. The cache keeps its [`CAPACITY`] newest entries
//!   (a few regions across a day boundary or a credentials refresh); adding one more drops
//!   the oldest.
//!
//! The session token's header value is kept with the key because building it checks and
//! copies the whole token: 3-4% of a `sigv4/get+token` signature (`bench/README.md`).
//! Neither a key, the token nor the secret's hash is ever printed.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::BuildHasher;
use std::sync::Arc;

use arc_swap::ArcSwap;
use aws_credential_types::Credentials;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair};
use hmac::{KeyInit, Mac};
use http::HeaderValue;
use zeroize::Zeroizing;

use super::scope::Timestamp;
use super::string_to_sign::{SIGV4A, StringToSign};
use crate::error::Error;

/// HMAC-SHA256 from RustCrypto rather than aws-lc: its keyed state is the two SHA-256
/// states after the padded key, so a signature clones 144 bytes and hashes only the
/// message, where aws-lc copies its ~1.2 KiB `HMAC_CTX` per tag. The `zeroize` feature
/// wipes dropped states.
type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// How many entries the cache keeps.
const CAPACITY: usize = 8;

/// The cache of what signing derives from credentials. See the [module docs](self).
pub(crate) struct SigningKeys {
    /// Oldest first. Signing reads a snapshot without locking; a new entry replaces it.
    entries: ArcSwap<Vec<Entry>>,
    /// Random per cache, so the secret's hash is no stable fingerprint.
    secret_hasher: RandomState,
}

/// A SigV4 signing key, ready to tag strings to sign.
#[derive(Clone)]
pub(crate) struct V4Key(HmacSha256);

#[derive(Clone)]
struct Entry {
    access_key_id: Box<str>,
    secret_hash: u64,
    /// Sensitive, and `None` without a session token. Also part of the key: compared with
    /// the credentials' token.
    security_token: Option<HeaderValue>,
    /// `None` for a SigV4A key, which is valid for every day and region.
    v4_scope: Option<V4Scope>,
    key: Key,
}

#[derive(Clone, PartialEq, Eq)]
struct V4Scope {
    day: u64,
    region: Box<str>,
    service: Box<str>,
}

#[derive(Clone)]
enum Key {
    V4(V4Key),
    V4a(Arc<EcdsaKeyPair>),
}

// === impl SigningKeys ===

impl SigningKeys {
    pub(crate) fn new() -> Self {
        Self {
            entries: ArcSwap::from_pointee(Vec::new()),
            secret_hasher: RandomState::new(),
        }
    }

    /// `sign` with the SigV4 key of `credentials` for the day of `time`, the region and
    /// the service, and with their session token's header value.
    pub(crate) fn with_v4<R>(
        &self,
        credentials: &Credentials,
        time: &Timestamp,
        region: &str,
        service: &str,
        sign: impl FnOnce(&V4Key, Option<&HeaderValue>) -> R,
    ) -> Result<R, Error> {
        let day = time.day();
        let secret_hash = self.secret_hash(credentials);
        let entries = self.entries.load();
        let found = entries.iter().rev().find(|e| {
            self.is_for(e, credentials, secret_hash)
                && e.v4_scope
                    .as_ref()
                    .is_some_and(|s| s.day == day && *s.region == *region && *s.service == *service)
        });
        if let Some(Entry {
            key: Key::V4(key),
            security_token,
            ..
        }) = found
        {
            return Ok(sign(key, security_token.as_ref()));
        }
        let key = derive_v4(
            credentials.secret_access_key(),
            time.date(),
            region,
            service,
        );
        let security_token = security_token(credentials)?;
        let signed = sign(&key, security_token.as_ref());
        let scope = V4Scope {
            day,
            region: region.into(),
            service: service.into(),
        };
        self.insert(
            credentials,
            secret_hash,
            Some(scope),
            Key::V4(key),
            security_token,
        );
        Ok(signed)
    }

    /// `sign` with the SigV4A key pair of `credentials`, and with their session token's
    /// header value.
    pub(crate) fn with_v4a<R>(
        &self,
        credentials: &Credentials,
        sign: impl FnOnce(&EcdsaKeyPair, Option<&HeaderValue>) -> R,
    ) -> Result<R, Error> {
        let secret_hash = self.secret_hash(credentials);
        let entries = self.entries.load();
        let found = entries
            .iter()
            .rev()
            .find(|e| self.is_for(e, credentials, secret_hash) && e.v4_scope.is_none());
        if let Some(Entry {
            key: Key::V4a(key),
            security_token,
            ..
        }) = found
        {
            return Ok(sign(key, security_token.as_ref()));
        }
        let key = Arc::new(derive_v4a(credentials).map_err(Error::signing)?);
        let security_token = security_token(credentials)?;
        let signed = sign(&key, security_token.as_ref());
        self.insert(
            credentials,
            secret_hash,
            None,
            Key::V4a(key),
            security_token,
        );
        Ok(signed)
    }

    fn secret_hash(&self, credentials: &Credentials) -> u64 {
        self.secret_hasher.hash_one(credentials.secret_access_key())
    }

    /// Whether `entry` was derived from `credentials`.
    fn is_for(&self, entry: &Entry, credentials: &Credentials, secret_hash: u64) -> bool {
        let token = credentials.session_token().map(str::as_bytes);
        entry.secret_hash == secret_hash
            && *entry.access_key_id == *credentials.access_key_id()
            && entry.security_token.as_ref().map(HeaderValue::as_bytes) == token
    }

    /// Two threads that derive the same key at once both add it; the copy is harmless.
    fn insert(
        &self,
        credentials: &Credentials,
        secret_hash: u64,
        v4_scope: Option<V4Scope>,
        key: Key,
        security_token: Option<HeaderValue>,
    ) {
        let entry = Entry {
            access_key_id: credentials.access_key_id().into(),
            secret_hash,
            security_token,
            v4_scope,
            key,
        };
        self.entries.rcu(|entries| {
            let skip = (entries.len() + 1).saturating_sub(CAPACITY);
            let mut next: Vec<Entry> = entries.iter().skip(skip).cloned().collect();
            next.push(entry.clone());
            next
        });
    }
}

impl fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKeys")
            .field("entries", &self.entries.load().len())
            .finish_non_exhaustive()
    }
}

/// The `x-amz-security-token` value of `credentials`, if they have a session token.
fn security_token(credentials: &Credentials) -> Result<Option<HeaderValue>, Error> {
    let Some(token) = credentials.session_token() else {
        return Ok(None);
    };
    let mut value = HeaderValue::from_str(token)
        .map_err(|_| Error::signing("the session token is not a valid header value"))?;
    value.set_sensitive(true);
    Ok(Some(value))
}

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
fn derive_v4(secret: &str, date: &str, region: &str, service: &str) -> V4Key {
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

fn derive_v4a(credentials: &Credentials) -> Result<EcdsaKeyPair, &'static str> {
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
