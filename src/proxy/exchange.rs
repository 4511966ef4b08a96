//! `Exchange`: the facts one request gathers on its way through the pipeline, turned into
//! exactly one log line and one audit record at the end.

use std::time::Duration;

use super::ProxyError;
use crate::audit::{
    now_rfc3339, CallerPart, DecisionPart, ErrorPart, LeasePart, OperationPart, RequestRecord,
    ResponsePart, RulePart, Shown, UpstreamPart, SCHEMA_VERSION,
};
use crate::cache::CacheStatus;
use crate::connection::ConnInfo;
use crate::policy::Decision;
use crate::vault::operation::{Operation, Verb};

#[derive(Debug, Default)]
pub(super) struct Exchange {
    pub request_id: String,
    pub method: String,
    /// The request target as received, for refusals before classification (a clone of the
    /// request's URI shares its bytes).
    pub target: http::Uri,
    pub operation: Option<Classified>,
    pub path: Option<String>,
    pub decision: Option<Decision>,
    pub upstream_status: Option<u16>,
    pub upstream_time: Option<Duration>,
    /// HMAC of the token the request was sent with, never the token.
    pub token_hmac: Option<String>,
    /// Sent again with a fresh token after Vault rejected the first one.
    pub retried: bool,
    /// Set once the request reached the cache step (after authorization).
    pub cache: Option<CacheStatus>,
    /// The lease the request acted on or was granted; its id only as an HMAC.
    pub lease: Option<LeaseFacts>,
}

/// What the audit record says of a lease.
#[derive(Debug)]
pub(super) struct LeaseFacts {
    /// `issued`, `renewed`, `revoked` or `lookup`.
    pub action: &'static str,
    /// `None` when no sink records audit.
    pub id_hmac: Option<String>,
    pub renewable: Option<bool>,
    pub ttl_s: Option<u64>,
}

/// What the audit record keeps of the classified operation (its path is `Exchange::path`).
#[derive(Debug)]
pub(super) struct Classified {
    verb: &'static str,
    namespace: String,
    /// Names only, never values.
    parameters: Vec<String>,
    wrap_ttl_s: Option<u64>,
}

fn verb_name(verb: Verb) -> &'static str {
    match verb {
        Verb::Read => "read",
        Verb::List => "list",
        Verb::Scan => "scan",
        Verb::Write => "write",
        Verb::Patch => "patch",
        Verb::Delete => "delete",
        Verb::Help => "help",
        Verb::Head => "head",
    }
}

impl Exchange {
    /// Records what was classified: names of query and body parameters, never their values.
    pub fn classified(&mut self, op: &Operation) {
        self.path = Some(op.full_path.clone());
        self.operation = Some(Classified {
            verb: verb_name(op.verb),
            namespace: op.namespace.clone(),
            parameters: op.params.keys().cloned().collect(),
            wrap_ttl_s: op.wrap_ttl.map(|t| t.as_secs()),
        });
    }

    /// The audit record, borrowing from the exchange, the connection and the error.
    pub fn record<'a>(
        &'a self,
        conn: &'a ConnInfo,
        status: u16,
        bytes: Option<u64>,
        elapsed: Duration,
        error: Option<&'a ProxyError>,
    ) -> RequestRecord<'a> {
        let (caller, why) = match &conn.caller {
            Ok(c) => (Some(c), None),
            Err(why) => (None, Some(Shown(why as _))),
        };
        let op = self.operation.as_ref();
        RequestRecord {
            version: SCHEMA_VERSION,
            time: now_rfc3339(),
            kind: "request",
            request_id: &self.request_id,
            caller: CallerPart {
                listener: conn.listener,
                peer: &conn.peer,
                service: caller.map(|c| c.service()),
                tenant: caller.map(|c| c.tenant()),
                unidentified: why,
            },
            operation: OperationPart {
                method: &self.method,
                target: op.is_none().then(|| {
                    let raw = self.target.path_and_query().map_or("", |p| p.as_str());
                    &raw[..raw.floor_char_boundary(1024)]
                }),
                namespace: op.map(|o| o.namespace.as_str()),
                parameters: op.map(|o| o.parameters.as_slice()),
                path: op.and(self.path.as_deref()),
                verb: op.map(|o| o.verb),
                wrap_ttl_s: op.map(|o| o.wrap_ttl_s),
            },
            decision: self.decision.as_ref().map(|d| DecisionPart {
                allowed: d.allowed,
                reason: &d.reason,
                rule: d.rule.as_ref().map(|r| RulePart {
                    file: Shown(r.file.display()),
                    line: r.line,
                    pattern: &r.pattern,
                }),
            }),
            cache: self.cache.map(CacheStatus::as_str),
            upstream: self.upstream_status.map(|s| UpstreamPart {
                duration_us: self.upstream_time.map(|t| t.as_micros() as u64),
                principal: caller.map(|c| Shown(c as _)),
                retried: self.retried,
                status: s,
                token_hmac: self.token_hmac.as_deref(),
            }),
            lease: self.lease.as_ref().map(|l| LeasePart {
                action: l.action,
                id_hmac: l.id_hmac.as_deref(),
                renewable: l.renewable,
                ttl_s: l.ttl_s,
            }),
            response: ResponsePart { status, bytes },
            duration_us: elapsed.as_micros() as u64,
            error: error.map(|e| ErrorPart {
                message: Shown(e as _),
                side: e.side().as_str(),
            }),
        }
    }
}
