//! `Renewer`: the one task that owns a principal's token. It logs in, renews at about two
//! thirds of the TTL, logs in again when the token can no longer be extended or is rejected,
//! backs off while Vault is away, revokes on shutdown and lockdown, and publishes the token
//! through a `TokenCell` that the proxy reads once per request.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::audit::{AuditRecord, Auditor};
use crate::config::{AuthConfig, PrincipalConfig};
use crate::identity::Caller;
use crate::upstream::Upstream;
use crate::vault::auth::{self, Login, TokenCall, TokenCheck};
use crate::vault::token::Token;

/// What a principal's token has been doing: for logs now, readiness and metrics later.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PrincipalStatus {
    pub logins: u64,
    pub renewals: u64,
    pub revocations: u64,
    /// Failed logins and renewals, in total and since the last success.
    pub failures: u64,
    pub consecutive_failures: u32,
    /// The most recent failed login or renewal (kept after later successes), never a secret.
    pub last_error: Option<String>,
    /// The TTL Vault last reported, and when the next renewal or re-login is due.
    pub ttl: Option<Duration>,
    pub last_refresh: Option<SystemTime>,
    pub next_refresh_in: Option<Duration>,
}

impl PrincipalStatus {
    /// What is left of the TTL Vault last reported, counted from that report.
    pub fn ttl_remaining(&self) -> Option<Duration> {
        let since = self.last_refresh?.elapsed().unwrap_or_default();
        Some(self.ttl?.saturating_sub(since))
    }
}

/// A request's report that Vault refused the token it carried.
#[derive(Debug)]
struct Suspect {
    stale: Arc<Token>,
    reply: oneshot::Sender<Option<Arc<Token>>>,
}

/// Read side of a principal's token: cheap to clone, read once per request.
#[derive(Debug, Clone)]
pub struct TokenCell {
    rx: watch::Receiver<Option<Arc<Token>>>,
    suspects: mpsc::Sender<Suspect>,
    status: Arc<Mutex<PrincipalStatus>>,
}

impl TokenCell {
    pub fn current(&self) -> Option<Arc<Token>> {
        self.rx.borrow().clone()
    }

    /// Waits until a token is present (used by readiness and tests).
    pub async fn ready(&mut self) -> bool {
        self.rx.wait_for(|t| t.is_some()).await.is_ok()
    }

    pub fn status(&self) -> PrincipalStatus {
        self.status.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Vault answered 403 to a request carrying `stale`. Returns a replacement if the token
    /// turned out to be invalid and a new login succeeded. Concurrent reports of the same
    /// token share one check and one login.
    pub async fn rejected(&self, stale: &Arc<Token>) -> Option<Arc<Token>> {
        let (reply, answer) = oneshot::channel();
        let suspect = Suspect {
            stale: Arc::clone(stale),
            reply,
        };
        self.suspects.send(suspect).await.ok()?;
        answer.await.ok().flatten()
    }
}

/// What the renewer obeys besides its own schedule.
#[derive(Debug, Clone)]
pub struct Control {
    /// Revoke (if configured) and stop; cancelled after in-flight requests have drained.
    pub stop: CancellationToken,
    /// `true`: revoke the token now and hold none until unlocked.
    pub lockdown: watch::Receiver<bool>,
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

const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// A token this young is not re-checked when a request is refused: Vault's 403 is then a
/// policy denial, and re-logging in on every denial would flood Vault with logins.
const FRESH: Duration = Duration::from_secs(2);
const TOKEN_FILE_POLL: Duration = Duration::from_secs(1);

#[derive(Debug)]
pub struct Renewer {
    name: String,
    principal: PrincipalConfig,
    owner: Option<Caller>,
    upstream: Upstream,
    issuer: Option<TokenCell>,
    cell: watch::Sender<Option<Arc<Token>>>,
    suspects: mpsc::Receiver<Suspect>,
    status: Arc<Mutex<PrincipalStatus>>,
    backoff: Duration,
    auditor: Auditor,
}

impl Renewer {
    /// `owner` is the service this principal serves (None for the issuer); `issuer` is the
    /// issuer's cell for `auth = "issued"` principals.
    pub fn new(
        principal: PrincipalConfig,
        owner: Option<Caller>,
        upstream: Upstream,
        issuer: Option<TokenCell>,
        auditor: Auditor,
    ) -> (Renewer, TokenCell) {
        let (cell, rx) = watch::channel(None);
        let (tx, suspects) = mpsc::channel(1024);
        let status = Arc::new(Mutex::new(PrincipalStatus::default()));
        let name = owner
            .as_ref()
            .map_or("issuer".to_owned(), Caller::to_string);
        let renewer = Renewer {
            name,
            principal,
            owner,
            upstream,
            issuer,
            cell,
            suspects,
            status: status.clone(),
            backoff: FIRST_BACKOFF,
            auditor,
        };
        let cell = TokenCell {
            rx,
            suspects: tx,
            status,
        };
        (renewer, cell)
    }

    pub async fn run(mut self, mut ctl: Control) {
        let mut held: Option<Held> = None;
        let mut poll = tokio::time::interval(TOKEN_FILE_POLL);
        let watches_file = matches!(
            self.principal.auth,
            AuthConfig::TokenFile { .. } | AuthConfig::Cert(_)
        );
        loop {
            if *ctl.lockdown.borrow_and_update() {
                if let Some(h) = held.take() {
                    self.revoke(&h, "lockdown").await;
                }
                self.cell.send_replace(None);
                tokio::select! {
                    r = ctl.lockdown.changed() => if r.is_err() { return },
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
                            _ = ctl.lockdown.changed() => {}
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
                r = ctl.lockdown.changed() => if r.is_err() { return },
                () = ctl.stop.cancelled() => {
                    if let Some(h) = held.take() {
                        if self.principal.revoke_on_shutdown {
                            self.revoke(&h, "shutdown").await;
                        }
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
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
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
        let result = auth::login(
            &self.principal.auth,
            &self.principal.namespace,
            &self.upstream,
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
                ..
            }) => {
                self.backoff = FIRST_BACKOFF;
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
                // The replaced token is no longer needed: revoke it rather than let it live.
                self.revoke(&old, "replaced").await;
            } else {
                self.retry_or_drop(held);
            }
            return;
        }
        let via = h.renew_via.as_ref().unwrap_or(&self.upstream);
        match auth::token_call(via, &self.principal.namespace, &h.token, TokenCall::Renew).await {
            Ok(TokenCheck::Valid { ttl }) => {
                let now = Instant::now();
                self.backoff = FIRST_BACKOFF;
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

    async fn suspect(&mut self, first: Suspect, held: &mut Option<Held>) {
        let replacement = match held.as_ref() {
            None => None,
            Some(h) if !Arc::ptr_eq(&h.token, &first.stale) => Some(h.token.clone()),
            Some(h) if h.obtained.elapsed() < FRESH => None,
            Some(h) => {
                match auth::token_call(
                    &self.upstream,
                    &self.principal.namespace,
                    &h.token,
                    TokenCall::Lookup,
                )
                .await
                {
                    Ok(TokenCheck::Rejected { .. }) => {
                        tracing::warn!(principal = %self.name, "Vault rejected the token; logging in again");
                        match self.login().await {
                            Some(new) => {
                                let token = new.token.clone();
                                *held = Some(new);
                                self.cell.send_replace(Some(token.clone()));
                                Some(token)
                            }
                            None => {
                                *held = None;
                                self.cell.send_replace(None);
                                None
                            }
                        }
                    }
                    _ => None,
                }
            }
        };
        let stale = first.stale.clone();
        let _ = first.reply.send(replacement.clone());
        // Everyone who reported the same token meanwhile shares this outcome.
        while let Ok(s) = self.suspects.try_recv() {
            let answer = if Arc::ptr_eq(&s.stale, &stale) {
                replacement.clone()
            } else {
                held.as_ref().map(|h| h.token.clone())
            };
            let _ = s.reply.send(answer);
        }
    }

    async fn revoke(&self, h: &Held, why: &'static str) {
        let ns = &self.principal.namespace;
        let mut result = auth::token_call(&self.upstream, ns, &h.token, TokenCall::Revoke).await;
        if let (Ok(TokenCheck::Rejected { .. }), Some(issuer)) = (&result, &self.issuer) {
            if let Some(issuer) = issuer.current() {
                result = auth::revoke_child(&self.upstream, ns, &issuer, &h.token).await;
            }
        }
        match result {
            Ok(TokenCheck::Valid { .. }) => {
                self.update(|s| s.revocations += 1);
                tracing::info!(principal = %self.name, why, "token revoked");
                self.audit(
                    "revocation",
                    Some(&h.token),
                    serde_json::json!({ "why": why }),
                );
            }
            Ok(TokenCheck::Rejected { status, errors }) => {
                tracing::warn!(principal = %self.name, why, status, %errors, "revoke-self refused (grant auth/token/revoke-self to this principal)");
            }
            Err(e) => tracing::warn!(principal = %self.name, why, error = %e, "revoke-self failed"),
        }
    }
}

/// About two thirds of the TTL, minus up to 10% jitter so many proxies do not renew in
/// lock-step, and never sooner than 200 ms.
fn refresh_after(ttl: Duration) -> Duration {
    jittered(ttl * 2 / 3).max(Duration::from_millis(200))
}

fn jittered(d: Duration) -> Duration {
    // Sub-second clock noise is jitter enough; no RNG dependency for this.
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |t| t.subsec_nanos());
    let tenth = d / 10;
    d - tenth.mul_f64(f64::from(nanos % 1000) / 1000.0)
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_comes_at_about_two_thirds_of_the_ttl() {
        for secs in [3, 60, 3600] {
            let ttl = Duration::from_secs(secs);
            let after = refresh_after(ttl);
            assert!(
                after <= ttl * 2 / 3 && after >= ttl * 2 / 3 - ttl / 15,
                "{secs}: {after:?}"
            );
        }
        assert_eq!(
            refresh_after(Duration::from_millis(10)),
            Duration::from_millis(200)
        );
    }
}
