//! The script clients of the matrix: Python hvac (`tests/clients/hvac_matrix.py`) and a Node.js
//! `VaultClient` on the built-in `https` module (`tests/clients/vault_client.js`). Each runs
//! its operations in order and prints one JSON line per operation; the test knows which
//! operations to expect, so a script that stops early fails the matrix.

use serde_json::Value;

use super::outcome::{self, op, Kind, Op, Row};
use super::setup::{Column, Fixture};
use crate::support::clients::{client_script, hvac_pythonpath};

/// hvac has no way to say "no token, the proxy adds it": `is_authenticated()` answers False
/// without asking when the client has none. Through vaultgate it gets a placeholder, which
/// vaultgate drops (README, "Clients").
pub const HVAC_PLACEHOLDER_TOKEN: &str = "vaultgate";

#[rustfmt::skip]
const HVAC: [Op; 20] = [
    op("kv.v2.create_or_update_secret", "POST secret/data/P/db", Kind::Policy),
    op("kv.v2.read_secret_version", "GET secret/data/P/db", Kind::Policy),
    op("kv.v2.read_secret_version(version=1)", "GET secret/data/P/db?version=1", Kind::Policy),
    op("kv.v2.patch", "GET secret/data/P/db; POST secret/data/P/db (cas)", Kind::Policy),
    op("kv.v2.list_secrets", "LIST secret/metadata/P", Kind::Policy),
    op("kv.v2.read_secret_metadata", "GET secret/metadata/P/db", Kind::Policy),
    op("kv.v2.update_metadata", "POST secret/metadata/P/db", Kind::Policy),
    op("kv.v2.delete_latest_version_of_secret", "DELETE secret/data/P/db", Kind::Policy),
    op("kv.v2.undelete_secret_versions", "POST secret/undelete/P/db", Kind::Policy),
    op("kv.v2.delete_secret_versions", "POST secret/delete/P/db", Kind::Policy),
    op("kv.v2.destroy_secret_versions", "PUT secret/destroy/P/db", Kind::Policy),
    op("kv.v2.delete_metadata_and_all_versions", "DELETE secret/metadata/P/db", Kind::Policy),
    op("is_authenticated", "GET auth/token/lookup-self", Kind::SelfOp),
    op("sys.is_initialized", "GET sys/init", Kind::Unauthenticated),
    op("sys.is_sealed", "GET sys/seal-status", Kind::Unauthenticated),
    op("sys.read_health_status()", "HEAD sys/health", Kind::Unauthenticated),
    op("sys.read_health_status(method=GET)", "GET sys/health", Kind::Unauthenticated),
    op("transit.encrypt_data", "POST transit/encrypt/acme-billing", Kind::Policy),
    op("transit.decrypt_data", "POST transit/decrypt/acme-billing", Kind::Policy),
    op("pki.generate_certificate", "POST pki/issue/acme-billing", Kind::Policy),
];

#[rustfmt::skip]
const NODE: [Op; 12] = [
    op("write", "POST secret/data/P/db", Kind::Policy),
    op("read", "GET secret/data/P/db", Kind::Policy),
    op("list", "LIST secret/metadata/P", Kind::Policy),
    op("healthCheck", "GET sys/health?standbyok=true", Kind::Unauthenticated),
    op("write (namespace header)", "POST secret/data/P/db, X-Vault-Namespace: apps", Kind::Policy),
    op("read (namespace header)", "GET secret/data/P/db, X-Vault-Namespace: apps", Kind::Policy),
    op("list (namespace header)", "LIST secret/metadata/P, X-Vault-Namespace: apps", Kind::Policy),
    op("delete (namespace header)", "DELETE secret/data/P/db, X-Vault-Namespace: apps", Kind::Policy),
    op("write transit/encrypt", "POST transit/encrypt/acme-billing", Kind::Policy),
    op("write transit/decrypt", "POST transit/decrypt/acme-billing", Kind::Policy),
    op("write pki/issue", "POST pki/issue/acme-billing", Kind::Policy),
    op("delete", "DELETE secret/data/P/db", Kind::Policy),
];

pub async fn hvac_rows(fx: &Fixture) -> Vec<Row> {
    super::rows("Python hvac", fx, run_hvac).await
}

pub async fn node_rows(fx: &Fixture) -> Vec<Row> {
    super::rows("Node.js https VaultClient", fx, run_node).await
}

async fn run_hvac(fx: &Fixture, column: Column) -> Vec<(Op, String)> {
    let mut env = fx.env(column);
    let python_path = hvac_pythonpath().display().to_string();
    env.push(("PYTHONPATH", python_path));
    if column != Column::Direct {
        env.push(("VAULT_TOKEN", HVAC_PLACEHOLDER_TOKEN.to_owned()));
    }
    let script = client_script("hvac_matrix.py");
    run_script("python3", &script, "hvac", column, env, &HVAC).await
}

async fn run_node(fx: &Fixture, column: Column) -> Vec<(Op, String)> {
    let script = client_script("vault_client.js");
    run_script("node", &script, "node", column, fx.env(column), &NODE).await
}

/// Runs `program script <prefix>` with a clean environment plus `env`; pairs the lines it
/// prints with `ops`.
async fn run_script(
    program: &str,
    script: &std::path::Path,
    client: &str,
    column: Column,
    env: Vec<(&'static str, String)>,
    ops: &[Op],
) -> Vec<(Op, String)> {
    let home = tempfile::tempdir().unwrap();
    let output = tokio::process::Command::new(program)
        .arg(script)
        .arg(Fixture::prefix(client, column))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .envs(env)
        .kill_on_drop(true)
        .output()
        .await
        .unwrap_or_else(|e| panic!("run {program} {}: {e}", script.display()));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or(Value::Null))
        .collect();
    ops.iter()
        .enumerate()
        .map(|(i, op)| {
            let outcome = match lines.get(i) {
                Some(line) if line["op"] == op.name => outcome_of(line),
                Some(line) => format!(
                    "error: expected {:?}, the script said {}",
                    op.name, line["op"]
                ),
                None => format!(
                    "error: no line (exit {:?}): {}",
                    output.status.code(),
                    String::from_utf8_lossy(&output.stderr)
                        .lines()
                        .last()
                        .unwrap_or("")
                ),
            };
            (*op, outcome)
        })
        .collect()
}

/// A script line's outcome: its plain value, its HTTP answer, or its error.
fn outcome_of(line: &Value) -> String {
    if let Some(v) = line.get("value") {
        return v.to_string();
    }
    if let Some(e) = line.get("error").and_then(Value::as_str) {
        return format!("error: {e}");
    }
    let status = line["status"].as_u64().and_then(|s| u16::try_from(s).ok());
    outcome::of_answer(status, &line["body"])
}
