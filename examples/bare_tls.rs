//! The machine's limit for `scripts/bench.sh`: a bare hyper + rustls server that answers every
//! request with one fixed body, doing the same TLS (and, with a client CA, mTLS) work as
//! vaultgate's listener and nothing else. Not part of the vaultgate binary.
//!
//! usage: bare_tls ADDR CERT KEY BODY_FILE [CLIENT_CA]

use std::convert::Infallible;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn read_pem(path: &str) -> Result<Vec<u8>, BoxError> {
    std::fs::read(path).map_err(|e| format!("{path}: {e}").into())
}

/// The same rustls server configuration as vaultgate's listener: ring, safe default
/// versions, h2 + http/1.1 ALPN, and a client certificate verified against `client_ca`.
fn tls_config(cert: &str, key: &str, client_ca: Option<&str>) -> Result<TlsAcceptor, BoxError> {
    let chain = vaultgate::pem::read_certs(Path::new(cert))?;
    let key = vaultgate::pem::read_key(Path::new(key))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let builder = match client_ca {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in vaultgate::pem::read_certs(Path::new(ca))? {
                roots.add(c)?;
            }
            let verifier =
                rustls::server::WebPkiClientVerifier::builder_with_provider(roots.into(), provider)
                    .build()?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_single_cert(chain, key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 5 {
        return Err("usage: bare_tls ADDR CERT KEY BODY_FILE [CLIENT_CA]".into());
    }
    let acceptor = tls_config(&args[2], &args[3], args.get(5).map(String::as_str))?;
    let body = Bytes::from(read_pem(&args[4])?);
    let listener = TcpListener::bind(&args[1]).await?;
    loop {
        let (tcp, _) = listener.accept().await?;
        let acceptor = acceptor.clone();
        let body = body.clone();
        tokio::spawn(async move {
            // Nagle would add up to 40 ms to small responses, as it would in any real server.
            let _ = tcp.set_nodelay(true);
            let Ok(tls) = acceptor.accept(tcp).await else {
                return;
            };
            let service = service_fn(move |_req: Request<hyper::body::Incoming>| {
                let body = body.clone();
                async move {
                    let resp = Response::builder()
                        .header("content-type", "application/json")
                        .body(Full::new(body));
                    Ok::<_, Infallible>(resp.unwrap_or_default())
                }
            });
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(tls), service)
                .await;
        });
    }
}
