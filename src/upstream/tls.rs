//! The TLS client configuration towards Vault: the CA that signed its certificates and, for
//! mTLS, vaultgate's own certificate.

use std::sync::Arc;

use super::UpstreamError;
use crate::config::VaultConfig;

pub(super) fn client_tls(cfg: &VaultConfig) -> Result<rustls::ClientConfig, UpstreamError> {
    let mut roots = rustls::RootCertStore::empty();
    if let Some(ca) = &cfg.ca_cert {
        for cert in crate::listener::read_certs(ca).map_err(|problem| UpstreamError::Tls {
            file: ca.display().to_string(),
            problem,
        })? {
            roots.add(cert).map_err(|e| UpstreamError::Tls {
                file: ca.display().to_string(),
                problem: e.to_string(),
            })?;
        }
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| UpstreamError::Tls {
        file: "<provider>".into(),
        problem: e.to_string(),
    })?
    .with_root_certificates(roots);
    match &cfg.client_identity {
        None => Ok(builder.with_no_client_auth()),
        Some((cert, key)) => {
            let tls_err = |problem: String| UpstreamError::Tls {
                file: cert.display().to_string(),
                problem,
            };
            let chain = crate::listener::read_certs(cert).map_err(tls_err)?;
            let key = crate::listener::read_key(key).map_err(|problem| UpstreamError::Tls {
                file: key.display().to_string(),
                problem,
            })?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| tls_err(e.to_string()))
        }
    }
}
