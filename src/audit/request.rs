//! The request record as typed, borrowed parts: serialized straight into the line without an
//! intermediate `serde_json::Value` tree. Field names, nesting and nulls are those of
//! docs/audit.md; within each object the fields are declared in sorted order because the
//! `Value` maps this replaces (a `BTreeMap`) wrote them sorted, and the lines stay identical.

use std::fmt::Display;

use serde::{Serialize, Serializer};

/// One `type: "request"` line.
#[derive(Debug, Serialize)]
pub struct RequestRecord<'a> {
    pub version: u32,
    pub time: String,
    /// Always `request`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub request_id: &'a str,
    pub caller: CallerPart<'a>,
    pub operation: OperationPart<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision: Option<DecisionPart<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream: Option<UpstreamPart<'a>>,
    /// The lease the request was granted or acted on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lease: Option<LeasePart<'a>>,
    pub response: ResponsePart,
    pub duration_us: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorPart<'a>>,
}

/// An identified caller has `service` and `tenant`; a refused one `unidentified` instead.
#[derive(Debug, Serialize)]
pub struct CallerPart<'a> {
    pub listener: usize,
    pub peer: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unidentified: Option<Shown<&'a dyn DisplayDebug>>,
}

/// Only `method` and the raw `target` for a request that was never classified.
#[derive(Debug, Serialize)]
pub struct OperationPart<'a> {
    pub method: &'a str,
    /// The request target as received (its first 1,024 bytes), for a refusal before
    /// classification: what an operator needs to see what was refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameters: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verb: Option<&'static str>,
    /// Present (possibly `null`) once classified.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wrap_ttl_s: Option<Option<u64>>,
}

#[derive(Debug, Serialize)]
pub struct DecisionPart<'a> {
    pub allowed: bool,
    pub reason: &'a str,
    pub rule: Option<RulePart<'a>>,
}

#[derive(Debug, Serialize)]
pub struct RulePart<'a> {
    pub file: Shown<std::path::Display<'a>>,
    pub line: u32,
    pub pattern: &'a str,
}

#[derive(Debug, Serialize)]
pub struct UpstreamPart<'a> {
    pub duration_us: Option<u64>,
    pub principal: Option<Shown<&'a dyn DisplayDebug>>,
    pub retried: bool,
    pub status: u16,
    pub token_hmac: Option<&'a str>,
}

/// A lease, by the HMAC of its id (which, like a token, lets its holder act on it).
#[derive(Debug, Serialize)]
pub struct LeasePart<'a> {
    /// `issued`, `renewed`, `revoked` or `lookup`.
    pub action: &'static str,
    pub id_hmac: Option<&'a str>,
    pub renewable: Option<bool>,
    pub ttl_s: Option<u64>,
}

#[derive(Debug, Serialize)]
pub struct ResponsePart {
    pub bytes: Option<u64>,
    pub status: u16,
}

#[derive(Debug, Serialize)]
pub struct ErrorPart<'a> {
    pub message: Shown<&'a dyn DisplayDebug>,
    pub side: &'static str,
}

/// `Display + Debug + Sync`: parts hold displayable values by reference across an `await`.
pub trait DisplayDebug: Display + std::fmt::Debug + Sync {}
impl<T: Display + std::fmt::Debug + Sync> DisplayDebug for T {}

/// A value written as the JSON string of its `Display`, without a `String` in between.
#[derive(Debug)]
pub struct Shown<T>(pub T);

impl<T: Display> Serialize for Shown<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The typed line is byte for byte the line the former `Value` tree gave.
    #[test]
    fn typed_records_serialize_as_the_value_records_did() {
        let path = std::path::PathBuf::from("policies/acme.hcl");
        let params = vec!["b".to_owned(), "a".to_owned()];
        let typed = RequestRecord {
            version: 1,
            time: "2026-01-01T00:00:00Z".into(),
            kind: "request",
            request_id: "ab-01",
            caller: CallerPart {
                listener: 0,
                peer: "127.0.0.1:5",
                service: Some("billing"),
                tenant: Some("acme"),
                unidentified: None,
            },
            operation: OperationPart {
                method: "GET",
                target: None,
                namespace: Some(""),
                parameters: Some(&params),
                path: Some("secret/data/x"),
                verb: Some("read"),
                wrap_ttl_s: Some(None),
            },
            decision: Some(DecisionPart {
                allowed: true,
                reason: "allowed \"q\"",
                rule: Some(RulePart {
                    file: Shown(path.display()),
                    line: 7,
                    pattern: "secret/*",
                }),
            }),
            cache: Some("hit"),
            upstream: Some(UpstreamPart {
                duration_us: None,
                principal: Some(Shown(&"acme/billing")),
                retried: false,
                status: 200,
                token_hmac: Some("hmac-sha256:00"),
            }),
            lease: None,
            response: ResponsePart {
                bytes: Some(12),
                status: 200,
            },
            duration_us: 40,
            error: Some(ErrorPart {
                message: Shown(&"upstream: \u{1}"),
                side: "upstream",
            }),
        };
        let mut value = crate::audit::AuditRecord::request("ab-01".into());
        value.time = "2026-01-01T00:00:00Z".into();
        value.caller = Some(json!({"tenant": "acme", "service": "billing",
            "peer": "127.0.0.1:5", "listener": 0}));
        value.operation = Some(
            json!({"verb": "read", "namespace": "", "path": "secret/data/x",
            "parameters": ["b", "a"], "wrap_ttl_s": null, "method": "GET"}),
        );
        value.decision = Some(json!({"allowed": true, "reason": "allowed \"q\"",
            "rule": {"file": "policies/acme.hcl", "line": 7, "pattern": "secret/*"}}));
        value.cache = Some("hit");
        value.upstream = Some(json!({"status": 200, "duration_us": null,
            "principal": "acme/billing", "token_hmac": "hmac-sha256:00", "retried": false}));
        value.response = Some(json!({"status": 200, "bytes": 12}));
        value.duration_us = Some(40);
        value.error = Some(json!({"side": "upstream", "message": "upstream: \u{1}"}));
        assert_eq!(line(&typed), line(&value));

        // Unclassified, unidentified, not authorized: the short forms.
        let short = RequestRecord {
            caller: CallerPart {
                listener: 1,
                peer: "p",
                service: None,
                tenant: None,
                unidentified: Some(Shown(&"no cert")),
            },
            operation: OperationPart {
                method: "PUT",
                target: Some("/v1/kv/a%2Fb?x=\u{1}"),
                namespace: None,
                parameters: None,
                path: None,
                verb: None,
                wrap_ttl_s: None,
            },
            decision: None,
            cache: None,
            upstream: None,
            error: None,
            ..typed
        };
        value.caller = Some(json!({"unidentified": "no cert", "peer": "p", "listener": 1}));
        value.operation = Some(json!({"method": "PUT", "target": "/v1/kv/a%2Fb?x=\u{1}"}));
        (value.decision, value.cache, value.upstream, value.error) = (None, None, None, None);
        assert_eq!(line(&short), line(&value));
    }

    fn line<T: Serialize>(record: &T) -> String {
        serde_json::to_string(record).unwrap()
    }

    #[test]
    fn a_lease_is_written_by_its_hmac_and_terms() {
        let lease = LeasePart {
            action: "issued",
            id_hmac: Some("hmac-sha256:11"),
            renewable: Some(true),
            ttl_s: Some(60),
        };
        assert_eq!(
            serde_json::to_value(&lease).unwrap(),
            json!({"action": "issued", "id_hmac": "hmac-sha256:11", "renewable": true, "ttl_s": 60})
        );
    }
}
