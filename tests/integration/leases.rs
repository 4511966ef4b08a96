//! [leases] Dynamic secrets through vaultgate, on a real PostgreSQL behind OpenBao's database
//! engine (#17): leases belong to the service they were minted for, rotation keeps them
//! alive, opt-in renewal, revocation at shutdown, and lease audit with Vault correlation.
//! Shared setup here; the scenarios in `leases/`.

mod audit;
mod isolation;
mod registry;
mod renewal;
mod rotation;
mod shutdown;
mod smuggling;

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};

use crate::support::eventually;
use crate::support::gate::{Gate, GateBuilder, BROAD_VAULT_POLICY};
use crate::support::openbao::{OpenBao, DISCOVERY_PATHS};
use crate::support::pki::Pki;
use crate::support::postgres::{database_role, Postgres};

/// Each tenant's vaultgate policy (`{{tenant}}` makes one text serve both tenants): its own
/// database roles, and lease operations by the exact body-form rules a Vault policy would
/// write. Nothing here names a lease: vaultgate adds the ownership check.
pub const TENANT_POLICY: &str = r#"
path "database/creds/{{tenant}}-*" { capabilities = ["read"] }
path "sys/leases/renew" { capabilities = ["update"] }
path "sys/leases/revoke" { capabilities = ["update"] }
path "sys/leases/lookup" { capabilities = ["update"] }
path "sys/renew" { capabilities = ["update"] }
path "sys/revoke" { capabilities = ["update"] }
"#;

/// What the services' Vault tokens may do on top of `BROAD_VAULT_POLICY`: every database role
/// and every lease operation, prefix and force revocation included, so that every refusal a
/// test sees is vaultgate's own.
pub const LEASES_VAULT_POLICY: &str = r#"
path "database/creds/*" { capabilities = ["read"] }
path "sys/leases/*" { capabilities = ["create", "read", "update", "delete", "list", "sudo"] }
path "sys/renew" { capabilities = ["update"] }
path "sys/renew/*" { capabilities = ["update"] }
path "sys/revoke" { capabilities = ["update"] }
path "sys/revoke/*" { capabilities = ["update"] }
"#;

/// The message of vaultgate's refusal of a lease `service` does not own.
pub fn not_owned(service: &str) -> String {
    format!("lease not issued to {service} through vaultgate")
}

/// A real OpenBao with the database engine on a real PostgreSQL, the test PKI and a policy
/// folder with `TENANT_POLICY` (plus `extra_policy`) for each tenant.
pub struct Lab {
    pub bao: OpenBao,
    pub pg: Postgres,
    pub pki: Pki,
    pub policies: tempfile::TempDir,
    services: Vec<String>,
}

impl Lab {
    /// `roles`: (name, default_ttl, max_ttl) of the database roles to create.
    pub async fn start(services: &[&str], roles: &[(&str, &str, &str)]) -> Lab {
        Lab::start_with(services, roles, "").await
    }

    /// Like `start`, with `extra_policy` appended to every tenant's policy.
    pub async fn start_with(
        services: &[&str],
        roles: &[(&str, &str, &str)],
        extra_policy: &str,
    ) -> Lab {
        let (bao, pg) = tokio::join!(OpenBao::start(), Postgres::start());
        pg.connect(&bao).await;
        for (role, ttl, max) in roles {
            database_role(&bao, role, ttl, max).await;
        }
        let policies = tempfile::tempdir().unwrap();
        let mut tenants: Vec<&str> = services
            .iter()
            .filter_map(|s| s.split('/').next())
            .collect();
        tenants.sort_unstable();
        tenants.dedup();
        for tenant in tenants {
            std::fs::write(
                policies.path().join(format!("{tenant}.hcl")),
                format!("{TENANT_POLICY}{extra_policy}"),
            )
            .unwrap();
        }
        Lab {
            bao,
            pg,
            pki: Pki::new(services),
            policies,
            services: services.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    /// A gate for every service of the lab, their Vault tokens allowed leases and creds.
    pub fn gate(&self) -> GateBuilder<'_> {
        let services: Vec<&str> = self.services.iter().map(String::as_str).collect();
        Gate::builder(&self.bao, &self.pki)
            .services(&services)
            .policies(self.policies.path())
            .service_policy(&format!("{BROAD_VAULT_POLICY}{LEASES_VAULT_POLICY}"))
    }

    /// Whether OpenBao still holds `lease_id` (`sys/leases/lookup` as root).
    pub async fn lease_known(&self, lease_id: &str) -> bool {
        let body = json!({ "lease_id": lease_id });
        self.bao
            .api("PUT", "sys/leases/lookup", Some(body), "root")
            .await
            .0
            == 200
    }

    /// OpenBao's audit records so far, without those of vaultgate's discovery reads (they
    /// hold whole OpenAPI documents and parse slowly; none concerns a lease).
    pub fn openbao_records(&self) -> Vec<Value> {
        let discovery: Vec<String> = DISCOVERY_PATHS
            .iter()
            .map(|p| format!("\"path\":\"{p}\""))
            .collect();
        self.bao
            .audit_log()
            .lines()
            .filter(|l| !discovery.iter().any(|d| l.contains(d.as_str())))
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    pub async fn logs_in(&self, creds: &Creds) -> bool {
        self.pg.can_login(&creds.username, &creds.password).await
    }
}

/// A database credential as vaultgate relayed it, with the request id it answered with.
#[derive(Debug, Clone)]
pub struct Creds {
    pub lease_id: String,
    pub username: String,
    pub password: String,
    pub ttl: u64,
    pub renewable: bool,
    pub request_id: String,
}

impl Creds {
    /// The lease id's random last segment: what no log may show, even with its path cut off.
    pub fn lease_secret(&self) -> &str {
        self.lease_id.rsplit('/').next().unwrap()
    }
}

/// Reads `database/creds/<role>` through vaultgate at `base` (`https://…`); panics unless 200.
pub async fn mint(client: &reqwest::Client, base: &str, role: &str) -> Creds {
    let (status, body, request_id) = try_mint(client, base, role).await;
    assert_eq!(status, 200, "creds for {role}: {body}");
    creds(&body, request_id)
}

/// One creds read: status, body and vaultgate's request id.
pub async fn try_mint(client: &reqwest::Client, base: &str, role: &str) -> (u16, Value, String) {
    let resp = match client
        .get(format!("{base}/v1/database/creds/{role}"))
        .send()
        .await
    {
        Ok(resp) => resp,
        // Not listening yet (a vaultgate just started): status 0, as `poll_status` counts it.
        Err(e) => return (0, Value::String(e.to_string()), String::new()),
    };
    let status = resp.status().as_u16();
    let request_id = request_id(&resp);
    let body = resp.json().await.unwrap_or(Value::Null);
    (status, body, request_id)
}

pub fn creds(body: &Value, request_id: String) -> Creds {
    let text = |k: &str| body["data"][k].as_str().unwrap().to_owned();
    Creds {
        lease_id: body["lease_id"].as_str().unwrap().to_owned(),
        username: text("username"),
        password: text("password"),
        ttl: body["lease_duration"].as_u64().unwrap(),
        renewable: body["renewable"].as_bool().unwrap(),
        request_id,
    }
}

/// vaultgate's request id on an answer (empty when missing).
fn request_id(resp: &reqwest::Response) -> String {
    resp.headers()
        .get("x-vaultgate-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// Sends `method path` through vaultgate with an optional JSON body; status, body text and
/// vaultgate's request id.
pub async fn send(
    client: &reqwest::Client,
    base: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, String, String) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = client.request(method, format!("{base}/v1/{path}"));
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let request_id = request_id(&resp);
    (status, resp.text().await.unwrap(), request_id)
}

/// Every JSON line of a vaultgate audit file.
pub fn audit_records(file: &Path) -> Vec<Value> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("every audit line is JSON"))
        .collect()
}

/// Adds `line` to the `[[service]]` table of `service` in a written config.
pub fn set_service_key(config: &Path, service: &str, line: &str) {
    let text = std::fs::read_to_string(config).unwrap();
    let name = format!("name = \"{service}\"\n");
    assert!(
        text.contains(&name),
        "no [[service]] {service} in the config"
    );
    std::fs::write(config, text.replace(&name, &format!("{name}{line}\n"))).unwrap();
}

/// Runs the vaultgate binary on a written config (its listener moved to a free port),
/// stderr to `log`, with `VAULTGATE_LOG` set to `level`; the child and its base URL.
pub fn run_binary(config: &Path, log: &Path, level: &str) -> (tokio::process::Child, String) {
    let port = crate::support::openbao::free_port();
    let text = std::fs::read_to_string(config).unwrap();
    std::fs::write(
        config,
        text.replace("127.0.0.1:0", &format!("127.0.0.1:{port}")),
    )
    .unwrap();
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_vaultgate"))
        .args(["run", "--config"])
        .arg(config)
        .env("VAULTGATE_LOG", level)
        .stderr(std::fs::File::create(log).unwrap())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    (child, format!("https://127.0.0.1:{port}"))
}

/// The first creds read from a vaultgate just started: retried until it answers 200 (at
/// most 30 s), since a read refused while it starts mints nothing.
pub async fn first_mint(client: &reqwest::Client, base: &str, role: &str) -> Creds {
    eventually(Duration::from_secs(30), || async {
        let (status, body, id) = try_mint(client, base, role).await;
        (status == 200).then(|| creds(&body, id))
    })
    .await
    .expect("vaultgate did not serve a creds read within 30 s")
}

/// The audit HMAC key tests give vaultgate (32 bytes), so they can compute its HMACs.
pub const HMAC_KEY: &[u8; 32] = b"leases-audit-test-hmac-key-32-by";

/// `hmac-sha256:<hex>` of `secret` under `HMAC_KEY`, as vaultgate writes it.
pub fn hmac(secret: &str) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, HMAC_KEY);
    let tag = ring::hmac::sign(&key, secret.as_bytes());
    let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("hmac-sha256:{hex}")
}

/// An `[audit]` section writing to `<dir>/audit.jsonl` with `HMAC_KEY`; the text and the file.
pub fn audit_section(dir: &Path) -> (String, std::path::PathBuf) {
    let (audit, key) = (dir.join("audit.jsonl"), dir.join("hmac.key"));
    std::fs::write(&key, HMAC_KEY).unwrap();
    let text = format!(
        "\n[audit]\nfile = \"{}\"\nhmac_key_file = \"{}\"\n",
        audit.display(),
        key.display()
    );
    (text, audit)
}
