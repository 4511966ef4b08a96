//! [hardening] fault injection with a real OpenBao: killed and restarted under load, frozen
//! (SIGSTOP), answers cut or frozen mid-response by a relay, the service token revoked under
//! load. Each time the proxy answers clear Vault-style errors, heals by itself, and the audit
//! file holds a record for every answer given. The failing audit sink is covered in
//! `audit.rs` (`/dev/full`), expiry and re-login in `tokens.rs`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use crate::support::gate::Gate;
use crate::support::openbao::OpenBao;
use crate::support::pki::Pki;
use crate::support::poll_status;
use crate::support::relay::{Fault, Relay};

const SERVICE: &str = "acme/billing";
/// A bound on every test request, far above the upstream timeouts used here: a request that
/// reaches it has hung, which is a failure, not a slow answer.
const HANG: Duration = Duration::from_secs(20);
/// Upper bound on requests per load worker, so the load loop is bounded in count too.
const MAX_PER_WORKER: usize = 2000;

/// What one request got: a status with vaultgate's request id and the JSON body, or a
/// transport failure (reset, truncated body, hang).
#[derive(Debug, Clone)]
enum Answer {
    Http {
        status: u16,
        id: Option<String>,
        body: Value,
    },
    /// What went wrong, read only in a failing assertion's `Debug` output.
    Broken(#[expect(dead_code, reason = "shown by Debug in failures")] String),
}

async fn ask(req: reqwest::RequestBuilder) -> Answer {
    let resp = match req.timeout(HANG).send().await {
        Ok(r) => r,
        Err(e) => {
            assert!(!e.is_timeout(), "a request hung for {HANG:?}");
            return Answer::Broken(format!("send: {e}"));
        }
    };
    let status = resp.status().as_u16();
    let id = resp
        .headers()
        .get("x-vaultgate-request-id")
        .map(|v| v.to_str().unwrap().to_owned());
    match resp.bytes().await {
        Ok(b) => Answer::Http {
            status,
            id,
            body: serde_json::from_slice(&b).unwrap_or(Value::Null),
        },
        Err(e) => {
            assert!(!e.is_timeout(), "a {status} body hung for {HANG:?}");
            Answer::Broken(format!("{status} body: {e}; id {id:?}"))
        }
    }
}

/// The answers a fault may produce: success, Vault's own answers while it is being restored
/// (`extra`), or vaultgate's own Vault-style error with one of `errors`.
fn check(answer: &Answer, errors: &[u16], extra: &[u16]) {
    let Answer::Http { status, id, body } = answer else {
        panic!("no HTTP answer: {answer:?}");
    };
    assert!(id.is_some(), "{status} without a request id");
    if *status == 200 || extra.contains(status) {
        return;
    }
    assert!(errors.contains(status), "unexpected {status}: {body}");
    let message = body["errors"][0].as_str().unwrap_or_default();
    assert!(message.starts_with("vaultgate:"), "{status}: {body}");
}

fn ids(answers: &[Answer]) -> Vec<String> {
    answers
        .iter()
        .filter_map(|a| match a {
            Answer::Http { id, .. } => id.clone(),
            Answer::Broken(_) => None,
        })
        .collect()
}

/// Every id has one request record in the audit file (read after the gate stopped).
fn assert_audited(file: &Path, ids: &[String]) {
    let text = std::fs::read_to_string(file).unwrap();
    let recorded: std::collections::HashSet<String> = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("every audit line is JSON"))
        .filter(|r| r["type"] == "request")
        .map(|r| r["request_id"].as_str().unwrap().to_owned())
        .collect();
    let missing: Vec<&String> = ids.iter().filter(|id| !recorded.contains(*id)).collect();
    assert!(
        missing.is_empty(),
        "{} answers lack a record",
        missing.len()
    );
}

/// `workers` concurrent callers, each sending reads (and every other request a write when
/// `writes`) until stopped.
struct Load {
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<Vec<Answer>>>,
}

impl Load {
    fn start(client: &reqwest::Client, base: &str, workers: usize, writes: bool) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let tasks = (0..workers)
            .map(|w| {
                let (client, stop) = (client.clone(), stop.clone());
                let read = format!("{base}/v1/secret/data/acme/billing/db");
                let write = format!("{base}/v1/secret/data/acme/billing/w{w}");
                tokio::spawn(async move {
                    let mut answers = Vec::new();
                    for i in 0..MAX_PER_WORKER {
                        if stop.load(Ordering::Relaxed) {
                            break;
                        }
                        let req = if writes && i % 2 == 1 {
                            client.post(&write).json(&json!({"data": {"n": i}}))
                        } else {
                            client.get(&read)
                        };
                        answers.push(ask(req).await);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    answers
                })
            })
            .collect();
        Load { stop, tasks }
    }

    async fn finish(self) -> Vec<Vec<Answer>> {
        self.stop.store(true, Ordering::Relaxed);
        let mut out = Vec::new();
        for t in self.tasks {
            out.push(t.await.unwrap());
        }
        out
    }
}

/// OpenBao with the test secret, the PKI, and where the audit file goes.
async fn setup() -> (OpenBao, Pki, tempfile::TempDir) {
    let bao = OpenBao::start().await;
    bao.kv_put("acme/billing/db", json!({"password": "pw"}))
        .await;
    (bao, Pki::new(&[SERVICE]), tempfile::tempdir().unwrap())
}

/// vaultgate for `acme/billing` with an audit file and the given `[vault]` table body.
async fn gate(bao: &OpenBao, pki: &Pki, audit: &Path, vault: &str) -> Gate {
    let policies = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("policies");
    // The cache is off: these tests drive every read to Vault (and stream its answers);
    // the cache's own behaviour under faults (stale-if-error, shared failures) is in cache.rs.
    let extra = format!(
        "\n[audit]\nfile = \"{}\"\n\n[cache]\nenabled = false\n",
        audit.display()
    );
    Gate::builder(bao, pki)
        .services(&[SERVICE])
        .policies(&policies)
        .vault(vault)
        .extra(&extra)
        .start()
        .await
}

/// Short enough that a fault ends in seconds, long enough that a busy shared machine does not
/// turn a healthy answer into a timeout.
fn short_timeouts(address: &str) -> String {
    format!("address = \"{address}\"\ntimeout = \"2s\"\nconnect_timeout = \"1s\"\n")
}

#[tokio::test]
async fn openbao_killed_and_restarted_under_load_gives_clear_errors_then_heals() {
    let (mut bao, pki, dir) = setup().await;
    let audit = dir.path().join("audit.jsonl");
    let gate = gate(&bao, &pki, &audit, &short_timeouts(&bao.addr())).await;
    let client = pki.client_for(SERVICE);
    let url = format!("{}/v1/secret/data/acme/billing/db", gate.url());

    let load = Load::start(&client, &gate.url(), 4, true);
    tokio::time::sleep(Duration::from_millis(500)).await;
    bao.kill();
    tokio::time::sleep(Duration::from_secs(2)).await;
    bao.restart().await;
    gate.reseed(&bao).await;
    bao.kv_put("acme/billing/db", json!({"password": "pw"}))
        .await;
    let healed = poll_status(&client, &url, 200, 150).await;
    // Let every worker see the healed proxy before stopping.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let workers = load.finish().await;
    gate.stop().await;

    assert_eq!(healed, 200, "no recovery within 15 s of the restart");
    let mut down = 0;
    for answers in &workers {
        for a in answers {
            // 403/404 are Vault's own answers between its restart and the re-seeding: the old
            // token and the secret are really gone then.
            check(a, &[502, 503, 504], &[403, 404]);
            down += usize::from(matches!(
                a,
                Answer::Http {
                    status: 502..=504,
                    ..
                }
            ));
        }
        assert!(
            matches!(answers.last(), Some(Answer::Http { status: 200, .. })),
            "a worker did not heal: {:?}",
            answers.last()
        );
    }
    assert!(down > 0, "the outage was never seen");
    assert_audited(&audit, &ids(&workers.concat()));
}

#[tokio::test]
async fn a_frozen_openbao_gives_504_within_the_timeout_then_heals() {
    let (bao, pki, dir) = setup().await;
    let audit = dir.path().join("audit.jsonl");
    let gate = gate(&bao, &pki, &audit, &short_timeouts(&bao.addr())).await;
    let client = pki.client_for(SERVICE);
    let url = format!("{}/v1/secret/data/acme/billing/db", gate.url());
    let mut answers = vec![ask(client.get(&url)).await];

    bao.pause();
    let frozen: Vec<_> = (0..4)
        .map(|i| {
            let req = if i == 0 {
                client
                    .post(format!("{}/v1/secret/data/acme/billing/f", gate.url()))
                    .json(&json!({"data": {"k": "v"}}))
            } else {
                client.get(&url)
            };
            tokio::spawn(ask(req))
        })
        .collect();
    let mut timed_out = Vec::new();
    for f in frozen {
        timed_out.push(f.await.unwrap());
    }
    bao.resume();
    let healed = poll_status(&client, &url, 200, 100).await;
    answers.push(ask(client.get(&url)).await);
    gate.stop().await;

    for a in &timed_out {
        check(a, &[504], &[]);
        let Answer::Http { status, body, .. } = a else {
            unreachable!()
        };
        assert_eq!(*status, 504, "{body}");
        assert!(body.to_string().contains("did not answer within"), "{body}");
    }
    assert_eq!(healed, 200);
    for a in &answers {
        check(a, &[], &[]);
    }
    answers.extend(timed_out);
    assert_audited(&audit, &ids(&answers));
}

#[tokio::test]
async fn answers_cut_or_frozen_mid_response_end_in_errors_not_hangs() {
    let (bao, pki, dir) = setup().await;
    let relay = Relay::start(bao.addr().trim_start_matches("http://").to_owned()).await;
    let audit = dir.path().join("audit.jsonl");
    let gate = gate(&bao, &pki, &audit, &short_timeouts(&relay.addr())).await;
    let client = pki.client_for(SERVICE);
    let url = format!("{}/v1/secret/data/acme/billing/db", gate.url());
    let mut answers = Vec::new();
    for fault in [
        Fault::ResetInHead,
        Fault::StallInHead,
        Fault::ResetInBody,
        Fault::StallInBody,
    ] {
        relay.set(fault);
        let faulted = ask(client.get(&url)).await;
        relay.set(Fault::Pass);
        let after = ask(client.get(&url)).await;
        match (fault, &faulted) {
            // Before the head is complete the proxy still owns the status.
            (Fault::ResetInHead, Answer::Http { status, .. }) => assert_eq!(*status, 502),
            (Fault::StallInHead, Answer::Http { status, .. }) => assert_eq!(*status, 504),
            // A successful JSON answer is read whole before its head goes out (vaultgate
            // looks for the lease it grants), so the proxy still owns the status then too: an
            // unreadable answer (a stalled piece of body is cut by the upstream's per-piece
            // timeout) is a 502.
            (Fault::ResetInBody | Fault::StallInBody, Answer::Http { status, .. }) => {
                assert_eq!(*status, 502)
            }
            _ => panic!("{fault:?}: {faulted:?}"),
        }
        check(&faulted, &[502, 504], &[]);
        answers.push(faulted);
        check(&after, &[], &[]);
        answers.push(after);
    }
    gate.stop().await;
    assert_audited(&audit, &ids(&answers));
    // One request record per request sent.
    let text = std::fs::read_to_string(&audit).unwrap();
    let requests = text.matches("\"type\":\"request\"").count();
    assert_eq!(requests, answers.len());
}

#[tokio::test]
async fn a_token_revoked_under_load_heals_and_every_answer_is_audited() {
    let (bao, pki, dir) = setup().await;
    let audit = dir.path().join("audit.jsonl");
    let gate = gate(&bao, &pki, &audit, &Gate::default_vault(&bao)).await;
    let client = pki.client_for(SERVICE);
    let url = format!("{}/v1/secret/data/acme/billing/db", gate.url());
    let load = Load::start(&client, &gate.url(), 4, true);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let old = gate.revoke_token(&bao, SERVICE).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    let workers = load.finish().await;
    let healed = poll_status(&client, &url, 200, 50).await;
    let fresh = gate.token(SERVICE);
    gate.stop().await;

    assert_eq!(healed, 200);
    assert_ne!(fresh, old, "the proxy did not log in again");
    for answers in &workers {
        for a in answers {
            // Reads are retried with the new token; a write that raced the revocation gets
            // Vault's own 403 (it was not executed, and writes are never replayed).
            check(a, &[], &[403]);
            if let Answer::Http {
                status: 403, body, ..
            } = a
            {
                assert_eq!(body["errors"][0], "permission denied", "{body}");
            }
        }
    }
    assert_audited(&audit, &ids(&workers.concat()));
}
