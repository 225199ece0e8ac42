//! The signing bars' ratios, measured so that the machine's drift cancels: aws-sigv4,
//! lattice-client and a floor sign one case in short batches that take turns, with the
//! order rotated every round. Reports the median time of each and the median of the
//! per-round ratios.
//!
//! `cargo bench -p lattice-client --bench ratio`
//!
//! - `sigv4/get+token`, the SigV4 bar's case. Its floor is SHA-256 over the canonical
//!   request, the HMAC of the string to sign with a ready key, and adding the signed
//!   headers (`support::Floor`).
//! - `sigv4a/get+token`, the SigV4A bar's case. Its floor is the aws-lc-rs ECDSA signature
//!   alone over a string to sign of the same length, so `aws-sigv4 / floor` is the highest
//!   ratio any signer using that library could reach on this machine.
//!
//! Criterion (`--bench sign`) times one benchmark after the other, and this noisy 2-core
//! machine changes speed between them: aws-sigv4 alone in a loop went from 9.0 to 6.6 µs
//! per signature from one batch to the next (2026-11-23). A ratio taken across two
//! criterion rows inherits that. Here both sides of each ratio ran within the same half
//! second.
//!
//! Setup checks that aws-sigv4 and lattice-client produce the same SigV4 `Authorization`
//! (SigV4A signatures are randomized: the same header up to the signature), and that the
//! SigV4 floor's signature is theirs too, so all three do the same signature's work. Under
//! `cargo test` it runs two small rounds of each, as a smoke test.

mod support;

use std::hint::black_box;
use std::time::Instant;

use aws_lc_rs::rand::SystemRandom;
use aws_smithy_runtime_api::client::identity::Identity;
use lattice_client::SigningConfig;

use support::{Floor, baseline_sign, case_named, credentials, ecdsa_floor, lattice_sign, median};

fn main() {
    let full = std::env::args().any(|arg| arg == "--bench");
    sigv4(full);
    sigv4a(full);
}

fn sigv4(full: bool) {
    let (rounds, per_batch) = if full { (15, 40_000) } else { (2, 200) };
    let floor = Floor::new();
    let case = &floor.case;
    let credentials = credentials(case.token);
    let identity = Identity::from(credentials.clone());
    let config = SigningConfig::builder().build().expect("config");
    let lattice = || lattice_sign(&config, case, &credentials);
    let baseline = || baseline_sign(case, &identity);
    assert_eq!(
        lattice()["authorization"],
        baseline().headers()["authorization"],
        "aws-sigv4 and lattice-client must sign the same request the same way"
    );
    let mut signers: [&mut dyn FnMut(); 3] = [
        &mut || drop(black_box(baseline())),
        &mut || drop(black_box(lattice())),
        &mut || drop(black_box((floor.signature(), floor.insert_headers()))),
    ];
    interleave(case.name, &mut signers, rounds, per_batch);
}

fn sigv4a(full: bool) {
    // A SigV4A signature costs ~20 times a SigV4 one: fewer per batch keeps batches short.
    let (rounds, per_batch) = if full { (15, 2_000) } else { (2, 10) };
    let case = case_named("sigv4a/get+token");
    let credentials = credentials(case.token);
    let identity = Identity::from(credentials.clone());
    let config = SigningConfig::builder()
        .sigv4a("*")
        .build()
        .expect("config");
    let lattice = || lattice_sign(&config, &case, &credentials);
    let baseline = || baseline_sign(&case, &identity);
    let unsigned = |value: &http::HeaderValue| {
        let value = value.to_str().expect("ASCII").to_owned();
        let (head, _signature) = value.split_once("Signature=").expect("a signature");
        head.to_owned()
    };
    assert_eq!(
        unsigned(&lattice()["authorization"]),
        unsigned(&baseline().headers()["authorization"]),
        "aws-sigv4 and lattice-client must sign the same request the same way"
    );
    let (key, string_to_sign) = ecdsa_floor();
    let rng = SystemRandom::new();
    let mut signers: [&mut dyn FnMut(); 3] = [
        &mut || drop(black_box(baseline())),
        &mut || drop(black_box(lattice())),
        &mut || {
            black_box(key.sign(&rng, black_box(&string_to_sign)).expect("sign"));
        },
    ];
    interleave(case.name, &mut signers, rounds, per_batch);
}

/// Times `per_batch` calls of each of aws-sigv4, lattice-client and the floor (in that
/// order in `signers`), in turns, for `rounds` rounds; prints the medians and ratios.
fn interleave(case: &str, signers: &mut [&mut dyn FnMut(); 3], rounds: usize, per_batch: u32) {
    const NAMES: [&str; 3] = ["aws-sigv4", "lattice-client", "floor"];
    // Nanoseconds per signature over one batch.
    let mut batch = |kind: usize| {
        let start = Instant::now();
        for _ in 0..per_batch {
            signers[kind]();
        }
        start.elapsed().as_secs_f64() * 1e9 / f64::from(per_batch)
    };
    for kind in 0..3 {
        batch(kind); // warm-up
    }
    let mut times: [Vec<f64>; 3] = Default::default();
    for round in 0..rounds {
        for offset in 0..3 {
            let kind = (round + offset) % 3;
            times[kind].push(batch(kind));
        }
    }

    let per_round = |a: usize, b: usize| -> Vec<f64> {
        times[a].iter().zip(&times[b]).map(|(x, y)| x / y).collect()
    };
    println!("{case}: {rounds} rounds, {per_batch} signatures per batch, order rotated");
    for (name, time) in NAMES.iter().zip(&times) {
        println!("  {name:<15} {:>7.0} ns (median)", median(time));
    }
    for (a, b) in [(0, 1), (0, 2), (1, 2)] {
        let ratios = per_round(a, b);
        let (low, high) = range(&ratios);
        let name = format!("{} / {}", NAMES[a], NAMES[b]);
        println!(
            "  {name:<27} {:.2}x (median of rounds; {low:.2} to {high:.2})",
            median(&ratios)
        );
    }
}

fn range(values: &[f64]) -> (f64, f64) {
    let low = values.iter().copied().fold(f64::INFINITY, f64::min);
    let high = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (low, high)
}
