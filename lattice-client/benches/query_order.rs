//! What the canonical-query shortcut saves: the `sigv4/get+token` signature with its query
//! in canonical order (`id=42&view=full`, copied as is) and with the pairs reversed (split,
//! re-encoded and sorted), in one process.
//!
//! `cargo bench -p lattice-client --bench query_order`
//!
//! Not criterion: criterion times one case after the other, and on a noisy 2-core machine
//! the drift between them (up to 0.2 µs) is larger than the difference measured here
//! (about 0.1 µs). This alternates the two cases in short batches, switching which goes
//! first, and reports medians over the rounds and their ratio.

#[allow(dead_code)] // Only the case, the credentials and `median` are used here.
mod support;

use std::hint::black_box;
use std::time::Instant;

use http::{Method, Uri};
use lattice_client::SigningConfig;

use support::{HOST, credentials, get_token_case, median, time};
const ROUNDS: usize = 15;
const SIGNS_PER_BATCH: u32 = 100_000;

fn main() {
    let credentials = credentials(true);
    let config = SigningConfig::builder().build().expect("config");
    let headers = get_token_case().headers;
    let time = time();
    let uri = |query: &str| -> Uri {
        format!("https://{HOST}/orders?{query}")
            .parse()
            .expect("uri")
    };
    let cases = [uri("id=42&view=full"), uri("view=full&id=42")];
    let batch = |uri: &Uri| {
        let start = Instant::now();
        for _ in 0..SIGNS_PER_BATCH {
            let mut signed = headers.clone();
            config
                .sign(&Method::GET, uri, &mut signed, &credentials, time)
                .expect("sign");
            black_box(signed);
        }
        start.elapsed().as_secs_f64() * 1e9 / f64::from(SIGNS_PER_BATCH)
    };
    for uri in &cases {
        batch(uri); // warm-up
    }
    let mut sorted = Vec::with_capacity(ROUNDS);
    let mut unsorted = Vec::with_capacity(ROUNDS);
    for round in 0..ROUNDS {
        if round % 2 == 0 {
            sorted.push(batch(&cases[0]));
            unsorted.push(batch(&cases[1]));
        } else {
            unsorted.push(batch(&cases[1]));
            sorted.push(batch(&cases[0]));
        }
    }
    let (sorted, unsorted) = (median(&sorted), median(&unsorted));
    println!("query in canonical order (copied):   {sorted:.0} ns per signature");
    println!("same pairs reversed (sorted again):  {unsorted:.0} ns per signature");
    println!(
        "the shortcut saves {:.0} ns ({:.1}%), medians of {ROUNDS} alternating rounds",
        unsorted - sorted,
        100.0 * (unsorted - sorted) / unsorted
    );
}
