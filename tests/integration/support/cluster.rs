//! `BaoCluster`: three `RaftNode`s made one OpenBao cluster: the first initialized with `bao
//! operator init` and unsealed, the others joined with `bao operator raft join` and unsealed;
//! KV v2 at `secret/`. Processes are killed on drop; their folders go with the `TempDir`.

use std::sync::Mutex;
use std::time::Instant;

use serde_json::{json, Value};

use super::raft::{NodeTls, RaftNode, RootSession, LIMIT, POLL};
use super::seed::Seed;

/// Three raft nodes: one OpenBao cluster with KV v2 at `secret/`.
pub struct BaoCluster {
    pub nodes: Vec<RaftNode>,
    unseal_key: String,
    pub root: String,
    /// (token_ttl, token_max_ttl) in seconds for roles made by `approle`.
    pub approle_ttls: Mutex<(u64, u64)>,
    _dir: tempfile::TempDir,
}

impl BaoCluster {
    /// Starts, initializes, unseals and joins three nodes. Returns once the two standbys
    /// answer as standbys; `wait_voters` waits for them to be promoted to voters.
    pub async fn start(tls: Option<NodeTls>) -> BaoCluster {
        let dir = tempfile::tempdir().unwrap();
        let (a, b, c) = tokio::join!(
            RaftNode::start(dir.path().join("node1"), "node1", tls.clone()),
            RaftNode::start(dir.path().join("node2"), "node2", tls.clone()),
            RaftNode::start(dir.path().join("node3"), "node3", tls.clone()),
        );
        let (unseal_key, root) = a.init().await;
        a.unseal(&unseal_key).await;
        a.wait_health(200).await;
        // One at a time: a node joining while the previous one is still being bootstrapped
        // can be refused by the leader ("Preventing server addition that would require
        // removal of too many servers"), which happened on a loaded full run.
        for node in [&b, &c] {
            node.join_and_unseal(&a, &unseal_key).await;
            node.wait_health(429).await;
        }
        let cluster = BaoCluster {
            nodes: vec![a, b, c],
            unseal_key,
            root,
            approle_ttls: Mutex::new((3600, 0)),
            _dir: dir,
        };
        let mount = json!({"type": "kv", "options": {"version": "2"}});
        cluster
            .root_call("POST", "sys/mounts/secret", Some(mount))
            .await;
        cluster
    }

    /// Each node's address, in node order.
    pub fn addresses(&self) -> Vec<String> {
        self.nodes.iter().map(RaftNode::addr).collect()
    }

    /// The node that answers `sys/health` 200 now, if one does.
    pub async fn active(&self) -> Option<usize> {
        for (i, node) in self.nodes.iter().enumerate() {
            if node.health().await == 200 {
                return Some(i);
            }
        }
        None
    }

    /// Polls until a node is active; returns it.
    pub async fn wait_active(&self) -> usize {
        let started = Instant::now();
        while started.elapsed() < LIMIT {
            if let Some(i) = self.active().await {
                return i;
            }
            tokio::time::sleep(POLL).await;
        }
        panic!("no active node within {LIMIT:?}");
    }

    /// Polls until raft counts every node as a voter (autopilot promotes joined nodes after
    /// a few seconds); before that, losing the leader loses the quorum.
    pub async fn wait_voters(&self) {
        let started = Instant::now();
        while started.elapsed() < LIMIT {
            let (_, v) = self
                .api("GET", "sys/storage/raft/configuration", None)
                .await;
            let servers = v["data"]["config"]["servers"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            if servers.len() == self.nodes.len() && servers.iter().all(|s| s["voter"] == true) {
                return;
            }
            tokio::time::sleep(POLL).await;
        }
        panic!("the nodes did not all become voters within {LIMIT:?}");
    }

    /// Restarts node `i` (after `kill`) and unseals it; returns once it is a standby again.
    pub async fn rejoin(&mut self, i: usize) {
        self.nodes[i].restart().await;
        self.nodes[i].unseal(&self.unseal_key).await;
        self.nodes[i].wait_health(429).await;
    }

    /// The active node with the root token.
    async fn session(&self) -> RootSession<'_> {
        let active = self.wait_active().await;
        RootSession {
            approle_ttls: *self.approle_ttls.lock().unwrap(),
            ..RootSession::new(&self.nodes[active], &self.root)
        }
    }

    /// One call with the root token to the active node.
    pub async fn api(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let active = self.wait_active().await;
        self.nodes[active].api(method, path, body, &self.root).await
    }

    async fn root_call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (status, v) = self.api(method, path, body).await;
        assert!(status < 300, "{method} {path}: {status} {v}");
        v
    }

    /// Writes a KV v2 secret at `secret/data/<path>`, through the window in which a fresh
    /// mount still upgrades to KV v2 (400), bounded.
    pub async fn kv_put(&self, path: &str, data: Value) {
        let target = format!("secret/data/{path}");
        let body = json!({ "data": data });
        let started = Instant::now();
        while started.elapsed() < LIMIT {
            let (status, v) = self.api("POST", &target, Some(body.clone())).await;
            if status < 300 {
                return;
            }
            assert!(
                status == 400 && v.to_string().contains("pgrad"),
                "POST {target}: {status} {v}"
            );
            tokio::time::sleep(POLL).await;
        }
        panic!("POST {target}: KV upgrade did not finish");
    }
}

impl Seed for BaoCluster {
    async fn write_policy(&self, name: &str, hcl: &str) {
        self.session().await.write_policy(name, hcl).await;
    }

    async fn enable_approle(&self) {
        self.session().await.enable_approle().await;
    }

    async fn approle(&self, role: &str, policies: &[&str]) -> (String, String) {
        self.session().await.approle(role, policies).await
    }
}
