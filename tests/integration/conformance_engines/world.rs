//! The OpenBao the engines test runs against: KV v1 at `kv/`, KV v2 at `secret/`, transit
//! and PKI, with keys, transit keys and PKI roles that exist from the start (chosen by the
//! seed), and what a case may create or remove (`Subject`): probed before OpenBao's own
//! answer and put back afterwards, so that vaultgate meets the state OpenBao decided on.

use serde_json::{json, Value};

use crate::support::differential::{Rng, EVERYTHING};
use crate::support::openbao::OpenBao;

/// Keys of both KV mounts; `ab` starts like `a`, `team/` nests one level.
pub const KV_KEYS: &[&str] = &["a", "b", "ab", "team/a", "team/b", "team/ab"];
pub const TRANSIT_KEYS: &[&str] = &["k1", "k2", "k3", "k4"];
pub const PKI_ROLES: &[&str] = &["web", "db", "ops"];
pub const ROLE_BODY: &str =
    r#"{"allowed_domains":"example.com","allow_subdomains":true,"key_type":"ec","max_ttl":"1h"}"#;
const ROOT_BODY: &str = r#"{"common_name":"example.com","key_type":"ec","ttl":"87600h"}"#;

/// What a request may bring into existence or remove, which is what OpenBao's create or
/// update choice (its existence check) depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    None,
    Kv1(String),
    Kv2(String),
    TransitKey(String),
    PkiRole(String),
    PkiRoot,
}

/// Values the request bodies carry that only the running server can make.
pub struct Fixtures {
    /// A ciphertext of transit key `k1`.
    pub ciphertext: String,
    /// A CSR for `svc.example.com`.
    pub csr: String,
    /// The PKI mount's CA certificate.
    pub ca_pem: String,
}

pub struct World {
    pub bao: OpenBao,
    /// The token carrying the generated policy.
    pub token: String,
    /// The token vaultgate holds: anything, sudo included.
    pub broad: String,
    pub fixtures: Fixtures,
}

async fn root(bao: &OpenBao, method: &str, path: &str, body: Option<Value>) -> Value {
    let (status, v) = bao.api(method, path, body, "root").await;
    assert!(status < 300, "setup {method} {path}: {status} {v}");
    v
}

impl World {
    /// A fresh server with the mounts, `policy` on a token, and the starting state drawn
    /// from `rng`.
    pub async fn start(policy: &str, rng: &mut Rng) -> World {
        let bao = OpenBao::start().await;
        let kv1 = json!({"type": "kv", "options": {"version": "1"}});
        root(&bao, "POST", "sys/mounts/kv", Some(kv1)).await;
        for engine in ["transit", "pki"] {
            let mount = json!({ "type": engine });
            root(&bao, "POST", &format!("sys/mounts/{engine}"), Some(mount)).await;
        }
        root(&bao, "POST", "pki/root/generate/internal", parse(ROOT_BODY)).await;
        bao.write_policy("generated", policy).await;
        bao.write_policy("everything", EVERYTHING).await;
        let token = bao.create_token(&["generated"], true).await;
        let broad = bao.create_token(&["everything"], true).await;
        let fixtures = fixtures(&bao).await;
        let world = World {
            bao,
            token,
            broad,
            fixtures,
        };
        // The starting state: `k1` and `web` always exist (the fixtures need them). A KV v2
        // key may have metadata and no version, which Vault's existence check counts as
        // existing while `cas = 0` still succeeds on it.
        world.bao.kv_put("upgraded", json!({"k": "seed"})).await;
        for key in KV_KEYS {
            if rng.chance(50) {
                world.bring(&Subject::Kv1((*key).to_owned()), true).await;
            }
            match rng.below(6) {
                0..=1 => world.bring(&Subject::Kv2((*key).to_owned()), true).await,
                2 => {
                    let metadata = Some(json!({"max_versions": 5}));
                    let path = format!("secret/metadata/{key}");
                    root(&world.bao, "POST", &path, metadata).await;
                }
                _ => {}
            }
        }
        for name in &TRANSIT_KEYS[1..] {
            if rng.chance(40) {
                world
                    .bring(&Subject::TransitKey((*name).to_owned()), true)
                    .await;
            }
        }
        for name in &PKI_ROLES[1..] {
            if rng.chance(50) {
                world
                    .bring(&Subject::PkiRole((*name).to_owned()), true)
                    .await;
            }
        }
        world
    }

    /// Whether the subject exists now (asked with the root token).
    pub async fn exists(&self, subject: &Subject) -> Option<bool> {
        let probe = match subject {
            Subject::None => return None,
            Subject::Kv1(key) => ("GET", format!("kv/{key}")),
            Subject::Kv2(key) => ("GET", format!("secret/metadata/{key}")),
            Subject::TransitKey(name) => ("GET", format!("transit/keys/{name}")),
            Subject::PkiRole(name) => ("GET", format!("pki/roles/{name}")),
            Subject::PkiRoot => ("LIST", "pki/issuers".to_owned()),
        };
        let (status, body) = self.bao.api(probe.0, &probe.1, None, "root").await;
        assert!(
            status == 200 || status == 404,
            "probe {} {}: {status} {body}",
            probe.0,
            probe.1
        );
        Some(status == 200)
    }

    /// Makes the subject exist (`true`) or not, with the root token.
    pub async fn bring(&self, subject: &Subject, present: bool) {
        let bao = &self.bao;
        match (subject, present) {
            (Subject::None, _) => {}
            (Subject::Kv1(key), true) => {
                root(
                    bao,
                    "POST",
                    &format!("kv/{key}"),
                    Some(json!({"k": "seed"})),
                )
                .await;
            }
            (Subject::Kv1(key), false) => {
                root(bao, "DELETE", &format!("kv/{key}"), None).await;
            }
            (Subject::Kv2(key), true) => bao.kv_put(key, json!({"k": "seed"})).await,
            (Subject::Kv2(key), false) => {
                root(bao, "DELETE", &format!("secret/metadata/{key}"), None).await;
            }
            (Subject::TransitKey(name), true) => {
                root(bao, "POST", &format!("transit/keys/{name}"), None).await;
            }
            (Subject::TransitKey(name), false) => {
                let config = Some(json!({"deletion_allowed": true}));
                root(bao, "POST", &format!("transit/keys/{name}/config"), config).await;
                root(bao, "DELETE", &format!("transit/keys/{name}"), None).await;
            }
            (Subject::PkiRole(name), true) => {
                let path = format!("pki/roles/{name}");
                root(bao, "POST", &path, parse(ROLE_BODY)).await;
            }
            (Subject::PkiRole(name), false) => {
                root(bao, "DELETE", &format!("pki/roles/{name}"), None).await;
            }
            (Subject::PkiRoot, true) => {
                root(bao, "POST", "pki/root/generate/internal", parse(ROOT_BODY)).await;
            }
            (Subject::PkiRoot, false) => {
                root(bao, "DELETE", "pki/root", None).await;
            }
        }
    }
}

fn parse(text: &str) -> Option<Value> {
    Some(serde_json::from_str(text).unwrap())
}

async fn fixtures(bao: &OpenBao) -> Fixtures {
    root(bao, "POST", "transit/keys/k1", None).await;
    let plaintext = Some(json!({"plaintext": "aGVsbG8="}));
    let encrypted = root(bao, "POST", "transit/encrypt/k1", plaintext).await;
    root(bao, "POST", "pki/roles/web", parse(ROLE_BODY)).await;
    let ca = root(bao, "GET", "pki/cert/ca", None).await;
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["svc.example.com".to_owned()]).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "svc.example.com");
    let csr = params.serialize_request(&key).unwrap().pem().unwrap();
    Fixtures {
        ciphertext: encrypted["data"]["ciphertext"].as_str().unwrap().to_owned(),
        csr,
        ca_pem: ca["data"]["certificate"].as_str().unwrap().to_owned(),
    }
}
