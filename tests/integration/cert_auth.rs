//! [auth-methods] `auth = "cert"` against OpenBao's cert auth method on its TLS listener: the
//! login presents the principal's certificate, renewals go over that same connection (OpenBao
//! renews only for the certificate that logged in), replaced files log in again, a
//! certificate the role does not trust is refused with the file named, an `[issuer]` may log
//! in this way, and `vaultgate verify --auth cert` checks such a role.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};
use vaultgate::app::App;
use vaultgate::config::Config;
use vaultgate::identity::Caller;

use crate::support::gate::{Gate, BROAD_VAULT_POLICY};
use crate::support::openbao::OpenBao;
use crate::support::pki::Pki;

/// OpenBao with TLS, the cert method at `cert/` and a role `billing` trusting the dev CA
/// whose tokens live `ttl` seconds (renewable to an hour).
async fn cert_vault(pki: &Pki, ttl: u64) -> OpenBao {
    let bao = OpenBao::start_with_tls(Some((pki.server_cert(), pki.server_key()))).await;
    bao.kv_put("acme/billing/db", json!({"password": "pw"}))
        .await;
    bao.write_policy("vaultgate-test-broad", BROAD_VAULT_POLICY)
        .await;
    let ca = std::fs::read_to_string(pki.ca_cert()).unwrap();
    for (path, body) in [
        ("sys/auth/cert", json!({"type": "cert"})),
        (
            "auth/cert/certs/billing",
            json!({
                "certificate": ca,
                "token_policies": ["vaultgate-test-broad"],
                "token_no_default_policy": true,
                "token_ttl": ttl,
                "token_max_ttl": 3600,
            }),
        ),
    ] {
        let (status, answer) = bao.api("POST", path, Some(body), "root").await;
        assert!(status < 300, "{path}: {status} {answer}");
    }
    bao
}

/// A vaultgate config in `dir` whose `acme/billing` logs in with the cert files given.
fn config(bao: &OpenBao, pki: &Pki, dir: &Path, cert: &Path, key: &Path) -> PathBuf {
    let policies = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
    let vault = format!(
        "address = \"{}\"\nca_cert = \"{}\"\ntimeout = \"5s\"\n",
        bao.tls_addr(),
        pki.ca_cert().display()
    );
    let text = Gate::base_config(&vault, pki, &policies)
        + &format!(
            "\n[[service]]\nname = \"acme/billing\"\nauth = \"cert\"\nrole = \"billing\"\n\
             client_cert = \"{}\"\nclient_key = \"{}\"\n",
            cert.display(),
            key.display()
        );
    let file = dir.join("vaultgate.toml");
    std::fs::write(&file, text).unwrap();
    file
}

/// What OpenBao says of a token (root `auth/token/lookup`).
async fn lookup(bao: &OpenBao, token: &str) -> Value {
    let (_, body) = bao
        .api(
            "POST",
            "auth/token/lookup",
            Some(json!({ "token": token })),
            "root",
        )
        .await;
    body["data"].clone()
}

/// Copies a service's certificate and key from the dev PKI over `cert` and `key`.
fn install(pki: &Pki, service: &str, cert: &Path, key: &Path) {
    let (c, k) = pki.client(service);
    // Into place by rename, each file whole: a reader never sees half a PEM.
    for (from, to) in [(k, key), (c, cert)] {
        let staging = to.with_extension("new");
        std::fs::copy(from, &staging).unwrap();
        std::fs::rename(&staging, to).unwrap();
    }
}

#[tokio::test]
async fn a_cert_login_reads_renews_over_its_certificate_and_follows_replaced_files() {
    let pki = Pki::new(&["acme/billing", "acme/jobs"]);
    // A 3 s TTL: the first renewal comes after about 2 s.
    let bao = cert_vault(&pki, 3).await;
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (
        dir.path().join("login.pem"),
        dir.path().join("login-key.pem"),
    );
    install(&pki, "acme/billing", &cert, &key);
    let file = config(&bao, &pki, dir.path(), &cert, &key);
    let gate = Gate::start_file(dir, &file).await;
    let client = pki.client_for("acme/billing");
    let url = format!("{}/v1/secret/data/acme/billing/db", gate.url());
    assert_eq!(client.get(&url).send().await.unwrap().status(), 200);

    let first = gate.token("acme/billing");
    let seen = lookup(&bao, &first).await;
    assert_eq!(seen["meta"]["cert_name"], "billing", "{seen}");
    assert_eq!(seen["meta"]["common_name"], "acme/billing", "{seen}");
    assert_eq!(seen["policies"], json!(["vaultgate-test-broad"]), "{seen}");

    // Renewed, not replaced: OpenBao renews a cert token only for the same certificate, so
    // a renewal without it would be refused and end in a second login instead.
    let cell = &gate.cells["acme/billing"];
    for _ in 0..100 {
        if cell.status().renewals > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let status = cell.status();
    assert!(status.renewals > 0, "no renewal within 10 s: {status:?}");
    assert_eq!(status.logins, 1, "{status:?}");
    assert_eq!(gate.token("acme/billing"), first);

    // New files (another certificate of the same CA): the next login presents them.
    install(&pki, "acme/jobs", &cert, &key);
    let mut now = Value::Null;
    for _ in 0..100 {
        now = lookup(&bao, &gate.token("acme/billing")).await;
        if now["meta"]["common_name"] == "acme/jobs" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        now["meta"]["common_name"], "acme/jobs",
        "replaced certificate not used within 10 s: {now}"
    );
    // The replaced token was revoked, not left to expire.
    let (status, _) = bao
        .api(
            "POST",
            "auth/token/lookup",
            Some(json!({ "token": first })),
            "root",
        )
        .await;
    assert_eq!(status, 403, "the first token is still valid");
    let fresh = client.get(&url).header("cache-control", "no-cache");
    assert_eq!(fresh.send().await.unwrap().status(), 200);
    gate.stop().await;
}

#[tokio::test]
async fn a_certificate_the_role_does_not_trust_is_refused_with_the_file_named() {
    let pki = Pki::new(&["acme/billing"]);
    let bao = cert_vault(&pki, 60).await;
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = pki.rogue_client();
    let file = config(&bao, &pki, dir.path(), &cert, &key);
    let app = App::start(Config::load(&file).unwrap()).await.unwrap();
    let cell = app
        .token_cell(&Caller::parse("acme/billing").unwrap())
        .unwrap()
        .clone();
    let mut error = None;
    for _ in 0..100 {
        error = cell.status().last_error;
        if error.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let error = error.expect("no failed login within 10 s");
    let expected = format!(
        "login: cert login with {} refused by Vault (400): ",
        cert.display()
    );
    assert!(error.starts_with(&expected), "{error}");
    assert!(error.contains("invalid certificate"), "{error}");
    assert!(cell.current().is_none());
    app.shutdown_handle().cancel();
    app.run().await.unwrap();
}

#[tokio::test]
async fn verify_checks_a_cert_role_with_the_client_certificate_of_the_environment() {
    let pki = Pki::new(&["acme/billing"]);
    let bao = cert_vault(&pki, 60).await;
    let (cert, key) = pki.client("acme/billing");
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_vaultgate"))
        .args(["verify", "--auth", "cert", "--role", "billing"])
        .arg("secret/data/acme/billing/db")
        .env_clear()
        .env("VAULT_ADDR", bao.tls_addr())
        .env("VAULT_CACERT", pki.ca_cert())
        .env("VAULT_CLIENT_CERT", &cert)
        .env("VAULT_CLIENT_KEY", &key)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(
        stdout.contains(&format!(
            "[1/5] log in with cert role billing (mount cert; certificate {}): ok (token accessor ",
            cert.display()
        )),
        "{stdout}"
    );
    assert!(stdout.contains("[5/5] old token rejected: ok"), "{stdout}");
    let pem = std::fs::read_to_string(&key).unwrap();
    let body = pem.lines().nth(1).unwrap();
    assert!(!stdout.contains(body), "key material printed");
}

#[tokio::test]
async fn an_issuer_may_log_in_with_a_certificate() {
    let pki = Pki::new(&["acme/billing"]);
    let bao = cert_vault(&pki, 60).await;
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = pki.client("acme/billing");
    let policies = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
    let vault = format!(
        "address = \"{}\"\nca_cert = \"{}\"\n",
        bao.tls_addr(),
        pki.ca_cert().display()
    );
    let text = Gate::base_config(&vault, &pki, &policies)
        + &format!(
            "\n[issuer]\nauth = \"cert\"\nrole = \"billing\"\nclient_cert = \"{}\"\n\
             client_key = \"{}\"\n\n[[service]]\nname = \"acme/billing\"\nauth = \"issued\"\n\
             policies = [\"vaultgate-test-broad\"]\n",
            cert.display(),
            key.display()
        );
    let file = dir.path().join("vaultgate.toml");
    std::fs::write(&file, text).unwrap();
    let gate = Gate::start_file(dir, &file).await;
    let child = lookup(&bao, &gate.token("acme/billing")).await;
    assert_eq!(
        child["policies"],
        json!(["vaultgate-test-broad"]),
        "{child}"
    );
    assert_eq!(child["meta"]["issued_by"], "vaultgate", "{child}");
    let client = pki.client_for("acme/billing");
    let url = format!("{}/v1/secret/data/acme/billing/db", gate.url());
    assert_eq!(client.get(&url).send().await.unwrap().status(), 200);
    gate.stop().await;
}
