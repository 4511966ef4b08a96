//! What `vaultgate verify` prints: step lines, Vault's answers on one line, secrets by their
//! keys and tokens by accessor or hash prefix, never the values themselves.

use crate::digest::{hex, sha256};
use http::StatusCode;
use serde_json::Value;

use super::STEPS;
use crate::principal::auth::{vault_errors, Login};

/// Prints a step that passed, with what it found.
pub fn ok(step: u8, label: &str, detail: &str) {
    println!("[{step}/{STEPS}] {label}: ok ({detail})");
}

/// Prints the failed step and returns its number; `reason` starts with the verdict.
pub fn failed(step: u8, label: &str, reason: &str) -> u8 {
    println!("[{step}/{STEPS}] {label}: {reason}");
    step
}

/// `403 permission denied`: the status and Vault's own words (or the status text), on one
/// line: Vault wraps some errors as "1 error occurred:\n\t* permission denied\n\n".
pub fn answer(status: StatusCode, body: &Value) -> String {
    let errors = vault_errors(body);
    let words: Vec<&str> = errors
        .lines()
        .map(|l| l.trim().trim_start_matches("* ").trim())
        .filter(|l| !l.is_empty() && !is_error_count(l))
        .collect();
    if words.is_empty() || errors == "no error text" {
        status.to_string()
    } else {
        format!("{} {}", status.as_u16(), words.join("; "))
    }
}

/// The "1 error occurred:" / "2 errors occurred:" header of Vault's wrapped errors.
fn is_error_count(line: &str) -> bool {
    line.ends_with("occurred:") && line.contains(" error")
}

/// The keys of a read answer: `data.data` for KV v2 (with its version), else `data`.
pub fn describe_secret(body: &Value) -> String {
    let data = &body["data"];
    let (fields, version) = match (&data["data"], &data["metadata"]) {
        (Value::Object(fields), Value::Object(meta)) => (Some(fields), meta["version"].as_u64()),
        _ => (data.as_object(), None),
    };
    let keys = match fields {
        Some(f) if !f.is_empty() => {
            format!(
                "keys: {}",
                f.keys().map(String::as_str).collect::<Vec<_>>().join(", ")
            )
        }
        _ => "no keys".to_owned(),
    };
    match version {
        Some(v) => format!("{keys}; version {v}"),
        None => keys,
    }
}

pub fn describe_login(login: &Login) -> String {
    match login.ttl {
        Some(ttl) => format!("token {}, ttl {}s", fingerprint(login), ttl.as_secs()),
        None => format!("token {}", fingerprint(login)),
    }
}

/// How the report names a token: its accessor, or a short sha256 prefix when Vault gave no
/// accessor. Never the token.
pub fn fingerprint(login: &Login) -> String {
    match login.token.accessor() {
        // The check's own tokens, all revoked before it ends: an accessor lets the operator
        // find each in Vault's audit log.
        Some(a) => format!("accessor {}", a.expose()),
        None => {
            let digest = sha256(login.token.expose().as_bytes());
            format!("sha256:{}", hex(&digest[..4]))
        }
    }
}
