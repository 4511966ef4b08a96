//! `Token`: a Vault token that cannot leak by accident: `Debug` redacts it, there is no
//! `Display`, the buffer is zeroized on drop, and reading it takes an explicit `expose()`.

use std::fmt;

use zeroize::Zeroizing;

#[derive(Clone, PartialEq, Eq)]
pub struct Token(Zeroizing<String>);

impl Token {
    /// Wraps a token, trimming the whitespace token files usually end with.
    pub fn new(value: impl Into<String>) -> Token {
        let mut s: String = value.into();
        let trimmed = s.trim().len();
        if trimmed != s.len() {
            let start = s.len() - s.trim_start().len();
            s = s[start..start + trimmed].to_owned();
        }
        Token(Zeroizing::new(s))
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
        let shown = format!("{t:?} {:#?}", Some(&t));
        assert!(!shown.contains("secretvalue"), "{shown}");
    }
}
