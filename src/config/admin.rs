//! The `[admin]` section: where the admin listener binds (loopback or a unix socket only)
//! and the token that authenticates operators, kept only as its SHA-256 digest.

use std::path::PathBuf;

use sha2::{Digest, Sha256};

use super::raw::RawAdmin;
use super::{Bind, ConfigError, Validator};

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
            digest: Sha256::digest(secret.as_bytes()).into(),
            file,
        }
    }

    /// Whether `presented` is the admin token. Digests have a fixed length, so neither the
    /// token's length nor how much of it matched leaks through timing.
    pub fn matches(&self, presented: &[u8]) -> bool {
        use subtle::ConstantTimeEq;
        let digest: [u8; 32] = Sha256::digest(presented).into();
        digest.ct_eq(&self.digest).into()
    }
}

/// A guessable admin token would make lockdown and token status anyone's.
const MIN_TOKEN_CHARS: usize = 16;

impl Validator<'_> {
    pub(super) fn admin(&self, a: RawAdmin) -> Result<AdminConfig, ConfigError> {
        let bind = match (a.address, a.unix) {
            (Some(addr), None) => {
                if a.mode.is_some() {
                    return Err(self.err("admin.mode", "only applies to a unix socket"));
                }
                let parsed: std::net::SocketAddr = addr.parse().map_err(|_| {
                    self.err(
                        "admin.address",
                        format!("{addr:?} is not an ip:port address"),
                    )
                })?;
                if !parsed.ip().is_loopback() {
                    return Err(self.err(
                        "admin.address",
                        format!(
                            "{addr} is not a loopback address: the admin listener serves plain \
                             HTTP and must bind 127.0.0.1, ::1 or a unix socket"
                        ),
                    ));
                }
                Bind::Tcp(parsed)
            }
            (None, Some(path)) => Bind::Unix {
                path: self.path(&path),
                mode: a
                    .mode
                    .map(|m| self.octal_mode("admin.mode", &m))
                    .transpose()?
                    .or(Some(0o600)),
            },
            _ => return Err(self.err("admin.address", "set exactly one of address or unix")),
        };
        let file = self.existing("admin.token_file", &a.token_file)?;
        let text = zeroize::Zeroizing::new(
            std::fs::read_to_string(&file)
                .map_err(|e| self.err("admin.token_file", format!("cannot read: {e}")))?,
        );
        let secret = text.trim();
        if secret.chars().count() < MIN_TOKEN_CHARS {
            return Err(self.err(
                "admin.token_file",
                format!("the admin token must be at least {MIN_TOKEN_CHARS} characters"),
            ));
        }
        warn_if_shared(&file);
        Ok(AdminConfig {
            bind,
            token: AdminToken::from_secret(secret, file),
        })
    }
}

impl Validator<'_> {
    fn octal_mode(&self, key: &str, m: &str) -> Result<u32, ConfigError> {
        u32::from_str_radix(m.trim_start_matches("0o"), 8)
            .ok()
            .filter(|m| *m <= 0o777)
            .ok_or_else(|| self.err(key, format!("{m:?} is not an octal mode like \"0600\"")))
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
