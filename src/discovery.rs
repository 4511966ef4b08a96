//! `Discovery`: the one owner of `ServerSemantics`. It asks the server which of the
//! namespaces vaultgate uses exist and reads each principal's OpenAPI document there
//! (filtered by that token's ACL, so together they describe every mount a service can
//! reach), on start, on a timer and after a request changed mounts or namespaces.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use http::{Method, StatusCode};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::principal::cell::TokenCell;
use crate::upstream::Upstream;
use crate::vault::semantics::ServerSemantics;

/// OpenAPI documents are large (about 0.7 MB for a dev server's mounts).
const MAX_DOCUMENT: usize = 16 * 1024 * 1024;
const OPENAPI: &str = "/v1/sys/internal/specs/openapi";
/// Served without a token in every namespace; answers 404 "namespace not found" for a
/// namespace that does not exist.
const NAMESPACE_PROBE: &str = "/v1/sys/internal/ui/mounts";

/// How often the documents are read again when nothing asked for it.
pub const REFRESH_EVERY: Duration = Duration::from_secs(60);
/// How soon to read again while some principal has not logged in yet.
const RETRY: Duration = Duration::from_secs(1);

/// One Vault identity whose view of the server is read.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub namespace: String,
    pub cell: TokenCell,
}

#[derive(Debug)]
pub struct Discovery {
    current: ArcSwap<ServerSemantics>,
    wanted: Notify,
    upstream: Upstream,
    viewers: Vec<Viewer>,
    /// Namespaces to ask about: root, each viewer's, the configured ones and their parents.
    namespaces: Vec<String>,
    every: Duration,
    rounds: std::sync::atomic::AtomicU64,
}

impl Discovery {
    pub fn new(
        upstream: Upstream,
        viewers: Vec<Viewer>,
        declared: &[String],
        every: Duration,
    ) -> Discovery {
        let mut namespaces = vec![String::new()];
        for ns in viewers
            .iter()
            .map(|v| v.namespace.as_str())
            .chain(declared.iter().map(String::as_str))
        {
            let mut prefix = String::new();
            for segment in ns.split('/').filter(|s| !s.is_empty()) {
                if !prefix.is_empty() {
                    prefix.push('/');
                }
                prefix.push_str(segment);
                if !namespaces.contains(&prefix) {
                    namespaces.push(prefix.clone());
                }
            }
        }
        Discovery {
            current: ArcSwap::from_pointee(ServerSemantics::default()),
            wanted: Notify::new(),
            upstream,
            viewers,
            namespaces,
            every,
            rounds: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// What is known now; cheap, one per request.
    pub fn snapshot(&self) -> arc_swap::Guard<Arc<ServerSemantics>> {
        self.current.load()
    }

    /// Asks for a fresh read soon (a request through the proxy changed mounts or namespaces).
    pub fn stale(&self) {
        self.wanted.notify_one();
    }

    /// Completed reads of the server, for tests waiting on a refresh.
    pub fn rounds(&self) -> u64 {
        self.rounds.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Reads the server until `stop`. While a viewer has no token yet (logins still under
    /// way), the next read comes after `RETRY` rather than a whole period later.
    pub async fn run(self: Arc<Self>, stop: CancellationToken) {
        loop {
            let next = self.read().await;
            self.current.store(Arc::new(next));
            self.rounds
                .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
            let waiting = self.viewers.iter().any(|v| v.cell.current().is_none());
            let pause = if waiting {
                RETRY.min(self.every)
            } else {
                self.every
            };
            tokio::select! {
                () = stop.cancelled() => return,
                () = self.wanted.notified() => {}
                () = tokio::time::sleep(pause) => {}
            }
        }
    }

    /// One read. A namespace or document the server could not be asked about keeps what the
    /// previous read knew, so a passing outage never makes vaultgate forget a mount.
    async fn read(&self) -> ServerSemantics {
        let previous = self.current.load_full();
        let mut next = ServerSemantics::default();
        next.namespaces_supported = self
            .namespaces_supported()
            .await
            .unwrap_or(previous.namespaces_supported);
        for ns in &self.namespaces {
            let exists = if ns.is_empty() {
                Some(true)
            } else {
                self.exists(ns).await
            };
            let space = next.space_mut(ns);
            space.exists = exists.or_else(|| previous.space(ns).and_then(|s| s.exists));
            if exists == Some(false) {
                continue;
            }
            let mut read_any = false;
            for viewer in self.viewers.iter().filter(|v| within(ns, &v.namespace)) {
                let Some(token) = viewer.cell.current() else {
                    continue;
                };
                let answer = self
                    .upstream
                    .call_json_within(Method::GET, OPENAPI, ns, Some(&token), None, MAX_DOCUMENT)
                    .await;
                match answer {
                    Ok((StatusCode::OK, doc)) => {
                        next.space_mut(ns).add_document(&doc);
                        read_any = true;
                    }
                    Ok((status, _)) => {
                        tracing::debug!(namespace = %ns, %status, "OpenAPI document not served")
                    }
                    Err(e) => {
                        tracing::debug!(namespace = %ns, error = %e, "OpenAPI document not read")
                    }
                }
            }
            if !read_any {
                if let Some(old) = previous.space(ns) {
                    let exists = next.space(ns).and_then(|s| s.exists);
                    let kept = next.space_mut(ns);
                    *kept = old.clone();
                    kept.exists = exists;
                }
            }
        }
        next
    }

    /// Whether the server has namespaces: it must refuse one that cannot exist.
    async fn namespaces_supported(&self) -> Option<bool> {
        let probe = format!("vaultgate-probe-{}", random_suffix()?);
        let (status, _) = self
            .upstream
            .call_json(Method::GET, NAMESPACE_PROBE, &probe, None, None)
            .await
            .ok()?;
        Some(status != StatusCode::OK)
    }

    async fn exists(&self, ns: &str) -> Option<bool> {
        let (status, body) = self
            .upstream
            .call_json(Method::GET, NAMESPACE_PROBE, ns, None, None)
            .await
            .ok()?;
        match status {
            StatusCode::OK => Some(true),
            StatusCode::NOT_FOUND if body.to_string().contains("namespace not found") => {
                Some(false)
            }
            _ => None,
        }
    }
}

/// A token issued in `home` can read documents of `home` and the namespaces below it.
fn within(ns: &str, home: &str) -> bool {
    home.is_empty() || ns == home || ns.strip_prefix(home).is_some_and(|r| r.starts_with('/'))
}

fn random_suffix() -> Option<String> {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 8];
    ring::rand::SystemRandom::new().fill(&mut bytes).ok()?;
    Some(crate::digest::hex(&bytes))
}

#[cfg(test)]
mod tests {
    use super::within;

    #[test]
    fn a_token_reads_its_namespace_and_below() {
        assert!(within("", ""));
        assert!(within("acme/x", ""));
        assert!(within("acme", "acme"));
        assert!(within("acme/x", "acme"));
        assert!(!within("acmex", "acme"));
        assert!(!within("", "acme"));
    }
}
