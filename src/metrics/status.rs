//! Collectors that read other owners' state at each scrape: token cells, the policy store,
//! the auditor, the read cache and the Vault cluster's nodes. Nothing here keeps a copy.

use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

use crate::audit::Auditor;
use crate::policy::PolicyStore;
use crate::principal::cell::{PrincipalStatus, TokenCell};
use crate::upstream::{NodeState, Upstream};

type Fmt = Result<(), std::fmt::Error>;

/// A counter or gauge with one sample per `(label value, number)`.
fn family<M: EncodeMetric>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    label: &'static str,
    samples: impl IntoIterator<Item = (String, M)>,
) -> Fmt {
    let mut samples = samples.into_iter().peekable();
    let Some((_, first)) = samples.peek() else {
        return Ok(());
    };
    let kind = first.metric_type();
    let mut metric = encoder.encode_descriptor(name, help, None, kind)?;
    for (value, m) in samples {
        let labels = [(label, value)];
        m.encode(metric.encode_family(&labels)?)?;
    }
    Ok(())
}

fn single<M: EncodeMetric>(encoder: &mut DescriptorEncoder, name: &str, help: &str, m: M) -> Fmt {
    m.encode(encoder.encode_descriptor(name, help, None, m.metric_type())?)
}

#[derive(Debug)]
pub(super) struct Tokens {
    pub cells: Vec<(String, TokenCell)>,
}

impl Collector for Tokens {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Fmt {
        let all: Vec<(String, PrincipalStatus, bool)> = self
            .cells
            .iter()
            .map(|(name, cell)| (name.clone(), cell.status(), cell.current().is_some()))
            .collect();
        let each = |f: fn(&PrincipalStatus) -> u64| {
            all.iter()
                .map(move |(n, s, _)| (n.clone(), ConstCounter::new(f(s))))
        };
        family(
            &mut encoder,
            "token_held",
            "1 when the principal holds a token, 0 when it has none (login failing, lockdown)",
            "principal",
            all.iter()
                .map(|(n, _, held)| (n.clone(), ConstGauge::new(i64::from(*held)))),
        )?;
        family(
            &mut encoder,
            "token_ttl_remaining_seconds",
            "TTL left on the principal's token, from Vault's last report (absent for token files)",
            "principal",
            all.iter().filter_map(|(n, s, held)| {
                let left = s.ttl_remaining().filter(|_| *held)?;
                Some((n.clone(), ConstGauge::new(left.as_secs_f64())))
            }),
        )?;
        family(
            &mut encoder,
            "token_logins",
            "Successful logins",
            "principal",
            each(|s| s.logins),
        )?;
        family(
            &mut encoder,
            "token_renewals",
            "Successful renewals",
            "principal",
            each(|s| s.renewals),
        )?;
        family(
            &mut encoder,
            "token_refresh_failures",
            "Failed logins and renewals",
            "principal",
            each(|s| s.failures),
        )
    }
}

#[derive(Debug)]
pub(super) struct Policies {
    pub store: Arc<PolicyStore>,
}

impl Collector for Policies {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Fmt {
        let s = self.store.status();
        family(
            &mut encoder,
            "policy_reloads",
            "Policy reloads after startup, by result (a rejected reload keeps the last good set)",
            "result",
            [
                ("accepted".to_owned(), ConstCounter::new(s.accepted)),
                ("rejected".to_owned(), ConstCounter::new(s.rejected)),
            ],
        )?;
        single(
            &mut encoder,
            "policy_reload_failing",
            "1 when the last reload was rejected and an older policy set is in force",
            ConstGauge::new(i64::from(s.last_error.is_some())),
        )
    }
}

#[derive(Debug)]
pub(super) struct Audit {
    pub auditor: Auditor,
}

impl Collector for Audit {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Fmt {
        let (depth, failures) = self.auditor.stats();
        single(
            &mut encoder,
            "audit_queue_depth",
            "Audit records waiting for the writer",
            ConstGauge::new(depth as u64),
        )?;
        single(
            &mut encoder,
            "audit_failures",
            "Audit records and events that no sink accepted in time or the full queue refused",
            ConstCounter::new(failures),
        )
    }
}

pub use crate::cache::CacheStats;

pub(super) struct Cache {
    pub stats: Box<dyn Fn() -> CacheStats + Send + Sync>,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Cache")
    }
}

impl Collector for Cache {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Fmt {
        let s = (self.stats)();
        let counters = [
            ("cache_hits", "Reads answered from the cache", s.hits),
            (
                "cache_misses",
                "Cacheable reads forwarded to Vault",
                s.misses,
            ),
            (
                "cache_stale",
                "Reads answered stale while Vault was unreachable",
                s.stale,
            ),
            (
                "cache_evictions",
                "Entries evicted for the byte budget",
                s.evictions,
            ),
        ];
        for (name, help, v) in counters {
            single(&mut encoder, name, help, ConstCounter::new(v))?;
        }
        single(
            &mut encoder,
            "cache_bytes",
            "Bytes of response bodies held",
            ConstGauge::new(s.bytes),
        )?;
        single(
            &mut encoder,
            "cache_entries",
            "Entries held",
            ConstGauge::new(s.entries),
        )
    }
}

#[derive(Debug)]
pub(super) struct VaultNodes {
    pub upstream: Upstream,
}

impl Collector for VaultNodes {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Fmt {
        // One node configured with `address`: vaultgate does not track its state.
        let Some(snapshot) = self.upstream.nodes() else {
            return Ok(());
        };
        let gauge = ConstGauge::new(0_i64);
        let mut metric = encoder.encode_descriptor(
            "vault_node_state",
            "Each configured Vault node's state from its sys/health: 1 for the state it is in, \
             0 for the others (active is where requests go)",
            None,
            gauge.metric_type(),
        )?;
        for node in &snapshot.nodes {
            for state in NodeState::LABELS {
                let labels = [
                    ("node", node.address.to_string()),
                    ("state", state.to_owned()),
                ];
                let on = i64::from(node.state.as_str() == state);
                ConstGauge::new(on).encode(metric.encode_family(&labels)?)?;
            }
        }
        single(
            &mut encoder,
            "vault_active_changes",
            "Times the active Vault node changed to another node (failovers seen)",
            ConstCounter::new(snapshot.active_changes),
        )
    }
}

#[derive(Debug)]
pub(super) struct Leases {
    pub leases: Arc<crate::lease::Leases>,
}

impl Collector for Leases {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Fmt {
        use std::sync::atomic::Ordering::Relaxed;
        let r = &self.leases.renewals;
        single(
            &mut encoder,
            "leases_tracked",
            "Leases relayed to services and tracked for ownership (expired ones until swept)",
            ConstGauge::new(self.leases.len() as i64),
        )?;
        let gauge = ConstCounter::new(0_u64);
        let mut metric = encoder.encode_descriptor(
            "lease_renewals",
            "vaultgate's own lease renewals (renew_leases) by result: renewed; capped (max TTL \
             reached, renewal stops); refused (Vault refused, renewal stops); failed (Vault \
             unreachable, tried again)",
            None,
            gauge.metric_type(),
        )?;
        for (result, n) in [
            ("renewed", &r.renewed),
            ("capped", &r.capped),
            ("refused", &r.refused),
            ("failed", &r.failed),
        ] {
            let labels = [("result", result)];
            ConstCounter::new(n.load(Relaxed)).encode(metric.encode_family(&labels)?)?;
        }
        Ok(())
    }
}
