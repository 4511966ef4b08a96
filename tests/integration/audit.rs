//! [audit] one JSON record per request, matching the response's request id, with no secret
//! in it; and fail-closed: no answer is released that could not be recorded.

use std::path::Path;

use serde_json::{json, Value};

use crate::support::gate::{Gate, BROAD_VAULT_POLICY};
use crate::support::openbao::OpenBao;
use crate::support::pki::Pki;

fn records(file: &Path) -> Vec<Value> {
    std::fs::read_to_string(file)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("every audit line is JSON"))
        .collect()
}

#[tokio::test]
async fn every_request_has_exactly_one_record_and_no_secret() {
    let bao = OpenBao::start().await;
    bao.write_policy("vaultgate-test-broad", BROAD_VAULT_POLICY)
        .await;
    bao.kv_put("acme/billing/db", json!({"password": "audit-secret-value"}))
        .await;
    let token = bao.create_token(&["vaultgate-test-broad"], true).await;
    let pki = Pki::new(&["acme/billing"]);
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.jsonl");
    let extra = format!("\n[audit]\nfile = \"{}\"\n", audit.display());
    let gate = Gate::builder(&bao, &pki)
        .token_services(&[("acme/billing", &token)])
        .extra(&extra)
        .start()
        .await;
    let client = pki.client_for("acme/billing");
    let base = gate.url();
    let targets = [
        ("GET", "secret/data/acme/billing/db", 200),
        ("GET", "secret/data/acme/web/key", 403),
        ("GET", "secret/data/acme/billing%2F%2Fdb", 400),
        ("POST", "secret/data/acme/billing/new", 200),
    ];
    let mut ids = Vec::new();
    let batches = 50;
    for _ in 0..batches {
        let requests = targets.iter().map(|(method, path, want)| {
            let client = client.clone();
            let url = format!("{base}/v1/{path}");
            let (method, want) = (*method, *want);
            tokio::spawn(async move {
                let req = if method == "POST" {
                    client
                        .post(url)
                        .json(&json!({"data": {"k": "audit-written-value"}}))
                } else {
                    client.get(url)
                };
                let resp = req.send().await.unwrap();
                assert_eq!(resp.status().as_u16(), want);
                resp.headers()["x-vaultgate-request-id"]
                    .to_str()
                    .unwrap()
                    .to_owned()
            })
        });
        for r in requests.collect::<Vec<_>>() {
            ids.push(r.await.unwrap());
        }
    }
    gate.stop().await;

    let all = records(&audit);
    let requests: Vec<&Value> = all.iter().filter(|r| r["type"] == "request").collect();
    assert_eq!(requests.len(), ids.len(), "one record per request");
    let mut recorded: Vec<&str> = requests
        .iter()
        .map(|r| r["request_id"].as_str().unwrap())
        .collect();
    recorded.sort_unstable();
    ids.sort_unstable();
    assert_eq!(recorded, ids);
    for r in &requests {
        assert_eq!(r["version"], 1);
        assert_eq!(r["caller"]["tenant"], "acme");
    }
    let denied = requests
        .iter()
        .find(|r| r["decision"]["allowed"] == false)
        .unwrap();
    assert!(denied["decision"]["reason"]
        .as_str()
        .unwrap()
        .contains("no rule matches"));
    let forwarded = requests
        .iter()
        .find(|r| r["upstream"]["status"] == 200)
        .unwrap();
    assert!(forwarded["upstream"]["token_hmac"]
        .as_str()
        .unwrap()
        .starts_with("hmac-sha256:"));
    let events: Vec<&str> = all
        .iter()
        .filter_map(|r| r["event"]["name"].as_str())
        .collect();
    assert!(
        events.contains(&"startup") && events.contains(&"shutdown"),
        "{events:?}"
    );

    let text = std::fs::read_to_string(&audit).unwrap();
    for secret in [token.as_str(), "audit-secret-value", "audit-written-value"] {
        assert!(!text.contains(secret), "a secret reached the audit log");
    }
}

#[tokio::test]
async fn an_audit_sink_that_cannot_write_turns_answers_into_503_until_it_recovers() {
    let bao = OpenBao::start().await;
    bao.kv_put("acme/billing/db", json!({"password": "pw"}))
        .await;
    let pki = Pki::new(&["acme/billing"]);
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("audit.jsonl");
    let link = dir.path().join("audit-link");
    // The sink's path points at a device where every write fails with ENOSPC (a full disk).
    std::os::unix::fs::symlink("/dev/full", &link).unwrap();
    let extra = format!("\n[audit]\nfile = \"{}\"\n", link.display());
    let gate = Gate::builder(&bao, &pki)
        .services(&["acme/billing"])
        .extra(&extra)
        .start()
        .await;
    let client = pki.client_for("acme/billing");
    let url = format!("{}/v1/secret/data/acme/billing/db", gate.url());
    let before = bao.audit_requests();
    let resp = client.get(&url).send().await.unwrap();
    assert_eq!(resp.status(), 503);
    let body: Value = resp.json().await.unwrap();
    assert!(
        body["errors"][0].as_str().unwrap().contains("audit"),
        "{body}"
    );
    assert!(
        !body.to_string().contains("pw"),
        "the unaudited answer leaked its data"
    );

    // The disk has room again: the sink reopens its path and service resumes by itself.
    std::fs::remove_file(&link).unwrap();
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let resp = client.get(&url).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    gate.stop().await;
    let recorded = records(&real);
    assert!(recorded.iter().any(|r| r["response"]["status"] == 200));
    assert!(bao.audit_requests() > before);
}

/// [fidelity] #16: a request refused before it was classified (a content encoding Vault
/// would not read, a wrap TTL given twice) is audited with its target as received and the
/// reason, so an operator sees what was refused.
#[tokio::test]
async fn early_refusals_are_audited_with_their_target() {
    let bao = OpenBao::start().await;
    let pki = Pki::new(&["acme/billing"]);
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.jsonl");
    let extra = format!("\n[audit]\nfile = \"{}\"\n", audit.display());
    let gate = Gate::builder(&bao, &pki)
        .services(&["acme/billing"])
        .extra(&extra)
        .start()
        .await;
    let client = pki.client_for("acme/billing");
    let target = "/v1/secret/data/acme/billing/db?version=1";
    let resp = client
        .post(format!("{}{target}", gate.url()))
        .header("content-encoding", "gzip")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 415);
    let id = resp.headers()["x-vaultgate-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let resp = client
        .get(format!("{}/v1/secret/data/acme/billing/db", gate.url()))
        .header("x-vault-wrap-ttl", "30s")
        .header("x-vault-wrap-ttl", "0")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    gate.stop().await;

    let all = records(&audit);
    let refused = all
        .iter()
        .find(|r| r["request_id"] == id.as_str())
        .expect("the 415 is audited");
    assert_eq!(refused["operation"]["method"], "POST");
    assert_eq!(refused["operation"]["target"], target, "{refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .is_some_and(|e| e.contains("Content-Encoding")),
        "{refused}"
    );
    assert!(
        all.iter().any(|r| r["response"]["status"] == 400
            && r["operation"]["target"] == "/v1/secret/data/acme/billing/db"),
        "{all:?}"
    );
}
