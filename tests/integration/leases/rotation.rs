//! Token rotation keeps credentials alive: a service token replaced at its max TTL is not
//! revoked while leases minted under it live (Vault would revoke them with it), but once the
//! last of them ended; and a periodic token keeps a credential alive across many renewals.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;

use super::{audit_records, audit_section, hmac, mint, send, Creds, Lab};
use crate::support::eventually;
use crate::support::gate::Gate;

#[tokio::test]
async fn a_replaced_token_lives_while_its_leases_do_and_is_revoked_after_the_last() {
    // token_ttl 15 s, max 23 s: the first renewal (at about 10 s) is capped, so vaultgate logs
    // in again at about 18 s, which leaves a replaced token 3 s or more of its own life. The
    // credentials (60 s) outlast it.
    let services = ["acme/billing", "acme/web"];
    let lab = Lab::start(&services, &[("acme-app", "60s", "60s")]).await;
    *lab.bao.approle_ttls.lock().unwrap() = (15, 23);
    let logs = tempfile::tempdir().unwrap();
    let (extra, audit) = audit_section(logs.path());
    let gate = lab.gate().extra(&extra).start().await;
    // Both services rotate at about the same time; each is watched on its own.
    tokio::join!(
        kept_to_its_natural_end(&lab, &gate, "acme/billing"),
        revoked_after_its_last_lease(&lab, &gate, &audit, "acme/web"),
    );
    gate.stop().await;
}

/// Waits (at most 25 s) until vaultgate holds another token than `old` for `service`.
async fn rotated(gate: &Gate, service: &str, old: &str) {
    let replaced = eventually(Duration::from_secs(25), || async {
        (gate.token(service) != old).then_some(())
    })
    .await;
    assert!(replaced.is_some(), "{service}: no new login within 25 s");
}

/// A credential minted under a token that is then replaced keeps working until the token's
/// natural expiry, when Vault ends it with the token.
async fn kept_to_its_natural_end(lab: &Lab, gate: &Gate, service: &str) {
    let client = lab.pki.client_for(service);
    let old = gate.token(service);
    let creds = mint(&client, &gate.url(), "acme-app").await;
    rotated(gate, service, &old).await;
    assert!(
        lab.bao.token_alive(&old).await,
        "{service}: the replaced token was revoked although a lease minted under it lives"
    );
    assert!(lab.lease_known(&creds.lease_id).await);
    assert!(
        lab.logs_in(&creds).await,
        "{service}: the credential died with the rotation"
    );

    // Until the old token's natural expiry (its max TTL, which Vault enforces) the credential
    // works: a failed login while the token still lives afterwards means it was revoked early.
    let ended = eventually(Duration::from_secs(25), || async {
        let logged_in = lab.logs_in(&creds).await;
        let alive = lab.bao.token_alive(&old).await;
        assert!(
            logged_in || !alive,
            "{service}: the credential stopped while its token lived"
        );
        (!alive).then_some(())
    })
    .await;
    assert!(
        ended.is_some(),
        "{service}: the replaced token outlived its max TTL"
    );
    // Then Vault revokes the token's leases with it: the documented limit that makes periodic
    // tokens the advice for services with dynamic secrets.
    let gone = eventually(Duration::from_secs(10), || async {
        (!lab.logs_in(&creds).await).then_some(())
    })
    .await;
    assert!(
        gone.is_some(),
        "{service}: the credential outlived its token"
    );
}

/// A replaced token is revoked by vaultgate once the last lease minted under it was revoked,
/// not before, and before its own expiry.
async fn revoked_after_its_last_lease(lab: &Lab, gate: &Gate, audit: &Path, service: &str) {
    let client = lab.pki.client_for(service);
    let old = gate.token(service);
    let minted = [
        mint(&client, &gate.url(), "acme-app").await,
        mint(&client, &gate.url(), "acme-app").await,
    ];
    rotated(gate, service, &old).await;
    let (status, lookup) = lab.bao.lookup_token(&old).await;
    assert_eq!(
        status, 200,
        "{service}: the replaced token is gone at once: {lookup}"
    );

    let revoke = |creds: &Creds| {
        let body = json!({ "lease_id": creds.lease_id });
        let (client, base) = (client.clone(), gate.url());
        async move { send(&client, &base, "PUT", "sys/leases/revoke", Some(body)).await }
    };
    let (status, text, _) = revoke(&minted[0]).await;
    assert_eq!(status, 204, "{text}");
    assert!(
        lab.bao.token_alive(&old).await,
        "{service}: revoked while a lease minted under it lived"
    );
    let (status, text, _) = revoke(&minted[1]).await;
    assert_eq!(status, 204, "{text}");
    // vaultgate's own revocation, not the token's expiry: its audit event names the token.
    let old_hmac = json!(hmac(&old));
    let revoked = eventually(Duration::from_secs(5), || async {
        audit_records(audit)
            .iter()
            .any(|r| {
                r["type"] == "event"
                    && r["event"]["name"] == "revocation"
                    && r["event"]["token_hmac"] == old_hmac
            })
            .then_some(())
    })
    .await;
    assert!(
        revoked.is_some(),
        "{service}: the replaced token was not revoked after its last lease ended"
    );
    assert!(!lab.bao.token_alive(&old).await);
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
