//! Generates the `lattice.test.Greeter` client from the proto the emulator serves.

use std::error::Error;

/// Shared with the tests crate, which serves this service from its emulator.
const PROTO_DIR: &str = "../tests/proto";
const PROTO: &str = "../tests/proto/greeter.proto";

fn main() -> Result<(), Box<dyn Error>> {
    println!("cargo:rerun-if-changed={PROTO}");
    // The vendored protoc is handed to prost-build directly, so the build needs no system
    // protoc and does not mutate the process environment.
    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(false)
        .compile_with_config(config, &[PROTO], &[PROTO_DIR])?;
    Ok(())
}
