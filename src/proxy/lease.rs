//! Leases in the pipeline. Before authorization: a lease call in URL form becomes its body
//! form (what is authorized is what is forwarded, and an ordinary exact rule such as
//! `path "sys/leases/renew"` covers it). After the policy allowed it: the lease must have
//! been issued to the caller through vaultgate; Vault checks only the path. After Vault
//! answered: a lease an answer grants is recorded for the caller, a revoked one forgotten,
//! a renewed one's expiry moved, and the audit record gets the lease id's HMAC.

use std::sync::Arc;

use bytes::Bytes;
use http::Response;
use serde_json::Value;
use tokio::time::Instant;

use super::cached::{collect, whole, Collected, Prefixed};
use super::exchange::{Exchange, LeaseFacts};
use super::forward::relay;
use super::{mask_held, Proxy, ProxyBody, ProxyError};
use crate::identity::Caller;
use crate::lease::{Grant, Minted};
use crate::upstream::VaultBody;
use crate::vault::lease::{self, LeaseAction, LeaseCall};
use crate::vault::operation::{ClassifyError, Operation};
use crate::vault::placement::Placement;
use crate::vault::semantics::ServerSemantics;
use crate::vault::token::Token;

impl Proxy {
    /// The lease call the request makes wherever it lands, with a URL form rewritten to
    /// the body form. A lease id in the URL of a path that could land in more than one
    /// namespace is refused: which endpoint it names depends on the split.
    pub(super) fn lease_call(
        &self,
        exchange: &mut Exchange,
        op: Operation,
        placement: Placement,
        known: &ServerSemantics,
        home: &str,
    ) -> Result<(Operation, Placement, Option<LeaseCall>), ProxyError> {
        let mut found = None;
        for split in placement.splits() {
            let path = split.path(&op.full_path);
            let call = lease::call(path, op.verb, &op.params).map_err(ClassifyError::Ambiguous)?;
            if let Some(call) = call {
                found = Some((split.namespace(&op.full_path).to_owned(), call));
                break;
            }
        }
        let Some((namespace, call)) = found else {
            return Ok((op, placement, None));
        };
        if let LeaseCall::One { action, id, .. } = &call {
            exchange.lease = Some(LeaseFacts {
                action: action.as_str(),
                id_hmac: self.auditor.enabled().then(|| self.auditor.hmac(id)),
                renewable: None,
                ttl_s: None,
            });
        }
        let LeaseCall::One {
            id,
            endpoint,
            from_url: true,
            ..
        } = &call
        else {
            return Ok((op, placement, Some(call)));
        };
        if placement.unique().is_none() {
            return Err(ClassifyError::Ambiguous(
                "a lease id in the URL of a path that could land in more than one namespace; \
                 send it in the body"
                    .to_owned(),
            )
            .into());
        }
        let mut op = op;
        op.full_path = if namespace.is_empty() {
            (*endpoint).to_owned()
        } else {
            format!("{namespace}/{endpoint}")
        };
        op.path = match op.namespace.as_str() {
            "" => op.full_path.clone(),
            ns => op.full_path[ns.len() + 1..].to_owned(),
        };
        op.params
            .insert("lease_id".to_owned(), Value::String(id.clone()));
        op.body = Bytes::from(serde_json::to_vec(&op.params).map_err(|e| {
            ClassifyError::Ambiguous(format!("the body cannot be rebuilt with the lease id: {e}"))
        })?);
        exchange.path = Some(op.full_path.clone());
        let placement = Placement::resolve(&op.full_path, known, home);
        Ok((op, placement, Some(call)))
    }

    /// Why vaultgate refuses a lease call the policy allowed, if it does.
    pub(super) fn lease_refusal(&self, caller: &Caller, call: &LeaseCall) -> Option<String> {
        match call {
            LeaseCall::Prefix { endpoint } => Some(format!(
                "{endpoint} acts on every lease under a prefix, and vaultgate cannot show they \
                 were all issued to {caller}"
            )),
            LeaseCall::One { id, .. } => match self.leases.owner(id, Instant::now()) {
                Some(owner) if owner == *caller => None,
                _ => Some(format!("lease not issued to {caller} through vaultgate")),
            },
        }
    }

    /// Relays a forwarded answer, reading a successful JSON one whole first to learn what it
    /// did to leases (so a failure while reading it is still a 502/504 with vaultgate's
    /// status; an answer over the size limit streams on unread: a lease in it is not
    /// tracked, so its owner cannot manage it through vaultgate).
    pub(super) async fn relay_noting(
        &self,
        exchange: &mut Exchange,
        caller: &Caller,
        landed: &str,
        call: Option<&LeaseCall>,
        upstream: Response<VaultBody>,
        token: Option<Arc<Token>>,
    ) -> Result<Response<ProxyBody>, ProxyError> {
        // Leases come only in Vault's JSON answers; raw ones (a PEM, a metrics page) stream.
        let json = upstream
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        if !upstream.status().is_success() || !json {
            return Ok(relay(upstream, token));
        }
        let (mut parts, body) = upstream.into_parts();
        let mut buf = match collect(body, self.upstream.timeout()).await? {
            Collected::Whole(buf) => buf,
            Collected::TooLarge(prefix, rest) => {
                tracing::warn!(request_id = %exchange.request_id, "answer too large to look for a lease in; relayed untracked");
                let body = Prefixed {
                    prefix: Some(Bytes::from(prefix)),
                    rest,
                };
                return Ok(relay(Response::from_parts(parts, body), token));
            }
        };
        self.note_answer(exchange, caller, landed, call, token.as_ref(), &buf);
        mask_held(&mut buf, token.as_ref());
        super::forward::strip_hop_by_hop(&mut parts.headers);
        // Zeroed when the last reader drops it, like a cached answer: it may hold a secret.
        Ok(whole(
            parts.status,
            parts.headers,
            crate::cache::wiped_bytes(buf),
        ))
    }

    /// What a successful answer did to leases: recorded, renewed or forgotten.
    pub(super) fn note_answer(
        &self,
        exchange: &mut Exchange,
        caller: &Caller,
        landed: &str,
        call: Option<&LeaseCall>,
        token: Option<&Arc<Token>>,
        body: &[u8],
    ) {
        let now = Instant::now();
        match call {
            Some(LeaseCall::One { action, id, .. }) => match action {
                LeaseAction::Revoke => self.leases.ended(id),
                LeaseAction::Renew => {
                    if let Some(ttl) = Grant::ttl_of(body) {
                        self.leases.renewed(id, ttl, None, now);
                        if let Some(facts) = exchange.lease.as_mut() {
                            facts.ttl_s = Some(ttl.as_secs());
                        }
                    }
                }
                LeaseAction::Lookup => {}
            },
            Some(LeaseCall::Prefix { .. }) => {}
            None => {
                // Only a request sent with a service token can mint a lease for a service.
                let (Some(grant), Some(token)) = (Grant::from_answer(body), token) else {
                    return;
                };
                let minted = Minted {
                    owner: caller.clone(),
                    token: token.clone(),
                    namespace: landed.to_owned(),
                    renew: self.routes.get(caller).is_some_and(|r| r.renew_leases),
                };
                if !self.leases.issued(&grant, minted, now) {
                    tracing::warn!(service = %caller, "lease registry full; this lease is relayed untracked");
                }
                exchange.lease = Some(LeaseFacts {
                    action: "issued",
                    id_hmac: self
                        .auditor
                        .enabled()
                        .then(|| self.auditor.hmac(grant.id.expose())),
                    renewable: Some(grant.renewable),
                    ttl_s: Some(grant.ttl.as_secs()),
                });
            }
        }
    }
}

/// The namespace a request landed in, for where its lease is renewed: the one split the
/// server could make, or the caller's header namespace when discovery could not tell.
pub(super) fn landed(op: &Operation, placement: &Placement) -> String {
    placement.unique().map_or(op.namespace.clone(), |s| {
        s.namespace(&op.full_path).to_owned()
    })
}
