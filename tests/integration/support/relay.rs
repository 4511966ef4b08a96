//! `Relay`: a loopback TCP relay between vaultgate and OpenBao that can cut or freeze Vault's
//! answers part-way, the faults a real server cannot produce on demand (DESIGN.md "Habits"),
//! and can record the bytes sent towards Vault (what reached a node).

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// What the relay does to the next bytes Vault sends back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Relays everything unchanged.
    Pass,
    /// Sends the first bytes of the status line, then resets the connection (RST).
    ResetInHead,
    /// Sends the whole head and a few body bytes, then resets the connection.
    ResetInBody,
    /// Sends the first bytes of the status line, then sends nothing more.
    StallInHead,
    /// Sends the whole head and a few body bytes, then sends nothing more.
    StallInBody,
}

/// How long a stalled connection is held open at most: longer than any test's upstream
/// timeout, so it is the proxy that gives up, and bounded, so no task outlives its test long.
const STALL_CAP: Duration = Duration::from_secs(30);
/// Bytes of the status line sent before a fault in the head (`HTTP/1.1 20`).
const HEAD_PREFIX: usize = 11;
/// Body bytes sent before a fault in the body.
const BODY_PREFIX: usize = 5;

/// Where a recording relay keeps every byte sent towards Vault.
type Recording = Arc<OnceLock<Arc<Mutex<Vec<u8>>>>>;

pub struct Relay {
    port: u16,
    fault: Arc<Mutex<Fault>>,
    recording: Recording,
    stop: CancellationToken,
}

impl Relay {
    /// Listens on a free loopback port and relays every connection to `upstream`
    /// (`127.0.0.1:PORT`).
    pub async fn start(upstream: String) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let fault = Arc::new(Mutex::new(Fault::Pass));
        let recording = Recording::default();
        let stop = CancellationToken::new();
        let (f, r, s) = (fault.clone(), recording.clone(), stop.clone());
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    a = listener.accept() => a,
                    () = s.cancelled() => return,
                };
                let Ok((client, _)) = accepted else { continue };
                tokio::spawn(pipe(
                    client,
                    upstream.clone(),
                    f.clone(),
                    r.clone(),
                    s.clone(),
                ));
            }
        });
        Relay {
            port,
            fault,
            recording,
            stop,
        }
    }

    /// Records every byte sent towards Vault from now on, into the buffer returned.
    pub fn record(&self) -> Arc<Mutex<Vec<u8>>> {
        self.recording.get_or_init(Arc::default).clone()
    }

    /// `http://127.0.0.1:PORT`, for vaultgate's `[vault] address`.
    pub fn addr(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Applies `fault` to every answer from now on (`Fault::Pass` ends it).
    pub fn set(&self, fault: Fault) {
        *self.fault.lock().unwrap() = fault;
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn pipe(
    client: TcpStream,
    upstream: String,
    fault: Arc<Mutex<Fault>>,
    recording: Recording,
    stop: CancellationToken,
) {
    let Ok(server) = TcpStream::connect(&upstream).await else {
        return;
    };
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let requests = tokio::spawn(async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match client_read.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            if let Some(record) = recording.get() {
                record.lock().unwrap().extend_from_slice(&buf[..n]);
            }
            if server_write.write_all(&buf[..n]).await.is_err() {
                return;
            }
        }
    });
    let mut buf = vec![0u8; 64 * 1024];
    // Whether this response's head has passed, so a body fault knows where the body starts.
    let mut in_body = false;
    loop {
        let n = tokio::select! {
            r = server_read.read(&mut buf) => match r { Ok(0) | Err(_) => break, Ok(n) => n },
            () = stop.cancelled() => break,
        };
        let chunk = &buf[..n];
        let current = *fault.lock().unwrap();
        let head_end = find(chunk, b"\r\n\r\n").map(|i| i + 4);
        let cut = match current {
            Fault::Pass => None,
            Fault::ResetInHead | Fault::StallInHead => Some(n.min(HEAD_PREFIX)),
            Fault::ResetInBody | Fault::StallInBody => match head_end {
                Some(end) => Some(n.min(end + BODY_PREFIX)),
                None if in_body => Some(n.min(BODY_PREFIX)),
                None => None,
            },
        };
        let Some(cut) = cut else {
            in_body = head_end.is_some() || in_body;
            if client_write.write_all(chunk).await.is_err() {
                break;
            }
            continue;
        };
        let _ = client_write.write_all(&chunk[..cut]).await;
        let _ = client_write.flush().await;
        match current {
            Fault::ResetInHead | Fault::ResetInBody => {
                // Linger zero turns the close into an RST, and `forget` skips the FIN a dropped
                // write half would send first: a reset, not an orderly end.
                let _ = AsRef::<TcpStream>::as_ref(&client_write).set_zero_linger();
                client_write.forget();
                requests.abort();
                return;
            }
            _ => {
                tokio::select! {
                    () = tokio::time::sleep(STALL_CAP) => {}
                    () = stop.cancelled() => {}
                }
                break;
            }
        }
    }
    requests.abort();
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
