//! Listeners: accept loop (connection limit), TLS/mTLS handshake (timeout), `Caller` from the
//! certificate or the listener binding, HTTP/1.1 or HTTP/2 by ALPN, graceful drain.

use std::sync::Arc;
use std::time::Instant;

use http::StatusCode;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

mod activity;
mod framing;
mod pending;
mod tls;

pub use framing::Scanner as FramingScanner;
pub use tls::ServerTls;

use crate::budget::Budgets;
use crate::config::{Limits, ListenerConfig, ListenerIdentity};
use crate::connection::{ConnInfo, ConnLimit, Unidentified};
use crate::identity::{caller_from_certificate, Caller};
use crate::proxy::{vault_error, Proxy, MAX_HEADERS};
use crate::socket::{self, BindError, Socket, Stream};
use activity::Activity;
use framing::FramingGuard;
use pending::{Pending, Stage, Ticket};

#[derive(Debug, thiserror::Error)]
pub enum ListenerError {
    #[error(transparent)]
    Bind(#[from] BindError),
    #[error("{file}: {problem}")]
    Tls { file: String, problem: String },
    #[error(transparent)]
    Pem(#[from] crate::pem::PemError),
}

/// How many connections past `max_connections` are accepted only to be told so.
const OVERFLOW_CONNECTIONS: usize = 32;

pub struct Listener {
    index: usize,
    config: ListenerConfig,
    tls: Option<Arc<ServerTls>>,
    socket: Socket,
    local: String,
}

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listener")
            .field("local", &self.local)
            .finish()
    }
}

impl Listener {
    pub async fn bind(index: usize, config: ListenerConfig) -> Result<Listener, ListenerError> {
        let (socket, local) = socket::bind(&config.bind).await?;
        let tls = ServerTls::load(&config, &local)?;
        Ok(Listener {
            index,
            config,
            tls,
            socket,
            local,
        })
    }

    /// `ip:port` (with the real port when bound to port 0) or `unix:<path>`.
    pub fn local_addr(&self) -> &str {
        &self.local
    }

    /// The listener's reloadable TLS, for the reload task; `None` without TLS.
    pub fn tls(&self) -> Option<Arc<ServerTls>> {
        self.tls.clone()
    }

    /// Accepts until shutdown; connections are tracked so shutdown can drain them. Nothing
    /// is reserved before the handshake: an anonymous connection takes a place in the
    /// unidentified budget (`Pending`), an identified one a connection permit afterwards.
    pub async fn run(
        self,
        proxy: Arc<Proxy>,
        budgets: Arc<Budgets>,
        limits: Arc<Limits>,
        shutdown: CancellationToken,
        connections: TaskTracker,
    ) {
        let shared = Arc::new(Shared {
            index: self.index,
            identity: self.config.identity.clone(),
            tls: self.tls,
            pending: Pending::new(
                limits.max_unidentified_connections,
                limits.max_unidentified_per_peer,
            ),
            permits: Arc::new(Semaphore::new(limits.max_connections)),
            // Connections past the limit are still answered (a Vault-style 503, then
            // closed) so clients see why, but only this many at once.
            overflow: Arc::new(Semaphore::new(OVERFLOW_CONNECTIONS)),
            proxy,
            budgets,
            limits,
            shutdown: shutdown.clone(),
            exchanges: connections.clone(),
        });
        loop {
            let accepted = tokio::select! {
                a = self.socket.accept() => a,
                () = shutdown.cancelled() => return,
            };
            match accepted {
                Ok((stream, peer, ip)) => {
                    let ticket = shared.pending.admit(ip);
                    if stream.has_bytes() {
                        ticket.reached(Stage::Speaking);
                    }
                    let shared = shared.clone();
                    connections.spawn(async move {
                        let deadline = Instant::now() + shared.limits.handshake_timeout;
                        if shared.tls.is_some() {
                            // A caller's ClientHello follows its connect at once; until the
                            // first byte the connection is among the first to be closed.
                            let mut head = [0u8; 5];
                            tokio::select! {
                                r = tokio::time::timeout_at(deadline.into(), stream.first_bytes(&mut head)) => match r {
                                    Ok(Ok(n)) if n == head.len() && PLAIN_HTTP.contains(&&head) => {
                                        return answer_plain_http(stream).await;
                                    }
                                    Ok(Ok(_)) => ticket.reached(Stage::Speaking),
                                    _ => return,
                                },
                                () = ticket.evicted() => return,
                            }
                        }
                        match stream {
                            Stream::Tcp(s) => shared.serve(s, peer, ticket, deadline).await,
                            Stream::Unix(s) => shared.serve(s, peer, ticket, deadline).await,
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!(listener = %self.local, error = %e, "accept failed");
                    // Out of file descriptors and similar: back off instead of spinning.
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            }
        }
    }
}

struct Shared {
    index: usize,
    identity: ListenerIdentity,
    tls: Option<Arc<ServerTls>>,
    /// Handshaking and unidentified connections.
    pending: Arc<Pending>,
    /// Identified connections (`max_connections`), and the few past it that are answered.
    permits: Arc<Semaphore>,
    overflow: Arc<Semaphore>,
    proxy: Arc<Proxy>,
    /// Per-caller connection slots; whether a certificate's caller is configured at all.
    budgets: Arc<Budgets>,
    limits: Arc<Limits>,
    shutdown: CancellationToken,
    /// Where each request's exchange runs, tracked so shutdown drains them too.
    exchanges: TaskTracker,
}

impl Shared {
    async fn serve<IO>(&self, io: IO, peer: String, ticket: Ticket, deadline: Instant)
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let Some(tls) = &self.tls else {
            drop(ticket);
            return self.identified(io, self.fixed_caller(), peer, false).await;
        };
        // The configuration in force when the connection arrives: a reload affects new
        // connections only.
        let acceptor = tls.acceptor();
        let handshake = tokio::time::timeout_at(deadline.into(), acceptor.accept(io));
        let tls = tokio::select! {
            done = handshake => match done {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    return;
                }
            },
            () = ticket.evicted() => {
                tracing::debug!(%peer, "closed mid-handshake to make room for newer connections");
                return;
            }
        };
        let (_, session) = tls.get_ref();
        let h2 = session.alpn_protocol() == Some(b"h2");
        let caller = match &self.identity {
            ListenerIdentity::Fixed(c) => Ok(c.clone()),
            ListenerIdentity::ClientCertificate { trust_domain, .. } => {
                match session.peer_certificates().and_then(|c| c.first()) {
                    None => Err(Unidentified::NoCertificate),
                    Some(cert) => caller_from_certificate(cert, trust_domain.as_deref())
                        .map_err(Unidentified::from)
                        .and_then(|c| {
                            if self.budgets.knows(&c) {
                                Ok(c)
                            } else {
                                Err(Unidentified::NotConfigured(c))
                            }
                        }),
                }
            }
        };
        match caller {
            Ok(_) => {
                drop(ticket);
                self.identified(tls, caller, peer, h2).await;
            }
            // Answered (403, naming why) if a request comes at once, and closed: it keeps its
            // place in the unidentified budget until then, never a caller's.
            Err(why) => {
                ticket.reached(Stage::Anonymous);
                let conn = ConnInfo::new(Err(why), peer, self.index, None, None);
                tokio::select! {
                    () = self.http(tls, conn, h2) => {}
                    () = ticket.evicted() => {}
                    () = tokio::time::sleep(self.limits.handshake_timeout) => {}
                }
            }
        }
    }

    /// Serves a connection whose caller is known, holding a connection permit, or past
    /// `max_connections` answering 503 (a few at a time; beyond that, closed at once).
    async fn identified<IO>(
        &self,
        io: IO,
        caller: Result<Caller, Unidentified>,
        peer: String,
        h2: bool,
    ) where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (_permit, over_total) = match self.permits.clone().try_acquire_owned() {
            Ok(p) => (p, false),
            Err(_) => match self.overflow.clone().try_acquire_owned() {
                Ok(p) => (p, true),
                Err(_) => return,
            },
        };
        let conn = self.admit(caller, peer, over_total);
        self.http(io, conn, h2).await;
    }

    /// The connection as the proxy sees it, holding a slot in its caller's connection budget
    /// (or marked as past a limit, so its requests are answered so).
    fn admit(
        &self,
        caller: Result<Caller, Unidentified>,
        peer: String,
        over_total: bool,
    ) -> ConnInfo {
        let (over_limit, slot) = match &caller {
            _ if over_total => (Some(ConnLimit::Total), None),
            Ok(c) => match self.budgets.connection(c) {
                Ok(slot) => (None, slot),
                Err(limit) => (Some(ConnLimit::Caller(limit)), None),
            },
            Err(_) => (None, None),
        };
        ConnInfo::new(caller, peer, self.index, over_limit, slot)
    }

    fn fixed_caller(&self) -> Result<Caller, Unidentified> {
        match &self.identity {
            ListenerIdentity::Fixed(c) => Ok(c.clone()),
            ListenerIdentity::ClientCertificate { .. } => Err(Unidentified::NeedsTls),
        }
    }

    async fn http<IO>(&self, io: IO, conn: ConnInfo, h2: bool)
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let conn = Arc::new(conn);
        let info = conn.clone();
        // HTTP/2 frames carry their own lengths; only HTTP/1 heads need the byte-level check.
        let verdict = (!h2).then(|| conn.framing.clone());
        let proxy = self.proxy.clone();
        let activity = Arc::new(Activity::new());
        let watched = activity.clone();
        let exchanges = self.exchanges.clone();
        let service = service_fn(move |req| {
            let proxy = proxy.clone();
            let conn = conn.clone();
            let busy = activity.begin();
            // The exchange runs in a task of its own: hyper drops this future when the client
            // resets the stream or the connection, and a request already sent to Vault must
            // still finish and be audited. Vault's answer is then recorded and discarded.
            let exchange = exchanges.spawn(async move { proxy.handle(&conn, req).await });
            async move {
                let resp = exchange.await.unwrap_or_else(|_| {
                    vault_error(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "vaultgate: internal error while serving the request",
                    )
                });
                drop(busy);
                Ok::<_, std::convert::Infallible>(resp)
            }
        });
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(self.limits.header_read_timeout)
            .max_buf_size(self.limits.max_header_bytes)
            .max_headers(MAX_HEADERS)
            .keep_alive(true);
        builder
            .http2()
            .timer(TokioTimer::new())
            .max_concurrent_streams(self.limits.max_concurrent_streams)
            // Rapid reset (CVE-2023-44487) and its variants: a client that makes the server
            // reset streams faster than it serves them gets GOAWAY (ENHANCE_YOUR_CALM). Set
            // here rather than left to the h2 crate's defaults, which may change.
            .max_pending_accept_reset_streams(RAPID_RESET_PENDING)
            .max_local_error_reset_streams(RAPID_RESET_LOCAL_ERRORS)
            .max_header_list_size(u32::try_from(self.limits.max_header_bytes).unwrap_or(u32::MAX));
        // The protocol is chosen by ALPN, never sniffed: no h2c on plaintext listeners.
        let builder = if h2 {
            builder.http2_only()
        } else {
            builder.http1_only()
        };
        let conn = builder.serve_connection(TokioIo::new(FramingGuard::new(io, verdict)), service);
        tokio::pin!(conn);
        tokio::select! {
            r = conn.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
            }
            () = self.shutdown.cancelled() => {
                conn.as_mut().graceful_shutdown();
                let _ = conn.await;
            }
            () = info.closing.notified() => {
                conn.as_mut().graceful_shutdown();
                let _ = conn.await;
            }
            () = watched.idle(self.limits.idle_timeout) => {
                tracing::debug!(peer = %info.peer, "closing an idle connection");
                conn.as_mut().graceful_shutdown();
                let _ = conn.await;
            }
        }
    }
}

/// What Go's TLS server looks for to tell a plain HTTP request from a ClientHello
/// (crypto/tls `looksLikeHTTP`), plus the other methods Vault clients send.
const PLAIN_HTTP: [&[u8; 5]; 8] = [
    b"GET /", b"HEAD ", b"POST ", b"PUT /", b"OPTIO", b"LIST ", b"DELET", b"PATCH",
];

/// Go's answer to plain HTTP on a TLS port, so a client pointed at `http://` sees why.
async fn answer_plain_http(stream: Stream) {
    use tokio::io::AsyncWriteExt;
    const ANSWER: &[u8] =
        b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n";
    if let Stream::Tcp(mut s) = stream {
        let _ = s.write_all(ANSWER).await;
        let _ = s.shutdown().await;
    }
}

/// Streams a client may reset before the server accepted them, and streams the server may
/// reset for a client's protocol errors, before the connection gets GOAWAY; h2's defaults.
const RAPID_RESET_PENDING: usize = 20;
const RAPID_RESET_LOCAL_ERRORS: usize = 1024;
