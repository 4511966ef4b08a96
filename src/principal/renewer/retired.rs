//! Replaced tokens. Vault revokes a token's leases with it, so a token replaced at
//! re-login while leases minted under it are live (database users a pool is using) is kept,
//! not renewed, until its last lease ended (then revoked) or it expired (Vault then revoked
//! it and its leases itself); shutdown and lockdown revoke it with the current token.

use tokio::time::Instant;

use super::{Held, Renewer, TokenApi};

impl<A: TokenApi> Renewer<A> {
    /// A token replaced at re-login: revoked now, or kept while its leases live.
    pub(super) async fn replaced(&mut self, old: Held) {
        let live = self.leases.live_under(&old.token, Instant::now());
        if live == 0 {
            self.revoke(&old, "replaced").await;
            return;
        }
        tracing::info!(principal = %self.name, leases = live, "replaced token kept until the leases minted under it end");
        self.audit(
            "retained",
            Some(&old.token),
            serde_json::json!({
                "leases": live,
                "expires_in_s": old.expires.map(|e| e.saturating_duration_since(Instant::now()).as_secs()),
            }),
        );
        self.retired.push(old);
    }

    /// Revokes the kept tokens whose last lease ended and forgets the expired ones.
    pub(super) async fn check_retired(&mut self) {
        let now = Instant::now();
        let mut keep = Vec::with_capacity(self.retired.len());
        for held in std::mem::take(&mut self.retired) {
            if held.expires.is_some_and(|e| e <= now) {
                let leases = self.leases.token_revoked(&held.token, now);
                tracing::info!(principal = %self.name, leases, "kept token expired; Vault ended its leases");
                self.audit(
                    "expiry",
                    Some(&held.token),
                    serde_json::json!({ "leases": leases }),
                );
            } else if self.leases.live_under(&held.token, now) == 0 {
                self.revoke(&held, "leases_ended").await;
            } else {
                keep.push(held);
            }
        }
        self.retired = keep;
    }

    /// Revokes every kept token, with its leases (shutdown, lockdown).
    pub(super) async fn revoke_retired(&mut self, why: &'static str) {
        for held in std::mem::take(&mut self.retired) {
            self.revoke(&held, why).await;
        }
    }
}
