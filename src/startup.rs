//! What `vaultgate run` says when it has started: its listeners, each service and how it logs
//! in, the policy set's digest, and Vault's address and version (from `sys/health`; for a
//! cluster, the active node's, and each node's state). Only names, paths and digests: never
//! a token, a secret id or a secret value.

use std::path::PathBuf;
use std::time::Duration;

use http::Method;

use crate::config::{AuthConfig, Bind, Config, ListenerConfig, ListenerIdentity};
use crate::identity::Caller;
use crate::upstream::Upstream;

/// How long the startup summary waits for Vault's `sys/health`; vaultgate serves meanwhile.
const HEALTH_WAIT: Duration = Duration::from_secs(5);

/// The facts of one start, gathered by `App::start`.
#[derive(Debug, Clone)]
pub struct StartupSummary {
    /// One readable description per listener, in configuration order.
    pub listeners: Vec<String>,
    /// Each service and its auth method (`approle`, `token_file`, `jwt`, `issued`).
    pub services: Vec<(Caller, &'static str)>,
    pub policies_dir: PathBuf,
    pub policy_digest: String,
    pub vault_address: String,
    upstream: Upstream,
}

/// What `sys/health` said, or why it could not be asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VaultStatus {
    Answered {
        version: String,
        initialized: bool,
        sealed: bool,
        standby: bool,
    },
    Unreachable(String),
}

impl StartupSummary {
    /// `addresses` are the bound addresses (real ports), in configuration order.
    pub fn new(
        config: &Config,
        addresses: &[String],
        policy_digest: String,
        upstream: Upstream,
    ) -> StartupSummary {
        let listeners = config
            .listeners
            .iter()
            .zip(addresses)
            .map(|(l, bound)| describe_listener(l, bound))
            .collect();
        let services = config
            .services
            .iter()
            .map(|s| (s.caller.clone(), auth_kind(&s.principal.auth)))
            .collect();
        StartupSummary {
            listeners,
            services,
            policies_dir: config.policies_dir.clone(),
            policy_digest,
            vault_address: config.vault.describe(),
            upstream,
        }
    }

    /// Asks Vault's unauthenticated `sys/health` (any status code carries the JSON body:
    /// 429 standby, 503 sealed, ...), bounded so a silent Vault does not delay the summary.
    pub async fn probe_vault(&self) -> VaultStatus {
        let call = self
            .upstream
            .call_json(Method::GET, "/v1/sys/health", "", None, None);
        match tokio::time::timeout(HEALTH_WAIT, call).await {
            Err(_) => VaultStatus::Unreachable(format!("no answer within {HEALTH_WAIT:?}")),
            Ok(Err(e)) => VaultStatus::Unreachable(e.to_string()),
            Ok(Ok((_, body))) => VaultStatus::Answered {
                version: body["version"].as_str().unwrap_or("unknown").to_owned(),
                initialized: body["initialized"].as_bool().unwrap_or(false),
                sealed: body["sealed"].as_bool().unwrap_or(true),
                standby: body["standby"].as_bool().unwrap_or(false),
            },
        }
    }

    /// Writes the summary, one log line per fact with everything in the message, so it reads
    /// the same in both log formats.
    pub fn log(&self, vault: &VaultStatus) {
        for listener in &self.listeners {
            tracing::info!(target: "vaultgate::summary", "listener {listener}");
        }
        for (caller, auth) in &self.services {
            tracing::info!(target: "vaultgate::summary", "service {caller}: auth {auth}");
        }
        tracing::info!(
            target: "vaultgate::summary",
            "policy set digest {} (from {})",
            self.policy_digest,
            self.policies_dir.display()
        );
        match vault {
            VaultStatus::Answered {
                version,
                initialized,
                sealed,
                standby,
            } => tracing::info!(
                target: "vaultgate::summary",
                "vault {} version {version} (initialized {initialized}, sealed {sealed}, standby {standby})",
                self.vault_address
            ),
            VaultStatus::Unreachable(why) => tracing::warn!(
                target: "vaultgate::summary",
                "vault {} unreachable at start ({why}); logins retry with backoff",
                self.vault_address
            ),
        }
        // A cluster: each node as the health task saw it (the probe above waited for it).
        for node in self.upstream.nodes().iter().flat_map(|s| s.nodes.clone()) {
            tracing::info!(
                target: "vaultgate::summary",
                "vault node {} {}",
                node.address,
                node.state.as_str()
            );
        }
    }
}

/// The auth method's name as written in the configuration.
pub fn auth_kind(auth: &AuthConfig) -> &'static str {
    match auth {
        AuthConfig::AppRole { .. } => "approle",
        AuthConfig::TokenFile { .. } => "token_file",
        AuthConfig::Jwt { .. } => "jwt",
        AuthConfig::Aws(_) => "aws",
        AuthConfig::Cert(_) => "cert",
        AuthConfig::Issued(_) => "issued",
    }
}

fn describe_listener(l: &ListenerConfig, bound: &str) -> String {
    let scheme = if l.tls.is_some() { "https" } else { "http" };
    let place = match &l.bind {
        Bind::Tcp(_) => format!("{scheme}://{bound}"),
        Bind::Unix { .. } => format!("{bound} ({scheme})"),
    };
    let tls = l
        .tls
        .as_ref()
        .map(|t| format!(", certificate {}", t.cert.display()))
        .unwrap_or_default();
    match &l.identity {
        ListenerIdentity::ClientCertificate {
            client_ca,
            trust_domain,
        } => format!(
            "{place}: callers from client certificates signed by {}{}{tls}",
            client_ca.display(),
            trust_domain
                .as_deref()
                .map(|d| format!(" in trust domain {d}"))
                .unwrap_or_default()
        ),
        ListenerIdentity::Fixed(caller) => format!("{place}: every connection is {caller}{tls}"),
    }
}
