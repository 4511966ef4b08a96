//! Tokens someone else provides in a file: read, then confirmed with Vault (`lookup-self`)
//! before vaultgate says it logged in; and the log line of every successful login.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{read_secret, token_call, AuthError, Login, TokenCall, TokenCheck};
use crate::upstream::Upstream;
use crate::vault::token::Token;

/// A token read from a file, and what Vault said of it when asked with `lookup-self`.
#[derive(Debug, Clone)]
pub struct FileToken {
    pub path: PathBuf,
    /// The TTL Vault reported; someone else renews this token, so it only informs.
    pub ttl: Option<Duration>,
    /// Vault answered the lookup. `false`: it answered 403, which a token created with
    /// `no_default_policy` (the hardened kind) gets for `lookup-self` as well as an invalid
    /// one, so the token is used and the first refused request tells.
    pub confirmed: bool,
}

/// The log line of a successful login; for a token file, that it was read and then what Vault
/// confirmed, so the log never claims a login Vault did not see.
pub fn log_login(
    principal: &str,
    ttl: Option<Duration>,
    renewable: bool,
    from_file: Option<&FileToken>,
) {
    match from_file {
        Some(file) => {
            tracing::info!(principal, file = %file.path.display(), "loaded a token from a file");
            if file.confirmed {
                tracing::info!(
                    principal,
                    ttl = ?file.ttl,
                    "logged in to Vault: it confirmed the token from the file (lookup-self)"
                );
            } else {
                tracing::warn!(
                    principal,
                    "Vault did not confirm the token from the file: lookup-self answered 403 \
                     (a token without the default policy gets that too); using it"
                );
            }
        }
        None => tracing::info!(principal, ?ttl, renewable, "logged in to Vault"),
    }
}

/// A token someone else provides: read from its file, and taken only once Vault confirms it
/// with `lookup-self`, so "logged in" is never said of a token Vault has not seen.
pub(super) async fn file_token_login(
    upstream: &Upstream,
    namespace: &str,
    path: &Path,
) -> Result<Login, AuthError> {
    let token = Token::new(read_secret(path)?.as_str());
    match token_call(upstream, namespace, &token, TokenCall::Lookup).await? {
        TokenCheck::Valid { ttl, accessor } => Ok(Login {
            token: token.with_accessor(accessor),
            // Not vaultgate's to renew: no TTL, so the renewer schedules no refresh.
            ttl: None,
            renewable: false,
            renew_via: None,
            from_file: Some(FileToken {
                path: path.to_owned(),
                ttl,
                confirmed: true,
            }),
        }),
        TokenCheck::Rejected { status: 403, .. } => Ok(Login {
            token,
            ttl: None,
            renewable: false,
            renew_via: None,
            from_file: Some(FileToken {
                path: path.to_owned(),
                ttl: None,
                confirmed: false,
            }),
        }),
        TokenCheck::Rejected { status, errors } => Err(AuthError::FileTokenRefused {
            file: path.to_owned(),
            status,
            errors,
        }),
    }
}
