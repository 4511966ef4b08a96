//! One configuration value as written: the type its key takes, or what was found instead,
//! described in the file's own words (never a Rust type name).

use std::path::PathBuf;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use toml::Value;

use crate::duration;

/// A value of the type a key takes, or the value found there instead.
#[derive(Debug, Clone)]
pub enum Written<T> {
    Valid(T),
    Wrong(Value),
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Written<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(d)?;
        Ok(match T::deserialize(value.clone()) {
            Ok(v) => Written::Valid(v),
            Err(_) => Written::Wrong(value),
        })
    }
}

/// What a key of this type takes, in a reader's words.
pub trait Expected {
    const WHAT: &'static str;
}

impl Expected for String {
    const WHAT: &'static str = "a string";
}
impl Expected for PathBuf {
    const WHAT: &'static str = "a file path (a string)";
}
impl Expected for bool {
    const WHAT: &'static str = "true or false";
}
impl Expected for usize {
    const WHAT: &'static str = "a whole number";
}
impl Expected for u64 {
    const WHAT: &'static str = "a whole number";
}
impl Expected for u32 {
    const WHAT: &'static str = "a whole number up to 4294967295";
}
impl Expected for f64 {
    const WHAT: &'static str = "a number";
}
impl Expected for Vec<String> {
    const WHAT: &'static str = "a list of strings, like [\"a\", \"b\"]";
}

impl<T: Expected> Written<T> {
    /// The value, or the sentence that says what was expected and what was found.
    pub fn into_result(self) -> Result<T, String> {
        match self {
            Written::Valid(v) => Ok(v),
            Written::Wrong(found) => {
                Err(format!("expected {}, found {}", T::WHAT, describe(&found)))
            }
        }
    }
}

/// A duration exactly as written; read by [`RawDuration::read`] with the one parser Vault's
/// own durations go through.
#[derive(Debug, Clone, Deserialize)]
#[serde(transparent)]
pub struct RawDuration(Value);

impl RawDuration {
    pub fn read(&self) -> Result<Duration, String> {
        let parsed = match &self.0 {
            Value::Integer(seconds) => duration::from_seconds(*seconds),
            Value::Float(seconds) => duration::from_seconds_f64(*seconds),
            // Vault reads "" as zero; in a config file it is far more likely a slip.
            Value::String(text) if text.is_empty() => {
                return Err(format!("empty; durations are {}", duration::ACCEPTED))
            }
            Value::String(text) => duration::parse(text),
            other => {
                return Err(format!(
                    "expected a duration, found {}; durations are {}",
                    describe(other),
                    duration::ACCEPTED
                ))
            }
        };
        parsed.map_err(|e| format!("{e}; durations are {}", duration::ACCEPTED))
    }
}

/// A found value as the file shows it: `the string "x"`, `the number 5`, `a table`.
fn describe(value: &Value) -> String {
    match value {
        Value::String(s) => format!("the string {s:?}"),
        Value::Integer(i) => format!("the number {i}"),
        Value::Float(f) => format!("the number {f}"),
        Value::Boolean(b) => format!("{b}"),
        Value::Datetime(d) => format!("the date {d}"),
        Value::Array(_) => "a list".to_owned(),
        Value::Table(_) => "a table".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written<T: DeserializeOwned + Expected>(toml_value: &str) -> Result<T, String> {
        #[derive(Deserialize)]
        #[serde(bound = "T: DeserializeOwned")]
        struct One<T> {
            v: Written<T>,
        }
        let one: One<T> = toml::from_str(&format!("v = {toml_value}")).unwrap();
        one.v.into_result()
    }

    #[test]
    fn wrong_types_are_described_in_the_files_words() {
        assert_eq!(written::<usize>("5"), Ok(5));
        assert_eq!(
            written::<usize>("-1"),
            Err("expected a whole number, found the number -1".into())
        );
        assert_eq!(
            written::<bool>("\"yes\""),
            Err("expected true or false, found the string \"yes\"".into())
        );
        assert_eq!(
            written::<String>("[1]"),
            Err("expected a string, found a list".into())
        );
        assert_eq!(written::<f64>("200"), Ok(200.0));
    }

    #[test]
    fn durations_take_whole_seconds_and_vaults_strings() {
        let read = |v: &str| {
            #[derive(Deserialize)]
            struct One {
                v: RawDuration,
            }
            toml::from_str::<One>(&format!("v = {v}")).unwrap().v.read()
        };
        assert_eq!(read("30"), Ok(Duration::from_secs(30)));
        assert_eq!(read("\"1.5h\""), Ok(Duration::from_secs(5400)));
        assert_eq!(read("\"7d\""), Ok(Duration::from_secs(7 * 86_400)));
        assert_eq!(read("10.0"), Ok(Duration::from_secs(10)));
        let fractional = read("10.5").unwrap_err();
        assert!(
            fractional.starts_with("10.5 is not a whole number of seconds (write a string such as \"10.5s\"); durations are a whole number"),
            "{fractional}"
        );
        assert!(read("true")
            .unwrap_err()
            .starts_with("expected a duration, found true"));
        assert!(read("\"\"").unwrap_err().starts_with("empty"));
    }
}
