//! `lattice-sidecar`: a localhost proxy that signs requests for [Amazon VPC Lattice].
//!
//! Applications send plain HTTP/1.1 or h2c (gRPC) to `127.0.0.1:8080`; the sidecar picks
//! the upstream (fixed route, proxy URI or `Host`), refuses anything that is not a
//! Lattice service name or configured custom domain, signs with SigV4/SigV4A through
//! [`lattice_client::SigV4Layer`] (`UNSIGNED-PAYLOAD`, so bodies stream), and forwards over
//! HTTPS (h2 by ALPN, else HTTP/1.1). Errors at the edge become responses with an
//! `x-lattice-sidecar-error` header (see `errors`); `/livez`, `/readyz` and `/metrics`
//! live on a separate admin listener.
//!
//! The binary is a thin wrapper: [`Config::from_args`](config::Config::from_args),
//! [`init_tracing`], then [`run`] until a shutdown signal.
//!
//! Where things live (`ARCHITECTURE.md` has the whole picture): [`app`] assembles the
//! building blocks; a connection is accepted by `listener` (bounded by `limits`, watched by
//! `framing`) and served on one of the `workers`; each request goes through `proxy`:
//! [`route`] decides where it goes, `headers` cleans it, `signing` signs it, `pool` picks
//! the `client` connection it goes out on, and `body` streams it both ways. Errors become
//! responses in `errors`; Lattice's 403s are explained by `diagnosis`.
//!
//! [Amazon VPC Lattice]: https://docs.aws.amazon.com/vpc-lattice/latest/ug/sigv4-authenticated-requests.html

mod admin;
pub mod app;
mod body;
mod build_info;
mod client;
pub mod config;
mod diagnosis;
mod errors;
mod framing;
mod headers;
mod limits;
mod listener;
mod metrics;
mod pool;
pub mod probe;
mod proxy;
pub mod route;
mod signing;
mod workers;

pub use crate::app::{RunError, check, init_tracing, run};
pub use crate::build_info::BuildInfo;
pub use crate::config::{Args, Command, Config, ConfigError, EX_USAGE};
