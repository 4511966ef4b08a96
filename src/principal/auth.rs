//! Logging a service's `Principal` in to Vault: AppRole and token files. Secret ids and
//! tokens are read into zeroizing buffers and never appear in an error.

use std::path::{Path, PathBuf};
use std::time::Duration;

use http::Method;
use serde_json::{json, Value};
use zeroize::Zeroizing;

use crate::config::AuthConfig;
use crate::identity::Caller;
use crate::upstream::{Upstream, UpstreamError};
use crate::vault::token::Token;

/// A successful login.
#[derive(Debug)]
pub struct Login {
    pub token: Token,
    /// The token's TTL as Vault reported it; `None` for token files (not looked up).
    pub ttl: Option<Duration>,
    pub renewable: bool,
    /// The token's accessor, when Vault reported one: what a tool may print to tell tokens
    /// apart, since the token itself must never be shown.
    pub accessor: Option<String>,
    /// For a token someone else provides in a file: which file, and what Vault said of it.
    pub from_file: Option<FileToken>,
}

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

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("cannot read {file}: {source}")]
    Read {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("{file} is empty")]
    Empty { file: PathBuf },
    #[error("{method} login refused by Vault ({status}): {errors}")]
    Rejected {
        method: &'static str,
        status: u16,
        errors: String,
    },
    #[error("Vault refused the token from {} (lookup-self, {status}): {errors}", file.display())]
    FileTokenRefused {
        file: PathBuf,
        status: u16,
        errors: String,
    },
    #[error("{method} login answer has no auth.client_token")]
    Malformed { method: &'static str },
    #[error("the issuer holds no token yet")]
    NoIssuerToken,
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
}

/// Reads a credential file (a role id, secret id or token), trimmed; empty is an error.
pub fn read_secret(file: &Path) -> Result<Zeroizing<String>, AuthError> {
    let text = Zeroizing::new(
        std::fs::read_to_string(file).map_err(|source| AuthError::Read {
            file: file.to_owned(),
            source,
        })?,
    );
    let trimmed = Zeroizing::new(text.trim().to_owned());
    if trimmed.is_empty() {
        return Err(AuthError::Empty {
            file: file.to_owned(),
        });
    }
    Ok(trimmed)
}

/// Logins in flight at once, across every principal. At start (and after an unlock) every
/// service logs in together: unbounded, a host with a thousand services sends Vault a
/// thousand logins at once over as many new connections, and the memory of that burst stays
/// in vaultgate's heap (docs/benchmarks.md, "Req/s vs distinct callers").
static LOGINS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(LOGINS_AT_ONCE);
const LOGINS_AT_ONCE: usize = 16;

/// Logs in once with the configured method. For `auth = "issued"`, `issuer` is the issuer's
/// current token and `owner` the service the child token is for (written as its metadata).
pub async fn login(
    auth: &AuthConfig,
    namespace: &str,
    upstream: &Upstream,
    issuer: Option<&Token>,
    owner: Option<&Caller>,
) -> Result<Login, AuthError> {
    // The semaphore is never closed, so a permit always comes.
    let _slot = LOGINS.acquire().await.ok();
    let (method, target, body, token) = match auth {
        AuthConfig::TokenFile { path } => {
            return file_token_login(upstream, namespace, path).await;
        }
        AuthConfig::AppRole {
            mount,
            role_id_file,
            secret_id_file,
            remove_secret_id_file,
        } => {
            let role_id = read_secret(role_id_file)?;
            let secret_id = read_secret(secret_id_file)?;
            if *remove_secret_id_file {
                // The secret id was delivered for one use; leaving it on disk only widens
                // who can log in as this service.
                std::fs::remove_file(secret_id_file).map_err(|source| AuthError::Read {
                    file: secret_id_file.clone(),
                    source,
                })?;
            }
            return approle_login(upstream, namespace, mount, &role_id, &secret_id).await;
        }
        AuthConfig::Jwt {
            mount,
            role,
            jwt_file,
        } => {
            // Re-read at every login: Kubernetes and cloud agents rotate the file in place.
            let jwt = read_secret(jwt_file)?;
            let body = json!({ "role": role, "jwt": jwt.as_str() });
            ("jwt", format!("/v1/auth/{mount}/login"), body, None)
        }
        AuthConfig::Issued(request) => {
            let issuer = issuer.ok_or(AuthError::NoIssuerToken)?;
            let target = match &request.token_role {
                Some(role) => format!("/v1/auth/token/create/{role}"),
                None => "/v1/auth/token/create".to_owned(),
            };
            let mut body = json!({
                "policies": request.policies,
                "ttl": format!("{}s", request.ttl.as_secs()),
                "no_default_policy": true,
                "renewable": true,
            });
            if let Some(max) = request.explicit_max_ttl {
                body["explicit_max_ttl"] = json!(format!("{}s", max.as_secs()));
            }
            if let Some(owner) = owner {
                // Names who the child token is for, in Vault's own audit log and lookups.
                body["meta"] = json!({
                    "tenant": owner.tenant(),
                    "service": owner.service(),
                    "issued_by": "vaultgate",
                });
            }
            ("issued", target, body, Some(issuer))
        }
    };
    let (status, answer) = upstream
        .call_json(Method::POST, &target, namespace, token, Some(&body))
        .await?;
    auth_answer(method, status, &answer)
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
async fn file_token_login(
    upstream: &Upstream,
    namespace: &str,
    path: &Path,
) -> Result<Login, AuthError> {
    let token = Token::new(read_secret(path)?.as_str());
    match token_call(upstream, namespace, &token, TokenCall::Lookup).await? {
        TokenCheck::Valid { ttl } => Ok(Login {
            token,
            // Not vaultgate's to renew: no TTL, so the renewer schedules no refresh.
            ttl: None,
            renewable: false,
            accessor: None,
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
            accessor: None,
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

/// One AppRole login at `auth/<mount>/login` with credentials already in memory.
pub async fn approle_login(
    upstream: &Upstream,
    namespace: &str,
    mount: &str,
    role_id: &str,
    secret_id: &str,
) -> Result<Login, AuthError> {
    let body = json!({ "role_id": role_id, "secret_id": secret_id });
    let (status, answer) = upstream
        .call_json(
            Method::POST,
            &format!("/v1/auth/{mount}/login"),
            namespace,
            None,
            Some(&body),
        )
        .await?;
    auth_answer("approle", status, &answer)
}

/// What Vault said about a token the proxy holds.
#[derive(Debug)]
pub enum TokenCheck {
    /// Renewed (or looked up) fine; the TTL Vault now reports.
    Valid { ttl: Option<Duration> },
    /// Vault answered and refused the token (revoked, expired, or no permission).
    Rejected { status: u16, errors: String },
}

/// The token self-management calls vaultgate makes for a principal it holds.
#[derive(Debug, Clone, Copy)]
pub enum TokenCall {
    /// `auth/token/renew-self`.
    Renew,
    /// `auth/token/lookup-self`: tells a revoked token from a Vault-side policy denial.
    Lookup,
    /// `auth/token/revoke-self`.
    Revoke,
}

/// Makes one token call with `token` itself.
pub async fn token_call(
    upstream: &Upstream,
    namespace: &str,
    token: &Token,
    call: TokenCall,
) -> Result<TokenCheck, UpstreamError> {
    let (method, target, body) = match call {
        TokenCall::Renew => (Method::POST, "/v1/auth/token/renew-self", Some(json!({}))),
        TokenCall::Lookup => (Method::GET, "/v1/auth/token/lookup-self", None),
        TokenCall::Revoke => (Method::POST, "/v1/auth/token/revoke-self", Some(json!({}))),
    };
    let (status, answer) = upstream
        .call_json(method, target, namespace, Some(token), body.as_ref())
        .await?;
    let ttl = match call {
        TokenCall::Renew => &answer["auth"]["lease_duration"],
        TokenCall::Lookup => &answer["data"]["ttl"],
        TokenCall::Revoke => &Value::Null,
    };
    Ok(check(status, &answer, ttl))
}

/// `auth/token/revoke` of `child` with the issuer's token: issued child tokens usually carry
/// no right to revoke themselves, but whoever created them may.
pub async fn revoke_child(
    upstream: &Upstream,
    namespace: &str,
    issuer: &Token,
    child: &Token,
) -> Result<TokenCheck, UpstreamError> {
    let body = json!({ "token": child.expose() });
    let (status, answer) = upstream
        .call_json(
            Method::POST,
            "/v1/auth/token/revoke",
            namespace,
            Some(issuer),
            Some(&body),
        )
        .await?;
    Ok(check(status, &answer, &Value::Null))
}

fn check(status: http::StatusCode, answer: &Value, ttl: &Value) -> TokenCheck {
    if status.is_success() {
        TokenCheck::Valid {
            ttl: ttl.as_u64().filter(|s| *s > 0).map(Duration::from_secs),
        }
    } else {
        TokenCheck::Rejected {
            status: status.as_u16(),
            errors: vault_errors(answer),
        }
    }
}

/// Reads `auth.client_token`, `lease_duration` and `renewable` from a login answer.
fn auth_answer(
    method: &'static str,
    status: http::StatusCode,
    answer: &Value,
) -> Result<Login, AuthError> {
    if !status.is_success() {
        return Err(AuthError::Rejected {
            method,
            status: status.as_u16(),
            errors: vault_errors(answer),
        });
    }
    let auth = &answer["auth"];
    let token = auth["client_token"]
        .as_str()
        .filter(|t| !t.is_empty())
        .ok_or(AuthError::Malformed { method })?;
    Ok(Login {
        token: Token::new(token),
        ttl: auth["lease_duration"]
            .as_u64()
            .filter(|s| *s > 0)
            .map(Duration::from_secs),
        renewable: auth["renewable"].as_bool().unwrap_or(false),
        accessor: auth["accessor"]
            .as_str()
            .filter(|a| !a.is_empty())
            .map(str::to_owned),
        from_file: None,
    })
}

/// Vault's `{"errors":[...]}` joined into one line.
pub fn vault_errors(answer: &Value) -> String {
    match answer["errors"].as_array() {
        Some(list) if !list.is_empty() => list
            .iter()
            .map(|e| e.as_str().unwrap_or("?"))
            .collect::<Vec<_>>()
            .join("; "),
        _ => "no error text".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_answers_are_read_and_refusals_keep_vaults_words() {
        let ok =
            json!({"auth": {"client_token": "s.abc", "lease_duration": 60, "renewable": true}});
        let login = auth_answer("approle", http::StatusCode::OK, &ok).unwrap();
        assert_eq!(login.token.expose(), "s.abc");
        assert_eq!(login.ttl, Some(Duration::from_secs(60)));
        let refused = json!({"errors": ["invalid role or secret ID"]});
        let err = auth_answer("approle", http::StatusCode::BAD_REQUEST, &refused).unwrap_err();
        assert_eq!(
            err.to_string(),
            "approle login refused by Vault (400): invalid role or secret ID"
        );
        assert!(matches!(
            auth_answer("approle", http::StatusCode::OK, &json!({"auth": null})),
            Err(AuthError::Malformed { .. })
        ));
    }
}
