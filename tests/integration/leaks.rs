//! [core] acceptance: a caller can never obtain the service's Vault token. Endpoints that
//! reveal or mint tokens are denied by default (even under a glob), and where a rule names
//! one exactly, any echo of the token in the answer is masked.

use serde_json::json;

use crate::support::gate::{Gate, BROAD_VAULT_POLICY};
use crate::support::openbao::OpenBao;
use crate::support::pki::Pki;

/// Sends a request and returns (status, headers and body as one text).
async fn exchange(
    client: &reqwest::Client,
    method: &str,
    url: String,
    headers: &[(&str, &str)],
    body: Option<serde_json::Value>,
) -> (u16, String) {
    let mut req = client.request(reqwest::Method::from_bytes(method.as_bytes()).unwrap(), url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let mut text = format!("{:?}\n", resp.headers());
    text.push_str(&resp.text().await.unwrap());
    (status, text)
}

fn policies_dir(extra_service_rules: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/acme.hcl");
    std::fs::copy(repo, dir.path().join("acme.hcl")).unwrap();
    std::fs::create_dir(dir.path().join("acme")).unwrap();
    std::fs::write(dir.path().join("acme/billing.hcl"), extra_service_rules).unwrap();
    dir
}

#[tokio::test]
async fn token_endpoints_are_denied_by_default_and_never_reach_vault() {
    let bao = OpenBao::start().await;
    bao.write_policy("vaultgate-test-broad", BROAD_VAULT_POLICY)
        .await;
    let token = bao.create_token(&["vaultgate-test-broad"], true).await;
    let pki = Pki::new(&["acme/billing"]);
    // Even a glob over every token endpoint does not open them: they need an exact rule.
    let policies = policies_dir(
        r#"path "auth/token/*" { capabilities = ["create", "read", "update", "delete", "list", "sudo"] }
path "cubbyhole/*" { capabilities = ["create", "read", "update", "delete", "list"] }
path "sys/wrapping/*" { capabilities = ["create", "read", "update"] }"#,
    );
    let gate = Gate::builder(&bao, &pki)
        .token_services(&[("acme/billing", &token)])
        .policies(policies.path())
        .start()
        .await;
    let client = pki.client_for("acme/billing");
    let u = |p: &str| format!("{}/v1/{p}", gate.url());

    let before = bao.audit_requests();
    type Attempt<'a> = (
        &'a str,
        &'a str,
        Vec<(&'a str, &'a str)>,
        Option<serde_json::Value>,
    );
    let attempts: Vec<Attempt> = vec![
        ("GET", "auth/token/lookup-self", vec![], None),
        (
            "POST",
            "auth/token/renew-self",
            vec![],
            Some(json!({"increment": "1h"})),
        ),
        ("POST", "auth/token/revoke-self", vec![], Some(json!({}))),
        (
            "POST",
            "auth/token/create",
            vec![],
            Some(json!({"policies": ["vaultgate-test-broad"]})),
        ),
        ("POST", "auth/token/create-orphan", vec![], Some(json!({}))),
        (
            "POST",
            "auth/token/lookup",
            vec![],
            Some(json!({"token": "x"})),
        ),
        ("LIST", "auth/token/accessors", vec![], None),
        (
            "GET",
            "auth/token/lookup-self",
            vec![("X-Vault-Wrap-TTL", "60")],
            None,
        ),
        (
            "GET",
            "secret/data/acme/billing/db",
            vec![("X-Vault-Wrap-TTL", "60")],
            None,
        ),
        (
            "POST",
            "sys/wrapping/wrap",
            vec![("X-Vault-Wrap-TTL", "60")],
            Some(json!({"a": "b"})),
        ),
        (
            "POST",
            "sys/wrapping/unwrap",
            vec![],
            Some(json!({"token": "x"})),
        ),
        (
            "POST",
            "sys/wrapping/lookup",
            vec![],
            Some(json!({"token": "x"})),
        ),
        ("POST", "cubbyhole/shared", vec![], Some(json!({"v": "1"}))),
        ("GET", "cubbyhole/shared", vec![], None),
        ("GET", "sys/capabilities-self", vec![], None),
        ("GET", "sys/internal/ui/resultant-acl", vec![], None),
        (
            "POST",
            "auth/approle/login",
            vec![],
            Some(json!({"role_id": "x"})),
        ),
        ("GET", "sys/leases/lookup", vec![], None),
    ];
    for (method, path, headers, body) in attempts {
        let (status, text) = exchange(&client, method, u(path), &headers, body).await;
        assert_eq!(status, 403, "{method} {path}: {text}");
        assert!(!text.contains(&token), "{method} {path} leaked the token");
    }
    assert_eq!(
        bao.audit_requests(),
        before,
        "a token endpoint request reached OpenBao"
    );
    gate.stop().await;
}

#[tokio::test]
async fn an_exact_rule_opens_lookup_self_but_the_token_is_masked() {
    let bao = OpenBao::start().await;
    bao.write_policy("vaultgate-test-broad", BROAD_VAULT_POLICY)
        .await;
    let token = bao.create_token(&["vaultgate-test-broad"], true).await;
    let pki = Pki::new(&["acme/billing"]);
    let policies = policies_dir(
        r#"path "auth/token/lookup-self" { capabilities = ["read"] }
path "auth/token/renew-self" { capabilities = ["create", "update"] }"#,
    );
    let gate = Gate::builder(&bao, &pki)
        .token_services(&[("acme/billing", &token)])
        .policies(policies.path())
        .start()
        .await;
    let client = pki.client_for("acme/billing");

    let url = format!("{}/v1/auth/token/lookup-self", gate.url());
    let (status, text) = exchange(&client, "GET", url, &[], None).await;
    assert_eq!(status, 200, "{text}");
    assert!(
        text.contains("\"id\":\""),
        "lookup-self answered without data.id: {text}"
    );
    assert!(
        !text.contains(&token),
        "lookup-self leaked the token: {text}"
    );

    let url = format!("{}/v1/auth/token/renew-self", gate.url());
    let (status, text) = exchange(&client, "POST", url, &[], Some(json!({}))).await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("client_token"), "{text}");
    assert!(
        !text.contains(&token),
        "renew-self leaked the token: {text}"
    );

    // Ordinary reads carry no trace of it either.
    bao.kv_put("acme/billing/db", json!({"password": "pw"}))
        .await;
    let url = format!("{}/v1/secret/data/acme/billing/db", gate.url());
    let (status, text) = exchange(&client, "GET", url, &[], None).await;
    assert_eq!(status, 200, "{text}");
    assert!(!text.contains(&token));
    gate.stop().await;
}
