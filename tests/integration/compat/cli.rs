//! The `bao` CLI rows of the matrix: the whole `bao kv` lifecycle, `bao read`/`write`/`delete`
//! on KV, transit and PKI paths, the token self-operations and `bao status`, each one command
//! as a user types it (`-format=json` wherever the command takes it, so that the answers can
//! be compared).

use super::outcome::{self, op, Kind, Op, Row};
use super::setup::{Column, Fixture, COMMON_NAME, PKI_ROLE, PLAINTEXT, TRANSIT_KEY};

const CLIENT: &str = "bao CLI";

/// Each operation as the table names it, the requests it makes (`P` is the run's KV prefix;
/// "preflight" is `GET sys/internal/ui/mounts/secret`, the KV version check), and the command
/// line (`{P}` the prefix, `{K}` the transit key, `{T}` the plaintext, `{C}` the fixture's
/// ciphertext, `{R}` the PKI role, `{N}` the common name).
#[rustfmt::skip]
const OPS: [(Op, &str); 29] = [
    (op("kv put", "preflight; PUT secret/data/P/db", Kind::Policy),
        "kv put -format=json -mount=secret {P}/db colour=blue"),
    (op("kv get", "preflight; GET secret/data/P/db", Kind::Policy),
        "kv get -format=json -mount=secret {P}/db"),
    (op("kv get (path form)", "GET sys/internal/ui/mounts/secret/P/db; GET secret/data/P/db", Kind::Policy),
        "kv get -format=json secret/{P}/db"),
    (op("kv patch", "preflight; PATCH secret/data/P/db (merge-patch)", Kind::Policy),
        "kv patch -format=json -mount=secret {P}/db size=large"),
    (op("kv patch -method=rw", "preflight; GET, then PUT secret/data/P/db (cas)", Kind::Policy),
        "kv patch -format=json -method=rw -mount=secret {P}/db shape=round"),
    (op("kv get -version=1", "preflight; GET secret/data/P/db?version=1", Kind::Policy),
        "kv get -format=json -version=1 -mount=secret {P}/db"),
    (op("kv list", "preflight; LIST secret/metadata/P", Kind::Policy),
        "kv list -format=json -mount=secret {P}"),
    (op("kv metadata get", "preflight; GET secret/metadata/P/db", Kind::Policy),
        "kv metadata get -format=json -mount=secret {P}/db"),
    (op("kv metadata put", "preflight; PUT secret/metadata/P/db", Kind::Policy),
        "kv metadata put -format=json -mount=secret -max-versions=5 -custom-metadata=owner=billing {P}/db"),
    (op("kv metadata patch", "preflight; PATCH secret/metadata/P/db", Kind::Policy),
        "kv metadata patch -format=json -mount=secret -custom-metadata=team=payments {P}/db"),
    (op("kv delete", "preflight; DELETE secret/data/P/db", Kind::Policy),
        "kv delete -format=json -mount=secret {P}/db"),
    (op("kv undelete", "preflight; PUT secret/undelete/P/db", Kind::Policy),
        "kv undelete -format=json -mount=secret -versions=3 {P}/db"),
    (op("kv delete -versions", "preflight; PUT secret/delete/P/db", Kind::Policy),
        "kv delete -format=json -mount=secret -versions=1 {P}/db"),
    (op("kv destroy", "preflight; PUT secret/destroy/P/db", Kind::Policy),
        "kv destroy -format=json -mount=secret -versions=1 {P}/db"),
    (op("kv destroy (a key that does not exist)", "preflight; PUT secret/destroy/P/gone", Kind::Policy),
        "kv destroy -format=json -mount=secret -versions=1 {P}/gone"),
    (op("kv rollback", "preflight; GET secret/data/P/db, ?version=2; PUT secret/data/P/db (cas)", Kind::Policy),
        "kv rollback -format=json -mount=secret -version=2 {P}/db"),
    (op("kv put -namespace=apps", "X-Vault-Namespace: apps on each: preflight; PUT secret/data/P/db", Kind::Policy),
        "kv put -format=json -namespace=apps -mount=secret {P}/db colour=red"),
    (op("kv get -namespace=apps", "X-Vault-Namespace: apps on each: preflight; GET secret/data/P/db", Kind::Policy),
        "kv get -format=json -namespace=apps -mount=secret {P}/db"),
    (op("kv list -namespace=apps", "X-Vault-Namespace: apps on each: preflight; LIST secret/metadata/P", Kind::Policy),
        "kv list -format=json -namespace=apps -mount=secret {P}"),
    (op("read", "GET secret/data/P/db", Kind::Policy),
        "read -format=json secret/data/{P}/db"),
    (op("delete", "DELETE secret/data/P/db", Kind::Policy),
        "delete -format=json secret/data/{P}/db"),
    // `kv metadata delete` takes no -format.
    (op("kv metadata delete", "preflight; DELETE secret/metadata/P/db", Kind::Policy),
        "kv metadata delete -mount=secret {P}/db"),
    (op("write transit/encrypt", "PUT transit/encrypt/acme-billing", Kind::Policy),
        "write -format=json transit/encrypt/{K} plaintext={T}"),
    (op("write transit/decrypt", "PUT transit/decrypt/acme-billing", Kind::Policy),
        "write -format=json transit/decrypt/{K} ciphertext={C}"),
    (op("write pki/issue", "PUT pki/issue/acme-billing", Kind::Policy),
        "write -format=json pki/issue/{R} common_name={N} ttl=10m"),
    (op("read pki/cert/ca", "GET pki/cert/ca", Kind::Unauthenticated),
        "read -format=json pki/cert/ca"),
    (op("token lookup", "GET auth/token/lookup-self", Kind::SelfOp),
        "token lookup -format=json"),
    (op("token renew", "PUT auth/token/renew-self", Kind::SelfOp),
        "token renew -format=json"),
    (op("status", "GET sys/seal-status; GET sys/leader", Kind::Unauthenticated),
        "status -format=json"),
];

/// Runs every operation in order as `column`; returns the outcomes.
pub async fn run(fx: &Fixture, column: Column) -> Vec<(Op, String)> {
    let prefix = Fixture::prefix("bao", column);
    let env = fx.env(column);
    let mut out = Vec::new();
    for (op, command) in OPS {
        let argv: Vec<String> = command
            .split_whitespace()
            .map(|a| {
                a.replace("{P}", &prefix)
                    .replace("{C}", fx.ciphertext())
                    .replace("{K}", TRANSIT_KEY)
                    .replace("{T}", PLAINTEXT)
                    .replace("{R}", PKI_ROLE)
                    .replace("{N}", COMMON_NAME)
            })
            .collect();
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let output = fx.bao.cli(&argv, &env).await;
        out.push((op, outcome_of(&output)));
    }
    out
}

/// `ok` and the answer's summary for a command that succeeded; `HTTP <code>` for one that
/// printed Vault's error code; `exit <n>` otherwise.
fn outcome_of(output: &std::process::Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout);
    if output.status.success() {
        return match serde_json::from_str(&stdout) {
            Ok(v) => outcome::of_answer(None, &v),
            Err(_) => "ok".to_owned(),
        };
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    match stderr.split("Code: ").nth(1).and_then(|r| r.get(..3)) {
        Some(code) => outcome::error(code.parse().unwrap_or(0), &stderr),
        None => format!(
            "exit {}: {}",
            output.status.code().unwrap_or(-1),
            stderr.lines().next().unwrap_or("")
        ),
    }
}

/// The rows of this client.
pub async fn rows(fx: &Fixture) -> Vec<Row> {
    super::rows(CLIENT, fx, run).await
}
