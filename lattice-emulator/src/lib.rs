//! A local Amazon VPC Lattice: see `emulator.rs` for what it serves.

mod app;
mod emulator;
mod error;
mod keys;
mod log;
mod server;
mod services;
mod targets;
mod tls;
pub mod verifier;

pub use emulator::*;
pub use error::Error;
pub use keys::{KeyStore, test_identity};
pub use log::{RequestRecord, Verdict};
pub use services::{AuthType, Service};
pub use targets::download::pattern_byte;
pub use tls::Certificates;

pub use crate::verifier::Secret;

/// Generated code for `proto/greeter.proto` (package `lattice.test`).
pub mod greeter {
    tonic::include_proto!("lattice.test");
}
