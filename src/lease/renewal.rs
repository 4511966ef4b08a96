//! The opt-in renewal of leases (`renew_leases = true` on a service): one task renews each
//! tracked lease of those services at about two thirds of its TTL (jittered), one at a time
//! so a burst of leases never stampedes Vault, asking each time for the TTL first granted,
//! until Vault grants less (the lease's max TTL is near) or refuses. Each renewal and each
//! end of renewal is an audit event; the counts are in `Leases::renewals`. The same tick
//! sweeps expired leases out of the registry, so it holds only live ones.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http::Method;
use serde_json::json;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::registry::{Due, Renewed};
use super::Leases;
use crate::audit::{AuditRecord, Auditor};
use crate::upstream::Upstream;

/// How vaultgate's renewals went, for `/metrics`.
#[derive(Debug, Default)]
pub struct RenewalStats {
    pub renewed: AtomicU64,
    /// Stopped because Vault granted less than asked (max TTL reached).
    pub capped: AtomicU64,
    /// Stopped because Vault refused (the lease or its token is gone).
    pub refused: AtomicU64,
    /// Vault could not be reached; tried again at the next tick until the lease expires.
    pub failed: AtomicU64,
}

/// How often the renewal task looks for due leases.
const TICK: Duration = Duration::from_secs(1);

/// The renewal task's parts.
#[derive(Debug)]
pub struct LeaseRenewal {
    leases: Arc<Leases>,
    upstream: Upstream,
    auditor: Auditor,
    tick: Duration,
}

impl LeaseRenewal {
    pub fn new(leases: Arc<Leases>, upstream: Upstream, auditor: Auditor) -> LeaseRenewal {
        LeaseRenewal {
            leases,
            upstream,
            auditor,
            tick: TICK,
        }
    }

    pub async fn run(self, stop: CancellationToken) {
        let mut tick = tokio::time::interval(self.tick);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = stop.cancelled() => return,
            }
            for due in self.leases.due(Instant::now()) {
                if stop.is_cancelled() {
                    return;
                }
                self.renew(due).await;
            }
        }
    }

    async fn renew(&self, due: Due) {
        let body = json!({
            "lease_id": due.id.expose(),
            "increment": due.increment.as_secs(),
        });
        let answer = self
            .upstream
            .call_json(
                Method::PUT,
                "/v1/sys/leases/renew",
                &due.namespace,
                Some(&due.token),
                Some(&body),
            )
            .await;
        let lease_hmac = self.auditor.hmac(due.id.expose());
        let event = |name: &str, detail: serde_json::Value| {
            let mut detail = detail;
            detail["service"] = json!(due.owner.to_string());
            detail["lease_hmac"] = json!(lease_hmac);
            self.auditor.event(AuditRecord::event(name, detail));
        };
        match answer {
            Ok((status, value)) if status.is_success() => {
                let ttl = Duration::from_secs(value["lease_duration"].as_u64().unwrap_or(0));
                match self
                    .leases
                    .renewed(due.id.expose(), ttl, Some(due.increment), Instant::now())
                {
                    Some(Renewed::Again) => {
                        self.leases.renewals.renewed.fetch_add(1, Ordering::Relaxed);
                        event("lease_renewal", json!({ "ttl_s": ttl.as_secs() }));
                    }
                    Some(Renewed::Capped) => {
                        self.leases.renewals.renewed.fetch_add(1, Ordering::Relaxed);
                        self.leases.renewals.capped.fetch_add(1, Ordering::Relaxed);
                        event(
                            "lease_renewal_stopped",
                            json!({ "why": "max_ttl", "ttl_s": ttl.as_secs() }),
                        );
                    }
                    // Revoked meanwhile: nothing left to renew.
                    None => {}
                }
            }
            Ok((status, _)) => {
                self.leases.stop_renewing(due.id.expose());
                self.leases.renewals.refused.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(service = %due.owner, status = status.as_u16(), "Vault refused a lease renewal; no longer renewing that lease");
                event(
                    "lease_renewal_stopped",
                    json!({ "why": "refused", "status": status.as_u16() }),
                );
            }
            Err(e) => {
                // The entry stays due: the next tick tries again, until the lease expires.
                self.leases.renewals.failed.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(service = %due.owner, error = %e, "lease renewal failed; trying again");
            }
        }
    }
}
