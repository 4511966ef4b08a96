//! Vault's request-parameter constraints (`required_parameters`, `denied_parameters`,
//! `allowed_parameters`), checked on the top-level request data as Vault's ACL sees it.

use serde_json::{Map, Value};

use super::acl::Rule;

/// Why the parameters of a request were refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ParameterRefusal {
    Missing(String),
    Denied(String),
    NotAllowed(String),
}

impl ParameterRefusal {
    pub fn describe(&self) -> String {
        match self {
            ParameterRefusal::Missing(name) => format!("required parameter {name:?} is missing"),
            ParameterRefusal::Denied(name) => format!("parameter {name:?} is denied"),
            ParameterRefusal::NotAllowed(name) => {
                format!("parameter {name:?} or its value is not allowed")
            }
        }
    }
}

/// Checks `data` against the rule, in Vault's order: required, the no-data shortcut, denied,
/// then allowed.
pub(crate) fn check(rule: &Rule, data: &Map<String, Value>) -> Result<(), ParameterRefusal> {
    // Vault looks up `data[lower(name)]`, so a request key must itself be lowercase.
    for name in &rule.required {
        if !data.contains_key(&name.to_lowercase()) {
            return Err(ParameterRefusal::Missing(name.clone()));
        }
    }
    // No data at all is allowed: Vault cannot constrain defaults (hashicorp/vault#3475).
    if data.is_empty() {
        return Ok(());
    }
    if let Some(denied) = &rule.denied {
        if denied.contains_key("*") {
            let first = data.keys().next().cloned().unwrap_or_default();
            return Err(ParameterRefusal::Denied(first));
        }
        for (name, value) in data {
            if let Some(values) = denied.get(&name.to_lowercase()) {
                if in_list(value, values, Numbers::ByValue) {
                    return Err(ParameterRefusal::Denied(name.clone()));
                }
            }
        }
    }
    let Some(allowed) = &rule.allowed else {
        return Ok(());
    };
    let allow_all = allowed.contains_key("*");
    if allow_all && allowed.len() == 1 {
        return Ok(());
    }
    for (name, value) in data {
        match allowed.get(&name.to_lowercase()) {
            Some(values) if !in_list(value, values, Numbers::Never) => {
                return Err(ParameterRefusal::NotAllowed(name.clone()))
            }
            Some(_) => {}
            None if allow_all => {}
            None => return Err(ParameterRefusal::NotAllowed(name.clone())),
        }
    }
    Ok(())
}

/// How a number in a policy's value list meets a number in the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Numbers {
    /// By value, however either side writes it (`1`, `1.0`): a denied number is denied
    /// whatever the request's notation. Stricter than Vault, on purpose.
    ByValue,
    /// Never equal, as in Vault: the policy's numbers decode as Go `int` or `float64`, the
    /// request's as `json.Number` (or strings, from a form or a query), and
    /// `reflect.DeepEqual` tells the types apart, so a number in `allowed_parameters`, alone
    /// or inside a list or object, allows nothing (OpenBao 2.7.2 answers 403). Comparing
    /// by value there allowed what Vault denies (found by the engines differential test).
    Never,
}

/// An empty list holds every value; otherwise strings glob-match and others compare equal.
fn in_list(value: &Value, list: &[Value], numbers: Numbers) -> bool {
    list.is_empty() || list.iter().any(|item| value_matches(item, value, numbers))
}

fn value_matches(item: &Value, value: &Value, numbers: Numbers) -> bool {
    match (item, value) {
        (Value::String(pattern), Value::String(text)) => glob_matches(pattern, text),
        _ => deep_equal(item, value, numbers),
    }
}

/// Vault's `GlobbedStringsMatch`: a leading and/or trailing `*`, case-sensitive.
fn glob_matches(pattern: &str, text: &str) -> bool {
    if pattern.len() < 2 {
        return pattern == text;
    }
    match (pattern.strip_prefix('*'), pattern.strip_suffix('*')) {
        (Some(_), Some(_)) => text.contains(&pattern[1..pattern.len() - 1]),
        (Some(suffix), None) => text.ends_with(suffix),
        (None, Some(prefix)) => text.starts_with(prefix),
        (None, None) => pattern == text,
    }
}

/// Go's `reflect.DeepEqual` on decoded JSON, with numbers compared as `numbers` says.
fn deep_equal(a: &Value, b: &Value, numbers: Numbers) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match numbers {
            Numbers::Never => false,
            Numbers::ByValue => match (x.as_f64(), y.as_f64()) {
                (Some(x), Some(y)) => x == y,
                _ => x == y,
            },
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| deep_equal(x, y, numbers))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| deep_equal(v, w, numbers)))
        }
        _ => a == b,
    }
}
