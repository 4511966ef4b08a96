//! What the renewer does when its token is doubted or done with: a request's 403 checked
//! once with `lookup-self` for every request that reported the same token, and revocation
//! (itself first, else by the issuer that minted it).

use std::sync::Arc;

use tokio::time::Instant;

use super::{Held, Renewer, TokenApi};
use crate::principal::auth::{TokenCall, TokenCheck};
use crate::principal::cell::Suspect;

impl<A: TokenApi> Renewer<A> {
    pub(super) async fn suspect(&mut self, first: Suspect, held: &mut Option<Held>) {
        let replacement = match held.as_ref() {
            None => None,
            Some(h) if !Arc::ptr_eq(&h.token, &first.stale) => Some(h.token.clone()),
            Some(h) if h.obtained.elapsed() < self.timing.fresh => None,
            Some(h) => {
                match self
                    .api
                    .call(&self.principal.namespace, &h.token, TokenCall::Lookup)
                    .await
                {
                    Ok(TokenCheck::Rejected { .. }) => {
                        tracing::warn!(principal = %self.name, "Vault rejected the token; logging in again");
                        // A token Vault no longer knows took its leases with it.
                        self.leases.token_revoked(&h.token, Instant::now());
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

    pub(super) async fn revoke(&self, h: &Held, why: &'static str) {
        // Vault revokes the token's leases with it: they are counted for the audit event.
        let leases = self.leases.live_under(&h.token, Instant::now());
        let ns = &self.principal.namespace;
        let mut result = self.api.call(ns, &h.token, TokenCall::Revoke).await;
        if let (Ok(TokenCheck::Rejected { .. }), Some(issuer)) = (&result, &self.issuer) {
            if let Some(issuer) = issuer.current() {
                result = self.api.revoke_child(ns, &issuer, &h.token).await;
            }
        }
        match result {
            Ok(TokenCheck::Valid { .. }) => {
                self.update(|s| s.revocations += 1);
                self.leases.token_revoked(&h.token, Instant::now());
                tracing::info!(principal = %self.name, why, leases, "token revoked");
                self.audit(
                    "revocation",
                    Some(&h.token),
                    serde_json::json!({ "why": why, "leases": leases }),
                );
            }
            Ok(TokenCheck::Rejected { status, errors }) => {
                tracing::warn!(principal = %self.name, why, status, %errors, "revoke-self refused (grant auth/token/revoke-self to this principal)");
            }
            Err(e) => tracing::warn!(principal = %self.name, why, error = %e, "revoke-self failed"),
        }
    }
}
