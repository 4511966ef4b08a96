//! The read cache against a real OpenBao: one upstream read for many, read-your-writes through
//! the proxy, per-service isolation under the policy, stale-if-error and the byte budget.
//! Upstream reads are counted in OpenBao's own audit log.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::gate::Gate;
use crate::support::openbao::OpenBao;
use crate::support::pki::Pki;

fn x_cache(resp: &reqwest::Response) -> String {
    resp.headers()
        .get("x-cache")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_thousand_concurrent_reads_make_one_upstream_read() {
    let bao = OpenBao::start().await;
    bao.kv_put("acme/billing/db", json!({"password": "pool-pw"}))
        .await;
    let pki = Pki::new(&["acme/billing"]);
    let gate = Gate::start(&bao, &pki, &["acme/billing"]).await;
    let url = format!("{}/v1/secret/data/acme/billing/db", gate.url());
    let before = bao.audit_requests();

    let mut clients = Vec::new();
    for _ in 0..32 {
        let (client, url) = (pki.client_for("acme/billing"), url.clone());
        clients.push(tokio::spawn(async move {
            let mut labels = Vec::new();
            for _ in 0..1000 / 32 + 1 {
                let resp = client.get(&url).send().await.unwrap();
                assert_eq!(resp.status(), 200);
                let label = x_cache(&resp);
                let body: serde_json::Value = resp.json().await.unwrap();
                assert_eq!(body["data"]["data"]["password"], "pool-pw");
                labels.push(label);
            }
            labels
        }));
    }
    let mut labels = Vec::new();
    for c in clients {
        labels.extend(c.await.unwrap());
    }
    assert!(labels.len() >= 1000);
    assert_eq!(bao.audit_requests() - before, 1, "upstream reads");
    assert_eq!(labels.iter().filter(|l| *l == "MISS").count(), 1);
    assert!(labels
        .iter()
        .all(|l| ["MISS", "HIT", "COALESCED"].contains(&l.as_str())));
    let stats = gate.cache.stats();
    assert_eq!(stats.misses, 1, "{stats:?}");
    gate.stop().await;
}

/// Every KV v2 verb on the service's own keys, so each kind of write can be checked.
const KV_LIFECYCLE: &str = r#"
path "secret/data/acme/billing/*" { capabilities = ["read", "create", "update", "delete"] }
path "secret/metadata/acme/billing/*" { capabilities = ["read", "list", "delete"] }
path "secret/metadata/acme/billing" { capabilities = ["list"] }
path "secret/undelete/acme/billing/*" { capabilities = ["create", "update"] }
path "secret/destroy/acme/billing/*" { capabilities = ["create", "update"] }
"#;

#[tokio::test]
async fn writes_through_the_proxy_are_read_back_at_once() {
    let bao = OpenBao::start().await;
    bao.kv_put("acme/billing/api", json!({"key": "v1"})).await;
    let pki = Pki::new(&["acme/billing"]);
    let policies = tempfile::tempdir().unwrap();
    std::fs::write(policies.path().join("acme.hcl"), KV_LIFECYCLE).unwrap();
    let gate = Gate::builder(&bao, &pki)
        .services(&["acme/billing"])
        .policies(policies.path())
        .start()
        .await;
    let env = gate.cli_env(&pki, "acme/billing");
    let run = |args: Vec<&'static str>| {
        let (bao, env) = (&bao, &env);
        async move {
            let (ok, text) = bao.cli_outcome(&args, env).await;
            (ok, text.trim().to_owned())
        }
    };
    let get = || run(vec!["kv", "get", "-field=key", "secret/acme/billing/api"]);

    assert_eq!(get().await, (true, "v1".into()));
    assert_eq!(get().await, (true, "v1".into()), "second read, from cache");
    let listed = run(vec!["kv", "list", "secret/acme/billing"]).await;
    assert!(listed.0 && !listed.1.contains("fresh"), "{listed:?}");

    for value in ["v2", "v3"] {
        let put = format!("key={value}").leak() as &'static str;
        let (ok, text) = run(vec!["kv", "put", "secret/acme/billing/api", put]).await;
        assert!(ok, "{text}");
        assert_eq!(get().await, (true, value.into()), "read after put");
    }
    // A new key shows in the (cached) parent listing at once.
    let (ok, text) = run(vec!["kv", "put", "secret/acme/billing/fresh", "key=f"]).await;
    assert!(ok, "{text}");
    let listed = run(vec!["kv", "list", "secret/acme/billing"]).await;
    assert!(listed.0 && listed.1.contains("fresh"), "{listed:?}");

    let (ok, text) = run(vec!["kv", "delete", "secret/acme/billing/api"]).await;
    assert!(ok, "{text}");
    let (ok, text) = get().await;
    assert!(!ok, "read after delete: {text}");

    let (ok, text) = run(vec![
        "kv",
        "undelete",
        "-versions=3",
        "secret/acme/billing/api",
    ])
    .await;
    assert!(ok, "{text}");
    assert_eq!(get().await, (true, "v3".into()), "read after undelete");

    let (ok, text) = run(vec![
        "kv",
        "destroy",
        "-versions=3",
        "secret/acme/billing/api",
    ])
    .await;
    assert!(ok, "{text}");
    let (ok, text) = get().await;
    assert!(!ok, "read after destroy: {text}");

    let (ok, text) = run(vec!["kv", "put", "secret/acme/billing/api", "key=v4"]).await;
    assert!(ok, "{text}");
    assert_eq!(get().await, (true, "v4".into()));
    let (ok, text) = run(vec!["kv", "metadata", "delete", "secret/acme/billing/api"]).await;
    assert!(ok, "{text}");
    let (ok, text) = get().await;
    assert!(!ok, "read after metadata delete: {text}");
    gate.stop().await;
}

const SHARED: &str = r#"
path "secret/data/shared/*" { capabilities = ["read"] }
"#;

const SHARED_BILLING_ONLY: &str = r#"
path "secret/data/shared/*" { capabilities = ["read"] }
"#;

#[tokio::test]
async fn services_never_share_entries_and_the_policy_comes_first() {
    let bao = OpenBao::start().await;
    bao.kv_put("shared/config", json!({"region": "eu"})).await;
    let services = ["acme/billing", "acme/web", "globex/api"];
    let pki = Pki::new(&services);
    let policies = tempfile::tempdir().unwrap();
    std::fs::write(policies.path().join("acme.hcl"), SHARED).unwrap();
    std::fs::write(policies.path().join("globex.hcl"), "").unwrap();
    let gate = Gate::builder(&bao, &pki)
        .services(&services)
        .policies(policies.path())
        .start()
        .await;
    let url = format!("{}/v1/secret/data/shared/config", gate.url());
    let (billing, web, globex) = (
        pki.client_for("acme/billing"),
        pki.client_for("acme/web"),
        pki.client_for("globex/api"),
    );

    let before = bao.audit_requests();
    for client in [&billing, &web, &billing, &web] {
        assert_eq!(client.get(&url).send().await.unwrap().status(), 200);
    }
    assert_eq!(
        bao.audit_requests() - before,
        2,
        "one upstream read per service"
    );
    // Warm for two services, still denied to a third.
    let denied = globex.get(&url).send().await.unwrap();
    assert_eq!(denied.status(), 403);
    assert_eq!(x_cache(&denied), "");

    // acme/web loses access: its warm entry must not be served any more.
    std::fs::create_dir(policies.path().join("acme")).unwrap();
    std::fs::write(policies.path().join("acme.hcl"), "").unwrap();
    std::fs::write(
        policies.path().join("acme").join("billing.hcl"),
        SHARED_BILLING_ONLY,
    )
    .unwrap();
    let started = Instant::now();
    let mut status = 200;
    while status != 403 && started.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(50)).await;
        status = web.get(&url).send().await.unwrap().status().as_u16();
    }
    assert_eq!(status, 403, "the reload did not apply to the warm entry");
    let resp = billing.get(&url).send().await.unwrap();
    assert_eq!(
        (resp.status().as_u16(), x_cache(&resp).as_str()),
        (200, "HIT")
    );
    gate.stop().await;
}

const WRAPPED_READS: &str = r#"
path "secret/data/acme/billing/*" {
  capabilities     = ["read"]
  min_wrapping_ttl = "1s"
  max_wrapping_ttl = "300s"
}
"#;

#[tokio::test]
async fn wrapped_answers_are_never_cached() {
    let bao = OpenBao::start().await;
    bao.kv_put("acme/billing/db", json!({"password": "pw"}))
        .await;
    let pki = Pki::new(&["acme/billing"]);
    let policies = tempfile::tempdir().unwrap();
    std::fs::write(policies.path().join("acme.hcl"), WRAPPED_READS).unwrap();
    let gate = Gate::builder(&bao, &pki)
        .services(&["acme/billing"])
        .policies(policies.path())
        .start()
        .await;
    let client = pki.client_for("acme/billing");
    let url = format!("{}/v1/secret/data/acme/billing/db", gate.url());
    let before = bao.audit_requests();
    let mut accessors = Vec::new();
    for _ in 0..2 {
        let resp = client
            .get(&url)
            .header("x-vault-wrap-ttl", "60")
            .send()
            .await
            .unwrap();
        assert_eq!(
            x_cache(&resp),
            "BYPASS",
            "a wrapped read went through the cache"
        );
        assert_eq!(resp.status(), 200);
        let body: serde_json::Value = resp.json().await.unwrap();
        accessors.push(body["wrap_info"]["accessor"].as_str().unwrap().to_owned());
    }
    assert_ne!(accessors[0], accessors[1], "a wrapped answer was reused");
    assert_eq!(bao.audit_requests() - before, 2);
    assert_eq!(gate.cache.stats().entries, 0, "{:?}", gate.cache.stats());
    gate.stop().await;
}

#[tokio::test]
async fn a_warm_entry_is_served_stale_while_vault_is_down_then_503() {
    let mut bao = OpenBao::start().await;
    bao.kv_put("acme/billing/db", json!({"password": "pw"}))
        .await;
    bao.kv_put("acme/billing/live", json!({"password": "pw"}))
        .await;
    let pki = Pki::new(&["acme/billing"]);
    let extra = r#"
[cache]
ttl = "1s"
stale_if_error = "4s"

[[cache.path]]
pattern = "secret/data/acme/billing/live"
stale_if_error = "0s"
"#;
    let policies = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
    let gate = Gate::builder(&bao, &pki)
        .services(&["acme/billing"])
        .policies(&policies)
        .extra(extra)
        .start()
        .await;
    let client = pki.client_for("acme/billing");
    let url = |k: &str| format!("{}/v1/secret/data/acme/billing/{k}", gate.url());
    for k in ["db", "live"] {
        assert_eq!(client.get(url(k)).send().await.unwrap().status(), 200);
    }
    tokio::time::sleep(Duration::from_millis(1200)).await;
    bao.kill();

    let resp = client.get(url("db")).send().await.unwrap();
    assert_eq!(
        (resp.status().as_u16(), x_cache(&resp).as_str()),
        (200, "STALE")
    );
    assert!(resp.headers().contains_key("age"));
    let resp = client.get(url("live")).send().await.unwrap();
    assert!(resp.status().is_server_error(), "{}", resp.status());
    let body: serde_json::Value = resp.json().await.unwrap();
    assert!(body["errors"][0]
        .as_str()
        .unwrap()
        .starts_with("vaultgate:"));

    // Past the stale window the proxy says Vault is unavailable, in Vault's error shape.
    let started = Instant::now();
    let mut last = (200, String::new());
    while last.0 == 200 && started.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let resp = client.get(url("db")).send().await.unwrap();
        last = (resp.status().as_u16(), resp.text().await.unwrap());
    }
    assert!(
        last.0 == 503 && last.1.contains("Vault is unavailable"),
        "{last:?}"
    );
    assert!(gate.cache.stats().stale >= 1);
    gate.stop().await;
}

#[tokio::test]
async fn the_byte_budget_holds_while_ten_mib_of_secrets_are_read() {
    let bao = OpenBao::start().await;
    let blob = "s".repeat(100 * 1024);
    for i in 0..100 {
        bao.kv_put(&format!("acme/billing/big{i}"), json!({ "blob": blob }))
            .await;
    }
    let pki = Pki::new(&["acme/billing"]);
    let policies = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
    let extra = "\n[cache]\nmax_bytes = 1048576\n";
    let gate = Gate::builder(&bao, &pki)
        .services(&["acme/billing"])
        .policies(&policies)
        .extra(extra)
        .start()
        .await;
    let client = pki.client_for("acme/billing");
    let rss_before = rss_kib();
    for round in 0..2 {
        for i in 0..100 {
            let url = format!("{}/v1/secret/data/acme/billing/big{i}", gate.url());
            let resp = client.get(&url).send().await.unwrap();
            assert_eq!(resp.status(), 200, "round {round} secret {i}");
            assert!(resp.bytes().await.unwrap().len() > 100 * 1024);
        }
    }
    let stats = gate.cache.stats();
    println!(
        "cache after 20 MiB of reads: {stats:?}; test process RSS {rss_before} -> {} KiB",
        rss_kib()
    );
    assert!(stats.bytes <= 1024 * 1024, "{stats:?}");
    assert!(stats.evictions > 0, "{stats:?}");
    assert!(stats.entries < 15, "{stats:?}");
    gate.stop().await;
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// A stand-in for a dynamic-secrets engine: the dev server has none that mints leases on a
/// read without an external database, so this tiny HTTP upstream answers every read of
/// `fake/creds/ro` with a new lease and every read of `fake/login` with a token.
async fn lease_minting_upstream() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let served = Arc::new(AtomicUsize::new(0));
    let count = served.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let count = count.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req: hyper::Request<_>| {
                    // Only the engine's paths count; vaultgate's discovery reads do not.
                    let n = if req.uri().path().starts_with("/v1/fake/") {
                        count.fetch_add(1, Ordering::SeqCst)
                    } else {
                        0
                    };
                    let body = if req.uri().path().ends_with("/login") {
                        json!({"auth": {"client_token": format!("s.minted{n}")}, "data": null})
                    } else {
                        json!({
                            "lease_id": format!("fake/creds/ro/lease{n}"),
                            "lease_duration": 60,
                            "renewable": true,
                            "data": {"username": format!("user{n}"), "password": format!("pw{n}")},
                        })
                    };
                    async move {
                        Ok::<_, std::convert::Infallible>(hyper::Response::new(
                            http_body_util::Full::new(bytes::Bytes::from(body.to_string())),
                        ))
                    }
                });
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, service)
                    .await;
            });
        }
    });
    (format!("http://{addr}"), served)
}

#[tokio::test]
async fn lease_and_token_bearing_answers_are_never_cached() {
    let (upstream, served) = lease_minting_upstream().await;
    let pki = Pki::new(&["acme/billing"]);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("acme.hcl"),
        "path \"fake/*\" { capabilities = [\"read\"] }\n",
    )
    .unwrap();
    let token_file = dir.path().join("billing.token");
    std::fs::write(&token_file, "s.service-token\n").unwrap();
    let vault = format!("address = \"{upstream}\"\ntimeout = \"10s\"\n");
    let config = Gate::base_config(&vault, &pki, dir.path())
        + &format!(
            "\n[[service]]\nname = \"acme/billing\"\nauth = \"token_file\"\ntoken_file = \"{}\"\n",
            token_file.display()
        );
    let file = dir.path().join("vaultgate.toml");
    std::fs::write(&file, config).unwrap();
    let gate = Gate::start_file(dir, &file).await;
    let client = pki.client_for("acme/billing");

    for path in ["fake/creds/ro", "fake/login"] {
        let before = served.load(std::sync::atomic::Ordering::SeqCst);
        let mut bodies = Vec::new();
        for _ in 0..3 {
            let resp = client
                .get(format!("{}/v1/{path}", gate.url()))
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 200);
            assert_eq!(x_cache(&resp), "BYPASS", "{path}");
            bodies.push(resp.text().await.unwrap());
        }
        let after = served.load(std::sync::atomic::Ordering::SeqCst);
        assert_eq!(after - before, 3, "{path}: every read reaches the engine");
        assert!(
            bodies[0] != bodies[1] && bodies[1] != bodies[2],
            "{bodies:?}"
        );
    }
    assert_eq!(gate.cache.stats().entries, 0);
    gate.stop().await;
}
