//! The lease registry stays bounded: a lease leaves it when revoked and when it expires, and
//! a failed read never enters it (`vaultgate_leases_tracked` on /metrics).

use std::time::Duration;

use serde_json::json;

use super::{mint, send, Lab};
use crate::support::eventually;
use crate::support::gate::Gate;

const ADMIN_TOKEN: &str = "leases-admin-token-0123456789";

/// `vaultgate_leases_tracked` as the admin listener reports it now.
async fn tracked(gate: &Gate) -> f64 {
    let admin = gate.admin.as_deref().expect("an [admin] section");
    let text = reqwest::Client::new()
        .get(format!("http://{admin}/metrics"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap();
    let sample = scrape
        .samples
        .iter()
        .find(|s| s.metric == "vaultgate_leases_tracked");
    match sample.map(|s| &s.value) {
        Some(prometheus_parse::Value::Gauge(v) | prometheus_parse::Value::Untyped(v)) => *v,
        other => panic!("vaultgate_leases_tracked: {other:?}"),
    }
}

/// Waits (at most `limit`) until the registry holds `want` leases; the last count seen.
async fn settles(gate: &Gate, want: f64, limit: Duration) -> f64 {
    let reached = eventually(limit, || async {
        let n = tracked(gate).await;
        (n == want).then_some(n)
    })
    .await;
    match reached {
        Some(n) => n,
        None => tracked(gate).await,
    }
}

#[tokio::test]
async fn leases_leave_the_registry_when_revoked_and_when_they_expire() {
    let roles = [("acme-short", "3s", "3s"), ("acme-app", "5m", "10m")];
    let lab = Lab::start(&["acme/billing"], &roles).await;
    let logs = tempfile::tempdir().unwrap();
    let token_file = logs.path().join("admin.token");
    std::fs::write(&token_file, format!("{ADMIN_TOKEN}\n")).unwrap();
    let admin = format!(
        "\n[admin]\naddress = \"127.0.0.1:0\"\ntoken_file = \"{}\"\n",
        token_file.display()
    );
    let gate = lab.gate().extra(&admin).start().await;
    let (client, base) = (lab.pki.client_for("acme/billing"), gate.url());
    assert_eq!(tracked(&gate).await, 0.0);

    let long = mint(&client, &base, "acme-app").await;
    for _ in 0..3 {
        mint(&client, &base, "acme-short").await;
    }
    // A failed read adds nothing.
    let (status, _, _) = send(&client, &base, "GET", "database/creds/acme-none", None).await;
    assert!(status >= 400);
    assert_eq!(tracked(&gate).await, 4.0);

    let revoke = json!({ "lease_id": long.lease_id });
    let (status, text, _) = send(&client, &base, "PUT", "sys/leases/revoke", Some(revoke)).await;
    assert_eq!(status, 204, "{text}");
    assert_eq!(
        settles(&gate, 3.0, Duration::from_secs(2)).await,
        3.0,
        "revoked, still tracked"
    );
    // The short leases end 3 s after minting; the registry lets them go soon after.
    assert_eq!(
        settles(&gate, 0.0, Duration::from_secs(10)).await,
        0.0,
        "expired, still tracked"
    );
    gate.stop().await;
}
