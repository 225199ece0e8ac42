//! Signs one bench case `N` times, for `bench/instructions.sh` to count the instructions
//! under callgrind. Callgrind counts the whole process, set-up included, so the script runs
//! `N` and `11 N` and divides the difference by `10 N`.
//!
//! `instructions <lattice-client|aws-sigv4|floor> <sigv4|sigv4a> <N>`
//!
//! The cases are the ratio bench's (`sigv4/get+token`, `sigv4a/get+token`), and so are the
//! floors (`support::Floor`, `support::ecdsa_floor`). Without arguments, as `cargo bench`
//! and `cargo test --benches` run it, each signer signs each case once as a smoke test.

mod support;

use std::hint::black_box;

use aws_lc_rs::rand::SystemRandom;
use aws_smithy_runtime_api::client::identity::Identity;
use lattice_client::SigningConfig;

use support::{Floor, baseline_sign, case_named, credentials, ecdsa_floor, lattice_sign};

const SIGNERS: [&str; 3] = ["lattice-client", "aws-sigv4", "floor"];
const CASES: [&str; 2] = ["sigv4", "sigv4a"];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [signer, case, count] => {
            let Ok(count) = count.parse() else {
                usage(&format!("`{count}` is not a count"));
            };
            if !SIGNERS.contains(&signer.as_str()) || !CASES.contains(&case.as_str()) {
                usage(&format!("unknown signer or case `{signer} {case}`"));
            }
            run(signer, case, count);
        }
        // `cargo bench` passes `--bench`; `cargo test` passes nothing or test filters.
        _ => {
            for signer in SIGNERS {
                for case in CASES {
                    run(signer, case, 1);
                }
            }
        }
    }
}

fn usage(problem: &str) -> ! {
    eprintln!(
        "{problem}; usage: instructions <{}> <{}> <N>",
        SIGNERS.join("|"),
        CASES.join("|")
    );
    std::process::exit(64);
}

/// One warm-up signature (keys derived, buffers grown), then `count` more.
fn run(signer: &str, case: &str, count: u64) {
    let sigv4a = case == "sigv4a";
    let bench_case = case_named(if sigv4a {
        "sigv4a/get+token"
    } else {
        "sigv4/get+token"
    });
    let credentials = credentials(bench_case.token);
    let mut sign: Box<dyn FnMut()> = match signer {
        "lattice-client" => {
            let config = if sigv4a {
                SigningConfig::builder().sigv4a("*")
            } else {
                SigningConfig::builder()
            }
            .build()
            .expect("config");
            Box::new(move || drop(black_box(lattice_sign(&config, &bench_case, &credentials))))
        }
        "aws-sigv4" => {
            let identity = Identity::from(credentials);
            Box::new(move || drop(black_box(baseline_sign(&bench_case, &identity))))
        }
        _ if sigv4a => {
            let (key, string_to_sign) = ecdsa_floor();
            let rng = SystemRandom::new();
            Box::new(move || {
                black_box(key.sign(&rng, black_box(&string_to_sign)).expect("sign"));
            })
        }
        _ => {
            let floor = Floor::new();
            Box::new(move || drop(black_box((floor.signature(), floor.insert_headers()))))
        }
    };
    sign();
    for _ in 0..count {
        sign();
    }
}
