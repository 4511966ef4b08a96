//! A raw HTTP/1.1 client over the dev PKI's mTLS: exact bytes on the wire, for requests no
//! well-behaved client would send.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::pki::{connect_with, Pki};

/// Connects as acme/billing (its client certificate) to a gate's TLS listener.
pub struct Raw {
    config: Arc<tokio_rustls::rustls::ClientConfig>,
    address: String,
}

impl Raw {
    pub fn new(pki: &Pki, address: &str) -> Raw {
        Raw {
            config: pki.tls_config("acme/billing", b"http/1.1"),
            address: address.to_owned(),
        }
    }

    pub async fn connect(&self) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
        connect_with(self.config.clone(), &self.address).await
    }

    /// Sends raw bytes on a fresh connection and returns the status of the first response.
    pub async fn status(&self, request: &[u8]) -> Option<u16> {
        let mut tls = self.connect().await;
        tls.write_all(request).await.unwrap();
        let mut buf = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(10), async {
            let mut chunk = [0u8; 4096];
            loop {
                match tls.read(&mut chunk).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        buf.extend_from_slice(&chunk[..n]);
                        if buf.windows(4).any(|w| w == b"\r\n\r\n") {
                            break;
                        }
                    }
                }
            }
        });
        read.await.expect("no answer within 10 s");
        let head = String::from_utf8_lossy(&buf);
        head.split_whitespace().nth(1).and_then(|s| s.parse().ok())
    }
}

/// Reads one whole response (sized or chunked) and returns its head and body.
pub async fn read_response<S: tokio::io::AsyncRead + Unpin>(s: &mut S) -> (String, Vec<u8>) {
    let mut buf = Vec::new();
    let read = async {
        let mut chunk = [0u8; 4096];
        let end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let n = s.read(&mut chunk).await.unwrap();
            assert!(n > 0, "closed before the response head");
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
        let length = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .map(|v| v.trim().parse::<usize>().unwrap());
        loop {
            let body = &buf[end..];
            let complete = match length {
                Some(n) => body.len() >= n,
                None => body.ends_with(b"0\r\n\r\n"),
            };
            if complete {
                break;
            }
            let n = s.read(&mut chunk).await.unwrap();
            assert!(n > 0, "closed before the response body ended");
            buf.extend_from_slice(&chunk[..n]);
        }
        let body = buf.split_off(end);
        (String::from_utf8_lossy(&buf).into_owned(), body)
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .expect("no whole response within 10 s")
}

/// Reads until the server closes the connection; the 10 s bound fails a server that keeps it.
pub async fn read_until_closed<S: tokio::io::AsyncRead + Unpin>(s: &mut S) -> String {
    let mut buf = Vec::new();
    let read = async {
        let mut chunk = [0u8; 4096];
        // A close without TLS close_notify reads as an error: closed all the same.
        while let Ok(n @ 1..) = s.read(&mut chunk).await {
            buf.extend_from_slice(&chunk[..n]);
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .expect("the server kept the connection open after an ambiguous request");
    String::from_utf8_lossy(&buf).into_owned()
}
