//! `vaultgate verify` and `scripts/verify-vault-credentials.sh` against a real OpenBao: the
//! five steps pass for a well-configured AppRole, fail clearly where the role's policy falls
//! short, and the output never carries a token, secret id or secret value.

use std::path::Path;

use serde_json::json;

use crate::support::openbao::OpenBao;

/// Written to `secret/data/api`; must never appear in the check's output.
const SECRET_VALUE: &str = "verify-secret-value-d41c7";

/// What the seed's `my-app-role` needs: read the secret, revoke and look up its own token.
const APP_POLICY: &str = r#"
path "secret/data/api" { capabilities = ["read"] }
path "auth/token/revoke-self" { capabilities = ["update"] }
path "auth/token/lookup-self" { capabilities = ["read"] }
"#;

/// May read the secret but not revoke its own token.
const NO_REVOKE_POLICY: &str = r#"path "secret/data/api" { capabilities = ["read"] }"#;

/// May manage its own token but not read the secret.
const NO_READ_POLICY: &str = r#"
path "auth/token/revoke-self" { capabilities = ["update"] }
path "auth/token/lookup-self" { capabilities = ["read"] }
"#;

/// OpenBao with the secret and three roles: `my-app-role`, `no-read-role`, `no-revoke-role`.
async fn stack() -> OpenBao {
    let bao = OpenBao::start().await;
    bao.kv_put("api", json!({ "password": SECRET_VALUE, "user": "app" }))
        .await;
    bao.write_policy("my-app", APP_POLICY).await;
    bao.write_policy("no-read", NO_READ_POLICY).await;
    bao.write_policy("no-revoke", NO_REVOKE_POLICY).await;
    bao.enable_approle().await;
    bao.approle("my-app-role", &["my-app"]).await;
    bao.approle("no-read-role", &["no-read"]).await;
    bao.approle("no-revoke-role", &["no-revoke"]).await;
    bao
}

#[derive(Debug)]
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

/// Runs `program args` with only PATH and `envs` in its environment, without blocking the
/// runtime (the check talks to an OpenBao this test process supervises).
async fn run(program: &Path, args: &[&str], envs: &[(&str, String)]) -> Run {
    let out = tokio::process::Command::new(program)
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(envs.iter().map(|(k, v)| (k, v)))
        .kill_on_drop(true)
        .output()
        .await
        .unwrap();
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

async fn verify(role: &str, envs: &[(&str, String)]) -> Run {
    let bin = Path::new(env!("CARGO_BIN_EXE_vaultgate"));
    run(bin, &["verify", "--role", role, "secret/data/api"], envs).await
}

/// Words shaped like an OpenBao/Vault token (`s.…`, `hvs.…`, `b.…`): the check's own tokens
/// are never known to the test, so the output is searched for anything shaped like one.
fn token_like(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '.'))
        .filter(|w| {
            ["s.", "hvs.", "b.", "hvb.", "r.", "hvr."].iter().any(|p| {
                w.strip_prefix(p)
                    .is_some_and(|rest| rest.len() >= 20 && !rest.contains('.'))
            })
        })
        .map(str::to_owned)
        .collect()
}

fn assert_clean(run: &Run, secrets: &[&str]) {
    let all = run.all();
    assert!(!all.contains(SECRET_VALUE), "secret value printed:\n{all}");
    for s in secrets {
        assert!(!all.contains(s), "a credential was printed:\n{all}");
    }
    assert!(token_like(&all).is_empty(), "token printed:\n{all}");
}

fn assert_passed(run: &Run) {
    assert_eq!(run.code, Some(0), "{run:#?}");
    for step in 1..=5 {
        let line = run
            .stdout
            .lines()
            .find(|l| l.starts_with(&format!("[{step}/5] ")))
            .unwrap_or_else(|| panic!("no step {step}:\n{}", run.stdout));
        assert!(line.contains(": ok ("), "{line}");
    }
    assert!(
        run.stdout
            .contains("[2/5] read secret/data/api: ok (keys: password, user; version 1)"),
        "{}",
        run.stdout
    );
}

/// The accessor the report names for the revoked old token.
fn old_accessor(stdout: &str) -> String {
    let rest = stdout.split("old token accessor ").nth(1).unwrap();
    rest.split_whitespace().next().unwrap().to_owned()
}

async fn accessor_count(bao: &OpenBao) -> usize {
    let (status, body) = bao.api("LIST", "auth/token/accessors", None, "root").await;
    assert_eq!(status, 200, "{body}");
    body["data"]["keys"].as_array().unwrap().len()
}

#[tokio::test]
async fn passes_with_the_bootstrap_root_token_and_leaves_nothing_behind() {
    let bao = stack().await;
    // The leak check below only means something if it recognises this server's tokens.
    let probe = bao.create_token(&["my-app"], true).await;
    assert_eq!(token_like(&format!("x {probe} y")), vec![probe.clone()]);
    let tokens_before = accessor_count(&bao).await;

    let out = verify(
        "my-app-role",
        &[("VAULT_ADDR", bao.addr()), ("VAULT_TOKEN", "root".into())],
    )
    .await;
    assert_passed(&out);
    assert_clean(&out, &[&probe]);
    assert!(
        out.stdout.contains("revoked with revoke-self"),
        "{}",
        out.stdout
    );

    // The old token is really gone: Vault no longer knows its accessor.
    let accessor = old_accessor(&out.stdout);
    let (status, _) = bao.lookup_accessor(&accessor).await;
    assert_eq!(status, 400, "old token accessor {accessor} still known");
    // Cleanup revoked the new token and destroyed the secret id minted for the check.
    assert_eq!(accessor_count(&bao).await, tokens_before, "{}", out.stdout);
    let (status, body) = bao
        .api(
            "LIST",
            "auth/approle/role/my-app-role/secret-id",
            None,
            "root",
        )
        .await;
    let listed = body["data"]["keys"].as_array().map_or(0, Vec::len);
    // approle() in the stack minted one secret id; the check's own is gone.
    assert!(status == 200 && listed == 1, "{status} {body}");
}

#[tokio::test]
async fn passes_with_explicit_role_and_secret_ids_from_variables_or_files() {
    let bao = stack().await;
    let (role_id, secret_id) = bao.approle("my-app-role", &["my-app"]).await;
    let addr = ("VAULT_ADDR", bao.addr());

    let out = verify(
        "my-app-role",
        &[
            addr.clone(),
            ("VAULT_ROLE_ID", role_id.clone()),
            ("VAULT_SECRET_ID", secret_id.clone()),
        ],
    )
    .await;
    assert_passed(&out);
    assert!(
        out.stdout.contains("role id from VAULT_ROLE_ID"),
        "{}",
        out.stdout
    );
    assert_clean(&out, &[&role_id, &secret_id]);

    let dir = tempfile::tempdir().unwrap();
    let (role_file, secret_file) = (dir.path().join("role_id"), dir.path().join("secret_id"));
    std::fs::write(&role_file, format!("{role_id}\n")).unwrap();
    std::fs::write(&secret_file, format!("{secret_id}\n")).unwrap();
    let bin = Path::new(env!("CARGO_BIN_EXE_vaultgate"));
    let args = [
        "verify",
        "--role",
        "my-app-role",
        "--role-id-file",
        role_file.to_str().unwrap(),
        "--secret-id-file",
        secret_file.to_str().unwrap(),
        "secret/data/api",
    ];
    let out = run(bin, &args, &[addr]).await;
    assert_passed(&out);
    assert_clean(&out, &[&role_id, &secret_id]);
}

#[tokio::test]
async fn a_role_that_cannot_read_the_path_fails_at_step_2() {
    let bao = stack().await;
    let (role_id, secret_id) = bao.approle("no-read-role", &["no-read"]).await;
    for envs in [
        vec![
            ("VAULT_ADDR", bao.addr()),
            ("VAULT_TOKEN", "root".to_owned()),
        ],
        vec![
            ("VAULT_ADDR", bao.addr()),
            ("VAULT_ROLE_ID", role_id.clone()),
            ("VAULT_SECRET_ID", secret_id.clone()),
        ],
    ] {
        let out = verify("no-read-role", &envs).await;
        assert_ne!(out.code, Some(0), "{out:#?}");
        assert!(
            out.stdout
                .contains("[1/5] log in with AppRole no-read-role"),
            "{}",
            out.stdout
        );
        assert!(
            out.stdout.contains(
                "[2/5] read secret/data/api: denied (403 permission denied) — role no-read-role \
                 cannot read this path"
            ),
            "{}",
            out.stdout
        );
        assert!(!out.stdout.contains("[3/5]"), "{}", out.stdout);
        assert!(out.stderr.contains("failed at step 2/5"), "{}", out.stderr);
        assert_clean(&out, &[&role_id, &secret_id]);
    }
}

#[tokio::test]
async fn without_revoke_self_rotation_needs_the_bootstrap_token() {
    let bao = stack().await;
    let (role_id, secret_id) = bao.approle("no-revoke-role", &["no-revoke"]).await;
    let addr = ("VAULT_ADDR", bao.addr());

    let out = verify(
        "no-revoke-role",
        &[
            addr.clone(),
            ("VAULT_ROLE_ID", role_id.clone()),
            ("VAULT_SECRET_ID", secret_id.clone()),
        ],
    )
    .await;
    assert_ne!(out.code, Some(0), "{out:#?}");
    let step3 = out.stdout.lines().find(|l| l.starts_with("[3/5]")).unwrap();
    assert!(
        step3.contains("revoke-self answered 403 permission denied"),
        "{step3}"
    );
    assert!(
        step3.contains(r#"path "auth/token/revoke-self""#),
        "{step3}"
    );
    assert!(out.stderr.contains("failed at step 3/5"), "{}", out.stderr);
    assert_clean(&out, &[&role_id, &secret_id]);

    // With a bootstrap token the old token is revoked by its accessor instead.
    let out = verify(
        "no-revoke-role",
        &[
            addr,
            ("VAULT_ROLE_ID", role_id.clone()),
            ("VAULT_SECRET_ID", secret_id.clone()),
            ("VAULT_TOKEN", "root".into()),
        ],
    )
    .await;
    assert_passed(&out);
    assert!(
        out.stdout.contains("revoked with revoke-accessor"),
        "{}",
        out.stdout
    );
    assert_clean(&out, &[&role_id, &secret_id]);
}

#[tokio::test]
async fn the_seed_script_runs_the_check_with_the_same_arguments() {
    let bao = stack().await;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/verify-vault-credentials.sh");
    let envs = [
        ("VAULT_ADDR", bao.addr()),
        ("VAULT_TOKEN", "root".to_owned()),
        // The binary cargo built for these tests: no release build from inside a test.
        ("VAULTGATE_BIN", env!("CARGO_BIN_EXE_vaultgate").to_owned()),
    ];
    let out = run(&script, &["my-app-role", "secret/data/api"], &envs).await;
    assert_passed(&out);
    assert_clean(&out, &[]);

    let out = run(&script, &["my-app-role"], &envs).await;
    assert_eq!(out.code, Some(2), "{out:#?}");
    assert!(out.stderr.contains("usage:"), "{}", out.stderr);
}

/// May read dynamic database credentials and manage its own token.
const DB_POLICY: &str = r#"
path "database/creds/app" { capabilities = ["read"] }
path "auth/token/revoke-self" { capabilities = ["update"] }
path "auth/token/lookup-self" { capabilities = ["read"] }
path "auth/token/renew-self" { capabilities = ["update"] }
"#;

#[tokio::test]
async fn a_token_that_dies_before_the_lease_it_read_is_warned_about() {
    use crate::support::postgres::{database_role, Postgres};
    let (bao, pg) = (OpenBao::start().await, Postgres::start().await);
    pg.connect(&bao).await;
    database_role(&bao, "app", "1h", "2h").await;
    bao.write_policy("db-app", DB_POLICY).await;
    bao.enable_approle().await;
    // A token that can live 5 minutes at most, and a periodic one (no max TTL).
    for (role, terms) in [
        (
            "short-role",
            json!({"token_ttl": "60s", "token_max_ttl": "300s"}),
        ),
        ("periodic-role", json!({"token_period": "60s"})),
    ] {
        let mut body = json!({"token_policies": ["db-app"]});
        body.as_object_mut()
            .unwrap()
            .extend(terms.as_object().unwrap().clone());
        let path = format!("auth/approle/role/{role}");
        let (status, answer) = bao.api("POST", &path, Some(body), "root").await;
        assert!(status < 300, "{status} {answer}");
    }
    let bin = Path::new(env!("CARGO_BIN_EXE_vaultgate"));
    let envs = [("VAULT_ADDR", bao.addr()), ("VAULT_TOKEN", "root".into())];
    let check = |role: &'static str| {
        let envs = envs.clone();
        async move {
            let args = ["verify", "--role", role, "database/creds/app"];
            run(bin, &args, &envs).await
        }
    };

    let short = check("short-role").await;
    // A warning, not a failure: the five steps still pass.
    assert_eq!(short.code, Some(0), "{short:#?}");
    let warning = short
        .stdout
        .lines()
        .find(|l| l.starts_with("warning: the token can live"))
        .unwrap_or_else(|| panic!("no warning:\n{}", short.stdout));
    assert!(
        warning.contains("the lease it minted has 3600s") && warning.contains("token_period"),
        "{warning}"
    );
    assert_clean(&short, &[]);

    let periodic = check("periodic-role").await;
    assert_eq!(periodic.code, Some(0), "{periodic:#?}");
    assert!(!periodic.stdout.contains("warning:"), "{}", periodic.stdout);
}
