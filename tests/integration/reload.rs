//! [policy-authoring] hot reload: editing a tenant file under load changes decisions within
//! 2 s with no failed request; a broken file changes nothing; fixing it applies.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::gate::Gate;
use crate::support::openbao::OpenBao;
use crate::support::pki::Pki;

const GRANT: &str = r#"path "secret/data/{{tenant}}/{{service}}/*" { capabilities = ["read"] }
"#;
const REVOKED: &str = r#"path "secret/data/{{tenant}}/{{service}}/other" { capabilities = ["read"] }
"#;
const BROKEN: &str = r#"path "secret/data/{{tenant}}/{{service}}/*" {
  capabilities = ["READ"]
}
"#;

/// Reads continuously until `want` is seen or 5 s pass; every answer must be 200 or 403.
async fn until(client: &reqwest::Client, url: &str, want: u16) -> Duration {
    let started = Instant::now();
    for _ in 0..5000 {
        let status = client
            .get(url)
            .send()
            .await
            .expect("request failed")
            .status();
        assert!(status == 200 || status == 403, "unexpected status {status}");
        if status == want {
            return started.elapsed();
        }
        if started.elapsed() > Duration::from_secs(5) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("status {want} not seen within 5 s");
}

#[tokio::test]
async fn policy_edits_apply_under_load_and_a_broken_file_changes_nothing() {
    let bao = OpenBao::start().await;
    bao.kv_put("acme/billing/db", json!({"password": "pw"}))
        .await;
    let pki = Pki::new(&["acme/billing"]);
    let policies = tempfile::tempdir().unwrap();
    let file = policies.path().join("acme.hcl");
    std::fs::write(&file, GRANT).unwrap();
    let gate = Gate::builder(&bao, &pki)
        .services(&["acme/billing"])
        .policies(policies.path())
        .start()
        .await;
    let client = pki.client_for("acme/billing");
    let url = format!("{}/v1/secret/data/acme/billing/db", gate.url());
    until(&client, &url, 200).await;

    std::fs::write(&file, REVOKED).unwrap();
    let took = until(&client, &url, 403).await;
    assert!(took < Duration::from_secs(2), "revocation took {took:?}");

    // A broken edit is rejected; the last good set (the revocation) stays in force.
    std::fs::write(&file, GRANT).unwrap();
    until(&client, &url, 200).await;
    std::fs::write(&file, BROKEN).unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    for _ in 0..20 {
        let status = client.get(&url).send().await.unwrap().status();
        assert_eq!(status, 200, "a broken file changed decisions");
    }
    std::fs::write(&file, REVOKED).unwrap();
    let took = until(&client, &url, 403).await;
    assert!(took < Duration::from_secs(2), "fix took {took:?}");
    gate.stop().await;
}
