//! `Token`: a Vault token that cannot leak by accident: `Debug` redacts it, there is no
//! `Display`, the buffer is zeroized on drop, and reading it takes an explicit `expose()`.
//! Its `Accessor` is kept the same way: it names the token to anyone who can use accessor
//! endpoints.

use std::fmt;

use zeroize::Zeroizing;

#[derive(Clone, PartialEq, Eq)]
pub struct Token(Zeroizing<String>, Option<Accessor>);

/// A token's accessor as Vault reported it; never empty.
#[derive(Clone, PartialEq, Eq)]
pub struct Accessor(Zeroizing<String>);

impl Accessor {
    /// The accessor in a Vault answer's field, if it holds a non-empty string.
    pub fn from_field(field: &serde_json::Value) -> Option<Accessor> {
        field
            .as_str()
            .filter(|a| !a.is_empty())
            .map(|a| Accessor(Zeroizing::new(a.to_owned())))
    }

    /// The accessor itself; call only where it is put on the wire to Vault.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Accessor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Accessor(<redacted>)")
    }
}

impl Token {
    /// Wraps a token, trimming the whitespace token files usually end with.
    pub fn new(value: impl Into<String>) -> Token {
        let mut s: String = value.into();
        let trimmed = s.trim().len();
        if trimmed != s.len() {
            let start = s.len() - s.trim_start().len();
            s = s[start..start + trimmed].to_owned();
        }
        Token(Zeroizing::new(s), None)
    }

    /// The token with its accessor, when Vault reported one, so that it is masked in
    /// answers like the token.
    pub fn with_accessor(mut self, accessor: Option<Accessor>) -> Token {
        self.1 = accessor;
        self
    }

    pub fn accessor(&self) -> Option<&Accessor> {
        self.1.as_ref()
    }

    /// The secret itself; call only where it is put on the wire to Vault.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_and_trim_keeps_the_value() {
        let t = Token::new("  s.secretvalue\n");
        assert_eq!(t.expose(), "s.secretvalue");
        let t = t.with_accessor(Accessor::from_field(&"accessor-value".into()));
        let shown = format!("{t:?} {:#?}", Some(&t));
        assert!(
            !shown.contains("secretvalue") && !shown.contains("accessor-value"),
            "{shown}"
        );
        assert_eq!(t.accessor().map(Accessor::expose), Some("accessor-value"));
        assert!(Accessor::from_field(&"".into()).is_none());
    }
}
