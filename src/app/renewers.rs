//! The renewer tasks of every principal: the issuer's first (services' child tokens need
//! it), then one per service, and the lease renewal task (which also sweeps expired leases);
//! stopped in the reverse order, so that services revoke their tokens before the issuer,
//! whose revocation would take its child tokens along.

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::drain_tasks;
use std::sync::Arc;

use crate::audit::Auditor;
use crate::config::{Config, PrincipalConfig};
use crate::lease::renewal::LeaseRenewal;
use crate::lease::Leases;
use crate::principal::cell::TokenCell;
use crate::principal::renewer::{Lifecycle, Renewer, Timing, VaultTokens};
use crate::principal::{Principal, Role};
use crate::reload::Lockdown;
use crate::upstream::Upstream;

/// The renewer tasks, in the order shutdown revokes them: services first, then the issuer
/// (whose revocation would take its child tokens along).
#[derive(Debug)]
pub(super) struct Renewers {
    pub(super) services: JoinSet<&'static str>,
    issuer: JoinSet<&'static str>,
    stop_services: CancellationToken,
    stop_issuer: CancellationToken,
}

impl Renewers {
    /// Spawns the issuer's renewer (if any) and each service's; returns the tasks and the
    /// principals they publish tokens for, the issuer first.
    pub(super) fn start(
        config: &Config,
        parts: (&Upstream, &Auditor, &Lockdown, &Arc<Leases>),
        timing: Timing,
    ) -> (Renewers, Vec<Principal>) {
        let mut renewers = Renewers {
            services: JoinSet::new(),
            issuer: JoinSet::new(),
            stop_services: CancellationToken::new(),
            stop_issuer: CancellationToken::new(),
        };
        let mut principals = Vec::new();
        let issuer = config.issuer.as_ref().map(|p| {
            let cell = renewers.spawn(p, Role::Issuer, parts, timing);
            principals.push(Principal {
                name: "issuer".into(),
                cell: cell.clone(),
                namespace: p.namespace.clone(),
                service: None,
                renew_leases: false,
            });
            cell
        });
        for service in &config.services {
            let role = Role::Service {
                caller: service.caller.clone(),
                issuer: issuer.clone(),
            };
            let cell = renewers.spawn(&service.principal, role, parts, timing);
            principals.push(Principal {
                name: service.caller.to_string(),
                cell,
                namespace: service.principal.namespace.clone(),
                service: Some(service.caller.clone()),
                renew_leases: service.principal.renew_leases,
            });
        }
        // Always: besides renewing for `renew_leases` services, it sweeps expired leases.
        let (upstream, auditor, _, leases) = parts;
        let renewal = LeaseRenewal::new(leases.clone(), upstream.clone(), auditor.clone());
        let stop = renewers.stop_services.clone();
        renewers.services.spawn(async move {
            renewal.run(stop).await;
            "lease renewal"
        });
        (renewers, principals)
    }

    /// Revokes and stops: services first, then the issuer.
    pub(super) async fn stop(&mut self) {
        self.stop_services.cancel();
        drain_tasks(&mut self.services).await;
        self.stop_issuer.cancel();
        drain_tasks(&mut self.issuer).await;
    }

    fn spawn(
        &mut self,
        principal: &PrincipalConfig,
        role: Role,
        shared: (&Upstream, &Auditor, &Lockdown, &Arc<Leases>),
        timing: Timing,
    ) -> TokenCell {
        let (upstream, auditor, lockdown, leases) = shared;
        let issuer = matches!(role, Role::Issuer);
        let (renewer, cell) = Renewer::new(
            principal.clone(),
            role,
            VaultTokens(upstream.clone()),
            auditor.clone(),
            timing,
            leases.clone(),
        );
        let (set, stop, name) = if issuer {
            (&mut self.issuer, &self.stop_issuer, "issuer renewer")
        } else {
            (&mut self.services, &self.stop_services, "renewer")
        };
        let ctl = Lifecycle {
            stop: stop.clone(),
            lockdown: lockdown.subscribe(),
        };
        set.spawn(async move {
            renewer.run(ctl).await;
            name
        });
        cell
    }
}
