//! `Upstream`: the pooled HTTP(S) client to Vault. It sends exactly the request it is given,
//! never follows redirects (hyper has no redirect logic) and bounds every exchange in time.
//! With `addresses` it sends each request to the cluster's active node (`cluster`,
//! `failover`); with `address`, to that one node as it is.

mod cluster;
mod deadline;
mod failover;
mod node;
mod probe;
mod tls;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Either, Full, Limited};
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::config::VaultConfig;
use crate::fault::Side;
use crate::vault::token::Token;
use cluster::Cluster;
pub use cluster::HealthTiming;
pub use deadline::Deadline;
pub use node::{NodeState, NodeStatus, Snapshot};
pub use tls::TlsError;

/// Vault's answer body as the proxy receives it: streamed from Vault, or read already
/// (an error answer vaultgate had to look into), bounded between chunks by the timeout.
pub type VaultBody = Deadline<Either<Incoming, Full<Bytes>>>;

/// Why an exchange with Vault failed: Vault's side, except a request vaultgate could not
/// build (its own token or namespace unusable in a header), which is its own.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("Vault did not answer within {0:?}")]
    Timeout(Duration),
    /// Nothing accepts connections at the node: it is down or restarting. Nothing was sent.
    #[error("Vault is unavailable: {node}: {cause}")]
    Down { node: Arc<str>, cause: String },
    /// The connection failed after the request may have been written.
    #[error("cannot reach Vault: {node}: {cause}{}", if *.maybe_applied { "; the request may have reached Vault, so it was not sent again" } else { "" })]
    Lost {
        node: Arc<str>,
        cause: String,
        /// A write whose answer was lost: it may have been applied, so it is not resent.
        maybe_applied: bool,
    },
    #[error("invalid response from Vault: {0}")]
    Answer(#[from] BadAnswer),
    /// No node of the cluster is active (an election that did not end in time, or every
    /// node sealed, uninitialized or down).
    #[error("no active Vault node: {0}")]
    NoActiveNode(String),
    #[error("cannot build the request to Vault: {0}")]
    Unsendable(#[from] Unsendable),
}

/// An answer from Vault that vaultgate could not use.
#[derive(Debug, thiserror::Error)]
pub enum BadAnswer {
    #[error("reading the body: {0}")]
    Unreadable(String),
    #[error("{status}: body is not JSON")]
    NotJson { status: StatusCode },
}

/// A request vaultgate could not put on the wire.
#[derive(Debug, thiserror::Error)]
pub enum Unsendable {
    #[error("the token is not a valid header value")]
    Token,
    #[error("the namespace is not a valid header value")]
    Namespace,
    #[error("{0}")]
    Request(#[from] http::Error),
}

impl UpstreamError {
    pub fn status(&self) -> StatusCode {
        match self {
            UpstreamError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
            UpstreamError::Down { .. } | UpstreamError::NoActiveNode(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            UpstreamError::Unsendable(_) => StatusCode::INTERNAL_SERVER_ERROR,
            UpstreamError::Lost { .. } | UpstreamError::Answer(_) => StatusCode::BAD_GATEWAY,
        }
    }

    pub fn side(&self) -> Side {
        match self {
            UpstreamError::Unsendable(_) => Side::Internal,
            _ => Side::Upstream,
        }
    }

    /// A failure of the HTTP client: refused (nothing sent) or lost after sending.
    fn client(node: &Arc<str>, e: &hyper_util::client::legacy::Error, write: bool) -> Self {
        let cause = error_chain(e);
        if e.is_connect() {
            UpstreamError::Down {
                node: node.clone(),
                cause,
            }
        } else {
            UpstreamError::Lost {
                node: node.clone(),
                cause,
                maybe_applied: write,
            }
        }
    }
}

type HttpClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// Where requests go: the one configured node, or the active node of a cluster.
#[derive(Debug, Clone)]
enum Route {
    One(Arc<str>),
    Cluster(Arc<Cluster>),
}

#[derive(Debug, Clone)]
pub struct Upstream {
    client: HttpClient,
    route: Route,
    timeout: Duration,
    /// What the client was built from, for `presenting`.
    config: Arc<VaultConfig>,
}

/// The largest JSON answer read from Vault for the proxy's own calls (logins and the like).
const MAX_OWN_RESPONSE: usize = 1024 * 1024;

impl Upstream {
    pub fn new(cfg: &VaultConfig) -> Result<Upstream, TlsError> {
        let tls = tls::client_tls(cfg)?;
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
        let route = match (cfg.cluster, cfg.addresses.as_slice()) {
            (false, [one]) => Route::One(one.as_str().into()),
            (_, nodes) => Route::Cluster(Arc::new(Cluster::new(nodes, HealthTiming::default()))),
        };
        Ok(Upstream {
            client,
            route,
            timeout: cfg.timeout,
            config: Arc::new(cfg.clone()),
        })
    }

    /// A client to the same Vault that presents `cert` and `key` (read now, so a replaced
    /// file is used from the next call on): Vault's cert auth method takes the caller's
    /// identity from the TLS handshake, for the login and for each renewal of its token.
    pub fn presenting(&self, cert: &Path, key: &Path) -> Result<Upstream, TlsError> {
        let mut config = (*self.config).clone();
        config.client_identity = Some((cert.to_owned(), key.to_owned()));
        Upstream::new(&config)
    }

    /// Sends a request whose target is an origin-form `/v1/...` string; the response head
    /// must arrive within the timeout (the wait for a cluster's active node included), and
    /// then each piece of the body (it streams).
    pub async fn send(
        &self,
        method: Method,
        target: &str,
        mut headers: http::HeaderMap,
        token: Option<&Token>,
        body: Bytes,
    ) -> Result<Response<VaultBody>, UpstreamError> {
        if let Some(t) = token {
            let mut v = HeaderValue::from_str(t.expose()).map_err(|_| Unsendable::Token)?;
            v.set_sensitive(true);
            headers.insert("x-vault-token", v);
        }
        let address = match &self.route {
            Route::Cluster(cluster) => {
                return self
                    .send_to_active(cluster, method, target, headers, body)
                    .await
            }
            Route::One(address) => address,
        };
        let req = request(method, &format!("{address}{target}"), headers, body)?;
        match tokio::time::timeout(self.timeout, self.client.request(req)).await {
            Err(_) => Err(UpstreamError::Timeout(self.timeout)),
            Ok(Err(e)) => Err(UpstreamError::client(address, &e, false)),
            Ok(Ok(resp)) => Ok(self.streamed(resp)),
        }
    }

    /// How long one exchange may take before it is answered 504.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Every node's state, when `addresses` configured a cluster.
    pub fn nodes(&self) -> Option<Arc<Snapshot>> {
        match &self.route {
            Route::Cluster(cluster) => Some(cluster.snapshot()),
            Route::One(_) => None,
        }
    }

    /// The cluster's health task, until `stop`: checks every node's `sys/health`, keeps the
    /// snapshot requests are routed by, and keeps a pooled connection to each node warm.
    /// With one `address` there is nothing to watch: it only waits for `stop`.
    pub async fn watch_nodes(&self, stop: CancellationToken) {
        match &self.route {
            Route::Cluster(cluster) => {
                let probe = Arc::new(probe::HttpProbe::new(self.client.clone()));
                cluster.watch(probe, stop).await;
            }
            Route::One(_) => stop.cancelled().await,
        }
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
            let ns = HeaderValue::from_str(namespace).map_err(|_| Unsendable::Namespace)?;
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
                .map_err(|e| BadAnswer::Unreadable(e.to_string()))?
                .to_bytes();
            let value = if body.is_empty() {
                Value::Null
            } else {
                serde_json::from_slice(&body).map_err(|_| BadAnswer::NotJson { status })?
            };
            Ok((status, value))
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| UpstreamError::Timeout(self.timeout))?
    }

    /// Vault's answer with its body streamed on, each piece within the timeout.
    fn streamed(&self, resp: Response<Incoming>) -> Response<VaultBody> {
        resp.map(|body| Deadline::new(Either::Left(body), self.timeout))
    }
}

fn request(
    method: Method,
    uri: &str,
    headers: http::HeaderMap,
    body: Bytes,
) -> Result<Request<Full<Bytes>>, UpstreamError> {
    let mut req = Request::builder()
        .method(method)
        .uri(uri)
        .body(Full::new(body))
        .map_err(Unsendable::from)?;
    *req.headers_mut() = headers;
    Ok(req)
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
