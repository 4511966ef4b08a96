//! The read path through the cache: fresh hit, or one leader fetching for every concurrent
//! miss, storing what may be kept, and falling back to a stale entry when Vault fails.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderValue, Response};
use http_body::{Body, Frame, SizeHint};
use http_body_util::{BodyExt, Full};
use tokio::time::Instant;

use super::exchange::Exchange;
use super::forward::{relay, strip_hop_by_hop};
use super::{mask_held, BodyError, Proxy, ProxyBody, ProxyError};
use crate::cache::{
    assess, follow, wiped_bytes, CacheStatus, CachedResponse, Flight, Keep, Lookup, Plan, Shared,
};
use crate::identity::Caller;
use crate::upstream::{BadAnswer, UpstreamError, VaultBody};
use crate::vault::operation::Operation;
use crate::vault::placement::Placement;

/// Whether the request was served from the cache: the header clients and tests read.
pub const X_CACHE: header::HeaderName = header::HeaderName::from_static("x-cache");

/// Answers larger than this stream through uncached: one entry must not take the budget.
const MAX_ENTRY_BYTES: usize = 4 * 1024 * 1024;

impl Proxy {
    pub(super) async fn serve_read(
        &self,
        exchange: &mut Exchange,
        caller: &Caller,
        op: &Operation,
        placement: &Placement,
        plan: Plan,
        refresh: bool,
    ) -> Result<Response<ProxyBody>, ProxyError> {
        let mut stale = None;
        if !refresh {
            match self.cache.lookup(&plan.key) {
                Lookup::Fresh(entry) => return Ok(self.answer(exchange, &entry, CacheStatus::Hit)),
                Lookup::Stale(entry) => stale = Some(entry),
                Lookup::Miss => {}
            }
        }
        // A refresh fetches on its own: it must not be handed an answer older than itself.
        let guard = match (refresh, self.cache.join(&plan.key)) {
            (true, _) => None,
            (false, Flight::Leader(guard)) => Some(guard),
            (false, Flight::Follower(slot)) => {
                // The leader is bounded by the upstream timeout; a little more covers its
                // own queueing. Past that, or if it went away, this request asks Vault.
                let patience = self.upstream.timeout() + Duration::from_secs(1);
                match follow(slot, patience).await {
                    Some(Shared::Response(entry)) => {
                        return Ok(self.answer(exchange, &entry, CacheStatus::Coalesced))
                    }
                    Some(Shared::Failed {
                        status,
                        message,
                        side,
                    }) => {
                        exchange.cache = Some(CacheStatus::Coalesced);
                        return Err(ProxyError::Shared {
                            status,
                            message,
                            side,
                        });
                    }
                    Some(Shared::Private) | None => None,
                }
            }
        };
        let publish = |shared: Shared| {
            if let Some(g) = guard {
                g.publish(shared);
            }
        };

        exchange.cache = Some(CacheStatus::Miss);
        self.cache.count(CacheStatus::Miss);
        let stamps = self.cache.stamps(op, placement);
        let fetched = Instant::now();
        let (upstream, token) = match self.forward(exchange, caller, op).await {
            Ok(answer) => answer,
            Err(e) => {
                if let Some(entry) = stale.filter(|_| vault_failed(&e)) {
                    publish(Shared::Response(entry.clone()));
                    return Ok(self.answer(exchange, &entry, CacheStatus::Stale));
                }
                publish(failed(&e));
                return Err(e);
            }
        };
        if let Some(entry) = stale.filter(|_| upstream.status().is_server_error()) {
            publish(Shared::Response(entry.clone()));
            return Ok(self.answer(exchange, &entry, CacheStatus::Stale));
        }
        let (mut parts, body) = upstream.into_parts();
        let collected = collect(body, self.upstream.timeout()).await;
        let mut buf = match collected {
            Ok(Collected::Whole(buf)) => buf,
            Ok(Collected::TooLarge(prefix, rest)) => {
                publish(Shared::Private);
                exchange.cache = Some(CacheStatus::Bypass);
                let body = Prefixed {
                    prefix: Some(Bytes::from(prefix)),
                    rest,
                };
                return Ok(relay(Response::from_parts(parts, body), token));
            }
            Err(e) => {
                publish(failed(&e));
                return Err(e);
            }
        };
        mask_held(&mut buf, token.as_ref());
        strip_hop_by_hop(&mut parts.headers);
        let keep = assess(parts.status, &parts.headers, &buf);
        // A lease-bearing answer is never kept, so only those are looked at for one.
        if keep == Keep::Never && parts.status.is_success() {
            let landed = super::lease::landed(op, placement);
            self.note_answer(exchange, caller, &landed, None, token.as_ref(), &buf);
        }
        let body = wiped_bytes(buf);
        let response = (parts.status, parts.headers, body);
        let entry = match keep {
            Keep::Never => {
                publish(Shared::Private);
                exchange.cache = Some(CacheStatus::Bypass);
                let (status, headers, body) = response;
                return Ok(whole(status, headers, body));
            }
            Keep::ShareOnly => self.cache.entry(&plan, stamps, fetched, None, response),
            Keep::Store { cap } => {
                let entry = self.cache.entry(&plan, stamps, fetched, cap, response);
                self.cache.insert(&plan, entry.clone());
                entry
            }
        };
        publish(Shared::Response(entry.clone()));
        Ok(self.answer(exchange, &entry, CacheStatus::Miss))
    }

    /// A response built from a kept answer; its body shares the entry's bytes.
    fn answer(
        &self,
        exchange: &mut Exchange,
        entry: &Arc<CachedResponse>,
        status: CacheStatus,
    ) -> Response<ProxyBody> {
        if status != CacheStatus::Miss {
            self.cache.count(status);
        }
        exchange.cache = Some(status);
        let mut resp = Response::new(full(entry.body.clone()));
        *resp.status_mut() = entry.status;
        *resp.headers_mut() = entry.headers.clone();
        let headers = resp.headers_mut();
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(entry.body.len()));
        headers.insert(X_CACHE, HeaderValue::from_static(label(status)));
        if status != CacheStatus::Miss {
            headers.insert(header::AGE, HeaderValue::from(entry.age(Instant::now())));
        }
        resp
    }
}

pub(super) fn label(status: CacheStatus) -> &'static str {
    match status {
        CacheStatus::Hit => "HIT",
        CacheStatus::Miss => "MISS",
        CacheStatus::Stale => "STALE",
        CacheStatus::Coalesced => "COALESCED",
        CacheStatus::Bypass => "BYPASS",
    }
}

/// Vault could not give an answer at all: what `stale_if_error` covers, with 5xx answers.
fn vault_failed(e: &ProxyError) -> bool {
    matches!(e, ProxyError::Upstream(_) | ProxyError::NoToken { .. })
}

fn full(body: Bytes) -> ProxyBody {
    Full::new(body).map_err(|e| match e {}).boxed_unsync()
}

/// An answer read whole, relayed with its status and headers.
pub(super) fn whole(
    status: http::StatusCode,
    headers: http::HeaderMap,
    body: Bytes,
) -> Response<ProxyBody> {
    let mut resp = Response::new(full(body));
    *resp.status_mut() = status;
    *resp.headers_mut() = headers;
    resp
}

pub(super) enum Collected {
    Whole(Vec<u8>),
    /// Over the entry limit: what was read so far and the rest, still streaming.
    TooLarge(Vec<u8>, Pin<Box<VaultBody>>),
}

/// Reads Vault's answer into one buffer (so it can be wiped later), within the upstream
/// timeout, up to the entry limit.
pub(super) async fn collect(body: VaultBody, timeout: Duration) -> Result<Collected, ProxyError> {
    let mut body = Box::pin(body);
    let deadline = Instant::now() + timeout;
    let mut buf = Vec::with_capacity(body.size_hint().exact().unwrap_or(1024).min(65536) as usize);
    loop {
        let frame = match tokio::time::timeout_at(deadline, body.frame()).await {
            Err(_) => return Err(UpstreamError::Timeout(timeout).into()),
            Ok(None) => return Ok(Collected::Whole(buf)),
            Ok(Some(Err(e))) => {
                return Err(UpstreamError::Answer(BadAnswer::Unreadable(e.to_string())).into())
            }
            Ok(Some(Ok(frame))) => frame,
        };
        if let Ok(data) = frame.into_data() {
            buf.extend_from_slice(&data);
            if buf.len() > MAX_ENTRY_BYTES {
                return Ok(Collected::TooLarge(buf, body));
            }
        }
    }
}

pin_project_lite::pin_project! {
    /// An answer whose start was already read, followed by the rest as Vault sends it.
    pub(super) struct Prefixed {
        pub(super) prefix: Option<Bytes>,
        #[pin]
        pub(super) rest: Pin<Box<VaultBody>>,
    }
}

impl Body for Prefixed {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = self.project();
        if let Some(prefix) = this.prefix.take() {
            return Poll::Ready(Some(Ok(Frame::data(prefix))));
        }
        this.rest.poll_frame(cx)
    }

    fn size_hint(&self) -> SizeHint {
        let mut hint = self.rest.size_hint();
        let held = self.prefix.as_ref().map_or(0, |p| p.len() as u64);
        hint.set_lower(hint.lower() + held);
        if let Some(upper) = hint.upper() {
            hint.set_upper(upper + held);
        }
        hint
    }
}

/// What the requests waiting for a failed leader are told.
fn failed(e: &ProxyError) -> Shared {
    Shared::Failed {
        status: e.status(),
        message: e.to_string(),
        side: e.side(),
    }
}
