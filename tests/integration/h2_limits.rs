//! HTTP/2 limits, written frame by frame (a conforming client library would never break
//! them): streams past `max_concurrent_streams` are refused, and a rapid-reset flood gets
//! GOAWAY, in both cases without the refused streams reaching Vault.

use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::support::gate::Gate;
use crate::support::openbao::OpenBao;
use crate::support::pki::Pki;
use crate::support::poll_status;

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const HEADERS: u8 = 0x1;
const RST_STREAM: u8 = 0x3;
const SETTINGS: u8 = 0x4;
const GOAWAY: u8 = 0x7;
const END_STREAM_AND_HEADERS: u8 = 0x1 | 0x4;
const REFUSED_STREAM: u32 = 0x7;
const CANCEL: u32 = 0x8;
const ENHANCE_YOUR_CALM: u32 = 0xb;

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).unwrap().to_be_bytes();
    let mut f = vec![len[1], len[2], len[3], kind, flags];
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// A GET of `path` as HPACK without Huffman or indexing: `:method GET` and `:scheme https`
/// from the static table, `:path` and `:authority` as literals with indexed names.
fn get(stream: u32, path: &str) -> Vec<u8> {
    let mut block = vec![0x82, 0x87];
    for (name_index, value) in [(4u8, path), (1, "localhost")] {
        assert!(value.len() < 127);
        block.push(name_index);
        block.push(u8::try_from(value.len()).unwrap());
        block.extend_from_slice(value.as_bytes());
    }
    frame(HEADERS, END_STREAM_AND_HEADERS, stream, &block)
}

struct Frame {
    kind: u8,
    stream: u32,
    payload: Vec<u8>,
}

impl Frame {
    fn code(&self, at: usize) -> u32 {
        u32::from_be_bytes(self.payload[at..at + 4].try_into().unwrap())
    }
}

/// The next frame, or `None` when the server closed the connection.
async fn read_frame<S: AsyncRead + Unpin>(s: &mut S) -> Option<Frame> {
    let mut head = [0u8; 9];
    s.read_exact(&mut head).await.ok()?;
    let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
    let mut payload = vec![0u8; len];
    s.read_exact(&mut payload).await.ok()?;
    let stream = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
    Some(Frame {
        kind: head[3],
        stream,
        payload,
    })
}

/// Reads frames until `wanted` matches one (returned) or the connection ends (`None`); at
/// most 10 s and 100,000 frames.
async fn until<S: AsyncRead + Unpin>(s: &mut S, wanted: impl Fn(&Frame) -> bool) -> Option<Frame> {
    let search = async {
        for _ in 0..100_000 {
            let f = read_frame(s).await?;
            if wanted(&f) {
                return Some(f);
            }
        }
        None
    };
    tokio::time::timeout(Duration::from_secs(10), search)
        .await
        .expect("no matching frame within 10 s")
}

/// Preface and settings both ways; the server's settings acknowledged.
async fn open<S: AsyncRead + AsyncWrite + Unpin>(s: &mut S) {
    let mut hello = PREFACE.to_vec();
    hello.extend(frame(SETTINGS, 0, 0, &[]));
    s.write_all(&hello).await.unwrap();
    until(s, |f| f.kind == SETTINGS && f.payload.len() % 6 == 0)
        .await
        .expect("no SETTINGS from the server");
    s.write_all(&frame(SETTINGS, 0x1, 0, &[])).await.unwrap();
}

async fn gate_for(bao: &OpenBao, pki: &Pki, extra: &str) -> Gate {
    bao.kv_put("acme/billing/db", json!({"password": "pw"}))
        .await;
    let vault = format!("address = \"{}\"\ntimeout = \"3s\"\n", bao.addr());
    Gate::builder(bao, pki)
        .services(&["acme/billing"])
        .vault(&vault)
        .extra(extra)
        .start()
        .await
}

/// With two streams held open (OpenBao frozen), a third is refused with RST_STREAM
/// (REFUSED_STREAM); once Vault resumes, it saw the two streams and never the third.
#[tokio::test]
async fn streams_past_max_concurrent_streams_are_refused() {
    let bao = OpenBao::start().await;
    let pki = Pki::new(&["acme/billing"]);
    let extra = "\n[limits]\nmax_concurrent_streams = 2\n\n[cache]\nenabled = false\n";
    let gate = gate_for(&bao, &pki, extra).await;
    let mut h2 = pki.connect_raw("acme/billing", &gate.address, b"h2").await;
    open(&mut h2).await;

    let before = bao.audit_requests();
    bao.pause();
    let path = "/v1/secret/data/acme/billing/db";
    let mut streams = get(1, path);
    streams.extend(get(3, path));
    streams.extend(get(5, path));
    h2.write_all(&streams).await.unwrap();
    let refused = until(&mut h2, |f| f.kind == RST_STREAM && f.stream == 5)
        .await
        .expect("connection closed instead of refusing stream 5");
    assert_eq!(refused.code(0), REFUSED_STREAM);
    bao.resume();

    // The held streams end (with Vault's answer or the proxy's 504), then Vault's count
    // settles at exactly two more.
    let mut seen = bao.audit_requests();
    for _ in 0..100 {
        if seen >= before + 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        seen = bao.audit_requests();
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        bao.audit_requests(),
        before + 2,
        "Vault saw the refused stream"
    );
    gate.stop().await;
}

/// A rapid-reset flood (HEADERS then RST_STREAM, a thousand times) gets GOAWAY with
/// ENHANCE_YOUR_CALM; nothing reached Vault, and the proxy keeps serving other connections.
#[tokio::test]
async fn a_rapid_reset_flood_gets_goaway() {
    let bao = OpenBao::start().await;
    let pki = Pki::new(&["acme/billing"]);
    let gate = gate_for(&bao, &pki, "").await;
    let mut h2 = pki.connect_raw("acme/billing", &gate.address, b"h2").await;
    open(&mut h2).await;

    let before = bao.audit_requests();
    // Denied by policy, so even a stream served before its reset never reaches Vault.
    let path = "/v1/secret/data/other/tenant/db";
    let mut flood = Vec::new();
    for i in 0..1000u32 {
        let stream = 2 * i + 1;
        flood.extend(get(stream, path));
        flood.extend(frame(RST_STREAM, 0, stream, &CANCEL.to_be_bytes()));
    }
    // The server may close mid-flood; what it sent before closing is still readable.
    let _ = h2.write_all(&flood).await;
    let goaway = until(&mut h2, |f| f.kind == GOAWAY)
        .await
        .expect("connection closed without GOAWAY");
    assert_eq!(goaway.code(4), ENHANCE_YOUR_CALM);
    assert_eq!(
        bao.audit_requests(),
        before,
        "a flooded stream reached Vault"
    );

    let url = format!("{}/v1/secret/data/acme/billing/db", gate.url());
    assert_eq!(
        poll_status(&pki.client_for("acme/billing"), &url, 200, 20).await,
        200
    );
    gate.stop().await;
}
