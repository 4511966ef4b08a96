//! `Metrics`: what the admin listener's `/metrics` serves, in the Prometheus text format.
//! Request counters and latency histograms are atomics updated once per request at the
//! proxy's logging point; token, policy, audit and cache figures are read from their owners
//! at each scrape, so those owners keep a single source of truth.

mod status;

pub use status::CacheStats;

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::audit::Auditor;
use crate::identity::Caller;
use crate::lease::Leases;
use crate::policy::PolicyStore;
use crate::principal::cell::TokenCell;
use crate::upstream::Upstream;

/// The `Content-Type` of what `encode` returns (Prometheus text format 0.0.4).
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// The tenant and service label of a request whose caller is not a configured service. Not
/// a valid tenant name, so it can never be confused with one.
const UNIDENTIFIED: &str = "-";

/// One series of `vaultgate_requests_total`. Every value is bounded: tenant and service come
/// from the configured services only, the decision is one of three words, the status is an
/// HTTP status code.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    tenant: Arc<str>,
    service: Arc<str>,
    decision: &'static str,
    status: u16,
}

/// A configured caller's label values, shared rather than copied per request, and its two
/// everyday series (an allowed 200, a denied 403) looked up once instead of per request: the
/// cost of counting stays the same however many callers and series there are.
#[derive(Debug)]
struct CallerSeries {
    tenant: Arc<str>,
    service: Arc<str>,
    allowed_ok: OnceLock<Counter>,
    denied: OnceLock<Counter>,
}

/// Every metric vaultgate exports. Built mutable at startup (collectors are registered
/// then), shared as `Arc<Metrics>` afterwards.
pub struct Metrics {
    registry: Registry,
    callers: HashMap<Caller, CallerSeries>,
    unidentified: Arc<str>,
    requests: Family<RequestLabels, Counter>,
    decision: Histogram,
    upstream: Histogram,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("callers", &self.callers.len())
            .finish_non_exhaustive()
    }
}

impl Metrics {
    /// The request metrics for `callers` (the configured services: the only label values).
    pub fn new(callers: &[Caller]) -> Metrics {
        let mut registry = Registry::with_prefix("vaultgate");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "requests",
            "Requests answered, by caller tenant and service (\"-\" when not a configured \
             service), decision (allow, deny, none: refused before a decision) and HTTP status",
            requests.clone(),
        );
        // 10 µs .. ~0.3 s: vaultgate's own work is usually well under a millisecond.
        let decision = Histogram::new(exponential_buckets(0.000_01, 2.0, 16));
        registry.register(
            "decision_duration_seconds",
            "Time vaultgate spent on a request itself (classify, authorize, token, audit), \
             excluding the wait for Vault",
            decision.clone(),
        );
        // 0.5 ms .. ~8 s.
        let upstream = Histogram::new(exponential_buckets(0.000_5, 2.0, 15));
        registry.register(
            "upstream_duration_seconds",
            "Time until Vault's response head arrived, for requests forwarded to Vault",
            upstream.clone(),
        );
        let callers = callers
            .iter()
            .map(|c| {
                let series = CallerSeries {
                    tenant: c.tenant().into(),
                    service: c.service().into(),
                    allowed_ok: OnceLock::new(),
                    denied: OnceLock::new(),
                };
                (c.clone(), series)
            })
            .collect();
        Metrics {
            registry,
            callers,
            unidentified: UNIDENTIFIED.into(),
            requests,
            decision,
            upstream,
        }
    }

    /// Counts one answered request. `allowed` is the policy decision, if one was reached;
    /// `elapsed` is the whole request, `upstream` the part spent waiting for Vault.
    pub fn request(
        &self,
        caller: Option<&Caller>,
        allowed: Option<bool>,
        status: u16,
        elapsed: Duration,
        upstream: Option<Duration>,
    ) {
        let decision = match allowed {
            Some(true) => "allow",
            Some(false) => "deny",
            None => "none",
        };
        match caller.and_then(|c| self.callers.get(c)) {
            Some(c) => {
                let everyday = match (decision, status) {
                    ("allow", 200) => Some(&c.allowed_ok),
                    ("deny", 403) => Some(&c.denied),
                    _ => None,
                };
                let series = || self.series(&c.tenant, &c.service, decision, status);
                match everyday {
                    Some(slot) => slot.get_or_init(series).inc(),
                    None => series().inc(),
                }
            }
            None => {
                let unidentified = &self.unidentified;
                self.series(unidentified, unidentified, decision, status)
                    .inc()
            }
        };
        let waited = upstream.unwrap_or_default();
        self.decision
            .observe(elapsed.saturating_sub(waited).as_secs_f64());
        if let Some(u) = upstream {
            self.upstream.observe(u.as_secs_f64());
        }
    }

    /// The counter of one label set (created at its first request).
    fn series(
        &self,
        tenant: &Arc<str>,
        service: &Arc<str>,
        decision: &'static str,
        status: u16,
    ) -> Counter {
        let labels = RequestLabels {
            tenant: tenant.clone(),
            service: service.clone(),
            decision,
            status,
        };
        self.requests.get_or_create(&labels).clone()
    }

    /// Token figures per principal (`tenant/service`, or `issuer`), read at each scrape.
    pub fn register_tokens(&mut self, cells: Vec<(String, TokenCell)>) {
        self.registry
            .register_collector(Box::new(status::Tokens { cells }));
    }

    /// Policy reload counts, read from the store at each scrape.
    pub fn register_policies(&mut self, store: Arc<PolicyStore>) {
        self.registry
            .register_collector(Box::new(status::Policies { store }));
    }

    /// Audit queue depth and failures, read from the auditor at each scrape.
    pub fn register_audit(&mut self, auditor: Auditor) {
        self.registry
            .register_collector(Box::new(status::Audit { auditor }));
    }

    /// Each Vault node's state and the failovers seen, read from the upstream's snapshot at
    /// each scrape (nothing when one `address` is configured).
    pub fn register_vault_nodes(&mut self, upstream: Upstream) {
        self.registry
            .register_collector(Box::new(status::VaultNodes { upstream }));
    }

    /// Leases tracked and vaultgate's lease renewals, read from the registry at each scrape.
    pub fn register_leases(&mut self, leases: Arc<Leases>) {
        self.registry
            .register_collector(Box::new(status::Leases { leases }));
    }

    /// THE PLACE FOR THE READ CACHE: `metrics.register_cache(move || cache.stats())` in
    /// `App::start`, where `ReadCache::stats` reads the cache's own atomics. Exports
    /// `vaultgate_cache_{hits,misses,stale,evictions}_total` and
    /// `vaultgate_cache_{bytes,entries}`.
    pub fn register_cache(&mut self, stats: impl Fn() -> CacheStats + Send + Sync + 'static) {
        self.registry.register_collector(Box::new(status::Cache {
            stats: Box::new(stats),
        }));
    }

    /// The whole registry in the Prometheus text format.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
