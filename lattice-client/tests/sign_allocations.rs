//! Heap allocations per warm SigV4 signature, counted by `stats_alloc` (the workspace
//! forbids `unsafe`, so no hand-written `GlobalAlloc`). One test in this binary, so the
//! harness's other threads stay idle while it counts.

use std::alloc::System;
use std::time::{Duration, UNIX_EPOCH};

use aws_credential_types::credential_feature::AwsCredentialFeature;
use http::{HeaderMap, HeaderValue, Method, Uri};
use lattice_client::{Credentials, CredentialsCache, Signer, SigningConfig};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// The bar for a warm SigV4 signature with a session token.
const MAX_ALLOCATIONS: usize = 20;

#[test]
fn warm_sigv4_sign_allocates_little() {
    let config = SigningConfig::builder().build().expect("config");
    let uri: Uri = "https://orders-0123456789abcdef0.7d67968.vpc-lattice-svcs.us-west-2.on.aws/orders?id=42&view=full"
        .parse()
        .expect("uri");
    let token = "IQoJb3JpZ2luX2VjEXAMPLETOKEN".repeat(20);
    let credentials = Credentials::new(
        "AKIDEXAMPLE",
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        Some(token),
        None,
        "test",
    );
    let mut headers = HeaderMap::new();
    headers.insert("accept", HeaderValue::from_static("application/json"));
    headers.insert("user-agent", HeaderValue::from_static("bench/1.0"));
    let time = UNIX_EPOCH + Duration::from_secs(1_700_000_000);

    let direct = worst_allocations(
        || headers.clone(),
        |request_headers| {
            config
                .sign(&Method::GET, &uri, request_headers, &credentials, time)
                .expect("sign");
            assert!(request_headers.contains_key("authorization"));
        },
    );
    println!("allocations per warm SigV4 sign (GET, session token): {direct}");
    assert!(
        direct <= MAX_ALLOCATIONS,
        "{direct} allocations > {MAX_ALLOCATIONS}"
    );

    // Through a `Signer` and its cache, with credentials that carry a property, as
    // aws-config's providers set them: signing must borrow the cached credentials, since a
    // `Credentials` clone copies the property map.
    let mut credentials = credentials;
    credentials
        .get_property_mut_or_default::<Vec<AwsCredentialFeature>>()
        .push(AwsCredentialFeature::CredentialsEnvVars);
    let signer = Signer::new(config.clone(), CredentialsCache::from_static(credentials));
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(signer.credentials().warm())
        .expect("static credentials load");
    let through_signer = worst_allocations(
        || (uri.clone(), headers.clone()),
        |(request_uri, request_headers)| {
            let signed = signer
                .sign_parts_if_warm(&Method::GET, request_uri, request_headers)
                .expect("sign");
            assert!(signed.is_some() && request_headers.contains_key("authorization"));
        },
    );
    println!("allocations per warm SigV4 sign through a Signer: {through_signer}");
    assert!(
        through_signer <= direct,
        "{through_signer} allocations through a Signer > {direct} signing directly"
    );
}

/// The most allocations one call of `sign` made, after a warm-up (key cache, buffers).
/// `prepare` makes the request's parts outside the count.
fn worst_allocations<T>(mut prepare: impl FnMut() -> T, mut sign: impl FnMut(&mut T)) -> usize {
    for _ in 0..3 {
        sign(&mut prepare());
    }
    (0..100)
        .map(|_| {
            let mut parts = prepare();
            let region = Region::new(GLOBAL);
            sign(&mut parts);
            let change = region.change();
            drop(parts);
            change.allocations + change.reallocations
        })
        .max()
        .unwrap_or_default()
}
