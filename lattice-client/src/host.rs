//! Which hosts may be signed for, and in which region.
//!
//! Signing for an arbitrary host would hand a valid signature to a third party, so the
//! signer only signs for VPC Lattice service names and the custom domains it is given.

use std::fmt;

/// The DNS suffix label that marks a Lattice service name.
const LATTICE_LABEL: &str = "vpc-lattice-svcs";

/// A host name reduced to the form used for matching: lowercase, no port, no trailing dot.
///
/// Returns `None` for IP literals and names with characters that no DNS name has, so
/// percent-encoded or userinfo tricks never match an allowed name.
pub fn normalize_host(host_and_port: &str) -> Option<String> {
    let host = strip_port(host_and_port)?;
    let host = host.strip_suffix('.').unwrap_or(host);
    if host.is_empty() || host.len() > 253 {
        return None;
    }
    let valid_label = |label: &str| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if !host.split('.').all(valid_label) {
        return None;
    }
    // All-numeric last label means an IPv4 literal, not a name.
    if host
        .rsplit('.')
        .next()
        .is_some_and(|l| l.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    Some(host.to_ascii_lowercase())
}

fn strip_port(host_and_port: &str) -> Option<&str> {
    if host_and_port.starts_with('[') {
        return None; // IPv6 literal: never a Lattice or custom-domain name.
    }
    match host_and_port.rsplit_once(':') {
        Some((host, port)) => {
            (!port.is_empty() && port.bytes().all(|b| b.is_ascii_digit())).then_some(host)
        }
        None => Some(host_and_port),
    }
}

/// The region of a VPC Lattice service name
/// `<name>-<id>.<network-id>.vpc-lattice-svcs.<region>.on.aws`, if `host` is one.
///
/// `host` may carry a port and any case. Returns `None` for every other host.
pub fn lattice_region(host: &str) -> Option<String> {
    let host = normalize_host(host)?;
    let mut labels = host.rsplit('.');
    let (aws, on, region, lattice) = (
        labels.next()?,
        labels.next()?,
        labels.next()?,
        labels.next()?,
    );
    let leading = labels.count();
    if aws != "aws" || on != "on" || lattice != LATTICE_LABEL || leading == 0 {
        return None;
    }
    is_region_name(region).then(|| region.to_owned())
}

/// `us-west-2`, `ap-southeast-1`, `us-gov-west-1`, `eusc-de-east-1`: letters, dashes, a number.
pub(crate) fn is_region_name(region: &str) -> bool {
    let mut parts = region.split('-');
    let Some(first) = parts.next() else {
        return false;
    };
    let rest: Vec<&str> = parts.collect();
    let Some((last, middle)) = rest.split_last() else {
        return false;
    };
    !first.is_empty()
        && first.bytes().all(|b| b.is_ascii_lowercase())
        && !middle.is_empty()
        && middle
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && !last.is_empty()
        && last.bytes().all(|b| b.is_ascii_digit())
}

/// A custom domain the signer may sign for: an exact name, or `*.suffix` for any name
/// with at least one more label in front of `suffix`.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct DomainPattern {
    wildcard: bool,
    name: String,
}

// === impl DomainPattern ===

impl DomainPattern {
    pub(crate) fn parse(pattern: &str) -> Result<Self, String> {
        let (wildcard, rest) = match pattern.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, pattern),
        };
        let name = normalize_host(rest)
            .filter(|n| n == &rest.trim_end_matches('.').to_ascii_lowercase())
            .ok_or_else(|| {
                format!(
                    "custom domain `{pattern}` is not a DNS name (expected e.g. \
                     `api.example.com` or `*.example.com`, without scheme or port)"
                )
            })?;
        Ok(Self { wildcard, name })
    }

    /// `host` must already be normalized.
    pub(crate) fn matches(&self, host: &str) -> bool {
        if self.wildcard {
            host.strip_suffix(self.name.as_str())
                .is_some_and(|front| front.len() > 1 && front.ends_with('.'))
        } else {
            host == self.name
        }
    }
}

impl fmt::Debug for DomainPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.wildcard {
            write!(f, "*.{}", self.name)
        } else {
            f.write_str(&self.name)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORDERS: &str = "orders-0123456789abcdef0.7d67968.vpc-lattice-svcs.us-west-2.on.aws";

    #[test]
    fn parses_region_from_lattice_names() {
        assert_eq!(lattice_region(ORDERS).as_deref(), Some("us-west-2"));
        assert_eq!(
            lattice_region(&format!("{ORDERS}:8443")).as_deref(),
            Some("us-west-2")
        );
        assert_eq!(
            lattice_region(&format!("{ORDERS}.")).as_deref(),
            Some("us-west-2")
        );
        assert_eq!(
            lattice_region(&ORDERS.to_ascii_uppercase()).as_deref(),
            Some("us-west-2")
        );
        assert_eq!(
            lattice_region("a-1.b.vpc-lattice-svcs.us-gov-west-1.on.aws").as_deref(),
            Some("us-gov-west-1")
        );
    }

    #[test]
    fn rejects_look_alikes() {
        for host in [
            "vpc-lattice-svcs.us-west-2.on.aws",
            "x.vpc-lattice-svcs.us-west-2.on.aws.evil.com",
            "x.vpc-lattice-svcs.us-west-2.on.aws@evil.com",
            "x.vpc-lattice-svcs.us-west-2.on.aws%2eevil.com",
            "x.vpc-lattice-svcs.uswest.on.aws",
            "x.vpc-lattice-svcs.us-west-2.on.aws:",
            "x.vpc-lattice-svcs.us-west-2.on.aws:80x",
            "x..vpc-lattice-svcs.us-west-2.on.aws",
            "x.evil-vpc-lattice-svcs.us-west-2.on.aws",
            "[::1]:443",
            "127.0.0.1",
            "",
        ] {
            assert_eq!(lattice_region(host), None, "{host}");
        }
    }

    #[test]
    fn domain_patterns() {
        let exact = DomainPattern::parse("API.Example.com.").unwrap();
        assert!(exact.matches("api.example.com"));
        assert!(!exact.matches("x.api.example.com"));
        let wild = DomainPattern::parse("*.example.com").unwrap();
        assert!(wild.matches("a.example.com"));
        assert!(wild.matches("a.b.example.com"));
        assert!(!wild.matches("example.com"));
        assert!(!wild.matches("badexample.com"));
        assert!(DomainPattern::parse("https://example.com").is_err());
        assert!(DomainPattern::parse("example.com:443").is_err());
        assert!(DomainPattern::parse("*").is_err());
    }
}
