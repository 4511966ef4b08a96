//! Limits answered with Vault-style errors: connections past `max_connections` get a 503 and
//! are closed, and the slot frees when a connection ends; per-caller connection, in-flight
//! and rate budgets answer 429 with `Retry-After`, without reaching Vault and without
//! touching other callers; idle connections are closed.

use serde_json::{json, Value};

use crate::support::gate::Gate;
use crate::support::openbao::OpenBao;
use crate::support::pki::Pki;
use crate::support::poll_status;

#[tokio::test]
async fn connections_past_the_limit_get_a_vault_style_503() {
    let bao = OpenBao::start().await;
    bao.kv_put("acme/billing/db", json!({"password": "pw"}))
        .await;
    let pki = Pki::new(&["acme/billing"]);
    let extra = "\n[limits]\nmax_connections = 1\n";
    let gate = Gate::builder(&bao, &pki)
        .services(&["acme/billing"])
        .extra(extra)
        .start()
        .await;
    let url = format!("{}/v1/secret/data/acme/billing/db", gate.url());

    // The first client keeps its connection open in its pool.
    let holder = pki.client_for("acme/billing");
    assert_eq!(holder.get(&url).send().await.unwrap().status(), 200);

    let other = pki.client_for("acme/billing");
    let resp = other.get(&url).send().await.unwrap();
    assert_eq!(resp.status(), 503);
    let body: Value = resp.json().await.unwrap();
    assert!(
        body["errors"][0]
            .as_str()
            .unwrap()
            .contains("connection limit"),
        "{body}"
    );

    drop(holder);
    let last = poll_status(&pki.client_for("acme/billing"), &url, 200, 50).await;
    assert_eq!(last, 200, "the slot was not freed after the holder left");
    gate.stop().await;
}

/// A client that opens TCP and never starts TLS is closed at `handshake_timeout`, so idle
/// sockets cannot hold connection slots; Vault sees nothing.
#[tokio::test]
async fn a_silent_client_is_closed_at_the_handshake_timeout() {
    use tokio::io::AsyncReadExt;

    let bao = OpenBao::start().await;
    let pki = Pki::new(&["acme/billing"]);
    let extra = "\n[limits]\nhandshake_timeout = \"1s\"\n";
    let gate = Gate::builder(&bao, &pki)
        .services(&["acme/billing"])
        .extra(extra)
        .start()
        .await;

    let before = bao.audit_requests();
    let mut tcp = tokio::net::TcpStream::connect(&gate.address).await.unwrap();
    let mut rest = Vec::new();
    // The bound only keeps a broken build from hanging the test; the server must close first.
    let closed = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        tcp.read_to_end(&mut rest),
    )
    .await;
    assert!(closed.is_ok(), "the server kept a silent connection open");
    assert_eq!(bao.audit_requests(), before);
}

/// Two services, acme/billing and acme/web, each with a secret, behind a gate with `limits`
/// in its `[limits]` table and a 3 s upstream timeout.
struct Two {
    bao: OpenBao,
    pki: Pki,
    gate: Gate,
    /// acme/billing's secret.
    url: String,
    /// acme/web's secret.
    web_url: String,
}

impl Two {
    async fn start(limits: &str) -> Two {
        let bao = OpenBao::start().await;
        bao.kv_put("acme/billing/db", json!({"password": "pw"}))
            .await;
        bao.kv_put("acme/web/key", json!({"k": "v"})).await;
        let services = ["acme/billing", "acme/web"];
        let pki = Pki::new(&services);
        let vault = format!("address = \"{}\"\ntimeout = \"3s\"\n", bao.addr());
        let extra = format!("\n[limits]\n{limits}\n");
        let gate = Gate::builder(&bao, &pki)
            .services(&services)
            .vault(&vault)
            .extra(&extra)
            .start()
            .await;
        let url = format!("{}/v1/secret/data/acme/billing/db", gate.url());
        let web_url = format!("{}/v1/secret/data/acme/web/key", gate.url());
        Two {
            bao,
            pki,
            gate,
            url,
            web_url,
        }
    }
}

/// One service with its budget of in-flight requests spent gets 429 at once, without reaching
/// Vault; another service is not affected by it. OpenBao is frozen so that the first requests
/// stay in flight for certain (no timing involved).
#[tokio::test]
async fn a_caller_past_its_in_flight_budget_gets_429_and_others_do_not() {
    let Two {
        bao,
        pki,
        gate,
        url,
        web_url,
    } = Two::start("max_requests_per_caller = 2").await;
    let billing = pki.client_for("acme/billing");
    let web = pki.client_for("acme/web");

    bao.pause();
    let held: Vec<_> = (0..2)
        .map(|_| {
            let req = billing.get(&url).header("cache-control", "no-cache");
            tokio::spawn(async move { req.send().await.unwrap().status().as_u16() })
        })
        .collect();
    // Both held requests are in flight once a third is refused; bounded wait for that.
    let mut refused = None;
    for _ in 0..50 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let resp = billing.get(&url).send().await.unwrap();
        if resp.status() == 429 {
            refused = Some(resp);
            break;
        }
    }
    let refused = refused.expect("no 429 while two requests were in flight");
    assert_eq!(refused.headers()["retry-after"], "1");
    let body: Value = refused.json().await.unwrap();
    assert!(
        body["errors"][0].as_str().unwrap().contains("in flight"),
        "{body}"
    );
    // acme/web has its own budget: its request is taken (and times out against the frozen
    // Vault), never refused with 429.
    let other = web.get(&web_url).send().await.unwrap().status().as_u16();
    assert_ne!(other, 429);
    bao.resume();
    for h in held {
        assert_ne!(h.await.unwrap(), 429);
    }
    // The budget is given back: service resumes.
    assert_eq!(poll_status(&billing, &url, 200, 100).await, 200);
    gate.stop().await;
}

/// One service past its own connection budget gets 429 (and the connection is closed) while
/// another service connects as usual; Vault sees nothing of the refused request, and the slot
/// is given back when the holder leaves.
#[tokio::test]
async fn a_caller_past_its_connection_budget_gets_429_and_others_do_not() {
    let Two {
        bao,
        pki,
        gate,
        url,
        web_url,
    } = Two::start("max_connections_per_caller = 1").await;

    let holder = pki.client_for("acme/billing");
    assert_eq!(holder.get(&url).send().await.unwrap().status(), 200);

    let before = bao.audit_requests();
    let resp = pki
        .client_for("acme/billing")
        .get(&url)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "1");
    let body: Value = resp.json().await.unwrap();
    let message = body["errors"][0].as_str().unwrap();
    assert!(
        message.contains("acme/billing has 1 connections open"),
        "{body}"
    );
    assert_eq!(
        bao.audit_requests(),
        before,
        "the refused request reached Vault"
    );

    let web = pki.client_for("acme/web");
    assert_eq!(web.get(&web_url).send().await.unwrap().status(), 200);

    drop(holder);
    let last = poll_status(&pki.client_for("acme/billing"), &url, 200, 50).await;
    assert_eq!(last, 200, "the caller's slot was not given back");
    gate.stop().await;
}

/// A token bucket per caller: past the burst the caller gets 429 with the seconds until its
/// next token in `Retry-After`, before anything is read or sent to Vault; another service
/// has its own bucket. The rate (one request per 100 s) makes the test timing-free.
#[tokio::test]
async fn a_caller_past_its_rate_gets_429_with_retry_after() {
    let Two {
        bao,
        pki,
        gate,
        url,
        web_url,
    } = Two::start("rate_per_caller = 0.01\nrate_burst_per_caller = 2").await;
    let billing = pki.client_for("acme/billing");

    for _ in 0..2 {
        assert_eq!(billing.get(&url).send().await.unwrap().status(), 200);
    }
    let before = bao.audit_requests();
    // A write, so that nothing could have answered it but Vault.
    let resp = billing
        .post(&url)
        .json(&json!({"data": {"password": "new"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    let retry: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((90..=100).contains(&retry), "Retry-After {retry}");
    let body: Value = resp.json().await.unwrap();
    assert!(
        body["errors"][0]
            .as_str()
            .unwrap()
            .contains("over its request rate"),
        "{body}"
    );
    assert_eq!(
        bao.audit_requests(),
        before,
        "the refused write reached Vault"
    );

    let web = pki.client_for("acme/web");
    assert_eq!(web.get(&web_url).send().await.unwrap().status(), 200);
    gate.stop().await;
}

/// A keep-alive connection is reused while requests come, then closed by the proxy once it
/// has been idle for `idle_timeout`.
#[tokio::test]
async fn an_idle_connection_is_closed_at_the_idle_timeout() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let bao = OpenBao::start().await;
    bao.kv_put("acme/billing/db", json!({"password": "pw"}))
        .await;
    let pki = Pki::new(&["acme/billing"]);
    let extra = "\n[limits]\nidle_timeout = \"2s\"\n";
    let gate = Gate::builder(&bao, &pki)
        .services(&["acme/billing"])
        .extra(extra)
        .start()
        .await;
    let mut tls = pki
        .connect_raw("acme/billing", &gate.address, b"http/1.1")
        .await;
    let request = b"GET /v1/secret/data/acme/billing/db HTTP/1.1\r\nHost: localhost\r\n\r\n";

    for _ in 0..2 {
        tls.write_all(request).await.unwrap();
        let head = crate::support::read_response(&mut tls).await;
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let idle_from = std::time::Instant::now();
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        tls.read_to_end(&mut rest),
    )
    .await;
    assert!(closed.is_ok(), "the idle connection was kept open");
    assert!(
        rest.is_empty(),
        "unexpected bytes: {:?}",
        String::from_utf8_lossy(&rest)
    );
    // 200 ms of the idle time had passed before the clock started.
    assert!(idle_from.elapsed() >= std::time::Duration::from_millis(1500));
    gate.stop().await;
}
