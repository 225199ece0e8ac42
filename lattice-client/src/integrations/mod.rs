//! Adapters for HTTP client libraries. Each only adapts: signing stays in [`Signer`](crate::Signer).

#[cfg(feature = "hyper")]
#[cfg_attr(docsrs, doc(cfg(feature = "hyper")))]
pub mod hyper;
#[cfg(feature = "reqwest")]
#[cfg_attr(docsrs, doc(cfg(feature = "reqwest")))]
pub mod reqwest;
#[cfg(any(feature = "reqwest", feature = "hyper"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "reqwest", feature = "hyper"))))]
pub mod tls;
#[cfg(feature = "tonic")]
#[cfg_attr(docsrs, doc(cfg(feature = "tonic")))]
pub mod tonic;
