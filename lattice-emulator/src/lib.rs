//! A local stand-in for Amazon VPC Lattice: it checks SigV4 and SigV4A signatures with
//! its own verifier and answers the way Lattice does, so clients and proxies can be tested
//! end to end without an AWS account.
//!
//! An [`Emulator`] serves TLS (ALPN `h2`, `http/1.1`) and plain HTTP (HTTP/1.1 and h2c
//! prior knowledge) on loopback, and routes by `:authority`/`host` to virtual hosts
//! ([`Service`]). On `AWS_IAM` services it verifies the signature with [`verifier`] and
//! refuses failures the way Lattice does (403, `text/plain`, `x-amzn-errortype`).
//! Accepted requests get the `x-amzn-lattice-*` headers and go to in-process targets:
//!
//! | request | target |
//! |---|---|
//! | `content-type: application/grpc*` | `lattice.test.Greeter` ([`greeter`], `proto/greeter.proto`) |
//! | `GET\|HEAD /download?bytes=N&chunk=C&delay_ms=D[&chunked=1]` | byte `i` is [`pattern_byte`]`(i)` |
//! | `POST\|PUT /upload` | `{"bytes": n, "sha256": hex}`, hashed as it streams |
//! | `/slow-headers?delay_ms=D` | waits, then echoes |
//! | anything else | JSON echo of method, `:authority`, raw path/query, version, headers (secrets shown as `<present>`), body length/hash, identity and `verified` |
//!
//! ```no_run
//! use lattice_emulator::{Emulator, ORDERS_HOST};
//!
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let emulator = Emulator::builder().start().await?;
//! // Trust `emulator.ca_pem()` and resolve ORDERS_HOST to `emulator.https_addr()`.
//! let url = emulator.https_url(ORDERS_HOST, "/hello");
//! # let _ = url;
//! assert!(emulator.requests().is_empty());
//! emulator.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! A [`Config`] (the binary's `--config` file) replaces the built-in services with a
//! team's own: identities, service networks and services under their auth policies
//! ([`policy`]), with the team's app as a streamed forwarding target.
//!
//! The [`verifier`] is written from the AWS specification and shares no code with any
//! signer, so a signer's bug cannot hide behind the same bug in the checker; it is proven
//! on the official AWS SigV4/SigV4A test vectors (`tests/suite_vectors.rs`).
//!
//! The `lattice-emulator` binary runs the same server from the command line: see the
//! README for its flags, the services it serves and the errors it answers with.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs)]

mod app;
mod config;
mod emulator;
mod error;
mod keys;
mod log;
pub mod policy;
mod routes;
mod server;
mod services;
mod targets;
mod tls;
pub mod verifier;

pub use config::{Config, ConfigError};
pub use emulator::{Clock, DEFAULT_REQUEST_LOG_CAPACITY, Emulator, EmulatorBuilder};
pub use error::Error;
pub use keys::{
    DEFAULT_ACCESS_KEY_ID, DEFAULT_PRINCIPAL, DEFAULT_SECRET_ACCESS_KEY, KeyStore, test_identity,
};
pub use log::{RequestRecord, Verdict};
pub use services::{
    ACCOUNT_ID, AuthType, INVENTORY_HOST, INVENTORY_REGION, ORDERS_CUSTOM_DOMAIN, ORDERS_HOST,
    ORDERS_REGION, ProtocolVersion, SOURCE_VPC_ARN, Service, Target, default_services,
};
pub use targets::download::pattern_byte;
pub use tls::Certificates;
pub use verifier::{DEFAULT_MAX_SKEW, SIGNING_NAME, Secret};

/// The README's code blocks, checked by `cargo test --doc`.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

/// The `lattice.test.Greeter` service the emulator serves on every host (generated from
/// `proto/greeter.proto`): the server it runs, and a client to call it with.
pub mod greeter {
    #![allow(missing_docs)]
    tonic::include_proto!("lattice.test");

    /// The source of this module, `proto/greeter.proto`, for clients in other languages
    /// to generate their stubs from.
    pub const PROTO: &str = include_str!("../proto/greeter.proto");
}
