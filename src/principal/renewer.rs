//! `Renewer`: the one task that owns a principal's token. It logs in, renews at about two
//! thirds of the TTL, logs in again when the token can no longer be extended or is rejected,
//! backs off while Vault is away, revokes on shutdown and lockdown, and publishes the token
//! through its `TokenCell`. Vault is reached through `TokenApi`, and every timing is a
//! `Timing` parameter, so the logic runs on tokio's paused clock in unit tests.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::auth::{self, Login, TokenCheck};
use super::cell::{PrincipalStatus, Suspect, TokenCell};
use super::Role;
use crate::audit::{AuditRecord, Auditor};
use crate::config::{AuthConfig, PrincipalConfig};
use crate::identity::Caller;
use crate::lease::Leases;
use crate::upstream::Upstream;
use crate::vault::token::Token;

/// What the renewer obeys besides its own schedule.
#[derive(Debug, Clone)]
pub struct Lifecycle {
    /// Revoke (if configured) and stop; cancelled after in-flight requests have drained.
    pub stop: CancellationToken,
    /// `true`: revoke the token now and hold none until unlocked.
    pub lockdown: watch::Receiver<bool>,
}

/// The next change of the lockdown state; never, once its writer has stopped (at shutdown,
/// before the renewers are told to revoke and stop).
async fn lockdown_changed(lockdown: &mut watch::Receiver<bool>) {
    if lockdown.changed().await.is_err() {
        std::future::pending::<()>().await;
    }
}

#[derive(Debug)]
struct Held {
    token: Arc<Token>,
    /// TTL at login: when a renewal returns less, Vault capped it and renewing is over.
    login_ttl: Option<Duration>,
    obtained: Instant,
    expires: Option<Instant>,
    refresh_at: Option<Instant>,
    relogin: bool,
    file_stamp: Option<SystemTime>,
    /// Where renewals go when it is not the shared client (see `Login::renew_via`).
    renew_via: Option<Upstream>,
}

#[derive(Debug)]
pub struct Renewer<A: TokenApi = VaultTokens> {
    name: String,
    principal: PrincipalConfig,
    owner: Option<Caller>,
    api: A,
    issuer: Option<TokenCell>,
    cell: watch::Sender<Option<Arc<Token>>>,
    suspects: mpsc::Receiver<Suspect>,
    status: Arc<Mutex<PrincipalStatus>>,
    backoff: Duration,
    timing: Timing,
    auditor: Auditor,
    /// Leases relayed to the service, for how many a token takes along when it goes.
    leases: Arc<Leases>,
    /// Replaced tokens kept while leases minted under them live (`retired`).
    retired: Vec<Held>,
}

impl<A: TokenApi> Renewer<A> {
    pub fn new(
        principal: PrincipalConfig,
        role: Role,
        api: A,
        auditor: Auditor,
        timing: Timing,
        leases: Arc<Leases>,
    ) -> (Renewer<A>, TokenCell) {
        let (cell, rx) = watch::channel(None);
        let (tx, suspects) = mpsc::channel(1024);
        let status = Arc::new(Mutex::new(PrincipalStatus::default()));
        let (name, owner, issuer) = match role {
            Role::Issuer => ("issuer".to_owned(), None, None),
            Role::Service { caller, issuer } => (caller.to_string(), Some(caller), issuer),
        };
        let renewer = Renewer {
            name,
            principal,
            owner,
            api,
            issuer,
            cell,
            suspects,
            status: status.clone(),
            backoff: timing.first_backoff,
            timing,
            auditor,
            leases,
            retired: Vec::new(),
        };
        let cell = TokenCell {
            rx,
            suspects: tx,
            status,
        };
        (renewer, cell)
    }

    pub async fn run(mut self, mut ctl: Lifecycle) {
        let mut held: Option<Held> = None;
        let mut poll = tokio::time::interval(self.timing.token_file_poll);
        let mut retired_check = tokio::time::interval(self.timing.retired_check);
        let watches_file = matches!(
            self.principal.auth,
            AuthConfig::TokenFile { .. } | AuthConfig::Cert(_)
        );
        loop {
            if *ctl.lockdown.borrow_and_update() {
                if let Some(h) = held.take() {
                    self.revoke(&h, "lockdown").await;
                }
                self.revoke_retired("lockdown").await;
                self.cell.send_replace(None);
                tokio::select! {
                    () = lockdown_changed(&mut ctl.lockdown) => {}
                    () = ctl.stop.cancelled() => return,
                    Some(s) = self.suspects.recv() => { let _ = s.reply.send(None); }
                }
                continue;
            }
            let Some(h) = held.as_mut() else {
                match self.login().await {
                    Some(new) => {
                        self.cell.send_replace(Some(new.token.clone()));
                        held = Some(new);
                    }
                    None => {
                        let wait = self.next_backoff();
                        tokio::select! {
                            () = tokio::time::sleep(wait) => {}
                            () = ctl.stop.cancelled() => return,
                            () = lockdown_changed(&mut ctl.lockdown) => {}
                            Some(s) = self.suspects.recv() => { let _ = s.reply.send(None); }
                        }
                    }
                }
                continue;
            };
            let refresh_at = h.refresh_at;
            tokio::select! {
                () = sleep_until(refresh_at) => self.refresh(&mut held).await,
                Some(s) = self.suspects.recv() => self.suspect(s, &mut held).await,
                _ = poll.tick(), if watches_file => {
                    let stamp = self.file_stamp();
                    if h.file_stamp != stamp {
                        if let AuthConfig::Cert(_) = self.principal.auth {
                            // Log in with the new certificate, then revoke the old token;
                            // should that login fail, the old token serves until it expires.
                            tracing::info!(principal = %self.name, "client certificate changed; logging in again");
                            h.file_stamp = stamp;
                            h.relogin = true;
                            h.refresh_at = Some(Instant::now());
                        } else {
                            tracing::info!(principal = %self.name, "token file changed; re-reading");
                            held = None;
                        }
                    }
                }
                _ = retired_check.tick(), if !self.retired.is_empty() => self.check_retired().await,
                () = lockdown_changed(&mut ctl.lockdown) => {}
                () = ctl.stop.cancelled() => {
                    if let Some(h) = held.take() {
                        if self.principal.revoke_on_shutdown {
                            self.revoke(&h, "shutdown").await;
                        }
                    }
                    if self.principal.revoke_on_shutdown {
                        self.revoke_retired("shutdown").await;
                    }
                    self.cell.send_replace(None);
                    return;
                }
            }
        }
    }

    /// A token lifecycle event in the audit stream; the token appears only as its HMAC.
    fn audit(&self, name: &str, token: Option<&Token>, detail: serde_json::Value) {
        let mut detail = detail;
        detail["principal"] = serde_json::json!(self.name);
        if let Some(t) = token {
            detail["token_hmac"] = serde_json::json!(self.auditor.hmac(t.expose()));
        }
        self.auditor.event(AuditRecord::event(name, detail));
    }

    fn update(&self, f: impl FnOnce(&mut PrincipalStatus)) {
        if let Ok(mut s) = self.status.lock() {
            f(&mut s);
        }
    }

    fn next_backoff(&mut self) -> Duration {
        let wait = jittered(self.backoff);
        self.backoff = (self.backoff * 2).min(self.timing.max_backoff);
        wait
    }

    fn file_stamp(&self) -> Option<SystemTime> {
        match &self.principal.auth {
            AuthConfig::TokenFile { path } => {
                std::fs::metadata(path).and_then(|m| m.modified()).ok()
            }
            AuthConfig::Cert(cert) => [&cert.client_cert, &cert.client_key]
                .iter()
                .filter_map(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
                .max(),
            _ => None,
        }
    }

    /// One login attempt; failures are counted and logged, never with a secret.
    async fn login(&mut self) -> Option<Held> {
        let issuer = self.issuer.as_ref().and_then(TokenCell::current);
        let stamp = self.file_stamp();
        let result = self
            .api
            .login(
                &self.principal.auth,
                &self.principal.namespace,
                issuer.as_deref(),
                self.owner.as_ref(),
            )
            .await;
        match result {
            Ok(Login {
                token,
                ttl,
                renewable,
                from_file,
                renew_via,
            }) => {
                self.backoff = self.timing.first_backoff;
                let now = Instant::now();
                let refresh_at = ttl.map(|t| now + refresh_after(t));
                self.update(|s| {
                    s.logins += 1;
                    s.consecutive_failures = 0;
                    s.ttl = ttl;
                    s.last_refresh = Some(SystemTime::now());
                    s.next_refresh_in = refresh_at.map(|r| r - now);
                });
                auth::log_login(&self.name, ttl, renewable, from_file.as_ref());
                self.audit(
                    "login",
                    Some(&token),
                    serde_json::json!({ "ttl_s": ttl.map(|t| t.as_secs()) }),
                );
                Some(Held {
                    token: Arc::new(token),
                    login_ttl: ttl,
                    obtained: now,
                    expires: ttl.map(|t| now + t),
                    refresh_at,
                    relogin: !renewable,
                    file_stamp: stamp,
                    renew_via,
                })
            }
            Err(e) => {
                self.update(|s| {
                    s.failures += 1;
                    s.consecutive_failures += 1;
                    s.last_error = Some(format!("login: {e}"));
                });
                tracing::warn!(principal = %self.name, error = %e, "login failed");
                self.audit(
                    "login_failure",
                    None,
                    serde_json::json!({ "error": e.to_string() }),
                );
                None
            }
        }
    }

    /// Renews, or logs in again when renewing cannot extend the token any more.
    async fn refresh(&mut self, held: &mut Option<Held>) {
        let Some(h) = held.as_mut() else { return };
        if h.relogin {
            if let Some(new) = self.login().await {
                let old = std::mem::replace(h, new);
                self.cell.send_replace(Some(h.token.clone()));
                // Revoked now, unless leases minted under it still live.
                self.replaced(old).await;
            } else {
                self.retry_or_drop(held);
            }
            return;
        }
        match self
            .api
            .renew(h.renew_via.as_ref(), &self.principal.namespace, &h.token)
            .await
        {
            Ok(TokenCheck::Valid { ttl, .. }) => {
                let now = Instant::now();
                self.backoff = self.timing.first_backoff;
                // A renewal that returns less than the login TTL was capped by the token's
                // max TTL: the next step is a fresh login before it runs out.
                h.relogin = match (ttl, h.login_ttl) {
                    (Some(t), Some(l)) => t < l,
                    (None, _) => true,
                    _ => false,
                };
                h.expires = ttl.map(|t| now + t);
                h.refresh_at = ttl.map(|t| now + refresh_after(t));
                let next = h.refresh_at.map(|r| r - now);
                self.update(|s| {
                    s.renewals += 1;
                    s.consecutive_failures = 0;
                    s.ttl = ttl;
                    s.last_refresh = Some(SystemTime::now());
                    s.next_refresh_in = next;
                });
                tracing::info!(principal = %self.name, ?ttl, next_in = ?next, relogin_next = h.relogin, "token renewed");
                self.audit(
                    "renewal",
                    Some(&h.token),
                    serde_json::json!({ "ttl_s": ttl.map(|t| t.as_secs()) }),
                );
            }
            Ok(TokenCheck::Rejected { status, errors }) => {
                tracing::warn!(principal = %self.name, status, %errors, "renewal refused; logging in again");
                h.relogin = true;
                h.refresh_at = Some(Instant::now());
            }
            Err(e) => {
                self.update(|s| {
                    s.failures += 1;
                    s.consecutive_failures += 1;
                    s.last_error = Some(format!("renewal: {e}"));
                });
                tracing::warn!(principal = %self.name, error = %e, "renewal failed; keeping the token while it is valid");
                self.audit(
                    "renewal_failure",
                    Some(&h.token),
                    serde_json::json!({ "error": e.to_string() }),
                );
                self.retry_or_drop(held);
            }
        }
    }

    /// After a failure: retry later, but never past expiry; an expired token is dropped.
    fn retry_or_drop(&mut self, held: &mut Option<Held>) {
        let wait = self.next_backoff();
        let now = Instant::now();
        if let Some(h) = held.as_mut() {
            match h.expires {
                Some(exp) if exp <= now => {
                    tracing::warn!(principal = %self.name, "token expired");
                    *held = None;
                    self.cell.send_replace(None);
                }
                Some(exp) => h.refresh_at = Some((now + wait).min(exp)),
                None => h.refresh_at = Some(now + wait),
            }
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

mod api;
mod retired;
mod timing;
mod verdicts;

pub use api::{TokenApi, VaultTokens};
pub use timing::Timing;
use timing::{jittered, refresh_after};

#[cfg(test)]
mod tests;
