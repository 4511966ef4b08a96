//! [ops] A real `vaultgate run` process: JSON logs when stderr is not a terminal, the startup
//! summary, no secret in any log line, SIGHUP/SIGUSR1/SIGUSR2/SIGTERM; server certificates
//! reloaded without a restart (file change in-process, SIGHUP in the process), a bad
//! certificate keeping the good one.

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};

use crate::support::gate::{Gate, BROAD_VAULT_POLICY};
use crate::support::openbao::{free_port, OpenBao};
use crate::support::pki::Pki;
use crate::support::poll_status;

/// The DER of the server certificate a fresh connection to `url` is shown.
async fn served_cert(pki: &Pki, url: &str) -> Option<Vec<u8>> {
    // A new client per call: a pooled connection would keep the old handshake.
    let resp = pki.client_for("acme/billing").get(url).send().await.ok()?;
    let info = resp.extensions().get::<reqwest::tls::TlsInfo>()?;
    info.peer_certificate().map(<[u8]>::to_vec)
}

fn file_cert(file: &Path) -> Vec<u8> {
    vaultgate::pem::read_certs(file).unwrap()[0].to_vec()
}

/// Opens new connections until one is shown `want`, at most 50 times 100 ms.
async fn until_served(pki: &Pki, url: &str, want: &[u8]) -> bool {
    for _ in 0..50 {
        if served_cert(pki, url).await.as_deref() == Some(want) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test]
async fn a_replaced_server_certificate_is_served_without_a_restart() {
    let bao = OpenBao::start().await;
    bao.kv_put("acme/billing/db", json!({"password": "pw"}))
        .await;
    let pki = Pki::new(&["acme/billing"]);
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.jsonl");
    let gate = Gate::builder(&bao, &pki)
        .services(&["acme/billing"])
        .extra(&format!("\n[audit]\nfile = \"{}\"\n", audit.display()))
        .start()
        .await;
    let url = format!("{}/v1/secret/data/acme/billing/db", gate.url());
    let first = file_cert(&pki.server_cert());
    assert_eq!(served_cert(&pki, &url).await, Some(first.clone()));

    // A second `certs init` in the same folder reissues the server certificate (same CA).
    let billing = vaultgate::identity::Caller::parse("acme/billing").unwrap();
    vaultgate::cli::certs::init(
        pki.dir(),
        &[billing],
        crate::support::pki::TRUST_DOMAIN,
        &["reloaded.test".to_owned()],
    )
    .unwrap();
    let second = file_cert(&pki.server_cert());
    assert_ne!(first, second);
    assert!(
        until_served(&pki, &url, &second).await,
        "new connections still see the old certificate"
    );
    let client = pki.client_for("acme/billing");
    assert_eq!(client.get(&url).send().await.unwrap().status(), 200);

    // A broken certificate file is refused; the certificate in force stays.
    std::fs::write(pki.server_cert(), "-----BEGIN CERTIFICATE-----\nbroken\n").unwrap();
    // The refusal is an audit event; wait for it rather than for a while.
    let refused = crate::support::eventually(Duration::from_secs(10), || {
        let text = std::fs::read_to_string(&audit).unwrap_or_default();
        async move {
            text.lines()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .any(|r| r["event"]["name"] == "tls_reload" && r["event"]["accepted"] == false)
                .then_some(())
        }
    })
    .await;
    assert!(refused.is_some(), "no refused tls_reload event was audited");
    for _ in 0..3 {
        assert_eq!(served_cert(&pki, &url).await, Some(second.clone()));
    }
    gate.stop().await;
}

#[tokio::test]
async fn a_real_run_logs_json_a_summary_and_no_secret_and_obeys_signals() {
    let bao = OpenBao::start().await;
    let secrets = ["billing-log-secret-value", "web-log-secret-value"];
    bao.kv_put("acme/billing/db", json!({ "password": secrets[0] }))
        .await;
    bao.kv_put("acme/web/key", json!({ "k": secrets[1] })).await;
    bao.write_policy("vaultgate-test-broad", BROAD_VAULT_POLICY)
        .await;
    let web_token = bao.create_token(&["vaultgate-test-broad"], true).await;
    let pki = Pki::new(&["acme/billing", "acme/web"]);
    let services = [("acme/web", web_token.as_str())];
    let (dir, config) = Gate::builder(&bao, &pki)
        .services(&["acme/billing"])
        .token_services(&services)
        .write()
        .await;
    let secret_id = std::fs::read_to_string(dir.path().join("acme-billing.secret_id")).unwrap();
    let port = free_port();
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace("127.0.0.1:0", &format!("127.0.0.1:{port}")),
    )
    .unwrap();
    let log = dir.path().join("vaultgate.log");
    // No --log-format: stderr is a file, so the lines must be JSON.
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_vaultgate"))
        .args(["run", "--config"])
        .arg(&config)
        .env_remove("VAULTGATE_LOG_FORMAT")
        // Every crate at every level, so the no-secret check covers hyper and rustls too.
        .env("VAULTGATE_LOG", "trace")
        .stderr(std::fs::File::create(&log).unwrap())
        .kill_on_drop(true)
        .spawn()
        .unwrap();

    let base = format!("https://127.0.0.1:{port}/v1/secret/data");
    let billing = pki.client_for("acme/billing");
    let url = format!("{base}/acme/billing/db");
    assert_eq!(poll_status(&billing, &url, 200, 200).await, 200);
    let written = "written-through-the-proxy-value";
    let put = billing
        .post(format!("{base}/acme/billing/new"))
        .json(&json!({ "data": { "v": written } }))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200);
    let web = pki.client_for("acme/web");
    let read = web
        .get(format!("{base}/acme/web/key"))
        .send()
        .await
        .unwrap();
    assert!(read.text().await.unwrap().contains(secrets[1]));
    let denied = billing
        .get(format!("{base}/acme/web/key"))
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), 403);

    // SIGHUP after reissuing the server certificate: new connections get the new one.
    vaultgate::cli::certs::init(pki.dir(), &[], crate::support::pki::TRUST_DOMAIN, &[]).unwrap();
    let pid = child.id().unwrap().to_string();
    let signal = |sig: &'static str| {
        let pid = pid.clone();
        async move {
            let status = tokio::process::Command::new("kill")
                .args([sig, &pid])
                .status()
                .await
                .unwrap();
            assert!(status.success(), "kill {sig}");
        }
    };
    signal("-HUP").await;
    let new_cert = file_cert(&pki.server_cert());
    assert!(until_served(&pki, &url, &new_cert).await);

    // Incident response by signal: SIGUSR1 locks down (503, tokens revoked), SIGUSR2 unlocks.
    signal("-USR1").await;
    assert_eq!(poll_status(&billing, &url, 503, 100).await, 503);
    signal("-USR2").await;
    assert_eq!(poll_status(&billing, &url, 200, 200).await, 200);

    signal("-TERM").await;
    let exit = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(exit.code(), Some(0));

    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let messages: Vec<&str> = lines.iter().filter_map(|v| v["message"].as_str()).collect();
    let (_, health) = bao.api("GET", "sys/health", None, "").await;
    let version = health["version"].as_str().unwrap();
    let expected = [
        "configuration loaded".to_owned(),
        "policies loaded".to_owned(),
        "TLS certificate loaded".to_owned(),
        format!("listener https://127.0.0.1:{port}: callers from client certificates"),
        "service acme/billing: auth approle".to_owned(),
        "service acme/web: auth token_file".to_owned(),
        "policy set digest ".to_owned(),
        format!("vault {} version {version}", bao.addr()),
        "logged in to Vault".to_owned(),
        "SIGHUP: reloading TLS certificates".to_owned(),
        "TLS certificate reloaded".to_owned(),
        "SIGUSR1: lockdown".to_owned(),
        "SIGUSR2: unlock".to_owned(),
    ];
    for want in &expected {
        assert!(
            messages.iter().any(|m| m.contains(want.as_str())),
            "no log line with {want:?} in:\n{}",
            messages.join("\n")
        );
    }

    // Every token OpenBao issued but its dev root token (which vaultgate never holds, and
    // whose value "root" is part of every path under /root).
    let mut forbidden: Vec<String> = bao
        .issued_tokens()
        .into_iter()
        .filter(|t| t != "root")
        .collect();
    assert!(
        forbidden.len() >= 2,
        "expected the AppRole login token and the token file's"
    );
    forbidden.extend([secret_id.trim().to_owned(), written.to_owned()]);
    forbidden.extend(secrets.iter().map(|s| (*s).to_owned()));
    for (i, secret) in forbidden.iter().enumerate() {
        // The message names the secret's position only, never the secret.
        let line = text.lines().position(|l| l.contains(secret.as_str()));
        assert_eq!(
            line,
            None,
            "secret #{i} of {} reached log line",
            forbidden.len()
        );
    }
    drop(dir);
}
