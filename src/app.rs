//! `App`: wires the modules together from a validated `Config` into one `Shared`, spawns the
//! long-lived tasks and drives graceful shutdown. Tests start it in-process on port 0.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::admin::{AdminError, AdminListener};
use crate::audit::{AuditError, AuditRecord, Auditor};
use crate::budget::Budgets;
use crate::cache::ReadCache;
use crate::config::Config;
use crate::discovery::{Discovery, Viewer, REFRESH_EVERY};
use crate::identity::Caller;
use crate::lease::{self, Leases};
use crate::listener::{Listener, ListenerError};
use crate::metrics::Metrics;
use crate::policy::{PolicyError, PolicyStore};
use crate::principal::cell::TokenCell;
use crate::principal::renewer::Timing;
use crate::proxy::Proxy;
use crate::reload::{Control, Lockdown, ReloadError};
use crate::shared::Shared;
use crate::startup::StartupSummary;
use crate::upstream::{TlsError, Upstream, UpstreamError};

mod renewers;

use renewers::Renewers;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("policies: {0}")]
    Policy(#[from] PolicyError),
    #[error(transparent)]
    Listener(#[from] ListenerError),
    #[error("vault: {0}")]
    Upstream(#[from] UpstreamError),
    #[error("vault TLS: {0}")]
    UpstreamTls(#[from] TlsError),
    #[error(transparent)]
    Audit(#[from] AuditError),
    #[error(transparent)]
    Admin(#[from] AdminError),
    #[error(transparent)]
    Reload(#[from] ReloadError),
    #[error("task {0} stopped unexpectedly")]
    TaskExited(&'static str),
}

/// How long in-flight requests may take to finish once shutdown starts.
const DRAIN: Duration = Duration::from_secs(10);

/// What a deployment never changes but tests do: the renewers' clock, how often the
/// server's description is read, and whether the process's signals are handled.
#[derive(Debug, Clone, Copy)]
pub struct Tuning {
    pub renewer: Timing,
    pub discovery_every: Duration,
    /// Only `vaultgate run` takes over SIGHUP/SIGUSR1/SIGUSR2/SIGTERM/SIGINT.
    pub signals: bool,
}

impl Default for Tuning {
    fn default() -> Tuning {
        Tuning {
            renewer: Timing::default(),
            discovery_every: REFRESH_EVERY,
            signals: false,
        }
    }
}

/// A started vaultgate.
#[derive(Debug)]
pub struct App {
    shared: Arc<Shared>,
    addresses: Vec<String>,
    admin_address: Option<String>,
    shutdown: CancellationToken,
    tasks: JoinSet<&'static str>,
    connections: TaskTracker,
    renewers: Renewers,
    summary: StartupSummary,
}

impl App {
    /// Loads policies, binds every listener and starts the token tasks. Fails before serving
    /// anything if a policy file, a certificate or an address is wrong.
    pub async fn start(config: Config) -> Result<App, AppError> {
        App::start_with(config, Tuning::default()).await
    }

    pub async fn start_with(config: Config, tuning: Tuning) -> Result<App, AppError> {
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

        let control = Control::new(shutdown.clone());
        let (reloads, lockdown) = (control.reloads(), control.lockdown());
        let (nodes, stop) = (upstream.clone(), shutdown.clone());
        tasks.spawn(async move {
            nodes.watch_nodes(stop).await;
            "vault health"
        });
        tasks.spawn(async move {
            if let Err(e) = control.run(tuning.signals).await {
                tracing::error!(error = %e, "signal handling failed");
            }
            "control"
        });
        let (store, stop, notices, audit) = (
            policies.clone(),
            shutdown.clone(),
            reloads.clone(),
            auditor.clone(),
        );
        tasks.spawn(async move {
            store.watch(stop, notices, audit).await;
            "policy reload"
        });
        let (stop, mut notices, audit) = (shutdown.clone(), reloads.clone(), auditor.clone());
        tasks.spawn(async move {
            // The audit files are reopened on each reload notice (after logrotate moved them).
            loop {
                tokio::select! {
                    () = stop.cancelled() => break,
                    r = notices.changed() => if r.is_err() { break } else { audit.reopen() },
                }
            }
            "audit reopen"
        });

        let leases = Arc::new(Leases::new(lease::CAPACITY));
        let parts = (&upstream, &auditor, &lockdown, &leases);
        let (renewers, principals) = Renewers::start(&config, parts, tuning.renewer);

        let viewers = principals
            .iter()
            .map(|p| Viewer {
                namespace: p.namespace.clone(),
                cell: p.cell.clone(),
            })
            .collect();
        let discovery = Arc::new(Discovery::new(
            upstream.clone(),
            viewers,
            &config.vault.namespaces,
            tuning.discovery_every,
        ));
        let (reader, stop) = (discovery.clone(), shutdown.clone());
        tasks.spawn(async move {
            reader.run(stop).await;
            "discovery"
        });

        let limits = Arc::new(config.limits.clone());
        let cache = Arc::new(ReadCache::new(config.cache.clone()));
        let (keeper, stop, watch, audit) = (
            cache.clone(),
            shutdown.clone(),
            lockdown.subscribe(),
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
        metrics.register_leases(leases.clone());
        let stats = cache.clone();
        metrics.register_cache(move || stats.stats());

        let shared = Arc::new(Shared {
            policies,
            principals,
            upstream: upstream.clone(),
            auditor: auditor.clone(),
            cache,
            metrics: Arc::new(metrics),
            budgets: Arc::new(Budgets::new(callers.iter(), &limits)),
            discovery,
            leases,
            limits,
            lockdown,
            log_requests: config.log.requests,
        });
        let proxy = Arc::new(Proxy::new(&shared));

        let admin = match &config.admin {
            None => None,
            Some(admin_config) => Some(AdminListener::bind(admin_config, shared.clone()).await?),
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
                let (stop, notices, audit) = (shutdown.clone(), reloads.clone(), auditor.clone());
                tasks.spawn(async move {
                    tls.watch(stop, notices, audit).await;
                    "tls reload"
                });
            }
            let (proxy, budgets, limits, stop, conns) = (
                proxy.clone(),
                shared.budgets.clone(),
                shared.limits.clone(),
                shutdown.clone(),
                connections.clone(),
            );
            tasks.spawn(async move {
                l.run(proxy, budgets, limits, stop, conns).await;
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
            shared,
            addresses,
            admin_address,
            shutdown,
            tasks,
            connections,
            renewers,
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

    /// A handle that starts shutdown when cancelled.
    pub fn shutdown_handle(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// The long-lived parts, for tests and tools that look inside a running vaultgate.
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Waits until every service holds a token, at most `limit`. Returns whether they do.
    pub async fn wait_ready(&self, limit: Duration) -> bool {
        let all = async {
            for p in self
                .shared
                .principals
                .iter()
                .filter(|p| p.service.is_some())
            {
                let mut cell = p.cell.clone();
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
        self.shared
            .principals
            .iter()
            .find(|p| p.service.as_ref() == Some(caller))
            .map(|p| &p.cell)
    }

    /// Incident response: lockdown denies every request and revokes every held token at
    /// once; unlock logs every principal in afresh.
    pub fn lockdown_handle(&self) -> Lockdown {
        self.shared.lockdown.clone()
    }

    /// Runs until shutdown is requested or a task dies, then drains connections.
    pub async fn run(mut self) -> Result<(), AppError> {
        let outcome = tokio::select! {
            biased;
            () = self.shutdown.cancelled() => Ok(()),
            exited = self.tasks.join_next() => Err(AppError::TaskExited(task_name(exited))),
            exited = self.renewers.services.join_next(), if !self.renewers.services.is_empty() => {
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
        self.renewers.stop().await;
        drain_tasks(&mut self.tasks).await;
        let auditor = &self.shared.auditor;
        auditor.event(AuditRecord::event("shutdown", json!({ "clean": true })));
        // The process exits after this: the audit writer and the network shipper get a
        // bounded time to deliver what was accepted.
        if !auditor.flush(DRAIN).await {
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

pub(crate) async fn drain_tasks(tasks: &mut JoinSet<&'static str>) {
    if tokio::time::timeout(DRAIN, async { while tasks.join_next().await.is_some() {} })
        .await
        .is_err()
    {
        tasks.abort_all();
    }
}
