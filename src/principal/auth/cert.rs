//! `auth = "cert"` (Vault's cert auth method): the login's TLS connection presents the
//! principal's client certificate, read from its files at each login so replaced files count.
//! Vault renews such a token only for the same certificate, so renewals use that connection.

use http::Method;
use serde_json::json;

use super::{auth_answer, AuthError, Login};
use crate::config::CertLogin;
use crate::upstream::Upstream;

/// Logs in once at `auth/<mount>/login`, with the role as `name` when one is configured.
pub async fn login(
    upstream: &Upstream,
    namespace: &str,
    cert: &CertLogin,
) -> Result<Login, AuthError> {
    let via = upstream
        .presenting(&cert.client_cert, &cert.client_key)
        .map_err(|e| AuthError::ClientCertificate {
            file: e.file().unwrap_or(&cert.client_cert).display().to_string(),
            problem: e.to_string(),
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::VaultConfig;
    use crate::vault::token::Token;

    #[test]
    fn a_login_holding_the_certificates_connection_shows_no_key_material_in_debug() {
        let dir = tempfile::tempdir().unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let (cert_file, key_file) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
        std::fs::write(&cert_file, cert.pem()).unwrap();
        std::fs::write(&key_file, key.serialize_pem()).unwrap();
        let upstream = Upstream::new(&VaultConfig {
            addresses: vec!["https://127.0.0.1:8200".into()],
            cluster: false,
            ca_cert: Some(cert_file.clone()),
            client_identity: None,
            timeout: Duration::from_secs(1),
            connect_timeout: Duration::from_secs(1),
            namespaces: Vec::new(),
        })
        .unwrap();
        let login = Login {
            token: Token::new("s.cert-token-value"),
            ttl: None,
            renewable: true,
            from_file: None,
            renew_via: Some(upstream.presenting(&cert_file, &key_file).unwrap()),
        };
        let shown = format!("{login:?} {login:#?}");
        let der = key.serialize_der();
        // The key as PEM lines, as a byte list (derived Debug of a Vec<u8>) and as hex.
        let pem = key.serialize_pem();
        let body_line = pem.lines().nth(1).unwrap();
        let bytes = format!("{:?}", &der[..16]);
        let bytes = bytes.trim_end_matches(']');
        let hex: String = der[..16].iter().map(|b| format!("{b:02x}")).collect();
        assert!(!shown.contains(body_line), "{shown}");
        assert!(!shown.contains(bytes), "{shown}");
        assert!(!shown.contains(&hex), "{shown}");
        assert!(!shown.contains("cert-token-value"), "{shown}");
    }
}
