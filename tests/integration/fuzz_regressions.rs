//! Inputs the fuzz targets (fuzz/) found, replayed end to end through vaultgate against a
//! real OpenBao, so each fix is proven where it matters: at the socket, with Vault behind.

use serde_json::json;

use crate::support::gate::Gate;
use crate::support::openbao::OpenBao;
use crate::support::pki::Pki;

/// fuzz/corpus/http_front/seed-health-in-namespace: `sys/health` was waved through in any
/// namespace, and the namespace moves into the forwarded path, so `X-Vault-Namespace:
/// secret/data/acme/web` read another service's secret `acme/web/sys/health` with
/// acme/billing's token. It is now an ordinary path, denied by default, and Vault sees nothing.
#[tokio::test]
async fn health_with_a_namespace_header_cannot_reach_a_secret() {
    let bao = OpenBao::start().await;
    bao.kv_put("acme/web/sys/health", json!({"stolen": "web-secret"}))
        .await;
    let pki = Pki::new(&["acme/billing"]);
    let gate = Gate::start(&bao, &pki, &["acme/billing"]).await;
    let client = pki.client_for("acme/billing");
    let before = bao.audit_requests();
    for (method, path) in [
        ("GET", "sys/health"),
        ("GET", "sys/seal-status"),
        ("HEAD", "sys/health"),
    ] {
        let resp = client
            .request(
                reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
                format!("{}/v1/{path}", gate.url()),
            )
            .header("X-Vault-Namespace", "secret/data/acme/web")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 403, "{method} {path}");
        if method == "HEAD" {
            // A HEAD answer has no body to read (over HTTP/2 reading one resets the stream).
            continue;
        }
        let body = resp.text().await.unwrap();
        assert!(!body.contains("web-secret"), "{body}");
    }
    assert_eq!(
        bao.audit_requests(),
        before,
        "a denied request reached OpenBao"
    );
    // Without a namespace, health stays open as in Vault.
    let resp = client
        .get(format!("{}/v1/sys/health", gate.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    gate.stop().await;
}
