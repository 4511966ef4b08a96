//! [security] #15 minor points: HEAD answers and the header-count limit are the same over
//! HTTP/1.1 and HTTP/2 (curl -I, as a person would check, and reqwest).

use serde_json::json;

use crate::support::gate::Gate;
use crate::support::openbao::OpenBao;
use crate::support::pki::Pki;

/// A client of `acme/billing` speaking only HTTP/1.1, or only HTTP/2 (ALPN `h2`).
fn client(pki: &Pki, h2: bool) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(&std::fs::read(pki.ca_cert()).unwrap()).unwrap();
    let (cert, key) = pki.client("acme/billing");
    let mut pem = std::fs::read(cert).unwrap();
    pem.extend(std::fs::read(key).unwrap());
    let builder = reqwest::Client::builder()
        .use_rustls_tls()
        .add_root_certificate(ca)
        .identity(reqwest::Identity::from_pem(&pem).unwrap());
    let builder = if h2 {
        builder.http2_prior_knowledge()
    } else {
        builder.http1_only()
    };
    builder.build().unwrap()
}

#[tokio::test]
async fn head_and_the_header_count_limit_behave_alike_on_both_protocols() {
    let bao = OpenBao::start().await;
    bao.kv_put("acme/billing/db", json!({"password": "pw"}))
        .await;
    let pki = Pki::new(&["acme/billing"]);
    let gate = Gate::builder(&bao, &pki)
        .services(&["acme/billing"])
        .start()
        .await;
    let (cert, key) = pki.client("acme/billing");
    for path in ["sys/health", "secret/data/acme/billing/db"] {
        for flag in ["--http1.1", "--http2"] {
            let out = tokio::process::Command::new("curl")
                .args(["-sS", "-I", flag, "--cacert"])
                .arg(pki.ca_cert())
                .arg("--cert")
                .arg(&cert)
                .arg("--key")
                .arg(&key)
                .arg(format!("{}/v1/{path}", gate.url()))
                .output()
                .await
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            let want = if path == "sys/health" { " 200" } else { " 403" };
            assert!(
                out.status.success() && text.lines().next().is_some_and(|l| l.contains(want)),
                "curl -I {flag} {path}: {:?} {text} {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    for h2 in [false, true] {
        let client = client(&pki, h2);
        let version = if h2 { "HTTP/2" } else { "HTTP/1.1" };
        let head = |path: &str| client.head(format!("{}/v1/{path}", gate.url())).send();
        let resp = head("sys/health")
            .await
            .unwrap_or_else(|e| panic!("{version}: {e:?}"));
        assert_eq!(resp.status(), 200, "{version} HEAD sys/health");
        let resp = head("secret/data/acme/billing/db")
            .await
            .unwrap_or_else(|e| panic!("{version}: {e:?}"));
        assert_eq!(resp.status(), 403, "{version} HEAD of a secret");

        let url = format!("{}/v1/secret/data/acme/billing/db", gate.url());
        let with_headers = |n: usize| {
            let mut req = client.get(&url);
            for i in 0..n {
                req = req.header(format!("x-pad-{i}"), "v");
            }
            req.send()
        };
        // reqwest adds a few headers of its own (accept, host or :authority...).
        let fine = with_headers(90)
            .await
            .unwrap_or_else(|e| panic!("{version}: {e:?}"));
        assert_eq!(fine.status(), 200, "{version}: 90 headers");
        let refused = with_headers(150).await.map(|r| r.status().as_u16());
        assert_eq!(refused.ok(), Some(431), "{version}: 150 headers");
    }
    gate.stop().await;
}

/// [fidelity] #16: a client pointed at `http://` by mistake gets Go's plain answer (curl
/// shows it), and nothing reaches Vault.
#[tokio::test]
async fn plain_http_on_the_tls_port_gets_gos_answer() {
    let bao = OpenBao::start().await;
    let pki = Pki::new(&["acme/billing"]);
    let gate = Gate::builder(&bao, &pki)
        .services(&["acme/billing"])
        .start()
        .await;
    let before = bao.audit_requests();
    let plain = gate.url().replace("https://", "http://");
    for method in ["GET", "POST", "LIST"] {
        let out = tokio::process::Command::new("curl")
            .args(["-sS", "-X", method, "-w", "\n%{http_code}"])
            .arg(format!("{plain}/v1/secret/data/acme/billing/db"))
            .output()
            .await
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.starts_with("Client sent an HTTP request to an HTTPS server.")
                && text.ends_with("\n400"),
            "curl -X {method} http://: {text:?} {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // The TLS port still serves TLS after that.
    let resp = client(&pki, false)
        .get(format!("{}/v1/sys/health", gate.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // Vault does not audit `sys/health`, so nothing at all is in its audit log.
    assert_eq!(bao.audit_requests(), before);
    gate.stop().await;
}
