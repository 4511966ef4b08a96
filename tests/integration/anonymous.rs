//! [security] #15: connections without a configured caller's certificate cannot starve the
//! callers that have one. 1,100 anonymous connections (half handshaken without a client
//! certificate, half never sending a ClientHello) are kept open — each one vaultgate closes
//! is reopened at once — while an identified service opens fresh connections and is served.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls;

use crate::support::gate::Gate;
use crate::support::openbao::OpenBao;
use crate::support::pki::Pki;

const ANONYMOUS: usize = 1_100;
/// How soon an attacker reopens a connection vaultgate closed.
const RENEW_AFTER: Duration = Duration::from_millis(500);

/// TLS as a client with no certificate: the listener's client auth is optional, so the
/// handshake succeeds and identity is decided afterwards.
fn anonymous_tls(pki: &Pki) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for c in vaultgate::pem::read_certs(&pki.ca_cert()).unwrap() {
        roots.add(c).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    Arc::new(config)
}

/// Holds one anonymous connection open until vaultgate closes it (or `stop`); returns
/// whether vaultgate closed it.
async fn hold(
    address: String,
    tls: Option<Arc<rustls::ClientConfig>>,
    stop: Arc<AtomicBool>,
) -> bool {
    let Ok(tcp) = tokio::net::TcpStream::connect(&address).await else {
        return true;
    };
    let mut buf = [0u8; 256];
    let wait_closed = |n: std::io::Result<usize>| matches!(n, Ok(0) | Err(_));
    match tls {
        None => {
            let mut tcp = tcp;
            loop {
                tokio::select! {
                    n = tcp.read(&mut buf) => if wait_closed(n) { return true },
                    () = tokio::time::sleep(Duration::from_millis(50)) => if stop.load(Ordering::Relaxed) { return false },
                }
            }
        }
        Some(config) => {
            let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
            let Ok(mut stream) = tokio_rustls::TlsConnector::from(config)
                .connect(name, tcp)
                .await
            else {
                return true;
            };
            loop {
                tokio::select! {
                    n = stream.read(&mut buf) => if wait_closed(n) { return true },
                    () = tokio::time::sleep(Duration::from_millis(50)) => if stop.load(Ordering::Relaxed) { return false },
                }
            }
        }
    }
}

// vaultgate gets a runtime of its own, as in production; the flood runs on another thread.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_connections_cannot_starve_an_identified_caller() {
    let bao = OpenBao::start().await;
    bao.kv_put("acme/billing/db", json!({"password": "pw"}))
        .await;
    let pki = Pki::new(&["acme/billing"]);
    let gate = Gate::builder(&bao, &pki)
        .services(&["acme/billing"])
        .start()
        .await;

    // The attackers: each slot reopens its connection as soon as vaultgate closes it.
    let stop = Arc::new(AtomicBool::new(false));
    let closed_by_gate = Arc::new(AtomicUsize::new(0));
    let tls = anonymous_tls(&pki);
    let address = gate.address.clone();
    let (flood_stop, flood_closed) = (stop.clone(), closed_by_gate.clone());
    let flood = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let mut attackers = Vec::new();
            for i in 0..ANONYMOUS {
                let (address, stop, closed) =
                    (address.clone(), flood_stop.clone(), flood_closed.clone());
                let tls = (i % 2 == 0).then(|| tls.clone());
                attackers.push(tokio::spawn(async move {
                    while !stop.load(Ordering::Relaxed) {
                        if hold(address.clone(), tls.clone(), stop.clone()).await {
                            closed.fetch_add(1, Ordering::Relaxed);
                            // Renewed, as a bot holding sockets open would, not in a tight loop.
                            tokio::time::sleep(RENEW_AFTER).await;
                        }
                    }
                }));
            }
            for a in attackers {
                a.await.unwrap();
            }
        });
    });
    // Wait until the flood is in place: the budget is full and vaultgate is closing the
    // anonymous connections past it.
    let started = Instant::now();
    while closed_by_gate.load(Ordering::Relaxed) < ANONYMOUS / 20 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the flood never built up"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // An identified service, on a fresh connection each time, is served within a second.
    let url = format!("{}/v1/secret/data/acme/billing/db", gate.url());
    for round in 0..10 {
        let client = pki.client_for("acme/billing");
        let asked = Instant::now();
        let resp = tokio::time::timeout(Duration::from_secs(1), client.get(&url).send()).await;
        let resp = resp.unwrap_or_else(|_| panic!("round {round}: not served within 1 s"));
        assert_eq!(resp.unwrap().status(), 200, "round {round}");
        assert!(asked.elapsed() < Duration::from_secs(1));
    }

    stop.store(true, Ordering::Relaxed);
    tokio::task::spawn_blocking(move || flood.join().unwrap())
        .await
        .unwrap();
    // Once the flood is over, an anonymous connection that sends a request is told why,
    // then closed.
    let mut config = (*anonymous_tls(&pki)).clone();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let mut tls = crate::support::pki::connect_with(Arc::new(config), &gate.address).await;
    tls.write_all(b"GET /v1/secret/data/acme/billing/db HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), tls.read_to_end(&mut answer))
        .await
        .expect("the connection was not closed after the answer")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer).to_ascii_lowercase();
    assert!(answer.starts_with("http/1.1 403"), "{answer}");
    assert!(answer.contains("connection: close"), "{answer}");
    assert!(answer.contains("client certificate"), "{answer}");

    gate.stop().await;
}
