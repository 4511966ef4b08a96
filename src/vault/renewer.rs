//! `Renewer`: the one task that owns a service's token. It logs the principal in (retrying
//! with capped backoff) and publishes the token through a `TokenCell` the proxy reads.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::config::ServiceConfig;
use crate::upstream::Upstream;
use crate::vault::auth;
use crate::vault::token::Token;

/// Read side of a service's token: cheap to clone, read once per request.
#[derive(Debug, Clone)]
pub struct TokenCell(watch::Receiver<Option<Arc<Token>>>);

impl TokenCell {
    pub fn current(&self) -> Option<Arc<Token>> {
        self.0.borrow().clone()
    }

    /// Waits until a token is present (used by readiness and tests).
    pub async fn ready(&mut self) -> bool {
        self.0.wait_for(|t| t.is_some()).await.is_ok()
    }
}

#[derive(Debug)]
pub struct Renewer {
    service: ServiceConfig,
    upstream: Upstream,
    cell: watch::Sender<Option<Arc<Token>>>,
}

const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

impl Renewer {
    pub fn new(service: ServiceConfig, upstream: Upstream) -> (Renewer, TokenCell) {
        let (cell, rx) = watch::channel(None);
        (
            Renewer {
                service,
                upstream,
                cell,
            },
            TokenCell(rx),
        )
    }

    /// Logs in until it succeeds or shutdown is asked; then holds the token until shutdown.
    pub async fn run(self, shutdown: CancellationToken) {
        let caller = self.service.caller.to_string();
        let mut backoff = FIRST_BACKOFF;
        loop {
            let attempt = auth::login(&self.service.auth, &self.service.namespace, &self.upstream);
            let result = tokio::select! {
                r = attempt => r,
                () = shutdown.cancelled() => return,
            };
            match result {
                Ok(login) => {
                    tracing::info!(service = %caller, ttl = ?login.ttl, "logged in to Vault");
                    self.cell.send_replace(Some(Arc::new(login.token)));
                    break;
                }
                Err(e) => {
                    tracing::warn!(service = %caller, error = %e, retry_in = ?backoff, "login failed");
                    tokio::select! {
                        () = tokio::time::sleep(backoff) => {}
                        () = shutdown.cancelled() => return,
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
        shutdown.cancelled().await;
    }
}
