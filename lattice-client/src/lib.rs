//! Sign requests to [Amazon VPC Lattice] services that use `AWS_IAM` auth.
//!
//! Lattice accepts only SigV4 or SigV4A signatures for the signing name `vpc-lattice-svcs`,
//! with `x-amz-content-sha256: UNSIGNED-PAYLOAD`. This crate provides a tower layer that
//! signs any `http::Request` without touching its body, a credentials cache that keeps
//! the credentials provider off the request path, and adapters for reqwest, hyper and
//! tonic.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! use lattice_client::{CredentialsCache, Signer, SigningConfig};
//!
//! let config = SigningConfig::builder()
//!     .custom_domain_in("orders.example.com", "us-west-2")
//!     .build()?;
//! let signer = Signer::new(config, CredentialsCache::from_default_chain().await);
//! signer.credentials().warm().await?;
//!
//! let mut request = http::Request::get(
//!     "https://orders-0123456789abcdef0.7d67968.vpc-lattice-svcs.us-west-2.on.aws/orders",
//! )
//! .body(())?;
//! signer.sign(&mut request).await?;
//! assert!(request.headers().contains_key("authorization"));
//! # Ok(()) }
//! ```
//!
//! # Feature flags
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `aws-config` | yes | credentials from the full default AWS chain |
//! | `reqwest` | no | `SigV4Middleware` for `reqwest-middleware`, and a tower path for `reqwest::Request` |
//! | `hyper` | no | a hyper-util client with rustls and signing |
//! | `tonic` | no | signing a tonic `Channel`, and `SigV4Interceptor` |
//! | `test-util` | no | `ManualClock` for deterministic tests |
//! | `full` | no | all integrations |
//!
//! [Amazon VPC Lattice]: https://docs.aws.amazon.com/vpc-lattice/latest/ug/sigv4-authenticated-requests.html
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs)]

/// `get_ref`, `get_mut` and `into_inner` for a middleware whose wrapped service is its
/// `inner` field, as tower-http's `define_inner_service_accessors!` does.
macro_rules! inner_service_accessors {
    () => {
        /// The inner service.
        pub fn get_ref(&self) -> &S {
            &self.inner
        }

        /// The inner service, mutably.
        pub fn get_mut(&mut self) -> &mut S {
            &mut self.inner
        }

        /// Unwrap the inner service.
        pub fn into_inner(self) -> S {
            self.inner
        }
    };
}

pub mod clock;
mod credentials;
mod error;
pub mod grpc;
pub mod host;
pub mod layer;
mod sign;
mod signer;

pub mod integrations;

pub use aws_credential_types::Credentials;
pub use aws_credential_types::provider::ProvideCredentials;

pub use crate::credentials::{CredentialsCache, CredentialsCacheBuilder, CredentialsStats};
pub use crate::error::{BoxError, BuildError, Error, ErrorKind};
pub use crate::layer::{ResponseFuture, SigV4, SigV4Layer};
pub use crate::sign::CanonicalRequest;
pub use crate::signer::{
    Algorithm, DEFAULT_UNSIGNED_HEADERS, PathEncoding, SIGNER_OWNED_HEADERS, SIGNING_NAME, Signed,
    Signer, SigningConfig, SigningConfigBuilder, UnknownHosts, canonicalize_authority,
};

/// The README's code blocks, checked by `cargo test --doc` (its example needs `reqwest`).
#[doc = include_str!("../README.md")]
#[cfg(all(doctest, feature = "reqwest", feature = "aws-config"))]
pub struct ReadmeDoctests;
