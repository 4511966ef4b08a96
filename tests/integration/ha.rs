//! [topology] vaultgate in front of a Vault HA cluster (`[vault] addresses`): what an
//! OpenBao 2.7 raft cluster's nodes answer (the facts the routing relies on), and sealed and
//! uninitialized nodes never sent a request. Redirects are in `ha_redirects.rs`, the
//! failover under load in `failover.rs`.

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{json, Value};

use crate::support::cluster::BaoCluster;
use crate::support::eventually;
use crate::support::gate::Gate;
use crate::support::pki::Pki;
use crate::support::raft::{RaftNode, RootSession};
use crate::support::relay::Relay;

const SERVICE: &str = "acme/billing";

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
    let single = RootSession::new(&active, &root);
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
    let gate = Gate::builder(&single, &pki)
        .services(&[SERVICE])
        .policies(&policies)
        .vault(&vault)
        .extra(&extra)
        .start()
        .await;
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
