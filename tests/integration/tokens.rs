//! [tokens] acceptance against a real OpenBao: renewal and re-login under short TTLs, healing
//! after an operator revokes the token (one login for many requests), revocation on
//! shutdown and lockdown, per-service issued tokens, and recovery from a Vault outage.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::gate::{Gate, BROAD_VAULT_POLICY};
use crate::support::openbao::OpenBao;
use crate::support::pki::Pki;
use crate::support::poll_status;

#[tokio::test]
async fn short_ttls_renew_and_relogin_without_a_failed_read() {
    let bao = OpenBao::start().await;
    bao.kv_put("acme/billing/db", json!({"password": "pw"}))
        .await;
    *bao.approle_ttls.lock().unwrap() = (3, 10);
    let pki = Pki::new(&["acme/billing"]);
    let gate = Gate::start(&bao, &pki, &["acme/billing"]).await;
    let client = pki.client_for("acme/billing");
    let url = format!("{}/v1/secret/data/acme/billing/db", gate.url());

    let started = Instant::now();
    let mut reads = 0;
    while started.elapsed() < Duration::from_secs(30) && reads < 400 {
        let status = client.get(&url).send().await.unwrap().status();
        assert_eq!(
            status,
            200,
            "read {reads} at {:?} failed",
            started.elapsed()
        );
        reads += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let status = gate.cells["acme/billing"].status();
    assert!(status.renewals >= 3, "{status:?}");
    assert!(
        status.logins >= 3,
        "max TTL 10 s over 30 s needs re-logins: {status:?}"
    );
    assert_eq!(status.consecutive_failures, 0, "{status:?}");
    let audit = std::fs::read_to_string(bao.dir.path().join("audit.log")).unwrap();
    let renewals = audit.matches("\"path\":\"auth/token/renew-self\"").count();
    let logins = audit.matches("\"path\":\"auth/approle/login\"").count();
    assert!(
        renewals >= 3 && logins >= 4,
        "audit: {renewals} renewals, {logins} logins"
    );
    gate.stop().await;
}

#[tokio::test]
async fn a_revoked_token_heals_with_one_login_for_fifty_concurrent_reads() {
    let bao = OpenBao::start().await;
    bao.kv_put("acme/billing/db", json!({"password": "pw"}))
        .await;
    let pki = Pki::new(&["acme/billing"]);
    let gate = Gate::start(&bao, &pki, &["acme/billing"]).await;
    let url = format!("{}/v1/secret/data/acme/billing/db", gate.url());
    let logins = gate.cells["acme/billing"].status().logins;
    let old = gate.revoke_token(&bao, "acme/billing").await;

    let client = pki.client_for("acme/billing");
    let reads = (0..50).map(|_| {
        let (client, url) = (client.clone(), url.clone());
        tokio::spawn(async move { client.get(url).send().await.unwrap().status().as_u16() })
    });
    for read in reads {
        assert_eq!(read.await.unwrap(), 200);
    }
    assert_eq!(
        gate.cells["acme/billing"].status().logins,
        logins + 1,
        "exactly one re-login"
    );
    assert_ne!(gate.token("acme/billing"), old);
    gate.stop().await;
}

#[tokio::test]
async fn shutdown_and_lockdown_revoke_every_token() {
    let bao = OpenBao::start().await;
    bao.kv_put("acme/billing/db", json!({"password": "pw"}))
        .await;
    let pki = Pki::new(&["acme/billing", "acme/web"]);
    let gate = Gate::start(&bao, &pki, &["acme/billing", "acme/web"]).await;
    let client = pki.client_for("acme/billing");
    let url = format!("{}/v1/secret/data/acme/billing/db", gate.url());

    // Lockdown: every request refused, every token revoked at once.
    let before = gate.token("acme/billing");
    gate.lockdown.set(true).await;
    assert_eq!(poll_status(&client, &url, 503, 50).await, 503);
    for _ in 0..50 {
        if !bao.token_alive(&before).await {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        !bao.token_alive(&before).await,
        "lockdown left the token alive"
    );

    // Unlock: fresh logins, reads work again.
    gate.lockdown.set(false).await;
    assert_eq!(poll_status(&client, &url, 200, 50).await, 200);
    let held = [gate.token("acme/billing"), gate.token("acme/web")];
    assert_ne!(held[0], held[1], "two services must not share a token");
    assert_ne!(held[0], before);

    gate.stop().await;
    for token in &held {
        assert!(!bao.token_alive(token).await, "a token outlived shutdown");
    }
}

#[tokio::test]
async fn issued_tokens_carry_only_their_services_policies() {
    let bao = OpenBao::start().await;
    bao.write_policy("vaultgate-test-broad", BROAD_VAULT_POLICY)
        .await;
    bao.write_policy(
        "billing-vault",
        r#"path "secret/data/acme/billing/*" { capabilities = ["read"] }"#,
    )
    .await;
    bao.write_policy(
        "web-vault",
        r#"path "secret/data/acme/web/*" { capabilities = ["read"] }"#,
    )
    .await;
    bao.kv_put("acme/billing/db", json!({"password": "pw"}))
        .await;
    let pki = Pki::new(&["acme/billing", "acme/web"]);
    let bootstrap = tempfile::tempdir().unwrap();
    let issuer_file = bootstrap.path().join("issuer-token");
    std::fs::write(&issuer_file, "root\n").unwrap();
    let extra = format!(
        r#"
[issuer]
auth = "token_file"
token_file = "{}"

[[service]]
name = "acme/billing"
auth = "issued"
policies = ["billing-vault"]
ttl = "1h"
explicit_max_ttl = "4h"

[[service]]
name = "acme/web"
auth = "issued"
policies = ["web-vault"]
"#,
        issuer_file.display()
    );
    let gate = Gate::builder(&bao, &pki).extra(&extra).start().await;
    for (service, policy) in [("billing", "billing-vault"), ("web", "web-vault")] {
        let token = gate.token(&format!("acme/{service}"));
        let (status, body) = bao.lookup_token(&token).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["data"]["policies"], json!([policy]), "{body}");
        assert_eq!(body["data"]["meta"]["tenant"], "acme");
        assert_eq!(body["data"]["meta"]["service"], service);
        assert_eq!(body["data"]["renewable"], true);
    }
    let client = pki.client_for("acme/billing");
    let url = format!("{}/v1/secret/data/acme/billing/db", gate.url());
    assert_eq!(client.get(url).send().await.unwrap().status(), 200);
    let billing = gate.token("acme/billing");
    gate.stop().await;
    assert!(!bao.token_alive(&billing).await);
    assert!(
        bao.token_alive("root").await,
        "a token_file issuer is not revoked by default"
    );
}

#[tokio::test]
async fn the_proxy_recovers_from_a_vault_restart_and_backs_off_meanwhile() {
    let mut bao = OpenBao::start().await;
    bao.kv_put("acme/billing/db", json!({"password": "pw"}))
        .await;
    *bao.approle_ttls.lock().unwrap() = (3, 0);
    let pki = Pki::new(&["acme/billing"]);
    let gate = Gate::start(&bao, &pki, &["acme/billing"]).await;
    let client = pki.client_for("acme/billing");
    let url = format!("{}/v1/secret/data/acme/billing/db", gate.url());
    assert_eq!(client.get(&url).send().await.unwrap().status(), 200);
    bao.kill();
    let failures = gate.cells["acme/billing"].status().failures;
    let down = Instant::now();
    while down.elapsed() < Duration::from_secs(10) {
        // Past the cache (stale_if_error is off by default anyway): Vault's state is tested.
        let resp = client
            .get(&url)
            .header("cache-control", "no-cache")
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let body: serde_json::Value = resp.json().await.unwrap();
        // 502 while the token is still valid, 503 once it expired with Vault unreachable.
        assert!(status == 502 || status == 503, "{status} {body}");
        assert!(
            body["errors"][0]
                .as_str()
                .unwrap()
                .starts_with("vaultgate:"),
            "{body}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let attempts = gate.cells["acme/billing"].status().failures - failures;
    // Backoff 1 s, 2 s, 4 s … over 10 s: a handful of attempts, not a flood.
    assert!(
        (1..=8).contains(&attempts),
        "{attempts} renewal/login attempts while down"
    );

    // Dev mode restarts empty: recreate the role with the same credentials, as an operator
    // restoring Vault would.
    bao.restart().await;
    gate.reseed(&bao).await;
    bao.kv_put("acme/billing/db", json!({"password": "pw"}))
        .await;
    let status = poll_status(&client, &url, 200, 200).await;
    assert_eq!(status, 200, "no recovery within 20 s of the restart");
    gate.stop().await;
}

/// Tokens alive in OpenBao that carry the test services' Vault policy.
async fn service_tokens(bao: &OpenBao) -> usize {
    let (_, list) = bao.api("LIST", "auth/token/accessors", None, "root").await;
    let mut count = 0;
    for accessor in list["data"]["keys"].as_array().cloned().unwrap_or_default() {
        let (status, body) = bao
            .lookup_accessor(accessor.as_str().unwrap_or_default())
            .await;
        if status == 200 && body["data"]["policies"] == json!(["vaultgate-test-broad"]) {
            count += 1;
        }
    }
    count
}

#[tokio::test]
async fn sigterm_lets_requests_finish_revokes_and_exits_zero() {
    let bao = OpenBao::start().await;
    bao.kv_put(
        "acme/billing/db",
        json!({"password": "sigterm-secret-value"}),
    )
    .await;
    bao.kv_put("acme/web/key", json!({"k": "web-secret-value"}))
        .await;
    let pki = Pki::new(&["acme/billing", "acme/web"]);
    // A token file service with a known token, so the logs can be searched for it.
    bao.write_policy("vaultgate-test-broad", BROAD_VAULT_POLICY)
        .await;
    let web_token = bao
        .create_token(&["vaultgate-test-broad", "log-check"], true)
        .await;
    let services = [("acme/web", web_token.as_str())];
    let (dir, config) = Gate::builder(&bao, &pki)
        .services(&["acme/billing"])
        .token_services(&services)
        .write()
        .await;
    let log = dir.path().join("vaultgate.log");
    let port = crate::support::openbao::free_port();
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace("127.0.0.1:0", &format!("127.0.0.1:{port}")),
    )
    .unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_vaultgate"))
        .args(["run", "--config"])
        .arg(&config)
        // Everything, hyper and rustls included, so the no-secrets check covers it all.
        .env("VAULTGATE_LOG", "trace")
        .stderr(std::fs::File::create(&log).unwrap())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let client = pki.client_for("acme/billing");
    let url = format!("https://127.0.0.1:{port}/v1/secret/data/acme/billing/db");
    let status = poll_status(&client, &url, 200, 200).await;
    assert_eq!(status, 200, "vaultgate did not come up");
    assert_eq!(service_tokens(&bao).await, 1);
    let web = pki.client_for("acme/web");
    let web_url = format!("https://127.0.0.1:{port}/v1/secret/data/acme/web/key");
    assert_eq!(web.get(web_url).send().await.unwrap().status(), 200);

    // Requests in flight when SIGTERM arrives still complete.
    let in_flight: Vec<_> = (0..20)
        .map(|_| {
            let (client, url) = (client.clone(), url.clone());
            tokio::spawn(async move { client.get(url).send().await.map(|r| r.status().as_u16()) })
        })
        .collect();
    assert_eq!(crate::support::sigterm(&mut child).await, Some(0));
    for request in in_flight {
        // A request either completed (200) or never got in (connection refused): none failed
        // half-way.
        if let Ok(status) = request.await.unwrap() {
            assert_eq!(status, 200);
        }
    }
    assert_eq!(
        service_tokens(&bao).await,
        0,
        "a token outlived the process"
    );
    drop(dir);
}

#[tokio::test]
async fn a_rewritten_token_file_is_picked_up_without_a_restart() {
    let bao = OpenBao::start().await;
    bao.kv_put("acme/billing/db", json!({"password": "pw"}))
        .await;
    bao.write_policy("vaultgate-test-broad", BROAD_VAULT_POLICY)
        .await;
    let first = bao.create_token(&["vaultgate-test-broad"], true).await;
    let pki = Pki::new(&["acme/billing"]);
    let gate = Gate::builder(&bao, &pki)
        .token_services(&[("acme/billing", &first)])
        .start()
        .await;
    assert_eq!(gate.token("acme/billing"), first);

    // The platform rotates the token file in place (as a sidecar or the kubelet would).
    let second = bao.create_token(&["vaultgate-test-broad"], true).await;
    std::fs::write(gate.dir().join("acme-billing.token"), format!("{second}\n")).unwrap();
    let mut held = String::new();
    for _ in 0..50 {
        held = gate.token("acme/billing");
        if held == second {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        held, second,
        "the new token file was not picked up within 5 s"
    );
    let client = pki.client_for("acme/billing");
    let url = format!("{}/v1/secret/data/acme/billing/db", gate.url());
    assert_eq!(client.get(url).send().await.unwrap().status(), 200);
    gate.stop().await;
    assert!(
        bao.token_alive(&first).await,
        "a token file's token is not vaultgate's to revoke"
    );
}
