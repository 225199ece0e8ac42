//! Signing cost of lattice-client next to a baseline that calls
//! `aws_sigv4::http_request::sign` directly, measured in the same run.
//!
//! `cargo bench -p lattice-client --bench sign`
//!
//! The `floor` rows measure, in the same run, the two costs any signer pays for the
//! `sigv4/get+token` case whatever its design: SHA-256 over that case's canonical request
//! plus the HMAC of its string to sign with a ready key, and adding the four signed
//! headers to the request's `HeaderMap`. Setup checks that the floor's signature equals
//! lattice-client's, so it hashes exactly the bytes that are signed. `floor/sigv4a/ecdsa`
//! is the ECDSA P-256 signature alone (aws-lc-rs) over a SigV4A string to sign: what every
//! SigV4A signature costs at least with that library.
//!
//! The `signer` row signs the same case the way the tower layer does: through a `Signer`
//! and its credentials cache, with credentials carrying the property map aws-config's
//! providers set.

mod support;

use std::hint::black_box;
use std::time::Duration;

use aws_lc_rs::rand::SystemRandom;
use aws_smithy_runtime_api::client::identity::Identity;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use lattice_client::{CredentialsCache, Signer, SigningConfig};

use support::{
    Floor, baseline_sign, cases, credentials, ecdsa_floor, get_token_case, lattice_sign,
};

fn bench_sign(c: &mut Criterion) {
    let mut group = c.benchmark_group("sign");
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(2));
    for case in cases() {
        let config = if case.sigv4a {
            SigningConfig::builder().sigv4a("*").build().unwrap()
        } else {
            SigningConfig::builder().build().unwrap()
        };
        let creds = credentials(case.token);
        let identity = Identity::from(creds.clone());
        group.bench_with_input(
            BenchmarkId::new("aws-sigv4", case.name),
            &case,
            |b, case| b.iter(|| black_box(baseline_sign(case, &identity))),
        );
        group.bench_with_input(
            BenchmarkId::new("lattice-client", case.name),
            &case,
            |b, case| b.iter(|| black_box(lattice_sign(&config, case, &creds))),
        );
    }
    group.finish();
}

fn bench_floor(c: &mut Criterion) {
    let mut group = c.benchmark_group("floor");
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(2));
    let floor = Floor::new();
    group.bench_function("sigv4/get+token/sha256+hmac", |b| {
        b.iter(|| black_box(floor.signature()))
    });
    group.bench_function("sigv4/get+token/header-inserts", |b| {
        b.iter(|| black_box(floor.insert_headers()))
    });
    let (key, string_to_sign) = ecdsa_floor();
    let rng = SystemRandom::new();
    group.bench_function("sigv4a/ecdsa", |b| {
        b.iter(|| black_box(key.sign(&rng, black_box(&string_to_sign)).expect("sign")))
    });
    group.finish();
}

fn bench_signer(c: &mut Criterion) {
    use aws_credential_types::credential_feature::AwsCredentialFeature;

    let mut group = c.benchmark_group("signer");
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(2));
    let case = get_token_case();
    let mut creds = credentials(true);
    creds
        .get_property_mut_or_default::<Vec<AwsCredentialFeature>>()
        .push(AwsCredentialFeature::CredentialsEnvVars);
    let config = SigningConfig::builder().build().unwrap();
    let signer = Signer::new(config, CredentialsCache::from_static(creds));
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(signer.credentials().warm())
        .expect("static credentials");
    group.bench_function("lattice-client/sigv4/get+token", |b| {
        b.iter(|| {
            let mut uri = case.uri.clone();
            let mut headers = case.headers.clone();
            let signed = signer
                .sign_parts_if_warm(&case.method, &mut uri, &mut headers)
                .unwrap();
            black_box((signed, headers))
        })
    });
    group.finish();
}

criterion_group!(benches, bench_sign, bench_floor, bench_signer);
criterion_main!(benches);
