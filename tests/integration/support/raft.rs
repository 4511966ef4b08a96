//! `RaftNode`: one real `bao server` process with raft storage on its own loopback port, a
//! file audit device declared in its config file (OpenBao refuses to enable one through the
//! API), and the `bao` CLI steps that make it a cluster member (init, unseal, raft join).
//! Killed on drop; its folder belongs to the caller's `TempDir`. Every wait polls a
//! condition. `RootSession` is one node used with its root token, for `Gate`.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use super::openbao::{api_call, bao_binary, listens};
use super::seed::Seed;

/// Between two polls of a condition.
pub const POLL: Duration = Duration::from_millis(50);
/// Any single wait longer than this is a failure, not a slow machine.
pub const LIMIT: Duration = Duration::from_secs(60);

/// TLS for the nodes' API listeners: (certificate, key, CA), e.g. the test PKI's.
pub type NodeTls = (PathBuf, PathBuf, PathBuf);

pub struct RaftNode {
    child: Option<Child>,
    pub port: u16,
    cluster_port: u16,
    pub dir: PathBuf,
    tls: Option<NodeTls>,
    http: reqwest::Client,
}

impl RaftNode {
    /// Starts a node with its storage in `dir` and waits until it answers `sys/health`.
    pub async fn start(dir: PathBuf, name: &str, tls: Option<NodeTls>) -> RaftNode {
        std::fs::create_dir_all(dir.join("data")).unwrap();
        let mut http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10));
        if let Some((_, _, ca)) = &tls {
            let ca = reqwest::Certificate::from_pem(&std::fs::read(ca).unwrap()).unwrap();
            http = http.use_rustls_tls().add_root_certificate(ca);
        }
        let mut node = RaftNode {
            child: None,
            port: 0,
            cluster_port: 0,
            dir,
            tls,
            http: http.build().unwrap(),
        };
        // A port picked free can be taken by a parallel test before bao binds it: retry with
        // others (nothing is stored yet, so nothing refers to the old ones).
        for _ in 0..5 {
            (node.port, node.cluster_port) = (fixed_port(), fixed_port());
            node.write_config(name);
            node.spawn();
            if node.wait_up().await {
                return node;
            }
            node.kill();
        }
        panic!("raft node {name} did not start: {}", node.log());
    }

    fn write_config(&self, name: &str) {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        let tls = match &self.tls {
            Some((cert, key, _)) => format!(
                "  tls_cert_file = \"{}\"\n  tls_key_file = \"{}\"\n",
                cert.display(),
                key.display()
            ),
            None => "  tls_disable = true\n".to_owned(),
        };
        // performance_multiplier 1: elections in about a second instead of five. The audit
        // path is relative (to each node's own folder) because the audit table is replicated:
        // a path that differs between nodes stops a standby from serving reads.
        let config = format!(
            r#"storage "raft" {{
  path = "{data}"
  node_id = "{name}"
  performance_multiplier = 1
  autopilot_reconcile_interval = "1s"
  autopilot_update_interval = "500ms"
}}
listener "tcp" {{
  address = "127.0.0.1:{port}"
  cluster_address = "127.0.0.1:{cport}"
{tls}}}
api_addr = "{scheme}://127.0.0.1:{port}"
cluster_addr = "https://127.0.0.1:{cport}"
audit "file" "test" {{
  options {{
    file_path = "audit.log"
  }}
}}
"#,
            data = self.dir.join("data").display(),
            port = self.port,
            cport = self.cluster_port,
        );
        std::fs::write(self.dir.join("bao.hcl"), config).unwrap();
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("bao.log"))
            .unwrap();
        // Should the test process die without dropping this node (an abort, a killed run),
        // the kernel kills the server too, where util-linux's setpriv is there to ask it.
        let setpriv = std::path::Path::new("/usr/bin/setpriv");
        let mut command = if setpriv.exists() {
            let mut c = Command::new(setpriv);
            c.args(["--pdeathsig", "KILL", "--"]).arg(bao_binary());
            c
        } else {
            Command::new(bao_binary())
        };
        let child = command
            .args(["server", "-config=bao.hcl"])
            .current_dir(&self.dir)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", &self.dir)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start bao server");
        self.child = Some(child);
    }

    /// Until the process answers `sys/health` on its own port (any status).
    async fn wait_up(&mut self) -> bool {
        let started = Instant::now();
        while started.elapsed() < LIMIT {
            let Some(child) = self.child.as_mut() else {
                return false;
            };
            if let Ok(Some(_)) = child.try_wait() {
                return false;
            }
            let pid = child.id();
            if self.health().await != 0 && listens(pid, self.port) {
                return true;
            }
            tokio::time::sleep(POLL).await;
        }
        false
    }

    /// The process dies at once (SIGKILL), as a crashed node would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the process again on the same ports with the same storage (sealed).
    pub async fn restart(&mut self) {
        self.kill();
        self.spawn();
        assert!(self.wait_up().await, "node did not restart: {}", self.log());
    }

    pub fn addr(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// `sys/health`'s status code, 0 when nothing answers.
    pub async fn health(&self) -> u16 {
        let url = format!("{}/v1/sys/health", self.addr());
        match self
            .http
            .get(url)
            .timeout(Duration::from_secs(2))
            .send()
            .await
        {
            Ok(r) => r.status().as_u16(),
            Err(_) => 0,
        }
    }

    /// Polls `sys/health` until it answers `want`; panics after `LIMIT`.
    pub async fn wait_health(&self, want: u16) {
        let started = Instant::now();
        let mut last = 0;
        while started.elapsed() < LIMIT {
            last = self.health().await;
            if last == want {
                return;
            }
            tokio::time::sleep(POLL).await;
        }
        panic!(
            "{}: sys/health {last}, not {want}: {}",
            self.addr(),
            self.log()
        );
    }

    /// One API call to this node.
    pub async fn api(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        token: &str,
    ) -> (u16, Value) {
        api_call(&self.http, &self.addr(), (method, path), body, token).await
    }

    /// Runs the `bao` CLI against this node. `BAO_ADDR` is set: the CLI prefers it to
    /// `VAULT_ADDR`, so a stray one in the environment would win otherwise.
    async fn cli(&self, args: &[&str]) -> String {
        self.try_cli(args).await.unwrap_or_else(|e| panic!("{e}"))
    }

    /// `cli` that returns the failure instead of panicking.
    async fn try_cli(&self, args: &[&str]) -> Result<String, String> {
        let mut cmd = tokio::process::Command::new(bao_binary());
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", &self.dir)
            .env("BAO_ADDR", self.addr())
            .kill_on_drop(true);
        if let Some((_, _, ca)) = &self.tls {
            cmd.env("BAO_CACERT", ca);
        }
        let out = cmd.output().await.expect("run bao CLI");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            return Err(format!("bao {args:?}: {text}{stderr}"));
        }
        Ok(text)
    }

    /// `bao operator init` with one key share; returns (unseal key, root token).
    pub async fn init(&self) -> (String, String) {
        let out = self
            .cli(&[
                "operator",
                "init",
                "-key-shares=1",
                "-key-threshold=1",
                "-format=json",
            ])
            .await;
        let v: Value = serde_json::from_str(&out).unwrap();
        let key = v["unseal_keys_b64"][0].as_str().unwrap().to_owned();
        (key, v["root_token"].as_str().unwrap().to_owned())
    }

    pub async fn unseal(&self, key: &str) {
        self.cli(&["operator", "unseal", key]).await;
    }

    /// Joins `leader`'s cluster and unseals, which bootstraps the node through the leader.
    /// A leader still settling the previous member can refuse the bootstrap ("Preventing
    /// server addition that would require removal of too many servers"): tried up to three
    /// times, each after the node's state is read again.
    pub async fn join_and_unseal(&self, leader: &RaftNode, key: &str) {
        let mut last = String::new();
        for _ in 0..3 {
            let joined = match self.try_join(leader).await {
                Ok(_) => self.try_cli(&["operator", "unseal", key]).await,
                Err(e) => Err(e),
            };
            match joined {
                Ok(_) => return,
                Err(e) => last = e,
            }
            if self.health().await == 429 {
                return;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        panic!("{}: could not join and unseal: {last}", self.addr());
    }

    /// `bao operator raft join` to `leader`.
    async fn try_join(&self, leader: &RaftNode) -> Result<String, String> {
        let ca = self
            .tls
            .as_ref()
            .map(|(_, _, ca)| format!("-leader-ca-cert=@{}", ca.display()));
        let mut args = vec!["operator", "raft", "join"];
        args.extend(ca.as_deref());
        let leader = leader.addr();
        args.push(&leader);
        self.try_cli(&args).await
    }

    /// Requests this node's audit device recorded.
    pub fn audit_requests(&self) -> usize {
        std::fs::read_to_string(self.dir.join("audit.log"))
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("\"type\":\"request\""))
            .count()
    }

    /// When this node's server log first says `text` at or after `since` (the log's own
    /// millisecond timestamps: when raft elected it, when it became the active node).
    pub fn logged(&self, text: &str, since: SystemTime) -> Option<SystemTime> {
        use time::format_description::well_known::Rfc3339;
        let log = std::fs::read_to_string(self.dir.join("bao.log")).unwrap_or_default();
        log.lines()
            .filter(|l| l.contains(text))
            .filter_map(|l| time::OffsetDateTime::parse(l.split(' ').next()?, &Rfc3339).ok())
            .map(SystemTime::from)
            .find(|at| *at >= since)
    }

    fn log(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("bao.log")).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(15).collect();
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    }
}

/// A free loopback port below the kernel's ephemeral range. A node keeps its ports across a
/// restart; one in the ephemeral range could be taken meanwhile as the local end of some
/// process's outgoing connection, and the restarted node could not bind it.
fn fixed_port() -> u16 {
    static PICKS: AtomicU32 = AtomicU32::new(0);
    let ephemeral_from = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse::<u32>().ok())
        .unwrap_or(32768);
    let (low, high) = (10_000, ephemeral_from.max(10_001));
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let mut seed = nanos ^ std::process::id().rotate_left(16);
    loop {
        // Spread over the range so parallel tests rarely try the same ports.
        seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223)
            ^ PICKS.fetch_add(1, Ordering::Relaxed);
        let port = u16::try_from(low + seed % (high - low)).unwrap();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

impl Drop for RaftNode {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One node used with its root token: what `Gate` needs from it (`Seed`), and a KV mount.
pub struct RootSession<'a> {
    pub node: &'a RaftNode,
    pub root: &'a str,
    /// (token_ttl, token_max_ttl) in seconds for roles made by `approle`.
    pub approle_ttls: (u64, u64),
}

impl<'a> RootSession<'a> {
    pub fn new(node: &'a RaftNode, root: &'a str) -> RootSession<'a> {
        RootSession {
            node,
            root,
            approle_ttls: (3600, 0),
        }
    }

    /// One call that must succeed; returns the answer's JSON.
    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (status, v) = self.node.api(method, path, body, self.root).await;
        assert!(status < 300, "{method} {path}: {status} {v}");
        v
    }

    /// KV v2 at `secret/`.
    pub async fn mount_kv(&self) {
        let mount = json!({"type": "kv", "options": {"version": "2"}});
        self.call("POST", "sys/mounts/secret", Some(mount)).await;
    }
}

impl Seed for RootSession<'_> {
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
        let (ttl, max_ttl) = self.approle_ttls;
        let settings = json!({
            "token_policies": policies,
            "token_no_default_policy": true,
            "token_ttl": ttl,
            "token_max_ttl": max_ttl,
        });
        let path = format!("auth/approle/role/{role}");
        self.call("POST", &path, Some(settings)).await;
        let id = self.call("GET", &format!("{path}/role-id"), None).await;
        let secret = self.call("POST", &format!("{path}/secret-id"), None).await;
        let text = |v: &Value, k: &str| v["data"][k].as_str().unwrap().to_owned();
        (text(&id, "role_id"), text(&secret, "secret_id"))
    }
}
