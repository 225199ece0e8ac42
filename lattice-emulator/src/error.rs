//! The error returned when the emulator cannot start.

use std::{fmt, io, net::SocketAddr};

/// Why [`EmulatorBuilder::start`](crate::EmulatorBuilder::start) failed.
#[derive(Debug)]
pub struct Error {
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    NonLoopback(SocketAddr),
    Bind { addr: SocketAddr, source: io::Error },
    Certificate(rcgen::Error),
    Tls(rustls::Error),
}

// === impl Error ===

impl Error {
    pub(crate) fn non_loopback(addr: SocketAddr) -> Self {
        Self {
            kind: Kind::NonLoopback(addr),
        }
    }

    pub(crate) fn bind(addr: SocketAddr, source: io::Error) -> Self {
        Self {
            kind: Kind::Bind { addr, source },
        }
    }

    /// True when a listen address was refused because it is not a loopback address and
    /// [`EmulatorBuilder::allow_non_loopback`](crate::EmulatorBuilder::allow_non_loopback)
    /// was not set.
    pub fn is_non_loopback(&self) -> bool {
        matches!(self.kind, Kind::NonLoopback(_))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::NonLoopback(addr) => write!(
                f,
                "refusing to listen on {addr}: the emulator binds only loopback addresses \
                 (127.0.0.1 or ::1) unless EmulatorBuilder::allow_non_loopback(true) is set"
            ),
            Kind::Bind { addr, .. } => write!(f, "cannot listen on {addr}"),
            Kind::Certificate(_) => f.write_str("cannot generate the emulator's certificates"),
            Kind::Tls(_) => f.write_str("cannot configure TLS"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            Kind::NonLoopback(_) => None,
            Kind::Bind { source, .. } => Some(source),
            Kind::Certificate(source) => Some(source),
            Kind::Tls(source) => Some(source),
        }
    }
}

impl From<rcgen::Error> for Error {
    fn from(source: rcgen::Error) -> Self {
        Self {
            kind: Kind::Certificate(source),
        }
    }
}

impl From<rustls::Error> for Error {
    fn from(source: rustls::Error) -> Self {
        Self {
            kind: Kind::Tls(source),
        }
    }
}
