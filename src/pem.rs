//! PEM files: the certificate chains and private keys of every TLS endpoint (listeners, the
//! client towards Vault, test and CLI tooling), read with rustls' own PEM parser.

use std::path::{Path, PathBuf};

use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

#[derive(Debug, thiserror::Error)]
pub enum PemError {
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: not a PEM file: {reason}", path.display())]
    Malformed { path: PathBuf, reason: String },
    #[error("{}: contains no PEM certificate", path.display())]
    NoCertificate { path: PathBuf },
    #[error("{}: contains no PEM private key", path.display())]
    NoKey { path: PathBuf },
}

impl PemError {
    fn from_pem(path: &Path, e: pem::Error) -> PemError {
        match e {
            pem::Error::Io(source) => PemError::Read {
                path: path.to_owned(),
                source,
            },
            pem::Error::NoItemsFound => PemError::NoKey {
                path: path.to_owned(),
            },
            other => PemError::Malformed {
                path: path.to_owned(),
                reason: other.to_string(),
            },
        }
    }
}

/// Every certificate in a PEM file, in order; at least one.
pub fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, PemError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| PemError::from_pem(path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| PemError::from_pem(path, e))?;
    if certs.is_empty() {
        return Err(PemError::NoCertificate {
            path: path.to_owned(),
        });
    }
    Ok(certs)
}

/// The first private key of a PEM file (PKCS#8, PKCS#1 or SEC1).
pub fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, PemError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| PemError::from_pem(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_file_once_and_say_what_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "nothing here\n").unwrap();
        let e = read_certs(&empty).unwrap_err().to_string();
        assert!(e.ends_with("contains no PEM certificate"), "{e}");
        assert_eq!(e.matches("empty.pem").count(), 1, "{e}");
        let e = read_key(&empty).unwrap_err().to_string();
        assert!(e.ends_with("contains no PEM private key"), "{e}");
        let e = read_key(&dir.path().join("missing.pem")).unwrap_err();
        assert!(matches!(e, PemError::Read { .. }), "{e}");
    }

    #[test]
    fn a_chain_and_its_key_are_read() {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["x".to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (c, k) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
        std::fs::write(&c, cert.pem().repeat(2)).unwrap();
        std::fs::write(&k, key.serialize_pem()).unwrap();
        assert_eq!(read_certs(&c).unwrap().len(), 2);
        assert!(read_key(&k).is_ok());
    }
}
