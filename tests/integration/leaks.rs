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
    // Token self-operations are vaultgate's to answer (#16): never forwarded.
    let selves: Vec<Attempt> = vec![
        ("GET", "auth/token/lookup-self", vec![], None),
        ("POST", "auth/token/lookup-self", vec![], Some(json!({}))),
        (
            "POST",
            "auth/token/renew-self",
            vec![],
            Some(json!({"increment": "1h"})),
        ),
        ("POST", "auth/token/revoke-self", vec![], Some(json!({}))),
        (
            "GET",
            "auth/token/lookup-self",
            vec![("X-Vault-Wrap-TTL", "60")],
            None,
        ),
    ];
    for ((method, path, headers, body), want) in selves.into_iter().zip([200, 200, 200, 403, 400]) {
        let (status, text) = exchange(&client, method, u(path), &headers, body).await;
        assert_eq!(status, want, "{method} {path}: {text}");
        assert!(!text.contains(&token), "{method} {path} leaked the token");
    }
    assert_eq!(
        bao.audit_requests(),
        before,
        "a token endpoint request reached OpenBao"
    );
    gate.stop().await;
}

/// [fidelity] #16 acceptance: no answer from the proxy carries the held token or its
/// accessor, whatever the caller's rules open: the self-operations (answered by vaultgate),
/// wrapping and unwrapping, and the token's own cubbyhole.
#[tokio::test]
async fn no_answer_carries_the_held_token_or_its_accessor() {
    let bao = OpenBao::start().await;
    bao.write_policy("vaultgate-test-broad", BROAD_VAULT_POLICY)
        .await;
    let token = bao.create_token(&["vaultgate-test-broad"], true).await;
    let (_, looked) = bao.lookup_token(&token).await;
    let accessor = looked["data"]["accessor"].as_str().unwrap().to_owned();
    assert!(!accessor.is_empty());
    let pki = Pki::new(&["acme/billing"]);
    let policies = policies_dir(
        r#"path "auth/token/lookup-self" { capabilities = ["read", "update"] }
path "auth/token/renew-self" { capabilities = ["update"] }
path "sys/wrapping/wrap" {
  capabilities = ["update"]
  max_wrapping_ttl = "1h"
}
path "sys/wrapping/unwrap" { capabilities = ["update"] }
path "sys/wrapping/lookup" { capabilities = ["update"] }
path "cubbyhole/notes" { capabilities = ["create", "read", "update", "list", "delete"] }
path "cubbyhole/" { capabilities = ["list"] }
path "secret/data/acme/billing/wrapped" {
  capabilities = ["read"]
  min_wrapping_ttl = "1s"
  max_wrapping_ttl = "1h"
}"#,
    );
    let gate = Gate::builder(&bao, &pki)
        .token_services(&[("acme/billing", &token)])
        .policies(policies.path())
        .start()
        .await;
    bao.kv_put("acme/billing/wrapped", json!({"password": "pw"}))
        .await;
    let client = pki.client_for("acme/billing");
    let u = |p: &str| format!("{}/v1/{p}", gate.url());
    let clean = |what: &str, status: u16, text: &str| {
        assert!((200..300).contains(&status), "{what}: {status} {text}");
        assert!(!text.contains(&token), "{what} leaked the token: {text}");
        assert!(
            !text.contains(&accessor),
            "{what} leaked the accessor: {text}"
        );
    };

    for (method, path) in [
        ("GET", "auth/token/lookup-self"),
        ("POST", "auth/token/lookup-self"),
    ] {
        let (status, text) = exchange(&client, method, u(path), &[], Some(json!({}))).await;
        clean(path, status, &text);
        assert!(text.contains("vaultgate-acme-billing"), "{text}");
    }
    let (status, text) = exchange(
        &client,
        "POST",
        u("auth/token/renew-self"),
        &[],
        Some(json!({"increment": "1h"})),
    )
    .await;
    clean("renew-self", status, &text);

    // A wrapped read, looked up and unwrapped through the proxy.
    let (status, text) = exchange(
        &client,
        "GET",
        u("secret/data/acme/billing/wrapped"),
        &[("X-Vault-Wrap-TTL", "5m")],
        None,
    )
    .await;
    clean("wrapped read", status, &text);
    let body = text.split_once('\n').unwrap().1;
    let wrapped: serde_json::Value = serde_json::from_str(body).unwrap();
    let wrapping = wrapped["wrap_info"]["token"].as_str().unwrap().to_owned();
    let (status, text) = exchange(
        &client,
        "POST",
        u("sys/wrapping/lookup"),
        &[],
        Some(json!({ "token": wrapping })),
    )
    .await;
    clean("wrapping lookup", status, &text);
    let (status, text) = exchange(
        &client,
        "POST",
        u("sys/wrapping/unwrap"),
        &[],
        Some(json!({ "token": wrapping })),
    )
    .await;
    clean("unwrap", status, &text);
    assert!(text.contains("\"pw\""), "unwrap gives the secret: {text}");
    let (status, text) = exchange(
        &client,
        "POST",
        u("sys/wrapping/wrap"),
        &[("X-Vault-Wrap-TTL", "5m")],
        Some(json!({"note": "n"})),
    )
    .await;
    clean("wrap", status, &text);

    // The held token's cubbyhole: written, listed, read, deleted.
    let (status, text) = exchange(
        &client,
        "POST",
        u("cubbyhole/notes"),
        &[],
        Some(json!({"n": "1"})),
    )
    .await;
    clean("cubbyhole write", status, &text);
    let (status, text) = exchange(&client, "LIST", u("cubbyhole/"), &[], None).await;
    clean("cubbyhole list", status, &text);
    let (status, text) = exchange(&client, "GET", u("cubbyhole/notes"), &[], None).await;
    clean("cubbyhole read", status, &text);
    let (status, text) = exchange(&client, "DELETE", u("cubbyhole/notes"), &[], None).await;
    clean("cubbyhole delete", status, &text);
    gate.stop().await;
}
