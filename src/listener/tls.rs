//! `ServerTls`: one listener's rustls `ServerConfig` (certificate, key, client CA), held in an
//! `ArcSwap` so SIGHUP or a change to the files swaps it for new connections without a
//! restart. A reload that fails keeps the configuration in force and says why.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use rustls::ServerConfig;
use serde_json::json;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use super::ListenerError;
use crate::audit::{AuditRecord, Auditor};
use crate::config::{ListenerConfig, ListenerIdentity, TlsFiles};
use crate::digest::Sha256Hex;
use crate::pem::{read_certs, read_key};
use crate::reload::{self, FileWatch};

/// The server TLS of one listener; the sole writer of its current `ServerConfig`.
pub struct ServerTls {
    files: TlsFiles,
    identity: ListenerIdentity,
    current: ArcSwap<ServerConfig>,
    /// SHA-256 of the file contents in force, so unrelated events in the folder are no-ops.
    digest: Mutex<String>,
    /// The listener's address, for log lines.
    label: String,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTls")
            .field("cert", &self.files.cert)
            .field("label", &self.label)
            .finish_non_exhaustive()
    }
}

impl ServerTls {
    /// The first load; `None` for a listener with `tls_disable`. An error stops startup.
    pub fn load(
        cfg: &ListenerConfig,
        label: &str,
    ) -> Result<Option<Arc<ServerTls>>, ListenerError> {
        let Some(files) = &cfg.tls else {
            return Ok(None);
        };
        let (config, digest) = build(files, &cfg.identity)?;
        tracing::info!(listener = label, cert = %files.cert.display(), key = %files.key.display(), "TLS certificate loaded");
        Ok(Some(Arc::new(ServerTls {
            files: files.clone(),
            identity: cfg.identity.clone(),
            current: ArcSwap::from_pointee(config),
            digest: Mutex::new(digest),
            label: label.to_owned(),
        })))
    }

    /// The acceptor for one new connection, with the configuration in force now.
    pub fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(self.current.load_full())
    }

    /// The files this listener's TLS is built from.
    fn watched_files(&self) -> Vec<PathBuf> {
        let mut files = vec![self.files.cert.clone(), self.files.key.clone()];
        if let ListenerIdentity::ClientCertificate { client_ca, .. } = &self.identity {
            files.push(client_ca.clone());
        }
        files
    }

    /// Re-reads the files; swaps in a new configuration when they changed and are valid.
    /// Returns whether anything changed. On error the configuration in force stays.
    pub fn reload(&self) -> Result<bool, ListenerError> {
        let (config, digest) = build(&self.files, &self.identity)?;
        let mut current = match self.digest.lock() {
            Ok(d) => d,
            Err(poisoned) => poisoned.into_inner(),
        };
        if *current == digest {
            return Ok(false);
        }
        self.current.store(Arc::new(config));
        *current = digest;
        Ok(true)
    }

    fn reload_logged(&self, auditor: &Auditor) {
        match self.reload() {
            Ok(false) => {}
            Ok(true) => {
                tracing::info!(listener = %self.label, cert = %self.files.cert.display(), "TLS certificate reloaded; new connections use it");
                auditor.event(AuditRecord::event(
                    "tls_reload",
                    json!({ "listener": self.label, "accepted": true }),
                ));
            }
            Err(e) => {
                tracing::error!(listener = %self.label, error = %e, "TLS reload rejected; the certificate in force stays");
                auditor.event(AuditRecord::event(
                    "tls_reload",
                    json!({ "listener": self.label, "accepted": false, "error": e.to_string() }),
                ));
            }
        }
    }

    /// Reloads on SIGHUP and on any change in the folders holding the files (watching the
    /// folders, not the files, survives editors and tools that replace a file by renaming).
    pub async fn watch(
        self: Arc<Self>,
        shutdown: CancellationToken,
        mut reloads: watch::Receiver<u64>,
        auditor: Auditor,
    ) {
        let mut dirs: Vec<PathBuf> = self
            .watched_files()
            .iter()
            .map(|f| f.parent().unwrap_or(Path::new(".")).to_owned())
            .collect();
        dirs.sort();
        dirs.dedup();
        let mut files = FileWatch::new(&dirs, false)
            .map_err(|e| tracing::warn!(listener = %self.label, error = %e, "cannot watch TLS files; reload with SIGHUP"))
            .ok();
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = reload::changed(&mut files) => {}
                r = reloads.changed() => match r {
                    Ok(()) => tracing::info!(listener = %self.label, "SIGHUP: reloading TLS certificates"),
                    Err(_) => return,
                },
            }
            self.reload_logged(&auditor);
        }
    }
}

/// Builds the server configuration from the files; returns it with the files' digest.
fn build(
    files: &TlsFiles,
    identity: &ListenerIdentity,
) -> Result<(ServerConfig, String), ListenerError> {
    let err = |file: &Path, problem: String| ListenerError::Tls {
        file: file.display().to_string(),
        problem,
    };
    let mut digest = Sha256Hex::default();
    let chain = read_certs(&files.cert)?;
    chain.iter().for_each(|c| digest.update(c.as_ref()));
    let key = read_key(&files.key)?;
    digest.update(key.secret_der());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| err(&files.cert, e.to_string()))?;
    let builder = match identity {
        ListenerIdentity::ClientCertificate { client_ca, .. } => {
            let mut roots = rustls::RootCertStore::empty();
            for c in read_certs(client_ca)? {
                digest.update(c.as_ref());
                roots.add(c).map_err(|e| err(client_ca, e.to_string()))?;
            }
            // A connection without a certificate is accepted so that its requests get a clear
            // Vault-style 403 instead of a bare TLS alert; one from another CA fails here.
            let verifier =
                rustls::server::WebPkiClientVerifier::builder_with_provider(roots.into(), provider)
                    .allow_unauthenticated()
                    .build()
                    .map_err(|e| err(client_ca, e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
        ListenerIdentity::Fixed(_) => builder.with_no_client_auth(),
    };
    let mut config = builder
        .with_single_cert(chain, key)
        .map_err(|e| err(&files.key, e.to_string()))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    // Reconnecting clients resume instead of paying a full handshake and chain check. The
    // sessions stay in this process (no ticket key to protect) and die with this config, so
    // a reload of the client CA is never bypassed by resumption. Sized for one per caller of
    // a large host (rustls' default is 256); an entry is about a client certificate's size.
    config.session_storage = rustls::server::ServerSessionMemoryCache::new(TLS_SESSIONS);
    Ok((config, digest.finish()))
}

/// TLS sessions kept for resumption per listener configuration.
const TLS_SESSIONS: usize = 1024;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Caller;

    fn listener(dir: &Path) -> ListenerConfig {
        ListenerConfig {
            bind: crate::config::Bind::Tcp(([127, 0, 0, 1], 0).into()),
            tls: Some(TlsFiles {
                cert: dir.join("localhost.pem"),
                key: dir.join("localhost-key.pem"),
            }),
            identity: ListenerIdentity::ClientCertificate {
                client_ca: dir.join("ca.pem"),
                trust_domain: None,
            },
        }
    }

    #[test]
    fn a_bad_certificate_keeps_the_one_in_force_and_a_good_one_replaces_it() {
        let dir = tempfile::tempdir().unwrap();
        let billing = Caller::parse("acme/billing").unwrap();
        crate::cli::certs::init(dir.path(), std::slice::from_ref(&billing), "t", &[]).unwrap();
        let tls = ServerTls::load(&listener(dir.path()), "test")
            .unwrap()
            .unwrap();
        let before = tls.current.load_full();
        assert!(!tls.reload().unwrap(), "unchanged files are not a change");

        let cert = dir.path().join("localhost.pem");
        let good = std::fs::read(&cert).unwrap();
        std::fs::write(&cert, "not a certificate").unwrap();
        let e = tls.reload().unwrap_err().to_string();
        assert!(e.contains("localhost.pem"), "{e}");
        assert!(Arc::ptr_eq(&before, &tls.current.load_full()));

        // A certificate that does not match the key in force is refused too.
        let other = tempfile::tempdir().unwrap();
        crate::cli::certs::init(other.path(), &[], "t", &[]).unwrap();
        std::fs::copy(other.path().join("localhost.pem"), &cert).unwrap();
        assert!(tls.reload().is_err());
        assert!(Arc::ptr_eq(&before, &tls.current.load_full()));

        std::fs::write(&cert, good).unwrap();
        crate::cli::certs::init(dir.path(), &[billing], "t", &["reloaded.test".into()]).unwrap();
        assert!(tls.reload().unwrap());
        assert!(!Arc::ptr_eq(&before, &tls.current.load_full()));

        // A new client CA is a change too (the verifier is part of the configuration).
        let reissued = tls.current.load_full();
        std::fs::copy(other.path().join("ca.pem"), dir.path().join("ca.pem")).unwrap();
        assert!(tls.reload().unwrap());
        assert!(!Arc::ptr_eq(&reissued, &tls.current.load_full()));
    }
}
