//! [core] acceptance: mTLS callers, allowed and denied reads, refused certificates, and the
//! OpenBao CLI working through the proxy with nothing but VAULT_* variables.

use serde_json::{json, Value};

use crate::support::gate::Gate;
use crate::support::openbao::OpenBao;
use crate::support::pki::{connect_with, Pki};
use crate::support::read_response;

async fn seed(bao: &OpenBao) {
    bao.kv_put("acme/billing/db", json!({"password": "billing-db-pw"}))
        .await;
    bao.kv_put("acme/web/key", json!({"api_key": "web-key"}))
        .await;
    bao.kv_put("globex/x", json!({"value": "globex-secret"}))
        .await;
}

async fn get(client: &reqwest::Client, url: String) -> (u16, Value) {
    let r = client.get(url).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_service_reads_its_own_secrets_and_nothing_else() {
    let bao = OpenBao::start().await;
    seed(&bao).await;
    let pki = Pki::new(&["acme/billing", "acme/web"]);
    let gate = Gate::start(&bao, &pki, &["acme/billing", "acme/web"]).await;
    let billing = pki.client_for("acme/billing");

    let (status, body) = get(
        &billing,
        format!("{}/v1/secret/data/acme/billing/db", gate.url()),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["data"]["password"], "billing-db-pw");

    for path in ["secret/data/acme/web/key", "secret/data/globex/x"] {
        let before = bao.audit_requests();
        let (status, body) = get(&billing, format!("{}/v1/{path}", gate.url())).await;
        assert_eq!(status, 403, "{path}: {body}");
        let reason = body["errors"][0].as_str().unwrap();
        assert!(reason.contains("permission denied"), "{reason}");
        assert!(reason.contains("no rule matches"), "{reason}");
        assert_eq!(
            bao.audit_requests(),
            before,
            "a denied request reached OpenBao"
        );
    }

    // The exact deny in policies/acme.hcl names its file and line.
    let (status, body) = get(
        &billing,
        format!("{}/v1/secret/data/acme/billing/admin", gate.url()),
    )
    .await;
    assert_eq!(status, 403);
    let reason = body["errors"][0].as_str().unwrap();
    assert!(reason.contains("acme.hcl:"), "{reason}");

    // Another service of the same tenant gets its own subtree, with its own token.
    let web = pki.client_for("acme/web");
    let (status, body) = get(&web, format!("{}/v1/secret/data/acme/web/key", gate.url())).await;
    assert_eq!(status, 200, "{body}");
    gate.stop().await;
}

#[tokio::test]
async fn callers_without_a_trusted_certificate_never_reach_vault() {
    let bao = OpenBao::start().await;
    seed(&bao).await;
    let pki = Pki::new(&["acme/billing", "acme/ghost"]);
    let gate = Gate::start(&bao, &pki, &["acme/billing"]).await;
    let url = format!("{}/v1/secret/data/acme/billing/db", gate.url());
    let before = bao.audit_requests();

    // No client certificate: a Vault-style 403 that says what is missing.
    let (status, body) = get(&pki.http(None), url.clone()).await;
    assert_eq!(status, 403, "{body}");
    assert!(body["errors"][0]
        .as_str()
        .unwrap()
        .contains("client certificate"));

    // A certificate from another CA: the TLS handshake itself fails.
    let rogue = pki.http(Some(pki.rogue_client()));
    assert!(rogue.get(url.clone()).send().await.is_err());

    // A valid certificate for a service that is not configured.
    let (status, body) = get(&pki.client_for("acme/ghost"), url).await;
    assert_eq!(status, 403, "{body}");
    assert!(body["errors"][0]
        .as_str()
        .unwrap()
        .contains("not a configured service"));

    assert_eq!(
        bao.audit_requests(),
        before,
        "an unidentified caller reached OpenBao"
    );
    gate.stop().await;
}

#[tokio::test]
async fn the_openbao_cli_works_through_the_proxy_with_only_vault_variables() {
    let bao = OpenBao::start().await;
    seed(&bao).await;
    let pki = Pki::new(&["acme/billing"]);
    let gate = Gate::start(&bao, &pki, &["acme/billing"]).await;
    let env = gate.cli_env(&pki, "acme/billing");
    let run = |args: &'static [&'static str]| bao.cli_outcome(args, &env);

    let (ok, text) = run(&["kv", "get", "-field=password", "secret/acme/billing/db"]).await;
    assert!(ok, "kv get: {text}");
    assert_eq!(text.trim(), "billing-db-pw");

    let (ok, text) = run(&["kv", "put", "secret/acme/billing/api", "key=fresh-value"]).await;
    assert!(ok, "kv put: {text}");
    let (ok, text) = run(&["kv", "get", "-field=key", "secret/acme/billing/api"]).await;
    assert!(
        ok && text.trim() == "fresh-value",
        "kv get after put: {text}"
    );

    let (ok, text) = run(&["kv", "list", "secret/acme/billing"]).await;
    assert!(ok, "kv list: {text}");
    assert!(text.contains("db") && text.contains("api"), "{text}");

    let (ok, text) = run(&["kv", "get", "secret/acme/web/key"]).await;
    assert!(!ok, "a denied read must fail: {text}");
    assert!(
        text.contains("403") && text.contains("permission denied"),
        "{text}"
    );
    gate.stop().await;
}

/// A client reconnecting with the TLS session it was given resumes it (no full handshake,
/// no certificate chain verified again) and keeps its identity: its own secret 200, another
/// tenant's 403.
#[tokio::test]
async fn a_reconnecting_client_resumes_its_tls_session_with_its_identity() {
    use tokio::io::AsyncWriteExt;
    use tokio_rustls::rustls::HandshakeKind;

    let bao = OpenBao::start().await;
    bao.kv_put("acme/billing/db", json!({"password": "pw"}))
        .await;
    let pki = Pki::new(&["acme/billing"]);
    let gate = Gate::start(&bao, &pki, &["acme/billing"]).await;
    let config = pki.tls_config("acme/billing", b"http/1.1");
    let get = |path: &str| {
        format!("GET /v1/secret/data/{path} HTTP/1.1\r\nHost: localhost\r\n\r\n").into_bytes()
    };

    let mut first = connect_with(config.clone(), &gate.address).await;
    assert_eq!(
        first.get_ref().1.handshake_kind(),
        Some(HandshakeKind::Full)
    );
    first.write_all(&get("acme/billing/db")).await.unwrap();
    // Reading the answer also reads the session tickets sent after the handshake.
    assert!(read_response(&mut first).await.starts_with("HTTP/1.1 200"));
    drop(first);

    let mut again = connect_with(config, &gate.address).await;
    assert_eq!(
        again.get_ref().1.handshake_kind(),
        Some(HandshakeKind::Resumed)
    );
    again.write_all(&get("acme/billing/db")).await.unwrap();
    assert!(read_response(&mut again).await.starts_with("HTTP/1.1 200"));
    again.write_all(&get("other/tenant/db")).await.unwrap();
    assert!(read_response(&mut again).await.starts_with("HTTP/1.1 403"));
    gate.stop().await;
}
