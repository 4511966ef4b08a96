//! The `[admin]` section: where the admin listener binds (loopback or a unix socket only)
//! and the token that authenticates operators, kept only as its SHA-256 digest.

use std::path::PathBuf;

use crate::digest::sha256;

use super::raw::RawAdmin;
use super::{Bind, Validator};

/// The admin listener: health, readiness, metrics, lockdown, token status.
#[derive(Debug, Clone)]
pub struct AdminConfig {
    pub bind: Bind,
    pub token: AdminToken,
}

/// SHA-256 of the admin token. The token itself is not kept: requests are checked by
/// comparing digests in constant time, and `Debug` shows nothing.
#[derive(Clone)]
pub struct AdminToken {
    digest: [u8; 32],
    /// Where it came from, for messages.
    pub file: PathBuf,
}

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminToken")
            .field("file", &self.file)
            .finish_non_exhaustive()
    }
}

impl AdminToken {
    pub fn from_secret(secret: &str, file: PathBuf) -> AdminToken {
        AdminToken {
            digest: sha256(secret.as_bytes()),
            file,
        }
    }

    /// Whether `presented` is the admin token. Digests have a fixed length, so neither the
    /// token's length nor how much of it matched leaks through timing.
    pub fn matches(&self, presented: &[u8]) -> bool {
        use subtle::ConstantTimeEq;
        let digest = sha256(presented);
        digest.ct_eq(&self.digest).into()
    }
}

/// A guessable admin token would make lockdown and token status anyone's.
const MIN_TOKEN_CHARS: usize = 16;

impl Validator<'_> {
    pub(super) fn admin(&self, a: RawAdmin) -> Option<AdminConfig> {
        let address = self.value("admin.address", a.address);
        let unix = self.value("admin.unix", a.unix);
        let mode = self.value("admin.mode", a.mode);
        let bind = match (address, unix) {
            (Some(addr), None) => {
                if mode.is_some() {
                    self.problem("admin.mode", "only applies to a unix socket");
                }
                match addr.parse::<std::net::SocketAddr>() {
                    Ok(parsed) if parsed.ip().is_loopback() => Some(Bind::Tcp(parsed)),
                    Ok(_) => {
                        self.problem(
                            "admin.address",
                            format!(
                                "{addr} is not a loopback address: the admin listener serves \
                                 plain HTTP and must bind 127.0.0.1, ::1 or a unix socket"
                            ),
                        );
                        None
                    }
                    Err(_) => {
                        self.problem(
                            "admin.address",
                            format!("{addr:?} is not an ip:port address"),
                        );
                        None
                    }
                }
            }
            (None, Some(path)) => Some(Bind::Unix {
                path: self.path(&path),
                mode: mode
                    .and_then(|m| self.octal_mode("admin.mode", &m, "0600"))
                    .or(Some(0o600)),
            }),
            _ => {
                self.problem("admin.address", "set exactly one of address or unix");
                None
            }
        };
        let token = self
            .required(
                "admin.token_file",
                a.token_file,
                " (the admin bearer token)",
            )
            .and_then(|f| self.existing("admin.token_file", &f))
            .and_then(|file| self.admin_token(file));
        Some(AdminConfig {
            bind: bind?,
            token: token?,
        })
    }

    fn admin_token(&self, file: PathBuf) -> Option<AdminToken> {
        let text = match std::fs::read_to_string(&file) {
            Ok(text) => zeroize::Zeroizing::new(text),
            Err(e) => {
                self.problem("admin.token_file", format!("cannot read: {e}"));
                return None;
            }
        };
        let secret = text.trim();
        if secret.chars().count() < MIN_TOKEN_CHARS {
            self.problem(
                "admin.token_file",
                format!("the admin token must be at least {MIN_TOKEN_CHARS} characters"),
            );
            return None;
        }
        warn_if_shared(&file);
        Some(AdminToken::from_secret(secret, file))
    }
}

/// A token file others can read is a token others can use; said once at startup.
fn warn_if_shared(file: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(file) {
        if meta.permissions().mode() & 0o077 != 0 {
            tracing::warn!(file = %file.display(), "the admin token file is readable by group or others; chmod 600 it");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_same_token_matches() {
        let t = AdminToken::from_secret("0123456789abcdef", PathBuf::from("t"));
        assert!(t.matches(b"0123456789abcdef"));
        assert!(!t.matches(b"0123456789abcdeF"));
        assert!(!t.matches(b""));
        assert!(!format!("{t:?}").contains("0123"));
    }
}
