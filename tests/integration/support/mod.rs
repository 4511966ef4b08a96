//! Test support: a real OpenBao, the dev PKI, and vaultgate started in-process.

pub mod collector;
pub mod gate;
pub mod openbao;
pub mod pki;
pub mod raw;
pub mod relay;

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
