//! `Upstream`: the pooled HTTP(S) client to Vault. It sends exactly the request it is given,
//! never follows redirects (hyper has no redirect logic) and bounds every exchange in time.

mod deadline;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

use crate::config::VaultConfig;
use crate::pem::{read_certs, read_key, PemError};
use crate::vault::token::Token;
pub use deadline::Deadline;

/// Vault's answer body as the proxy receives it: bounded between chunks by the timeout.
pub type VaultBody = Deadline<Incoming>;

/// Why an exchange with Vault failed. Always the upstream's side, never the caller's.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("cannot load upstream TLS material from {file}: {problem}")]
    Tls { file: String, problem: String },
    #[error("Vault did not answer within {0:?}")]
    Timeout(Duration),
    /// Nothing accepts connections at Vault's address: it is down or restarting.
    #[error("Vault is unavailable: {0}")]
    Down(String),
    #[error("cannot reach Vault: {0}")]
    Unreachable(String),
    #[error("invalid response from Vault: {0}")]
    Response(String),
}

impl UpstreamError {
    pub fn status(&self) -> StatusCode {
        match self {
            UpstreamError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
            UpstreamError::Down(_) => StatusCode::SERVICE_UNAVAILABLE,
            UpstreamError::Tls { .. } => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_GATEWAY,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Upstream {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    address: Arc<str>,
    timeout: Duration,
    /// What the client was built from, for `presenting`.
    config: Arc<VaultConfig>,
}

/// The largest JSON answer read from Vault for the proxy's own calls (logins and the like).
const MAX_OWN_RESPONSE: usize = 1024 * 1024;

impl Upstream {
    pub fn new(cfg: &VaultConfig) -> Result<Upstream, UpstreamError> {
        let tls = client_tls(cfg)?;
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(cfg.connect_timeout));
        http.set_nodelay(true);
        // Over TLS, ALPN offers h2 first: Vault (Go) then multiplexes every request on one
        // connection instead of one connection per request in flight. Plain HTTP stays
        // HTTP/1.1 (Vault serves no cleartext HTTP/2).
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(64)
            .build(connector);
        Ok(Upstream {
            client,
            address: cfg.address.as_str().into(),
            timeout: cfg.timeout,
            config: Arc::new(cfg.clone()),
        })
    }

    /// A client to the same Vault that presents `cert` and `key` (read now, so a replaced
    /// file is used from the next call on): Vault's cert auth method takes the caller's
    /// identity from the TLS handshake, for the login and for each renewal of its token.
    pub fn presenting(&self, cert: &Path, key: &Path) -> Result<Upstream, UpstreamError> {
        let mut config = (*self.config).clone();
        config.client_identity = Some((cert.to_owned(), key.to_owned()));
        Upstream::new(&config)
    }

    /// Sends a request whose target is an origin-form `/v1/...` string; the response head
    /// must arrive within the timeout, and then each piece of the body (it streams).
    pub async fn send(
        &self,
        method: Method,
        target: &str,
        mut headers: http::HeaderMap,
        token: Option<&Token>,
        body: Bytes,
    ) -> Result<Response<Deadline<Incoming>>, UpstreamError> {
        let uri = format!("{}{}", self.address, target);
        let mut req = Request::builder()
            .method(method)
            .uri(uri)
            .body(Full::new(body))
            .map_err(|e| UpstreamError::Response(format!("cannot build request: {e}")))?;
        if let Some(t) = token {
            let mut v = HeaderValue::from_str(t.expose())
                .map_err(|_| UpstreamError::Response("token is not a valid header value".into()))?;
            v.set_sensitive(true);
            headers.insert("x-vault-token", v);
        }
        *req.headers_mut() = headers;
        match tokio::time::timeout(self.timeout, self.client.request(req)).await {
            Err(_) => Err(UpstreamError::Timeout(self.timeout)),
            Ok(Err(e)) if e.is_connect() => Err(UpstreamError::Down(error_chain(&e))),
            Ok(Err(e)) => Err(UpstreamError::Unreachable(error_chain(&e))),
            Ok(Ok(resp)) => Ok(resp.map(|body| Deadline::new(body, self.timeout))),
        }
    }

    /// How long one exchange may take before it is answered 504.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The proxy's own JSON calls (logins, renewals): the whole exchange within the timeout.
    pub async fn call_json(
        &self,
        method: Method,
        target: &str,
        namespace: &str,
        token: Option<&Token>,
        body: Option<&Value>,
    ) -> Result<(StatusCode, Value), UpstreamError> {
        self.call_json_within(method, target, namespace, token, body, MAX_OWN_RESPONSE)
            .await
    }

    /// `call_json` for answers that may be larger than a login's (the OpenAPI document).
    pub async fn call_json_within(
        &self,
        method: Method,
        target: &str,
        namespace: &str,
        token: Option<&Token>,
        body: Option<&Value>,
        limit: usize,
    ) -> Result<(StatusCode, Value), UpstreamError> {
        let mut headers = http::HeaderMap::new();
        if !namespace.is_empty() {
            let ns = HeaderValue::from_str(namespace)
                .map_err(|_| UpstreamError::Response("invalid namespace".into()))?;
            headers.insert("x-vault-namespace", ns);
        }
        let bytes = match body {
            Some(v) => {
                headers.insert("content-type", HeaderValue::from_static("application/json"));
                Bytes::from(v.to_string())
            }
            None => Bytes::new(),
        };
        let exchange = async {
            let resp = self.send(method, target, headers, token, bytes).await?;
            let status = resp.status();
            let body = Limited::new(resp.into_body(), limit)
                .collect()
                .await
                .map_err(|e| UpstreamError::Response(e.to_string()))?
                .to_bytes();
            let value = if body.is_empty() {
                Value::Null
            } else {
                serde_json::from_slice(&body)
                    .map_err(|_| UpstreamError::Response(format!("{status}: body is not JSON")))?
            };
            Ok((status, value))
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| UpstreamError::Timeout(self.timeout))?
    }
}

fn tls_file(e: PemError) -> UpstreamError {
    UpstreamError::Tls {
        file: "PEM".into(),
        problem: e.to_string(),
    }
}

fn client_tls(cfg: &VaultConfig) -> Result<rustls::ClientConfig, UpstreamError> {
    let mut roots = rustls::RootCertStore::empty();
    if let Some(ca) = &cfg.ca_cert {
        for cert in read_certs(ca).map_err(tls_file)? {
            roots.add(cert).map_err(|e| UpstreamError::Tls {
                file: ca.display().to_string(),
                problem: e.to_string(),
            })?;
        }
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| UpstreamError::Tls {
        file: "<provider>".into(),
        problem: e.to_string(),
    })?
    .with_root_certificates(roots);
    match &cfg.client_identity {
        None => Ok(builder.with_no_client_auth()),
        Some((cert, key)) => {
            let tls_err = |problem: String| UpstreamError::Tls {
                file: cert.display().to_string(),
                problem,
            };
            let chain = read_certs(cert).map_err(tls_file)?;
            let key = read_key(key).map_err(tls_file)?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| tls_err(e.to_string()))
        }
    }
}

/// Flattens an error and its sources into one line (hyper's top-level message is terse).
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        out.push_str(": ");
        out.push_str(&s.to_string());
        cur = s.source();
    }
    out
}
