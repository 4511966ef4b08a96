//! `TokenCell`: the read side of a principal's token, one per principal, cheap to clone and
//! read once per request; the renewer is its only writer. Also what the token has been
//! doing (`PrincipalStatus`), for readiness and metrics.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::sync::{mpsc, oneshot, watch};

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
pub(super) struct Suspect {
    pub(super) stale: Arc<Token>,
    pub(super) reply: oneshot::Sender<Option<Arc<Token>>>,
}

/// Read side of a principal's token: cheap to clone, read once per request.
#[derive(Debug, Clone)]
pub struct TokenCell {
    pub(super) rx: watch::Receiver<Option<Arc<Token>>>,
    pub(super) suspects: mpsc::Sender<Suspect>,
    pub(super) status: Arc<Mutex<PrincipalStatus>>,
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
