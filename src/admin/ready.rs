//! `/readyz`: ready only when the policy set is loaded, Vault answers `sys/health` as an
//! active (or standby) node (of a cluster: one node is active; each node's state is shown),
//! no lockdown is in force, and every service holds a token Vault still accepts. The body
//! names each check and why it failed.

use std::time::Duration;

use http::Method;
use serde_json::{json, Map, Value};
use tokio::task::JoinSet;

use crate::principal::auth::{self, TokenCall, TokenCheck};
use crate::shared::Shared;
use crate::upstream::Snapshot;

/// The whole check is bounded so an orchestrator's probe gets an answer, not a hang.
const CHECK_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug)]
pub(super) struct Report {
    pub ready: bool,
    pub body: Value,
}

fn pass(detail: Value) -> Value {
    let mut v = json!({ "ok": true });
    merge(&mut v, detail);
    v
}

fn fail(error: impl Into<String>) -> Value {
    json!({ "ok": false, "error": error.into() })
}

fn merge(into: &mut Value, detail: Value) {
    if let (Some(a), Value::Object(b)) = (into.as_object_mut(), detail) {
        a.extend(b);
    }
}

pub(super) async fn check(state: &Shared) -> Report {
    let mut checks = Map::new();
    // A store exists only once a policy set loaded; a rejected reload keeps the last good
    // set in force, so it is reported but does not make vaultgate unready.
    let p = state.policies.status();
    checks.insert(
        "policies".into(),
        pass(json!({ "digest": p.digest, "last_reload_error": p.last_error })),
    );
    checks.insert(
        "lockdown".into(),
        if state.lockdown.is_on() {
            fail("lockdown in force: every request is refused (POST /unlock)")
        } else {
            pass(json!({}))
        },
    );
    let vault = tokio::time::timeout(CHECK_TIMEOUT, vault_health(state))
        .await
        .unwrap_or_else(|_| fail(format!("no answer within {CHECK_TIMEOUT:?}")));
    let vault_ok = vault["ok"] == true;
    checks.insert("vault".into(), vault);
    let tokens = if vault_ok {
        tokio::time::timeout(CHECK_TIMEOUT, service_tokens(state))
            .await
            .unwrap_or_else(|_| fail(format!("no answer within {CHECK_TIMEOUT:?}")))
    } else {
        fail("not checked: Vault is not reachable")
    };
    checks.insert("tokens".into(), tokens);
    let failing: Vec<String> = checks
        .iter()
        .filter(|(_, v)| v["ok"] != true)
        .map(|(k, _)| k.clone())
        .collect();
    Report {
        ready: failing.is_empty(),
        body: json!({ "ready": failing.is_empty(), "failing": failing, "checks": checks }),
    }
}

/// With `addresses`: each node's state as the health task last saw it; ready while one is
/// active. With one `address`: `sys/health` with standbys counted as serving (they forward
/// to the active node); sealed, uninitialized or unreachable is not ready.
async fn vault_health(state: &Shared) -> Value {
    if let Some(snapshot) = state.upstream.nodes() {
        return cluster_health(&snapshot);
    }
    let target = "/v1/sys/health?standbyok=true&perfstandbyok=true";
    match state
        .upstream
        .call_json(Method::GET, target, "", None, None)
        .await
    {
        Ok((status, body)) if status.is_success() => pass(json!({
            "version": body["version"],
        })),
        Ok((status, body)) => {
            let why = if body["sealed"] == true {
                "sealed"
            } else if body["initialized"] == false {
                "not initialized"
            } else {
                "not serving"
            };
            fail(format!("sys/health answered {}: {why}", status.as_u16()))
        }
        Err(e) => fail(e.to_string()),
    }
}

fn cluster_health(snapshot: &Snapshot) -> Value {
    let nodes: Map<String, Value> = snapshot
        .nodes
        .iter()
        .map(|n| (n.address.to_string(), json!(n.state.as_str())))
        .collect();
    match snapshot.active.and_then(|i| snapshot.nodes.get(i)) {
        Some(active) => pass(json!({
            "active": active.address.as_ref(),
            "version": active.version,
            "nodes": nodes,
        })),
        None => {
            let mut v = fail(format!("no active node: {}", snapshot.describe()));
            merge(&mut v, json!({ "nodes": nodes }));
            v
        }
    }
}

/// Every service's token, looked up with `lookup-self` (concurrently). A token Vault
/// refuses is reported to its renewer, which logs in again, so readiness returns on its own
/// instead of waiting for the next renewal while no traffic arrives.
async fn service_tokens(state: &Shared) -> Value {
    let mut lookups = JoinSet::new();
    for p in state.principals.iter().filter(|p| p.service.is_some()) {
        let (p, upstream) = (p.clone(), state.upstream.clone());
        lookups.spawn(async move {
            let Some(token) = p.cell.current() else {
                let why = p
                    .cell
                    .status()
                    .last_error
                    .unwrap_or_else(|| "not logged in yet".into());
                return (p.name, fail(format!("no token: {why}")));
            };
            let verdict =
                match auth::token_call(&upstream, &p.namespace, &token, TokenCall::Lookup).await {
                    Ok(TokenCheck::Valid { .. }) => pass(json!({})),
                    Ok(TokenCheck::Rejected { status, errors }) => {
                        let cell = p.cell.clone();
                        tokio::spawn(async move { cell.rejected(&token).await });
                        fail(format!(
                            "Vault refused the token ({status}: {errors}); logging in again"
                        ))
                    }
                    Err(e) => fail(format!("cannot check the token: {e}")),
                };
            (p.name, verdict)
        });
    }
    let mut each = Map::new();
    while let Some(done) = lookups.join_next().await {
        if let Ok((name, verdict)) = done {
            each.insert(name, verdict);
        }
    }
    let ok = each.values().all(|v| v["ok"] == true);
    json!({ "ok": ok, "services": each })
}
