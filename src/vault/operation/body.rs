//! The write/patch body: exactly one JSON object, parsed strictly enough that Go's lenient
//! reading (last duplicate wins, trailing data ignored) cannot differ from ours.

use std::collections::HashSet;
use std::fmt;

use http::header::CONTENT_TYPE;
use http::HeaderMap;
use serde::de::{DeserializeSeed, Error as _, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use super::{ambiguous, ClassifyError};

/// The request data Vault's ACL checks parameter constraints against: the top-level keys of
/// the body. An empty body is no data, as in Vault.
pub(super) fn params(
    headers: &HeaderMap,
    body: &[u8],
    max_depth: usize,
) -> Result<Map<String, Value>, ClassifyError> {
    if body.is_empty() {
        return Ok(Map::new());
    }
    check_media_type(headers)?;
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

/// Vault parses a form body when asked for one and passes OCSP requests through raw; either
/// way it would see other parameters than the JSON we check, so only JSON is accepted.
fn check_media_type(headers: &HeaderMap) -> Result<(), ClassifyError> {
    let Some(value) = headers.get(CONTENT_TYPE) else {
        return Ok(());
    };
    let value = value
        .to_str()
        .map_err(|_| ambiguous("non-ASCII Content-Type"))?;
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim_matches([' ', '\t']);
    if essence.eq_ignore_ascii_case("application/x-www-form-urlencoded")
        || essence.eq_ignore_ascii_case("application/ocsp-request")
    {
        return Err(ClassifyError::MediaType(format!(
            "{essence} bodies are not accepted; send JSON"
        )));
    }
    Ok(())
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
