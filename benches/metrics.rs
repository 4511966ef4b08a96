//! Criterion benchmark for what metrics add to every request: one `Metrics::request` call
//! (a counter in a labelled family and two histogram observations), and one `/metrics`
//! encode of a registry with a handful of series.
//!
//! Run with `cargo bench --bench metrics`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use vaultgate::identity::Caller;
use vaultgate::metrics::Metrics;

fn request(c: &mut Criterion) {
    let callers: Vec<Caller> = (0..20)
        .map(|i| Caller::parse(&format!("tenant{i}/service{i}")).unwrap_or_else(|e| panic!("{e}")))
        .collect();
    let metrics = Metrics::new(&callers);
    let caller = &callers[7];
    let (elapsed, upstream) = (Duration::from_micros(900), Some(Duration::from_micros(700)));
    c.bench_function("metrics/request", |b| {
        b.iter(|| {
            metrics.request(black_box(Some(caller)), Some(true), 200, elapsed, upstream);
        })
    });
    for (i, c) in callers.iter().enumerate() {
        metrics.request(
            Some(c),
            Some(i % 3 != 0),
            if i % 3 == 0 { 403 } else { 200 },
            elapsed,
            upstream,
        );
    }
    c.bench_function("metrics/encode_20_callers", |b| {
        b.iter(|| black_box(metrics.encode()))
    });
}

criterion_group!(benches, request);
criterion_main!(benches);
