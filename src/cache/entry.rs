//! One cached answer: what may be kept (never tokens, wrapped responses or leases), for how
//! long, and its bytes, which are zeroed when the last reader lets go of them.

use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::Value;
use tokio::time::Instant;
use zeroize::Zeroize;

use super::key::Stamps;

/// An answer kept for reuse, scrubbed of the token before it was stored.
pub struct CachedResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub fetched: Instant,
    pub fresh_until: Instant,
    pub stale_until: Instant,
    pub(super) stamps: Stamps,
}

impl std::fmt::Debug for CachedResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedResponse")
            .field("status", &self.status)
            .field(
                "body",
                &format_args!("<{} bytes redacted>", self.body.len()),
            )
            .field("fetched", &self.fetched)
            .finish_non_exhaustive()
    }
}

impl CachedResponse {
    pub fn weight(&self) -> u64 {
        let headers: usize = self
            .headers
            .iter()
            .map(|(k, v)| k.as_str().len() + v.len() + 32)
            .sum();
        (self.body.len() + headers + self.stamps.len() * 16 + 160) as u64
    }

    /// Whole seconds since Vault produced this answer (the `Age` header).
    pub fn age(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.fetched).as_secs()
    }
}

/// Owns a body's bytes and zeroes them when the last `Bytes` pointing into it is dropped.
struct Wiped(Vec<u8>);

impl AsRef<[u8]> for Wiped {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for Wiped {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

/// Wraps a body buffer so that its bytes are wiped when no entry or response uses them.
pub fn wiped_bytes(buf: Vec<u8>) -> Bytes {
    Bytes::from_owner(Wiped(buf))
}

/// What may be done with an upstream answer to a read or list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// Cacheable, for at most this long (Vault's own TTLs, when it reports any).
    Store { cap: Option<Duration> },
    /// Not cached, but the same answer may go to requests that waited for it.
    ShareOnly,
    /// Must reach only the request that caused it (credentials, leases, cookies).
    Never,
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    auth: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    wrap_info: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    lease_id: Option<String>,
    #[serde(default)]
    lease_duration: Option<u64>,
    #[serde(default)]
    data: Option<Value>,
}

/// Decides from Vault's answer whether it may be reused: no `auth` or `wrap_info` (a
/// token), no lease (dynamic credentials: each read must mint its own), no cookie.
pub fn assess(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Keep {
    if headers.contains_key(header::SET_COOKIE) {
        return Keep::Never;
    }
    let Ok(envelope) = serde_json::from_slice::<Envelope>(body) else {
        // Not Vault's JSON shape: nothing tells us it is safe to keep.
        return Keep::Never;
    };
    if envelope.auth.is_some()
        || envelope.wrap_info.is_some()
        || envelope.lease_id.as_deref().is_some_and(|l| !l.is_empty())
    {
        return Keep::Never;
    }
    if status != StatusCode::OK {
        return Keep::ShareOnly;
    }
    let mut cap = envelope
        .lease_duration
        .filter(|&s| s > 0)
        .map(Duration::from_secs);
    if let Some(Value::Object(data)) = &envelope.data {
        for field in ["ttl", "max_ttl"] {
            if let Some(s) = data.get(field).and_then(Value::as_u64).filter(|&s| s > 0) {
                let d = Duration::from_secs(s);
                cap = Some(cap.map_or(d, |c| c.min(d)));
            }
        }
    }
    Keep::Store { cap }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keep(status: u16, body: &str) -> Keep {
        assess(
            StatusCode::from_u16(status).unwrap(),
            &HeaderMap::new(),
            body.as_bytes(),
        )
    }

    #[test]
    fn tokens_wraps_and_leases_are_never_kept() {
        let auth = r#"{"auth":{"client_token":"x"},"data":null,"lease_id":""}"#;
        assert_eq!(keep(200, auth), Keep::Never);
        let wrap = r#"{"wrap_info":{"token":"x"},"data":null}"#;
        assert_eq!(keep(200, wrap), Keep::Never);
        let lease = r#"{"lease_id":"database/creds/ro/abc","lease_duration":3600,"data":{}}"#;
        assert_eq!(keep(200, lease), Keep::Never);
        assert_eq!(keep(200, "not json"), Keep::Never);
        let mut cookie = HeaderMap::new();
        cookie.insert(header::SET_COOKIE, "a=b".parse().unwrap());
        assert_eq!(assess(StatusCode::OK, &cookie, b"{}"), Keep::Never);
    }

    #[test]
    fn vault_ttls_cap_the_entry() {
        let kv1 = r#"{"lease_id":"","lease_duration":60,"auth":null,"wrap_info":null,"data":{"ttl":120}}"#;
        assert_eq!(
            keep(200, kv1),
            Keep::Store {
                cap: Some(Duration::from_secs(60))
            }
        );
        let kv2 = r#"{"lease_id":"","lease_duration":0,"data":{"data":{"a":"b"}}}"#;
        assert_eq!(keep(200, kv2), Keep::Store { cap: None });
        assert_eq!(keep(404, r#"{"errors":[]}"#), Keep::ShareOnly);
    }
}
