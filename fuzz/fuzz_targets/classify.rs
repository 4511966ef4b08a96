//! Fuzzes `Operation::classify`: it never panics, an accepted path never carries a segment
//! Vault could read differently, and what is forwarded upstream classifies to the same thing.
//!
//! Input, chosen to be readable so the seed corpus doubles as documentation:
//! `METHOD TARGET\n`, then up to eight `Name: value\n` header lines, an empty line, the body.

#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use vaultgate::vault::operation::{ClassifyLimits, Operation, Verb};

/// More headers add nothing to what `classify` looks at and only slow the fuzzer down.
const MAX_HEADERS: usize = 8;

fuzz_target!(|data: &[u8]| {
    let Some(request) = request(data) else {
        return;
    };
    let (parts, body) = request.into_parts();
    let limits = ClassifyLimits::default();
    let Ok(op) = Operation::classify(&parts, body, &limits) else {
        return;
    };
    check_segments(&op);
    check_round_trip(&op, &limits);
});

/// Splits the input into a request; inputs `http` itself refuses are not interesting here,
/// since hyper refuses them before the proxy ever sees them.
fn request(data: &[u8]) -> Option<http::Request<Bytes>> {
    let (line, mut rest) = split_line(data);
    let mut words = line.splitn(2, |&b| b == b' ');
    let method = words.next()?;
    let target = words.next()?;
    let mut builder = http::Request::builder()
        .method(http::Method::from_bytes(method).ok()?)
        .uri(http::Uri::try_from(target).ok()?);
    let mut headers = 0;
    loop {
        let (line, after) = split_line(rest);
        rest = after;
        if line.is_empty() {
            break;
        }
        if headers == MAX_HEADERS {
            return None;
        }
        headers += 1;
        let colon = line.iter().position(|&b| b == b':')?;
        let value = line[colon + 1..]
            .strip_prefix(b" ")
            .unwrap_or(&line[colon + 1..]);
        let name = http::HeaderName::from_bytes(&line[..colon]).ok()?;
        let value = http::HeaderValue::from_bytes(value).ok()?;
        builder = builder.header(name, value);
    }
    builder.body(Bytes::copy_from_slice(rest)).ok()
}

fn split_line(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[]),
    }
}

/// Empty and dot segments are what Vault's ACL and its backends read differently (§0.1,
/// §0.2); only the one trailing `/` Vault itself appends to a list or scan is allowed.
fn check_segments(op: &Operation) {
    let listing = matches!(op.verb, Verb::List | Verb::Scan);
    let body = if listing {
        op.full_path
            .strip_suffix('/')
            .unwrap_or_else(|| panic!("list path {:?} lacks its trailing /", op.full_path))
    } else {
        op.full_path.as_str()
    };
    for segment in body.split('/') {
        assert!(
            !segment.is_empty() && segment != "." && segment != "..",
            "accepted path {:?} has segment {segment:?}",
            op.full_path
        );
    }
}

/// The request the proxy forwards must be read by the proxy exactly as the original was:
/// otherwise what was authorized and what Vault runs could differ.
fn check_round_trip(op: &Operation, limits: &ClassifyLimits) {
    let target = op.upstream_target();
    let mut builder = http::Request::builder()
        .method(op.upstream_method())
        .uri(target.as_str());
    for (name, value) in &op.forward_headers {
        builder = builder.header(name, value);
    }
    let request = builder
        .body(op.body.clone())
        .unwrap_or_else(|e| panic!("upstream target {target:?} does not build: {e}"));
    let (parts, body) = request.into_parts();
    let again = Operation::classify(&parts, body, limits)
        .unwrap_or_else(|e| panic!("upstream target {target:?} of {op:?} is refused: {e}"));
    assert_eq!(again.full_path, op.full_path, "full_path via {target:?}");
    assert_eq!(again.verb, op.verb, "verb via {target:?}");
    assert_eq!(again.query, op.query, "query via {target:?}");
}
