//! Generates the `lattice.test.Greeter` client and server used by the emulator.

use std::error::Error;

fn main() -> Result<(), Box<dyn Error>> {
    // The vendored protoc is handed to prost-build directly so the build does
    // not depend on a system protoc or on mutating the process environment.
    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_with_config(config, &["proto/greeter.proto"], &["proto"])?;
    Ok(())
}
