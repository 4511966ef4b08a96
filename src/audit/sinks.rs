//! The sinks a batch of records is written to: opened at start, then written by whoever holds
//! the journal's writer role; a batch counts as accepted when at least one sink took it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::file::{FileSink, FileSinkConfig};
use super::network::{NetworkSink, NetworkSinkConfig, SpillHandle};
use super::syslog::SyslogSinkConfig;
use super::AuditError;

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

/// Every configured sink, and the buffer the writer swaps with the journal's open batch.
pub(super) struct Sinks {
    sinks: Vec<Sink>,
    reopen: Arc<AtomicBool>,
    /// The batch being written; swapped with the open one so neither is reallocated.
    pub(super) batch: Vec<u8>,
}

impl Sinks {
    /// Opens every sink now, so that a wrong path or address stops startup with a clear error.
    pub(super) fn open(
        configs: &[SinkConfig],
        reopen: Arc<AtomicBool>,
    ) -> Result<(Sinks, Vec<SpillHandle>), AuditError> {
        let mut sinks = Vec::new();
        for c in configs {
            let name = match c {
                SinkConfig::File(f) => f.path.display().to_string(),
                SinkConfig::Stdout => "stdout".into(),
                SinkConfig::Network(n) => n.target.to_string(),
                SinkConfig::Syslog(s) => s.target.to_string(),
            };
            let sink = match c {
                SinkConfig::Stdout => Ok(Sink::Stdout),
                SinkConfig::File(f) => FileSink::open(f.clone()).map(Sink::File),
                SinkConfig::Network(n) => NetworkSink::start(n.clone()).map(Sink::Network),
                SinkConfig::Syslog(s) => NetworkSink::start_syslog(s).map(Sink::Network),
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
        let sinks = Sinks {
            sinks,
            reopen,
            batch: Vec::new(),
        };
        Ok((sinks, spills))
    }

    /// Whether writing `len` more bytes may hold the thread for long: a sync to disk, a
    /// rotation, or stdout (a pipe whose reader may be slow). Such a batch is written on a
    /// blocking thread, not on the one serving requests.
    pub(super) fn may_block(&self, len: usize) -> bool {
        self.sinks.iter().any(|s| match s {
            Sink::File(f) => f.may_block(len),
            Sink::Stdout => true,
            Sink::Network(_) => false,
        })
    }

    /// Writes `self.batch` to every sink (one write each); `true` when at least one took it.
    pub(super) fn write_batch(&mut self) -> bool {
        if self.reopen.swap(false, Ordering::Relaxed) {
            for sink in &mut self.sinks {
                if let Sink::File(f) = sink {
                    f.reopen();
                }
            }
        }
        if self.batch.is_empty() {
            // A flush marker: nothing to write, and every earlier batch is done.
            return true;
        }
        let mut accepted = false;
        for sink in &mut self.sinks {
            match sink.write(&self.batch) {
                Ok(()) => accepted = true,
                Err(e) => tracing::error!(sink = %sink.name(), error = %e, "audit sink failed"),
            }
        }
        accepted
    }
}
