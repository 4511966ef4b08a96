//! [audit] sinks: the network sink spills while its collector is down and loses nothing,
//! the file sink rotates by size without losing a record, and no sink nor the logs ever
//! carry a token, a secret value, a role_id or a secret_id.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::support::collector::Collector;
use crate::support::gate::Gate;
use crate::support::openbao::OpenBao;
use crate::support::pki::Pki;
use crate::support::poll_status;

/// GETs `url`, expects `want`, returns the response's request id.
async fn get_id(client: &reqwest::Client, url: &str, want: u16) -> String {
    let resp = client.get(url).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), want);
    resp.headers()["x-vaultgate-request-id"]
        .to_str()
        .unwrap()
        .to_owned()
}

/// Request ids of the `request` records among JSON `lines`, with how often each appears.
fn request_ids<'a>(lines: impl Iterator<Item = &'a str>) -> HashMap<String, usize> {
    let mut ids = HashMap::new();
    for line in lines {
        let r: Value = serde_json::from_str(line).expect("every audit line is JSON");
        if r["type"] == "request" {
            *ids.entry(r["request_id"].as_str().unwrap().to_owned())
                .or_default() += 1;
        }
    }
    ids
}

fn assert_exactly_once(ids: &[String], recorded: &HashMap<String, usize>) {
    assert_eq!(
        recorded.len(),
        ids.len(),
        "one record per request, no extra"
    );
    for id in ids {
        assert_eq!(recorded.get(id), Some(&1), "request {id}");
    }
}

#[tokio::test]
async fn a_collector_down_for_5s_loses_no_record() {
    let bao = OpenBao::start().await;
    bao.kv_put("acme/billing/db", json!({"password": "pw"}))
        .await;
    let pki = Pki::new(&["acme/billing"]);
    let mut collector = Collector::start().await;
    let extra = format!(
        "\n[audit]\nnetwork = \"tcp://127.0.0.1:{}\"\n",
        collector.port
    );
    let gate = Gate::builder(&bao, &pki)
        .services(&["acme/billing"])
        .extra(&extra)
        .start()
        .await;
    let client = pki.client_for("acme/billing");
    let ok = format!("{}/v1/secret/data/acme/billing/db", gate.url());
    let denied = format!("{}/v1/secret/data/acme/web/key", gate.url());
    let mut ids = Vec::new();
    for _ in 0..20 {
        ids.push(get_id(&client, &ok, 200).await);
        ids.push(get_id(&client, &denied, 403).await);
    }

    // The collector goes away for 5 s while requests continue (bounded in count too).
    collector.stop().await;
    let down = Instant::now();
    let mut during = 0;
    while down.elapsed() < Duration::from_secs(5) && during < 20_000 {
        ids.push(get_id(&client, &ok, 200).await);
        ids.push(get_id(&client, &denied, 403).await);
        during += 2;
    }
    // The outage was real: records of requests answered meanwhile waited in the spill.
    let delivered_while_down = request_ids(collector.lines().iter().map(String::as_str)).len();
    assert!(
        delivered_while_down < ids.len(),
        "the collector never went away"
    );
    collector.restart().await;
    for _ in 0..20 {
        ids.push(get_id(&client, &ok, 200).await);
    }
    gate.stop().await;

    // The shipper drains its spill after the restart; wait for it (bounded).
    let mut recorded = HashMap::new();
    for _ in 0..200 {
        recorded = request_ids(collector.lines().iter().map(String::as_str));
        if recorded.len() >= ids.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        during > 0,
        "no request was made while the collector was down"
    );
    assert_exactly_once(&ids, &recorded);
}

#[tokio::test]
async fn rotation_produces_rotated_files_and_loses_no_record() {
    let bao = OpenBao::start().await;
    bao.kv_put("acme/billing/db", json!({"password": "pw"}))
        .await;
    let pki = Pki::new(&["acme/billing"]);
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.jsonl");
    let extra = format!(
        "\n[audit]\nfile = \"{}\"\nrotate_bytes = 16384\nrotate_keep = 1000\nfsync = \"interval\"\n",
        audit.display()
    );
    let gate = Gate::builder(&bao, &pki)
        .services(&["acme/billing"])
        .extra(&extra)
        .start()
        .await;
    let client = pki.client_for("acme/billing");
    let ok = format!("{}/v1/secret/data/acme/billing/db", gate.url());
    let mut ids = Vec::new();
    for _ in 0..200 {
        ids.push(get_id(&client, &ok, 200).await);
    }
    gate.stop().await;

    let mut text = String::new();
    let mut rotated = 0;
    for i in (1..1000).rev() {
        let path = vaultgate::audit::rotated_path(&audit, i);
        if let Ok(t) = std::fs::read_to_string(&path) {
            assert!(t.len() <= 16384, "{} is over the limit", path.display());
            assert!(t.ends_with('\n'), "a record was split across files");
            rotated += 1;
            text.push_str(&t);
        }
    }
    text.push_str(&std::fs::read_to_string(&audit).unwrap());
    assert!(rotated >= 2, "only {rotated} rotated files");
    assert_exactly_once(&ids, &request_ids(text.lines()));
}

#[tokio::test]
async fn no_sink_and_no_log_carries_a_secret() {
    let bao = OpenBao::start().await;
    bao.write_policy(
        "vaultgate-test-broad",
        crate::support::gate::BROAD_VAULT_POLICY,
    )
    .await;
    bao.kv_put(
        "acme/billing/db",
        json!({"password": "sink-read-value-7d1"}),
    )
    .await;
    bao.kv_put("acme/web/key", json!({"api": "sink-web-value-9c2"}))
        .await;
    let web_token = bao.create_token(&["vaultgate-test-broad"], true).await;
    let pki = Pki::new(&["acme/billing", "acme/web"]);
    let collector = Collector::start().await;
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.jsonl");
    let extra = format!(
        "\n[audit]\nfile = \"{}\"\nstdout = true\nnetwork = \"tcp://127.0.0.1:{}\"\n",
        audit.display(),
        collector.port
    );
    let (gate_dir, config) = Gate::builder(&bao, &pki)
        .services(&["acme/billing"])
        .token_services(&[("acme/web", &web_token)])
        .extra(&extra)
        .write()
        .await;
    let role_id = std::fs::read_to_string(gate_dir.path().join("acme-billing.role_id")).unwrap();
    let secret_id =
        std::fs::read_to_string(gate_dir.path().join("acme-billing.secret_id")).unwrap();
    let port = crate::support::openbao::free_port();
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace("127.0.0.1:0", &format!("127.0.0.1:{port}")),
    )
    .unwrap();
    let (stdout, stderr) = (dir.path().join("stdout"), dir.path().join("stderr"));
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_vaultgate"))
        .args(["run", "--config"])
        .arg(&config)
        .env("VAULTGATE_LOG", "debug")
        .stdout(std::fs::File::create(&stdout).unwrap())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .kill_on_drop(true)
        .spawn()
        .unwrap();

    let billing = pki.client_for("acme/billing");
    let web = pki.client_for("acme/web");
    let base = format!("https://127.0.0.1:{port}/v1/secret/data/acme");
    let read = format!("{base}/billing/db");
    assert_eq!(poll_status(&billing, &read, 200, 200).await, 200);
    let client_token = "s.client-supplied-token-5e4";
    let mut ids = Vec::new();
    for _ in 0..5 {
        let resp = billing
            .get(&read)
            .header("x-vault-token", client_token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        ids.push(
            resp.headers()["x-vaultgate-request-id"]
                .to_str()
                .unwrap()
                .to_owned(),
        );
        assert!(resp.text().await.unwrap().contains("sink-read-value-7d1"));
        let resp = billing
            .post(format!("{base}/billing/new"))
            .json(&json!({"data": {"k": "sink-written-value-3a8"}}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        ids.push(
            resp.headers()["x-vaultgate-request-id"]
                .to_str()
                .unwrap()
                .to_owned(),
        );
        ids.push(get_id(&web, &format!("{base}/web/key"), 200).await);
        ids.push(get_id(&web, &format!("{base}/billing/db"), 403).await);
    }
    assert_eq!(crate::support::sigterm(&mut child).await, Some(0));

    let file_text = std::fs::read_to_string(&audit).unwrap();
    let stdout_text = std::fs::read_to_string(&stdout).unwrap();
    let stderr_text = std::fs::read_to_string(&stderr).unwrap();
    let mut network_text = String::new();
    for _ in 0..100 {
        network_text = collector.lines().join("\n");
        let recorded = request_ids(network_text.lines());
        if ids.iter().all(|id| recorded.contains_key(id))
            && network_text.contains(r#""name":"shutdown""#)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Every sink got every record: several sinks at once.
    for (sink, text) in [
        ("file", &file_text),
        ("stdout", &stdout_text),
        ("network", &network_text),
    ] {
        let lines = text.lines().filter(|l| l.starts_with('{'));
        let recorded = request_ids(lines);
        // The readiness poll's requests are recorded too: at least ours, each exactly once.
        assert!(recorded.values().all(|n| *n == 1), "{sink}");
        assert!(ids.iter().all(|id| recorded.contains_key(id)), "{sink}");
        // Flushed before exit: the last event reached every sink too.
        assert!(text.contains(r#""name":"shutdown""#), "{sink}");
    }
    assert!(!stderr_text.is_empty(), "the logs were not captured");
    let secrets = [
        web_token.as_str(),
        client_token,
        "sink-read-value-7d1",
        "sink-web-value-9c2",
        "sink-written-value-3a8",
        role_id.trim(),
        secret_id.trim(),
    ];
    for (name, text) in [
        ("audit file", &file_text),
        ("stdout", &stdout_text),
        ("network sink", &network_text),
        ("logs", &stderr_text),
    ] {
        for secret in secrets {
            assert!(!secret.is_empty());
            assert!(!text.contains(secret), "a secret reached the {name}");
        }
    }
    drop(gate_dir);
}
