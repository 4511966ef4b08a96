//! Unit tests for `Operation::classify`: shared helpers, limits, headers and the round trip;
//! the accepted and refused tables live in `tests/`.

mod accepted;
mod refused;

use std::time::Duration;

use bytes::Bytes;
use http::{Method, Version};

use super::{ClassifyError, ClassifyLimits, Operation, Verb};

/// Builds request parts the way hyper hands them to the proxy.
pub(super) fn parts(
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    version: Version,
) -> http::request::Parts {
    let mut builder = http::Request::builder()
        .method(method)
        .uri(uri)
        .version(version);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    match builder.body(()) {
        Ok(request) => request.into_parts().0,
        Err(e) => panic!("test request {method} {uri} does not build: {e}"),
    }
}

pub(super) fn classify_with(
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    body: &str,
    limits: &ClassifyLimits,
) -> Result<Operation, ClassifyError> {
    let parts = parts(method, uri, headers, Version::HTTP_11);
    Operation::classify(&parts, Bytes::copy_from_slice(body.as_bytes()), limits)
}

pub(super) fn classify(
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Result<Operation, ClassifyError> {
    classify_with(method, uri, headers, body, &ClassifyLimits::default())
}

pub(super) fn accept(method: &str, uri: &str, headers: &[(&str, &str)], body: &str) -> Operation {
    match classify(method, uri, headers, body) {
        Ok(op) => op,
        Err(e) => panic!("{method} {uri} refused: {e}"),
    }
}

/// Classifying what we forward must give back what we authorized.
pub(super) fn assert_round_trip(op: &Operation) {
    let target = op.upstream_target();
    let method = op.upstream_method();
    let mut parts = parts(method.as_str(), &target, &[], Version::HTTP_11);
    parts.headers = op.forward_headers.clone();
    let again = match Operation::classify(&parts, op.body.clone(), &ClassifyLimits::default()) {
        Ok(again) => again,
        Err(e) => panic!("upstream target {method} {target} refused: {e}"),
    };
    assert_eq!(again.verb, op.verb, "{target}");
    assert_eq!(again.full_path, op.full_path, "{target}");
    assert_eq!(again.query, op.query, "{target}");
    assert_eq!(again.params, op.params, "{target}");
    assert_eq!(again.body, op.body, "{target}");
    assert_eq!(again.upstream_target(), target, "{target}");
}

#[test]
fn path_length_and_segment_limits() {
    let limits = ClassifyLimits {
        max_path_bytes: 32,
        max_segments: 4,
        max_json_depth: 64,
    };
    // "/v1/" + 28 bytes is exactly at the limit.
    let at_limit = format!("/v1/{}", "a".repeat(28));
    assert!(classify_with("GET", &at_limit, &[], "", &limits).is_ok());
    let cases: &[(&str, &[(&str, &str)])] = &[
        ("/v1/aaaaaaaaaaaaaaaaaaaaaaaaaaaaa", &[]),
        ("/v1/a/b/c/d/e", &[]),
        // Refused before the segment rules: limits are checked first.
        ("/v1/a//////", &[]),
        // The namespace joins the forwarded path and counts too.
        ("/v1/a/b/c", &[("x-vault-namespace", "ns1/ns2")]),
        (
            "/v1/aaaaaaaaaaaaaaaaaaaa",
            &[("x-vault-namespace", "nsnsnsnsns")],
        ),
    ];
    for &(uri, headers) in cases {
        let err = classify_with("GET", uri, headers, "", &limits).err();
        assert_eq!(
            err,
            Some(ClassifyError::PathTooLong {
                limit: 32,
                segments: 4
            }),
            "{uri}"
        );
        assert_eq!(err.map(|e| e.status().as_u16()), Some(414), "{uri}");
    }
}

#[test]
fn json_depth_limit() {
    let limits = ClassifyLimits {
        max_json_depth: 3,
        ..ClassifyLimits::default()
    };
    let ok = classify_with("POST", "/v1/kv/a", &[], r#"{"a":[{"b":1}]}"#, &limits);
    assert!(ok.is_ok());
    let deep = classify_with("POST", "/v1/kv/a", &[], r#"{"a":[{"b":[]}]}"#, &limits);
    assert_eq!(deep.map_err(|e| e.status().as_u16()).err(), Some(400));
    // Default limit 64: 64 containers are fine, 65 are not.
    let nested = |n: usize| format!("{{\"a\":{}1{}}}", "[".repeat(n - 1), "]".repeat(n - 1));
    assert!(classify("POST", "/v1/kv/a", &[], &nested(64)).is_ok());
    let err = classify("POST", "/v1/kv/a", &[], &nested(65)).err();
    assert_eq!(err.map(|e| e.status().as_u16()), Some(400));
}

#[test]
fn form_bodies_are_read_as_vault_reads_them() {
    let form = [("content-type", "application/x-www-form-urlencoded")];
    // A genuine form: `+` is a space, escapes decode, repeated keys join with `,`.
    let op = accept(
        "POST",
        "/v1/auth/token/create",
        &form,
        "ttl=1h&policies=a&policies=b&display_name=x+y%21",
    );
    assert_eq!(op.params["ttl"], "1h");
    assert_eq!(op.params["policies"], "a,b");
    assert_eq!(op.params["display_name"], "x y!");
    // Forwarded as the JSON of what was authorized, saying so.
    let forwarded: serde_json::Value = serde_json::from_slice(&op.body).unwrap();
    assert_eq!(forwarded, serde_json::Value::Object(op.params.clone()));
    assert_eq!(op.forward_headers["content-type"], "application/json");
    // JSON sent as a form (curl --data @file): read as JSON, forwarded byte for byte.
    let body = "  \n {\"data\":{\"k\":\"v\"}}";
    let op = accept("POST", "/v1/secret/data/x", &form, body);
    assert!(op.params.contains_key("data"));
    assert_eq!(op.body, body.as_bytes());
    // Vault looks at 512 bytes only: past them, whitespace-led JSON is a form.
    let late = format!("{}{{\"a\":1}}", " ".repeat(600));
    let op = accept("POST", "/v1/kv/x", &form, &late);
    assert!(
        !op.params.contains_key("a") && op.params.len() == 1,
        "{:?}",
        op.params
    );
}

#[test]
fn wrap_ttl_values() {
    let cases: &[(&str, Option<u64>)] = &[
        ("0", None),
        ("0s", None),
        ("300", Some(300)),
        ("30s", Some(30)),
        ("5m", Some(300)),
        ("1h", Some(3600)),
        ("1h30m", Some(5400)),
        ("2d", Some(172_800)),
        ("1.5h", Some(5400)),
        ("90000ms", Some(90)),
        ("+30", Some(30)),
    ];
    for &(value, secs) in cases {
        let op = accept("GET", "/v1/kv/a", &[("x-vault-wrap-ttl", value)], "");
        assert_eq!(op.wrap_ttl, secs.map(Duration::from_secs), "{value}");
    }
    assert_eq!(accept("GET", "/v1/kv/a", &[], "").wrap_ttl, None);
}

#[test]
fn only_allow_listed_headers_are_forwarded() {
    let op = accept(
        "POST",
        "/v1/kv/a",
        &[
            ("content-type", "application/json"),
            ("accept", "application/json"),
            ("accept", "text/plain"),
            ("user-agent", "vault-cli"),
            ("x-vault-request", "true"),
            ("x-vault-token", "s.secret"),
            ("x-vault-namespace", "ns1"),
            ("x-vault-wrap-ttl", "30s"),
            ("x-forwarded-for", "10.9.8.7"),
            ("x-vault-mfa", "x"),
            ("connection", "keep-alive"),
            ("content-length", "2"),
        ],
        "{}",
    );
    let mut names: Vec<&str> = op.forward_headers.keys().map(|n| n.as_str()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        ["accept", "content-type", "user-agent", "x-vault-request"]
    );
    assert_eq!(op.forward_headers.get_all("accept").iter().count(), 2);
    assert_eq!(op.wrap_ttl, Some(Duration::from_secs(30)));
    assert_eq!(op.full_path, "ns1/kv/a");
}

/// `http` drops `#fragment` while parsing the target, so classify never sees it. Go would
/// keep `#` in the path; we authorize and forward the fragment-less path, which is the same
/// string, so nothing can be read two ways.
#[test]
fn fragment_is_dropped_before_classification() {
    let op = accept("GET", "/v1/secret/data/app/x#/../../team/closed", &[], "");
    assert_eq!(op.full_path, "secret/data/app/x");
    assert_eq!(op.upstream_target(), "/v1/secret/data/app/x");
}

#[test]
fn http2_absolute_uri_is_fine_but_http1_is_not() {
    let uri = "https://vault.local:8200/v1/secret/data/b?version=1";
    let h2 = parts("GET", uri, &[], Version::HTTP_2);
    let op = Operation::classify(&h2, Bytes::new(), &ClassifyLimits::default());
    assert_eq!(
        op.map(|op| op.upstream_target()),
        Ok("/v1/secret/data/b?version=1".to_owned())
    );
    for version in [Version::HTTP_10, Version::HTTP_11] {
        let h1 = parts("GET", uri, &[], version);
        let err = Operation::classify(&h1, Bytes::new(), &ClassifyLimits::default()).err();
        assert_eq!(err.map(|e| e.status().as_u16()), Some(400));
    }
}

#[test]
fn upstream_methods() {
    let cases = [
        ("GET", "", Verb::Read, Method::GET),
        ("GET", "?list=true", Verb::List, Method::GET),
        ("LIST", "", Verb::List, Method::GET),
        ("SCAN", "", Verb::Scan, Method::GET),
        ("HELP", "", Verb::Help, Method::GET),
        ("POST", "", Verb::Write, Method::POST),
        ("PUT", "", Verb::Write, Method::POST),
        ("PATCH", "", Verb::Patch, Method::PATCH),
        ("DELETE", "", Verb::Delete, Method::DELETE),
        ("HEAD", "", Verb::Head, Method::HEAD),
    ];
    for (method, query, verb, upstream) in cases {
        let op = accept(method, &format!("/v1/kv/a{query}"), &[], "");
        assert_eq!(
            (op.verb, op.upstream_method()),
            (verb, upstream),
            "{method}"
        );
        assert_round_trip(&op);
    }
}
