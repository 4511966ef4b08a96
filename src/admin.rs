//! The admin listener: a separate plain-HTTP socket on loopback or a unix socket, for
//! operators and orchestrators. `GET /healthz` is open; everything else needs the admin token
//! as `Authorization: Bearer <token>`: `/readyz`, `/metrics`, `/tokens`, `POST /lockdown`,
//! `POST /unlock`. It shares no router with the service listeners, so none of this is
//! reachable there.

mod cache;
mod ready;
mod tokens;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{header, Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::audit::AuditRecord;
use crate::config::{AdminConfig, AdminToken};
use crate::metrics;
use crate::shared::Shared;
use crate::socket::{self, Socket, Stream};

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("admin {0}")]
    Bind(#[from] socket::BindError),
}

type AdminBody = Full<Bytes>;

/// Admin requests are small and few: this many connections at once, the rest wait.
const MAX_CONNECTIONS: usize = 16;
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Longer than the slowest answer (`/readyz`: two checks of at most 5 s each).
const CONNECTION_LIFETIME: Duration = Duration::from_secs(30);

/// A bound admin listener.
pub struct AdminListener {
    socket: Socket,
    local: String,
    token: AdminToken,
    state: Arc<Shared>,
}

impl std::fmt::Debug for AdminListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminListener")
            .field("local", &self.local)
            .finish_non_exhaustive()
    }
}

impl AdminListener {
    pub async fn bind(
        config: &AdminConfig,
        state: Arc<Shared>,
    ) -> Result<AdminListener, AdminError> {
        let (socket, local) = socket::bind(&config.bind).await?;
        Ok(AdminListener {
            socket,
            local,
            token: config.token.clone(),
            state,
        })
    }

    /// `ip:port` (the real port when bound to port 0) or `unix:<path>`.
    pub fn local_addr(&self) -> &str {
        &self.local
    }

    /// Accepts until shutdown; open admin connections are closed gracefully then.
    pub async fn run(self, shutdown: CancellationToken) {
        let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        let admin = Arc::new(Admin {
            token: self.token,
            state: self.state,
        });
        loop {
            let permit = tokio::select! {
                p = permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => return },
                () = shutdown.cancelled() => return,
            };
            let accepted = tokio::select! {
                a = self.socket.accept() => a,
                () = shutdown.cancelled() => return,
            };
            let (admin, stop) = (admin.clone(), shutdown.clone());
            match accepted {
                Ok((Stream::Tcp(s), peer, _)) => {
                    tokio::spawn(async move {
                        admin.serve(s, peer, stop).await;
                        drop(permit);
                    });
                }
                Ok((Stream::Unix(s), peer, _)) => {
                    tokio::spawn(async move {
                        admin.serve(s, peer, stop).await;
                        drop(permit);
                    });
                }
                Err(e) => {
                    tracing::warn!(listener = %self.local, error = %e, "admin accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }
}

#[derive(Debug)]
struct Admin {
    token: AdminToken,
    state: Arc<Shared>,
}

impl Admin {
    async fn serve<IO>(self: Arc<Self>, io: IO, peer: String, shutdown: CancellationToken)
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let admin = self.clone();
        let peer: Arc<str> = peer.into();
        let service = service_fn(move |req| {
            let (admin, peer) = (admin.clone(), peer.clone());
            async move { Ok::<_, std::convert::Infallible>(admin.handle(req, &peer).await) }
        });
        // One request per connection, and a bound on its life: an idle or slow client
        // cannot keep one of the few admin connection slots.
        let conn = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_READ_TIMEOUT)
            .keep_alive(false)
            .serve_connection(TokioIo::new(io), service);
        tokio::pin!(conn);
        tokio::select! {
            r = tokio::time::timeout(CONNECTION_LIFETIME, conn.as_mut()) => match r {
                Ok(Err(e)) => tracing::debug!(error = %e, "admin connection ended with an error"),
                Err(_) => tracing::debug!("admin connection closed after {CONNECTION_LIFETIME:?}"),
                Ok(Ok(())) => {}
            },
            () = shutdown.cancelled() => {
                conn.as_mut().graceful_shutdown();
                let _ = conn.await;
            }
        }
    }

    /// Routes one request. Only `/healthz` answers without the token, so that unknown
    /// paths and methods tell an unauthenticated client nothing either.
    async fn handle(&self, req: Request<Incoming>, peer: &str) -> Response<AdminBody> {
        let (method, path) = (req.method().clone(), req.uri().path().to_owned());
        if path == "/healthz" {
            return match method {
                Method::GET | Method::HEAD => {
                    json_response(StatusCode::OK, &json!({"status": "alive"}))
                }
                _ => not_allowed("GET"),
            };
        }
        if let Err(refusal) = self.authenticate(&req) {
            tracing::warn!(%peer, %method, %path, "admin request refused: no valid admin token");
            return refusal;
        }
        let state = &self.state;
        match (path.as_str(), method) {
            ("/readyz", Method::GET) => {
                let report = ready::check(state).await;
                let status = if report.ready {
                    StatusCode::OK
                } else {
                    StatusCode::SERVICE_UNAVAILABLE
                };
                json_response(status, &report.body)
            }
            ("/metrics", Method::GET) => match state.metrics.encode() {
                Ok(text) => Response::builder()
                    .header(header::CONTENT_TYPE, metrics::CONTENT_TYPE)
                    .body(Full::new(Bytes::from(text)))
                    .unwrap_or_default(),
                Err(_) => admin_error(StatusCode::INTERNAL_SERVER_ERROR, "cannot encode metrics"),
            },
            ("/tokens", Method::GET) => json_response(StatusCode::OK, &tokens::view(state)),
            ("/lockdown", Method::POST) => self.set_lockdown(true, peer).await,
            ("/unlock", Method::POST) => self.set_lockdown(false, peer).await,
            ("/cache/clear", Method::POST) => cache::clear(state, req.uri().query(), peer),
            ("/readyz" | "/metrics" | "/tokens", _) => not_allowed("GET"),
            ("/lockdown" | "/unlock" | "/cache/clear", _) => not_allowed("POST"),
            _ => admin_error(StatusCode::NOT_FOUND, &format!("no admin endpoint {path}")),
        }
    }

    /// `Authorization: Bearer <admin token>`: 401 when absent, 403 when wrong.
    #[expect(
        clippy::result_large_err,
        reason = "the error is the response itself, built once per refused request"
    )]
    fn authenticate(&self, req: &Request<Incoming>) -> Result<(), Response<AdminBody>> {
        // The scheme is case-insensitive (RFC 9110 §11.1); an empty credential is none.
        let presented = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| {
                let v = v.as_bytes().trim_ascii();
                let (scheme, rest) = v.split_at(v.iter().position(|b| *b == b' ')?);
                scheme
                    .eq_ignore_ascii_case(b"bearer")
                    .then(|| rest.trim_ascii())
            })
            .filter(|t| !t.is_empty());
        match presented {
            None => Err(admin_error(
                StatusCode::UNAUTHORIZED,
                "missing admin credential: send Authorization: Bearer <admin token>",
            )),
            Some(token) if self.token.matches(token) => Ok(()),
            Some(_) => Err(admin_error(StatusCode::FORBIDDEN, "permission denied")),
        }
    }

    /// Lockdown and unlock go through the App's one lockdown channel, which every renewer
    /// and the proxy obey; each call is an audit event.
    async fn set_lockdown(&self, on: bool, peer: &str) -> Response<AdminBody> {
        let previous = self.state.lockdown.is_on();
        self.state.lockdown.set(on).await;
        let action = if on { "lockdown" } else { "unlock" };
        tracing::warn!(%peer, action, changed = previous != on, "admin action");
        self.state.auditor.event(AuditRecord::event(
            "admin_action",
            json!({ "action": action, "peer": peer, "changed": previous != on }),
        ));
        json_response(
            StatusCode::OK,
            &json!({ "lockdown": on, "changed": previous != on }),
        )
    }
}

fn json_response(status: StatusCode, body: &Value) -> Response<AdminBody> {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    r
}

/// Vault-style `{"errors": [...]}`.
fn admin_error(status: StatusCode, message: &str) -> Response<AdminBody> {
    json_response(
        status,
        &json!({ "errors": [format!("vaultgate admin: {message}")] }),
    )
}

fn not_allowed(allow: &'static str) -> Response<AdminBody> {
    let mut r = admin_error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
    r.headers_mut()
        .insert(header::ALLOW, http::HeaderValue::from_static(allow));
    r
}
