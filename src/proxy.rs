//! The request pipeline: classify, authorize, attach the service's token, forward, and
//! answer; one place that times the request, logs it once and maps errors to responses.

mod cached;
mod condition;
mod error;
mod exchange;
mod forward;
mod introspect;
mod lease;
mod scrub;

pub use error::{vault_error, ProxyError, Side};
use exchange::Exchange;
pub use scrub::{mask_all, mask_held, Scrub};

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::{header, HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;

use crate::audit::Auditor;
use crate::budget::Budgets;
use crate::cache::{CacheStatus, ReadCache};
use crate::config::Limits;
use crate::connection::{ConnInfo, ConnLimit};
use crate::discovery::Discovery;
use crate::identity::Caller;
use crate::lease::Leases;
use crate::metrics::Metrics;
use crate::policy::{Decision, PolicyStore};
use crate::principal::cell::TokenCell;
use crate::reload::Lockdown;
use crate::shared::Shared;
use crate::upstream::Upstream;
use crate::vault::operation::{Operation, Verb};
use crate::vault::placement::Placement;

pub type BodyError = Box<dyn std::error::Error + Send + Sync>;
/// Every response body the proxy produces: its own JSON errors or Vault's streamed answer.
pub type ProxyBody = UnsyncBoxBody<Bytes, BodyError>;

/// Header fields one request may carry, whichever protocol brought it: hyper's HTTP/1
/// default, which the HTTP/1 parser is also set to, and checked here for HTTP/2.
pub const MAX_HEADERS: usize = 100;

/// The response header that carries the audit record's request id.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-vaultgate-request-id");

/// The route a service's requests take to Vault: its token and the namespace it lives in.
#[derive(Debug)]
struct Route {
    cell: TokenCell,
    home: String,
    /// vaultgate renews the leases it relays to this service.
    renew_leases: bool,
}

#[derive(Debug)]
pub struct Proxy {
    policies: Arc<PolicyStore>,
    routes: HashMap<Caller, Route>,
    upstream: Upstream,
    limits: Arc<Limits>,
    lockdown: Lockdown,
    auditor: Auditor,
    cache: Arc<ReadCache>,
    metrics: Arc<Metrics>,
    /// Each configured caller's in-flight and rate budgets.
    budgets: Arc<Budgets>,
    /// What the server's namespaces and mounts are, for where a request lands.
    discovery: Arc<Discovery>,
    /// Leases relayed to callers: who owns which.
    leases: Arc<Leases>,
    log_requests: bool,
}

impl Proxy {
    pub fn new(shared: &Shared) -> Proxy {
        let routes = shared
            .principals
            .iter()
            .filter_map(|p| {
                let caller = p.service.clone()?;
                let route = Route {
                    cell: p.cell.clone(),
                    home: p.namespace.clone(),
                    renew_leases: p.renew_leases,
                };
                Some((caller, route))
            })
            .collect();
        Proxy {
            policies: shared.policies.clone(),
            routes,
            upstream: shared.upstream.clone(),
            limits: shared.limits.clone(),
            lockdown: shared.lockdown.clone(),
            auditor: shared.auditor.clone(),
            cache: shared.cache.clone(),
            metrics: shared.metrics.clone(),
            budgets: shared.budgets.clone(),
            discovery: shared.discovery.clone(),
            leases: shared.leases.clone(),
            log_requests: shared.log_requests,
        }
    }

    /// Serves one request: the only place that turns errors into responses, logs the
    /// request and records its one audit record before the answer is released.
    pub async fn handle(&self, conn: &ConnInfo, req: Request<Incoming>) -> Response<ProxyBody> {
        let started = Instant::now();
        let head = req.method() == Method::HEAD;
        let mut exchange = Exchange {
            request_id: self.auditor.next_request_id(),
            method: req.method().to_string(),
            target: req.uri().clone(),
            ..Exchange::default()
        };
        let (mut response, error) = match self.serve(&mut exchange, conn, req).await {
            Ok(r) => (r, None),
            Err(e) => (e.to_response(), Some(e)),
        };
        let status = response.status().as_u16();
        let bytes = response
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        // The access log is opt-in (`[log] requests`): by default the audit record is the
        // request's only per-request output. Field expressions run only when it is written.
        if self.log_requests {
            tracing::info!(
                target: "vaultgate::access",
                request_id = %exchange.request_id,
                caller = %conn
                    .caller
                    .as_ref()
                    .map_or("<unidentified>".to_owned(), Caller::to_string),
                peer = %conn.peer,
                method = %exchange.method,
                path = exchange.path.as_deref().unwrap_or("<unclassified>"),
                allowed = exchange.decision.as_ref().map(|d| d.allowed),
                rule = exchange.decision.as_ref().and_then(|d| d.rule.as_ref()).map(|r| r.pattern.as_str()),
                status,
                upstream_status = exchange.upstream_status,
                retried = exchange.retried,
                error_side = error.as_ref().map(|e| e.side().as_str()),
                micros = started.elapsed().as_micros() as u64,
                "request"
            );
        }
        // The record is built only when some sink will receive it.
        let audited = !self.auditor.enabled() || {
            let record = exchange.record(conn, status, bytes, started.elapsed(), error.as_ref());
            self.auditor.record(&record).await
        };
        if !audited {
            // Vault's rule: nothing is served that could not be recorded.
            tracing::error!(request_id = %exchange.request_id, "audit record not accepted; refusing");
            response = vault_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "vaultgate: the audit log cannot record this request; refusing to serve it unaudited",
            );
        }
        if let Some(cache) = exchange.cache {
            let label = HeaderValue::from_static(cached::label(cache));
            response
                .headers_mut()
                .entry(cached::X_CACHE)
                .or_insert(label);
        }
        let allowed = exchange.decision.as_ref().map(|d| d.allowed);
        self.metrics.request(
            conn.caller.as_ref().ok(),
            allowed,
            response.status().as_u16(),
            started.elapsed(),
            exchange.upstream_time,
        );
        if let Ok(id) = HeaderValue::from_str(&exchange.request_id) {
            response.headers_mut().insert(REQUEST_ID, id);
        }
        if head {
            // A HEAD answer carries the GET answer's headers and no body; HTTP/2 resets a
            // stream whose DATA disagrees with that (PROTOCOL_ERROR), HTTP/1 drops it itself.
            response = response.map(|_| {
                http_body_util::Empty::new()
                    .map_err(|never| match never {})
                    .boxed_unsync()
            });
        }
        response
    }

    async fn serve(
        &self,
        exchange: &mut Exchange,
        conn: &ConnInfo,
        req: Request<Incoming>,
    ) -> Result<Response<ProxyBody>, ProxyError> {
        // First: an ambiguous head must not reach Vault whatever else holds, and the bytes
        // after it cannot be trusted to be framed as the client meant, so the connection ends.
        let index = conn.requests.fetch_add(1, Ordering::Relaxed);
        if let Some(reason) = conn.framing.violation(index) {
            conn.closing.notify_one();
            return Err(ProxyError::Framing(reason));
        }
        if let Some(limit) = &conn.over_limit {
            conn.closing.notify_one();
            return Err(match limit {
                ConnLimit::Total => ProxyError::ConnectionLimit,
                ConnLimit::Caller(over) => ProxyError::Budget(over.clone()),
            });
        }
        if self.lockdown.is_on() {
            return Err(ProxyError::Lockdown);
        }
        let caller = conn.caller.clone().map_err(|why| {
            // An unidentified connection gets its one answer and no second request.
            conn.closing.notify_one();
            ProxyError::Identity(why)
        })?;
        // Held until the answer's head is ready; an unconfigured caller is denied by policy.
        let _in_flight = self.budgets.request(&caller).await?;
        let (parts, body) = req.into_parts();
        // hyper bounds its read buffer, not the header block itself (and HTTP/2 counts
        // differently), so the limit is enforced here, on what both protocols decoded.
        let header_bytes: usize = parts
            .headers
            .iter()
            .map(|(k, v)| k.as_str().len() + v.len() + 4)
            .sum();
        if header_bytes > self.limits.max_header_bytes {
            return Err(ProxyError::HeadersTooLarge {
                limit: self.limits.max_header_bytes,
            });
        }
        if parts.headers.len() > MAX_HEADERS {
            return Err(ProxyError::TooManyHeaders { limit: MAX_HEADERS });
        }
        let body = self.read_body(&parts, body).await?;
        let op = Operation::classify(&parts, body, &self.limits.classify)?;
        exchange.classified(&op);

        let home = self.routes.get(&caller).map_or("", |r| r.home.as_str());
        let known = self.discovery.snapshot();
        let placement = Placement::resolve(&op.full_path, &known, home);
        let (op, placement, lease_call) = self.lease_call(exchange, op, placement, &known, home)?;
        if let Some(answer) = self.introspect(exchange, &caller, &op, &placement) {
            return Ok(answer);
        }
        let mut decision = self.policies.snapshot().evaluate(&caller, &op, &placement);
        if let Some(why) = lease_call
            .as_ref()
            .filter(|_| decision.allowed)
            .and_then(|call| self.lease_refusal(&caller, call))
        {
            decision.allowed = false;
            decision.reason = why;
        }
        if !decision.allowed {
            let message = format!("permission denied by vaultgate: {}", decision.reason);
            exchange.decision = Some(decision);
            return Ok(vault_error(StatusCode::FORBIDDEN, &message));
        }
        let mut op = op;
        if let Some(condition) = &decision.condition {
            match self.settle(&caller, &op, condition).await {
                Ok(body) => op.body = body,
                Err(why) => {
                    let message = format!("permission denied by vaultgate: {why}");
                    exchange.decision = Some(Decision {
                        allowed: false,
                        reason: why,
                        ..decision
                    });
                    return Ok(vault_error(StatusCode::FORBIDDEN, &message));
                }
            }
        }
        exchange.decision = Some(decision);

        match self.cache.plan(&caller, &op, &placement) {
            Some(plan) => {
                let refresh = wants_refresh(&parts.headers);
                self.serve_read(exchange, &caller, &op, &placement, plan, refresh)
                    .await
            }
            None => {
                exchange.cache = Some(CacheStatus::Bypass);
                let forwarded = self.forward(exchange, &caller, &op).await;
                // Before the write's answer is released: read-your-writes through the proxy.
                self.cache.invalidate(&op, &placement);
                if changes_mounts(&op, &placement) {
                    self.discovery.stale();
                }
                let (upstream, token) = forwarded?;
                let landed = lease::landed(&op, &placement);
                self.relay_noting(
                    exchange,
                    &caller,
                    &landed,
                    lease_call.as_ref(),
                    upstream,
                    token,
                )
                .await
            }
        }
    }

    /// Reads the body of writes within the size limit and the read timeout; other methods'
    /// bodies are ignored by Vault, so they are never read or forwarded.
    async fn read_body(
        &self,
        parts: &http::request::Parts,
        body: Incoming,
    ) -> Result<Bytes, ProxyError> {
        if !matches!(parts.method, Method::POST | Method::PUT | Method::PATCH) {
            return Ok(Bytes::new());
        }
        let limit = self.limits.max_body_bytes;
        let declared = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > limit as u64) {
            return Err(ProxyError::BodyTooLarge { limit });
        }
        let read = Limited::new(body, limit).collect();
        match tokio::time::timeout(self.limits.header_read_timeout, read).await {
            Err(_) => Err(ProxyError::Body("timed out reading the body".into())),
            Ok(Ok(collected)) => Ok(collected.to_bytes()),
            Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
                Err(ProxyError::BodyTooLarge { limit })
            }
            Ok(Err(e)) => Err(ProxyError::Body(e.to_string())),
        }
    }
}

/// A write that may add, move or remove a mount or namespace, so the server's documents are
/// read again.
fn changes_mounts(op: &Operation, placement: &Placement) -> bool {
    const PREFIXES: [&str; 5] = [
        "sys/mounts",
        "sys/auth",
        "sys/remount",
        "sys/namespaces",
        "sys/plugins",
    ];
    matches!(op.verb, Verb::Write | Verb::Patch | Verb::Delete)
        && placement.splits().iter().any(|split| {
            let path = split.path(&op.full_path);
            PREFIXES.iter().any(|p| path.starts_with(p))
        })
}

/// `Cache-Control: no-cache` (or `no-store`) asks for Vault's current answer.
fn wants_refresh(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::CACHE_CONTROL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|d| {
            matches!(
                d.trim().to_ascii_lowercase().as_str(),
                "no-cache" | "no-store"
            )
        })
}
