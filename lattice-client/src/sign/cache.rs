//! The one cache signing keeps, owned by a [`SigningConfig`](crate::SigningConfig) and
//! shared by its clones and by the `Signer`s built on it. Nothing is kept per thread.
//!
//! Deriving a SigV4 key costs four HMACs, and a SigV4A key a KDF plus a P-256 key-pair
//! set-up, where a signature with a ready key costs one HMAC or one ECDSA signature. The
//! cache follows the Go SDK v2 signer's `derivedKeyCache`
//! (`aws/signer/internal/v4/cache.go`):
//!
//! - **Key**: the credentials (access key id, session token, and a keyed hash of the
//!   secret, so a secret rotated under the same key id gets a new key) and, for a SigV4
//!   key, the day, region and service it signs for. Each entry holds the signing key and the
//!   session token as a header value.
//! - **Invalidation**: none. The key holds everything an entry is derived from, so an entry
//!   is either right or never found again. The cache keeps its [`CAPACITY`] newest entries
//!   (a few regions across a day boundary or a credentials refresh); adding one more drops
//!   the oldest.
//!
//! Beside the keys it holds one `x-amz-date` value, for the second it names.
//!
//! The two header values are kept because building one allocates: without them a warm
//! signature allocates 5 times rather than 3, and a request through the sidecar (15.3
//! allocations) crosses its bound of 16 (`lattice-sidecar/tests/proxy_allocations.rs`).
//! The token's also saves checking and copying the whole token. Neither a key, the token
//! nor the secret's hash is ever printed.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::BuildHasher;
use std::sync::Arc;

use arc_swap::{ArcSwap, ArcSwapOption};
use aws_credential_types::Credentials;
use aws_lc_rs::signature::EcdsaKeyPair;
use http::HeaderValue;

use super::keys::{V4Key, derive_v4, derive_v4a};
use super::scope::Timestamp;
use crate::error::Error;

/// How many entries the cache keeps.
const CAPACITY: usize = 8;

/// The cache of what signing derives from credentials and time. See the
/// [module docs](self).
pub(crate) struct SigningCache {
    /// Oldest first. Signing reads a snapshot without locking; a new entry replaces it.
    entries: ArcSwap<Vec<Entry>>,
    /// The `x-amz-date` value of the latest second signed.
    date: ArcSwapOption<HeaderValue>,
    /// Random per cache, so the secret's hash is no stable fingerprint.
    secret_hasher: RandomState,
}

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

// === impl SigningCache ===

impl SigningCache {
    pub(crate) fn new() -> Self {
        Self {
            entries: ArcSwap::from_pointee(Vec::new()),
            date: ArcSwapOption::empty(),
            secret_hasher: RandomState::new(),
        }
    }

    /// The `x-amz-date` value of `time`.
    pub(crate) fn date(&self, time: &Timestamp) -> Result<HeaderValue, Error> {
        let date_time = time.date_time();
        if let Some(value) = self
            .date
            .load()
            .as_deref()
            .filter(|value| value.as_bytes() == date_time.as_bytes())
        {
            return Ok(value.clone());
        }
        let value = HeaderValue::from_str(date_time).map_err(|_| Error::signing("invalid date"))?;
        self.date.store(Some(Arc::new(value.clone())));
        Ok(value)
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

impl fmt::Debug for SigningCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningCache")
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
