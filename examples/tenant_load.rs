//! Load driver for the tenant-scaling curve of `scripts/bench-tenants.sh`: keeps one mTLS
//! connection per distinct caller (each with its own client certificate, which oha cannot
//! rotate) and drives them from a fixed number of workers, so concurrency stays constant while
//! the number of callers grows. Prints `connected`, waits for a line on stdin, then runs and
//! prints one JSON object.
//!
//! usage: tenant_load HOST:PORT CA_PEM CERT_DIR CALLERS WORKERS SECONDS
//!   caller i is tenant `t<i>`, service `svc`: certificate CERT_DIR/t<i>-svc.pem (+ -key.pem),
//!   and it reads `/v1/secret/data/t<i>/svc/db`.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn connector(
    ca: &rustls::RootCertStore,
    dir: &str,
    tenant: usize,
) -> Result<TlsConnector, BoxError> {
    let cert = format!("{dir}/t{tenant}-svc.pem");
    let key = format!("{dir}/t{tenant}-svc-key.pem");
    let chain = vaultgate::pem::read_certs(std::path::Path::new(&cert))?;
    let key = vaultgate::pem::read_key(std::path::Path::new(&key))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(ca.clone())
        .with_client_auth_cert(chain, key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsConnector::from(Arc::new(config)))
}

async fn connect(addr: &str, tls: &TlsConnector) -> Result<SendRequest<Empty<Bytes>>, BoxError> {
    let tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    let name = rustls::pki_types::ServerName::try_from("localhost")?;
    let stream = tls.connect(name, tcp).await?;
    let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    Ok(send)
}

/// One request on a kept-alive connection; http1 takes the next request only once the
/// previous exchange has finished, hence `ready()`.
async fn exchange(
    send: &mut SendRequest<Empty<Bytes>>,
    path: &str,
    host: &str,
) -> Result<u16, BoxError> {
    let req = http::Request::get(path)
        .header("host", host)
        .body(Empty::new())?;
    send.ready().await?;
    let resp = send.send_request(req).await?;
    let status = resp.status().as_u16();
    resp.into_body().collect().await?;
    Ok(status)
}

#[derive(Default)]
struct Tally {
    latencies_us: Vec<u64>,
    statuses: BTreeMap<u16, u64>,
    errors: u64,
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 7 {
        return Err("usage: tenant_load HOST:PORT CA_PEM CERT_DIR CALLERS WORKERS SECONDS".into());
    }
    let (addr, dir) = (args[1].clone(), args[3].clone());
    let callers: usize = args[4].parse()?;
    let workers: usize = args[5].parse()?;
    let seconds: u64 = args[6].parse()?;
    let mut ca = rustls::RootCertStore::empty();
    for c in vaultgate::pem::read_certs(Path::new(&args[2]))? {
        ca.add(c)?;
    }
    // Connection j belongs to caller j % callers and is driven by worker j % workers.
    let mut per_worker: Vec<Vec<(SendRequest<Empty<Bytes>>, String)>> =
        (0..workers).map(|_| Vec::new()).collect();
    for j in 0..callers.max(workers) {
        let tenant = j % callers;
        let send = connect(&addr, &connector(&ca, &dir, tenant)?).await?;
        per_worker[j % workers].push((send, format!("/v1/secret/data/t{tenant}/svc/db")));
    }
    // The harness samples the server's CPU time between "connected" and the result, so the
    // handshakes above are left out of the per-request cost: wait for its go-ahead line.
    println!("connected");
    std::io::Write::flush(&mut std::io::stdout())?;
    std::io::stdin().read_line(&mut String::new())?;
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for mut conns in per_worker {
        let host = addr.clone();
        tasks.spawn(async move {
            let mut tally = Tally::default();
            // Bounded by the deadline: each pass sends one request per connection.
            'outer: while Instant::now() < deadline {
                for (send, path) in conns.iter_mut() {
                    if Instant::now() >= deadline {
                        break 'outer;
                    }
                    let t = Instant::now();
                    let ok = exchange(send, path, &host).await.ok();
                    match ok {
                        Some(status) => {
                            tally.latencies_us.push(t.elapsed().as_micros() as u64);
                            *tally.statuses.entry(status).or_default() += 1;
                        }
                        None => {
                            tally.errors += 1;
                            break 'outer;
                        }
                    }
                }
            }
            tally
        });
    }
    let mut all = Tally::default();
    while let Some(t) = tasks.join_next().await {
        let t = t?;
        all.latencies_us.extend(t.latencies_us);
        all.errors += t.errors;
        for (s, n) in t.statuses {
            *all.statuses.entry(s).or_default() += n;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.latencies_us.sort_unstable();
    let pct = |p: f64| -> f64 {
        let v = &all.latencies_us;
        if v.is_empty() {
            return f64::NAN;
        }
        v[((v.len() - 1) as f64 * p) as usize] as f64 / 1000.0
    };
    let statuses: Vec<String> = all
        .statuses
        .iter()
        .map(|(s, n)| format!("\"{s}\": {n}"))
        .collect();
    println!(
        "{{\"callers\": {callers}, \"connections\": {}, \"requests\": {}, \"seconds\": {elapsed:.3}, \
         \"rps\": {:.1}, \"p50_ms\": {:.3}, \"p99_ms\": {:.3}, \"errors\": {}, \"statuses\": {{{}}}}}",
        callers.max(workers),
        all.latencies_us.len(),
        all.latencies_us.len() as f64 / elapsed,
        pct(0.5),
        pct(0.99),
        all.errors,
        statuses.join(", ")
    );
    Ok(())
}
