pub mod cases;
pub mod fake_credentials;
pub mod fault_upstream;
pub mod sidecar;
