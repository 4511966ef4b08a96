//! What one operation did, reduced to what must agree between OpenBao and vaultgate (status,
//! and the fields of the answer a client relies on; never ids, times, tokens or keys), the
//! matrix's rows, the checks the acceptance asks for, and the table they are written as.

use serde_json::Value;

/// Which rule decides the denied caller's column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Authorized by the tenant policy: a caller whose policy does not cover it gets 403.
    Policy,
    /// An endpoint Vault serves without a token (status, a PKI CA): forwarded without one,
    /// for every caller.
    Unauthenticated,
    /// A token self-operation vaultgate answers itself, for every caller.
    SelfOp,
}

impl Kind {
    fn note(self) -> &'static str {
        match self {
            Kind::Policy => "",
            Kind::Unauthenticated => " (served without a token, to any caller)",
            Kind::SelfOp => " (answered by vaultgate, for any caller)",
        }
    }
}

/// One operation of one client, as the matrix defines it.
#[derive(Clone, Copy, Debug)]
pub struct Op {
    pub name: &'static str,
    /// The HTTP requests it makes, as the table shows them (`P` is the run's KV prefix).
    pub requests: &'static str,
    pub kind: Kind,
}

pub const fn op(name: &'static str, requests: &'static str, kind: Kind) -> Op {
    Op {
        name,
        requests,
        kind,
    }
}

/// One line of the table: the outcomes directly, through vaultgate as the allowed caller and
/// as the denied one.
#[derive(Clone, Debug)]
pub struct Row {
    pub client: &'static str,
    pub op: Op,
    pub direct: String,
    pub allowed: String,
    pub denied: String,
}

/// The outcome of an HTTP answer: `HTTP <status>` for an error (with `(vaultgate)` when the
/// errors say vaultgate refused it), otherwise the status (when the client reports it) and
/// the summary of the body.
pub fn of_answer(status: Option<u16>, body: &Value) -> String {
    match status {
        Some(s) if s >= 400 => error(s, &body["errors"].to_string()),
        Some(s) => join(&s.to_string(), &summary(body)),
        None => join("ok", &summary(body)),
    }
}

/// `HTTP <status>`, marked `(vaultgate)` when the error text is vaultgate's refusal.
pub fn error(status: u16, text: &str) -> String {
    if text.contains("by vaultgate") {
        format!("HTTP {status} (vaultgate)")
    } else {
        format!("HTTP {status}")
    }
}

fn join(head: &str, tail: &str) -> String {
    if tail.is_empty() {
        head.to_owned()
    } else {
        format!("{head} {tail}")
    }
}

/// The parts of a Vault answer that must agree between the two paths.
pub fn summary(body: &Value) -> String {
    let mut parts = Vec::new();
    if let Some(keys) = body.as_array() {
        parts.push(format!("keys={}", names(keys)));
    }
    for flag in ["initialized", "sealed", "standby", "ha_enabled"] {
        if let Some(b) = body.get(flag).and_then(Value::as_bool) {
            parts.push(format!("{flag}={b}"));
        }
    }
    let data = &body["data"];
    if let Some(d) = data.get("data").filter(|d| d.is_object()) {
        parts.push(format!("data={d}"));
    }
    let version = data
        .get("version")
        .or_else(|| data.pointer("/metadata/version"));
    if let Some(v) = version.filter(|v| v.is_u64()) {
        parts.push(format!("version={v}"));
    }
    if let Some(v) = data.get("current_version") {
        parts.push(format!("current_version={v}"));
    }
    if let Some(keys) = data.get("keys").and_then(Value::as_array) {
        parts.push(format!("keys={}", names(keys)));
    }
    if let Some(c) = data.get("ciphertext").and_then(Value::as_str) {
        let scheme: Vec<&str> = c.splitn(3, ':').take(2).collect();
        parts.push(format!("ciphertext={}:…", scheme.join(":")));
    }
    if let Some(p) = data.get("plaintext").and_then(Value::as_str) {
        parts.push(format!("plaintext={p}"));
    }
    if let Some(c) = data.get("certificate").and_then(Value::as_str) {
        let pem = c.starts_with("-----BEGIN CERTIFICATE-----");
        parts.push(format!("certificate={}", if pem { "PEM" } else { "?" }));
    }
    if let Some(a) = body["auth"].as_object() {
        let mut fields: Vec<&str> = a.keys().map(String::as_str).collect();
        fields.sort_unstable();
        parts.push(format!("auth fields={}", fields.join(",")));
    }
    if parts.is_empty() {
        if let Some(d) = data.as_object() {
            let mut fields: Vec<&str> = d.keys().map(String::as_str).collect();
            fields.sort_unstable();
            parts.push(format!("fields={}", fields.join(",")));
        }
    }
    parts.join(" ")
}

fn names(values: &[Value]) -> String {
    let names: Vec<String> = values
        .iter()
        .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
        .collect();
    names.join(",")
}

/// Whether an outcome is a failure (an error status, a failed command or a missing line).
pub fn failed(outcome: &str) -> bool {
    outcome.starts_with("HTTP 4")
        || outcome.starts_with("HTTP 5")
        || outcome.starts_with("exit")
        || outcome.starts_with("error")
}

/// What the denied caller must get for an operation its policy does not cover: vaultgate's
/// own 403 (vaultgate's token reaches everything the matrix does, so Vault would not refuse).
pub const DENIED: &str = "HTTP 403 (vaultgate)";

/// The acceptance checks; one message per row that breaks one.
pub fn problems(rows: &[Row]) -> Vec<String> {
    let mut out = Vec::new();
    for r in rows {
        let at = format!("{} {}", r.client, r.op.name);
        // A self-check answering false (hvac's is_authenticated) failed too.
        if failed(&r.direct) || (r.op.kind == Kind::SelfOp && r.direct == "false") {
            out.push(format!(
                "{at}: fails directly ({}), so it proves nothing",
                r.direct
            ));
        }
        if r.allowed != r.direct {
            out.push(format!(
                "{at}: directly {:?}, through vaultgate {:?}",
                r.direct, r.allowed
            ));
        }
        let denied_ok = match r.op.kind {
            Kind::Policy => r.denied == DENIED,
            Kind::Unauthenticated | Kind::SelfOp => r.denied == r.allowed,
        };
        if !denied_ok {
            out.push(format!(
                "{at}: the denied caller got {:?} ({:?} expected{})",
                r.denied,
                if r.op.kind == Kind::Policy {
                    DENIED
                } else {
                    &r.allowed
                },
                r.op.kind.note()
            ));
        }
    }
    out
}

/// The matrix as a markdown table.
pub fn markdown(rows: &[Row], allowed: &str, denied: &str) -> String {
    let mut t = format!(
        "| client | operation | requests | directly (token with the tenant's policy) | \
         through vaultgate as `{allowed}` | through vaultgate as `{denied}` |\n\
         |---|---|---|---|---|---|\n"
    );
    for r in rows {
        t.push_str(&format!(
            "| {} | {} | {} | {} | {} | {}{} |\n",
            r.client,
            r.op.name.replace('|', "\\|"),
            r.op.requests,
            cell(&r.direct),
            cell(&r.allowed),
            cell(&r.denied),
            r.op.kind.note()
        ));
    }
    t
}

fn cell(outcome: &str) -> String {
    format!("`{}`", outcome.replace('|', "\\|"))
}
