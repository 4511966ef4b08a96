//! Scanner cases, each fed whole, byte by byte and split at every point, since hyper's reads
//! may end anywhere.

use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{FramingGuard, FramingVerdict, Scanner};

type Verdict = Option<(u64, &'static str)>;

fn whole(bytes: &[u8]) -> Verdict {
    Scanner::default().scan(bytes)
}

fn byte_by_byte(bytes: &[u8]) -> Verdict {
    let mut s = Scanner::default();
    bytes.chunks(1).find_map(|c| s.scan(c))
}

/// The same verdict fed whole, byte by byte and in two reads split at every offset.
fn scan(bytes: &[u8]) -> Verdict {
    let expected = whole(bytes);
    assert_eq!(byte_by_byte(bytes), expected, "byte by byte");
    for at in 0..=bytes.len() {
        let mut s = Scanner::default();
        let (a, b) = bytes.split_at(at);
        let got = s.scan(a).or_else(|| s.scan(b));
        assert_eq!(got, expected, "split at {at}");
    }
    expected
}

const GET: &[u8] = b"GET /v1/secret/data/a HTTP/1.1\r\nHost: localhost\r\n\r\n";

#[test]
fn a_fragment_in_the_target_is_flagged_but_not_in_a_header() {
    let fragment = b"GET /v1/secret/data/app/x#foo HTTP/1.1\r\nHost: localhost\r\n\r\n";
    assert_eq!(scan(fragment), Some((0, "'#' in the request target")));
    let in_header = b"GET /v1/kv/a HTTP/1.1\r\nHost: localhost\r\nX-Note: a#b\r\n\r\n";
    assert_eq!(scan(in_header), None);
    let second = [GET, &b"GET /v1/kv/a#b HTTP/1.1\r\nHost: x\r\n\r\n"[..]].concat();
    assert_eq!(scan(&second), Some((1, "'#' in the request target")));
}

#[test]
fn clean_requests_pass() {
    assert_eq!(scan(GET), None);
    let post = b"POST /v1/secret/data/a HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}";
    assert_eq!(scan(post), None);
    // OWS around the value, any case, leading empty lines, a zero length.
    assert_eq!(
        scan(b"\r\n\r\nPUT /x HTTP/1.1\r\ncOnTeNt-LeNgTh: \t 2 \r\n\r\n{}"),
        None
    );
    assert_eq!(scan(b"PUT /x HTTP/1.1\r\nContent-Length: 0\r\n\r\n"), None);
    // Names that merely start or end like the framing headers.
    assert_eq!(
        scan(b"GET /x HTTP/1.1\r\nContent-Lengthy: 1, 2\r\nX-Content-Length: 9\r\nTransfer-Encodings: chunked\r\n\r\n"),
        None
    );
}

#[test]
fn duplicate_content_length_is_flagged() {
    let two = b"POST /x HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}";
    assert_eq!(scan(two), Some((0, "duplicate Content-Length")));
    let list = b"POST /x HTTP/1.1\r\nContent-Length: 2, 2\r\n\r\n{}";
    assert_eq!(scan(list), Some((0, "duplicate Content-Length")));
    let upper = b"POST /x HTTP/1.1\r\nContent-Length: 2\r\nCONTENT-LENGTH: 2\r\n\r\n{}";
    assert_eq!(scan(upper), Some((0, "duplicate Content-Length")));
}

#[test]
fn values_it_cannot_read_are_flagged() {
    for value in ["", " ", "+2", "2 2", "0x2", "18446744073709551616", "2;"] {
        let req = format!("POST /x HTTP/1.1\r\nContent-Length: {value}\r\n\r\n");
        assert_eq!(
            scan(req.as_bytes()),
            Some((0, "invalid Content-Length")),
            "{value:?}"
        );
    }
    // u64::MAX itself is a number; hyper refuses it, the scanner need not.
    let max = format!("POST /x HTTP/1.1\r\nContent-Length: {}\r\n\r\n", u64::MAX);
    assert_eq!(scan(max.as_bytes()), None);
}

#[test]
fn bare_lf_anywhere_in_the_head_is_flagged() {
    let bare = Some((0, "bare LF line ending"));
    assert_eq!(scan(b"GET /x HTTP/1.1\nHost: x\n\n"), bare);
    assert_eq!(scan(b"GET /x HTTP/1.1\r\nHost: x\nX-A: 1\r\n\r\n"), bare);
    assert_eq!(scan(b"GET /x HTTP/1.1\r\nHost: x\r\n\n"), bare);
    assert_eq!(scan(b"\nGET /x HTTP/1.1\r\n\r\n"), bare);
    // Inside a name, a value and the request line, where the scanner skips ahead.
    assert_eq!(scan(b"GET /x HTTP/1.1\r\nX-Abc\n: 1\r\n\r\n"), bare);
    assert_eq!(scan(b"GET /x HTTP/1.1\r\nX-Abc: 1\n2\r\n\r\n"), bare);
    assert_eq!(scan(b"GET /x\nHTTP/1.1\r\n\r\n"), bare);
    for cr in [
        &b"GET /x HTTP/1.1\r\nHost: x\rX: 1\r\n\r\n"[..],
        b"GET /x HTTP/1.1\r\nX-A\r: 1\r\n\r\n",
        b"GET /\rx HTTP/1.1\r\n\r\n",
    ] {
        assert_eq!(scan(cr), Some((0, "bare CR in the head")));
    }
}

#[test]
fn transfer_encoding_and_odd_lines_are_flagged() {
    assert_eq!(
        scan(b"POST /x HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n"),
        Some((0, "Transfer-Encoding"))
    );
    assert_eq!(
        scan(b"GET /x HTTP/1.1\r\nX-A: 1\r\n b\r\n\r\n"),
        Some((0, "obsolete line folding"))
    );
    assert_eq!(
        scan(b"GET /x HTTP/1.1\r\nno colon\r\n\r\n"),
        Some((0, "header line without a colon"))
    );
    assert_eq!(
        scan(b"GET /x HTTP/1.1\r\n: v\r\n\r\n"),
        Some((0, "header line without a name"))
    );
}

#[test]
fn the_second_pipelined_request_is_index_one() {
    let mut both = GET.to_vec();
    both.extend_from_slice(b"GET /y HTTP/1.1\nHost: x\n\n");
    assert_eq!(scan(&both), Some((1, "bare LF line ending")));
    let mut three = GET.to_vec();
    three.extend_from_slice(b"POST /x HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}");
    three.extend_from_slice(b"POST /x HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx");
    assert_eq!(scan(&three), Some((2, "duplicate Content-Length")));
}

#[test]
fn bodies_are_skipped_not_read() {
    // The body looks like a bad head; it is body bytes by length, then a clean head follows.
    let body = "x\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nTransfer-Encoding: chunked\n";
    let req = format!(
        "POST /x HTTP/1.1\r\nContent-Length: {}\r\n\r\n{body}{}",
        body.len(),
        String::from_utf8_lossy(GET)
    );
    assert_eq!(scan(req.as_bytes()), None);
    // One byte short: the rest of the body is read as the next head, and flagged.
    let short = format!(
        "POST /x HTTP/1.1\r\nContent-Length: 1\r\n\r\n{body}{}",
        String::from_utf8_lossy(GET)
    );
    assert_eq!(scan(short.as_bytes()), Some((1, "bare LF line ending")));
}

#[test]
fn after_a_violation_everything_passes() {
    let mut s = Scanner::default();
    assert_eq!(
        s.scan(b"GET / HTTP/1.1\n"),
        Some((0, "bare LF line ending"))
    );
    assert_eq!(s.scan(b"\n\n\nContent-Length: 1, 1\r\n"), None);
}

#[tokio::test]
async fn the_guard_records_the_first_flag_and_passes_bytes_through() {
    let (client, server) = tokio::io::duplex(4096);
    let verdict = Arc::new(FramingVerdict::default());
    let mut guard = FramingGuard::new(server, Some(verdict.clone()));
    let mut client = client;
    let mut sent = GET.to_vec();
    sent.extend_from_slice(b"GET /y HTTP/1.1\r\nHost: x\n\r\n");
    client.write_all(&sent).await.unwrap();
    client.shutdown().await.unwrap();
    let mut read = Vec::new();
    guard.read_to_end(&mut read).await.unwrap();
    assert_eq!(read, sent);
    assert_eq!(verdict.violation(0), None);
    assert_eq!(verdict.violation(1), Some("bare LF line ending"));
    guard
        .write_all(b"HTTP/1.1 400 Bad Request\r\n")
        .await
        .unwrap();

    let (mut client, server) = tokio::io::duplex(4096);
    let mut unwatched = FramingGuard::new(server, None);
    client.write_all(b"GET / HTTP/1.1\n\n").await.unwrap();
    drop(client);
    let mut read = Vec::new();
    unwatched.read_to_end(&mut read).await.unwrap();
    assert_eq!(read, b"GET / HTTP/1.1\n\n");
}
