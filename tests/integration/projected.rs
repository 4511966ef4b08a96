//! [topology] #19: policies and TLS material mounted the way Kubernetes mounts a ConfigMap or
//! Secret. The kubelet's atomic writer keeps each version in a timestamped folder, points
//! `..data` at the current one and the files at `..data/<name>`, and swaps versions by
//! renaming a new `..data` link into place. Both swaps take effect within 3 s with no failed
//! request under load; a half-written pair (new certificate, old key) keeps the old pair and
//! says why, until the matching key arrives.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::support::gate::Gate;
use crate::support::openbao::OpenBao;
use crate::support::pki::{Pki, TRUST_DOMAIN};

/// A folder written the way the kubelet's atomic writer does.
struct Projected {
    dir: PathBuf,
    version: usize,
}

impl Projected {
    fn new(dir: &Path) -> Projected {
        std::fs::create_dir_all(dir).unwrap();
        Projected {
            dir: dir.to_owned(),
            version: 0,
        }
    }

    /// Publishes a new version holding exactly `files`, swapping `..data` atomically.
    fn publish(&mut self, files: &[(&str, Vec<u8>)]) {
        self.version += 1;
        let stamp = format!("..2026_11_29_12_00_00.{:09}", self.version);
        let folder = self.dir.join(&stamp);
        std::fs::create_dir(&folder).unwrap();
        for (name, bytes) in files {
            std::fs::write(folder.join(name), bytes).unwrap();
        }
        let old = std::fs::read_link(self.dir.join("..data")).ok();
        let tmp = self.dir.join("..data_tmp");
        std::os::unix::fs::symlink(&stamp, &tmp).unwrap();
        std::fs::rename(&tmp, self.dir.join("..data")).unwrap();
        for (name, _) in files {
            let link = self.dir.join(name);
            if std::fs::symlink_metadata(&link).is_err() {
                std::os::unix::fs::symlink(format!("..data/{name}"), &link).unwrap();
            }
        }
        if let Some(old) = old {
            std::fs::remove_dir_all(self.dir.join(old)).unwrap();
        }
    }
}

fn read(path: PathBuf) -> Vec<u8> {
    std::fs::read(path).unwrap()
}

/// The DER of the server certificate a fresh connection is shown.
async fn served(pki: &Pki, url: &str) -> Option<Vec<u8>> {
    let resp = pki.client_for("acme/billing").get(url).send().await.ok()?;
    let info = resp.extensions().get::<reqwest::tls::TlsInfo>()?;
    info.peer_certificate().map(<[u8]>::to_vec)
}

fn first_cert(pem: &[u8]) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.pem");
    std::fs::write(&file, pem).unwrap();
    vaultgate::pem::read_certs(&file).unwrap()[0].to_vec()
}

/// Reads through the gate until stopped, on a pooled client and on fresh connections;
/// returns the answers that were not 200.
fn load(pki: &Pki, url: String, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<Vec<String>> {
    let pooled = pki.client_for("acme/billing");
    let (ca, client) = (pki.ca_cert(), pki.client("acme/billing"));
    tokio::spawn(async move {
        let mut failures = Vec::new();
        let mut n = 0usize;
        while !stop.load(Ordering::Relaxed) {
            n += 1;
            let client = if n.is_multiple_of(10) {
                let ca = reqwest::Certificate::from_pem(&std::fs::read(&ca).unwrap()).unwrap();
                let mut pem = std::fs::read(&client.0).unwrap();
                pem.extend(std::fs::read(&client.1).unwrap());
                reqwest::Client::builder()
                    .use_rustls_tls()
                    .add_root_certificate(ca)
                    .identity(reqwest::Identity::from_pem(&pem).unwrap())
                    .build()
                    .unwrap()
            } else {
                pooled.clone()
            };
            match client.get(&url).send().await {
                Ok(r) if r.status() == 200 => {}
                Ok(r) => failures.push(format!("{}", r.status())),
                Err(e) => failures.push(format!("{e:?}")),
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        failures
    })
}

/// Waits at most 3 s for `check`, returning how long it took.
async fn within_3s<F, Fut>(mut check: F) -> Option<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(3) {
        if check().await {
            return Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

#[tokio::test]
async fn configmap_and_secret_swaps_take_effect_under_load() {
    let bao = OpenBao::start().await;
    bao.kv_put("acme/billing/db", json!({"password": "pw"}))
        .await;
    bao.kv_put("acme/billing/later", json!({"v": "opened by the swap"}))
        .await;
    let pki = Pki::new(&["acme/billing"]);
    let mounts = tempfile::tempdir().unwrap();

    let rule = |extra: &str| {
        format!("path \"secret/data/acme/billing/db\" {{ capabilities = [\"read\"] }}\n{extra}")
            .into_bytes()
    };
    let mut policies = Projected::new(&mounts.path().join("policies"));
    policies.publish(&[("acme.hcl", rule(""))]);
    let mut tls = Projected::new(&mounts.path().join("tls"));
    let (cert, key) = (pki.server_cert(), pki.server_key());
    tls.publish(&[
        ("tls.crt", read(cert.clone())),
        ("tls.key", read(key.clone())),
        ("ca.crt", read(pki.ca_cert())),
    ]);
    let audit = mounts.path().join("audit.jsonl");
    let (dir, _) = Gate::builder(&bao, &pki)
        .services(&["acme/billing"])
        .write()
        .await;
    let config = Gate::base_config(&Gate::default_vault(&bao), &pki, Path::new("unused"))
        .replace(
            &cert.display().to_string(),
            &tls.dir.join("tls.crt").display().to_string(),
        )
        .replace(
            &key.display().to_string(),
            &tls.dir.join("tls.key").display().to_string(),
        )
        .replace(
            &pki.ca_cert().display().to_string(),
            &tls.dir.join("ca.crt").display().to_string(),
        )
        .replace(
            "dir = \"unused\"",
            &format!("dir = \"{}\"", policies.dir.display()),
        )
        + &std::fs::read_to_string(dir.path().join("vaultgate.toml"))
            .unwrap()
            .split("\n[[service]]")
            .skip(1)
            .map(|s| format!("\n[[service]]{s}"))
            .collect::<String>()
        + &format!("\n[audit]\nfile = \"{}\"\n", audit.display());
    let file = dir.path().join("projected.toml");
    std::fs::write(&file, config).unwrap();
    let gate = Gate::start_file(dir, &file).await;
    let url = |key: &str| format!("{}/v1/secret/data/acme/billing/{key}", gate.url());
    let client = pki.client_for("acme/billing");
    assert_eq!(client.get(url("later")).send().await.unwrap().status(), 403);

    let stop = Arc::new(AtomicBool::new(false));
    let traffic = load(&pki, url("db"), stop.clone());
    let seen = Arc::new(AtomicUsize::new(0));

    // The ConfigMap changes: a new rule opens `later`.
    policies.publish(&[(
        "acme.hcl",
        rule("path \"secret/data/acme/billing/later\" { capabilities = [\"read\"] }\n"),
    )]);
    let took = within_3s(|| {
        let (client, url, seen) = (client.clone(), url("later"), seen.clone());
        async move {
            seen.fetch_add(1, Ordering::Relaxed);
            client
                .get(url)
                .send()
                .await
                .is_ok_and(|r| r.status() == 200)
        }
    })
    .await;
    let policy_took = took.expect("the swapped policy was not in force within 3 s");

    // The Secret changes: a reissued server certificate (same CA) and its key.
    let before = first_cert(&read(cert.clone()));
    let billing = vaultgate::identity::Caller::parse("acme/billing").unwrap();
    vaultgate::cli::certs::init(
        pki.dir(),
        &[billing],
        TRUST_DOMAIN,
        &["swapped.test".to_owned()],
    )
    .unwrap();
    let (new_cert, new_key) = (read(cert.clone()), read(key.clone()));
    let after = first_cert(&new_cert);
    assert_ne!(before, after);

    // First half-written: the new certificate with the old key. It is refused, logged, and
    // the old pair stays in force.
    let old_key = read(tls.dir.join("tls.key"));
    tls.publish(&[
        ("tls.crt", new_cert.clone()),
        ("tls.key", old_key),
        ("ca.crt", read(pki.ca_cert())),
    ]);
    let refused = within_3s(|| {
        let audit = audit.clone();
        async move {
            std::fs::read_to_string(&audit)
                .unwrap_or_default()
                .lines()
                .any(|l| {
                    let v: Value = serde_json::from_str(l).unwrap_or_default();
                    v["event"]["name"] == "tls_reload" && v["event"]["accepted"] == false
                })
        }
    })
    .await;
    assert!(refused.is_some(), "the mismatched pair was not refused");
    assert_eq!(served(&pki, &url("db")).await, Some(before.clone()));

    // Then the matching key arrives: the new pair is served.
    tls.publish(&[
        ("tls.crt", new_cert),
        ("tls.key", new_key),
        ("ca.crt", read(pki.ca_cert())),
    ]);
    let cert_took = within_3s(|| {
        let (pki, url, after) = (&pki, url("db"), after.clone());
        async move { served(pki, &url).await.as_deref() == Some(after.as_slice()) }
    })
    .await
    .expect("the swapped certificate was not served within 3 s");

    stop.store(true, Ordering::Relaxed);
    let failures = traffic.await.unwrap();
    assert!(
        failures.is_empty(),
        "requests failed during the swaps: {failures:?}"
    );
    println!(
        "projected: policy swap in force after {policy_took:?}, certificate after {cert_took:?}"
    );
    gate.stop().await;
}
