//! Lease audit: the minting read and every renew, lookup and revoke record carry the lease
//! id's HMAC (never the id, in the audit file or the logs, URL forms included), and OpenBao's
//! own audit record of a request carries vaultgate's request id, so the two trails join.

use std::collections::HashMap;

use serde_json::{json, Value};

use super::{audit_records, audit_section, first_mint, hmac, mint, run_binary, send, Lab};
use crate::support::openbao::DISCOVERY_PATHS;

/// vaultgate's read of the server's OpenAPI document (`src/discovery.rs`).
const OPENAPI: &str = DISCOVERY_PATHS[0];

#[tokio::test]
async fn lease_records_carry_hmacs_never_ids_and_join_openbaos_audit() {
    let roles = [("acme-app", "2m", "10m"), ("globex-app", "2m", "10m")];
    let lab = Lab::start(&["acme/billing", "globex/api"], &roles).await;
    // The one OpenBao command the docs give: record vaultgate's header in Vault's audit.
    let (status, body) = lab
        .bao
        .api(
            "POST",
            "sys/config/auditing/request-headers/x-vaultgate-request-id",
            Some(json!({ "hmac": false })),
            "root",
        )
        .await;
    assert!(status < 300, "{status} {body}");
    let logs = tempfile::tempdir().unwrap();
    let (extra, audit) = audit_section(logs.path());
    let (dir, config) = lab.gate().extra(&extra).write().await;
    let log = logs.path().join("vaultgate.log");
    // Everything, dependencies included, so that the no-lease-id check covers every line.
    let (mut child, base) = run_binary(&config, &log, "trace");
    let billing = lab.pki.client_for("acme/billing");
    let theirs = first_mint(&lab.pki.client_for("globex/api"), &base, "globex-app").await;
    // Lease calls are decided with what the server marks sudo, as in the steady state: once
    // OpenBao has answered vaultgate's first read of its OpenAPI document for both services.
    // Matched as text: those records hold the whole document and parse slowly. Bounded
    // generously: on a loaded run the trace-logging debug binary once took over 30 s.
    let openapi = format!("\"path\":\"{OPENAPI}\"");
    let read = crate::support::eventually(std::time::Duration::from_secs(120), || async {
        let answers = lab
            .bao
            .audit_log()
            .lines()
            .filter(|l| l.contains("\"type\":\"response\"") && l.contains(&openapi))
            .count();
        (answers >= 2).then_some(())
    })
    .await;
    assert!(
        read.is_some(),
        "vaultgate did not read the OpenAPI document"
    );
    let creds = mint(&billing, &base, "acme-app").await;
    let id = creds.lease_id.as_str();

    // (request id, the lease action its record must carry)
    let mut expected = vec![(creds.request_id.clone(), "issued")];
    let operations = [
        (
            "sys/leases/renew".to_owned(),
            Some(json!({ "lease_id": id, "increment": 120 })),
            "renewed",
        ),
        (format!("sys/leases/renew/{id}"), None, "renewed"),
        (
            "sys/leases/lookup".to_owned(),
            Some(json!({ "lease_id": id })),
            "lookup",
        ),
        (format!("sys/leases/revoke/{id}"), None, "revoked"),
    ];
    for (path, body, action) in operations {
        let (status, text, request_id) = send(&billing, &base, "PUT", &path, body).await;
        assert!(status < 300, "PUT {path}: {status} {text}");
        expected.push((request_id, action));
    }
    // A refused URL-form operation on another service's lease: its id stays out too, and the
    // record names the lease it aimed at by HMAC, for whoever investigates the attempt.
    let target = format!("sys/leases/revoke/{}", theirs.lease_id);
    let (status, _, refused_id) = send(&billing, &base, "PUT", &target, None).await;
    assert_eq!(status, 403);
    assert_eq!(crate::support::sigterm(&mut child).await, Some(0));

    let records = audit_records(&audit);
    let by_id: HashMap<&str, &Value> = records
        .iter()
        .filter(|r| r["type"] == "request")
        .map(|r| (r["request_id"].as_str().unwrap(), r))
        .collect();
    for (request_id, action) in &expected {
        let record = by_id[request_id.as_str()];
        let lease = &record["lease"];
        assert_eq!(lease["action"], json!(action), "{record}");
        assert_eq!(lease["id_hmac"], json!(hmac(id)), "{record}");
    }
    let refused = by_id[refused_id.as_str()];
    assert_eq!(refused["decision"]["allowed"], json!(false), "{refused}");
    assert_eq!(
        refused["lease"]["id_hmac"],
        json!(hmac(&theirs.lease_id)),
        "{refused}"
    );
    let issued = &by_id[creds.request_id.as_str()]["lease"];
    assert_eq!(issued["ttl_s"], json!(creds.ttl), "{issued}");
    assert_eq!(issued["renewable"], json!(true), "{issued}");
    let renewed = &by_id[expected[1].0.as_str()]["lease"];
    assert_eq!(renewed["ttl_s"], json!(120), "{renewed}");

    let audit_text = std::fs::read_to_string(&audit).unwrap();
    let log_text = std::fs::read_to_string(&log).unwrap();
    for lease in [&creds, &theirs] {
        for (what, text) in [("audit", &audit_text), ("log", &log_text)] {
            assert!(
                !text.contains(lease.lease_secret()),
                "a lease id in vaultgate's {what}"
            );
        }
    }

    // Vault's record of each forwarded request names vaultgate's request id.
    let joined: Vec<Value> = lab
        .openbao_records()
        .into_iter()
        .filter(|r| r["type"] == "request")
        .map(|r| r["request"]["headers"]["x-vaultgate-request-id"].clone())
        .collect();
    for (request_id, action) in &expected {
        assert!(
            joined.contains(&json!([request_id])),
            "no OpenBao audit record names {request_id} ({action})"
        );
    }
    drop(dir);
}
