//! `App`: wires the modules together from a validated `Config`, spawns the long-lived tasks
//! and drives graceful shutdown. Tests start it in-process on port 0.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::admin::{AdminError, AdminListener, AdminState, Principal};
use crate::audit::{AuditError, AuditRecord, Auditor};
use crate::cache::ReadCache;
use crate::config::Config;
use crate::identity::Caller;
use crate::listener::{Listener, ListenerError};
use crate::metrics::Metrics;
use crate::policy::{PolicyError, PolicyStore};
use crate::proxy::Proxy;
use crate::startup::StartupSummary;
use crate::upstream::{Upstream, UpstreamError};
use crate::vault::renewer::{Control, Renewer, TokenCell};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("policies: {0}")]
    Policy(#[from] PolicyError),
    #[error(transparent)]
    Listener(#[from] ListenerError),
    #[error("vault: {0}")]
    Upstream(#[from] UpstreamError),
    #[error(transparent)]
    Audit(#[from] AuditError),
    #[error(transparent)]
    Admin(#[from] AdminError),
    #[error("task {0} stopped unexpectedly")]
    TaskExited(&'static str),
}

/// How long in-flight requests may take to finish once shutdown starts.
const DRAIN: Duration = Duration::from_secs(10);

/// A started vaultgate.
#[derive(Debug)]
pub struct App {
    auditor: Auditor,
    addresses: Vec<String>,
    admin_address: Option<String>,
    shutdown: CancellationToken,
    tasks: JoinSet<&'static str>,
    connections: TaskTracker,
    tokens: HashMap<Caller, TokenCell>,
    renewers: JoinSet<&'static str>,
    issuer_task: JoinSet<&'static str>,
    revoke_services: CancellationToken,
    revoke_issuer: CancellationToken,
    lockdown: Arc<watch::Sender<bool>>,
    cache: Arc<ReadCache>,
    summary: StartupSummary,
}

impl App {
    /// Loads policies, binds every listener and starts the token tasks. Fails before serving
    /// anything if a policy file, a certificate or an address is wrong.
    pub async fn start(config: Config) -> Result<App, AppError> {
        let callers = config.callers();
        let auditor = if config.audit.sinks.is_empty() {
            tracing::warn!("no [audit] sink configured: requests are not audited");
            Auditor::disabled()
        } else {
            Auditor::start(
                &config.audit.sinks,
                &config.audit.hmac_key_file,
                config.audit.fail_closed,
            )?
        };
        let policies = Arc::new(PolicyStore::load(&config.policies_dir, &callers)?);
        let policies_digest = policies.status().digest;
        tracing::info!(dir = %config.policies_dir.display(), digest = %policies_digest, "policies loaded");
        let upstream = Upstream::new(&config.vault)?;
        tracing::info!(address = %config.vault.describe(), ca_cert = ?config.vault.ca_cert, "vault client ready");
        let shutdown = CancellationToken::new();
        let mut tasks = JoinSet::new();
        let (nodes, stop) = (upstream.clone(), shutdown.clone());
        tasks.spawn(async move {
            nodes.watch_nodes(stop).await;
            "vault health"
        });
        let (store, stop, audit) = (policies.clone(), shutdown.clone(), auditor.clone());
        tasks.spawn(async move {
            store.watch(stop, audit).await;
            "policy reload"
        });

        // Services revoke their tokens first, after requests drained; the issuer (whose
        // revocation would take its child tokens along) goes last.
        let (lockdown, lockdown_rx) = watch::channel(false);
        let revoke_services = CancellationToken::new();
        let revoke_issuer = CancellationToken::new();
        let mut renewers = JoinSet::new();
        let mut issuer_task = JoinSet::new();
        let issuer = config.issuer.as_ref().map(|principal| {
            let (renewer, cell) = Renewer::new(
                principal.clone(),
                None,
                upstream.clone(),
                None,
                auditor.clone(),
            );
            let ctl = Control {
                stop: revoke_issuer.clone(),
                lockdown: lockdown_rx.clone(),
            };
            issuer_task.spawn(async move {
                renewer.run(ctl).await;
                "issuer renewer"
            });
            cell
        });
        let mut principals: Vec<Principal> = issuer
            .iter()
            .zip(&config.issuer)
            .map(|(cell, p)| Principal {
                name: "issuer".into(),
                cell: cell.clone(),
                namespace: p.namespace.clone(),
                service: false,
            })
            .collect();
        let mut cells = HashMap::new();
        for service in &config.services {
            let (renewer, cell) = Renewer::new(
                service.principal.clone(),
                Some(service.caller.clone()),
                upstream.clone(),
                issuer.clone(),
                auditor.clone(),
            );
            principals.push(Principal {
                name: service.caller.to_string(),
                cell: cell.clone(),
                namespace: service.principal.namespace.clone(),
                service: true,
            });
            cells.insert(service.caller.clone(), cell);
            let ctl = Control {
                stop: revoke_services.clone(),
                lockdown: lockdown_rx.clone(),
            };
            renewers.spawn(async move {
                renewer.run(ctl).await;
                "renewer"
            });
        }
        let tokens = cells.clone();
        let limits = Arc::new(config.limits.clone());
        let cache = Arc::new(ReadCache::new(config.cache.clone()));
        let (keeper, stop, watch, audit) = (
            cache.clone(),
            shutdown.clone(),
            lockdown_rx.clone(),
            auditor.clone(),
        );
        tasks.spawn(async move {
            keeper.upkeep(stop, watch, audit).await;
            "cache upkeep"
        });
        let mut metrics = Metrics::new(&callers);
        metrics.register_tokens(
            principals
                .iter()
                .map(|p| (p.name.clone(), p.cell.clone()))
                .collect(),
        );
        metrics.register_policies(policies.clone());
        metrics.register_audit(auditor.clone());
        metrics.register_vault_nodes(upstream.clone());
        let stats = cache.clone();
        metrics.register_cache(move || stats.stats());
        let metrics = Arc::new(metrics);
        let lockdown = Arc::new(lockdown);
        let proxy = Arc::new(
            Proxy::new(
                policies.clone(),
                cells,
                upstream.clone(),
                limits.clone(),
                lockdown_rx,
                auditor.clone(),
                cache.clone(),
            )
            .with_metrics(metrics.clone()),
        );
        let admin = match &config.admin {
            None => None,
            Some(admin_config) => {
                let state = AdminState {
                    metrics,
                    policies,
                    upstream: upstream.clone(),
                    principals,
                    lockdown: lockdown.clone(),
                    auditor: auditor.clone(),
                    cache: cache.clone(),
                };
                Some(AdminListener::bind(admin_config, state).await?)
            }
        };
        let admin_address = admin.as_ref().map(|a| a.local_addr().to_owned());
        if let Some(admin) = admin {
            tracing::info!(address = admin.local_addr(), "admin listener");
            let stop = shutdown.clone();
            tasks.spawn(async move {
                admin.run(stop).await;
                "admin listener"
            });
        }

        let mut listeners = Vec::new();
        for (i, l) in config.listeners.iter().enumerate() {
            listeners.push(Listener::bind(i, l.clone()).await?);
        }
        let addresses: Vec<String> = listeners
            .iter()
            .map(|l| l.local_addr().to_owned())
            .collect();
        let connections = TaskTracker::new();
        for l in listeners {
            tracing::info!(address = l.local_addr(), "listening");
            if let Some(tls) = l.tls() {
                let (stop, audit) = (shutdown.clone(), auditor.clone());
                tasks.spawn(async move {
                    tls.watch(stop, audit).await;
                    "tls reload"
                });
            }
            let (proxy, limits, stop, conns) = (
                proxy.clone(),
                limits.clone(),
                shutdown.clone(),
                connections.clone(),
            );
            tasks.spawn(async move {
                l.run(proxy, limits, stop, conns).await;
                "listener"
            });
        }
        let summary = StartupSummary::new(&config, &addresses, policies_digest.clone(), upstream);
        auditor.event(AuditRecord::event(
            "startup",
            json!({
                "config": config.file.display().to_string(),
                "policy_digest": policies_digest,
                "listeners": addresses.clone(),
                "admin": admin_address.clone(),
                "services": callers.iter().map(ToString::to_string).collect::<Vec<_>>(),
            }),
        ));
        Ok(App {
            auditor,
            addresses,
            admin_address,
            shutdown,
            tasks,
            connections,
            tokens,
            renewers,
            issuer_task,
            revoke_services,
            revoke_issuer,
            lockdown,
            cache,
            summary,
        })
    }

    /// Bound addresses, in configuration order (`ip:port` or `unix:<path>`).
    pub fn addresses(&self) -> &[String] {
        &self.addresses
    }

    /// What was loaded and bound, for the startup summary.
    pub fn summary(&self) -> &StartupSummary {
        &self.summary
    }

    /// The admin listener's address (`ip:port` or `unix:<path>`), when `[admin]` is set.
    pub fn admin_address(&self) -> Option<&str> {
        self.admin_address.as_deref()
    }

    /// A handle that starts shutdown when cancelled (signal handlers hold one).
    pub fn shutdown_handle(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Waits until every service holds a token, at most `limit`. Returns whether they do.
    pub async fn wait_ready(&self, limit: Duration) -> bool {
        let all = async {
            for cell in self.tokens.values() {
                let mut cell = cell.clone();
                if !cell.ready().await {
                    return false;
                }
            }
            true
        };
        tokio::time::timeout(limit, all).await.unwrap_or(false)
    }

    /// A service's token cell, for status and tests.
    pub fn token_cell(&self, caller: &Caller) -> Option<&TokenCell> {
        self.tokens.get(caller)
    }

    /// The read cache, for the admin API and tests.
    pub fn cache(&self) -> &Arc<ReadCache> {
        &self.cache
    }

    /// Incident response: `true` denies every request and revokes every held token at once;
    /// `false` logs every principal in afresh.
    pub fn lockdown_handle(&self) -> Arc<watch::Sender<bool>> {
        self.lockdown.clone()
    }

    /// Runs until shutdown is requested or a task dies, then drains connections.
    pub async fn run(mut self) -> Result<(), AppError> {
        let outcome = tokio::select! {
            biased;
            () = self.shutdown.cancelled() => Ok(()),
            exited = self.tasks.join_next() => Err(AppError::TaskExited(task_name(exited))),
            exited = self.renewers.join_next(), if !self.renewers.is_empty() => {
                Err(AppError::TaskExited(task_name(exited)))
            }
        };
        // A task that ends because shutdown began is not a failure.
        let outcome = if self.shutdown.is_cancelled() {
            Ok(())
        } else {
            outcome
        };
        self.stop().await;
        outcome
    }

    /// Stops accepting, lets in-flight requests finish (bounded), then ends every task.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        self.connections.close();
        if tokio::time::timeout(DRAIN, self.connections.wait())
            .await
            .is_err()
        {
            tracing::warn!("connections still open after {DRAIN:?}; closing them");
        }
        // Only now that no request can use them are the tokens revoked: services first,
        // then the issuer.
        self.revoke_services.cancel();
        drain_tasks(&mut self.renewers).await;
        self.revoke_issuer.cancel();
        drain_tasks(&mut self.issuer_task).await;
        drain_tasks(&mut self.tasks).await;
        self.auditor
            .event(AuditRecord::event("shutdown", json!({ "clean": true })));
        // The process exits after this: the writer thread and the network shipper get a
        // bounded time to deliver what was accepted.
        if !self.auditor.flush(DRAIN).await {
            tracing::error!("audit records not delivered to every sink before exit");
        }
    }
}

fn task_name(exited: Option<Result<&'static str, tokio::task::JoinError>>) -> &'static str {
    match exited {
        Some(Ok(name)) => name,
        Some(Err(_)) | None => "unknown",
    }
}

async fn drain_tasks(tasks: &mut JoinSet<&'static str>) {
    if tokio::time::timeout(DRAIN, async { while tasks.join_next().await.is_some() {} })
        .await
        .is_err()
    {
        tasks.abort_all();
    }
}
