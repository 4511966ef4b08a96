//! [audit] The syslog sink against a real rsyslogd: every record of a 1,000-request burst
//! arrives once, as the MSG of an RFC 5424 message, exactly as the file sink wrote it; over TLS
//! and the local datagram socket too; with rsyslog stopped and `fail_closed`, requests get 503
//! once the spill is full and are served again when it returns; bad keys are reported.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{json, Value};

use crate::support::gate::Gate;
use crate::support::openbao::OpenBao;
use crate::support::pki::Pki;
use crate::support::rsyslog::{Listen, Received, Rsyslog};

/// (status, request id) of a GET.
async fn get(client: &reqwest::Client, url: &str) -> (u16, Option<String>) {
    let resp = client.get(url).send().await.unwrap();
    let id = resp
        .headers()
        .get("x-vaultgate-request-id")
        .map(|v| v.to_str().unwrap().to_owned());
    (resp.status().as_u16(), id)
}

/// How often each request id appears among the received `request` messages.
fn request_ids(received: &[Received]) -> HashMap<String, usize> {
    let mut ids = HashMap::new();
    for r in received.iter().filter(|r| r.msgid == "request") {
        let record: Value = serde_json::from_str(&r.msg).expect("MSG is the JSON record");
        *ids.entry(record["request_id"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    ids
}

/// Every message carries the configured header fields, and MSGID is the record's type.
fn assert_headers(received: &[Received]) {
    let pid = std::process::id().to_string();
    for r in received {
        assert_eq!(
            (
                r.facility.as_str(),
                r.severity.as_str(),
                r.app_name.as_str()
            ),
            ("auth", "info", "vaultgate"),
            "{r:?}"
        );
        assert_eq!(
            (r.procid.as_str(), r.structured_data.as_str()),
            (pid.as_str(), "-")
        );
        let record: Value = serde_json::from_str(&r.msg).unwrap();
        assert_eq!(record["type"], r.msgid.as_str());
    }
}

/// Sends `n` GETs, 16 at a time, alternating an allowed and a denied path; returns the ids.
async fn burst(client: &reqwest::Client, gate: &Gate, n: usize) -> Vec<String> {
    let ok = format!("{}/v1/secret/data/acme/billing/db", gate.url());
    let denied = format!("{}/v1/secret/data/acme/web/key", gate.url());
    let mut ids = Vec::with_capacity(n);
    for wave in 0..n.div_ceil(16) {
        let mut tasks = tokio::task::JoinSet::new();
        for i in (wave * 16)..((wave + 1) * 16).min(n) {
            let (client, url, want) = if i % 2 == 0 {
                (client.clone(), ok.clone(), 200)
            } else {
                (client.clone(), denied.clone(), 403)
            };
            tasks.spawn(async move {
                let (status, id) = get(&client, &url).await;
                assert_eq!(status, want);
                id.unwrap()
            });
        }
        while let Some(id) = tasks.join_next().await {
            ids.push(id.unwrap());
        }
    }
    ids
}

async fn bao_with_secret() -> OpenBao {
    let bao = OpenBao::start().await;
    bao.kv_put("acme/billing/db", json!({"password": "pw"}))
        .await;
    bao
}

#[tokio::test]
async fn rsyslog_receives_exactly_the_records_of_a_1000_request_burst() {
    let bao = bao_with_secret().await;
    let pki = Pki::new(&["acme/billing"]);
    let rsyslog = Rsyslog::start(Listen::Tcp, None).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("audit.jsonl");
    let extra = format!(
        "\n[audit]\nfile = \"{}\"\n[audit.syslog]\naddress = \"tcp://127.0.0.1:{}\"\n",
        file.display(),
        rsyslog.port
    );
    let gate = Gate::builder(&bao, &pki)
        .services(&["acme/billing"])
        .extra(&extra)
        .start()
        .await;
    let ids = burst(&pki.client_for("acme/billing"), &gate, 1000).await;
    // Stopping vaultgate waits until the collector took the whole spill.
    gate.stop().await;

    let written = std::fs::read_to_string(&file).unwrap();
    let written: Vec<&str> = written.lines().collect();
    let received = rsyslog
        .wait_for(written.len(), Duration::from_secs(30))
        .await;
    assert_headers(&received);
    // The same records, in the same order, each exactly once: the file sink's lines are
    // what vaultgate wrote.
    let msgs: Vec<&str> = received.iter().map(|r| r.msg.as_str()).collect();
    assert_eq!(msgs.len(), written.len(), "{}", rsyslog.output());
    assert!(
        msgs == written,
        "rsyslog's messages differ from the file sink's lines"
    );
    let counted = request_ids(&received);
    assert_eq!(counted.len(), 1000);
    for id in &ids {
        assert_eq!(counted.get(id), Some(&1), "request {id}");
    }
}

#[tokio::test]
async fn with_rsyslog_stopped_and_fail_closed_requests_get_503_and_resume() {
    let bao = bao_with_secret().await;
    let pki = Pki::new(&["acme/billing"]);
    let mut rsyslog = Rsyslog::start(Listen::Tcp, None).await;
    // A small spill, so that a few records fill it while rsyslog is away.
    let extra = format!(
        "\n[audit]\nfail_closed = true\n[audit.syslog]\naddress = \"tcp://127.0.0.1:{}\"\n\
         spill_bytes = 8192\n",
        rsyslog.port
    );
    let gate = Gate::builder(&bao, &pki)
        .services(&["acme/billing"])
        .extra(&extra)
        .start()
        .await;
    let client = pki.client_for("acme/billing");
    let url = format!("{}/v1/secret/data/acme/billing/db", gate.url());
    let mut answered = Vec::new();
    for _ in 0..5 {
        let (status, id) = get(&client, &url).await;
        assert_eq!(status, 200);
        answered.push(id.unwrap());
    }
    // Everything so far has arrived, so nothing sits in a socket buffer when rsyslog stops.
    let mut waited = 0;
    while request_ids(&rsyslog.received()).len() < 5 {
        assert!(waited < 600, "records did not reach rsyslog");
        tokio::time::sleep(Duration::from_millis(50)).await;
        waited += 1;
    }
    rsyslog.stop();

    // Records spill until the spill is full; then no sink accepts and requests get 503.
    let mut refused = None;
    for _ in 0..500 {
        let resp = client.get(&url).send().await.unwrap();
        let status = resp.status().as_u16();
        let id = resp.headers().get("x-vaultgate-request-id").cloned();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        if status == 503 {
            refused = Some(body);
            break;
        }
        assert_eq!(status, 200);
        answered.push(id.unwrap().to_str().unwrap().to_owned());
    }
    let body = refused.expect("no 503 within 500 requests with rsyslog stopped");
    assert!(body["errors"][0].is_string(), "a Vault-style error: {body}");
    assert!(answered.len() > 5, "the spill took no record at all");

    // rsyslog returns: the spill drains and requests are served again.
    rsyslog.restart().await;
    let mut resumed = false;
    for _ in 0..300 {
        let (status, id) = get(&client, &url).await;
        if status == 200 {
            answered.push(id.unwrap());
            resumed = true;
            break;
        }
        assert_eq!(status, 503);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        resumed,
        "requests still refused 30 s after rsyslog returned"
    );
    gate.stop().await;

    // Every answered request's record arrived once; refused requests have none.
    let received = rsyslog
        .wait_for(usize::MAX, Duration::from_millis(500))
        .await;
    let counted = request_ids(&received);
    for id in &answered {
        assert_eq!(counted.get(id), Some(&1), "request {id}");
    }
    assert_eq!(counted.len(), answered.len(), "records of refused requests");
}

#[tokio::test]
async fn tls_and_the_local_socket_carry_the_same_records_as_the_file() {
    let bao = bao_with_secret().await;
    let pki = Pki::new(&["acme/billing"]);
    for listen in ["tls", "unix"] {
        let rsyslog = if listen == "tls" {
            let tls = (pki.ca_cert(), pki.server_cert(), pki.server_key());
            Rsyslog::start(Listen::Tls, Some((&tls.0, &tls.1, &tls.2))).await
        } else {
            Rsyslog::start(Listen::Tcp, None).await
        };
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("audit.jsonl");
        let syslog = if listen == "tls" {
            format!(
                "address = \"tls://127.0.0.1:{}\"\nca_cert = \"{}\"\nfacility = \"AUTH\"\n",
                rsyslog.port,
                pki.ca_cert().display()
            )
        } else {
            format!("address = \"unix:{}\"\n", rsyslog.socket().display())
        };
        let extra = format!(
            "\n[audit]\nfile = \"{}\"\n[audit.syslog]\n{syslog}",
            file.display()
        );
        let gate = Gate::builder(&bao, &pki)
            .services(&["acme/billing"])
            .extra(&extra)
            .start()
            .await;
        let ids = burst(&pki.client_for("acme/billing"), &gate, 100).await;
        gate.stop().await;
        let written = std::fs::read_to_string(&file).unwrap();
        let written: Vec<&str> = written.lines().collect();
        let received = rsyslog
            .wait_for(written.len(), Duration::from_secs(30))
            .await;
        assert_headers(&received);
        let msgs: Vec<&str> = received.iter().map(|r| r.msg.as_str()).collect();
        assert!(
            msgs == written,
            "{listen}: {} messages for {} lines; rsyslogd said: {}",
            msgs.len(),
            written.len(),
            rsyslog.output()
        );
        assert_eq!(request_ids(&received).len(), ids.len(), "{listen}");
    }
}

#[test]
fn syslog_keys_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("vaultgate.toml");
    let base = "[vault]\naddress = \"http://127.0.0.1:8200\"\n\
                [[listener]]\naddress = \"127.0.0.1:0\"\ntls_disable = true\ncaller = \"a/b\"\n\
                [[service]]\nname = \"a/b\"\nauth = \"token_file\"\ntoken_file = \"t\"\n\
                [policies]\ndir = \"p\"\n";
    std::fs::write(dir.path().join("t"), "x").unwrap();
    std::fs::create_dir(dir.path().join("p")).unwrap();
    let problems = |audit: &str| -> String {
        let text = format!("{base}{audit}");
        match vaultgate::config::Config::parse(&file, &text) {
            Ok(_) => String::new(),
            Err(e) => e.to_string(),
        }
    };
    assert_eq!(
        problems("[audit.syslog]\naddress = \"unix:/dev/log\"\nfacility = \"local3\"\n"),
        ""
    );
    let bad = problems(
        "[audit.syslog]\naddress = \"udp://h:514\"\nfacility = \"nope\"\ntag = \"a b\"\n\
         spill_bytes = 0\nca_cert = \"ca.pem\"\nport = 1\n",
    );
    for want in [
        "audit.syslog.address",
        "audit.syslog.facility",
        "audit.syslog.tag",
        "audit.syslog.spill_bytes",
        "audit.syslog.ca_cert",
        "audit.syslog.port",
    ] {
        assert!(bad.contains(want), "{want} not reported in:\n{bad}");
    }
    let tls = problems("[audit.syslog]\naddress = \"tls://127.0.0.1:6514\"\n");
    assert!(tls.contains("required with a tls:// address"), "{tls}");
    let plain_tls_key =
        problems("[audit.syslog]\naddress = \"tcp://127.0.0.1:514\"\nserver_name = \"x\"\n");
    assert!(
        plain_tls_key.contains("applies to a tls:// address only"),
        "{plain_tls_key}"
    );
}
