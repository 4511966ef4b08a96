//! `ReadCache`: a short-TTL cache of Vault's answers to reads and lists, consulted only after
//! the policy allowed the request, keyed per service, invalidated by writes through the
//! proxy, with one upstream request per concurrent miss and a fixed byte budget.

mod entry;
mod flight;
mod key;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use quick_cache::sync::Cache;
use quick_cache::{DefaultHashBuilder, Lifecycle, Weighter};
use serde::Serialize;
use tokio::time::Instant;

pub use entry::{assess, wiped_bytes, CachedResponse, Keep};
pub use flight::{follow, Flight, FlightGuard, Shared};
pub use key::{CacheKey, Generations, Stamps};

use crate::config::CacheConfig;
use crate::identity::Caller;
use crate::vault::operation::{Operation, Verb};
use crate::vault::placement::Placement;

/// How a request was served, as the `x-cache` header and the audit record say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheStatus {
    Hit,
    Miss,
    /// Past its TTL, served because Vault failed (`stale_if_error`).
    Stale,
    /// Waited for a concurrent identical miss and shared its answer.
    Coalesced,
    /// Not cacheable: writes, wrapping, excluded paths, `Cache-Control: no-cache`.
    Bypass,
}

impl CacheStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CacheStatus::Hit => "hit",
            CacheStatus::Miss => "miss",
            CacheStatus::Stale => "stale",
            CacheStatus::Coalesced => "coalesced",
            CacheStatus::Bypass => "bypass",
        }
    }
}

/// How often expired entries are dropped (and their bytes wiped).
const SWEEP_EVERY: Duration = Duration::from_secs(5);

/// Paths whose answers change with the token or the server's state, never cached: health and
/// seal status must be live, `cubbyhole/` belongs to one token, `auth/` answers carry tokens, `identity/` answers describe the token's entity.
const NEVER_CACHED: [&str; 4] = ["sys/", "auth/", "cubbyhole/", "identity/"];

/// How one cacheable request is treated.
#[derive(Debug)]
pub struct Plan {
    pub key: CacheKey,
    pub ttl: Duration,
    pub stale_if_error: Duration,
}

/// What the cache holds for a key.
#[derive(Debug)]
pub enum Lookup {
    Fresh(Arc<CachedResponse>),
    /// Expired but within `stale_if_error`: used only if Vault fails.
    Stale(Arc<CachedResponse>),
    Miss,
}

/// Which entries an operator's clear removes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClearScope {
    All,
    /// Paths (namespace included) starting with this prefix.
    Prefix(String),
    Service(Caller),
}

#[derive(Debug, Default)]
struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
    stale: AtomicU64,
    coalesced: AtomicU64,
    evictions: AtomicU64,
    invalidations: AtomicU64,
}

/// A snapshot of the cache's counters, for metrics and the admin API.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct CacheStats {
    pub hits: u64,
    pub misses: u64,
    pub stale: u64,
    pub coalesced: u64,
    pub evictions: u64,
    pub invalidations: u64,
    pub entries: u64,
    pub bytes: u64,
    pub max_bytes: u64,
}

#[derive(Debug, Clone)]
struct ByWeight;

impl Weighter<CacheKey, Arc<CachedResponse>> for ByWeight {
    fn weight(&self, key: &CacheKey, val: &Arc<CachedResponse>) -> u64 {
        key.weight() + val.weight()
    }
}

/// Counts evictions made to stay within the byte budget.
#[derive(Debug, Clone)]
struct Evictions(Arc<Counters>);

impl Lifecycle<CacheKey, Arc<CachedResponse>> for Evictions {
    type RequestState = ();
    fn begin_request(&self) {}
    fn on_evict(&self, _: &mut (), _: CacheKey, _: Arc<CachedResponse>) {
        self.0.evictions.fetch_add(1, Ordering::Relaxed);
    }
}

type Entries = Cache<CacheKey, Arc<CachedResponse>, ByWeight, DefaultHashBuilder, Evictions>;

#[derive(Debug)]
pub struct ReadCache {
    config: CacheConfig,
    entries: Entries,
    generations: Generations,
    flights: flight::Flights,
    counters: Arc<Counters>,
}

impl ReadCache {
    pub fn new(config: CacheConfig) -> ReadCache {
        let counters = Arc::new(Counters::default());
        // Budgeted for ~2 KiB answers; quick_cache shards the budget and keeps each shard
        // at least 32 items, so small budgets get fewer shards rather than tiny ones.
        let items = (config.max_bytes / 2048).max(64) as usize;
        let entries = Cache::with(
            items,
            config.max_bytes,
            ByWeight,
            DefaultHashBuilder::default(),
            Evictions(counters.clone()),
        );
        ReadCache {
            config,
            entries,
            generations: Generations::default(),
            flights: flight::Flights::default(),
            counters,
        }
    }

    pub fn enabled(&self) -> bool {
        self.config.enabled
    }

    /// How `op` by `caller` may use the cache, or `None` when it must bypass it. Called only
    /// after the policy allowed the request.
    pub fn plan(&self, caller: &Caller, op: &Operation, placement: &Placement) -> Option<Plan> {
        if !self.config.enabled
            || !matches!(op.verb, Verb::Read | Verb::List)
            || op.wrap_ttl.is_some()
            || !op.body.is_empty()
        {
            return None;
        }
        let never = placement.splits().iter().any(|split| {
            let path = split.path(&op.full_path);
            NEVER_CACHED.iter().any(|p| path.starts_with(p))
        });
        if never {
            return None;
        }
        let rule = self
            .config
            .paths
            .iter()
            .find(|r| r.pattern.matches(&op.full_path));
        let ttl = rule.and_then(|r| r.ttl).unwrap_or(self.config.ttl);
        if ttl.is_zero() {
            return None;
        }
        let stale_if_error = rule
            .and_then(|r| r.stale_if_error)
            .unwrap_or(self.config.stale_if_error);
        Some(Plan {
            key: CacheKey::new(caller, op),
            ttl,
            stale_if_error,
        })
    }

    pub fn lookup(&self, key: &CacheKey) -> Lookup {
        let Some(entry) = self.entries.get(key) else {
            return Lookup::Miss;
        };
        let now = Instant::now();
        if !self.generations.valid(&entry.stamps) || now >= entry.stale_until {
            self.entries.remove(key);
            return Lookup::Miss;
        }
        if now < entry.fresh_until {
            Lookup::Fresh(entry)
        } else {
            Lookup::Stale(entry)
        }
    }

    /// The generations an answer fetched from now on depends on; read before sending.
    pub fn stamps(&self, op: &Operation, placement: &Placement) -> Stamps {
        self.generations.stamps(op, placement)
    }

    /// An answer fetched under `stamps`, fresh for the plan's TTL capped by Vault's own.
    pub fn entry(
        &self,
        plan: &Plan,
        stamps: Stamps,
        fetched: Instant,
        cap: Option<Duration>,
        response: (http::StatusCode, http::HeaderMap, bytes::Bytes),
    ) -> Arc<CachedResponse> {
        let ttl = cap.map_or(plan.ttl, |c| c.min(plan.ttl));
        let fresh_until = fetched + ttl;
        let (status, headers, body) = response;
        Arc::new(CachedResponse {
            status,
            headers,
            body,
            fetched,
            fresh_until,
            stale_until: fresh_until + plan.stale_if_error,
            stamps,
        })
    }

    /// Keeps `entry` unless a write moved its generations while it was being fetched.
    pub fn insert(&self, plan: &Plan, entry: Arc<CachedResponse>) {
        if entry.fresh_until > entry.fetched && self.generations.valid(&entry.stamps) {
            self.entries.insert(plan.key.clone(), entry);
        }
    }

    /// Called after every write, patch or delete was sent (whatever Vault answered: a
    /// timed-out write may still have been applied), before its answer is released.
    pub fn invalidate(&self, op: &Operation, placement: &Placement) {
        if matches!(op.verb, Verb::Write | Verb::Patch | Verb::Delete) {
            self.generations.invalidate(op, placement);
            self.counters.invalidations.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Removes entries; returns how many. Their bytes are wiped as their last reader ends.
    pub fn clear(&self, scope: &ClearScope) -> u64 {
        let before = self.entries.len() as u64;
        match scope {
            ClearScope::All => {
                self.generations.invalidate_all();
                self.entries.clear();
            }
            ClearScope::Prefix(prefix) => self
                .entries
                .retain(|k, _| !k.path().starts_with(prefix.as_str())),
            ClearScope::Service(caller) => self.entries.retain(|k, _| &k.caller != caller),
        }
        before.saturating_sub(self.entries.len() as u64)
    }

    /// Drops entries past their stale window or invalidated, so their bytes are wiped
    /// promptly rather than when the budget next needs room.
    pub fn sweep(&self) {
        let now = Instant::now();
        self.entries
            .retain(|_, v| now < v.stale_until && self.generations.valid(&v.stamps));
    }

    /// Sweeps expired entries until `stop`, and drops everything the moment a lockdown
    /// starts: an incident is no time to keep secrets in memory.
    pub async fn upkeep(
        self: Arc<Self>,
        stop: tokio_util::sync::CancellationToken,
        mut lockdown: tokio::sync::watch::Receiver<bool>,
        auditor: crate::audit::Auditor,
    ) {
        let mut watching = true;
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                () = tokio::time::sleep(SWEEP_EVERY) => self.sweep(),
                changed = lockdown.changed(), if watching => {
                    watching = changed.is_ok();
                    if watching && *lockdown.borrow_and_update() {
                        let removed = self.clear(&ClearScope::All);
                        auditor.event(crate::audit::AuditRecord::event(
                            "cache_clear",
                            serde_json::json!({ "scope": "all", "reason": "lockdown", "removed": removed }),
                        ));
                    }
                }
            }
        }
        self.clear(&ClearScope::All);
    }

    /// Joins the in-flight fetch for `key`, or becomes the one that fetches it.
    pub fn join(&self, key: &CacheKey) -> Flight {
        self.flights.join(key)
    }

    pub fn count(&self, status: CacheStatus) {
        let counter = match status {
            CacheStatus::Hit => &self.counters.hits,
            CacheStatus::Miss => &self.counters.misses,
            CacheStatus::Stale => &self.counters.stale,
            CacheStatus::Coalesced => &self.counters.coalesced,
            CacheStatus::Bypass => return,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn stats(&self) -> CacheStats {
        let c = &self.counters;
        CacheStats {
            hits: c.hits.load(Ordering::Relaxed),
            misses: c.misses.load(Ordering::Relaxed),
            stale: c.stale.load(Ordering::Relaxed),
            coalesced: c.coalesced.load(Ordering::Relaxed),
            evictions: c.evictions.load(Ordering::Relaxed),
            invalidations: c.invalidations.load(Ordering::Relaxed),
            entries: self.entries.len() as u64,
            bytes: self.entries.weight(),
            max_bytes: self.config.max_bytes,
        }
    }
}

#[cfg(test)]
mod tests;
