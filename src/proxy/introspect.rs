//! Token self-introspection answered by vaultgate itself: clients check and renew "their"
//! token at startup and on a timer (`lookup-self`, `renew-self`), but the token behind a
//! service is vaultgate's, owned by its renewer and never shown. These are answered in
//! Vault's shape from the caller's point of view (its display name, the held token's TTL,
//! the policy files vaultgate applies) and never forwarded; `revoke-self` is refused.

use std::time::SystemTime;

use http::{Response, StatusCode};
use serde_json::{json, Value};

use super::exchange::Exchange;
use super::{vault_error, Proxy, ProxyBody};
use crate::identity::Caller;
use crate::policy::Decision;
use crate::vault::operation::{Operation, Verb};
use crate::vault::placement::Placement;

/// The token self-operation a request lands on, if any split lands on one.
fn self_operation(op: &Operation, placement: &Placement) -> Option<&'static str> {
    placement.splits().iter().find_map(|split| {
        match split.path(&op.full_path).trim_end_matches('/') {
            "auth/token/lookup-self" => Some("lookup-self"),
            "auth/token/renew-self" => Some("renew-self"),
            "auth/token/revoke-self" => Some("revoke-self"),
            _ => None,
        }
    })
}

fn rfc3339(at: SystemTime) -> Value {
    let at = time::OffsetDateTime::from(at);
    at.format(&time::format_description::well_known::Rfc3339)
        .map_or(Value::Null, Value::from)
}

impl Proxy {
    /// Answers a token self-operation, or `None` when the request is not one.
    pub(super) fn introspect(
        &self,
        exchange: &mut Exchange,
        caller: &Caller,
        op: &Operation,
        placement: &Placement,
    ) -> Option<Response<ProxyBody>> {
        let operation = self_operation(op, placement)?;
        let answer = |allowed: bool, reason: String| Decision {
            allowed,
            rule: None,
            reason,
            condition: None,
            anonymous: false,
        };
        let response = match (operation, op.verb) {
            (_, _) if op.wrap_ttl.is_some() => {
                let why = "vaultgate answers token self-operations itself and does not wrap them";
                exchange.decision = Some(answer(false, why.into()));
                vault_error(StatusCode::BAD_REQUEST, why)
            }
            ("revoke-self", Verb::Write) => {
                let why = "revoke-self is refused: vaultgate holds and revokes this service's \
                           token itself (it is revoked at shutdown and lockdown)";
                exchange.decision = Some(answer(false, why.into()));
                vault_error(
                    StatusCode::FORBIDDEN,
                    &format!("permission denied by vaultgate: {why}"),
                )
            }
            ("lookup-self", Verb::Read | Verb::Write) | ("renew-self", Verb::Write) => {
                let why =
                    format!("{operation} answered by vaultgate for {caller}; never forwarded");
                exchange.decision = Some(answer(true, why));
                let body = self.view(caller, operation, &exchange.request_id);
                json_response(&body)
            }
            _ => return None,
        };
        Some(response)
    }

    /// The caller's view of its token, shaped like Vault's answer.
    fn view(&self, caller: &Caller, operation: &str, request_id: &str) -> Value {
        let status = self
            .routes
            .get(caller)
            .map(|r| r.cell.status())
            .unwrap_or_default();
        let ttl = status.ttl_remaining().map_or(0, |t| t.as_secs());
        let renewable = status.ttl.is_some();
        let issued = status.last_refresh;
        let policies: Vec<String> = {
            let set = self.policies.snapshot();
            let mut files: Vec<String> = set
                .rules(caller)
                .into_iter()
                .flat_map(|r| r.sources)
                .map(|s| format!("vaultgate:{}", s.file.display()))
                .collect();
            files.sort();
            files.dedup();
            files
        };
        let display_name = format!("vaultgate-{}-{}", caller.tenant(), caller.service());
        let meta = json!({ "tenant": caller.tenant(), "service": caller.service(), "issued_by": "vaultgate" });
        let warning = "answered by vaultgate: the token behind this service is vaultgate's and \
                       is renewed by it; id and accessor are not shown";
        let (data, auth) = if operation == "renew-self" {
            let auth = json!({
                "client_token": "",
                "accessor": "",
                "policies": policies,
                "token_policies": policies,
                "metadata": meta,
                "lease_duration": ttl,
                "renewable": renewable,
                "entity_id": "",
                "token_type": "service",
                "orphan": false,
            });
            (Value::Null, auth)
        } else {
            let data = json!({
                "accessor": "",
                "creation_time": issued.and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok()).map_or(0, |d| d.as_secs()),
                "creation_ttl": status.ttl.map_or(0, |t| t.as_secs()),
                "display_name": display_name,
                "entity_id": "",
                "expire_time": match (issued, status.ttl) {
                    (Some(at), Some(ttl)) => rfc3339(at + ttl),
                    _ => Value::Null,
                },
                "explicit_max_ttl": 0,
                "id": "",
                "issue_time": issued.map_or(Value::Null, rfc3339),
                "meta": meta,
                "num_uses": 0,
                "orphan": false,
                "path": "vaultgate",
                "policies": policies,
                "renewable": renewable,
                "ttl": ttl,
                "type": "service",
            });
            (data, Value::Null)
        };
        json!({
            "request_id": request_id,
            "lease_id": "",
            "renewable": false,
            "lease_duration": 0,
            "data": data,
            "wrap_info": null,
            "warnings": [warning],
            "auth": auth,
        })
    }
}

fn json_response(body: &Value) -> Response<ProxyBody> {
    use http_body_util::{BodyExt, Full};
    let mut resp = Response::new(
        Full::new(bytes::Bytes::from(body.to_string()))
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn expire_times_are_rfc3339() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(86_400);
        assert_eq!(rfc3339(at), "1970-01-02T00:00:00Z");
    }
}
