//! The `[cache]` section: how long read answers may be reused, how much memory they may take,
//! and per-path overrides, validated into `CacheConfig`.

use std::time::Duration;

use super::raw::RawCache;
use super::Validator;
use crate::policy::pattern::Pattern;

#[derive(Debug, Clone)]
pub struct CacheConfig {
    pub enabled: bool,
    /// How long an answer is fresh unless a path rule or Vault's own TTLs say less.
    pub ttl: Duration,
    /// Byte budget of all entries (bodies, headers and keys); least valuable evicted first.
    pub max_bytes: u64,
    /// How long past its TTL an entry may still be served while Vault is down; zero is off.
    pub stale_if_error: Duration,
    /// First match wins; a `ttl` of zero turns caching off for the matching paths.
    pub paths: Vec<CachePathRule>,
}

#[derive(Debug, Clone)]
pub struct CachePathRule {
    /// Vault policy pattern syntax (`*`, `+`), matched against the full path incl. namespace.
    pub pattern: Pattern,
    pub ttl: Option<Duration>,
    pub stale_if_error: Option<Duration>,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            enabled: true,
            ttl: Duration::from_secs(30),
            max_bytes: 64 * 1024 * 1024,
            stale_if_error: Duration::ZERO,
            paths: Vec::new(),
        }
    }
}

/// Longer would turn a short-lived cache into a second secret store.
const MAX_TTL: Duration = Duration::from_secs(24 * 3600);

impl Validator<'_> {
    pub(super) fn cache(&self, raw: Option<RawCache>) -> Option<CacheConfig> {
        let defaults = CacheConfig::default();
        let Some(raw) = raw else {
            return Some(defaults);
        };
        let bounded = |key: String, value, default: Duration| {
            let d = self.duration(&key, value, default);
            if d > MAX_TTL {
                self.problem(key, "must be at most 24h");
            }
            d
        };
        let ttl = bounded("cache.ttl".into(), raw.ttl, defaults.ttl);
        let stale_if_error = bounded(
            "cache.stale_if_error".into(),
            raw.stale_if_error,
            defaults.stale_if_error,
        );
        let max_bytes = match self.value("cache.max_bytes", raw.max_bytes) {
            Some(n) if n < 64 * 1024 => {
                self.problem("cache.max_bytes", "must be at least 65536");
                n
            }
            Some(n) => n,
            None => defaults.max_bytes,
        };
        let mut paths = Vec::new();
        for (i, p) in raw.path.into_iter().enumerate() {
            let key = |k: &str| format!("cache.path[{i}].{k}");
            let pattern = self.required(&key("pattern"), p.pattern, " (a Vault path pattern)");
            let ttl = p.ttl.map(|t| bounded(key("ttl"), Some(t), ttl));
            let stale = p
                .stale_if_error
                .map(|t| bounded(key("stale_if_error"), Some(t), stale_if_error));
            let Some(pattern) = pattern else { continue };
            if pattern.is_empty() || pattern.starts_with('/') {
                self.problem(
                    key("pattern"),
                    "must be a Vault path pattern like \"secret/data/acme/*\" (no leading /)",
                );
                continue;
            }
            paths.push(CachePathRule {
                pattern: Pattern::new(&pattern),
                ttl,
                stale_if_error: stale,
            });
        }
        Some(CacheConfig {
            enabled: self.value("cache.enabled", raw.enabled).unwrap_or(true),
            ttl,
            max_bytes,
            stale_if_error,
            paths,
        })
    }
}
