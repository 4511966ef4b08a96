//! The TLS client configuration towards Vault: the CA that signed its certificates and, for
//! mTLS, vaultgate's own certificate.

use std::sync::Arc;

use super::UpstreamError;
use crate::config::VaultConfig;
use crate::pem::{read_certs, read_key, PemError};

fn tls_file(e: PemError) -> UpstreamError {
    UpstreamError::Tls {
        file: "PEM".into(),
        problem: e.to_string(),
    }
}

pub(super) fn client_tls(cfg: &VaultConfig) -> Result<rustls::ClientConfig, UpstreamError> {
    let mut roots = rustls::RootCertStore::empty();
    if let Some(ca) = &cfg.ca_cert {
        for cert in read_certs(ca).map_err(tls_file)? {
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
            let chain = read_certs(cert).map_err(tls_file)?;
            let key = read_key(key).map_err(tls_file)?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| tls_err(e.to_string()))
        }
    }
}
