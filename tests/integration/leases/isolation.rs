//! Lease ownership: a service renews, looks up and revokes only the leases vaultgate relayed
//! to it, in every form a client sends (body, URL, legacy `sys/renew` and `sys/revoke`, the
//! bao CLI); prefix and force revocation and lookups by prefix are refused outright.

use std::time::Duration;

use serde_json::{json, Value};

use super::{mint, not_owned, send, Creds, Lab};
use crate::support::eventually;

/// A tenant that also holds grants for the prefix operations, which vaultgate still refuses:
/// they reach leases of every service at once.
const PREFIX_GRANTS: &str = r#"
path "sys/leases/revoke-prefix/*" { capabilities = ["update", "sudo"] }
path "sys/leases/revoke-force/*" { capabilities = ["update", "sudo"] }
path "sys/leases/lookup/*" { capabilities = ["list", "sudo"] }
"#;

/// Every way of asking Vault to renew, look up or revoke `lease_id`.
fn lease_operations(lease_id: &str) -> Vec<(&'static str, String, Option<Value>)> {
    let body = json!({ "lease_id": lease_id });
    let renew = json!({ "lease_id": lease_id, "increment": 3600 });
    vec![
        ("PUT", "sys/leases/renew".into(), Some(renew.clone())),
        ("POST", "sys/leases/renew".into(), Some(renew)),
        ("PUT", "sys/leases/lookup".into(), Some(body.clone())),
        ("PUT", "sys/leases/revoke".into(), Some(body.clone())),
        (
            "PUT",
            format!("sys/leases/renew/{lease_id}"),
            Some(json!({ "increment": 3600 })),
        ),
        ("PUT", format!("sys/leases/revoke/{lease_id}"), None),
        ("PUT", "sys/renew".into(), Some(body.clone())),
        ("PUT", format!("sys/renew/{lease_id}"), None),
        ("PUT", "sys/revoke".into(), Some(body)),
        ("PUT", format!("sys/revoke/{lease_id}"), None),
    ]
}

/// Lease operations OpenBao has seen so far from anyone but root.
fn lease_requests_in_openbao(lab: &Lab) -> Vec<String> {
    lab.openbao_records()
        .into_iter()
        .filter(|r| r["type"] == "request" && r["auth"]["policies"] != json!(["root"]))
        .filter_map(|r| r["request"]["path"].as_str().map(str::to_owned))
        .filter(|p| {
            p.starts_with("sys/leases") || p.starts_with("sys/renew") || p.starts_with("sys/revoke")
        })
        .collect()
}

/// Baseline on today's vaultgate: the database engine works through the proxy, every read
/// mints a new user (never cached), and a tenant's policy keeps it to its own roles.
#[tokio::test]
async fn creds_read_through_vaultgate_log_in_and_tenants_keep_to_their_roles() {
    let roles = [("acme-app", "5m", "10m"), ("globex-app", "5m", "10m")];
    let lab = Lab::start(&["acme/billing", "globex/api"], &roles).await;
    let gate = lab.gate().start().await;
    let (billing, globex) = (
        lab.pki.client_for("acme/billing"),
        lab.pki.client_for("globex/api"),
    );
    let base = gate.url();

    let first = mint(&billing, &base, "acme-app").await;
    let second = mint(&billing, &base, "acme-app").await;
    assert_ne!(
        first.username, second.username,
        "a lease-bearing answer was cached"
    );
    assert_ne!(first.lease_id, second.lease_id);
    assert!(first.renewable && first.ttl > 0, "{first:?}");
    assert!(lab.logs_in(&first).await && lab.logs_in(&second).await);
    assert!(lab.pg.role_exists(&first.username).await);

    let (status, body, _) = send(&globex, &base, "GET", "database/creds/acme-app", None).await;
    assert_eq!(status, 403, "globex read acme's role: {body}");
    let (status, body, _) = send(&billing, &base, "GET", "database/creds/globex-app", None).await;
    assert_eq!(status, 403, "acme read globex's role: {body}");
    let theirs = mint(&globex, &base, "globex-app").await;
    assert!(lab.logs_in(&theirs).await);
    gate.stop().await;
}

#[tokio::test]
async fn another_services_leases_are_out_of_reach_in_every_form() {
    let services = ["acme/billing", "acme/web", "globex/api"];
    let roles = [("acme-app", "5m", "10m"), ("globex-app", "5m", "10m")];
    let lab = Lab::start_with(&services, &roles, PREFIX_GRANTS).await;
    let gate = lab.gate().start().await;
    // What the server marks sudo is known once its OpenAPI document was read: decide as
    // vaultgate does in the steady state.
    gate.discovered().await;
    let base = gate.url();
    let billing = lab.pki.client_for("acme/billing");
    // Another tenant's lease, and one of the same tenant minted from the same role.
    let other_tenant = mint(&lab.pki.client_for("globex/api"), &base, "globex-app").await;
    let same_role = mint(&lab.pki.client_for("acme/web"), &base, "acme-app").await;
    let own = mint(&billing, &base, "acme-app").await;

    let forged = "database/creds/acme-app/NotIssuedThroughVaultgate".to_owned();
    for lease_id in [&other_tenant.lease_id, &same_role.lease_id, &forged] {
        for (method, path, body) in lease_operations(lease_id) {
            let (status, text, _) = send(&billing, &base, method, &path, body).await;
            assert_eq!(status, 403, "{method} {path}: {text}");
            assert!(
                text.contains(&not_owned("acme/billing")),
                "{method} {path}: {text}"
            );
        }
    }
    // The other way round, across tenants: globex cannot look at acme's lease either.
    let globex = lab.pki.client_for("globex/api");
    let lookup = json!({ "lease_id": own.lease_id });
    let (status, text, _) = send(&globex, &base, "PUT", "sys/leases/lookup", Some(lookup)).await;
    assert_eq!(status, 403, "{text}");
    assert!(text.contains(&not_owned("globex/api")), "{text}");

    // The CLI's own forms, refused with the same reason.
    let env = gate.cli_env(&lab.pki, "acme/billing");
    for command in ["renew", "revoke", "lookup"] {
        let args = ["lease", command, other_tenant.lease_id.as_str()];
        let (ok, out) = lab.bao.cli_outcome(&args, &env).await;
        assert!(!ok, "bao lease {command} of another tenant's lease: {out}");
        assert!(
            out.contains(&not_owned("acme/billing")),
            "bao lease {command}: {out}"
        );
    }

    // Prefix and force revocation and lookups by prefix reach every service's leases: always
    // refused, even on the caller's own role and with a policy that grants them.
    let prefixes = [
        ("PUT", "sys/leases/revoke-prefix/database/creds/globex-app"),
        ("PUT", "sys/leases/revoke-prefix/database/creds/acme-app"),
        ("PUT", "sys/leases/revoke-prefix/database"),
        ("PUT", "sys/leases/revoke-force/database/creds/acme-app"),
        ("LIST", "sys/leases/lookup/database/creds/acme-app/"),
        ("GET", "sys/leases/lookup/database/creds/acme-app?list=true"),
    ];
    for (method, path) in prefixes {
        let (status, text, _) = send(&billing, &base, method, path, None).await;
        assert_eq!(status, 403, "{method} {path}: {text}");
    }
    let (ok, out) = lab
        .bao
        .cli_outcome(
            &["lease", "revoke", "-prefix", "database/creds/acme-app"],
            &env,
        )
        .await;
    assert!(!ok, "bao lease revoke -prefix: {out}");

    // None of it reached Vault, and every credential still works.
    let seen = lease_requests_in_openbao(&lab);
    assert!(
        seen.is_empty(),
        "vaultgate forwarded lease operations: {seen:?}"
    );
    for creds in [&other_tenant, &same_role, &own] {
        assert!(
            lab.logs_in(creds).await,
            "{} no longer logs in",
            creds.username
        );
        assert!(lab.lease_known(&creds.lease_id).await);
    }
    gate.stop().await;
}

/// Waits (at most 10 s: `bao lease revoke` queues the revocation) until the credential's
/// database user is gone.
async fn dropped(lab: &Lab, creds: &Creds) -> bool {
    eventually(Duration::from_secs(10), || async {
        (!lab.pg.role_exists(&creds.username).await).then_some(())
    })
    .await
    .is_some()
}

/// The body form (`path` without a trailing `/`) or the URL form (`path` ending in `/`) of a
/// call on `lease_id`.
fn body_or_url(path: &str, lease_id: &str) -> (String, Option<Value>) {
    if path.ends_with('/') {
        (format!("{path}{lease_id}"), None)
    } else {
        (path.to_owned(), Some(json!({ "lease_id": lease_id })))
    }
}

/// Whether the server still serves the legacy `sys/renew` and `sys/revoke`: Vault does,
/// OpenBao 2.x answers 404 "unsupported path" (asked as root, of a lease that does not exist).
async fn legacy_lease_calls(lab: &Lab) -> bool {
    let body = json!({ "lease_id": "database/creds/none/none" });
    let (status, _) = lab.bao.api("PUT", "sys/renew", Some(body), "root").await;
    status != 404
}

#[tokio::test]
async fn a_service_renews_looks_up_and_revokes_its_own_leases_in_every_form() {
    let lab = Lab::start(&["acme/billing", "acme/web"], &[("acme-app", "2m", "10m")]).await;
    let gate = lab.gate().start().await;
    // What the server marks sudo is known once its OpenAPI document was read: decide as
    // vaultgate does in the steady state.
    gate.discovered().await;
    let base = gate.url();

    // The bao CLI, as an application's operator would use it.
    let billing = lab.pki.client_for("acme/billing");
    let own = mint(&billing, &base, "acme-app").await;
    let env = gate.cli_env(&lab.pki, "acme/billing");
    let id = own.lease_id.as_str();
    let (ok, out) = lab.bao.cli_outcome(&["lease", "lookup", id], &env).await;
    assert!(ok && out.contains(id), "bao lease lookup: {out}");
    let (ok, out) = lab
        .bao
        .cli_outcome(&["lease", "renew", "-increment=5m", id], &env)
        .await;
    assert!(ok && out.contains(id), "bao lease renew: {out}");
    assert!(lab.logs_in(&own).await);
    let (ok, out) = lab.bao.cli_outcome(&["lease", "revoke", id], &env).await;
    assert!(ok, "bao lease revoke: {out}");
    assert!(
        dropped(&lab, &own).await,
        "bao lease revoke left the database user"
    );
    assert!(!lab.logs_in(&own).await);
    assert!(!lab.lease_known(id).await);

    // Raw API forms, on another service's own leases.
    let web = lab.pki.client_for("acme/web");
    let creds = mint(&web, &base, "acme-app").await;
    let id = creds.lease_id.as_str();
    let renewals = [
        (
            "sys/leases/renew".to_owned(),
            Some(json!({ "lease_id": id, "increment": 120 })),
        ),
        (
            format!("sys/leases/renew/{id}"),
            Some(json!({ "increment": 120 })),
        ),
    ];
    for (path, body) in renewals {
        let (status, text, _) = send(&web, &base, "PUT", &path, body).await;
        assert_eq!(status, 200, "PUT {path}: {text}");
        let answer: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(answer["lease_id"], json!(id), "PUT {path}: {text}");
    }
    let lookup = json!({ "lease_id": id });
    let (status, text, _) = send(&web, &base, "PUT", "sys/leases/lookup", Some(lookup)).await;
    assert_eq!(status, 200, "{text}");
    let answer: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(answer["data"]["id"], json!(id), "{text}");
    for path in ["sys/leases/revoke", "sys/leases/revoke/"] {
        let creds = mint(&web, &base, "acme-app").await;
        let (path, body) = body_or_url(path, &creds.lease_id);
        let (status, text, _) = send(&web, &base, "PUT", &path, body).await;
        assert_eq!(status, 204, "PUT {path}: {text}");
        assert!(
            dropped(&lab, &creds).await,
            "PUT {path} left the database user"
        );
    }

    // The legacy sys/renew and sys/revoke: vaultgate lets the owner through and the server
    // answers as it would directly (Vault serves them; OpenBao 2.x removed them: 404).
    let legacy = legacy_lease_calls(&lab).await;
    for path in ["sys/renew", "sys/renew/"] {
        let (path, body) = body_or_url(path, id);
        let (status, text, _) = send(&web, &base, "PUT", &path, body).await;
        assert_eq!(status, if legacy { 200 } else { 404 }, "PUT {path}: {text}");
    }
    for path in ["sys/revoke", "sys/revoke/"] {
        let creds = mint(&web, &base, "acme-app").await;
        let (path, body) = body_or_url(path, &creds.lease_id);
        let (status, text, _) = send(&web, &base, "PUT", &path, body).await;
        assert_eq!(status, if legacy { 204 } else { 404 }, "PUT {path}: {text}");
        if legacy {
            assert!(
                dropped(&lab, &creds).await,
                "PUT {path} left the database user"
            );
        } else {
            assert!(lab.lease_known(&creds.lease_id).await && lab.logs_in(&creds).await);
        }
    }

    // URL forms reach Vault as body forms: no lease id in a path of Vault's audit trail.
    let seen = lease_requests_in_openbao(&lab);
    let bodies = [
        "sys/leases/renew",
        "sys/leases/revoke",
        "sys/leases/lookup",
        "sys/renew",
        "sys/revoke",
    ];
    let urls: Vec<&String> = seen
        .iter()
        .filter(|p| !bodies.contains(&p.as_str()))
        .collect();
    assert!(urls.is_empty(), "URL forms forwarded as such: {urls:?}");
    gate.stop().await;
}
