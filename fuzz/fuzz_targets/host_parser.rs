//! `host_parser`: the host checks never panic, and a host accepted as a Lattice service
//! name keeps its region whatever its case, trailing dot or port.
#![no_main]

use lattice_client::SigningConfig;
use lattice_client::host::{lattice_region, normalize_host};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(host) = std::str::from_utf8(data) else {
        return;
    };
    let normalized = normalize_host(host);
    let region = lattice_region(host);

    // Both configurations are valid by construction; a build error is a bug too.
    let sigv4 = SigningConfig::builder()
        .custom_domain_in("*.example.com", "us-west-2")
        .build()
        .unwrap();
    let sigv4a = SigningConfig::builder().sigv4a("*").build().unwrap();
    let allowed_v4 = sigv4.allows_host(host);
    let allowed_v4a = sigv4a.allows_host(host);

    if let Some(normalized) = &normalized {
        // Normalizing is idempotent and yields a lowercase name without port or dot.
        assert_eq!(
            normalize_host(normalized).as_deref(),
            Some(normalized.as_str()),
            "{host:?}"
        );
        assert!(
            !normalized.ends_with('.') && !normalized.contains(':'),
            "{host:?}"
        );
        assert_eq!(normalized, &normalized.to_ascii_lowercase(), "{host:?}");
    }

    let Some(region) = region else { return };
    let base = normalized.expect("a Lattice name is a DNS name");
    assert!(
        allowed_v4 && allowed_v4a,
        "lattice host {host:?} not allowed"
    );
    for variant in [
        base.clone(),
        base.to_ascii_uppercase(),
        format!("{base}."),
        format!("{base}:443"),
        format!("{base}:8443"),
        format!("{}.:1", base.to_ascii_uppercase()),
    ] {
        assert_eq!(
            lattice_region(&variant).as_deref(),
            Some(region.as_str()),
            "{host:?} -> {variant:?}"
        );
        assert!(sigv4.allows_host(&variant), "{variant:?}");
    }
    // The region is in the name, lower case.
    assert!(
        base.contains(&format!(".vpc-lattice-svcs.{region}.on.aws")),
        "{host:?}"
    );
});
