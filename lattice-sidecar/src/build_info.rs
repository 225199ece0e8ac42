//! What this binary is: its version, the git revision it was built from (embedded by
//! `build.rs`) and the TLS provider its upstream clients use, for `--version` and the
//! `lattice_sidecar_build_info` metric.

use std::fmt;

/// The package version.
pub(crate) const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The short git revision, or `unknown` (see `build.rs`).
pub(crate) const REVISION: &str = env!("LATTICE_SIDECAR_GIT_REVISION");

/// The version, revision and TLS provider of the running binary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildInfo {
    pub version: &'static str,
    pub revision: &'static str,
    /// The upstream clients' rustls crypto provider, e.g. `aws-lc-rs`.
    pub tls_provider: String,
}

// === impl BuildInfo ===

impl BuildInfo {
    /// This binary's, with the TLS provider its clients are built with.
    pub fn current() -> Self {
        Self::with_tls_provider(crate::client::TLS_PROVIDER)
    }

    pub(crate) fn with_tls_provider(tls_provider: impl Into<String>) -> Self {
        Self {
            version: VERSION,
            revision: REVISION,
            tls_provider: tls_provider.into(),
        }
    }
}

/// The `--version` line: `lattice-sidecar 0.1.0 (revision 5e89777; TLS: rustls with aws-lc-rs)`.
impl fmt::Display for BuildInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "lattice-sidecar {} (revision {}; TLS: rustls with {})",
            self.version, self.revision, self.tls_provider
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_version_line_names_version_revision_and_provider() {
        let info = BuildInfo::with_tls_provider("ring");
        assert_eq!(
            info.to_string(),
            format!("lattice-sidecar {VERSION} (revision {REVISION}; TLS: rustls with ring)")
        );
    }

    #[test]
    fn the_revision_is_the_checked_out_commit() {
        let head = std::process::Command::new("git")
            .args(["-C", env!("CARGO_MANIFEST_DIR"), "rev-parse", "HEAD"])
            .output();
        match head {
            // Built from this checkout: build.rs embedded its commit (cargo rebuilds when
            // HEAD moves).
            Ok(head)
                if head.status.success()
                    && env!("LATTICE_SIDECAR_GIT_REVISION_SOURCE") == "git" =>
            {
                let head = String::from_utf8_lossy(&head.stdout);
                assert!(
                    REVISION.len() >= 7 && head.starts_with(REVISION),
                    "{REVISION} is not HEAD {head}"
                );
            }
            _ => assert!(!REVISION.is_empty()),
        }
    }
}
