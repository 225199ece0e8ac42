//! The emulator's credential store, shared with tests so keys can rotate at run time, and
//! the built-in test identity.

use std::{
    collections::HashMap,
    fmt,
    sync::{Arc, PoisonError, RwLock},
};

use crate::verifier::{KeyLookup, Secret};

/// Access key id of the built-in test identity.
pub const DEFAULT_ACCESS_KEY_ID: &str = "AKIDLATTICEEMULATOR";
/// Secret access key of the built-in test identity.
pub const DEFAULT_SECRET_ACCESS_KEY: &str = "lattice/emulator/secret/key/EXAMPLEKEY";
/// Principal ARN of the built-in test identity.
pub const DEFAULT_PRINCIPAL: &str = "arn:aws:iam::123456789012:user/emulator-test";

/// Credentials the emulator accepts, keyed by access key id.
///
/// Cloning is cheap and every clone sees the same keys, so a test can keep a
/// handle and insert or remove keys while the emulator is serving.
#[derive(Clone, Default)]
pub struct KeyStore {
    secrets: Arc<RwLock<HashMap<String, Secret>>>,
}

// === impl KeyStore ===

impl KeyStore {
    /// An empty store: every signed request is answered `UnrecognizedClientException`.
    pub fn new() -> Self {
        Self::default()
    }

    /// A store holding only the built-in test identity
    /// ([`DEFAULT_ACCESS_KEY_ID`] / [`DEFAULT_SECRET_ACCESS_KEY`], no session token).
    pub fn with_test_identity() -> Self {
        let store = Self::new();
        store.insert(test_identity());
        store
    }

    /// Adds or replaces the secret for `secret.access_key_id`, returning the old one.
    pub fn insert(&self, secret: Secret) -> Option<Secret> {
        self.secrets
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(secret.access_key_id.clone(), secret)
    }

    /// Removes an access key, returning its secret if it was present.
    pub fn remove(&self, access_key_id: &str) -> Option<Secret> {
        self.secrets
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(access_key_id)
    }

    /// True if the access key is currently accepted.
    pub fn contains(&self, access_key_id: &str) -> bool {
        self.secrets
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .contains_key(access_key_id)
    }

    /// The access key ids currently accepted, sorted.
    pub fn access_key_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .secrets
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .keys()
            .cloned()
            .collect();
        ids.sort();
        ids
    }
}

impl KeyLookup for KeyStore {
    fn lookup(&self, access_key_id: &str) -> Option<Secret> {
        self.secrets
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(access_key_id)
            .cloned()
    }
}

// Only key ids: the store holds secrets.
impl fmt::Debug for KeyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyStore")
            .field("access_key_ids", &self.access_key_ids())
            .finish()
    }
}

/// The built-in identity every emulator starts with unless told otherwise.
pub fn test_identity() -> Secret {
    Secret {
        access_key_id: DEFAULT_ACCESS_KEY_ID.to_owned(),
        secret_access_key: DEFAULT_SECRET_ACCESS_KEY.to_owned(),
        session_token: None,
        principal: DEFAULT_PRINCIPAL.to_owned(),
        session_name: None,
    }
}
