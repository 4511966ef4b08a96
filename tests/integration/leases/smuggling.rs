//! A foreign lease id smuggled past the ownership check in a shape OpenBao reads but a proxy
//! might not: a form-encoded body, a JSON key given twice (OpenBao keeps the last), the body's
//! id next to the caller's own in the URL (OpenBao reads the body). Whatever vaultgate
//! answers, the other service's credential must survive and its lease must not be shown.

use serde_json::json;

use super::{mint, Lab};

#[tokio::test]
async fn a_foreign_lease_id_in_a_shape_openbao_reads_is_never_acted_on() {
    let roles = [("acme-app", "5m", "10m"), ("globex-app", "5m", "10m")];
    let lab = Lab::start(&["acme/billing", "globex/api"], &roles).await;
    let gate = lab.gate().start().await;
    gate.discovered().await;
    let base = gate.url();
    let billing = lab.pki.client_for("acme/billing");
    let theirs = mint(&lab.pki.client_for("globex/api"), &base, "globex-app").await;
    let own = mint(&billing, &base, "acme-app").await;
    let (foreign, mine) = (theirs.lease_id.as_str(), own.lease_id.as_str());
    let form: String = url_encoded(foreign);

    // (path, content type, raw body)
    let attempts = [
        (
            "sys/leases/lookup".to_owned(),
            "application/x-www-form-urlencoded",
            format!("lease_id={form}"),
        ),
        (
            "sys/leases/renew".to_owned(),
            "application/x-www-form-urlencoded",
            format!("lease_id={form}&increment=3600"),
        ),
        (
            "sys/leases/revoke".to_owned(),
            "application/x-www-form-urlencoded",
            format!("lease_id={form}"),
        ),
        (
            "sys/leases/lookup".to_owned(),
            "application/json",
            format!(r#"{{"lease_id":"{mine}","lease_id":"{foreign}"}}"#),
        ),
        (
            "sys/leases/revoke".to_owned(),
            "application/json",
            format!(r#"{{"lease_id":"{mine}","lease_id":"{foreign}"}}"#),
        ),
        (
            format!("sys/leases/renew/{mine}"),
            "application/json",
            json!({ "lease_id": foreign }).to_string(),
        ),
        (
            format!("sys/leases/revoke/{mine}"),
            "application/json",
            json!({ "lease_id": foreign }).to_string(),
        ),
        // No content type at all: OpenBao parses the body as JSON anyway.
        (
            "sys/leases/revoke".to_owned(),
            "",
            json!({ "lease_id": foreign }).to_string(),
        ),
    ];
    for (path, content_type, body) in attempts {
        let mut req = billing.put(format!("{base}/v1/{path}")).body(body.clone());
        if !content_type.is_empty() {
            req = req.header("content-type", content_type);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        let what = format!("PUT {path} ({content_type}) {body}: {status} {text}");
        assert!(status >= 400, "{what}");
        assert!(!text.contains(theirs.lease_secret()), "{what}");
        assert!(
            lab.lease_known(foreign).await,
            "{what}: the lease was revoked"
        );
        assert!(
            lab.logs_in(&theirs).await,
            "{what}: the credential no longer logs in"
        );
    }
    // The caller's own lease was not the casualty either.
    assert!(lab.logs_in(&own).await);
    gate.stop().await;
}

/// `application/x-www-form-urlencoded` escaping of a lease id (`/` and anything unusual).
fn url_encoded(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
