pub mod cases;
pub mod cli;
pub mod emulator;
pub mod fake_credentials;
pub mod fault_upstream;
pub mod sidecar;
pub mod verifier;

/// Generated code for `tests/proto/greeter.proto` (package `lattice.test`).
pub mod greeter_proto {
    tonic::include_proto!("lattice.test");
}
