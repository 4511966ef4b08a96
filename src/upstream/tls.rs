//! The TLS client configuration towards Vault: the CA that signed its certificates and, for
//! mTLS, vaultgate's own certificate. Built at start (and for each cert login), so its
//! errors are their own type, not a request's.

use std::path::PathBuf;
use std::sync::Arc;

use crate::config::VaultConfig;
use crate::pem::{read_certs, read_key, PemError};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file that cannot be read or holds no usable PEM (the message names it).
    #[error(transparent)]
    Pem(#[from] PemError),
    /// rustls refused what the file holds (a CA it cannot use, a key that does not match).
    #[error("{}: {problem}", file.display())]
    Refused { file: PathBuf, problem: String },
    #[error("the TLS provider: {0}")]
    Provider(rustls::Error),
}

impl TlsError {
    /// The file the problem is in, when it is one file's.
    pub fn file(&self) -> Option<&std::path::Path> {
        match self {
            TlsError::Pem(
                PemError::Read { path, .. }
                | PemError::Malformed { path, .. }
                | PemError::NoCertificate { path }
                | PemError::NoKey { path },
            ) => Some(path),
            TlsError::Refused { file, .. } => Some(file),
            TlsError::Provider(_) => None,
        }
    }
}

pub(super) fn client_tls(cfg: &VaultConfig) -> Result<rustls::ClientConfig, TlsError> {
    let refused = |file: &PathBuf, e: rustls::Error| TlsError::Refused {
        file: file.clone(),
        problem: e.to_string(),
    };
    let mut roots = rustls::RootCertStore::empty();
    if let Some(ca) = &cfg.ca_cert {
        for cert in read_certs(ca)? {
            roots.add(cert).map_err(|e| refused(ca, e))?;
        }
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(TlsError::Provider)?
    .with_root_certificates(roots);
    match &cfg.client_identity {
        None => Ok(builder.with_no_client_auth()),
        Some((cert, key)) => {
            let chain = read_certs(cert)?;
            let key = read_key(key)?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| refused(cert, e))
        }
    }
}
