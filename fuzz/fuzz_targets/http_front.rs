//! Fuzzes the HTTP front end to end, short of sockets: raw request bytes are parsed with
//! httparse (hyper's own HTTP/1 parser), built into an `http::Request` the way hyper builds
//! it, classified, and decided against the repo's `acme` policy for `acme/billing`.
//!
//! Contract: nothing panics, and every allowed operation's upstream request (what is
//! forwarded to Vault) classifies to the same operation and is allowed by the same rule.

#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use vaultgate::identity::Caller;
use vaultgate::policy::PolicySet;
use vaultgate::vault::operation::{ClassifyLimits, Operation};

/// hyper's default header limit for HTTP/1 servers.
const MAX_HEADERS: usize = 100;

fn policies() -> &'static (PolicySet, Caller) {
    static SET: OnceLock<(PolicySet, Caller)> = OnceLock::new();
    SET.get_or_init(|| {
        let caller = Caller::parse("acme/billing").expect("valid caller");
        let text = include_str!("../../policies/acme.hcl").to_owned();
        let set = PolicySet::from_sources(
            vec![(PathBuf::from("acme.hcl"), text)],
            std::slice::from_ref(&caller),
        )
        .expect("the repo's acme policy compiles");
        (set, caller)
    })
}

fuzz_target!(|data: &[u8]| {
    let Some(request) = parse(data) else {
        return;
    };
    let (parts, body) = request.into_parts();
    let limits = ClassifyLimits::default();
    let Ok(op) = Operation::classify(&parts, body, &limits) else {
        return;
    };
    let (set, caller) = policies();
    let decision = set.evaluate_offline(caller, &op);
    if !decision.allowed {
        return;
    }
    let again = reclassify(&op, &limits);
    assert_eq!(again.full_path, op.full_path);
    assert_eq!(again.verb, op.verb);
    assert_eq!(again.query, op.query);
    assert_eq!(
        again.params,
        op.params,
        "parameters via {}",
        op.upstream_target()
    );
    let second = set.evaluate_offline(caller, &again);
    assert!(
        second.allowed,
        "{} allowed, its upstream form denied",
        op.full_path
    );
    assert_eq!(
        second.rule.as_ref().map(|r| (r.pattern.clone(), r.line)),
        decision.rule.as_ref().map(|r| (r.pattern.clone(), r.line)),
        "another rule decides the upstream form of {}",
        op.full_path
    );
});

/// What hyper hands the proxy for these bytes, or None where hyper refuses them first. The
/// body is whatever follows the head, read only for the methods the proxy reads it for.
fn parse(data: &[u8]) -> Option<http::Request<Bytes>> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let httparse::Status::Complete(head_len) = req.parse(data).ok()? else {
        return None;
    };
    let version = match req.version? {
        0 => http::Version::HTTP_10,
        _ => http::Version::HTTP_11,
    };
    let method = http::Method::from_bytes(req.method?.as_bytes()).ok()?;
    let mut builder = http::Request::builder()
        .method(method.clone())
        .uri(http::Uri::try_from(req.path?).ok()?)
        .version(version);
    for h in req.headers.iter() {
        let name = http::HeaderName::from_bytes(h.name.as_bytes()).ok()?;
        let value = http::HeaderValue::from_bytes(h.value).ok()?;
        builder = builder.header(name, value);
    }
    let body = if matches!(
        method,
        http::Method::POST | http::Method::PUT | http::Method::PATCH
    ) {
        Bytes::copy_from_slice(&data[head_len..])
    } else {
        Bytes::new()
    };
    builder.body(body).ok()
}

/// The request the proxy sends upstream, read back by the proxy.
fn reclassify(op: &Operation, limits: &ClassifyLimits) -> Operation {
    let target = op.upstream_target();
    let mut builder = http::Request::builder()
        .method(op.upstream_method())
        .uri(target.as_str());
    for (name, value) in &op.forward_headers {
        builder = builder.header(name, value);
    }
    let (parts, body) = builder
        .body(op.body.clone())
        .unwrap_or_else(|e| panic!("upstream target {target:?} does not build: {e}"))
        .into_parts();
    Operation::classify(&parts, body, limits)
        .unwrap_or_else(|e| panic!("upstream target {target:?} is refused: {e}"))
}
