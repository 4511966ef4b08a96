//! Test support: a real OpenBao (a dev server, or a 3-node raft cluster), the dev PKI, and
//! vaultgate started in-process.

pub mod aws_auth;
pub mod clients;
pub mod cluster;
pub mod collector;
pub mod differential;
pub mod gate;
pub mod moto;
pub mod openbao;
pub mod pki;
pub mod postgres;
pub mod raft;
pub mod raw;
pub mod relay;
pub mod rsyslog;
pub mod seed;

/// GETs `url` every 100 ms until it answers `want`, at most `tries` times; returns the last
/// status (a connection error counts as 0), so the caller's assertion says what was seen.
pub async fn poll_status(client: &reqwest::Client, url: &str, want: u16, tries: usize) -> u16 {
    let mut last = 0;
    for _ in 0..tries {
        // Polling watches Vault's live state, never an answer the cache still holds.
        last = match client
            .get(url)
            .header("cache-control", "no-cache")
            .send()
            .await
        {
            Ok(r) => r.status().as_u16(),
            Err(_) => 0,
        };
        if last == want {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    last
}

/// Sends SIGTERM to a running `vaultgate` and waits (at most 30 s) for it to exit; returns
/// its exit code.
pub async fn sigterm(child: &mut tokio::process::Child) -> Option<i32> {
    let pid = child.id().expect("the process is running").to_string();
    let kill = tokio::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .unwrap();
    assert!(kill.success());
    tokio::time::timeout(std::time::Duration::from_secs(30), child.wait())
        .await
        .expect("no exit within 30 s after SIGTERM")
        .unwrap()
        .code()
}

/// Polls `f` every 50 ms until it returns `Some`, at most `limit`.
pub async fn eventually<T, F: std::future::Future<Output = Option<T>>>(
    limit: std::time::Duration,
    mut f: impl FnMut() -> F,
) -> Option<T> {
    let started = std::time::Instant::now();
    while started.elapsed() < limit {
        if let Some(v) = f().await {
            return Some(v);
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    None
}

/// Reads one HTTP/1.1 response with a Content-Length body; returns its head.
pub async fn read_response<S: tokio::io::AsyncRead + Unpin>(s: &mut S) -> String {
    use tokio::io::AsyncReadExt;

    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let read = async {
        loop {
            let n = s.read(&mut chunk).await.unwrap();
            assert!(n > 0, "connection closed mid-response");
            buf.extend_from_slice(&chunk[..n]);
            let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                continue;
            };
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            let length: usize = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                })
                .unwrap_or(0);
            if buf.len() >= end + 4 + length {
                return head;
            }
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(10), read)
        .await
        .expect("no response within 10 s")
}
