//! `auth = "cert"` (Vault's cert auth method): the login's TLS connection presents the
//! principal's client certificate, read from its files at each login so replaced files count.
//! Vault renews such a token only for the same certificate, so renewals use that connection.

use http::Method;
use serde_json::json;

use super::{auth_answer, AuthError, Login};
use crate::config::CertLogin;
use crate::upstream::{Upstream, UpstreamError};

/// Logs in once at `auth/<mount>/login`, with the role as `name` when one is configured.
pub async fn login(
    upstream: &Upstream,
    namespace: &str,
    cert: &CertLogin,
) -> Result<Login, AuthError> {
    let via = upstream
        .presenting(&cert.client_cert, &cert.client_key)
        .map_err(|e| match e {
            UpstreamError::Tls { file, problem } => AuthError::ClientCertificate { file, problem },
            other => AuthError::Upstream(other),
        })?;
    let body = match &cert.role {
        Some(role) => json!({ "name": role }),
        None => json!({}),
    };
    let target = format!("/v1/auth/{}/login", cert.mount);
    let (status, answer) = via
        .call_json(Method::POST, &target, namespace, None, Some(&body))
        .await?;
    let mut login = auth_answer("cert", status, &answer).map_err(|e| match e {
        AuthError::Rejected { status, errors, .. } => AuthError::CertRefused {
            file: cert.client_cert.clone(),
            status,
            errors,
        },
        other => other,
    })?;
    login.renew_via = Some(via);
    Ok(login)
}
