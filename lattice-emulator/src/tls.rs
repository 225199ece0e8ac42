//! Run-time CA and server certificate, and the rustls configs built from them.

use std::{fmt, sync::Arc};

use arc_swap::ArcSwap;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use rustls::{
    ClientConfig, RootCertStore, ServerConfig,
    crypto::aws_lc_rs,
    pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer},
    server::{ClientHello, ResolvesServerCert},
    sign::CertifiedKey,
};

use crate::Error;

/// A throw-away CA and the leaf certificate it signed for every service host (the emulator's,
/// and `bench-upstream`'s).
#[derive(Debug)]
pub struct Certificates {
    /// The CA certificate, PEM encoded, for clients to trust.
    pub ca_pem: String,
    /// The CA certificate, DER encoded.
    pub ca_der: CertificateDer<'static>,
    /// An aws-lc-rs server config presenting the leaf (and the CA), ALPN `h2` and `http/1.1`.
    pub server_config: Arc<ServerConfig>,
    /// Issues a new leaf when the hosts change (a configuration reload).
    pub(crate) issuer: Arc<Issuer>,
}

/// The run-time CA, kept so a reload can name new hosts; the server config presents
/// whichever leaf it issued last.
pub(crate) struct Issuer {
    ca_key: KeyPair,
    ca_cert: rcgen::Certificate,
    leaf: ArcSwap<CertifiedKey>,
}

// === impl Certificates ===

impl Certificates {
    /// Issues a leaf for `hosts` (plus `localhost` and `127.0.0.1`, handy with curl).
    pub fn generate(hosts: &[String]) -> Result<Self, Error> {
        let ca_key = KeyPair::generate()?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "Lattice emulator test CA");
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca_params.self_signed(&ca_key)?;
        let leaf = issue(hosts, &ca_cert, &ca_key)?;
        let issuer = Arc::new(Issuer {
            ca_key,
            ca_cert,
            leaf: ArcSwap::from_pointee(leaf),
        });

        let mut server_config =
            ServerConfig::builder_with_provider(Arc::new(aws_lc_rs::default_provider()))
                .with_safe_default_protocol_versions()?
                .with_no_client_auth()
                .with_cert_resolver(issuer.clone());
        server_config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];

        Ok(Self {
            ca_pem: issuer.ca_cert.pem(),
            ca_der: issuer.ca_cert.der().clone(),
            server_config: Arc::new(server_config),
            issuer,
        })
    }
}

// === impl Issuer ===

impl Issuer {
    /// Presents a new leaf for `hosts` from the next TLS handshake on.
    pub(crate) fn reissue(&self, hosts: &[String]) -> Result<(), Error> {
        let leaf = issue(hosts, &self.ca_cert, &self.ca_key)?;
        self.leaf.store(Arc::new(leaf));
        Ok(())
    }
}

impl ResolvesServerCert for Issuer {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.leaf.load_full())
    }
}

// Holds the CA's private key: say only what it is.
impl fmt::Debug for Issuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Issuer").finish_non_exhaustive()
    }
}

/// A leaf for `hosts` (plus `localhost` and `127.0.0.1`) signed by the CA, with the chain.
fn issue(
    hosts: &[String],
    ca_cert: &rcgen::Certificate,
    ca_key: &KeyPair,
) -> Result<CertifiedKey, Error> {
    let mut names = hosts.to_vec();
    names.extend(["localhost".to_owned(), "127.0.0.1".to_owned()]);
    let leaf_key = KeyPair::generate()?;
    let mut leaf_params = CertificateParams::new(names)?;
    leaf_params
        .distinguished_name
        .push(DnType::CommonName, "Lattice emulator");
    leaf_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf_params.use_authority_key_identifier_extension = true;
    let leaf_cert = leaf_params.signed_by(&leaf_key, ca_cert, ca_key)?;

    let chain = vec![leaf_cert.der().clone(), ca_cert.der().clone()];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
    let signing_key = aws_lc_rs::default_provider()
        .key_provider
        .load_private_key(key)?;
    Ok(CertifiedKey::new(chain, signing_key))
}

/// An aws-lc-rs client config trusting only `ca`, with no ALPN protocols set.
pub(crate) fn client_config(ca: &CertificateDer<'static>) -> Result<ClientConfig, Error> {
    let mut roots = RootCertStore::empty();
    roots.add(ca.clone())?;
    Ok(
        ClientConfig::builder_with_provider(Arc::new(aws_lc_rs::default_provider()))
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}
