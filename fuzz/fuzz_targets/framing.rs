//! Fuzzes the HTTP/1 framing guard against httparse, the parser hyper uses: whenever
//! httparse reads a complete first head the guard let through, that head has one plain
//! `Content-Length` at most, no `Transfer-Encoding` and only CRLF line endings, so hyper and
//! Vault cannot disagree on where the request ends. The verdict must also not depend on how
//! the bytes are split across reads.

#![no_main]

use libfuzzer_sys::fuzz_target;
use vaultgate::listener::FramingScanner;

fuzz_target!(|input: &[u8]| {
    let Some((&split, data)) = input.split_first() else {
        return;
    };
    let whole = FramingScanner::default().scan(data);

    // Same verdict whatever the read boundaries: a split point and then small reads.
    let at = usize::from(split).min(data.len());
    let mut chunked = FramingScanner::default();
    let (a, rest) = data.split_at(at);
    let mut got = chunked.scan(a);
    let step = usize::from(split % 7) + 1;
    for piece in rest.chunks(step) {
        if got.is_some() {
            break;
        }
        got = chunked.scan(piece);
    }
    assert_eq!(got, whole, "split at {at}, then reads of {step}");

    if matches!(whole, Some((0, _))) {
        return;
    }
    let mut headers = [httparse::EMPTY_HEADER; 100];
    let mut req = httparse::Request::new(&mut headers);
    let Ok(httparse::Status::Complete(head_len)) = req.parse(data) else {
        return;
    };
    let named = |name: &'static str| {
        req.headers
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name))
            .collect::<Vec<_>>()
    };
    assert!(
        named("transfer-encoding").is_empty(),
        "Transfer-Encoding passed"
    );
    let lengths = named("content-length");
    assert!(
        lengths.len() <= 1,
        "{} Content-Length headers passed",
        lengths.len()
    );
    if let Some(cl) = lengths.first() {
        assert!(!cl.value.contains(&b','), "a Content-Length list passed");
    }
    let head = &data[..head_len];
    let bare_lf = head
        .iter()
        .enumerate()
        .any(|(i, &b)| b == b'\n' && (i == 0 || head[i - 1] != b'\r'));
    assert!(!bare_lf, "a bare LF passed");
});
