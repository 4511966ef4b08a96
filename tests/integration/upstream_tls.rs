//! Vault behind TLS: the proxy verifies Vault's certificate against `[vault] ca_cert`,
//! negotiates HTTP/2 by ALPN and multiplexes every request in flight on one connection.

use std::time::Duration;

use serde_json::json;

use crate::support::gate::Gate;
use crate::support::openbao::OpenBao;
use crate::support::pki::Pki;
use crate::support::poll_status;

#[tokio::test]
async fn requests_in_flight_to_a_tls_vault_share_one_http2_connection() {
    let pki = Pki::new(&["acme/billing"]);
    let bao = OpenBao::start_with_tls(Some((pki.server_cert(), pki.server_key()))).await;
    bao.kv_put("acme/billing/db", json!({"password": "pw"}))
        .await;
    let vault = format!(
        "address = \"{}\"\nca_cert = \"{}\"\ntimeout = \"5s\"\n",
        bao.tls_addr(),
        pki.ca_cert().display()
    );
    let extra = "\n[cache]\nenabled = false\n";
    let gate = Gate::builder(&bao, &pki)
        .services(&["acme/billing"])
        .vault(&vault)
        .extra(extra)
        .start()
        .await;
    let client = pki.client_for("acme/billing");
    let url = format!("{}/v1/secret/data/acme/billing/db", gate.url());

    // A write and a read over TLS; the login already went this way.
    let write = client
        .post(&url)
        .json(&json!({"data": {"password": "new"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(write.status(), 200);
    let read: serde_json::Value = client.get(&url).send().await.unwrap().json().await.unwrap();
    assert_eq!(read["data"]["data"]["password"], "new");

    // Frozen, Vault answers nothing: all 16 requests stay in flight at once. Over HTTP/1.1
    // each would need a connection of its own.
    bao.pause();
    let held: Vec<_> = (0..16)
        .map(|_| {
            let req = client.get(&url);
            tokio::spawn(async move { req.send().await.map(|r| r.status().as_u16()) })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let connections = bao.tls_connections();
    bao.resume();
    for h in held {
        let status = h.await.unwrap().unwrap();
        assert!(status == 200 || status == 504, "{status}");
    }
    assert_eq!(
        connections, 1,
        "requests in flight did not share one HTTP/2 connection"
    );
    assert_eq!(poll_status(&client, &url, 200, 50).await, 200);
    gate.stop().await;
}
