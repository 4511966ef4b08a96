//! Criterion benchmarks for the per-request decision path: `PolicySet::evaluate` as the rule
//! count grows, and `Operation::classify` for a typical KV read and write.
//!
//! Run with `cargo bench --bench decide`; figures and the machine are in docs/benchmarks.md.

use std::hint::black_box;
use std::path::PathBuf;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use vaultgate::identity::Caller;
use vaultgate::policy::PolicySet;
use vaultgate::vault::operation::{ClassifyLimits, Operation};
use vaultgate::vault::placement::Placement;
use vaultgate::vault::semantics::ServerSemantics;

/// Rules are spread over this many tenants, as in a shared proxy.
const TENANTS: usize = 100;

/// The one rule at index `j` of a tenant's file. The mix follows what real policies hold:
/// exact paths, prefix globs, `+` rules (plain and with a trailing glob) and denies.
fn rule(tenant: &str, j: usize) -> String {
    let (pattern, capabilities) = match j % 5 {
        // Index 0 is the tenant's broad glob, so even a one-rule tenant can be hit deep down.
        _ if j == 0 => (format!("secret/data/{tenant}/*"), r#"["read"]"#),
        0 => (format!("secret/data/{tenant}/app{j}/config"), r#"["read"]"#),
        1 => (
            format!("secret/data/{tenant}/app{j}/*"),
            r#"["read", "create", "update"]"#,
        ),
        2 => (format!("secret/data/{tenant}/app{j}/+/cfg"), r#"["read"]"#),
        3 => (format!("secret/data/{tenant}/app{j}/admin*"), r#"["deny"]"#),
        _ => (format!("secret/metadata/{tenant}/+/app{j}*"), r#"["list"]"#),
    };
    format!("path \"{pattern}\" {{\n  capabilities = {capabilities}\n}}\n")
}

fn caller(name: &str) -> Caller {
    match Caller::parse(name) {
        Ok(caller) => caller,
        Err(e) => panic!("{name}: {e}"),
    }
}

/// `total` rules dealt round-robin to `tenants` tenants (`t0` … ), each one file, and one
/// caller `t<i>/svc` per tenant. Returns the set and the rules tenant `t0` received.
fn policy_set(total: usize, tenants: usize) -> (PolicySet, usize) {
    let mut files = vec![String::new(); tenants];
    for k in 0..total {
        let (tenant, j) = (k % tenants, k / tenants);
        files[tenant].push_str(&rule(&format!("t{tenant}"), j));
    }
    let share = files[0].matches("path \"").count();
    let callers: Vec<Caller> = (0..tenants).map(|t| caller(&format!("t{t}/svc"))).collect();
    let sources = files
        .into_iter()
        .enumerate()
        .filter(|(_, text)| !text.is_empty())
        .map(|(t, text)| (PathBuf::from(format!("t{t}.hcl")), text))
        .collect();
    match PolicySet::from_sources(sources, &callers) {
        Ok(set) => (set, share),
        Err(e) => panic!("generated policies do not load: {e}"),
    }
}

fn parts(method: &str, uri: &str, headers: &[(&str, &str)]) -> http::request::Parts {
    let mut builder = http::Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    match builder.body(()) {
        Ok(request) => request.into_parts().0,
        Err(e) => panic!("{method} {uri}: {e}"),
    }
}

fn classify(method: &str, uri: &str, headers: &[(&str, &str)], body: &'static str) -> Operation {
    let parts = parts(method, uri, headers);
    match Operation::classify(
        &parts,
        Bytes::from_static(body.as_bytes()),
        &ClassifyLimits::default(),
    ) {
        Ok(op) => op,
        Err(e) => panic!("{method} {uri}: {e}"),
    }
}

/// A read deep under the caller's last `app<j>/*` glob (or under its broad glob when it has
/// none), so every table of the ACL has something to compare against.
fn deep_hit(share: usize) -> Operation {
    let j = (0..share).rev().find(|j| j % 5 == 1).unwrap_or(1);
    classify(
        "GET",
        &format!("/v1/secret/data/t0/app{j}/x/y/z/leaf"),
        &[],
        "",
    )
}

fn bench_evaluate(c: &mut Criterion) {
    let mut group = c.benchmark_group("evaluate");
    let me = caller("t0/svc");
    let miss = classify("GET", "/v1/secret/data/t1/app1/x", &[], "");
    let mut known = ServerSemantics::default();
    known
        .space_mut("")
        .add_document(&serde_json::json!({"paths": {"/secret/data/{path}": {}}}));
    let cases = [
        (10, TENANTS, "100-tenants"),
        (1_000, TENANTS, "100-tenants"),
        (10_000, TENANTS, "100-tenants"),
        (10_000, 1, "1-tenant"),
    ];
    for (total, tenants, spread) in cases {
        let (set, share) = policy_set(total, tenants);
        let hit = deep_hit(share);
        // As the proxy does per request: place the operation on what is known of the
        // server (here, that `secret/` is a mount), then decide.
        let decide = |op: &Operation| {
            let placement = Placement::resolve(&op.full_path, &known, "");
            set.evaluate(&me, op, &placement)
        };
        assert!(decide(&hit).allowed, "the deep hit must be allowed");
        assert!(!decide(&miss).allowed, "the miss must be denied");
        let label = format!("{total}-rules-{spread}-caller-has-{share}");
        group.bench_with_input(BenchmarkId::new("hit", &label), &hit, |b, op| {
            b.iter(|| decide(black_box(op)))
        });
        group.bench_with_input(BenchmarkId::new("miss", &label), &miss, |b, op| {
            b.iter(|| decide(black_box(op)))
        });
    }
    group.finish();
}

fn bench_classify(c: &mut Criterion) {
    let mut group = c.benchmark_group("classify");
    let read = parts("GET", "/v1/secret/data/acme/billing/db", &[]);
    group.bench_function("kv-read", |b| {
        b.iter(|| Operation::classify(black_box(&read), Bytes::new(), &ClassifyLimits::default()))
    });
    let write = parts(
        "POST",
        "/v1/secret/data/acme/billing/db",
        &[("content-type", "application/json")],
    );
    let body = Bytes::from_static(br#"{"data":{"username":"app","password":"s3cr3t-Pa55"}}"#);
    group.bench_function("kv-write-json", |b| {
        b.iter(|| {
            Operation::classify(
                black_box(&write),
                black_box(body.clone()),
                &ClassifyLimits::default(),
            )
        })
    });
    group.finish();
}

criterion_group!(benches, bench_evaluate, bench_classify);
criterion_main!(benches);
