//! Heap allocations per warm SigV4 signature, counted by `stats_alloc` (the workspace
//! forbids `unsafe`, so no hand-written `GlobalAlloc`). One test in this binary, so the
//! harness's other threads stay idle while it counts.

use std::alloc::System;
use std::time::{Duration, UNIX_EPOCH};

use http::{HeaderMap, HeaderValue, Method, Uri};
use lattice_client::{Credentials, SigningConfig};
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

    // Warm-up: key cache, thread-local buffers.
    for _ in 0..3 {
        let mut request_headers = headers.clone();
        config
            .sign(&Method::GET, &uri, &mut request_headers, &credentials, time)
            .expect("sign");
    }

    let mut worst = 0;
    for _ in 0..100 {
        let mut request_headers = headers.clone();
        let region = Region::new(GLOBAL);
        config
            .sign(&Method::GET, &uri, &mut request_headers, &credentials, time)
            .expect("sign");
        let change = region.change();
        let allocations = change.allocations + change.reallocations;
        assert!(request_headers.contains_key("authorization"));
        worst = worst.max(allocations);
    }
    println!("allocations per warm SigV4 sign (GET, session token): {worst}");
    assert!(
        worst <= MAX_ALLOCATIONS,
        "{worst} allocations > {MAX_ALLOCATIONS}"
    );
}
