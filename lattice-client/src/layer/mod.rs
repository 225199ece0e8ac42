//! A tower middleware that signs every request for VPC Lattice.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! use lattice_client::{CredentialsCache, SigV4Layer, Signer, SigningConfig};
//! use tower::ServiceBuilder;
//!
//! let signer = Signer::new(
//!     SigningConfig::builder().build()?,
//!     CredentialsCache::from_default_chain().await,
//! );
//! signer.credentials().warm().await?;
//! let service = ServiceBuilder::new()
//!     .layer(SigV4Layer::new(signer))
//!     .service_fn(|req: http::Request<String>| async move {
//!         // A real client (hyper, reqwest, tonic Channel) goes here.
//!         Ok::<_, std::convert::Infallible>(req.headers().contains_key("authorization"))
//!     });
//! # let _ = service; Ok(()) }
//! ```
//!
//! The body is never read, cloned or buffered: Lattice takes `UNSIGNED-PAYLOAD`, so
//! streaming bodies stay streams.

mod future;
#[allow(clippy::module_inception)]
mod layer;
mod service;

pub use self::future::ResponseFuture;
#[cfg(feature = "reqwest")]
pub(crate) use self::future::{ResponseHead, SignThenCall};
pub use self::layer::SigV4Layer;
pub use self::service::SigV4;
