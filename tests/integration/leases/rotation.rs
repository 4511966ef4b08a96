//! Token rotation keeps credentials alive: a service token replaced at its max TTL is not
//! revoked while leases minted under it live (Vault would revoke them with it), and a
//! periodic token keeps a credential alive across many renewals.

use std::time::{Duration, Instant};

use serde_json::json;

use super::{mint, Lab};
use crate::support::eventually;
use crate::support::gate::Gate;

#[tokio::test]
async fn a_credential_outlives_the_rotation_of_the_token_it_was_minted_under() {
    // The credential lease (60 s) outlasts the token's max TTL (20 s): vaultgate logs in again
    // at about 18 s, while the credential still has 40 s to go.
    let lab = Lab::start(&["acme/billing"], &[("acme-app", "60s", "60s")]).await;
    *lab.bao.approle_ttls.lock().unwrap() = (10, 20);
    let gate = lab.gate().start().await;
    let client = lab.pki.client_for("acme/billing");
    let old = gate.token("acme/billing");
    let creds = mint(&client, &gate.url(), "acme-app").await;
    assert!(lab.logs_in(&creds).await);

    let replaced = eventually(Duration::from_secs(25), || async {
        (gate.token("acme/billing") != old).then_some(())
    })
    .await;
    assert!(
        replaced.is_some(),
        "vaultgate did not log in again within 25 s"
    );
    assert!(
        lab.bao.token_alive(&old).await,
        "the replaced token was revoked although a lease minted under it lives"
    );
    assert!(lab.lease_known(&creds.lease_id).await);
    assert!(
        lab.logs_in(&creds).await,
        "the credential died with the rotation"
    );

    // Until the old token's natural expiry (its 20 s max TTL, which Vault enforces), the
    // credential works: a failed login while the token still lives afterwards means someone
    // revoked it early.
    let ended = eventually(Duration::from_secs(25), || async {
        let logged_in = lab.logs_in(&creds).await;
        let alive = lab.bao.token_alive(&old).await;
        assert!(
            logged_in || !alive,
            "the credential stopped working while its token lived"
        );
        (!alive).then_some(())
    })
    .await;
    assert!(ended.is_some(), "the replaced token outlived its max TTL");
    // Then Vault revokes the token's leases with it: the documented limit that makes periodic
    // tokens the advice for services with dynamic secrets.
    let gone = eventually(Duration::from_secs(10), || async {
        (!lab.logs_in(&creds).await).then_some(())
    })
    .await;
    assert!(gone.is_some(), "the credential outlived its token");
    gate.stop().await;
}

#[tokio::test]
async fn a_periodic_token_keeps_a_credential_alive_across_many_renewals() {
    const PERIOD: u64 = 5;
    let lab = Lab::start(&["acme/billing"], &[("acme-app", "60s", "60s")]).await;
    let (dir, config) = lab.gate().write().await;
    // A periodic token: no max TTL, renewed every period for as long as vaultgate runs.
    let (status, body) = lab
        .bao
        .api(
            "POST",
            "auth/approle/role/acme-billing",
            Some(json!({ "token_period": PERIOD, "token_ttl": 0, "token_max_ttl": 0 })),
            "root",
        )
        .await;
    assert!(status < 300, "token_period: {status} {body}");
    let gate = Gate::start_file(dir, &config).await;
    let token = gate.token("acme/billing");
    let (_, lookup) = lab.bao.lookup_token(&token).await;
    assert_eq!(lookup["data"]["period"], json!(PERIOD), "{lookup}");
    assert!(
        lookup["data"]["ttl"].as_u64().unwrap() <= PERIOD,
        "{lookup}"
    );

    let client = lab.pki.client_for("acme/billing");
    let minted = Instant::now();
    let creds = mint(&client, &gate.url(), "acme-app").await;
    // Letting time pass is the scenario: three token periods and a bit, checked every second,
    // during which an unrenewed token (and every lease under it) would have died twice over.
    while minted.elapsed() < Duration::from_secs(3 * PERIOD + 1) {
        assert!(
            lab.logs_in(&creds).await,
            "the credential died after {:?}",
            minted.elapsed()
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    assert_eq!(
        gate.token("acme/billing"),
        token,
        "a periodic token needs no re-login"
    );
    assert!(lab.bao.token_alive(&token).await);
    let status = gate.cells["acme/billing"].status();
    assert!(status.renewals >= 3, "{status:?}");
    gate.stop().await;
}
