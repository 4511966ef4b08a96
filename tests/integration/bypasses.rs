//! [security] #15 reproducers against a real OpenBao with namespaces: a path split between
//! `X-Vault-Namespace` and the URL, or a namespace written into the path, still meets the
//! sensitive-endpoint, sudo and preflight checks; sudo is required where OpenBao requires
//! it; a write to a mount vaultgate does not model expires that mount's cached reads. The
//! service's Vault token can do everything (sudo on `*`), so every refusal is vaultgate's.

use serde_json::{json, Value};

use crate::support::gate::Gate;
use crate::support::openbao::OpenBao;
use crate::support::pki::Pki;

const EVERYTHING: &str = r#"path "*" { capabilities = ["create", "read", "update", "patch", "delete", "list", "sudo"] }"#;

async fn send(
    client: &reqwest::Client,
    method: &str,
    url: String,
    headers: &[(&str, &str)],
    body: Option<Value>,
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
    (status, resp.text().await.unwrap())
}

/// OpenBao with namespace `a` (KV v2 at `kv/`, PKI at `pki-x/`), PKI at `pki-a/` in root and
/// a token that may do anything anywhere.
async fn server() -> (OpenBao, String) {
    let bao = OpenBao::start().await;
    let ok = |(status, v): (u16, Value), what: &str| assert!(status < 300, "{what}: {status} {v}");
    ok(
        bao.api("POST", "sys/namespaces/a", None, "root").await,
        "namespace a",
    );
    let kv = json!({"type": "kv", "options": {"version": "2"}});
    ok(
        bao.api("POST", "a/sys/mounts/kv", Some(kv), "root").await,
        "a/kv",
    );
    let pki = json!({"type": "pki"});
    ok(
        bao.api("POST", "a/sys/mounts/pki-x", Some(pki.clone()), "root")
            .await,
        "a/pki-x",
    );
    ok(
        bao.api("POST", "sys/mounts/pki-a", Some(pki), "root").await,
        "pki-a",
    );
    let root_ca = json!({"common_name": "test", "ttl": "1h"});
    ok(
        bao.api(
            "POST",
            "pki-a/root/generate/internal",
            Some(root_ca.clone()),
            "root",
        )
        .await,
        "pki-a root",
    );
    ok(
        bao.api(
            "POST",
            "a/pki-x/root/generate/internal",
            Some(root_ca),
            "root",
        )
        .await,
        "a/pki-x root",
    );
    for _ in 0..50 {
        let (status, _) = bao
            .api(
                "POST",
                "a/kv/data/x",
                Some(json!({"data": {"v": "in-a"}})),
                "root",
            )
            .await;
        if status < 300 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // What the preflight bypass read: a KV key that merely looks like the preflight path.
    bao.kv_put(
        "a/sys/internal/ui/mounts/svc/x",
        json!({"v": "outside the policy"}),
    )
    .await;
    bao.write_policy("everything", EVERYTHING).await;
    let token = bao.create_token(&["everything"], true).await;
    (bao, token)
}

async fn gate(
    bao: &OpenBao,
    pki: &Pki,
    token: &str,
    policy: &str,
    extra_vault: &str,
) -> (Gate, tempfile::TempDir) {
    let policies = tempfile::tempdir().unwrap();
    std::fs::write(policies.path().join("a.hcl"), policy).unwrap();
    let vault = Gate::default_vault(bao) + extra_vault;
    let gate = Gate::builder(bao, pki)
        .token_services(&[("a/svc", token)])
        .policies(policies.path())
        .vault(&vault)
        .start()
        .await;
    gate.discovered().await;
    (gate, policies)
}

/// Method, path, headers, body, and the status vaultgate must answer.
type Attempt<'a> = (
    &'a str,
    &'a str,
    Vec<(&'a str, &'a str)>,
    Option<Value>,
    u16,
);

const TENANT_POLICY: &str = r#"
path "{{tenant}}/*" { capabilities = ["read", "create", "update", "list", "delete"] }
path "sys/leases/revoke*" { capabilities = ["create", "update"] }
path "secret/data/a/svc/*" { capabilities = ["read"] }
"#;

#[tokio::test]
async fn namespace_splits_keep_the_sensitive_sudo_and_preflight_checks() {
    let (bao, token) = server().await;
    let pki = Pki::new(&["a/svc"]);
    let issued = bao.issued_tokens().len();
    // Once knowing nothing of namespace `a`, once with it declared and read from the server.
    for extra in ["", "namespaces = [\"a\"]\n"] {
        let (gate, _policies) = gate(&bao, &pki, &token, TENANT_POLICY, extra).await;
        let client = pki.client_for("a/svc");
        let u = |p: &str| format!("{}/v1/{p}", gate.url());
        let before = bao.audit_requests();
        let orphan = json!({"no_parent": true, "policies": ["everything"], "ttl": "768h"});
        let attempts: Vec<Attempt> = vec![
            (
                "POST",
                "a/auth/token/create",
                vec![],
                Some(orphan.clone()),
                403,
            ),
            (
                "POST",
                "auth/token/create",
                vec![("X-Vault-Namespace", "a")],
                Some(orphan),
                403,
            ),
            (
                "POST",
                "a/sys/auth/up",
                vec![],
                Some(json!({"type": "userpass"})),
                403,
            ),
            (
                "POST",
                "sys/auth/up",
                vec![("X-Vault-Namespace", "a")],
                Some(json!({"type": "userpass"})),
                403,
            ),
            (
                "POST",
                "revoke-prefix/auth/approle/login",
                vec![("X-Vault-Namespace", "sys/leases")],
                Some(json!({})),
                400,
            ),
            (
                "POST",
                "sys/leases/revoke-prefix/auth/approle/login",
                vec![],
                Some(json!({})),
                403,
            ),
            (
                "GET",
                "sys/internal/ui/mounts/svc/x",
                vec![("X-Vault-Namespace", "secret/data/a")],
                None,
                403,
            ),
            ("DELETE", "a/pki-x/root", vec![], None, 403),
            (
                "DELETE",
                "pki-x/root",
                vec![("X-Vault-Namespace", "a")],
                None,
                403,
            ),
        ];
        for (method, path, headers, body, want) in attempts {
            let (status, text) = send(&client, method, u(path), &headers, body).await;
            assert_eq!(
                status, want,
                "{extra:?} {method} {path} {headers:?}: {text}"
            );
            assert!(text.starts_with("{\"errors\":["), "{text}");
        }
        assert_eq!(
            bao.audit_requests(),
            before,
            "{extra:?}: a refused request reached OpenBao"
        );
        // What the tenant rule does allow still works, whichever way the path is split.
        let (status, text) = send(
            &client,
            "GET",
            u("kv/data/x"),
            &[("X-Vault-Namespace", "a")],
            None,
        )
        .await;
        assert_eq!(status, 200, "{text}");
        let (status, text) = send(&client, "GET", u("a/kv/data/x"), &[], None).await;
        assert_eq!(status, 200, "{text}");
        assert!(text.contains("in-a"), "{text}");
        gate.stop().await;
    }
    assert_eq!(bao.issued_tokens().len(), issued, "a token was minted");
}

#[tokio::test]
async fn sudo_is_required_where_openbao_requires_it() {
    let (bao, token) = server().await;
    let pki = Pki::new(&["a/svc"]);
    let policy = r#"
path "pki-a/*" { capabilities = ["create", "read", "update", "delete", "list"] }
path "sys/seal" { capabilities = ["create", "update"] }
path "auth/token/revoke-orphan" { capabilities = ["create", "update"] }
"#;
    let (gate, _policies) = gate(&bao, &pki, &token, policy, "").await;
    let client = pki.client_for("a/svc");
    let u = |p: &str| format!("{}/v1/{p}", gate.url());
    let before = bao.audit_requests();
    for (method, path, body) in [
        ("DELETE", "pki-a/root", None),
        (
            "POST",
            "pki-a/root/sign-self-issued",
            Some(json!({"certificate": "x"})),
        ),
        ("PUT", "sys/seal", Some(json!({}))),
        (
            "POST",
            "auth/token/revoke-orphan",
            Some(json!({"token": "x"})),
        ),
    ] {
        let (status, text) = send(&client, method, u(path), &[], body).await;
        assert_eq!(status, 403, "{method} {path}: {text}");
        assert!(text.contains("sudo"), "{method} {path}: {text}");
    }
    assert_eq!(bao.audit_requests(), before, "a sudo path reached OpenBao");
    // The engine's other paths under the same rule are not sudo.
    let (status, text) = send(&client, "LIST", u("pki-a/issuers"), &[], None).await;
    assert_eq!(status, 200, "{text}");
    let (_, seal) = bao.api("GET", "sys/seal-status", None, "root").await;
    assert_eq!(seal["sealed"], false, "the server was sealed");
    gate.stop().await;
}

#[tokio::test]
async fn a_write_to_an_unmodelled_mount_expires_its_cached_reads() {
    let (bao, token) = server().await;
    let pki = Pki::new(&["a/svc"]);
    let policy =
        r#"path "pki-a/*" { capabilities = ["create", "read", "update", "delete", "list"] }"#;
    let (gate, _policies) = gate(&bao, &pki, &token, policy, "").await;
    let client = pki.client_for("a/svc");
    let list = || async {
        let resp = client
            .get(format!("{}/v1/pki-a/issuers?list=true", gate.url()))
            .send()
            .await
            .unwrap();
        let cache = resp.headers()["x-cache"].to_str().unwrap().to_owned();
        let body: Value = resp.json().await.unwrap();
        (cache, body["data"]["keys"].as_array().map_or(0, Vec::len))
    };
    assert_eq!(list().await, ("MISS".to_owned(), 1));
    assert_eq!(list().await, ("HIT".to_owned(), 1));
    let resp = client
        .post(format!("{}/v1/pki-a/root/generate/internal", gate.url()))
        .json(&json!({"common_name": "second", "ttl": "1h", "issuer_name": "second"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    assert_eq!(
        list().await,
        ("MISS".to_owned(), 2),
        "the cached list was stale"
    );
    gate.stop().await;
}
