//! The query string read with Go's `url.ParseQuery` semantics (vault-semantics §2.1), except
//! that every input Go would silently drop or reinterpret is refused instead.

use serde_json::{Map, Value};

use super::{ambiguous, target::hex, ClassifyError};

/// The query split into Vault's control keys and the ordinary pairs.
#[derive(Debug, Default)]
pub(super) struct ParsedQuery {
    /// Decoded pairs in order, without `list`, `scan` and `help`.
    pub pairs: Vec<(String, String)>,
    /// `None` when absent or empty: Vault treats `?list=` as no list.
    pub list: Option<bool>,
    pub scan: Option<bool>,
    /// A non-empty `help` value, which turns any method into a help request.
    pub help: bool,
}

pub(super) fn parse(raw: &str) -> Result<ParsedQuery, ClassifyError> {
    // Go drops a pair containing `;` without an error, so `a=1;list=true` is a read to Vault
    // and could be a list to a parser that splits on `;`. Nothing reads it two ways if
    // nothing with a `;` gets through.
    if raw.contains(';') {
        return Err(ambiguous("';' in query string"));
    }
    let mut parsed = ParsedQuery::default();
    let (mut seen_list, mut seen_scan, mut seen_help) = (false, false, false);
    for pair in raw.split('&') {
        // Go skips empty pairs (`a=1&&b=2`, a leading or trailing `&`) too.
        if pair.is_empty() {
            continue;
        }
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let (key, value) = (unescape(key)?, unescape(value)?);
        // Keys are compared after decoding, as Go does: `%6cist` is `list`. Go takes the
        // first of repeated control keys; refusing repeats removes any doubt about which.
        match key.as_str() {
            "list" => {
                once(&mut seen_list, "list")?;
                parsed.list = parse_bool(&value)?;
            }
            "scan" => {
                once(&mut seen_scan, "scan")?;
                parsed.scan = parse_bool(&value)?;
            }
            "help" => {
                once(&mut seen_help, "help")?;
                parsed.help = !value.is_empty();
            }
            _ => parsed.pairs.push((key, value)),
        }
    }
    Ok(parsed)
}

/// Request data built like Vault's `parseQuery`: one value gives a string, several an array.
pub(super) fn params(pairs: &[(String, String)]) -> Map<String, Value> {
    let mut params = Map::new();
    for (key, value) in pairs {
        let value = Value::String(value.clone());
        match params.get_mut(key) {
            Some(Value::Array(values)) => values.push(value),
            Some(first) => {
                let first = first.take();
                params.insert(key.clone(), Value::Array(vec![first, value]));
            }
            None => {
                params.insert(key.clone(), value);
            }
        }
    }
    params
}

fn once(seen: &mut bool, key: &str) -> Result<(), ClassifyError> {
    if std::mem::replace(seen, true) {
        return Err(ambiguous(format!("repeated '{key}' query parameter")));
    }
    Ok(())
}

/// Go's `strconv.ParseBool`; an empty value means "not set", as Vault checks `!= ""` first.
fn parse_bool(value: &str) -> Result<Option<bool>, ClassifyError> {
    match value {
        "" => Ok(None),
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(Some(true)),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(Some(false)),
        _ => Err(ambiguous("list/scan value is not a boolean")),
    }
}

/// Go's `QueryUnescape`: `+` is a space and every `%` needs two hex digits. Go would drop a
/// pair with a bad escape; we refuse it. Non-UTF-8 results cannot be represented and are
/// refused too.
fn unescape(raw: &str) -> Result<String, ClassifyError> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => {
                let decoded = bytes
                    .get(i + 1..i + 3)
                    .and_then(|pair| Some(hex(pair[0])? << 4 | hex(pair[1])?))
                    .ok_or_else(|| ambiguous("invalid percent-escape in query"))?;
                out.push(decoded);
                i += 3;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| ambiguous("decoded query is not UTF-8"))
}
