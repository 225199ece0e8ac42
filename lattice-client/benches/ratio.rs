//! The SigV4 bar's ratio, measured so that the machine's drift cancels: aws-sigv4,
//! lattice-client and the floor sign the `sigv4/get+token` case in short batches that take
//! turns, with the order rotated every round. Reports the median time of each and the
//! median of the per-round ratios.
//!
//! `cargo bench -p lattice-client --bench ratio`
//!
//! Criterion (`--bench sign`) times one benchmark after the other, and this noisy 2-core
//! machine changes speed between them: aws-sigv4 alone in a loop went from 9.0 to 6.6 µs
//! per signature from one batch to the next (`bench/RESULTS.md`). A ratio taken across two
//! criterion rows inherits that. Here both sides of each ratio ran within the same half
//! second.
//! Setup checks that aws-sigv4 and lattice-client produce the same `Authorization`, and
//! that the floor's signature is theirs too, so all three do the same signature's work.
//! Under `cargo test` it runs two small rounds, as a smoke test.

mod support;

use std::hint::black_box;
use std::time::Instant;

use aws_smithy_runtime_api::client::identity::Identity;
use lattice_client::SigningConfig;

use support::{Floor, baseline_sign, credentials, median, time};

/// The three kinds of batch, as indexes into the timings.
const AWS_SIGV4: usize = 0;
const LATTICE: usize = 1;
const FLOOR: usize = 2;

fn main() {
    let full = std::env::args().any(|arg| arg == "--bench");
    let (rounds, per_batch) = if full { (15, 40_000) } else { (2, 200) };

    let floor = Floor::new();
    let case = &floor.case;
    let credentials = credentials(case.token);
    let identity = Identity::from(credentials.clone());
    let config = SigningConfig::builder().build().expect("config");
    let lattice = || {
        let mut headers = case.headers.clone();
        config
            .sign(&case.method, &case.uri, &mut headers, &credentials, time())
            .expect("sign");
        headers
    };
    let baseline = || baseline_sign(case, &identity);
    assert_eq!(
        lattice()["authorization"],
        baseline().headers()["authorization"],
        "aws-sigv4 and lattice-client must sign the same request the same way"
    );

    // Nanoseconds per signature over one batch.
    let batch = |kind: usize| {
        let start = Instant::now();
        for _ in 0..per_batch {
            match kind {
                AWS_SIGV4 => drop(black_box(baseline())),
                LATTICE => drop(black_box(lattice())),
                _ => drop(black_box((floor.signature(), floor.insert_headers()))),
            }
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
    let (over_lattice, over_floor, lattice_over_floor) = (
        per_round(AWS_SIGV4, LATTICE),
        per_round(AWS_SIGV4, FLOOR),
        per_round(LATTICE, FLOOR),
    );
    println!("sigv4/get+token: {rounds} rounds, {per_batch} signatures per batch, order rotated");
    for (name, kind) in [
        ("aws-sigv4", AWS_SIGV4),
        ("lattice-client", LATTICE),
        ("floor", FLOOR),
    ] {
        println!("  {name:<15} {:>7.0} ns (median)", median(&times[kind]));
    }
    for (name, ratios) in [
        ("aws-sigv4 / lattice-client", &over_lattice),
        ("aws-sigv4 / floor", &over_floor),
        ("lattice-client / floor", &lattice_over_floor),
    ] {
        let (low, high) = range(ratios);
        println!(
            "  {name:<27} {:.2}x (median of rounds; {low:.2} to {high:.2})",
            median(ratios)
        );
    }
}

fn range(values: &[f64]) -> (f64, f64) {
    let low = values.iter().copied().fold(f64::INFINITY, f64::min);
    let high = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (low, high)
}
