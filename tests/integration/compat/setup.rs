//! The matrix's world: a real OpenBao dev server with KV v2 (also in namespace `apps`),
//! transit (a key per service) and PKI (a root CA and a role per service); the tenant policy
//! (the repository's `policies/acme.hcl` plus the canonical update-only transit and PKI
//! grants), the same policy on an OpenBao token for the direct runs, and vaultgate in front
//! with `acme/billing` (allowed) and `acme/web` (denied: its policy covers only its own paths).

use serde_json::{json, Value};

use crate::support::gate::{Gate, BROAD_VAULT_POLICY};
use crate::support::openbao::OpenBao;
use crate::support::pki::Pki;

pub const ALLOWED: &str = "acme/billing";
pub const DENIED: &str = "acme/web";
pub const NAMESPACE: &str = "apps";
pub const TRANSIT_KEY: &str = "acme-billing";
pub const PKI_ROLE: &str = "acme-billing";
pub const COMMON_NAME: &str = "svc.billing.acme.test";
/// base64 of "compat matrix".
pub const PLAINTEXT: &str = "Y29tcGF0IG1hdHJpeA==";

/// Appended to `policies/acme.hcl`: the grants Vault's docs give for these engines.
pub const TENANT_RULES: &str = r#"
# Added by the client compatibility matrix (tests/integration/compat/setup.rs).
# Transit and PKI as Vault's docs grant them: these endpoints are updates only.
path "transit/encrypt/{{tenant}}-{{service}}" {
  capabilities = ["update"]
}
path "transit/decrypt/{{tenant}}-{{service}}" {
  capabilities = ["update"]
}
path "pki/issue/{{tenant}}-{{service}}" {
  capabilities = ["update"]
}
# KV v2 in namespace apps (a client sending X-Vault-Namespace: apps).
path "apps/secret/data/{{tenant}}/{{service}}/*" {
  capabilities = ["read", "create", "update", "delete"]
}
path "apps/secret/metadata/{{tenant}}/{{service}}/*" {
  capabilities = ["list"]
}
"#;

/// The Vault policy of vaultgate's own service tokens: broader than any tenant policy, so
/// every deny in the matrix is vaultgate's.
const SERVICE_RULES: &str = r#"
path "transit/*" { capabilities = ["create", "read", "update", "list"] }
path "pki/*" { capabilities = ["create", "read", "update", "list"] }
path "apps/secret/*" { capabilities = ["create", "read", "update", "patch", "delete", "list"] }
path "apps/sys/internal/ui/mounts/*" { capabilities = ["read"] }
"#;

/// Who runs an operation, and against what.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Column {
    Direct,
    Allowed,
    Denied,
}

impl Column {
    /// The last segment of the run's KV prefix: the denied caller aims at the allowed
    /// caller's keys, after the allowed run made them.
    pub fn label(self) -> &'static str {
        match self {
            Column::Direct => "direct",
            Column::Allowed | Column::Denied => "gate",
        }
    }
}

pub struct Fixture {
    pub bao: OpenBao,
    pub pki: Pki,
    pub gate: Gate,
    direct_token: String,
    ciphertext: String,
    _policies: tempfile::TempDir,
}

impl Fixture {
    pub async fn start() -> Fixture {
        let bao = OpenBao::start().await;
        // Waits out the dev server's KV v2 upgrade of `secret/`.
        bao.kv_put("compat/ready", json!({"ok": true})).await;
        root(&bao, "POST", &format!("sys/namespaces/{NAMESPACE}"), None).await;
        let kv2 = json!({"type": "kv", "options": {"version": "2"}});
        root(
            &bao,
            "POST",
            &format!("{NAMESPACE}/sys/mounts/secret"),
            Some(kv2),
        )
        .await;
        kv_ready(&bao, &format!("{NAMESPACE}/secret/data/compat/ready")).await;

        root(
            &bao,
            "POST",
            "sys/mounts/transit",
            Some(json!({"type": "transit"})),
        )
        .await;
        root(&bao, "POST", &format!("transit/keys/{TRANSIT_KEY}"), None).await;
        let pki_mount = json!({"type": "pki", "config": {"max_lease_ttl": "24h"}});
        root(&bao, "POST", "sys/mounts/pki", Some(pki_mount)).await;
        let ec =
            json!({"common_name": "compat.test", "ttl": "24h", "key_type": "ec", "key_bits": 256});
        root(&bao, "POST", "pki/root/generate/internal", Some(ec)).await;
        let role = json!({"allowed_domains": "billing.acme.test", "allow_subdomains": true,
                          "max_ttl": "1h", "key_type": "ec", "key_bits": 256});
        root(&bao, "POST", &format!("pki/roles/{PKI_ROLE}"), Some(role)).await;
        let encrypted = root(
            &bao,
            "POST",
            &format!("transit/encrypt/{TRANSIT_KEY}"),
            Some(json!({"plaintext": PLAINTEXT})),
        )
        .await;
        let ciphertext = encrypted["data"]["ciphertext"].as_str().unwrap().to_owned();

        let tenant_policy = tenant_policy();
        let policies = tempfile::tempdir().unwrap();
        std::fs::write(policies.path().join("acme.hcl"), &tenant_policy).unwrap();
        let literal = tenant_policy
            .replace("{{tenant}}", "acme")
            .replace("{{service}}", "billing");
        bao.write_policy("compat-acme-billing", &literal).await;
        // A service's token as Vault issues it: its policy plus Vault's default policy.
        let direct_token = bao.create_token(&["compat-acme-billing"], false).await;

        let pki = Pki::new(&[ALLOWED, DENIED]);
        let vault = format!(
            "{}namespaces = [\"{NAMESPACE}\"]\n",
            Gate::default_vault(&bao)
        );
        let gate = Gate::builder(&bao, &pki)
            .services(&[ALLOWED, DENIED])
            .policies(policies.path())
            .vault(&vault)
            .service_policy(&format!("{BROAD_VAULT_POLICY}{SERVICE_RULES}"))
            .start()
            .await;
        gate.discovered().await;
        Fixture {
            bao,
            pki,
            gate,
            direct_token,
            ciphertext,
            _policies: policies,
        }
    }

    /// The environment a client of `column` runs with: where Vault is and who it is (a token
    /// directly; the CA and the service's certificate through vaultgate, and no token), plus
    /// the matrix's fixtures (`COMPAT_*`).
    pub fn env(&self, column: Column) -> Vec<(&'static str, String)> {
        let mut env = match column {
            Column::Direct => vec![
                ("VAULT_ADDR", self.bao.addr()),
                ("VAULT_TOKEN", self.direct_token.clone()),
            ],
            Column::Allowed => self.gate.cli_env(&self.pki, ALLOWED),
            Column::Denied => self.gate.cli_env(&self.pki, DENIED),
        };
        env.extend([
            ("COMPAT_NAMESPACE", NAMESPACE.to_owned()),
            ("COMPAT_TRANSIT_KEY", TRANSIT_KEY.to_owned()),
            ("COMPAT_PLAINTEXT", PLAINTEXT.to_owned()),
            ("COMPAT_CIPHERTEXT", self.ciphertext.clone()),
            ("COMPAT_PKI_ROLE", PKI_ROLE.to_owned()),
            ("COMPAT_COMMON_NAME", COMMON_NAME.to_owned()),
        ]);
        env
    }

    /// The KV prefix (under `secret/`) of `client`'s run in `column`.
    pub fn prefix(client: &str, column: Column) -> String {
        format!("{ALLOWED}/{client}-{}", column.label())
    }

    pub fn ciphertext(&self) -> &str {
        &self.ciphertext
    }

    pub fn direct_token(&self) -> &str {
        &self.direct_token
    }
}

/// The tenant policy vaultgate enforces: the repository's `policies/acme.hcl` as shipped,
/// plus [`TENANT_RULES`].
pub fn tenant_policy() -> String {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/acme.hcl");
    std::fs::read_to_string(repo).unwrap() + TENANT_RULES
}

async fn root(bao: &OpenBao, method: &str, path: &str, body: Option<Value>) -> Value {
    let (status, v) = bao.api(method, path, body, "root").await;
    assert!(status < 300, "{method} {path}: {status} {v}");
    v
}

/// A new KV v2 mount answers 400 while it upgrades: write `path` until it takes (5 s).
async fn kv_ready(bao: &OpenBao, path: &str) {
    let ready = crate::support::eventually(std::time::Duration::from_secs(5), || async {
        let body = json!({"data": {"ok": true}});
        let (status, _) = bao.api("POST", path, Some(body), "root").await;
        (status < 300).then_some(())
    })
    .await;
    assert!(
        ready.is_some(),
        "{path}: the KV v2 mount did not become writable"
    );
}
