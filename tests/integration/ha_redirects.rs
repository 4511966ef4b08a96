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

use crate::support::gate::Gate;
use crate::support::pki::Pki;
use crate::support::raft::{RaftNode, RootSession};

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

#[tokio::test]
async fn redirects_reroute_only_when_they_name_a_configured_node() {
    let dir = tempfile::tempdir().unwrap();
    let active = RaftNode::start(dir.path().join("active"), "a", None).await;
    let (key, root) = active.init().await;
    active.unseal(&key).await;
    active.wait_health(200).await;
    let single = RootSession::new(&active, &root);
    single.mount_kv().await;
    let pki = Pki::new(&[SERVICE]);
    let policies = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");

    // A redirect to a host that is not configured: answered 502 and never followed.
    let elsewhere = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let elsewhere_addr = format!("http://{}", elsewhere.local_addr().unwrap());
    let (fake, seen) = redirecting_node(elsewhere_addr).await;
    let vault = format!(
        "addresses = [\"{fake}\", \"{}\"]\ntimeout = \"10s\"\n",
        active.addr()
    );
    // Logins would be redirected too: this service's token comes from a file.
    let token = single
        .call("POST", "auth/token/create", Some(json!({"ttl": "1h"})))
        .await;
    let token = token["auth"]["client_token"].as_str().unwrap().to_owned();
    let gate = Gate::start_tuned(
        &single,
        &pki,
        &[],
        &[(SERVICE, &token)],
        &policies,
        &vault,
        "",
    )
    .await;
    let client = pki.client_for(SERVICE);
    let url = format!("{}/v1/secret/data/acme/billing/db", gate.url());
    let resp = client.get(&url).send().await.unwrap();
    assert_eq!(resp.status(), 502);
    let body: Value = resp.json().await.unwrap();
    assert!(
        body["errors"][0]
            .as_str()
            .unwrap()
            .contains("never follows redirects"),
        "{body}"
    );
    let accepted = tokio::time::timeout(Duration::from_millis(300), elsewhere.accept()).await;
    assert!(
        accepted.is_err(),
        "vaultgate connected to the redirect's target"
    );
    let sent: Vec<String> = seen.lock().unwrap().clone();
    let ours = sent
        .iter()
        .filter(|l| l.contains("/acme/billing/db"))
        .count();
    assert_eq!(ours, 1, "{sent:?}");
    gate.stop().await;

    // A redirect to a configured node: the request goes to the node the health check finds
    // active (the real one), once.
    let (fake, seen) = redirecting_node(active.addr()).await;
    let vault = format!(
        "addresses = [\"{fake}\", \"{}\"]\ntimeout = \"10s\"\n",
        active.addr()
    );
    let gate = Gate::start_tuned(
        &single,
        &pki,
        &[],
        &[(SERVICE, &token)],
        &policies,
        &vault,
        "",
    )
    .await;
    let url = format!("{}/v1/secret/data/acme/billing/db", gate.url());
    let resp = client
        .post(&url)
        .json(&json!({"data": {"via": "the active node"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{:?}", resp.text().await);
    let (_, stored) = active
        .api("GET", "secret/data/acme/billing/db", None, &root)
        .await;
    assert_eq!(stored["data"]["data"]["via"], "the active node");
    // The fake node redirected once, then told the health check it is a standby.
    let redirected: Vec<String> = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|l| !l.contains("/sys/health"))
        .cloned()
        .collect();
    assert_eq!(redirected.len(), 1, "{redirected:?}");
    assert!(
        redirected[0].starts_with("POST /v1/secret/data/acme/billing/db"),
        "{redirected:?}"
    );
    gate.stop().await;
}
