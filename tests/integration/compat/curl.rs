//! The curl column of the matrix: requests exactly as Vault's API docs write them
//! (`--request POST --data @payload.json`, which sends the JSON file as
//! `application/x-www-form-urlencoded`; PATCH with its merge-patch type; `--request LIST`).
//! Directly with `--header "X-Vault-Token: ..."`; through vaultgate with `--cacert`, `--cert`
//! and `--key` instead, and no token.

use serde_json::Value;

use super::outcome::{self, op, Kind, Op, Row};
use super::setup::{Column, Fixture, COMMON_NAME, PKI_ROLE, PLAINTEXT, TRANSIT_KEY};

const CLIENT: &str = "curl (API docs)";

/// Each operation with the method, path (`{P}` the run's KV prefix) and payload.json of the
/// docs' example (`{K}` the transit key, `{T}` the plaintext, `{C}` the fixture's ciphertext,
/// `{R}` the PKI role, `{N}` the common name).
type Request = (&'static str, &'static str, Option<&'static str>);

#[rustfmt::skip]
const OPS: [(Op, Request); 21] = [
    (op("create secret (cas 0)", "POST secret/data/P/db", Kind::Policy),
        ("POST", "secret/data/{P}/db", Some(r#"{"options": {"cas": 0}, "data": {"colour": "blue"}}"#))),
    (op("read secret version", "GET secret/data/P/db?version=1", Kind::Policy),
        ("GET", "secret/data/{P}/db?version=1", None)),
    (op("patch secret", "PATCH secret/data/P/db", Kind::Policy),
        ("PATCH", "secret/data/{P}/db", Some(r#"{"data": {"size": "large"}}"#))),
    (op("list secrets", "LIST secret/metadata/P", Kind::Policy),
        ("LIST", "secret/metadata/{P}", None)),
    (op("read metadata", "GET secret/metadata/P/db", Kind::Policy),
        ("GET", "secret/metadata/{P}/db", None)),
    (op("update metadata", "POST secret/metadata/P/db", Kind::Policy),
        ("POST", "secret/metadata/{P}/db", Some(r#"{"max_versions": 5, "custom_metadata": {"owner": "billing"}}"#))),
    (op("delete latest version", "DELETE secret/data/P/db", Kind::Policy),
        ("DELETE", "secret/data/{P}/db", None)),
    (op("undelete versions", "POST secret/undelete/P/db", Kind::Policy),
        ("POST", "secret/undelete/{P}/db", Some(r#"{"versions": [2]}"#))),
    (op("delete versions", "POST secret/delete/P/db", Kind::Policy),
        ("POST", "secret/delete/{P}/db", Some(r#"{"versions": [1]}"#))),
    (op("destroy versions", "PUT secret/destroy/P/db", Kind::Policy),
        ("PUT", "secret/destroy/{P}/db", Some(r#"{"versions": [1]}"#))),
    // Vault asks only `update` of these whether or not the key exists (no existence check):
    // a cleanup run twice succeeds.
    (op("delete versions of a key that does not exist", "POST secret/delete/P/gone", Kind::Policy),
        ("POST", "secret/delete/{P}/gone", Some(r#"{"versions": [1]}"#))),
    (op("undelete versions of a key that does not exist", "POST secret/undelete/P/gone", Kind::Policy),
        ("POST", "secret/undelete/{P}/gone", Some(r#"{"versions": [1]}"#))),
    (op("destroy versions of a key that does not exist", "PUT secret/destroy/P/gone", Kind::Policy),
        ("PUT", "secret/destroy/{P}/gone", Some(r#"{"versions": [1]}"#))),
    (op("delete metadata", "DELETE secret/metadata/P/db", Kind::Policy),
        ("DELETE", "secret/metadata/{P}/db", None)),
    (op("health", "GET sys/health", Kind::Unauthenticated),
        ("GET", "sys/health", None)),
    (op("seal status", "GET sys/seal-status", Kind::Unauthenticated),
        ("GET", "sys/seal-status", None)),
    (op("leader", "GET sys/leader", Kind::Unauthenticated),
        ("GET", "sys/leader", None)),
    (op("read CA certificate", "GET pki/ca/pem", Kind::Unauthenticated),
        ("GET", "pki/ca/pem", None)),
    (op("transit encrypt", "POST transit/encrypt/acme-billing", Kind::Policy),
        ("POST", "transit/encrypt/{K}", Some(r#"{"plaintext": "{T}"}"#))),
    (op("transit decrypt", "POST transit/decrypt/acme-billing", Kind::Policy),
        ("POST", "transit/decrypt/{K}", Some(r#"{"ciphertext": "{C}"}"#))),
    (op("pki issue", "POST pki/issue/acme-billing", Kind::Policy),
        ("POST", "pki/issue/{R}", Some(r#"{"common_name": "{N}", "ttl": "10m"}"#))),
];

/// Runs every request in order as `column`, from a folder of its own holding payload.json.
pub async fn run(fx: &Fixture, column: Column) -> Vec<(Op, String)> {
    let prefix = Fixture::prefix("curl", column);
    let env = fx.env(column);
    let var = |name: &str| env.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone());
    let vault_addr = var("VAULT_ADDR").unwrap();
    let folder = tempfile::tempdir().unwrap();
    let fill = |s: &str| {
        s.replace("{P}", &prefix)
            .replace("{K}", TRANSIT_KEY)
            .replace("{T}", PLAINTEXT)
            .replace("{C}", fx.ciphertext())
            .replace("{R}", PKI_ROLE)
            .replace("{N}", COMMON_NAME)
    };
    let mut out = Vec::new();
    for (op, (method, path, payload)) in OPS {
        let mut cmd = tokio::process::Command::new("curl");
        cmd.current_dir(folder.path()).kill_on_drop(true);
        // What the docs' examples leave implicit: quiet, and the status after the body.
        cmd.args(["--silent", "--show-error", "--write-out", "\n%{http_code}"]);
        match column {
            Column::Direct => {
                // The header from a file (curl reads `@file`), so the token is on no command line.
                cmd.args(["--header", "@token-header"]);
                let header = format!("X-Vault-Token: {}\n", fx.direct_token());
                std::fs::write(folder.path().join("token-header"), header).unwrap();
            }
            Column::Allowed | Column::Denied => {
                for (flag, name) in [
                    ("--cacert", "VAULT_CACERT"),
                    ("--cert", "VAULT_CLIENT_CERT"),
                    ("--key", "VAULT_CLIENT_KEY"),
                ] {
                    cmd.args([flag.to_owned(), var(name).unwrap()]);
                }
            }
        }
        match method {
            "GET" => {}
            "PATCH" => {
                cmd.args(["--header", "Content-Type: application/merge-patch+json"]);
                cmd.args(["--request", method]);
            }
            _ => {
                cmd.args(["--request", method]);
            }
        }
        if let Some(p) = payload {
            std::fs::write(folder.path().join("payload.json"), fill(p)).unwrap();
            cmd.args(["--data", "@payload.json"]);
        }
        cmd.arg(format!("{vault_addr}/v1/{}", fill(path)));
        let output = cmd.output().await.expect("run curl");
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        let outcome = match text.rsplit_once('\n') {
            Some((body, code)) if output.status.success() => {
                let status: u16 = code.trim().parse().unwrap_or(0);
                match serde_json::from_str::<Value>(body) {
                    Ok(json) => outcome::of_answer(Some(status), &json),
                    // pki/ca/pem answers PEM, not JSON.
                    Err(_) if body.starts_with("-----BEGIN CERTIFICATE-----") => {
                        format!("{status} PEM certificate")
                    }
                    Err(_) => outcome::of_answer(Some(status), &Value::Null),
                }
            }
            _ => format!(
                "error: curl exited {}: {}",
                output.status.code().unwrap_or(-1),
                String::from_utf8_lossy(&output.stderr).trim()
            ),
        };
        out.push((op, outcome));
    }
    out
}

/// The rows of this client.
pub async fn rows(fx: &Fixture) -> Vec<Row> {
    super::rows(CLIENT, fx, run).await
}
