//! [core] acceptance: a table of malformed and ambiguous requests, sent as raw bytes over a
//! real mTLS connection; each gets its documented status and none reaches OpenBao (counted
//! with OpenBao's own audit log).

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::gate::Gate;
use crate::support::openbao::OpenBao;
use crate::support::pki::Pki;
use crate::support::raw::{read_response, read_until_closed, Raw};

const OK_PATH: &str = "/v1/secret/data/acme/billing/db";

fn get(target: &str, headers: &str) -> Vec<u8> {
    format!("GET {target} HTTP/1.1\r\nHost: localhost\r\n{headers}Connection: close\r\n\r\n")
        .into_bytes()
}

fn post(target: &str, headers: &str, body: &str) -> Vec<u8> {
    format!(
        "POST {target} HTTP/1.1\r\nHost: localhost\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn method(m: &str) -> Vec<u8> {
    format!("{m} {OK_PATH} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").into_bytes()
}

fn cases() -> Vec<(&'static str, Vec<u8>, u16)> {
    let p = |suffix: &str| format!("/v1/secret/data/acme/billing{suffix}");
    let json = "Content-Type: application/json\r\n";
    let deep = format!(
        "{}{}",
        "{\"a\":".repeat(70),
        "1".to_owned() + &"}".repeat(70)
    );
    let long_path = format!("/v1/secret/data/acme/billing/{}", "a".repeat(5000));
    let many_segments = format!("/v1/secret/data/acme/billing/{}x", "s/".repeat(70));
    let many_headers: String = (0..150).map(|i| format!("X-H{i}: v\r\n")).collect();
    let big_header = format!("X-Pad: {}\r\n", "p".repeat(70 * 1024));
    let big_body = format!(
        "{{\"data\":{{\"v\":\"{}\"}}}}",
        "b".repeat(1024 * 1024 + 16)
    );
    vec![
        // Dot and empty segments, raw and encoded: Vault would redirect or re-route them.
        ("raw dot-dot", get(&p("/../../web/key"), ""), 400),
        ("raw dot", get(&p("/./db"), ""), 400),
        ("raw empty segment", get(&p("//db"), ""), 400),
        ("empty segment after /v1", get("/v1//secret/data/acme/billing/db", ""), 400),
        ("trailing slash on a read", get(&p("/db/"), ""), 400),
        ("encoded dot-dot", get(&p("/%2e%2e/db"), ""), 400),
        ("encoded DOT-DOT upper", get(&p("/%2E%2E/db"), ""), 400),
        ("encoded dot", get(&p("/%2e/db"), ""), 400),
        ("encoded slash dot-dot", get(&p("%2F..%2Fweb%2Fkey"), ""), 400),
        ("encoded double slash", get(&p("%2F%2Fdb"), ""), 400),
        ("encoded leading slash", get(&p("/%2Fdb"), ""), 400),
        ("encoded backslash", get(&p("/%5Cdb"), ""), 400),
        ("raw backslash", get(&p("/\\db"), ""), 400),
        // Non-printable characters and broken escapes.
        ("encoded NUL", get(&p("/db%00"), ""), 400),
        ("encoded newline", get(&p("/db%0a"), ""), 400),
        ("encoded tab", get(&p("/db%09"), ""), 400),
        ("encoded DEL", get(&p("/db%7F"), ""), 400),
        ("zero-width space", get(&p("/db%E2%80%8B"), ""), 400),
        ("invalid UTF-8", get(&p("/db%FF"), ""), 400),
        ("truncated escape", get(&p("/db%"), ""), 400),
        ("invalid escape", get(&p("/db%zz"), ""), 400),
        // Prefix.
        ("empty /v1/", get("/v1/", ""), 400),
        ("wrong version", get("/v2/secret/data/acme/billing/db", ""), 400),
        ("uppercase prefix", get("/V1/secret/data/acme/billing/db", ""), 400),
        // Query: Go drops pairs with ';' and takes the first list value.
        ("semicolon in query", get(&format!("{OK_PATH}?a=1;list=true"), ""), 400),
        ("repeated list", get(&format!("{OK_PATH}?list=true&list=false"), ""), 400),
        ("encoded repeated list", get(&format!("{OK_PATH}?%6cist=true&list=false"), ""), 400),
        ("list not a bool", get(&format!("{OK_PATH}?list=yes"), ""), 400),
        ("list and scan", get(&format!("{OK_PATH}?list=true&scan=true"), ""), 400),
        ("repeated help", get(&format!("{OK_PATH}?help=1&help=1"), ""), 400),
        ("invalid query escape", get(&format!("{OK_PATH}?x=%zz"), ""), 400),
        // Token and namespace headers.
        ("two tokens", get(OK_PATH, "X-Vault-Token: a\r\nX-Vault-Token: b\r\n"), 400),
        ("token and bearer", get(OK_PATH, "X-Vault-Token: a\r\nAuthorization: Bearer b\r\n"), 400),
        ("two authorization", get(OK_PATH, "Authorization: Bearer a\r\nAuthorization: Bearer b\r\n"), 400),
        ("two namespaces", get(OK_PATH, "X-Vault-Namespace: a\r\nX-Vault-Namespace: b\r\n"), 400),
        ("namespace dot-dot", get(OK_PATH, "X-Vault-Namespace: ns1/..\r\n"), 400),
        ("namespace empty segment", get(OK_PATH, "X-Vault-Namespace: ns1//child\r\n"), 400),
        ("inline auth header", get(OK_PATH, "X-Vault-Inline-Auth-Path: auth/userpass/login/bob\r\n"), 400),
        ("two wrap TTLs", get(OK_PATH, "X-Vault-Wrap-TTL: 60\r\nX-Vault-Wrap-TTL: 120\r\n"), 400),
        ("invalid wrap TTL", get(OK_PATH, "X-Vault-Wrap-TTL: soon\r\n"), 400),
        // Hop-by-hop tricks: a nominated header would vanish at some hop but not another.
        ("connection nominates namespace", get(OK_PATH, "X-Vault-Namespace: ns1\r\nConnection: X-Vault-Namespace\r\n"), 400),
        ("connection nominates token", get(OK_PATH, "Connection: keep-alive, X-Vault-Token\r\n"), 400),
        ("upgrade", get(OK_PATH, "Upgrade: websocket\r\nConnection: upgrade\r\n"), 400),
        // Targets and framing.
        ("absolute-form target", get(&format!("http://evil.example{OK_PATH}"), ""), 400),
        (
            "CL and TE",
            format!("POST {OK_PATH} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\n").into_bytes(),
            400,
        ),
        (
            "chunked body",
            format!("POST {OK_PATH} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n2\r\n{{}}\r\n0\r\n\r\n").into_bytes(),
            400,
        ),
        (
            "two different content lengths",
            format!("POST {OK_PATH} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\nContent-Length: 3\r\nConnection: close\r\n\r\n{{}}").into_bytes(),
            400,
        ),
        (
            "duplicate identical content length",
            format!("POST {OK_PATH} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 16\r\nContent-Length: 16\r\nConnection: close\r\n\r\n{{\"data\":{{\"a\":1}}}}").into_bytes(),
            400,
        ),
        (
            "content length list",
            format!("POST {OK_PATH} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 16, 16\r\nConnection: close\r\n\r\n{{\"data\":{{\"a\":1}}}}").into_bytes(),
            400,
        ),
        (
            "bare LF line endings",
            format!("GET {OK_PATH} HTTP/1.1\nHost: localhost\nConnection: close\n\n").into_bytes(),
            400,
        ),
        (
            "bare LF in one header",
            format!("GET {OK_PATH} HTTP/1.1\r\nHost: localhost\nConnection: close\r\n\r\n").into_bytes(),
            400,
        ),
        (
            "obs-fold continuation",
            format!("GET {OK_PATH} HTTP/1.1\r\nHost: localhost\r\nX-Vault-Token: a\r\n b\r\nConnection: close\r\n\r\n").into_bytes(),
            400,
        ),
        (
            "TE.CL identity then chunked",
            format!("POST {OK_PATH} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nTransfer-Encoding: identity, chunked\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}").into_bytes(),
            400,
        ),
        // Go keeps `#` in the path (a different key); hyper would drop it (#16).
        ("raw # in the target", get(&format!("{OK_PATH}#/../other"), ""), 400),
        ("h2c upgrade", get(OK_PATH, "Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\nConnection: Upgrade, HTTP2-Settings\r\n"), 400),
        ("too many headers", get(OK_PATH, &many_headers), 431),
        // Bodies: the proxy accepts exactly one JSON object and nothing Go would read otherwise.
        ("gzip body", post(OK_PATH, "Content-Type: application/json\r\nContent-Encoding: gzip\r\n", "{}"), 415),
        ("form body Vault refuses", post(OK_PATH, "Content-Type: application/x-www-form-urlencoded\r\n", "data=x;y=z"), 400),
        ("duplicate JSON keys", post(OK_PATH, json, r#"{"data":{"a":1},"data":{"a":2}}"#), 400),
        ("second JSON value", post(OK_PATH, json, r#"{"data":{"a":1}} {"data":{"a":2}}"#), 400),
        ("JSON array body", post(OK_PATH, json, "[1]"), 400),
        ("JSON too deep", post(OK_PATH, json, &deep), 400),
        // Methods.
        ("unknown method", method("FOO"), 405),
        ("OPTIONS", method("OPTIONS"), 405),
        ("lowercase get", method("get"), 405),
        ("TRACE", method("TRACE"), 405),
        // Sizes.
        ("path too long", get(&long_path, ""), 414),
        ("too many segments", get(&many_segments, ""), 414),
        ("headers too large", get(OK_PATH, &big_header), 431),
        ("body too large", post(OK_PATH, json, &big_body), 413),
    ]
}

#[tokio::test]
async fn malformed_and_ambiguous_requests_are_refused_before_vault() {
    let bao = OpenBao::start().await;
    bao.kv_put("acme/billing/db", serde_json::json!({"password": "pw"}))
        .await;
    let pki = Pki::new(&["acme/billing"]);
    let gate = Gate::start(&bao, &pki, &["acme/billing"]).await;
    let raw = Raw::new(&pki, &gate.address);

    // The same connection setup does reach Vault for a well-formed request.
    let before = bao.audit_requests();
    assert_eq!(raw.status(&get(OK_PATH, "")).await, Some(200));
    assert_eq!(bao.audit_requests(), before + 1);

    let cases = cases();
    assert!(cases.len() >= 40);
    let mut wrong = Vec::new();
    for (name, request, expected) in &cases {
        let before = bao.audit_requests();
        let got = raw.status(request).await;
        if got != Some(*expected) {
            wrong.push(format!("{name}: expected {expected}, got {got:?}"));
        }
        if bao.audit_requests() != before {
            wrong.push(format!("{name}: reached OpenBao"));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} case(s) wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    gate.stop().await;
}

/// Slow-loris on headers: a client that never finishes its header block is cut off at
/// `header_read_timeout` without an answer from Vault, and Vault never sees the request.
#[tokio::test]
async fn trickled_headers_are_cut_off_before_vault() {
    let bao = OpenBao::start().await;
    let pki = Pki::new(&["acme/billing"]);
    let extra = "\n[limits]\nheader_read_timeout = \"1s\"\n";
    let gate = Gate::builder(&bao, &pki)
        .services(&["acme/billing"])
        .extra(extra)
        .start()
        .await;
    let raw = Raw::new(&pki, &gate.address);

    let before = bao.audit_requests();
    // No blank line: the header block never ends. The server must close the connection
    // itself; the 10 s bound only keeps a broken build from hanging the test.
    let mut tls = raw.connect().await;
    let partial = format!("GET {OK_PATH} HTTP/1.1\r\nHost: localhost\r\nX-Slow: 1\r\n");
    tls.write_all(partial.as_bytes()).await.unwrap();
    let mut reply = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(10), tls.read_to_end(&mut reply)).await;
    assert!(
        closed.is_ok(),
        "the server kept a trickling connection open"
    );
    let text = String::from_utf8_lossy(&reply);
    assert!(
        reply.is_empty() || text.starts_with("HTTP/1.1 408"),
        "{text}"
    );
    assert_eq!(
        bao.audit_requests(),
        before,
        "a trickled request reached OpenBao"
    );
}

/// Slow-loris on the body: headers promise 100 bytes and only 2 arrive. The proxy gives up at
/// its body read timeout with a 4xx, and Vault never sees the request.
#[tokio::test]
async fn a_trickled_body_is_cut_off_before_vault() {
    let bao = OpenBao::start().await;
    let pki = Pki::new(&["acme/billing"]);
    let extra = "\n[limits]\nheader_read_timeout = \"1s\"\n";
    let gate = Gate::builder(&bao, &pki)
        .services(&["acme/billing"])
        .extra(extra)
        .start()
        .await;
    let raw = Raw::new(&pki, &gate.address);

    let before = bao.audit_requests();
    let partial = format!(
        "POST {OK_PATH} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100\r\nConnection: close\r\n\r\n{{\""
    );
    let status = raw.status(partial.as_bytes()).await;
    assert!(matches!(status, Some(400..=499)), "{status:?}");
    assert_eq!(
        bao.audit_requests(),
        before,
        "a trickled body reached OpenBao"
    );
}

/// Keep-alive and pipelining: a clean request is served, then an ambiguous one on the same
/// connection is refused with 400, audited by vaultgate, and the connection closed; OpenBao
/// sees only the clean one.
#[tokio::test]
async fn an_ambiguous_request_after_a_good_one_is_refused_and_closes_the_connection() {
    let bao = OpenBao::start().await;
    bao.kv_put("acme/billing/db", serde_json::json!({"password": "pw"}))
        .await;
    let pki = Pki::new(&["acme/billing"]);
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.jsonl");
    let extra = format!("\n[audit]\nfile = \"{}\"\n", audit.display());
    let gate = Gate::builder(&bao, &pki)
        .services(&["acme/billing"])
        .extra(&extra)
        .start()
        .await;
    let raw = Raw::new(&pki, &gate.address);
    // no-cache: every clean read must reach OpenBao to be counted.
    let good =
        format!("GET {OK_PATH} HTTP/1.1\r\nHost: localhost\r\nCache-Control: no-cache\r\n\r\n");

    // One after the other: the first answer is read in full before the second is sent.
    let before = bao.audit_requests();
    let mut tls = raw.connect().await;
    tls.write_all(good.as_bytes()).await.unwrap();
    let (head, body) = read_response(&mut tls).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(String::from_utf8_lossy(&body).contains("pw"));
    let duplicate = format!(
        "POST {OK_PATH} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{{}}"
    );
    tls.write_all(duplicate.as_bytes()).await.unwrap();
    let rest = read_until_closed(&mut tls).await;
    assert!(rest.starts_with("HTTP/1.1 400"), "{rest}");
    assert!(
        rest.contains("ambiguous request framing: duplicate Content-Length"),
        "{rest}"
    );
    assert_eq!(rest.matches("HTTP/1.1 ").count(), 1, "{rest}");
    assert_eq!(bao.audit_requests(), before + 1);

    // Pipelined in one write, with a request smuggled behind the bare-LF one.
    let before = bao.audit_requests();
    let mut tls = raw.connect().await;
    let bare = format!("GET {OK_PATH} HTTP/1.1\nHost: localhost\n\n");
    let pipelined = format!("{good}{bare}{good}");
    tls.write_all(pipelined.as_bytes()).await.unwrap();
    let all = read_until_closed(&mut tls).await;
    assert!(all.starts_with("HTTP/1.1 200"), "{all}");
    assert_eq!(all.matches("HTTP/1.1 ").count(), 2, "{all}");
    let second = &all[all.rfind("HTTP/1.1 ").unwrap()..];
    assert!(second.starts_with("HTTP/1.1 400"), "{second}");
    assert!(second.contains("ambiguous request framing: bare LF line ending"));
    assert_eq!(bao.audit_requests(), before + 1);

    // vaultgate's own audit log recorded both refusals.
    let records = std::fs::read_to_string(&audit).unwrap();
    let refused = records
        .lines()
        .filter(|l| l.contains("ambiguous request framing"))
        .count();
    assert_eq!(refused, 2, "{records}");
    gate.stop().await;
}
