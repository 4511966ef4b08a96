//! Real clients other than the bao CLI: Python hvac over mTLS, and a plain HTTP client on a
//! Unix-socket listener bound to a fixed caller.

use std::path::Path;

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

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
    let pythonpath = Path::new(env!("CARGO_MANIFEST_DIR")).join(".tools/python");
    let out = tokio::process::Command::new("python3")
        .args(["-c", HVAC_SCRIPT, &gate.url()])
        .arg(pki.ca_cert())
        .arg(cert)
        .arg(key)
        .env("PYTHONPATH", pythonpath)
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
    let gate = Gate::start_with(&bao, &pki, &["acme/billing"], &[], &repo_policies, &extra).await;

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
