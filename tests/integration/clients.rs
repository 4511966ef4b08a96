//! Real clients: Python hvac over mTLS, the bao CLI beyond the core test (delete, metadata,
//! token lookup refused), curl, and a plain HTTP client on a Unix-socket listener bound to a
//! fixed caller.

use std::path::Path;

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::clients::{hvac_python, installed};
use crate::support::gate::Gate;
use crate::support::openbao::OpenBao;
use crate::support::pki::Pki;

const HVAC_SCRIPT: &str = r#"
import sys, hvac
url, ca, cert, key = sys.argv[1:5]
client = hvac.Client(url=url, verify=ca, cert=(cert, key))
secret = client.secrets.kv.v2.read_secret_version(path="acme/billing/db", mount_point="secret", raise_on_deleted_version=True)
print(secret["data"]["data"]["password"])
client.secrets.kv.v2.create_or_update_secret(path="acme/billing/from-hvac", secret={"k": "v"}, mount_point="secret")
try:
    client.secrets.kv.v2.read_secret_version(path="globex/x", mount_point="secret", raise_on_deleted_version=True)
    print("globex readable")
except hvac.exceptions.Forbidden as e:
    print("forbidden:", e)
"#;

#[tokio::test]
async fn python_hvac_reads_writes_and_is_denied_through_the_proxy() {
    let bao = OpenBao::start().await;
    bao.kv_put("acme/billing/db", json!({"password": "hvac-pw"}))
        .await;
    bao.kv_put("globex/x", json!({"v": "no"})).await;
    let pki = Pki::new(&["acme/billing"]);
    let gate = Gate::start(&bao, &pki, &["acme/billing"]).await;
    let (cert, key) = pki.client("acme/billing");
    let out = hvac_python()
        .args(["-c", HVAC_SCRIPT, &gate.url()])
        .arg(pki.ca_cert())
        .arg(cert)
        .arg(key)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], "hvac-pw");
    assert!(
        lines[1].starts_with("forbidden:") && lines[1].contains("permission denied"),
        "{stdout}"
    );
    let (status, _) = bao
        .api("GET", "secret/data/acme/billing/from-hvac", None, "root")
        .await;
    assert_eq!(status, 200, "the hvac write did not reach OpenBao");
    gate.stop().await;
}

#[tokio::test]
async fn a_unix_socket_listener_serves_its_fixed_caller() {
    let bao = OpenBao::start().await;
    bao.kv_put("acme/billing/db", json!({"password": "unix-pw"}))
        .await;
    let pki = Pki::new(&["acme/billing"]);
    let socket_dir = tempfile::tempdir().unwrap();
    let socket = socket_dir.path().join("vaultgate.sock");
    let extra = format!(
        "\n[[listener]]\nunix = \"{}\"\nmode = \"0600\"\ntls_disable = true\ncaller = \"acme/billing\"\n",
        socket.display()
    );
    let repo_policies = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
    let gate = Gate::builder(&bao, &pki)
        .services(&["acme/billing"])
        .policies(&repo_policies)
        .extra(&extra)
        .start()
        .await;

    let request = |path: &str| {
        format!(
            "GET /v1/secret/data/{path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        )
    };
    let mut answers = Vec::new();
    for path in ["acme/billing/db", "acme/web/key"] {
        let mut stream = tokio::net::UnixStream::connect(&socket).await.unwrap();
        stream.write_all(request(path).as_bytes()).await.unwrap();
        let mut text = String::new();
        stream.read_to_string(&mut text).await.unwrap();
        answers.push(text);
    }
    assert!(answers[0].starts_with("HTTP/1.1 200"), "{}", answers[0]);
    assert!(answers[0].contains("unix-pw"));
    assert!(answers[1].starts_with("HTTP/1.1 403"), "{}", answers[1]);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&socket).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    gate.stop().await;
}

/// `bao` through vaultgate with only VAULT_* variables: the commands the core test does not
/// run (delete, metadata get/put/delete, undelete refused), and `token lookup` refused.
#[tokio::test]
async fn the_openbao_cli_deletes_reads_metadata_and_looks_up_only_its_view_of_the_token() {
    let bao = OpenBao::start().await;
    bao.kv_put("acme/billing/db", json!({"password": "cli-pw"}))
        .await;
    bao.kv_put("acme/billing/old", json!({"v": "1"})).await;
    let pki = Pki::new(&["acme/billing"]);
    let gate = Gate::start(&bao, &pki, &["acme/billing"]).await;
    let env = gate.cli_env(&pki, "acme/billing");
    let run = |args: &'static [&'static str]| bao.cli_outcome(args, &env);

    let (ok, text) = run(&["kv", "metadata", "get", "-mount=secret", "acme/billing/db"]).await;
    assert!(
        ok && text.contains("current_version"),
        "metadata get: {text}"
    );

    let (ok, text) = run(&["kv", "delete", "-mount=secret", "acme/billing/db"]).await;
    assert!(ok, "kv delete: {text}");
    let (status, body) = bao
        .api("GET", "secret/data/acme/billing/db", None, "root")
        .await;
    assert_eq!(status, 404, "a soft-deleted version reads as 404: {body}");
    assert!(body["data"]["metadata"]["deletion_time"] != "");

    let (ok, text) = run(&[
        "kv",
        "metadata",
        "delete",
        "-mount=secret",
        "acme/billing/old",
    ])
    .await;
    assert!(ok, "kv metadata delete: {text}");
    let (status, _) = bao
        .api("GET", "secret/metadata/acme/billing/old", None, "root")
        .await;
    assert_eq!(status, 404, "metadata delete removes every version");

    let (ok, text) = run(&["kv", "list", "-mount=secret", "acme/billing"]).await;
    assert!(
        ok && text.contains("db") && !text.contains("old"),
        "kv list: {text}"
    );

    // Another tenant's metadata and the token itself stay out of reach.
    let (ok, text) = run(&["kv", "metadata", "get", "-mount=secret", "globex/x"]).await;
    assert!(!ok && text.contains("403"), "{text}");
    // `bao token lookup` is answered by vaultgate (#16): the caller's view, no id.
    let before = bao.audit_requests();
    let (ok, text) = run(&["token", "lookup", "-format=json"]).await;
    assert!(ok, "token lookup: {text}");
    let view: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(view["data"]["display_name"], "vaultgate-acme-billing");
    assert_eq!(view["data"]["id"], "");
    assert_eq!(view["data"]["accessor"], "");
    let (ok, text) = run(&["token", "revoke", "-self"]).await;
    assert!(!ok && text.contains("403"), "token revoke -self: {text}");
    assert_eq!(
        bao.audit_requests(),
        before,
        "a token self-operation reached OpenBao"
    );
    gate.stop().await;
}

/// curl with the flags the README shows; skipped (with the reason printed) without curl.
#[tokio::test]
async fn curl_reads_writes_and_is_denied_with_a_client_certificate() {
    if !installed("curl") {
        eprintln!("skipped: curl is not installed");
        return;
    }
    let bao = OpenBao::start().await;
    bao.kv_put("acme/billing/db", json!({"password": "curl-pw"}))
        .await;
    let pki = Pki::new(&["acme/billing"]);
    let gate = Gate::start(&bao, &pki, &["acme/billing"]).await;
    let (cert, key) = pki.client("acme/billing");
    let curl = |args: Vec<String>| {
        let mut cmd = tokio::process::Command::new("curl");
        cmd.args(["-sS", "-w", "\n%{http_code}", "--cacert"])
            .arg(pki.ca_cert())
            .arg("--cert")
            .arg(&cert)
            .arg("--key")
            .arg(&key)
            .args(args);
        async move {
            let out = cmd.output().await.unwrap();
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            let (body, code) = text.rsplit_once('\n').unwrap_or(("", ""));
            (code.to_owned(), body.to_owned())
        }
    };
    let url = |p: &str| format!("{}/v1/secret/data/{p}", gate.url());

    let (code, body) = curl(vec![url("acme/billing/db")]).await;
    assert_eq!(code, "200", "{body}");
    assert!(body.contains("curl-pw"));
    let (code, body) = curl(vec![
        "-X".into(),
        "POST".into(),
        "-H".into(),
        "Content-Type: application/json".into(),
        "-d".into(),
        r#"{"data":{"k":"from-curl"}}"#.into(),
        url("acme/billing/curl"),
    ])
    .await;
    assert_eq!(code, "200", "{body}");
    let (status, _) = bao
        .api("GET", "secret/data/acme/billing/curl", None, "root")
        .await;
    assert_eq!(status, 200);
    let (code, body) = curl(vec![url("acme/web/key")]).await;
    assert_eq!(code, "403", "{body}");
    assert!(body.contains("permission denied"), "{body}");
    gate.stop().await;
}
