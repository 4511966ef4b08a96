//! `vaultgate policy explain`: one request built the way a client would send it, classified
//! and decided by the same code the proxy runs, with the rule that decided and the rules that
//! matched but lost on priority.

use std::fmt::Write as _;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method, Request, Uri};
use serde::Serialize;

use crate::identity::Caller;
use crate::policy::{PolicySet, RuleSource, RuleView};
use crate::vault::operation::{ClassifyLimits, Operation, Verb};
use crate::vault::placement::Placement;
use crate::vault::semantics::ServerSemantics;

/// Why the request could not even be built (a refusal by the proxy is an answer, not this).
#[derive(Debug, thiserror::Error)]
pub enum ExplainError {
    #[error("invalid method {0:?}")]
    Method(String),
    #[error("invalid request target {target:?}: {reason}")]
    Target { target: String, reason: String },
    #[error("header {0:?} is not of the form NAME:VALUE")]
    HeaderShape(String),
    #[error("invalid header {0:?}")]
    Header(String),
}

/// One request as a client would send it.
#[derive(Debug, Clone)]
pub struct ExplainRequest {
    pub caller: Caller,
    pub method: String,
    /// With or without `/v1/`, optionally with a query.
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

/// What the proxy would do with the request; `--json` prints exactly this.
#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    pub caller: String,
    pub method: String,
    /// The request target as sent, `/v1/` added when it was left out.
    pub target: String,
    /// `allow`, `deny`, or `refuse` (classification refused the request before policy).
    pub decision: &'static str,
    /// For a refusal, the HTTP status the proxy answers with.
    pub status: Option<u16>,
    /// The reason the proxy sends (after `permission denied by vaultgate: ` in a 403).
    pub reason: String,
    pub operation: Option<OperationView>,
    pub rule: Option<RuleRef>,
    pub lost_on_priority: Vec<RuleRef>,
}

#[derive(Debug, Clone, Serialize)]
pub struct OperationView {
    pub verb: &'static str,
    /// Empty for the root namespace.
    pub namespace: String,
    pub full_path: String,
    pub query: Vec<(String, String)>,
    /// Parameter names only: values may be secrets.
    pub params: Vec<String>,
    /// Every `namespace:path` the server could run it as; offline nothing is known of the
    /// server's namespaces, so checks apply to each.
    pub landings: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RuleRef {
    pub file: String,
    pub line: u32,
    pub pattern: String,
    /// Whether the (merged) rule on this path string denies.
    pub denies: bool,
}

impl RuleRef {
    fn of(source: &RuleSource, denies: bool) -> RuleRef {
        RuleRef {
            file: source.file.display().to_string(),
            line: source.line,
            pattern: source.pattern.clone(),
            denies,
        }
    }
}

fn verb_name(verb: Verb) -> &'static str {
    match verb {
        Verb::Read => "read",
        Verb::List => "list",
        Verb::Scan => "scan",
        Verb::Write => "write (create and update)",
        Verb::Patch => "patch",
        Verb::Delete => "delete",
        Verb::Help => "help",
        Verb::Head => "head",
    }
}

/// `/v1/` is optional on the command line; a path is never cleaned, so what is explained is
/// what the proxy would see.
fn target(path: &str) -> String {
    if path.starts_with("/v1/") {
        path.to_owned()
    } else if path.starts_with("v1/") {
        format!("/{path}")
    } else if path.starts_with('/') {
        format!("/v1{path}")
    } else {
        format!("/v1/{path}")
    }
}

pub fn explain(set: &PolicySet, request: &ExplainRequest) -> Result<Explanation, ExplainError> {
    let target = target(&request.path);
    let method = Method::from_bytes(request.method.as_bytes())
        .map_err(|_| ExplainError::Method(request.method.clone()))?;
    let uri = Uri::try_from(target.as_str()).map_err(|e| ExplainError::Target {
        target: target.clone(),
        reason: e.to_string(),
    })?;
    let mut builder = Request::builder().method(method).uri(uri);
    for (name, value) in &request.headers {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| ExplainError::Header(name.clone()))?;
        let value =
            HeaderValue::from_str(value).map_err(|_| ExplainError::Header(name.to_string()))?;
        builder = builder.header(name, value);
    }
    let (parts, ()) = builder
        .body(())
        .map_err(|e| ExplainError::Target {
            target: target.clone(),
            reason: e.to_string(),
        })?
        .into_parts();
    let mut explanation = Explanation {
        caller: request.caller.to_string(),
        method: request.method.clone(),
        target,
        decision: "refuse",
        status: None,
        reason: String::new(),
        operation: None,
        rule: None,
        lost_on_priority: Vec::new(),
    };
    let op = match Operation::classify(&parts, request.body.clone(), &ClassifyLimits::default()) {
        Ok(op) => op,
        Err(refusal) => {
            explanation.status = Some(refusal.status().as_u16());
            explanation.reason = refusal.to_string();
            return Ok(explanation);
        }
    };
    let placement = Placement::resolve(&op.full_path, &ServerSemantics::default(), "");
    let decision = set.evaluate(&request.caller, &op, &placement);
    let landings = placement
        .splits()
        .iter()
        .map(|s| format!("{}:{}", s.namespace(&op.full_path), s.path(&op.full_path)))
        .collect();
    let listing = matches!(op.verb, Verb::List | Verb::Scan);
    let decisive = set.decisive_rule(&request.caller, &op.full_path, listing);
    let decided_pattern = decisive.as_ref().map(|rule| rule.pattern.as_str());
    let lost = set
        .matching_rules(&request.caller, &op.full_path, listing)
        .into_iter()
        .filter(|rule| Some(rule.pattern.as_str()) != decided_pattern)
        .flat_map(|rule: RuleView| {
            let denies = rule.denies;
            rule.sources
                .into_iter()
                .map(move |source| RuleRef::of(&source, denies))
        })
        .collect();
    explanation.decision = if decision.allowed { "allow" } else { "deny" };
    explanation.reason = decision.reason;
    explanation.rule = decision.rule.as_ref().map(|source| {
        let denies = decisive
            .as_ref()
            .is_some_and(|rule| rule.denies && rule.pattern == source.pattern);
        RuleRef::of(source, denies)
    });
    explanation.lost_on_priority = lost;
    explanation.operation = Some(OperationView {
        verb: verb_name(op.verb),
        namespace: op.namespace,
        full_path: op.full_path,
        query: op.query,
        params: op.params.keys().cloned().collect(),
        landings,
    });
    Ok(explanation)
}

impl Explanation {
    /// One line: the decision and its reason, as `policy test` prints for a failure.
    pub fn summary(&self) -> String {
        match self.status {
            Some(status) => format!("refuse ({status}): {}", self.reason),
            None => format!("{}: {}", self.decision, self.reason),
        }
    }

    /// The text `policy explain` prints.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut line = |label: &str, value: &str| {
            let _ = writeln!(out, "{label:<18}{value}");
        };
        line("request:", &format!("{} {}", self.method, self.target));
        line("caller:", &self.caller);
        if let Some(op) = &self.operation {
            let or_none = |s: String| if s.is_empty() { "(none)".to_owned() } else { s };
            line("operation:", op.verb);
            line(
                "namespace:",
                &if op.namespace.is_empty() {
                    "(root)".to_owned()
                } else {
                    op.namespace.clone()
                },
            );
            line("path:", &op.full_path);
            let query: Vec<String> = op.query.iter().map(|(k, v)| format!("{k}={v}")).collect();
            line("query:", &or_none(query.join("&")));
            line("params:", &or_none(op.params.join(", ")));
        }
        line("decision:", self.decision);
        if let Some(status) = self.status {
            let text = http::StatusCode::from_u16(status)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or("");
            line("status:", format!("{status} {text}").trim_end());
        }
        line("reason:", &self.reason);
        if self.operation.is_some() {
            let rule = self
                .rule
                .as_ref()
                .map_or_else(|| "(none)".to_owned(), RuleRef::render);
            line("rule:", &rule);
            if self.lost_on_priority.is_empty() {
                line("lost on priority:", "(none)");
            }
            for (i, lost) in self.lost_on_priority.iter().enumerate() {
                line(
                    if i == 0 { "lost on priority:" } else { "" },
                    &lost.render(),
                );
            }
        }
        out
    }
}

impl RuleRef {
    fn render(&self) -> String {
        let effect = if self.denies { " (deny)" } else { "" };
        format!("{}:{} {:?}{effect}", self.file, self.line, self.pattern)
    }
}
