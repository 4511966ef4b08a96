//! SIGTERM: vaultgate revokes each service's token and with it every lease it minted (the
//! database users are dropped), one audit event per token saying how many tracked leases went
//! with it; a service with `revoke_on_shutdown = false` keeps its token and credentials.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::Value;

use super::{audit_records, first_mint, mint, run_binary, set_service_key, Creds, Lab};
use crate::support::eventually;

#[tokio::test]
async fn sigterm_revokes_tokens_and_every_lease_minted_under_them() {
    let services = ["acme/billing", "globex/api", "acme/web"];
    let roles = [("acme-app", "5m", "10m"), ("globex-app", "5m", "10m")];
    let lab = Lab::start(&services, &roles).await;
    let logs = tempfile::tempdir().unwrap();
    let audit = logs.path().join("vaultgate-audit.jsonl");
    let (dir, config) = lab
        .gate()
        .extra(&format!("\n[audit]\nfile = \"{}\"\n", audit.display()))
        .write()
        .await;
    set_service_key(&config, "acme/web", "revoke_on_shutdown = false");
    let log = logs.path().join("vaultgate.log");
    let (mut child, base) = run_binary(&config, &log, "info");
    let billing = lab.pki.client_for("acme/billing");
    let first = first_mint(&billing, &base, "acme-app").await;
    let revoked: Vec<Creds> = vec![
        first,
        mint(&billing, &base, "acme-app").await,
        mint(&lab.pki.client_for("globex/api"), &base, "globex-app").await,
    ];
    let kept = mint(&lab.pki.client_for("acme/web"), &base, "acme-app").await;
    for creds in revoked.iter().chain([&kept]) {
        assert!(lab.logs_in(creds).await);
    }
    // Each service's token, by the AppRole role it logged in with.
    let mut tokens = HashMap::new();
    for token in lab.bao.issued_tokens() {
        let (status, lookup) = lab.bao.lookup_token(&token).await;
        if let (200, Some(role)) = (status, lookup["data"]["meta"]["role_name"].as_str()) {
            tokens.insert(role.to_owned(), token);
        }
    }
    assert_eq!(tokens.len(), 3, "{tokens:?}");

    assert_eq!(crate::support::sigterm(&mut child).await, Some(0));
    for role in ["acme-billing", "globex-api"] {
        assert!(
            !lab.bao.token_alive(&tokens[role]).await,
            "{role}'s token outlived SIGTERM"
        );
    }
    assert!(
        lab.bao.token_alive(&tokens["acme-web"]).await,
        "revoke_on_shutdown = false"
    );
    // Vault revokes a token's leases asynchronously: wait for them (bounded).
    for creds in &revoked {
        let gone = eventually(Duration::from_secs(15), || async {
            let gone = !lab.lease_known(&creds.lease_id).await
                && !lab.pg.role_exists(&creds.username).await;
            gone.then_some(())
        })
        .await;
        assert!(gone.is_some(), "{} outlived its token", creds.username);
        assert!(!lab.logs_in(creds).await);
    }
    assert!(lab.lease_known(&kept.lease_id).await && lab.logs_in(&kept).await);

    let revocations: HashMap<String, Value> = audit_records(&audit)
        .into_iter()
        .filter(|r| r["type"] == "event" && r["event"]["name"] == "revocation")
        .map(|r| {
            (
                r["event"]["principal"].as_str().unwrap().to_owned(),
                r["event"].clone(),
            )
        })
        .collect();
    assert_eq!(revocations["acme/billing"]["leases"], 2, "{revocations:?}");
    assert_eq!(revocations["globex/api"]["leases"], 1, "{revocations:?}");
    assert!(!revocations.contains_key("acme/web"), "{revocations:?}");
    drop(dir);
}
