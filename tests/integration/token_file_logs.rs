//! [onboarding] Truthful logs for a `token_file` principal: vaultgate says it loaded a token
//! from a file, and says "logged in" only once Vault confirmed that token (`lookup-self`):
//! never while Vault is unreachable, never for a token Vault did not confirm.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::support::gate::{Gate, BROAD_VAULT_POLICY};
use crate::support::openbao::{free_port, OpenBao};
use crate::support::pki::Pki;

/// `vaultgate run` with one token_file service, until a log line of that principal says
/// `until`; returns every message of that principal, in order. The process is stopped.
async fn run_until(vault_address: &str, token: &str, until: &str) -> Vec<String> {
    let pki = Pki::new(&["acme/web"]);
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("web.token");
    std::fs::write(&token_file, format!("{token}\n")).unwrap();
    let policies = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
    let config = Gate::base_config(
        &format!("address = \"{vault_address}\"\ntimeout = \"2s\"\nconnect_timeout = \"1s\""),
        &pki,
        &policies,
    ) + &format!(
        "\n[[service]]\nname = \"acme/web\"\nauth = \"token_file\"\ntoken_file = \"{}\"\n",
        token_file.display()
    );
    let file = dir.path().join("vaultgate.toml");
    std::fs::write(&file, config).unwrap();
    let log = dir.path().join("vaultgate.log");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_vaultgate"))
        .args(["run", "--log-format", "json", "--config"])
        .arg(&file)
        .stderr(std::fs::File::create(&log).unwrap())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let messages = || -> Vec<String> {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v["principal"] == "acme/web")
            .map(|v| {
                format!(
                    "{} {}",
                    v["message"].as_str().unwrap_or(""),
                    v["error"].as_str().unwrap_or("")
                )
            })
            .collect()
    };
    let mut seen = Vec::new();
    for _ in 0..150 {
        seen = messages();
        if seen.iter().any(|m| m.contains(until)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    child.kill().await.unwrap();
    assert!(
        seen.iter().any(|m| m.contains(until)),
        "no {until:?} within 15 s; the principal logged: {seen:#?}"
    );
    seen
}

#[tokio::test]
async fn a_confirmed_token_is_loaded_then_logged_in() {
    let bao = OpenBao::start().await;
    bao.write_policy("vaultgate-test-broad", BROAD_VAULT_POLICY)
        .await;
    let token = bao.create_token(&["vaultgate-test-broad"], true).await;
    let seen = run_until(&bao.addr(), &token, "logged in to Vault").await;
    let loaded = seen
        .iter()
        .position(|m| m.starts_with("loaded a token from a file"));
    let confirmed = seen
        .iter()
        .position(|m| m.contains("it confirmed the token from the file (lookup-self)"));
    assert!(
        loaded.is_some() && loaded < confirmed,
        "expected the load, then the confirmation: {seen:#?}"
    );
}

#[tokio::test]
async fn no_login_is_claimed_while_vault_is_unreachable() {
    // Nothing listens on this port.
    let address = format!("http://127.0.0.1:{}", free_port());
    let seen = run_until(&address, "s.not-checked-yet", "login failed").await;
    assert!(
        !seen.iter().any(|m| m.contains("logged in")),
        "claimed a login Vault never saw: {seen:#?}"
    );
}

/// Vault answers `lookup-self` with 403 both for a token it refuses and for a valid token
/// created without the default policy (the hardened kind): vaultgate uses the token, says
/// Vault did not confirm it, and never says "logged in".
#[tokio::test]
async fn a_token_vault_does_not_confirm_is_used_but_not_called_logged_in() {
    let bao = OpenBao::start().await;
    let seen = run_until(&bao.addr(), "s.revoked-or-made-up", "did not confirm").await;
    assert!(!seen.iter().any(|m| m.contains("logged in")), "{seen:#?}");
    // A hardened token: valid, no default policy, so lookup-self is refused.
    bao.write_policy(
        "vaultgate-test-broad",
        BROAD_VAULT_POLICY
            .replace(
                "path \"auth/token/lookup-self\" { capabilities = [\"read\"] }",
                "",
            )
            .as_str(),
    )
    .await;
    let token = bao.create_token(&["vaultgate-test-broad"], true).await;
    let seen = run_until(&bao.addr(), &token, "did not confirm").await;
    assert!(!seen.iter().any(|m| m.contains("logged in")), "{seen:#?}");
}
