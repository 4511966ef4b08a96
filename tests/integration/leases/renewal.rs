//! Opt-in lease renewal (`renew_leases = true`): vaultgate renews what it minted for a service
//! that never renews, up to the lease's max TTL and no further, without a stampede, and not
//! once the client revoked it; a service without it sees its credential end with its first
//! TTL.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{audit_records, audit_section, hmac, mint, send, set_service_key, Lab};
use crate::support::gate::Gate;

#[tokio::test]
async fn vaultgate_renews_a_services_leases_up_to_their_max_ttl_when_asked() {
    let services = ["acme/billing", "acme/web"];
    let lab = Lab::start(&services, &[("acme-app", "5s", "30s")]).await;
    let logs = tempfile::tempdir().unwrap();
    let (extra, audit) = audit_section(logs.path());
    let (dir, config) = lab.gate().extra(&extra).write().await;
    set_service_key(&config, "acme/billing", "renew_leases = true");
    let gate = Gate::start_file(dir, &config).await;
    let base = gate.url();
    let (billing, web) = (
        lab.pki.client_for("acme/billing"),
        lab.pki.client_for("acme/web"),
    );
    let (renewed, left) = tokio::join!(
        mint(&billing, &base, "acme-app"),
        mint(&web, &base, "acme-app"),
    );
    let minted = Instant::now();
    // A lease the client revokes leaves vaultgate's renewals with it.
    let dropped = mint(&billing, &base, "acme-app").await;
    let revoke = json!({ "lease_id": dropped.lease_id });
    let (status, text, _) = send(&billing, &base, "PUT", "sys/leases/revoke", Some(revoke)).await;
    assert_eq!(status, 204, "{text}");

    // Letting the clock run is the scenario: both credentials are tried every half second
    // until the renewed one ends (at its 30 s max TTL) or 40 s have passed.
    let (mut renewed_ended, mut left_ended) = (None, None);
    while minted.elapsed() < Duration::from_secs(40) && renewed_ended.is_none() {
        let (a, b) = tokio::join!(lab.logs_in(&renewed), async {
            left_ended.is_some() || lab.logs_in(&left).await
        });
        let at = minted.elapsed();
        if !a {
            renewed_ended = Some(at);
        }
        if !b && left_ended.is_none() {
            left_ended = Some(at);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let left_ended = left_ended.expect("the unrenewed credential outlived 40 s");
    assert!(
        left_ended >= Duration::from_secs(4) && left_ended <= Duration::from_secs(10),
        "without renew_leases the 5 s credential ended after {left_ended:?}"
    );
    let renewed_ended = renewed_ended.expect("the renewed credential outlived its 30 s max TTL");
    assert!(
        renewed_ended >= Duration::from_secs(28),
        "with renew_leases the credential ended after {renewed_ended:?}, before its max TTL"
    );
    assert!(!lab.lease_known(&renewed.lease_id).await);

    // Renewals about every two thirds of the TTL: a handful, not one per poll or a burst at
    // the end as the remaining time shrinks; and none that Vault refused (of the revoked
    // lease, or past the max TTL).
    let renewals: Vec<Value> = lab
        .openbao_records()
        .into_iter()
        .filter(|r| {
            let path = r["request"]["path"].as_str().unwrap_or("");
            path.starts_with("sys/leases/renew") || path.starts_with("sys/renew")
        })
        .collect();
    let requests = renewals.iter().filter(|r| r["type"] == "request").count();
    assert!(
        (3..=15).contains(&requests),
        "{requests} renewals of one 5 s lease over 30 s"
    );
    let refused: Vec<&Value> = renewals
        .iter()
        .filter(|r| r["type"] == "response" && r["error"].as_str().is_some_and(|e| !e.is_empty()))
        .collect();
    assert!(refused.is_empty(), "renewals Vault refused: {refused:?}");
    gate.stop().await;

    // vaultgate's own trail: why renewal stopped, named by the lease's HMAC (the one its
    // request records use), and nothing at all for the lease the client revoked.
    let text = std::fs::read_to_string(&audit).unwrap();
    for creds in [&renewed, &dropped, &left] {
        assert!(
            !text.contains(creds.lease_secret()),
            "a lease id in vaultgate's audit"
        );
    }
    let events: Vec<Value> = audit_records(&audit)
        .into_iter()
        .filter(|r| r["type"] == "event")
        .map(|r| r["event"].clone())
        .collect();
    let about = |creds: &super::Creds| {
        let tag = json!(hmac(&creds.lease_id));
        events
            .iter()
            .filter(|e| e["lease_hmac"] == tag || e["id_hmac"] == tag)
            .cloned()
            .collect::<Vec<Value>>()
    };
    let stopped: Vec<Value> = about(&renewed)
        .into_iter()
        .filter(|e| e["name"] == "lease_renewal_stopped")
        .collect();
    assert_eq!(stopped.len(), 1, "{events:?}");
    assert_eq!(stopped[0]["why"], "max_ttl", "{stopped:?}");
    let renewed_dropped: Vec<Value> = about(&dropped)
        .into_iter()
        .filter(|e| {
            e["name"]
                .as_str()
                .is_some_and(|n| n.starts_with("lease_renewal"))
        })
        .collect();
    assert!(renewed_dropped.is_empty(), "{renewed_dropped:?}");
}
