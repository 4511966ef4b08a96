//! `Exchange`: the facts one request gathers on its way through the pipeline, turned into
//! exactly one log line and one audit record at the end.

use std::time::Duration;

use serde_json::json;

use super::{ConnInfo, ProxyError};
use crate::audit::AuditRecord;
use crate::cache::CacheStatus;
use crate::policy::Decision;
use crate::vault::operation::{Operation, Verb};

#[derive(Debug, Default)]
pub(super) struct Exchange {
    pub request_id: String,
    pub method: String,
    pub operation: Option<serde_json::Value>,
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
        let keys: Vec<&str> = op.params.keys().map(String::as_str).collect();
        self.operation = Some(json!({
            "verb": verb_name(op.verb),
            "namespace": op.namespace,
            "path": op.full_path,
            "parameters": keys,
            "wrap_ttl_s": op.wrap_ttl.map(|t| t.as_secs()),
        }));
    }

    pub fn record(
        &self,
        conn: &ConnInfo,
        status: u16,
        bytes: Option<u64>,
        elapsed: Duration,
        error: Option<&ProxyError>,
    ) -> AuditRecord {
        let mut record = AuditRecord::request(self.request_id.clone());
        record.caller = Some(match &conn.caller {
            Ok(c) => json!({
                "tenant": c.tenant(),
                "service": c.service(),
                "peer": conn.peer,
                "listener": conn.listener,
            }),
            Err(why) => {
                json!({ "unidentified": why, "peer": conn.peer, "listener": conn.listener })
            }
        });
        let mut operation = self.operation.clone().unwrap_or_else(|| json!({}));
        operation["method"] = json!(self.method);
        record.operation = Some(operation);
        record.decision = self.decision.as_ref().map(|d| {
            json!({
                "allowed": d.allowed,
                "reason": d.reason,
                "rule": d.rule.as_ref().map(|r| json!({
                    "file": r.file.display().to_string(),
                    "line": r.line,
                    "pattern": r.pattern,
                })),
            })
        });
        record.cache = self.cache.map(CacheStatus::as_str);
        record.upstream = self.upstream_status.map(|s| {
            json!({
                "status": s,
                "duration_us": self.upstream_time.map(|t| t.as_micros() as u64),
                "principal": conn.caller.as_ref().ok().map(ToString::to_string),
                "token_hmac": self.token_hmac,
                "retried": self.retried,
            })
        });
        record.response = Some(json!({ "status": status, "bytes": bytes }));
        record.duration_us = Some(elapsed.as_micros() as u64);
        record.error =
            error.map(|e| json!({ "side": e.side().as_str(), "message": e.to_string() }));
        record
    }
}
