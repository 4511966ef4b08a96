//! Criterion benchmarks for the read cache: the cost of serving a hit (plan + key + lookup)
//! as the number of entries grows, and of a write's invalidation.
//!
//! Run with `cargo bench --bench cache`; figures are in docs/benchmarks.md.

use std::hint::black_box;
use std::time::Duration;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use http::{HeaderMap, Request, StatusCode};
use tokio::time::Instant;
use vaultgate::cache::{Lookup, ReadCache};
use vaultgate::config::CacheConfig;
use vaultgate::identity::Caller;
use vaultgate::vault::operation::{ClassifyLimits, Operation};
use vaultgate::vault::placement::Placement;
use vaultgate::vault::semantics::ServerSemantics;

fn operation(method: &str, uri: &str, body: &'static [u8]) -> Operation {
    let mut builder = Request::builder().method(method).uri(uri);
    if !body.is_empty() {
        builder = builder.header("content-type", "application/json");
    }
    let (parts, ()) = match builder.body(()) {
        Ok(r) => r.into_parts(),
        Err(e) => panic!("{uri}: {e}"),
    };
    match Operation::classify(&parts, Bytes::from_static(body), &ClassifyLimits::default()) {
        Ok(op) => op,
        Err(e) => panic!("{uri}: {e}"),
    }
}

/// Where a server whose root has the `secret/` mount lands `op`.
fn placed(op: &Operation) -> Placement {
    let mut known = ServerSemantics::default();
    known
        .space_mut("")
        .add_document(&serde_json::json!({"paths": {"/secret/data/{path}": {}}}));
    Placement::resolve(&op.full_path, &known, "")
}

fn caller() -> Caller {
    match Caller::parse("acme/billing") {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    }
}

/// A cache holding `entries` answers of ~300 bytes, as a KV v2 read returns.
fn filled(entries: usize) -> ReadCache {
    let cache = ReadCache::new(CacheConfig {
        ttl: Duration::from_secs(3600),
        max_bytes: 1 << 30,
        ..CacheConfig::default()
    });
    let who = caller();
    for i in 0..entries {
        let op = operation("GET", &format!("/v1/secret/data/acme/billing/k{i}"), b"");
        let placement = placed(&op);
        let Some(plan) = cache.plan(&who, &op, &placement) else {
            panic!("not cacheable")
        };
        let stamps = cache.stamps(&op, &placement);
        let body = Bytes::from(vec![b'x'; 300]);
        let entry = cache.entry(
            &plan,
            stamps,
            Instant::now(),
            None,
            (StatusCode::OK, HeaderMap::new(), body),
        );
        cache.insert(&plan, entry);
    }
    cache
}

fn hit(c: &mut Criterion) {
    let mut group = c.benchmark_group("cache hit");
    let who = caller();
    let op = operation("GET", "/v1/secret/data/acme/billing/k7", b"");
    let placement = placed(&op);
    for entries in [100usize, 1_000, 10_000, 100_000] {
        let cache = filled(entries);
        group.bench_with_input(BenchmarkId::from_parameter(entries), &cache, |b, cache| {
            b.iter(|| {
                let Some(plan) = cache.plan(&who, black_box(&op), &placement) else {
                    panic!("not cacheable")
                };
                match cache.lookup(&plan.key) {
                    Lookup::Fresh(entry) => black_box(entry.body.clone()),
                    other => panic!("expected a hit, got {other:?}"),
                }
            });
        });
    }
    group.finish();
}

fn invalidate(c: &mut Criterion) {
    let cache = filled(10_000);
    let write = operation(
        "POST",
        "/v1/secret/data/acme/billing/team/k7",
        b"{\"data\":{\"a\":\"b\"}}",
    );
    let placement = placed(&write);
    c.bench_function("cache invalidate (KV v2 write, 10,000 entries)", |b| {
        b.iter(|| cache.invalidate(black_box(&write), &placement));
    });
}

criterion_group!(benches, hit, invalidate);
criterion_main!(benches);
