//! Criterion benchmarks for the audit record: building and serializing one typical request
//! record, the token HMAC, and a record's full trip through the writer into a file sink.
//!
//! Run with `cargo bench --bench audit`; figures are in docs/benchmarks.md.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use serde_json::json;
use vaultgate::audit::{
    now_rfc3339, AuditRecord, Auditor, CallerPart, DecisionPart, FileSinkConfig, Fsync,
    OperationPart, RequestRecord, ResponsePart, RulePart, Shown, SinkConfig, UpstreamPart,
};

/// The record of an allowed KV read that went upstream, shaped as `proxy::Exchange` builds it.
fn allowed_read(id: String, token_hmac: &str) -> AuditRecord {
    let mut r = AuditRecord::request(id);
    r.caller = Some(json!({
        "tenant": "acme", "service": "billing",
        "peer": "127.0.0.1:53122", "listener": "127.0.0.1:8300",
    }));
    r.operation = Some(json!({
        "verb": "read", "namespace": "", "path": "secret/data/acme/billing/db",
        "parameters": [], "wrap_ttl_s": null, "method": "GET",
    }));
    r.decision = Some(json!({
        "allowed": true,
        "reason": "allowed by policies/acme.hcl:7 secret/data/{{tenant}}/{{service}}/*",
        "rule": {"file": "policies/acme.hcl", "line": 7,
                 "pattern": "secret/data/{{tenant}}/{{service}}/*"},
    }));
    r.cache = Some("bypass");
    r.upstream = Some(json!({
        "status": 200, "duration_us": 1840, "principal": "acme/billing",
        "token_hmac": token_hmac, "retried": false,
    }));
    r.response = Some(json!({"status": 200, "bytes": 412}));
    r.duration_us = Some(2210);
    r
}

/// The same record as `allowed_read`, typed and borrowed as `proxy::Exchange::record` now
/// builds it (the line is identical).
fn with_typed<R>(id: &str, token_hmac: &str, then: impl FnOnce(&RequestRecord<'_>) -> R) -> R {
    let file = std::path::PathBuf::from("policies/acme.hcl");
    let record = RequestRecord {
        version: vaultgate::audit::SCHEMA_VERSION,
        time: now_rfc3339(),
        kind: "request",
        request_id: id,
        caller: CallerPart {
            listener: 0,
            peer: "127.0.0.1:53122",
            service: Some("billing"),
            tenant: Some("acme"),
            unidentified: None,
        },
        operation: OperationPart {
            method: "GET",
            target: None,
            namespace: Some(""),
            parameters: Some(&[]),
            path: Some("secret/data/acme/billing/db"),
            verb: Some("read"),
            wrap_ttl_s: Some(None),
        },
        decision: Some(DecisionPart {
            allowed: true,
            reason: "allowed by policies/acme.hcl:7 secret/data/{{tenant}}/{{service}}/*",
            rule: Some(RulePart {
                file: Shown(file.display()),
                line: 7,
                pattern: "secret/data/{{tenant}}/{{service}}/*",
            }),
        }),
        cache: Some("bypass"),
        upstream: Some(UpstreamPart {
            duration_us: Some(1840),
            principal: Some(Shown(&"acme/billing")),
            retried: false,
            status: 200,
            token_hmac: Some(token_hmac),
        }),
        lease: None,
        response: ResponsePart {
            bytes: Some(412),
            status: 200,
        },
        duration_us: 2210,
        error: None,
    };
    then(&record)
}

fn bench_record(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let key = dir.path().join("hmac.key");
    let off = Auditor::start(&[], &key, true).unwrap_or_else(|e| panic!("{e}"));
    let tag = off.hmac("s.7fB2kQ9xLmN3pR5tV8wY1zA4");
    let mut group = c.benchmark_group("audit");
    let record = allowed_read("1a2b3c4d-0000beef".into(), &tag);
    let line = serde_json::to_vec(&record).unwrap_or_default();
    println!("typical record: {} bytes", line.len() + 1);
    group.bench_function("serialize", |b| {
        b.iter(|| serde_json::to_vec(black_box(&record)))
    });
    group.bench_function("build+serialize", |b| {
        b.iter(|| serde_json::to_vec(&allowed_read(off.next_request_id(), black_box(&tag))))
    });
    group.bench_function("build+serialize-typed", |b| {
        b.iter(|| {
            let id = off.next_request_id();
            with_typed(&id, black_box(&tag), |r| serde_json::to_vec(r))
        })
    });
    group.bench_function("token-hmac", |b| {
        b.iter(|| off.hmac(black_box("s.7fB2kQ9xLmN3pR5tV8wY1zA4")))
    });

    // 256 requests waiting on their records at once, as under load: one writer batch or two.
    const CONCURRENT: u64 = 256;
    let runtime = tokio::runtime::Runtime::new().unwrap_or_else(|e| panic!("{e}"));
    let sink = SinkConfig::File(FileSinkConfig {
        path: dir.path().join("audit.jsonl"),
        rotate_bytes: Some(64 * 1024 * 1024),
        rotate_keep: 1,
        fsync: Fsync::Never,
    });
    let on = Auditor::start(&[sink], &key, true).unwrap_or_else(|e| panic!("{e}"));
    group.throughput(Throughput::Elements(CONCURRENT));
    group.bench_function("record-to-file-256-concurrent", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let waits: Vec<_> = (0..CONCURRENT)
                    .map(|_| {
                        let (on, tag) = (on.clone(), tag.clone());
                        tokio::spawn(async move {
                            on.record(&allowed_read(on.next_request_id(), &tag)).await
                        })
                    })
                    .collect();
                for w in waits {
                    assert!(matches!(w.await, Ok(true)));
                }
            })
        })
    });
    group.finish();
}

criterion_group!(benches, bench_record);
criterion_main!(benches);
