//! Rust-side timings for keys and bloom filters, printed as one JSON object (ns per operation,
//! median of several repeats). Run by `bench/bench_core.py`; by hand:
//! `cargo run --release -p lead2inbound-core --example bench_core`.

use std::hint::black_box;
use std::time::Instant;

use _core::bloom::WindowedBloom;
use _core::keys::{self, Env};

const REPEATS: usize = 7;

/// Median ns per op of `REPEATS` runs of `ops` operations each.
fn median_ns(ops: usize, mut run: impl FnMut()) -> f64 {
    run(); // warm-up
    let mut samples: Vec<f64> = (0..REPEATS)
        .map(|_| {
            let start = Instant::now();
            run();
            start.elapsed().as_nanos() as f64 / ops as f64
        })
        .collect();
    samples.sort_by(|a, b| a.partial_cmp(b).unwrap());
    samples[REPEATS / 2]
}

fn main() {
    let pepper = b"bench-pepper-0123456789abcdef0123";
    let n_keys = 2_000;
    let minted: Vec<String> = (0..n_keys)
        .map(|_| keys::mint_key(Env::Live).unwrap().0)
        .collect();
    let digests: Vec<[u8; 32]> = minted.iter().map(|k| keys::key_digest(pepper, k)).collect();

    let mut results: Vec<(&str, f64)> = Vec::new();
    results.push((
        "parse_key",
        median_ns(n_keys, || {
            for k in &minted {
                black_box(keys::parse_key(black_box(k)));
            }
        }),
    ));
    results.push((
        "verify_key",
        median_ns(n_keys, || {
            for (k, d) in minted.iter().zip(&digests) {
                black_box(keys::verify_key(pepper, black_box(k), d));
            }
        }),
    ));
    results.push((
        "parse_and_verify",
        median_ns(n_keys, || {
            for (k, d) in minted.iter().zip(&digests) {
                let ok = keys::parse_key(black_box(k)).is_some() && keys::verify_key(pepper, k, d);
                black_box(ok);
            }
        }),
    ));
    results.push((
        "mint_key",
        median_ns(500, || {
            for _ in 0..500 {
                black_box(keys::mint_key(Env::Live).unwrap());
            }
        }),
    ));

    // Bloom: 1M capacity at 1%, half full, queried at one fixed time.
    let cap = 1_000_000u64;
    let bloom = WindowedBloom::with_seed(cap, 0.01, 3600.0, 4, 42).unwrap();
    let now = 1_700_000_000.0;
    let present: Vec<String> = (0..cap / 2)
        .map(|i| format!("lead:{i}:+1555{i:07}"))
        .collect();
    bloom
        .insert_many(present.iter().map(|s| s.as_bytes()), now)
        .unwrap();
    let absent: Vec<String> = (0..cap / 2)
        .map(|i| format!("miss:{i}:+1666{i:07}"))
        .collect();
    let ops = 200_000;
    results.push((
        "bloom_contains_hit",
        median_ns(ops, || {
            for k in &present[..ops] {
                black_box(bloom.contains(black_box(k.as_bytes()), now).unwrap());
            }
        }),
    ));
    results.push((
        "bloom_contains_miss",
        median_ns(ops, || {
            for k in &absent[..ops] {
                black_box(bloom.contains(black_box(k.as_bytes()), now).unwrap());
            }
        }),
    ));
    let extra: Vec<String> = (0..ops).map(|i| format!("new:{i}:+1777{i:07}")).collect();
    results.push((
        "bloom_insert",
        median_ns(ops, || {
            for k in &extra {
                bloom.insert(black_box(k.as_bytes()), now).unwrap();
            }
        }),
    ));

    let body: Vec<String> = results
        .iter()
        .map(|(name, ns)| format!("\"{name}\": {ns:.1}"))
        .collect();
    println!(
        "{{\"unit\": \"ns/op\", \"repeats\": {REPEATS}, \"bloom_bits_per_slot\": {}, \"bloom_k\": {}, \"bloom_memory_bytes\": {}, {}}}",
        bloom.bits_per_slot(),
        bloom.hash_count(),
        bloom.memory_bytes(),
        body.join(", ")
    );
}
