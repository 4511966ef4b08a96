//! The write/patch body as Vault reads it: a form when it says it is one and does not start
//! like JSON (Vault sniffs the first 512 bytes), otherwise exactly one JSON object, parsed
//! strictly enough that Go's lenient reading (last duplicate wins, trailing data ignored)
//! cannot differ from ours. A form is forwarded as the JSON object of what was authorized.

use std::collections::HashSet;
use std::fmt;

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::HeaderMap;
use serde::de::{DeserializeSeed, Error as _, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use super::{ambiguous, ClassifyError};

/// The request data Vault's ACL checks parameter constraints against (the top-level keys of
/// the body; an empty body is no data, as in Vault), and the body to forward when it is not
/// the one received (a form, rebuilt as JSON).
pub(super) fn params(
    headers: &HeaderMap,
    body: &[u8],
    max_depth: usize,
    patch: bool,
) -> Result<(Map<String, Value>, Option<Bytes>), ClassifyError> {
    if body.is_empty() {
        return Ok((Map::new(), None));
    }
    if check_media_type(headers, body, patch)? {
        let params = form(body)?;
        check_case_collisions(&params)?;
        let rebuilt = serde_json::to_vec(&params)
            .map_err(|e| ambiguous(format!("cannot rebuild the form as JSON: {e}")))?;
        return Ok((params, Some(Bytes::from(rebuilt))));
    }
    Ok((json(body, max_depth)?, None))
}

/// Go's `url.ParseQuery` as `parseFormRequest` uses it: pairs split on `&`, `+` is a space,
/// repeated keys joined with `,`; a `;` or a bad escape makes Vault answer 400, and so do we.
fn form(body: &[u8]) -> Result<Map<String, Value>, ClassifyError> {
    let text = std::str::from_utf8(body).map_err(|_| ambiguous("form body is not UTF-8"))?;
    let mut params: Map<String, Value> = Map::new();
    for pair in text.split('&').filter(|p| !p.is_empty()) {
        if pair.contains(';') {
            return Err(ambiguous("';' in a form body"));
        }
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let (key, value) = (unescape(key)?, unescape(value)?);
        match params.get_mut(&key) {
            Some(Value::String(joined)) => {
                joined.push(',');
                joined.push_str(&value);
            }
            _ => {
                params.insert(key, Value::String(value));
            }
        }
    }
    Ok(params)
}

/// `url.QueryUnescape`: `+` is a space, `%XX` a byte; the result must be UTF-8.
fn unescape(s: &str) -> Result<String, ClassifyError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                let byte = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| Some(super::target::hex(h[0])? << 4 | super::target::hex(h[1])?))
                    .ok_or_else(|| ambiguous("invalid percent-escape in a form body"))?;
                out.push(byte);
                i += 2;
            }
            _ => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| ambiguous("form body decodes to non-UTF-8"))
}

fn json(body: &[u8], max_depth: usize) -> Result<Map<String, Value>, ClassifyError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = Strict {
        depth: 0,
        max_depth,
    }
    .deserialize(&mut de)
    .map_err(|e| ambiguous(format!("request body: {e}")))?;
    // Go's decoder stops after the first value and ignores the rest; we refuse the rest.
    de.end()
        .map_err(|_| ambiguous("request body has data after the JSON value"))?;
    let Value::Object(params) = value else {
        return Err(ambiguous("request body must be a JSON object"));
    };
    check_case_collisions(&params)?;
    Ok(params)
}

/// The ACL matches parameter names case-insensitively while backends read them exactly, so
/// `Key` and `key` together would make a constraint check depend on which one a reader takes.
pub(super) fn check_case_collisions(params: &Map<String, Value>) -> Result<(), ClassifyError> {
    let mut seen = HashSet::new();
    if !params.keys().all(|k| seen.insert(k.to_lowercase())) {
        return Err(ambiguous("parameter names that differ only in case"));
    }
    Ok(())
}

/// How far Vault looks into the body to tell JSON from a form (http/logical.go).
const SNIFF: usize = 512;

/// Whether Vault reads the body as a form (handler.go `isForm`): the media type says so and
/// the first non-whitespace byte of the first 512 is not `{` or `[`. OCSP requests are passed
/// through raw, and a PATCH takes JSON only; vaultgate checks neither, so refuses them.
fn check_media_type(headers: &HeaderMap, body: &[u8], patch: bool) -> Result<bool, ClassifyError> {
    let Some(value) = headers.get(CONTENT_TYPE) else {
        return Ok(false);
    };
    let value = value
        .to_str()
        .map_err(|_| ambiguous("non-ASCII Content-Type"))?;
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim_matches([' ', '\t']);
    if essence.eq_ignore_ascii_case("application/ocsp-request") {
        return Err(ClassifyError::MediaType(format!(
            "{essence} bodies are not accepted; send JSON"
        )));
    }
    if !essence.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        return Ok(false);
    }
    let looks_json = body
        .iter()
        .take(SNIFF)
        .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
        .is_some_and(|b| matches!(b, b'{' | b'['));
    if !looks_json && patch {
        return Err(ClassifyError::MediaType(
            "a PATCH body must be JSON (application/merge-patch+json)".to_owned(),
        ));
    }
    Ok(!looks_json)
}

/// A `serde_json::Value` builder that refuses duplicate object keys (compared after JSON
/// unescaping) and nesting deeper than `max_depth` containers.
#[derive(Clone, Copy)]
struct Strict {
    depth: usize,
    max_depth: usize,
}

impl Strict {
    fn enter<E: serde::de::Error>(self) -> Result<Strict, E> {
        let depth = self.depth + 1;
        if depth > self.max_depth {
            return Err(E::custom(format!(
                "nesting deeper than {} levels",
                self.max_depth
            )));
        }
        Ok(Strict { depth, ..self })
    }
}

impl<'de> DeserializeSeed<'de> for Strict {
    type Value = Value;

    fn deserialize<D: serde::Deserializer<'de>>(self, de: D) -> Result<Value, D::Error> {
        de.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("number is not finite"))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let inner = self.enter()?;
        let mut values = Vec::new();
        while let Some(value) = seq.next_element_seed(inner)? {
            values.push(value);
        }
        Ok(Value::Array(values))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let inner = self.enter()?;
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            // Go keeps the last duplicate; refusing is the only reading both sides share.
            if object.contains_key(&key) {
                return Err(A::Error::custom(format!("duplicate key {key:?}")));
            }
            let value = map.next_value_seed(inner)?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}
