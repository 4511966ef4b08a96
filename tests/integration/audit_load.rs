//! [audit] acceptance under load: 20,000 concurrent mixed requests (allowed reads and
//! writes, denied, refused as malformed) leave exactly one parseable record per request in
//! the audit file, each with its response's request id and status.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use serde_json::{json, Value};

use crate::support::gate::Gate;
use crate::support::openbao::OpenBao;
use crate::support::pki::Pki;

const REQUESTS: usize = 20_000;
const WORKERS: usize = 48;
/// Separate clients, so the load arrives over several connections, not one multiplexed one.
const CLIENTS: usize = 8;

#[tokio::test]
async fn twenty_thousand_mixed_requests_have_one_record_each() {
    let bao = OpenBao::start().await;
    bao.kv_put("acme/billing/db", json!({"password": "pw"}))
        .await;
    let pki = Pki::new(&["acme/billing"]);
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.jsonl");
    let extra = format!("\n[audit]\nfile = \"{}\"\n", audit.display());
    let gate = Gate::builder(&bao, &pki)
        .services(&["acme/billing"])
        .extra(&extra)
        .start()
        .await;
    let clients: Vec<reqwest::Client> = (0..CLIENTS)
        .map(|_| pki.client_for("acme/billing"))
        .collect();
    let base: Arc<str> = format!("{}/v1/secret/data/acme", gate.url()).into();

    let started = Instant::now();
    let workers: Vec<_> = (0..WORKERS)
        .map(|w| {
            let (client, base) = (clients[w % CLIENTS].clone(), base.clone());
            tokio::spawn(async move {
                let mut seen = Vec::new();
                for i in (w..REQUESTS).step_by(WORKERS) {
                    // Of every 10: 4 allowed reads, 1 write, 3 denied, 2 malformed.
                    let (req, want) = match i % 10 {
                        0..=3 => (client.get(format!("{base}/billing/db")), 200),
                        4 => (
                            client
                                .post(format!("{base}/billing/load"))
                                .json(&json!({"data": {"i": i}})),
                            200,
                        ),
                        5..=7 => (client.get(format!("{base}/web/key")), 403),
                        _ => (client.get(format!("{base}/billing%2F%2Fdb")), 400),
                    };
                    let resp = req.send().await.unwrap();
                    let status = resp.status().as_u16();
                    assert_eq!(status, want, "request {i}");
                    let id = resp.headers()["x-vaultgate-request-id"]
                        .to_str()
                        .unwrap()
                        .to_owned();
                    seen.push((id, status));
                }
                seen
            })
        })
        .collect();
    let mut answered = HashMap::new();
    for w in workers {
        for (id, status) in w.await.unwrap() {
            assert!(
                answered.insert(id, status).is_none(),
                "a request id repeated"
            );
        }
    }
    eprintln!(
        "{REQUESTS} requests over {WORKERS} workers in {:?}",
        started.elapsed()
    );
    gate.stop().await;

    assert_eq!(answered.len(), REQUESTS);
    let text = std::fs::read_to_string(&audit).unwrap();
    let mut recorded = HashMap::new();
    for line in text.lines() {
        let r: Value = serde_json::from_str(line).expect("every audit line is JSON");
        if r["type"] != "request" {
            continue;
        }
        let id = r["request_id"].as_str().unwrap().to_owned();
        let status = r["response"]["status"].as_u64().unwrap();
        assert!(recorded.insert(id, status).is_none(), "a record repeated");
    }
    assert_eq!(recorded.len(), REQUESTS, "one record per request");
    for (id, status) in &answered {
        assert_eq!(recorded.get(id), Some(&u64::from(*status)), "request {id}");
    }
}
