//! [topology] Redirects from a cluster node: one that names a configured node makes vaultgate
//! send the request to the node the health check finds active (never to the redirect's
//! target as such); one that names any other host is answered 502 and nothing is sent there.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::support::eventually;
use crate::support::gate::Gate;
use crate::support::pki::Pki;
use crate::support::raft::{RaftNode, RootSession};
use crate::support::seed::Seed;

const SERVICE: &str = "acme/billing";

/// A fake node for the one fault a real one cannot produce on demand: it claims to be the
/// active node and answers every other request with a 307 to `location`, then (once it has
/// redirected) admits in `sys/health` that it is a standby.
async fn redirecting_node(location: String) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        let redirected = Arc::new(AtomicBool::new(false));
        loop {
            let Ok((mut conn, _)) = listener.accept().await else {
                return;
            };
            let (log, location, redirected) = (log.clone(), location.clone(), redirected.clone());
            tokio::spawn(async move {
                let mut buf = vec![0u8; 16 * 1024];
                loop {
                    let Ok(n) = conn.read(&mut buf).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    let head = String::from_utf8_lossy(&buf[..n]).to_string();
                    let line = head.lines().next().unwrap_or_default().to_owned();
                    log.lock().unwrap().push(line.clone());
                    let answer = if line.starts_with("GET /v1/sys/health ") {
                        let standby = redirected.load(Ordering::SeqCst);
                        let (code, body) = if standby {
                            (
                                "429 Too Many Requests",
                                r#"{"initialized":true,"sealed":false,"standby":true}"#,
                            )
                        } else {
                            (
                                "200 OK",
                                r#"{"initialized":true,"sealed":false,"standby":false}"#,
                            )
                        };
                        format!("HTTP/1.1 {code}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}", body.len())
                    } else if !line.contains(" /v1/secret/") {
                        // vaultgate's own calls (the token file's lookup-self at login, the
                        // discovery of mounts) get an answer, so only a caller's request
                        // meets the redirect.
                        let (code, body) = if line.starts_with("GET /v1/auth/token/lookup-self ") {
                            ("200 OK", r#"{"data":{"ttl":3600}}"#)
                        } else {
                            ("404 Not Found", r#"{"errors":[]}"#)
                        };
                        format!("HTTP/1.1 {code}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}", body.len())
                    } else {
                        redirected.store(true, Ordering::SeqCst);
                        let path = line.split(' ').nth(1).unwrap_or("/");
                        format!("HTTP/1.1 307 Temporary Redirect\r\nlocation: {location}{path}\r\ncontent-length: 0\r\n\r\n")
                    };
                    if conn.write_all(answer.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (address, seen)
}

/// The service here holds a token file: its config needs nothing from Vault, which may be
/// sealed when vaultgate starts.
struct TokenFileOnly;

impl Seed for TokenFileOnly {
    async fn write_policy(&self, _: &str, _: &str) {}
    async fn enable_approle(&self) {}
    async fn approle(&self, _: &str, _: &[&str]) -> (String, String) {
        unreachable!("no AppRole service here")
    }
}

/// The callers' requests a fake node received.
fn requests(seen: &Mutex<Vec<String>>) -> Vec<String> {
    let seen = seen.lock().unwrap();
    seen.iter()
        .filter(|l| l.contains(" /v1/secret/"))
        .cloned()
        .collect()
}

#[tokio::test]
async fn redirects_reroute_only_when_they_name_a_configured_node() {
    let dir = tempfile::tempdir().unwrap();
    let real = RaftNode::start(dir.path().join("real"), "a", None).await;
    let (key, root) = real.init().await;
    real.unseal(&key).await;
    real.wait_health(200).await;
    let session = RootSession::new(&real, &root);
    session.mount_kv().await;
    // Logins would be redirected too: the service's token comes from a file.
    let token = session
        .call("POST", "auth/token/create", Some(json!({"ttl": "1h"})))
        .await;
    let token = token["auth"]["client_token"].as_str().unwrap().to_owned();
    let pki = Pki::new(&[SERVICE]);
    let policies = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
    let client = pki.client_for(SERVICE);
    let start = |vault: String| {
        let (pki, policies, token) = (&pki, &policies, &token);
        async move {
            let services = [(SERVICE, token.as_str())];
            Gate::builder(&TokenFileOnly, pki)
                .token_services(&services)
                .policies(policies)
                .vault(&vault)
                .start()
                .await
        }
    };

    // A redirect to a host that is not configured: answered 502 and never followed.
    let elsewhere = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let elsewhere_addr = format!("http://{}", elsewhere.local_addr().unwrap());
    let (fake, seen) = redirecting_node(elsewhere_addr).await;
    let gate = start(format!("addresses = [\"{fake}\"]\ntimeout = \"10s\"\n")).await;
    let url = format!("{}/v1/secret/data/acme/billing/db", gate.url());
    let resp = client.get(&url).send().await.unwrap();
    assert_eq!(resp.status(), 502);
    let body: Value = resp.json().await.unwrap();
    let message = body["errors"][0].as_str().unwrap();
    assert!(message.contains("never follows redirects"), "{body}");
    let accepted = tokio::time::timeout(Duration::from_millis(300), elsewhere.accept()).await;
    assert!(
        accepted.is_err(),
        "vaultgate connected to the redirect's target"
    );
    assert_eq!(requests(&seen).len(), 1, "{:?}", requests(&seen));
    gate.stop().await;

    // A redirect to a configured node (sealed for now, so the fake is the only node claiming
    // to be active): the request waits for a node the health check finds active, and goes
    // there once the real node is unsealed.
    session.call("PUT", "sys/seal", None).await;
    real.wait_health(503).await;
    let (fake, seen) = redirecting_node(real.addr()).await;
    let gate = start(format!(
        "addresses = [\"{fake}\", \"{}\"]\ntimeout = \"20s\"\n",
        real.addr()
    ))
    .await;
    let url = format!("{}/v1/secret/data/acme/billing/db", gate.url());
    let write = client
        .post(&url)
        .json(&json!({"data": {"via": "the active node"}}));
    let write = tokio::spawn(write.send());
    let redirected = eventually(Duration::from_secs(10), || {
        let seen = seen.clone();
        async move { (!requests(&seen).is_empty()).then_some(()) }
    })
    .await;
    assert!(
        redirected.is_some(),
        "the fake node was never sent the write"
    );
    real.unseal(&key).await;
    let resp = write.await.unwrap().unwrap();
    assert_eq!(resp.status(), 200, "{:?}", resp.text().await);
    let (_, stored) = real
        .api("GET", "secret/data/acme/billing/db", None, &root)
        .await;
    assert_eq!(stored["data"]["data"]["via"], "the active node");
    // The fake node was sent the write once, and said nothing but redirects.
    let sent = requests(&seen);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(
        sent[0].starts_with("POST /v1/secret/data/acme/billing/db"),
        "{sent:?}"
    );
    gate.stop().await;
}
