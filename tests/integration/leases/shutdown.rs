//! SIGTERM and lockdown: vaultgate revokes each service's token and with it every lease it
//! minted (the database users are dropped), one audit event per token saying how many tracked
//! leases went with it; a service with `revoke_on_shutdown = false` keeps its token and
//! credentials, which a restarted vaultgate does not manage (it did not mint them).

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{json, Value};

use super::{
    audit_records, first_mint, mint, not_owned, run_binary, send, set_service_key, Creds, Lab,
};
use crate::support::eventually;
use crate::support::gate::Gate;

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
    for creds in &revoked {
        assert!(
            gone(&lab, creds).await,
            "{} outlived its token",
            creds.username
        );
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

/// Waits (at most 15 s: Vault revokes a token's leases asynchronously) until the lease is gone
/// from OpenBao and its database user from PostgreSQL.
async fn gone(lab: &Lab, creds: &Creds) -> bool {
    eventually(Duration::from_secs(15), || async {
        let gone =
            !lab.lease_known(&creds.lease_id).await && !lab.pg.role_exists(&creds.username).await;
        gone.then_some(())
    })
    .await
    .is_some()
}

#[tokio::test]
async fn lockdown_revokes_every_token_and_the_leases_minted_under_them() {
    let lab = Lab::start(
        &["acme/billing", "globex/api"],
        &[("acme-app", "5m", "10m"), ("globex-app", "5m", "10m")],
    )
    .await;
    let logs = tempfile::tempdir().unwrap();
    let audit = logs.path().join("vaultgate-audit.jsonl");
    let gate = lab
        .gate()
        .extra(&format!("\n[audit]\nfile = \"{}\"\n", audit.display()))
        .start()
        .await;
    let (billing, globex) = (
        lab.pki.client_for("acme/billing"),
        lab.pki.client_for("globex/api"),
    );
    let minted = [
        mint(&billing, &gate.url(), "acme-app").await,
        mint(&billing, &gate.url(), "acme-app").await,
        mint(&globex, &gate.url(), "globex-app").await,
    ];
    gate.lockdown.set(true).await;
    for creds in &minted {
        assert!(
            gone(&lab, creds).await,
            "{} outlived the lockdown",
            creds.username
        );
    }
    let counted: u64 = audit_records(&audit)
        .iter()
        .filter(|r| r["type"] == "event" && r["event"]["name"] == "revocation")
        .filter_map(|r| r["event"]["leases"].as_u64())
        .sum();
    assert_eq!(
        counted, 3,
        "revocation events count every tracked lease once"
    );
    gate.stop().await;
}

#[tokio::test]
async fn a_restarted_vaultgate_does_not_manage_leases_it_did_not_mint() {
    let lab = Lab::start(&["acme/billing"], &[("acme-app", "5m", "10m")]).await;
    let start = || async {
        let (dir, config) = lab.gate().write().await;
        set_service_key(&config, "acme/billing", "revoke_on_shutdown = false");
        Gate::start_file(dir, &config).await
    };
    let client = lab.pki.client_for("acme/billing");
    let first = start().await;
    let creds = mint(&client, &first.url(), "acme-app").await;
    first.stop().await;

    // Its memory of the lease went with the process: the lease lives on (its token was kept),
    // but nothing shows the new process that this service minted it.
    let second = start().await;
    assert!(lab.lease_known(&creds.lease_id).await && lab.logs_in(&creds).await);
    let calls = [
        (
            "sys/leases/renew",
            json!({ "lease_id": creds.lease_id, "increment": 60 }),
        ),
        ("sys/leases/revoke", json!({ "lease_id": creds.lease_id })),
    ];
    for (path, body) in calls {
        let (status, text, _) = send(&client, &second.url(), "PUT", path, Some(body)).await;
        assert_eq!(status, 403, "PUT {path}: {text}");
        assert!(
            text.contains(&not_owned("acme/billing")),
            "PUT {path}: {text}"
        );
    }
    assert!(lab.logs_in(&creds).await);
    // What it mints itself, it manages.
    let fresh = mint(&client, &second.url(), "acme-app").await;
    let body = json!({ "lease_id": fresh.lease_id });
    let (status, text, _) = send(
        &client,
        &second.url(),
        "PUT",
        "sys/leases/revoke",
        Some(body),
    )
    .await;
    assert_eq!(status, 204, "{text}");
    second.stop().await;
}
