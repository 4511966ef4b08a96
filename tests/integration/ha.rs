//! [topology] vaultgate in front of a Vault HA cluster (`[vault] addresses`): what an
//! OpenBao 2.7 raft cluster's nodes answer (the facts the routing relies on), sealed and
//! uninitialized nodes never sent a request, and redirects acted on only when they name a
//! configured node. The failover under load is in `failover.rs`.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::support::cluster::{BaoCluster, RaftNode};
use crate::support::gate::Gate;
use crate::support::pki::Pki;
use crate::support::relay::Relay;

const SERVICE: &str = "acme/billing";

/// Polls `f` every 50 ms until it returns `Some`, at most `limit`.
async fn eventually<T, F: std::future::Future<Output = Option<T>>>(
    limit: Duration,
    mut f: impl FnMut() -> F,
) -> Option<T> {
    let started = std::time::Instant::now();
    while started.elapsed() < limit {
        if let Some(v) = f().await {
            return Some(v);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

#[tokio::test]
async fn openbao_nodes_answer_as_the_routing_relies_on() {
    let mut cluster = BaoCluster::start(None).await;
    let root = cluster.root.clone();
    cluster.kv_put("probe/a", json!({"v": 1})).await;
    let (active, standby) = (&cluster.nodes[0], &cluster.nodes[1]);

    // sys/health: the status code carries the role, and the body agrees with it.
    let health = |node: &RaftNode| {
        let url = format!("{}/v1/sys/health", node.addr());
        async move {
            let r = reqwest::get(url).await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let (status, body) = health(active).await;
    assert_eq!(
        (status, &body["standby"], &body["sealed"]),
        (200, &json!(false), &json!(false))
    );
    let (status, body) = health(standby).await;
    assert_eq!(
        (status, &body["standby"], &body["sealed"]),
        (429, &json!(true), &json!(false))
    );
    assert_eq!(body["version"], "2.7.2");

    // A standby serves a read itself (only its own audit device records it) once it has
    // caught up; right after a write it may still answer 404: reads at standbys are stale.
    let read = eventually(Duration::from_secs(10), || async {
        let (status, v) = standby.api("GET", "secret/data/probe/a", None, &root).await;
        (status == 200).then_some(v)
    })
    .await
    .expect("the standby never served the read");
    assert_eq!(read["data"]["data"]["v"], 1);
    let (active_before, standby_before) = (active.audit_requests(), standby.audit_requests());
    let (status, _) = standby.api("GET", "secret/data/probe/a", None, &root).await;
    assert_eq!(status, 200);
    assert_eq!(
        active.audit_requests(),
        active_before,
        "a standby read reached the active node"
    );
    assert_eq!(standby.audit_requests(), standby_before + 1);
    // A write, a token creation (a login's write) and a renewal at a standby are forwarded
    // to the active node, which records and applies them.
    let (status, _) = standby
        .api(
            "POST",
            "secret/data/probe/b",
            Some(json!({"data": {"v": 2}})),
            &root,
        )
        .await;
    assert_eq!(status, 200);
    let (status, created) = standby
        .api(
            "POST",
            "auth/token/create",
            Some(json!({"ttl": "1h"})),
            &root,
        )
        .await;
    assert_eq!(status, 200);
    let token = created["auth"]["client_token"].as_str().unwrap().to_owned();
    let (status, _) = standby
        .api("POST", "auth/token/renew-self", Some(json!({})), &token)
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        active.audit_requests(),
        active_before + 3,
        "forwarded: write, create, renew"
    );

    // The leader dies. Until another is elected the standbys refuse writes without applying
    // them: a 307 to the dead leader's api_addr (a configured node) or a 500 saying no
    // active node is known. vaultgate takes exactly these as "not processed".
    cluster.wait_voters().await;
    let nodes = cluster.addresses();
    cluster.nodes[0].kill();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut refused = Vec::new();
    let started = std::time::Instant::now();
    loop {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no new leader took the write"
        );
        let key = format!("secret/data/probe/refused-{}", refused.len());
        let resp = client
            .post(format!("{}/v1/{key}", cluster.nodes[1].addr()))
            .header("X-Vault-Token", &root)
            .json(&json!({"data": {"v": 3}}))
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let location = resp
            .headers()
            .get("location")
            .map(|l| l.to_str().unwrap().to_owned());
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        match status {
            200 | 204 => break,
            // To the node it last knew as leader: the dead one, or the new one before this
            // standby forwards to it.
            307 => {
                let to = location.unwrap();
                assert!(nodes.iter().any(|n| to.starts_with(n)), "307 to {to}");
            }
            500 => assert_eq!(
                body["errors"][0],
                "local node not active but active cluster node not found"
            ),
            other => panic!("a standby without a leader answered {other}: {body}"),
        }
        refused.push(key);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!refused.is_empty(), "the election was never seen");
    for key in &refused {
        let (status, _) = cluster.api("GET", key, None).await;
        assert_eq!(status, 404, "{key}: a refused write was applied");
    }

    // The old leader comes back sealed: it refuses every request with 503 before any
    // handler runs, and says so in sys/health.
    cluster.nodes[0].restart().await;
    let (status, body) = cluster.nodes[0]
        .api("GET", "secret/data/probe/a", None, &root)
        .await;
    assert_eq!(
        (status, &body["errors"][0]),
        (503, &json!("Vault is sealed"))
    );
    let (status, body) = health(&cluster.nodes[0]).await;
    assert_eq!((status, &body["sealed"]), (503, &json!(true)));
    cluster.rejoin(0).await;
}

/// Every HTTP/1.1 request line a relay carried towards its node.
fn request_lines(seen: &Mutex<Vec<u8>>) -> Vec<String> {
    let bytes = seen.lock().unwrap().clone();
    String::from_utf8_lossy(&bytes)
        .split("\r\n")
        .filter(|l| l.ends_with(" HTTP/1.1"))
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn sealed_and_uninitialized_nodes_are_never_sent_a_request() {
    let dir = tempfile::tempdir().unwrap();
    let (uninitialized, sealed, active) = tokio::join!(
        RaftNode::start(dir.path().join("uninitialized"), "u", None),
        RaftNode::start(dir.path().join("sealed"), "s", None),
        RaftNode::start(dir.path().join("active"), "a", None),
    );
    sealed.init().await;
    let (key, root) = active.init().await;
    active.unseal(&key).await;
    active.wait_health(200).await;
    uninitialized.wait_health(501).await;
    sealed.wait_health(503).await;
    let single = SingleNode {
        node: &active,
        root: &root,
    };
    single.mount_kv().await;
    // Relays in front of the two nodes that must get nothing record what reaches them.
    let (to_uninitialized, to_sealed) = (
        Relay::start(format!("127.0.0.1:{}", uninitialized.port)).await,
        Relay::start(format!("127.0.0.1:{}", sealed.port)).await,
    );
    let (seen_u, seen_s) = (to_uninitialized.record(), to_sealed.record());
    let pki = Pki::new(&[SERVICE]);
    let vault = format!(
        "addresses = [\"{}\", \"{}\", \"{}\"]\ntimeout = \"10s\"\n",
        to_uninitialized.addr(),
        to_sealed.addr(),
        active.addr()
    );
    let policies = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
    let token_file = dir.path().join("admin.token");
    std::fs::write(&token_file, "admin-token-0123456789").unwrap();
    let extra = format!(
        "\n[admin]\naddress = \"127.0.0.1:0\"\ntoken_file = \"{}\"\n",
        token_file.display()
    );
    // The login itself goes through the routing: it must find the active node.
    let gate = Gate::start_tuned(&single, &pki, &[SERVICE], &[], &policies, &vault, &extra).await;
    let client = pki.client_for(SERVICE);
    let url = format!("{}/v1/secret/data/acme/billing/db", gate.url());
    for i in 0..20 {
        let write = client
            .post(&url)
            .json(&json!({"data": {"n": i}}))
            .send()
            .await
            .unwrap();
        assert_eq!(write.status(), 200);
        let read = client
            .get(&url)
            .header("cache-control", "no-cache")
            .send()
            .await
            .unwrap();
        assert_eq!(read.status(), 200);
    }
    let admin = reqwest::Client::new();
    let ready: Value = admin
        .get(format!("http://{}/readyz", gate.admin.as_ref().unwrap()))
        .bearer_auth("admin-token-0123456789")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["checks"]["vault"]["ok"], true, "{ready}");
    let nodes = &ready["checks"]["vault"]["nodes"];
    assert_eq!(nodes[to_uninitialized.addr()], "uninitialized", "{ready}");
    assert_eq!(nodes[to_sealed.addr()], "sealed", "{ready}");
    assert_eq!(nodes[active.addr()], "active", "{ready}");
    gate.stop().await;

    for (name, seen) in [("uninitialized", &seen_u), ("sealed", &seen_s)] {
        let lines = request_lines(seen);
        assert!(!lines.is_empty(), "the {name} node was never even checked");
        let others: Vec<&String> = lines
            .iter()
            .filter(|l| *l != "GET /v1/sys/health HTTP/1.1")
            .collect();
        assert!(others.is_empty(), "the {name} node was sent {others:?}");
    }
}

/// A one-node raft cluster used as the active node, configured for `Gate`.
struct SingleNode<'a> {
    node: &'a RaftNode,
    root: &'a str,
}

impl SingleNode<'_> {
    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (status, v) = self.node.api(method, path, body, self.root).await;
        assert!(status < 300, "{method} {path}: {status} {v}");
        v
    }

    async fn mount_kv(&self) {
        let mount = json!({"type": "kv", "options": {"version": "2"}});
        self.call("POST", "sys/mounts/secret", Some(mount)).await;
    }
}

impl crate::support::seed::Seed for SingleNode<'_> {
    async fn write_policy(&self, name: &str, hcl: &str) {
        let path = format!("sys/policies/acl/{name}");
        self.call("PUT", &path, Some(json!({ "policy": hcl })))
            .await;
    }
    async fn enable_approle(&self) {
        let approle = Some(json!({"type": "approle"}));
        let (status, v) = self
            .node
            .api("POST", "sys/auth/approle", approle, self.root)
            .await;
        assert!(
            status == 204 || status == 400,
            "enable approle: {status} {v}"
        );
    }
    async fn approle(&self, role: &str, policies: &[&str]) -> (String, String) {
        let settings = json!({"token_policies": policies, "token_no_default_policy": true});
        let path = format!("auth/approle/role/{role}");
        self.call("POST", &path, Some(settings)).await;
        let id = self.call("GET", &format!("{path}/role-id"), None).await;
        let secret = self.call("POST", &format!("{path}/secret-id"), None).await;
        let text = |v: &Value, k: &str| v["data"][k].as_str().unwrap().to_owned();
        (text(&id, "role_id"), text(&secret, "secret_id"))
    }
}

/// A fake node for the one fault a real one cannot produce on demand: it claims to be the
/// active node and answers every other request with a 307 to `location`, then (once it has
/// redirected) admits in `sys/health` that it is a standby.
async fn redirecting_node(location: String) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        let redirected = Arc::new(std::sync::atomic::AtomicBool::new(false));
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
                        let standby = redirected.load(std::sync::atomic::Ordering::SeqCst);
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
                        redirected.store(true, std::sync::atomic::Ordering::SeqCst);
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
    let single = SingleNode {
        node: &active,
        root: &root,
    };
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
