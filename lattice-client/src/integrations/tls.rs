//! A rustls [`ClientConfig`] for talking to Lattice services, shared by the reqwest and
//! hyper integrations.
//!
//! Lattice service names are served with public certificates, so the platform's trust
//! store is enough in production. Tests and emulators add their own CA:
//!
//! ```no_run
//! # fn run() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! use lattice_client::integrations::tls::TlsConfig;
//!
//! // Platform roots only (aws-lc-rs provider, ALPN `h2` then `http/1.1`).
//! let production = TlsConfig::new().build()?;
//!
//! // Only an emulator's CA.
//! let pem = std::fs::read("lattice-ca.pem")?;
//! let testing = TlsConfig::new().native_roots(false).ca_pem(pem).build()?;
//! # let _ = (production, testing); Ok(()) }
//! ```

use std::fmt;
use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use rustls::{ClientConfig, RootCertStore};

/// Builds an aws-lc-rs rustls [`ClientConfig`]: platform roots and/or extra CA
/// certificates, ALPN `h2` and `http/1.1`.
///
/// See the [module docs](self) for an example.
#[derive(Clone, Debug)]
pub struct TlsConfig {
    native_roots: bool,
    ca_pems: Vec<Vec<u8>>,
    alpn: Vec<Vec<u8>>,
}

/// Why a [`TlsConfig`] could not be built.
///
/// Its message says what to fix.
pub struct TlsError {
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

// === impl TlsConfig ===

impl TlsConfig {
    /// Trust the platform's roots; offer `h2` and `http/1.1`.
    pub fn new() -> Self {
        Self {
            native_roots: true,
            ca_pems: Vec::new(),
            alpn: vec![b"h2".to_vec(), b"http/1.1".to_vec()],
        }
    }

    /// Whether to trust the platform's certificate store (default: yes). Honours
    /// `SSL_CERT_FILE` and `SSL_CERT_DIR`.
    pub fn native_roots(mut self, enabled: bool) -> Self {
        self.native_roots = enabled;
        self
    }

    /// Also trust every certificate in this PEM bundle (may be called more than once).
    pub fn ca_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.ca_pems.push(pem.into());
        self
    }

    /// Only offer HTTP/1.1 in ALPN (default: `h2`, then `http/1.1`).
    pub fn http1_only(mut self) -> Self {
        self.alpn = vec![b"http/1.1".to_vec()];
        self
    }

    /// Only offer `h2` in ALPN.
    pub fn http2_only(mut self) -> Self {
        self.alpn = vec![b"h2".to_vec()];
        self
    }

    /// Load the roots and build the configuration.
    ///
    /// Fails if a PEM bundle holds no certificate or an invalid one, or if no root at
    /// all could be loaded.
    pub fn build(self) -> Result<ClientConfig, TlsError> {
        let mut roots = RootCertStore::empty();
        if self.native_roots {
            let loaded = rustls_native_certs::load_native_certs();
            for error in &loaded.errors {
                tracing::debug!(%error, "skipping unreadable platform certificate");
            }
            let (_added, ignored) = roots.add_parsable_certificates(loaded.certs);
            if ignored > 0 {
                tracing::debug!(ignored, "skipped unparsable platform certificates");
            }
        }
        for (index, pem) in self.ca_pems.iter().enumerate() {
            let certs = CertificateDer::pem_slice_iter(pem)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| {
                    TlsError::new(
                        format!("CA bundle #{} is not valid PEM", index + 1),
                        Some(Box::new(e)),
                    )
                })?;
            if certs.is_empty() {
                return Err(TlsError::new(
                    format!(
                        "CA bundle #{} holds no `BEGIN CERTIFICATE` block",
                        index + 1
                    ),
                    None,
                ));
            }
            for cert in certs {
                roots.add(cert).map_err(|e| {
                    TlsError::new(
                        format!("CA bundle #{} holds an unusable certificate", index + 1),
                        Some(Box::new(e)),
                    )
                })?;
            }
        }
        if roots.is_empty() {
            return Err(TlsError::new(
                "no trusted root certificates: install the platform CA bundle (or set SSL_CERT_FILE), \
                 or add a CA with `ca_pem(..)`",
                None,
            ));
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| {
                TlsError::new(
                    "the aws-lc-rs provider rejected the default TLS versions",
                    Some(Box::new(e)),
                )
            })?
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = self.alpn;
        Ok(config)
    }
}

impl Default for TlsConfig {
    fn default() -> Self {
        Self::new()
    }
}

// === impl TlsError ===

impl TlsError {
    fn new(
        message: impl Into<String>,
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self {
            message: message.into(),
            source,
        }
    }
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(source) = &self.source {
            write!(f, ": {source}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsError")
            .field("message", &self.to_string())
            .finish()
    }
}

impl std::error::Error for TlsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// A throwaway self-signed P-256 CA, used only to build configurations in tests.
#[cfg(test)]
pub(crate) const TEST_CA: &str = "-----BEGIN CERTIFICATE-----
MIIBmDCCAT+gAwIBAgIUKGcKbIxGukRjSVswuPORLlveugEwCgYIKoZIzj0EAwIw
ITEfMB0GA1UEAwwWbGF0dGljZS1jbGllbnQgdGVzdCBDQTAgFw0yNjExMjIwNzE0
NDBaGA8yMTI2MTAyOTA3MTQ0MFowITEfMB0GA1UEAwwWbGF0dGljZS1jbGllbnQg
dGVzdCBDQTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABDFN6yinrtQKhgyOcsVt
lr1HbssrsppeKChs9WUkkUQ98suYC20Mdslq3FVpZd9SW9iiwTEGwYJ0vHJNJSbE
sA2jUzBRMB0GA1UdDgQWBBRUjBCy7JLB4FD5HzcoV1AUIMSEtDAfBgNVHSMEGDAW
gBRUjBCy7JLB4FD5HzcoV1AUIMSEtDAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49
BAMCA0cAMEQCIEWiJphXpKBXAY+CrgRTrfNO0dfksrQUS5y6gIV4f/hQAiAqhxnv
+fXFQaWOxFzCLmrf6dXa/+GtAO6TVYGdRMP6Og==
-----END CERTIFICATE-----
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_empty_and_garbage_pem() {
        let error = TlsConfig::new()
            .native_roots(false)
            .ca_pem("not a certificate")
            .build()
            .unwrap_err();
        assert!(
            error.to_string().contains("no `BEGIN CERTIFICATE`"),
            "{error}"
        );

        let bad = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert!(
            TlsConfig::new()
                .native_roots(false)
                .ca_pem(bad)
                .build()
                .is_err()
        );

        let error = TlsConfig::new().native_roots(false).build().unwrap_err();
        assert!(error.to_string().contains("no trusted root"), "{error}");
    }

    #[test]
    fn sets_alpn() {
        // A self-signed certificate is enough to build a config.
        let config = TlsConfig::new()
            .native_roots(false)
            .ca_pem(TEST_CA)
            .build()
            .unwrap();
        assert_eq!(
            config.alpn_protocols,
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        );
        let config = TlsConfig::new()
            .native_roots(false)
            .ca_pem(TEST_CA)
            .http1_only()
            .build()
            .unwrap();
        assert_eq!(config.alpn_protocols, vec![b"http/1.1".to_vec()]);
    }
}
