//! [ops] The docs and the example match the code: every key of examples/vaultgate.toml is in
//! the README's configuration reference, the example passes `vaultgate config check` laid
//! out as the demo and the compose stack lay it out, and scripts/demo.sh runs end to end on
//! ports it picks itself, stopping vaultgate (which revokes its tokens) before OpenBao.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::openbao::bao_binary;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// (table, key) for every key in the example, commented-out optional ones included.
fn example_keys() -> BTreeSet<(String, String)> {
    let text = std::fs::read_to_string(repo().join("examples/vaultgate.toml")).unwrap();
    let mut table = String::new();
    let mut keys = BTreeSet::new();
    for line in text.lines() {
        let line = line.trim_start_matches('#').trim();
        if let Some(rest) = line.strip_prefix('[') {
            let name = rest.trim_start_matches('[');
            if let Some(end) = name.find(']') {
                table = name[..end].to_owned();
            }
            continue;
        }
        let Some((key, _)) = line.split_once('=') else {
            continue;
        };
        let key = key.trim();
        if !key.is_empty() && key.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
            keys.insert((table.clone(), key.to_owned()));
        }
    }
    keys
}

/// The README's reference: for each "### `[table]`" heading, the `key`s its table rows name.
fn readme_reference() -> BTreeSet<(String, String)> {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let section = readme
        .split("## Configuration reference")
        .nth(1)
        .expect("README has a Configuration reference section");
    let section = section.split("\n## ").next().unwrap();
    let mut table = String::new();
    let mut keys = BTreeSet::new();
    for line in section.lines() {
        if let Some(h) = line.strip_prefix("### `[") {
            table = h
                .trim_start_matches('[')
                .split(']')
                .next()
                .unwrap()
                .to_owned();
        } else if let Some(row) = line.strip_prefix("| `") {
            let key = row.split('`').next().unwrap();
            keys.insert((table.clone(), key.to_owned()));
        }
    }
    keys
}

#[test]
fn every_example_key_is_in_the_readme_reference_and_back() {
    let example = example_keys();
    let readme = readme_reference();
    assert!(example.len() > 30, "too few keys parsed: {example:?}");
    let undocumented: Vec<_> = example.difference(&readme).collect();
    assert!(
        undocumented.is_empty(),
        "keys in examples/vaultgate.toml missing from the README reference: {undocumented:?}"
    );
    let unexampled: Vec<_> = readme.difference(&example).collect();
    assert!(
        unexampled.is_empty(),
        "README reference keys missing from examples/vaultgate.toml: {unexampled:?}"
    );
}

#[test]
fn the_example_config_passes_config_check_as_the_demo_lays_it_out() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        repo().join("examples/vaultgate.toml"),
        dir.path().join("vaultgate.toml"),
    )
    .unwrap();
    std::os::unix::fs::symlink(repo().join("policies"), dir.path().join("policies")).unwrap();
    for service in ["acme-billing", "globex-ledger"] {
        let secrets = dir.path().join("secrets").join(service);
        std::fs::create_dir_all(&secrets).unwrap();
        std::fs::write(secrets.join("role_id"), "role").unwrap();
        std::fs::write(secrets.join("secret_id"), "secret").unwrap();
    }
    let bin = env!("CARGO_BIN_EXE_vaultgate");
    let certs = Command::new(bin)
        .args(["certs", "init", "--dir"])
        .arg(dir.path().join("certs"))
        .args(["--service", "acme/billing", "--service", "globex/ledger"])
        .output()
        .unwrap();
    assert!(certs.status.success(), "{certs:?}");
    let check = Command::new(bin)
        .args(["config", "check"])
        .arg(dir.path().join("vaultgate.toml"))
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&check.stdout);
    assert!(
        check.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(out.contains("1 listener(s), 2 service(s)"), "{out}");
}

#[tokio::test]
async fn the_demo_script_runs_end_to_end() {
    let bao = bao_binary();
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("demo");
    let out = tokio::process::Command::new(repo().join("scripts/demo.sh"))
        .env("VAULTGATE_BIN", env!("CARGO_BIN_EXE_vaultgate"))
        .env("DEMO_DIR", &demo)
        .env_remove("DEMO_BAO_PORT")
        .env_remove("DEMO_VAULTGATE_PORT")
        .env_remove("DEMO_ADMIN_PORT")
        .env("PATH", path_with(&bao))
        .kill_on_drop(true)
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for want in [
        "demo-db-password", // acme/billing reads its secret with the bao CLI
        "api\ndb",          // ... writes one and lists both
        "no rule matches \"secret/data/acme/web/key\"", // ... is denied another service's
        "vaultgate-acme-billing", // ... sees vaultgate's view of its token
        "revoke-self is refused", // ... and cannot revoke it
        "globex-ledger-password", // globex/ledger reads its own over curl
        "-> HTTP 403",
        "-> HTTP 400", // the ambiguous path
        "service acme/billing: auth approle",
        "policy set digest",
        "==> vaultgate stopped\n==> OpenBao stopped\n",
        "Next: scripts/demo.sh --keep",
    ] {
        assert!(text.contains(want), "demo output lacks {want:?}:\n{text}");
    }
    // Stopped in order, vaultgate revoked both services' tokens while OpenBao still answered.
    let log = std::fs::read_to_string(demo.join("vaultgate.log")).unwrap();
    for principal in ["acme/billing", "globex/ledger"] {
        assert!(
            log.lines()
                .any(|l| l.contains("token revoked") && l.contains(principal)),
            "{principal}'s token was not revoked:\n{log}"
        );
    }
    assert!(!log.contains("revoke-self failed"), "{log}");
    assert!(!demo.join("pids").exists(), "nothing is left running");
}

/// PATH with the bao binary's folder first, as a fresh machine after the installer has it.
fn path_with(bao: &Path) -> String {
    format!(
        "{}:{}",
        bao.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    )
}
