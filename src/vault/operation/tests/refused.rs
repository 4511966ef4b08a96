//! Requests classify refuses, with the status each refusal is answered with.

use bytes::Bytes;
use http::Version;

use super::super::{ClassifyLimits, Operation};
use super::classify;

type Headers = &'static [(&'static str, &'static str)];

/// (method, target, headers, body, status)
const CASES: &[(&str, &str, Headers, &str, u16)] = &[
    // Target and prefix.
    ("GET", "http://evil.example/v1/secret/data/b", &[], "", 400),
    ("GET", "/v2/secret/data/b", &[], "", 400),
    ("GET", "/V1/secret/data/b", &[], "", 400),
    ("GET", "/v1", &[], "", 400),
    ("GET", "/v1/", &[], "", 400),
    ("GET", "//v1/secret/data/b", &[], "", 400),
    ("GET", "/./v1/secret/data/b", &[], "", 400),
    ("GET", "/v1/secret\\data", &[], "", 400),
    // Escapes: invalid, and the ones Vault routes differently.
    ("GET", "/v1/secret/data/b%zz", &[], "", 400),
    ("GET", "/v1/secret/data/b%4", &[], "", 400),
    ("GET", "/v1/secret/data/b%", &[], "", 400),
    ("GET", "/v1/secret%2Fdata%2Fb", &[], "", 400),
    ("GET", "/v1/secret/data/app%2f%2fvip", &[], "", 400),
    ("GET", "/v1/secret/data/a/%2e%2e/b", &[], "", 400),
    ("GET", "/v1/secret/data/a%2E", &[], "", 400),
    ("GET", "/v1/secret/data/a%5Cb", &[], "", 400),
    ("GET", "/v1/secret/data/a%5cb", &[], "", 400),
    // Decoded characters Vault's printable check or a backend could read differently.
    ("GET", "/v1/secret/data/b%00", &[], "", 400),
    ("GET", "/v1/secret/data/b%0a", &[], "", 400),
    ("GET", "/v1/secret/data/b%09", &[], "", 400),
    ("GET", "/v1/secret/data/b%7F", &[], "", 400),
    ("GET", "/v1/secret/data/b%C2%85", &[], "", 400),
    ("GET", "/v1/secret/data/b%C2%A0", &[], "", 400),
    ("GET", "/v1/secret/data/b%E2%80%A8", &[], "", 400),
    ("GET", "/v1/secret/data/b%C2%AD", &[], "", 400),
    ("GET", "/v1/secret/data/b%E2%80%8B", &[], "", 400),
    ("GET", "/v1/secret/data/b%E2%80%AE", &[], "", 400),
    ("GET", "/v1/secret/data/b%EF%BB%BF", &[], "", 400),
    ("GET", "/v1/secret/data/b%EE%80%80", &[], "", 400),
    ("GET", "/v1/secret/data/b%F3%B0%80%80", &[], "", 400),
    ("GET", "/v1/secret/data/b%EF%B7%90", &[], "", 400),
    ("GET", "/v1/secret/data/b%EF%BF%BE", &[], "", 400),
    ("GET", "/v1/secret/data/b%FF", &[], "", 400),
    ("GET", "/v1/secret/data/b%C0%AF", &[], "", 400),
    // Segments.
    ("GET", "/v1/secret//data/b", &[], "", 400),
    ("GET", "/v1//secret/data/b", &[], "", 400),
    ("GET", "/v1/secret/data/b/", &[], "", 400),
    ("POST", "/v1/secret/data/b/", &[], "{}", 400),
    ("LIST", "/v1/secret/metadata//", &[], "", 400),
    ("GET", "/v1/secret/metadata//?list=true", &[], "", 400),
    ("LIST", "/v1//", &[], "", 400),
    ("GET", "/v1/secret/data/a/../b", &[], "", 400),
    ("GET", "/v1/secret/data/./b", &[], "", 400),
    ("GET", "/v1/..", &[], "", 400),
    // Methods.
    ("OPTIONS", "/v1/secret/data/b", &[], "", 405),
    ("TRACE", "/v1/secret/data/b", &[], "", 405),
    ("CONNECT", "/v1/secret/data/b", &[], "", 405),
    ("get", "/v1/secret/data/b", &[], "", 405),
    ("FOO", "/v1/secret/data/b?help=1", &[], "", 405),
    // Query.
    ("GET", "/v1/kv/a?list=true&scan=true", &[], "", 400),
    ("GET", "/v1/kv/a?list=yes", &[], "", 400),
    ("GET", "/v1/kv/a?list=+true", &[], "", 400),
    ("GET", "/v1/kv/a?scan=2", &[], "", 400),
    ("GET", "/v1/kv/a?list=1&list=0", &[], "", 400),
    ("GET", "/v1/kv/a?list=0&%6cist=1", &[], "", 400),
    ("GET", "/v1/kv/a?help=&help=1", &[], "", 400),
    ("GET", "/v1/kv/a?scan&scan", &[], "", 400),
    ("GET", "/v1/kv/a?a=1;list=true", &[], "", 400),
    ("POST", "/v1/kv/a?x=1;y=2", &[], "{}", 400),
    ("GET", "/v1/kv/a?a=%zz", &[], "", 400),
    ("GET", "/v1/kv/a?a%=1", &[], "", 400),
    ("GET", "/v1/kv/a?a=%FF", &[], "", 400),
    ("GET", "/v1/kv/a?a=\\", &[], "", 400),
    ("GET", "/v1/kv/a?Version=1&version=2", &[], "", 400),
    ("DELETE", "/v1/kv/a?VERSIONS=1&versions=1", &[], "", 400),
    // Namespace.
    (
        "GET",
        "/v1/kv/a",
        &[("x-vault-namespace", "ns1"), ("x-vault-namespace", "ns2")],
        "",
        400,
    ),
    (
        "GET",
        "/v1/kv/a",
        &[("x-vault-namespace", "ns1/..")],
        "",
        400,
    ),
    ("GET", "/v1/kv/a", &[("x-vault-namespace", "..")], "", 400),
    (
        "GET",
        "/v1/kv/a",
        &[("x-vault-namespace", "./ns1")],
        "",
        400,
    ),
    (
        "GET",
        "/v1/kv/a",
        &[("x-vault-namespace", "ns1//child")],
        "",
        400,
    ),
    (
        "GET",
        "/v1/kv/a",
        &[("x-vault-namespace", "//ns1")],
        "",
        400,
    ),
    (
        "GET",
        "/v1/kv/a",
        &[("x-vault-namespace", "ns1%2Fchild")],
        "",
        400,
    ),
    (
        "GET",
        "/v1/kv/a",
        &[("x-vault-namespace", "root/ns1")],
        "",
        400,
    ),
    (
        "GET",
        "/v1/kv/a",
        &[("x-vault-namespace", "team a")],
        "",
        400,
    ),
    (
        "GET",
        "/v1/kv/a",
        &[("x-vault-namespace", "ns\t1")],
        "",
        400,
    ),
    // Credentials and hop-by-hop headers.
    (
        "GET",
        "/v1/kv/a",
        &[("x-vault-token", "a"), ("x-vault-token", "b")],
        "",
        400,
    ),
    (
        "GET",
        "/v1/kv/a",
        &[("authorization", "Bearer a"), ("authorization", "Basic b")],
        "",
        400,
    ),
    (
        "GET",
        "/v1/kv/a",
        &[("x-vault-token", "a"), ("authorization", "Bearer b")],
        "",
        400,
    ),
    (
        "GET",
        "/v1/kv/a",
        &[("x-vault-token", "a"), ("authorization", "bearer b")],
        "",
        400,
    ),
    (
        "POST",
        "/v1/kv/a",
        &[("x-vault-inline-auth-path", "auth/userpass/login/bob")],
        "",
        400,
    ),
    (
        "GET",
        "/v1/kv/a",
        &[("x-vault-inline-auth-parameter-password", "x")],
        "",
        400,
    ),
    (
        "GET",
        "/v1/sys/events/subscribe/x",
        &[("upgrade", "websocket")],
        "",
        400,
    ),
    (
        "GET",
        "/v1/kv/a",
        &[("connection", "X-Vault-Namespace")],
        "",
        400,
    ),
    (
        "GET",
        "/v1/kv/a",
        &[("connection", "close, x-vault-token")],
        "",
        400,
    ),
    (
        "POST",
        "/v1/kv/a",
        &[("transfer-encoding", "chunked"), ("content-length", "2")],
        "{}",
        400,
    ),
    (
        "POST",
        "/v1/kv/a",
        &[("content-length", "2"), ("content-length", "2")],
        "{}",
        400,
    ),
    (
        "POST",
        "/v1/kv/a",
        &[("content-encoding", "gzip")],
        "{}",
        415,
    ),
    (
        "GET",
        "/v1/kv/a",
        &[("content-encoding", "identity, br")],
        "",
        415,
    ),
    (
        "GET",
        "/v1/kv/a",
        &[("x-vault-wrap-ttl", "30s"), ("x-vault-wrap-ttl", "0")],
        "",
        400,
    ),
    ("GET", "/v1/kv/a", &[("x-vault-wrap-ttl", "abc")], "", 400),
    ("GET", "/v1/kv/a", &[("x-vault-wrap-ttl", "-5")], "", 400),
    ("GET", "/v1/kv/a", &[("x-vault-wrap-ttl", "5x")], "", 400),
    (
        "GET",
        "/v1/kv/a",
        &[("x-vault-wrap-ttl", "99999999999999")],
        "",
        400,
    ),
    (
        "POST",
        "/v1/kv/a",
        &[
            ("content-type", "application/json"),
            ("content-type", "text/plain"),
        ],
        "{}",
        400,
    ),
    ("GET", "/v1/kv/a", &[("host", "a"), ("host", "b")], "", 400),
    // Bodies of writes and patches.
    // Forms Vault answers 400 to (url.ParseQuery errors), and a form PATCH.
    (
        "POST",
        "/v1/kv/a",
        &[("content-type", "application/x-www-form-urlencoded")],
        "a=1;b=2",
        400,
    ),
    (
        "POST",
        "/v1/kv/a",
        &[("content-type", "application/x-www-form-urlencoded")],
        "a=%zz",
        400,
    ),
    (
        "POST",
        "/v1/kv/a",
        &[("content-type", "application/x-www-form-urlencoded")],
        "A=1&a=2",
        400,
    ),
    (
        "PATCH",
        "/v1/kv/a",
        &[("content-type", "application/x-www-form-urlencoded")],
        "a=1",
        415,
    ),
    (
        "POST",
        "/v1/pki/ocsp",
        &[("content-type", "application/ocsp-request")],
        "{}",
        415,
    ),
    ("POST", "/v1/kv/a", &[], "[1]", 400),
    ("POST", "/v1/kv/a", &[], "\"a\"", 400),
    ("POST", "/v1/kv/a", &[], "null", 400),
    ("POST", "/v1/kv/a", &[], " ", 400),
    ("POST", "/v1/kv/a", &[], "{\"a\":1", 400),
    ("POST", "/v1/kv/a", &[], "{\"a\":1,\"a\":2}", 400),
    ("POST", "/v1/kv/a", &[], "{\"a\":1,\"\\u0061\":2}", 400),
    ("POST", "/v1/kv/a", &[], "{\"a\":[{\"b\":1,\"b\":2}]}", 400),
    ("POST", "/v1/kv/a", &[], "{\"Key\":1,\"key\":2}", 400),
    ("POST", "/v1/kv/a", &[], "{\"a\":1} {\"a\":2}", 400),
    ("POST", "/v1/kv/a", &[], "{\"a\":1}x", 400),
    ("POST", "/v1/kv/a", &[], "{\"a\":\"\\ud800\"}", 400),
    (
        "PATCH",
        "/v1/kv/a",
        &[("content-type", "application/merge-patch+json")],
        "{\"a\":1,\"a\":2}",
        400,
    ),
];

#[test]
fn refused_requests() {
    for &(method, uri, headers, body, status) in CASES {
        let got = classify(method, uri, headers, body).map_err(|e| e.status().as_u16());
        assert_eq!(got.err(), Some(status), "{method} {uri} {headers:?} {body}");
    }
}

/// Raw non-ASCII in the target: `http` accepts UTF-8 bytes in paths and queries, so
/// classify itself must refuse them.
#[test]
fn raw_non_ascii_is_refused() {
    for uri in ["/v1/secret/data/\u{e9}", "/v1/kv/a?x=\u{e9}"] {
        let target = match http::Uri::try_from(uri) {
            Ok(target) => target,
            Err(e) => panic!("http refused {uri}: {e}"),
        };
        let mut parts = super::parts("GET", "/v1/x", &[], Version::HTTP_11);
        parts.uri = target;
        let got = Operation::classify(&parts, Bytes::new(), &ClassifyLimits::default());
        assert_eq!(
            got.map_err(|e| e.status().as_u16()).err(),
            Some(400),
            "{uri}"
        );
    }
}
