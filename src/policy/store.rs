//! `PolicyStore`: the one owner of the current `PolicySet`. It reloads the policy directory
//! on file changes and on SIGHUP, swaps the whole set atomically (requests in flight keep the
//! snapshot they took), and keeps the last good set when a reload fails.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use arc_swap::{ArcSwap, Guard};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::{PolicyError, PolicySet};
use crate::audit::{AuditRecord, Auditor};
use crate::identity::Caller;
use crate::reload::{self, FileWatch};
use serde_json::json;

/// What the last reloads did, for logs, readiness and metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReloadStatus {
    pub accepted: u64,
    pub rejected: u64,
    /// The error of the last reload, if it failed (the set in force is older).
    pub last_error: Option<String>,
    pub digest: String,
}

#[derive(Debug)]
pub struct PolicyStore {
    current: ArcSwap<PolicySet>,
    dir: PathBuf,
    callers: Vec<Caller>,
    status: Mutex<ReloadStatus>,
}

impl PolicyStore {
    /// The first load: an error here stops startup, since there is no good set to keep.
    pub fn load(dir: &Path, callers: &[Caller]) -> Result<PolicyStore, PolicyError> {
        let set = PolicySet::load(dir, callers)?;
        let status = ReloadStatus {
            digest: set.digest().to_owned(),
            ..ReloadStatus::default()
        };
        Ok(PolicyStore {
            current: ArcSwap::from_pointee(set),
            dir: dir.to_owned(),
            callers: callers.to_vec(),
            status: Mutex::new(status),
        })
    }

    /// The set to decide one request with; cheap, lock-free.
    pub fn snapshot(&self) -> Guard<Arc<PolicySet>> {
        self.current.load()
    }

    pub fn status(&self) -> ReloadStatus {
        self.status.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Re-reads the directory; on success swaps the set in, on failure keeps the old one.
    pub fn reload(&self) -> Result<(), PolicyError> {
        self.reload_audited(&Auditor::disabled())
    }

    fn reload_audited(&self, auditor: &Auditor) -> Result<(), PolicyError> {
        let result = PolicySet::load(&self.dir, &self.callers);
        let mut status = match self.status.lock() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        match result {
            Ok(set) => {
                let changed = set.digest() != status.digest;
                status.accepted += 1;
                status.last_error = None;
                status.digest = set.digest().to_owned();
                self.current.store(Arc::new(set));
                tracing::info!(digest = %status.digest, changed, "policy reload accepted");
                auditor.event(AuditRecord::event(
                    "policy_reload",
                    json!({ "accepted": true, "digest": status.digest, "changed": changed }),
                ));
                Ok(())
            }
            Err(e) => {
                status.rejected += 1;
                status.last_error = Some(e.to_string());
                tracing::error!(error = %e, digest = %status.digest, "policy reload rejected; the last good set stays in force");
                auditor.event(AuditRecord::event(
                    "policy_reload",
                    json!({ "accepted": false, "error": e.to_string(), "digest": status.digest }),
                ));
                Err(e)
            }
        }
    }

    /// Reloads on every change below the policy directory and on each reload notice
    /// (SIGHUP), until shutdown.
    pub async fn watch(
        self: Arc<Self>,
        shutdown: CancellationToken,
        mut reloads: watch::Receiver<u64>,
        auditor: Auditor,
    ) {
        // Without a watcher (e.g. inotify limits) SIGHUP still works; say so once.
        let mut files = FileWatch::new(std::slice::from_ref(&self.dir), true)
            .map_err(|e| tracing::warn!(error = %e, "cannot watch policies; reload with SIGHUP"))
            .ok();
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = reload::changed(&mut files) => {}
                r = reloads.changed() => if r.is_err() { return },
            }
            let _ = self.reload_audited(&auditor);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broken_reload_keeps_the_last_good_set() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("acme.hcl");
        std::fs::write(&file, "path \"secret/a\" { capabilities = [\"read\"] }\n").unwrap();
        let caller = Caller::parse("acme/billing").unwrap();
        let store = PolicyStore::load(dir.path(), &[caller]).unwrap();
        let good = store.status().digest;

        std::fs::write(
            &file,
            "path \"secret/a\" {\n  capabilities = [\"READ\"]\n}\n",
        )
        .unwrap();
        let err = store.reload().unwrap_err().to_string();
        assert!(err.contains("acme.hcl:2"), "{err}");
        let status = store.status();
        assert_eq!((status.accepted, status.rejected), (0, 1));
        assert_eq!(status.digest, good);
        assert_eq!(store.snapshot().digest(), good);

        std::fs::write(&file, "path \"secret/b\" { capabilities = [\"read\"] }\n").unwrap();
        store.reload().unwrap();
        let status = store.status();
        assert_eq!((status.accepted, status.last_error), (1, None));
        assert_ne!(status.digest, good);
    }
}
