//! Forwarding an authorized operation to Vault with the service's token, and relaying
//! Vault's answer back: streamed, without connection headers, the token masked.

use std::sync::Arc;

use bytes::Bytes;
use http::{header, HeaderMap, HeaderName, HeaderValue, Response, StatusCode};
use http_body_util::BodyExt;
use tokio::time::Instant;

use super::exchange::Exchange;
use super::{BodyError, Proxy, ProxyBody, ProxyError, Scrub};
use crate::identity::Caller;
use crate::upstream::VaultBody;
use crate::vault::operation::{Operation, Verb};
use crate::vault::token::Token;

impl Proxy {
    /// Sends the authorized operation to Vault with the service's token (none for the
    /// unauthenticated health endpoints), retrying a read once when Vault rejected a token
    /// the renewer then replaced. Returns Vault's answer and the token it was sent with.
    pub(super) async fn forward(
        &self,
        exchange: &mut Exchange,
        caller: &Caller,
        op: &Operation,
    ) -> Result<(Response<VaultBody>, Option<Arc<Token>>), ProxyError> {
        let anonymous = exchange.decision.as_ref().is_some_and(|d| d.anonymous);
        let token = if anonymous {
            None
        } else {
            let token = self.routes.get(caller).and_then(|r| r.cell.current());
            Some(token.ok_or_else(|| ProxyError::NoToken {
                service: caller.to_string(),
            })?)
        };
        let target = op.upstream_target();
        // Vault's audit records it once `sys/config/auditing/request-headers` names it, so
        // both trails join on one id.
        let request_id = HeaderValue::from_str(&exchange.request_id).ok();
        let send = |token: Option<Arc<Token>>| {
            let (method, body) = (op.upstream_method(), op.body.clone());
            let mut headers = op.forward_headers.clone();
            if let Some(id) = &request_id {
                headers.insert(super::REQUEST_ID, id.clone());
            }
            if let Some(ttl) = op.wrap_ttl {
                headers.insert(
                    HeaderName::from_static("x-vault-wrap-ttl"),
                    HeaderValue::from(ttl.as_secs()),
                );
            }
            let target = &target;
            async move {
                self.upstream
                    .send(method, target, headers, token.as_deref(), body)
                    .await
            }
        };
        if self.auditor.enabled() {
            exchange.token_hmac = token.as_ref().map(|t| self.auditor.hmac(t.expose()));
        }
        let sent = Instant::now();
        let mut upstream = send(token.clone()).await?;
        let mut token = token;
        if upstream.status() == StatusCode::FORBIDDEN {
            // Vault says 403 both for a policy denial and for a revoked token; the renewer
            // tells them apart (once for all concurrent reports) and logs in again if needed.
            let cell = self.routes.get(caller).map(|r| &r.cell);
            if let (Some(cell), Some(stale)) = (cell, token.as_ref()) {
                if let Some(fresh) = cell.rejected(stale).await {
                    if matches!(op.verb, Verb::Read | Verb::List | Verb::Scan) {
                        upstream = send(Some(fresh.clone())).await?;
                        exchange.retried = true;
                        if self.auditor.enabled() {
                            exchange.token_hmac = Some(self.auditor.hmac(fresh.expose()));
                        }
                    }
                    token = Some(fresh);
                }
            }
        }
        let status = upstream.status();
        exchange.upstream_status = Some(status.as_u16());
        exchange.upstream_time = Some(sent.elapsed());
        if status.is_redirection() {
            return Err(ProxyError::Redirect {
                status: status.as_u16(),
            });
        }
        Ok((upstream, token))
    }
}

/// Vault's answer as it streams, without connection headers and with the token masked.
pub(super) fn relay<B>(upstream: Response<B>, token: Option<Arc<Token>>) -> Response<ProxyBody>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BodyError>,
{
    let (mut parts, body) = upstream.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    let body = match token {
        Some(t) => Scrub::new(body, t).map_err(Into::into).boxed_unsync(),
        None => body.map_err(Into::into).boxed_unsync(),
    };
    Response::from_parts(parts, body)
}

/// Removes connection-scoped headers (and those `Connection` names) from Vault's answer.
pub(super) fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in [
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    ] {
        headers.remove(name);
    }
}
