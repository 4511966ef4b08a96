//! Opt-in lease renewal (`renew_leases = true`): vaultgate renews what it minted for a service
//! that never renews, up to the lease's max TTL and no further, without a stampede, and not
//! once the client revoked it; a service without it sees its credential end with its first
//! TTL.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{mint, send, set_service_key, Lab};
use crate::support::gate::Gate;

#[tokio::test]
async fn vaultgate_renews_a_services_leases_up_to_their_max_ttl_when_asked() {
    let services = ["acme/billing", "acme/web"];
    let lab = Lab::start(&services, &[("acme-app", "5s", "30s")]).await;
    let (dir, config) = lab.gate().write().await;
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
}
