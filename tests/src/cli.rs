//! Helpers shared by the test binaries (`lattice-emulator`, `bench-upstream`).

use std::net::SocketAddr;

/// Wait for Ctrl-C or SIGTERM.
pub async fn wait_for_signal() -> std::io::Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result,
        _ = terminate.recv() => Ok(()),
    }
}

/// A clap value parser for listen addresses: loopback only, since these servers exist for
/// tests and benchmarks on this machine.
pub fn loopback_addr(value: &str) -> Result<SocketAddr, String> {
    let addr: SocketAddr = value
        .parse()
        .map_err(|error| format!("{error} (expected IP:PORT, e.g. 127.0.0.1:8443)"))?;
    if addr.ip().is_loopback() {
        Ok(addr)
    } else {
        Err(format!(
            "{addr} is not a loopback address; this server only listens on 127.0.0.0/8 or [::1]"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_addresses_parse() {
        assert!(loopback_addr("127.0.0.1:0").is_ok());
        assert!(loopback_addr("127.3.2.1:80").is_ok());
        assert!(loopback_addr("[::1]:1").is_ok());
        for refused in ["0.0.0.0:8443", "[::]:1", "10.0.0.1:80", "localhost:80"] {
            assert!(loopback_addr(refused).is_err(), "{refused}");
        }
    }
}
