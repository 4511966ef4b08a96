//! The audit writer: one thread that owns the sinks, writes records in batches, and tells
//! each waiting request whether at least one sink accepted its record.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::sync::mpsc;

use super::file::{FileSink, FileSinkConfig};
use super::network::{NetworkSink, NetworkSinkConfig, SpillHandle};
use super::syslog::SyslogSinkConfig;
use super::{AuditError, Entry};

/// Where records go. Several at once: a record is accepted when at least one took it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SinkConfig {
    /// Appended to; reopened on SIGHUP (logrotate) and after a failed write; optionally
    /// rotated by size.
    File(FileSinkConfig),
    Stdout,
    /// JSON lines to a collector, through a bounded spill.
    Network(NetworkSinkConfig),
    /// Each record as an RFC 5424 message to a syslog collector, through a bounded spill.
    Syslog(SyslogSinkConfig),
}

enum Sink {
    File(FileSink),
    Stdout,
    Network(NetworkSink),
}

impl Sink {
    fn name(&self) -> String {
        match self {
            Sink::File(f) => f.name(),
            Sink::Stdout => "stdout".to_owned(),
            Sink::Network(n) => n.name(),
        }
    }

    fn write(&mut self, batch: &[u8]) -> std::io::Result<()> {
        match self {
            Sink::Stdout => {
                use std::io::Write;
                let mut out = std::io::stdout().lock();
                out.write_all(batch)?;
                out.flush()
            }
            Sink::File(f) => f.write(batch),
            Sink::Network(n) => n.write(batch),
        }
    }
}

/// At most this many records are written in one batch.
const BATCH: usize = 512;

pub(super) fn spawn(
    configs: Vec<SinkConfig>,
    mut rx: mpsc::Receiver<Entry>,
    reopen: Arc<AtomicBool>,
) -> Result<Vec<SpillHandle>, AuditError> {
    let mut sinks = Vec::new();
    for c in configs {
        let name = match &c {
            SinkConfig::File(f) => f.path.display().to_string(),
            SinkConfig::Stdout => "stdout".into(),
            SinkConfig::Network(n) => n.target.to_string(),
            SinkConfig::Syslog(s) => s.target.to_string(),
        };
        let sink = match c {
            SinkConfig::Stdout => Ok(Sink::Stdout),
            SinkConfig::File(f) => FileSink::open(f).map(Sink::File),
            SinkConfig::Network(n) => NetworkSink::start(n).map(Sink::Network),
            SinkConfig::Syslog(s) => NetworkSink::start_syslog(&s).map(Sink::Network),
        };
        sinks.push(sink.map_err(|source| AuditError::Sink { sink: name, source })?);
    }
    let spills = sinks
        .iter()
        .filter_map(|s| match s {
            Sink::Network(n) => Some(n.spill()),
            _ => None,
        })
        .collect();
    std::thread::Builder::new()
        .name("audit-writer".into())
        .spawn(move || {
            let mut batch = Vec::with_capacity(BATCH);
            // Reused across batches: the lines are copied in whole, not byte by byte.
            let mut bytes: Vec<u8> = Vec::new();
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
                        if let Sink::File(f) = sink {
                            f.reopen();
                        }
                    }
                }
                bytes.clear();
                for entry in &batch {
                    bytes.extend_from_slice(&entry.line);
                }
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
    Ok(spills)
}
