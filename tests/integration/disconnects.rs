//! [security] #15: a request that reached Vault is audited exactly once whatever the client
//! does afterwards: HTTP/1 connections reset right after the request was sent, HTTP/2
//! streams reset mid-flight, and a slow PKI key generation cancelled by its caller.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;

use crate::support::gate::{Gate, BROAD_VAULT_POLICY};
use crate::support::openbao::OpenBao;
use crate::support::pki::Pki;

/// vaultgate's request records by path, counted.
fn gate_records(file: &std::path::Path) -> HashMap<String, usize> {
    let mut by_path = HashMap::new();
    for line in std::fs::read_to_string(file).unwrap().lines() {
        let record: Value = serde_json::from_str(line).unwrap();
        if let Some(path) = record["operation"]["path"].as_str() {
            *by_path.entry(path.to_owned()).or_default() += 1;
        }
    }
    by_path
}

/// OpenBao's request records (its own file audit) by path, counted.
fn vault_records(bao: &OpenBao) -> HashMap<String, usize> {
    let mut by_path = HashMap::new();
    for line in bao.audit_log().lines() {
        let record: Value = serde_json::from_str(line).unwrap();
        if record["type"] == "request" {
            let path = record["request"]["path"].as_str().unwrap_or("").to_owned();
            *by_path.entry(path).or_default() += 1;
        }
    }
    by_path
}

/// A small spread of delays from 0.5 to 4 ms, different per request.
fn delay(i: u64) -> Duration {
    Duration::from_micros(500 + (i * 7_919) % 3_500)
}

#[tokio::test]
async fn requests_the_client_abandons_are_audited_exactly_once() {
    let bao = OpenBao::start().await;
    bao.write_policy("vaultgate-test-broad", BROAD_VAULT_POLICY)
        .await;
    let pki_engine = json!({"type": "pki"});
    let (status, v) = bao
        .api("POST", "sys/mounts/pki", Some(pki_engine), "root")
        .await;
    assert!(status < 300, "{v}");
    let broad_pki = "path \"pki/*\" { capabilities = [\"create\", \"update\", \"read\"] }\n";
    bao.write_policy("pki", broad_pki).await;
    let token = bao
        .create_token(&["vaultgate-test-broad", "pki"], true)
        .await;
    let pki = Pki::new(&["acme/billing"]);
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/acme.hcl"),
        dir.path().join("acme.hcl"),
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("acme")).unwrap();
    std::fs::write(
        dir.path().join("acme/billing.hcl"),
        "path \"pki/root/generate/internal\" { capabilities = [\"create\", \"update\"] }\n",
    )
    .unwrap();
    let audit = dir.path().join("audit.jsonl");
    let extra = format!("\n[audit]\nfile = \"{}\"\n", audit.display());
    let gate = Gate::builder(&bao, &pki)
        .token_services(&[("acme/billing", &token)])
        .policies(dir.path())
        .extra(&extra)
        .start()
        .await;
    bao.kv_put("acme/billing/warm", json!({"v": 1})).await;

    // HTTP/1: a whole request, then a TCP reset a moment later.
    let body = r#"{"data":{"k":"v"}}"#;
    let mut sends = Vec::new();
    for i in 0..200u64 {
        let config = pki.tls_config("acme/billing", b"http/1.1");
        let address = gate.address.clone();
        sends.push(tokio::spawn(async move {
            let mut tls = crate::support::pki::connect_with(config, &address).await;
            let request = format!(
                "POST /v1/secret/data/acme/billing/reset-{i} HTTP/1.1\r\nHost: localhost\r\n\
                 Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            tls.write_all(request.as_bytes()).await.unwrap();
            tls.flush().await.unwrap();
            tokio::time::sleep(delay(i)).await;
            let (tcp, _) = tls.get_ref();
            tcp.set_zero_linger().unwrap();
        }));
    }
    for s in sends {
        s.await.unwrap();
    }

    // HTTP/2: streams dropped (RST_STREAM) while vaultgate is forwarding them.
    let client = pki.client_for("acme/billing");
    for i in 0..50u64 {
        let url = format!("{}/v1/secret/data/acme/billing/stream-{i}", gate.url());
        let send = client.post(url).json(&json!({"data": {"k": "v"}})).send();
        let _ = tokio::time::timeout(delay(i * 13), send).await;
    }

    // A slow key generation whose caller gives up after 50 ms.
    let generate = client
        .post(format!("{}/v1/pki/root/generate/internal", gate.url()))
        .json(&json!({"common_name": "slow", "key_type": "rsa", "key_bits": 4096}))
        .send();
    assert!(
        tokio::time::timeout(Duration::from_millis(50), generate)
            .await
            .is_err(),
        "the key generation answered within 50 ms; it cannot test a cancelled exchange"
    );

    // Shutdown drains every exchange still under way and flushes the audit log.
    gate.stop().await;
    let ours = gate_records(&audit);
    let theirs = vault_records(&bao);
    let mut reached = 0;
    for (path, count) in &theirs {
        let tested = path.contains("/reset-")
            || path.contains("/stream-")
            || path == "pki/root/generate/internal";
        if !tested {
            continue;
        }
        reached += count;
        assert_eq!(
            ours.get(path),
            Some(count),
            "{path}: OpenBao recorded {count} request(s), vaultgate {:?}",
            ours.get(path)
        );
    }
    assert!(
        theirs.contains_key("pki/root/generate/internal"),
        "the cancelled key generation never reached OpenBao"
    );
    // The resets must actually have raced the exchanges: some reached Vault.
    assert!(
        reached > 10,
        "only {reached} abandoned requests reached OpenBao"
    );
    for (path, count) in &ours {
        assert!(*count <= 1, "{path}: {count} vaultgate records");
    }
}
