//! Signing-key caches: the SigV4 HMAC chain runs once per (credentials, day, region,
//! service), the SigV4A KDF and key-pair setup once per credentials.
//!
//! Entries are looked up by access key id plus a keyed hash of the secret (so rotated
//! secrets under the same key id never reuse a stale key). Neither the secret nor the hash
//! is printed anywhere; the types here have no `Debug`.
//!
//! Each thread also remembers the last SigV4 key it used, so the common case (one set of
//! credentials, one region) skips the hash, the lock and the scan.

use std::cell::RefCell;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, PoisonError};

use aws_credential_types::Credentials;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair};
use hmac::{KeyInit, Mac};
use zeroize::Zeroizing;

/// HMAC-SHA256 from RustCrypto rather than aws-lc: its keyed state is the two SHA-256
/// states after the padded key, so a signature clones 144 bytes and hashes only the
/// message, where aws-lc copies its ~1.2 KiB `HMAC_CTX` (three hash-context unions sized
/// for SHA-3's 400 bytes) per tag. The `zeroize` feature wipes dropped states.
type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// A SigV4 signing key, ready to tag strings to sign.
#[derive(Clone)]
pub(crate) struct V4SigningKey(HmacSha256);

impl V4SigningKey {
    /// `HMAC(key, message)`.
    pub(crate) fn tag(&self, message: &[u8]) -> [u8; 32] {
        self.0
            .clone()
            .chain_update(message)
            .finalize()
            .into_bytes()
            .into()
    }
}

/// A handful of regions and a day boundary fit; older entries fall out first.
const V4_CAPACITY: usize = 8;
const V4A_CAPACITY: usize = 4;

/// Per-process random key, so the secret's hash is no stable fingerprint.
static SECRET_HASHER: LazyLock<RandomState> = LazyLock::new(RandomState::new);

static V4_KEYS: Mutex<Vec<V4Entry>> = Mutex::new(Vec::new());
static V4A_KEYS: Mutex<Vec<V4aEntry>> = Mutex::new(Vec::new());

struct V4Entry {
    access_key_id: Box<str>,
    secret_hash: u64,
    day: u64,
    region: Box<str>,
    service: Box<str>,
    key: V4SigningKey,
}

/// The last SigV4 key a thread used. It holds the credentials themselves (a reference
/// count, not a copy of the secret) so that it can compare them without hashing.
struct LastV4 {
    credentials: Credentials,
    day: u64,
    region: Box<str>,
    service: Box<str>,
    key: V4SigningKey,
    /// The key with the string to sign's prefix for one second already absorbed.
    prefix: Option<StringToSignPrefix>,
}

/// `AWS4-HMAC-SHA256\n{date_time}\n{date}/{region}/{service}/aws4_request\n`, absorbed.
/// Every request signed in the same second shares it, and it is longer than a SHA-256
/// block, so keeping the state saves a block of hashing per signature.
struct StringToSignPrefix {
    date_time: [u8; 16],
    state: HmacSha256,
}

thread_local! {
    static LAST_V4: RefCell<Option<LastV4>> = const { RefCell::new(None) };
}

// === impl LastV4 ===

impl LastV4 {
    fn matches(&self, credentials: &Credentials, scope: V4Scope<'_>) -> bool {
        self.day == scope.day
            && *self.region == *scope.region
            && *self.service == *scope.service
            && same_credentials(&self.credentials, credentials)
    }

    fn signature(&mut self, scope: V4Scope<'_>, date_time: &str, creq_hex: &[u8]) -> [u8; 32] {
        let key = &self.key;
        let prefix = match &mut self.prefix {
            Some(prefix) if prefix.date_time == date_time.as_bytes() => prefix,
            slot => slot.insert(StringToSignPrefix::new(key, scope, date_time)),
        };
        prefix
            .state
            .clone()
            .chain_update(creq_hex)
            .finalize()
            .into_bytes()
            .into()
    }
}

impl StringToSignPrefix {
    fn new(key: &V4SigningKey, scope: V4Scope<'_>, date_time: &str) -> Self {
        let mut state = key.0.clone();
        for part in [
            super::V4_ALGORITHM,
            "\n",
            date_time,
            "\n",
            scope.date,
            "/",
            scope.region,
            "/",
            scope.service,
            "/aws4_request\n",
        ] {
            state.update(part.as_bytes());
        }
        let mut stamp = [0; 16];
        // `Timestamp` always formats 16 bytes; anything else never matches a memo.
        if let Some(bytes) = date_time.as_bytes().get(..16) {
            stamp.copy_from_slice(bytes);
        }
        Self {
            date_time: stamp,
            state,
        }
    }
}

/// Whether `held` (which the memo keeps alive) and `given` are the same credentials.
fn same_credentials(held: &Credentials, given: &Credentials) -> bool {
    super::same_text(held.access_key_id(), given.access_key_id())
        && super::same_text(held.secret_access_key(), given.secret_access_key())
}

struct V4aEntry {
    access_key_id: Box<str>,
    secret_hash: u64,
    key: Arc<EcdsaKeyPair>,
}

fn secret_hash(credentials: &Credentials) -> u64 {
    SECRET_HASHER.hash_one(credentials.secret_access_key())
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing panics while holding these locks; a poisoned cache is still consistent.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn push_bounded<T>(cache: &mut Vec<T>, entry: T, capacity: usize) {
    if cache.len() >= capacity {
        cache.remove(0);
    }
    cache.push(entry);
}

/// What a SigV4 signing key is for: a day (`date` is its `YYYYMMDD`), a region, a service.
#[derive(Clone, Copy)]
pub(crate) struct V4Scope<'a> {
    pub(crate) day: u64,
    pub(crate) date: &'a str,
    pub(crate) region: &'a str,
    pub(crate) service: &'a str,
}

/// The SigV4 signature, `HMAC(signing key, string to sign)`, for the string to sign
/// `AWS4-HMAC-SHA256\n{date_time}\n{date}/{region}/{service}/aws4_request\n{creq_hex}`. The
/// signing key `HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service),
/// "aws4_request")` is cached, and the thread's memo also keeps the string to sign's prefix
/// hashed for the current second.
pub(crate) fn v4_signature(
    credentials: &Credentials,
    scope: V4Scope<'_>,
    date_time: &str,
    creq_hex: &[u8],
) -> [u8; 32] {
    let remembered = LAST_V4.try_with(|last| {
        let mut last = last.try_borrow_mut().ok()?;
        let last = last.as_mut().filter(|l| l.matches(credentials, scope))?;
        Some(last.signature(scope, date_time, creq_hex))
    });
    if let Ok(Some(signature)) = remembered {
        return signature;
    }
    let mut last = LastV4 {
        credentials: credentials.clone(),
        day: scope.day,
        region: scope.region.into(),
        service: scope.service.into(),
        key: shared_v4_signing_key(credentials, scope),
        prefix: None,
    };
    let signature = last.signature(scope, date_time, creq_hex);
    // Ignored if thread-local storage is gone or borrowed: the signature is still correct.
    let _ = LAST_V4.try_with(|slot| {
        if let Ok(mut slot) = slot.try_borrow_mut() {
            *slot = Some(last);
        }
    });
    signature
}

fn shared_v4_signing_key(credentials: &Credentials, scope: V4Scope<'_>) -> V4SigningKey {
    let V4Scope {
        day,
        date,
        region,
        service,
    } = scope;
    let secret_hash = secret_hash(credentials);
    let access_key_id = credentials.access_key_id();
    let found = lock(&V4_KEYS)
        .iter()
        .rev()
        .find(|e| {
            e.day == day
                && e.secret_hash == secret_hash
                && *e.access_key_id == *access_key_id
                && *e.region == *region
                && *e.service == *service
        })
        .map(|e| e.key.clone());
    if let Some(key) = found {
        return key;
    }
    // Derive outside the lock; two threads racing here both insert, which is harmless.
    let key = derive_v4(credentials.secret_access_key(), date, region, service);
    let entry = V4Entry {
        access_key_id: access_key_id.into(),
        secret_hash,
        day,
        region: region.into(),
        service: service.into(),
        key: key.clone(),
    };
    push_bounded(&mut lock(&V4_KEYS), entry, V4_CAPACITY);
    key
}

fn derive_v4(secret: &str, date: &str, region: &str, service: &str) -> V4SigningKey {
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

fn keyed(key: &[u8]) -> V4SigningKey {
    V4SigningKey(
        <HmacSha256 as KeyInit>::new_from_slice(key)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length")),
    )
}

/// The SigV4A ECDSA key pair for the credentials, cached.
pub(crate) fn v4a_key_pair(credentials: &Credentials) -> Result<Arc<EcdsaKeyPair>, &'static str> {
    let secret_hash = secret_hash(credentials);
    let access_key_id = credentials.access_key_id();
    let found = lock(&V4A_KEYS)
        .iter()
        .rev()
        .find(|e| e.secret_hash == secret_hash && *e.access_key_id == *access_key_id)
        .map(|e| Arc::clone(&e.key));
    if let Some(key) = found {
        return Ok(key);
    }
    let scalar = v4a_private_scalar(access_key_id, credentials.secret_access_key())?;
    let der = sec1_der(&scalar);
    let key = EcdsaKeyPair::from_private_key_der(&ECDSA_P256_SHA256_ASN1_SIGNING, der.as_ref())
        .map_err(|_| "the SigV4A private key was rejected")?;
    let key = Arc::new(key);
    let entry = V4aEntry {
        access_key_id: access_key_id.into(),
        secret_hash,
        key: Arc::clone(&key),
    };
    push_bounded(&mut lock(&V4A_KEYS), entry, V4A_CAPACITY);
    Ok(key)
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

    let mut fixed = Vec::with_capacity(4 + 22 + 1 + access_key_id.len() + 1 + 4);
    for counter in 1..=u8::MAX {
        fixed.clear();
        fixed.extend_from_slice(&1i32.to_be_bytes());
        fixed.extend_from_slice(super::V4A_ALGORITHM.as_bytes());
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
