//! The admin listener: the token guards every endpoint but `/healthz`, none of it is reachable
//! on the service listener, `/readyz` follows Vault and the service tokens, `/metrics` parses
//! and moves under load, `/tokens` never shows a token, lockdown and unlock work and are
//! audited.

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};

use crate::support::gate::{Gate, BROAD_VAULT_POLICY};
use crate::support::openbao::OpenBao;
use crate::support::pki::Pki;

const ADMIN_TOKEN: &str = "test-admin-token-0123456789";

struct Admin {
    gate: Gate,
    http: reqwest::Client,
    base: String,
    /// Holds the admin token file and the audit log.
    dir: tempfile::TempDir,
}

impl Admin {
    async fn start(bao: &OpenBao, pki: &Pki, services: &[&str]) -> Admin {
        Admin::start_at(
            bao,
            pki,
            services,
            "address = \"127.0.0.1:0\"",
            tempfile::tempdir().unwrap(),
        )
        .await
    }

    /// `bind` is the `[admin]` address line; `dir` holds the token file and the audit log.
    async fn start_at(
        bao: &OpenBao,
        pki: &Pki,
        services: &[&str],
        bind: &str,
        dir: tempfile::TempDir,
    ) -> Admin {
        let token_file = dir.path().join("admin.token");
        std::fs::write(&token_file, format!("{ADMIN_TOKEN}\n")).unwrap();
        let extra = format!(
            "\n[admin]\n{bind}\ntoken_file = \"{}\"\n\n[audit]\nfile = \"{}\"\nhmac_key_file = \"{}\"\n",
            token_file.display(),
            dir.path().join("audit.log").display(),
            dir.path().join("hmac.key").display(),
        );
        let gate = Gate::builder(bao, pki)
            .services(services)
            .extra(&extra)
            .start()
            .await;
        let base = format!("http://{}", gate.admin.clone().expect("admin address"));
        // (For a unix socket `base` is not a URL; those tests speak HTTP on the socket.)
        Admin {
            gate,
            http: reqwest::Client::new(),
            base,
            dir,
        }
    }

    async fn call(&self, method: &str, path: &str, token: Option<&str>) -> (u16, String) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.unwrap();
        (resp.status().as_u16(), resp.text().await.unwrap())
    }

    async fn get(&self, path: &str) -> (u16, String) {
        self.call("GET", path, Some(ADMIN_TOKEN)).await
    }

    /// Polls `/readyz` every 100 ms until it answers `want`, at most `tries` times.
    async fn ready_until(&self, want: u16, tries: usize) -> (u16, Value) {
        let mut last = (0, Value::Null);
        for _ in 0..tries {
            let (status, body) = self.get("/readyz").await;
            last = (status, serde_json::from_str(&body).unwrap_or(Value::Null));
            if status == want {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        last
    }

    fn audit_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("audit.log")).unwrap_or_default()
    }
}

#[tokio::test]
async fn admin_endpoints_need_the_token_and_do_not_exist_on_the_service_listener() {
    let bao = OpenBao::start().await;
    let pki = Pki::new(&["acme/billing"]);
    let admin = Admin::start(&bao, &pki, &["acme/billing"]).await;

    // Liveness only: open, and says nothing else.
    let (status, body) = admin.call("GET", "/healthz", None).await;
    assert_eq!((status, body.as_str()), (200, r#"{"status":"alive"}"#));

    let guarded = [
        ("GET", "/readyz"),
        ("GET", "/metrics"),
        ("GET", "/tokens"),
        ("POST", "/lockdown"),
        ("POST", "/unlock"),
        ("GET", "/no-such-endpoint"),
    ];
    for (method, path) in guarded {
        for (token, want) in [
            (None, 401),
            (Some("wrong-token-0123456789"), 403),
            (Some(""), 401),
        ] {
            let (status, body) = admin.call(method, path, token).await;
            assert_eq!(status, want, "{method} {path} with {token:?}: {body}");
            let body: Value = serde_json::from_str(&body).unwrap();
            assert!(
                body["errors"][0]
                    .as_str()
                    .unwrap()
                    .starts_with("vaultgate admin:"),
                "{body}"
            );
        }
    }
    assert!(
        !admin.gate.lockdown.is_on(),
        "a refused POST /lockdown locked down"
    );

    // The service listener has no admin routes, even with the admin token and a valid
    // service certificate.
    let service = pki.client_for("acme/billing");
    for (method, path) in guarded {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let resp = service
            .request(method, format!("{}{path}", admin.gate.url()))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let body = resp.text().await.unwrap();
        assert!(
            !(200..300).contains(&status),
            "{path} on the service listener: {status} {body}"
        );
        assert!(!body.contains("vaultgate_requests"), "{body}");
    }
    let (status, _) = admin.call("GET", "/healthz", None).await;
    assert_eq!(status, 200);
    assert!(
        !admin.gate.lockdown.is_on(),
        "the service listener reached lockdown"
    );
    admin.gate.stop().await;
}

#[tokio::test]
async fn tokens_show_state_and_ttl_but_never_a_token_and_lockdown_works_through_admin() {
    let bao = OpenBao::start().await;
    bao.kv_put("acme/billing/db", json!({"password": "pw"}))
        .await;
    let pki = Pki::new(&["acme/billing", "acme/web"]);
    let admin = Admin::start(&bao, &pki, &["acme/billing", "acme/web"]).await;

    let (status, body) = admin.get("/tokens").await;
    assert_eq!(status, 200, "{body}");
    for service in ["acme/billing", "acme/web"] {
        let token = admin.gate.token(service);
        assert!(!body.contains(&token), "/tokens shows {service}'s token");
        let (_, lookup) = bao.lookup_token(&token).await;
        let accessor = lookup["data"]["accessor"].as_str().unwrap();
        assert!(
            !body.contains(accessor),
            "/tokens shows {service}'s accessor"
        );
    }
    let view: Value = serde_json::from_str(&body).unwrap();
    let billing = &view["principals"]["acme/billing"];
    assert_eq!(billing["state"], "held", "{view}");
    assert_eq!(billing["logins"], 1, "{view}");
    let ttl = billing["ttl_remaining_s"].as_u64().unwrap();
    assert!(ttl > 0 && ttl <= 3600, "{view}");

    // Lockdown through the admin listener: requests refused, readiness down, audited.
    let client = pki.client_for("acme/billing");
    let url = format!("{}/v1/secret/data/acme/billing/db", admin.gate.url());
    let (status, body) = admin.call("POST", "/lockdown", Some(ADMIN_TOKEN)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(client.get(&url).send().await.unwrap().status(), 503);
    let (status, ready) = admin.ready_until(503, 1).await;
    assert_eq!(status, 503);
    assert!(
        ready["failing"]
            .as_array()
            .unwrap()
            .contains(&json!("lockdown")),
        "{ready}"
    );
    let (_, body) = admin.get("/tokens").await;
    let view: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(view["lockdown"], true);

    let (status, _) = admin.call("POST", "/unlock", Some(ADMIN_TOKEN)).await;
    assert_eq!(status, 200);
    assert_eq!(
        crate::support::poll_status(&client, &url, 200, 100).await,
        200
    );
    assert_eq!(admin.ready_until(200, 100).await.0, 200);

    let audit = admin.audit_log();
    let actions: Vec<String> = audit
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|r| r["event"]["name"] == "admin_action")
        .map(|r| r["event"]["action"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        actions,
        ["lockdown", "unlock"],
        "admin actions in the audit log"
    );
    assert!(
        !audit.contains(ADMIN_TOKEN),
        "the admin token reached the audit log"
    );
    admin.gate.stop().await;
}

#[tokio::test]
async fn readyz_follows_a_revoked_token_and_a_vault_outage_and_recovers() {
    let mut bao = OpenBao::start().await;
    let pki = Pki::new(&["acme/billing", "acme/web"]);
    let admin = Admin::start(&bao, &pki, &["acme/billing", "acme/web"]).await;
    let (status, ready) = admin.ready_until(200, 50).await;
    assert_eq!(status, 200, "{ready}");
    assert_eq!(ready["failing"], json!([]));

    // A revoked token: readiness sees it, reports it to the renewer, and recovers.
    let old = admin.gate.revoke_token(&bao, "acme/billing").await;
    let (status, ready) = admin.ready_until(503, 50).await;
    assert_eq!(status, 503, "{ready}");
    assert_eq!(ready["failing"], json!(["tokens"]), "{ready}");
    assert_eq!(
        ready["checks"]["tokens"]["services"]["acme/billing"]["ok"],
        false
    );
    assert_eq!(
        ready["checks"]["tokens"]["services"]["acme/web"]["ok"],
        true
    );
    let (status, ready) = admin.ready_until(200, 100).await;
    assert_eq!(status, 200, "no recovery after the re-login: {ready}");
    assert_ne!(admin.gate.token("acme/billing"), old);

    // Vault down: not ready, and the body says it is Vault.
    let ids: Vec<(String, String, String)> = {
        let mut ids = Vec::new();
        for role in ["acme-billing", "acme-web"] {
            let (_, r) = bao
                .api(
                    "GET",
                    &format!("auth/approle/role/{role}/role-id"),
                    None,
                    "root",
                )
                .await;
            let secret =
                std::fs::read_to_string(admin.gate.dir().join(format!("{role}.secret_id")))
                    .unwrap();
            ids.push((
                role.to_owned(),
                r["data"]["role_id"].as_str().unwrap().to_owned(),
                secret,
            ));
        }
        ids
    };
    bao.kill();
    let (status, ready) = admin.ready_until(503, 50).await;
    assert_eq!(status, 503, "{ready}");
    assert!(
        ready["failing"]
            .as_array()
            .unwrap()
            .contains(&json!("vault")),
        "{ready}"
    );
    assert_eq!(ready["checks"]["vault"]["ok"], false);

    // Back (dev mode restarts empty, so the roles are restored): ready again once the
    // services logged in afresh.
    bao.restart().await;
    for (role, role_id, secret_id) in &ids {
        bao.write_policy("vaultgate-test-broad", BROAD_VAULT_POLICY)
            .await;
        bao.enable_approle().await;
        bao.restore_approle(role, &["vaultgate-test-broad"], role_id, secret_id)
            .await;
    }
    let (status, ready) = admin.ready_until(200, 200).await;
    assert_eq!(
        status, 200,
        "no recovery within 20 s of the restart: {ready}"
    );
    admin.gate.stop().await;
}

/// `name{labels}` value from a parsed scrape (0 when the series is absent).
fn sample(scrape: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match &s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => *v,
            prometheus_parse::Value::Histogram(buckets) => buckets.last().map_or(0.0, |b| b.count),
            prometheus_parse::Value::Summary(_) => 0.0,
        })
        .sum()
}

async fn scrape(admin: &Admin) -> prometheus_parse::Scrape {
    let resp = admin
        .http
        .get(format!("{}/metrics", admin.base))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let kind = resp.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(kind.starts_with("text/plain; version=0.0.4"), "{kind}");
    let text = resp.text().await.unwrap();
    prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap()
}

#[tokio::test]
async fn metrics_parse_and_count_requests_under_a_small_load() {
    let bao = OpenBao::start().await;
    bao.kv_put("acme/billing/db", json!({"password": "pw"}))
        .await;
    let pki = Pki::new(&["acme/billing"]);
    let admin = Admin::start(&bao, &pki, &["acme/billing"]).await;
    let allowed = [
        ("tenant", "acme"),
        ("service", "billing"),
        ("decision", "allow"),
        ("status", "200"),
    ];
    let denied = [("tenant", "acme"), ("decision", "deny"), ("status", "403")];
    let before = scrape(&admin).await;
    let client = pki.client_for("acme/billing");
    let (ok_url, denied_url) = (
        format!("{}/v1/secret/data/acme/billing/db", admin.gate.url()),
        format!("{}/v1/secret/data/acme/web/key", admin.gate.url()),
    );
    let reads = (0..20).map(|i| {
        let (client, url) = (
            client.clone(),
            if i % 4 == 3 {
                denied_url.clone()
            } else {
                ok_url.clone()
            },
        );
        tokio::spawn(async move { client.get(url).send().await.unwrap().status().as_u16() })
    });
    for read in reads {
        let status = read.await.unwrap();
        assert!(status == 200 || status == 403, "{status}");
    }
    let after = scrape(&admin).await;
    let moved = |name: &str, labels: &[(&str, &str)]| {
        sample(&after, name, labels) - sample(&before, name, labels)
    };
    assert_eq!(moved("vaultgate_requests_total", &allowed), 15.0);
    assert_eq!(moved("vaultgate_requests_total", &denied), 5.0);
    assert_eq!(
        moved("vaultgate_decision_duration_seconds_count", &[]),
        20.0
    );
    // The read cache: one upstream read for the 15 allowed ones.
    assert_eq!(moved("vaultgate_upstream_duration_seconds_count", &[]), 1.0);
    assert_eq!(moved("vaultgate_cache_misses_total", &[]), 1.0);
    let principal = [("principal", "acme/billing")];
    assert_eq!(sample(&after, "vaultgate_token_held", &principal), 1.0);
    assert!(sample(&after, "vaultgate_token_ttl_remaining_seconds", &principal) > 0.0);
    assert_eq!(
        sample(&after, "vaultgate_token_logins_total", &principal),
        1.0
    );
    for name in [
        "vaultgate_token_renewals_total",
        "vaultgate_token_refresh_failures_total",
        "vaultgate_policy_reloads_total",
        "vaultgate_policy_reload_failing",
        "vaultgate_audit_queue_depth",
        "vaultgate_audit_failures_total",
    ] {
        assert!(
            after.samples.iter().any(|s| s.metric == name),
            "{name} missing"
        );
    }
    assert!(after.docs.contains_key("vaultgate_requests_total"));
    admin.gate.stop().await;
}

/// One HTTP/1.1 request on a unix socket; returns the status line and the body.
async fn unix_request(socket: &Path, request: &str) -> (String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::UnixStream::connect(socket).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    let read = stream.read_to_string(&mut answer);
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .expect("admin answer within 10 s")
        .unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    (
        head.lines().next().unwrap_or_default().to_owned(),
        body.to_owned(),
    )
}

#[tokio::test]
async fn the_admin_listener_serves_a_unix_socket_only_its_owner_can_open() {
    use std::os::unix::fs::PermissionsExt;
    let bao = OpenBao::start().await;
    let pki = Pki::new(&["acme/billing"]);
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("admin.sock");
    let bind = format!("unix = \"{}\"", socket.display());
    let admin = Admin::start_at(&bao, &pki, &["acme/billing"], &bind, dir).await;
    assert_eq!(
        admin.gate.admin.as_deref(),
        Some(format!("unix:{}", socket.display()).as_str())
    );
    let mode = std::fs::metadata(&socket).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    let get = |path: &str, auth: &str| {
        format!("GET {path} HTTP/1.1\r\nHost: admin\r\n{auth}Connection: close\r\n\r\n")
    };
    let bearer = format!("Authorization: Bearer {ADMIN_TOKEN}\r\n");
    let (status, _) = unix_request(&socket, &get("/metrics", "")).await;
    assert!(status.contains(" 401 "), "{status}");
    let (status, body) = unix_request(&socket, &get("/metrics", &bearer)).await;
    assert!(status.contains(" 200 "), "{status}");
    assert!(body.contains("vaultgate_token_held"), "{body}");
    let (status, body) = unix_request(&socket, &get("/readyz", &bearer)).await;
    assert!(status.contains(" 200 "), "{status} {body}");
    admin.gate.stop().await;
}

#[tokio::test]
async fn cache_clear_needs_the_token_and_empties_the_scope_it_names() {
    let bao = OpenBao::start().await;
    bao.kv_put("acme/billing/db", json!({"password": "pw"}))
        .await;
    let pki = Pki::new(&["acme/billing"]);
    let admin = Admin::start(&bao, &pki, &["acme/billing"]).await;
    let client = pki.client_for("acme/billing");
    let url = format!("{}/v1/secret/data/acme/billing/db", admin.gate.url());
    let x_cache = |r: &reqwest::Response| r.headers()["x-cache"].to_str().unwrap().to_owned();
    client.get(&url).send().await.unwrap();
    assert_eq!(x_cache(&client.get(&url).send().await.unwrap()), "HIT");

    assert_eq!(admin.call("POST", "/cache/clear", None).await.0, 401);
    assert_eq!(
        admin.gate.cache.stats().entries,
        1,
        "a refused clear cleared"
    );
    let (status, body) = admin
        .call("POST", "/cache/clear?service=globex/api", Some(ADMIN_TOKEN))
        .await;
    assert_eq!(
        (status, body.contains("\"removed\":0")),
        (200, true),
        "{body}"
    );
    let (status, body) = admin
        .call(
            "POST",
            "/cache/clear?service=acme/billing",
            Some(ADMIN_TOKEN),
        )
        .await;
    assert_eq!(
        (status, body.contains("\"removed\":1")),
        (200, true),
        "{body}"
    );
    assert_eq!(x_cache(&client.get(&url).send().await.unwrap()), "MISS");
    let (status, _) = admin
        .call(
            "POST",
            "/cache/clear?prefix=secret/data/acme/",
            Some(ADMIN_TOKEN),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(admin.gate.cache.stats().entries, 0);
    // Lifecycle events are queued without waiting for the writer (unlike request records),
    // so the last one may land just after the answer: bounded wait, 5 s at most.
    let mut audit = String::new();
    for _ in 0..50 {
        audit = std::fs::read_to_string(admin.dir.path().join("audit.log")).unwrap();
        if audit.matches("\"cache_clear\"").count() >= 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(audit.matches("\"cache_clear\"").count(), 3, "{audit}");
    assert!(!audit.contains(ADMIN_TOKEN));
    admin.gate.stop().await;
}
