//! Logging a service's `Principal` in to Vault: AppRole, token files, JWT and issued tokens
//! here, AWS IAM and TLS certificates in their own files. Secret ids and tokens are read
//! into zeroizing buffers and never appear in an error.

pub mod aws;
pub mod cert;
mod file;

use file::file_token_login;
pub use file::{log_login, FileToken};

use std::path::{Path, PathBuf};
use std::time::Duration;

use http::Method;
use serde_json::{json, Value};
use zeroize::Zeroizing;

use crate::config::AuthConfig;
use crate::identity::Caller;
use crate::upstream::{Upstream, UpstreamError};
use crate::vault::token::{Accessor, Token};

/// A successful login.
#[derive(Debug)]
pub struct Login {
    pub token: Token,
    /// The token's TTL as Vault reported it; `None` for token files (not looked up).
    pub ttl: Option<Duration>,
    pub renewable: bool,
    /// For a token someone else provides in a file: which file, and what Vault said of it.
    pub from_file: Option<FileToken>,
    /// The client renewals must go through, when not the shared one: Vault renews a cert
    /// login's token only over a connection presenting the certificate that logged in.
    pub renew_via: Option<Upstream>,
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
    #[error(
        "aws login refused by Vault ({status}): {errors} — {}",
        if *sent {
            format!("header_value must equal iam_server_id_header_value of auth/{mount}/config/client")
        } else {
            format!("auth/{mount}/config/client sets iam_server_id_header_value: set header_value to it")
        }
    )]
    AwsServerId {
        status: u16,
        errors: String,
        /// Whether a header value was configured (and sent) at all.
        sent: bool,
        mount: String,
    },
    #[error("no AWS credentials: {problem}")]
    AwsCredentials { problem: String },
    #[error("cannot sign the aws login request: {0}")]
    AwsSigning(String),
    #[error("cannot use the client certificate {file}: {problem}")]
    ClientCertificate { file: String, problem: String },
    #[error("cert login with {} refused by Vault ({status}): {errors}", file.display())]
    CertRefused {
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
        AuthConfig::Aws(config) => return aws::login(upstream, namespace, config).await,
        AuthConfig::Cert(config) => return cert::login(upstream, namespace, config).await,
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
    /// Renewed (or looked up) fine; the TTL and the accessor Vault now reports.
    Valid {
        ttl: Option<Duration>,
        accessor: Option<Accessor>,
    },
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
    let (ttl, accessor) = match call {
        TokenCall::Renew => (
            &answer["auth"]["lease_duration"],
            &answer["auth"]["accessor"],
        ),
        TokenCall::Lookup => (&answer["data"]["ttl"], &answer["data"]["accessor"]),
        TokenCall::Revoke => (&Value::Null, &Value::Null),
    };
    Ok(check(status, &answer, ttl, accessor))
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
    Ok(check(status, &answer, &Value::Null, &Value::Null))
}

fn check(status: http::StatusCode, answer: &Value, ttl: &Value, accessor: &Value) -> TokenCheck {
    if status.is_success() {
        TokenCheck::Valid {
            ttl: ttl.as_u64().filter(|s| *s > 0).map(Duration::from_secs),
            accessor: Accessor::from_field(accessor),
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
        token: Token::new(token).with_accessor(Accessor::from_field(&auth["accessor"])),
        ttl: auth["lease_duration"]
            .as_u64()
            .filter(|s| *s > 0)
            .map(Duration::from_secs),
        renewable: auth["renewable"].as_bool().unwrap_or(false),
        from_file: None,
        renew_via: None,
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
