//! The audit writer: one thread that owns the sinks, writes records in batches, and tells
//! each waiting request whether at least one sink accepted its record.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::sync::mpsc;

use super::{AuditError, Entry};

/// Where records go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SinkConfig {
    /// Appended to; reopened on SIGHUP (logrotate) and after a failed write.
    File(PathBuf),
    Stdout,
}

enum Sink {
    File { path: PathBuf, file: Option<File> },
    Stdout,
}

impl Sink {
    fn name(&self) -> String {
        match self {
            Sink::File { path, .. } => path.display().to_string(),
            Sink::Stdout => "stdout".to_owned(),
        }
    }

    fn write(&mut self, batch: &[u8]) -> std::io::Result<()> {
        match self {
            Sink::Stdout => {
                let mut out = std::io::stdout().lock();
                out.write_all(batch)?;
                out.flush()
            }
            Sink::File { path, file } => {
                if file.is_none() {
                    *file = Some(open(path)?);
                }
                let result = match file.as_mut() {
                    Some(f) => f.write_all(batch).and_then(|()| f.flush()),
                    None => Ok(()),
                };
                if result.is_err() {
                    // Reopen next time: the file may have been replaced or the disk freed.
                    *file = None;
                }
                result
            }
        }
    }
}

fn open(path: &PathBuf) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
}

/// At most this many records are written in one batch.
const BATCH: usize = 512;

pub(super) fn spawn(
    configs: Vec<SinkConfig>,
    mut rx: mpsc::Receiver<Entry>,
    reopen: Arc<AtomicBool>,
) -> Result<(), AuditError> {
    let mut sinks = Vec::new();
    for c in configs {
        sinks.push(match c {
            SinkConfig::Stdout => Sink::Stdout,
            SinkConfig::File(path) => {
                // Opened now so that a wrong path stops startup with a clear error.
                let file = open(&path).map_err(|source| AuditError::Sink {
                    sink: path.display().to_string(),
                    source,
                })?;
                Sink::File {
                    path,
                    file: Some(file),
                }
            }
        });
    }
    std::thread::Builder::new()
        .name("audit-writer".into())
        .spawn(move || {
            let mut batch = Vec::with_capacity(BATCH);
            // Ends when every Auditor handle is gone, after writing what was queued.
            while let Some(first) = rx.blocking_recv() {
                batch.push(first);
                while batch.len() < BATCH {
                    match rx.try_recv() {
                        Ok(e) => batch.push(e),
                        Err(_) => break,
                    }
                }
                if reopen.swap(false, Ordering::Relaxed) {
                    for sink in &mut sinks {
                        if let Sink::File { file, .. } = sink {
                            *file = None;
                        }
                    }
                }
                let bytes: Vec<u8> = batch.iter().flat_map(|e| e.line.iter().copied()).collect();
                let mut accepted = false;
                for sink in &mut sinks {
                    match sink.write(&bytes) {
                        Ok(()) => accepted = true,
                        Err(e) => {
                            tracing::error!(sink = %sink.name(), error = %e, "audit sink failed")
                        }
                    }
                }
                for entry in batch.drain(..) {
                    if let Some(tx) = entry.accepted {
                        let _ = tx.send(accepted);
                    }
                }
            }
        })
        .map_err(|source| AuditError::Sink {
            sink: "writer thread".into(),
            source,
        })?;
    Ok(())
}
