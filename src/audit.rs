//! Audit: one JSON line per request and per lifecycle event, with no secret in it. Tokens
//! appear only as HMAC-SHA256 under a per-installation key; records are group-committed
//! (`journal`), and a request's answer waits until its record was accepted (fail closed).

mod file;
mod journal;
mod network;
mod request;
mod sinks;
mod syslog;
mod transport;

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ring::hmac;
use serde::Serialize;
use serde_json::Value;

use journal::{Appended, Journal, Written};

pub use file::{numbered as rotated_path, FileSinkConfig, Fsync};
pub use network::{NetworkSinkConfig, NetworkTarget};
pub use request::{
    CallerPart, DecisionPart, ErrorPart, LeasePart, OperationPart, RequestRecord, ResponsePart,
    RulePart, Shown, UpstreamPart,
};
pub use sinks::SinkConfig;
pub use syslog::{facility as syslog_facility, valid_tag as valid_syslog_tag};
pub use syslog::{SyslogSinkConfig, SyslogTarget, SyslogTls};

/// Bumped whenever a field changes meaning or disappears (docs/audit.md).
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("audit HMAC key {file}: {problem}")]
    Key { file: PathBuf, problem: String },
    #[error("audit sink {sink}: {source}")]
    Sink {
        sink: String,
        source: std::io::Error,
    },
}

/// One audit line. Optional parts are left out when they do not apply.
#[derive(Debug, Default, Serialize)]
pub struct AuditRecord {
    pub version: u32,
    pub time: String,
    /// `request` or `event`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caller: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_us: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event: Option<Value>,
}

impl AuditRecord {
    pub fn request(request_id: String) -> AuditRecord {
        AuditRecord {
            version: SCHEMA_VERSION,
            time: now_rfc3339(),
            kind: "request",
            request_id: Some(request_id),
            ..AuditRecord::default()
        }
    }

    /// A lifecycle event: `name` such as `login`, `renewal`, `revocation`, `policy_reload`.
    pub fn event(name: &str, detail: Value) -> AuditRecord {
        let mut event = serde_json::json!({ "name": name });
        if let (Some(e), Value::Object(d)) = (event.as_object_mut(), detail) {
            e.extend(d);
        }
        AuditRecord {
            version: SCHEMA_VERSION,
            time: now_rfc3339(),
            kind: "event",
            event: Some(event),
            ..AuditRecord::default()
        }
    }
}

/// The record's `time`: RFC 3339 in UTC.
pub fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc();
    now.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| now.unix_timestamp().to_string())
}

/// The handle every task records through. Cheap to clone.
#[derive(Clone)]
pub struct Auditor {
    journal: Option<Arc<Journal>>,
    key: Arc<hmac::Key>,
    fail_closed: bool,
    ids: Arc<AtomicU64>,
    id_prefix: Arc<str>,
    reopen: Arc<AtomicBool>,
    /// The network sinks' spills, watched by `flush` at shutdown.
    spills: Arc<[network::SpillHandle]>,
}

impl std::fmt::Debug for Auditor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auditor")
            .field("enabled", &self.journal.is_some())
            .field("fail_closed", &self.fail_closed)
            .finish()
    }
}

/// How long a request waits for its record to be accepted before it is refused.
const ACCEPT_TIMEOUT: Duration = Duration::from_secs(5);

thread_local! {
    /// Each thread serializes records into one reused buffer (a typical request line is about
    /// 700 bytes); the journal copies the line, so no allocation is made per record.
    static LINE: RefCell<Vec<u8>> = RefCell::new(Vec::with_capacity(1024));
}

impl Auditor {
    /// Opens `sinks` (none: auditing is off and `record` always accepts). The HMAC key file
    /// is created with a fresh random key when absent.
    pub fn start(
        sinks: &[SinkConfig],
        key_file: &Path,
        fail_closed: bool,
    ) -> Result<Auditor, AuditError> {
        let key = load_or_create_key(key_file)?;
        let reopen = Arc::new(AtomicBool::new(false));
        let (journal, spills) = if sinks.is_empty() {
            (None, Vec::new())
        } else {
            let (sinks, spills) = sinks::Sinks::open(sinks, reopen.clone())?;
            (Some(Arc::new(Journal::new(sinks))), spills)
        };
        let mut prefix = [0u8; 4];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut prefix).map_err(
            |_| AuditError::Key {
                file: key_file.to_owned(),
                problem: "no randomness available".into(),
            },
        )?;
        Ok(Auditor {
            journal,
            key: Arc::new(key),
            fail_closed,
            ids: Arc::new(AtomicU64::new(0)),
            id_prefix: crate::digest::hex(&prefix).into(),
            reopen,
            spills: spills.into(),
        })
    }

    /// An auditor that records nothing (for tools and tests that run no sinks).
    pub fn disabled() -> Auditor {
        Auditor {
            journal: None,
            key: Arc::new(hmac::Key::new(hmac::HMAC_SHA256, b"disabled")),
            fail_closed: false,
            ids: Arc::new(AtomicU64::new(0)),
            id_prefix: "0".into(),
            reopen: Arc::new(AtomicBool::new(false)),
            spills: Arc::new([]),
        }
    }

    /// Whether any sink receives records (otherwise records need not be built).
    pub fn enabled(&self) -> bool {
        self.journal.is_some()
    }

    /// A request id unique to this process run: random prefix + counter.
    pub fn next_request_id(&self) -> String {
        let n = self.ids.fetch_add(1, Ordering::Relaxed);
        format!("{}-{n:08x}", self.id_prefix)
    }

    /// `hmac-sha256:<hex>` of a secret, for correlation without disclosure (as Vault does).
    pub fn hmac(&self, secret: &str) -> String {
        let tag = hmac::sign(&self.key, secret.as_bytes());
        let mut out = String::with_capacity(12 + 64);
        out.push_str("hmac-sha256:");
        out.push_str(&crate::digest::hex(tag.as_ref()));
        out
    }

    /// Asks file sinks to reopen their files (after logrotate moved them; SIGHUP).
    pub fn reopen(&self) {
        self.reopen.store(true, Ordering::Relaxed);
    }

    /// Records waiting to be written, and records or events no sink accepted so far.
    pub fn stats(&self) -> (usize, u64) {
        self.journal
            .as_ref()
            .map_or((0, 0), |j| (j.depth(), j.failures()))
    }

    /// Records and waits until a sink accepted the line. `false` means the request must not
    /// be answered normally (fail closed); with `fail_closed = false` it is always `true`.
    pub async fn record<R: Serialize>(&self, record: &R) -> bool {
        let Some(journal) = &self.journal else {
            return true;
        };
        let appended = LINE.with_borrow_mut(|line| {
            line.clear();
            serde_json::to_writer(&mut *line, record).ok()?;
            line.push(b'\n');
            // A full batch is rare: only then is the line copied, to append it again later.
            Some(match journal.append(line, true) {
                Appended::Full(outcome) => Err((outcome, line.clone())),
                appended => Ok(appended),
            })
        });
        // `None`: never written (not serializable, or no outcome in time); a batch no sink
        // accepted was counted as failed by its writer.
        let accepted = match appended {
            None => None,
            Some(Ok(Appended::Write(writer))) => match journal.write_inline(writer) {
                Written::Done(accepted) => Some(accepted),
                Written::Pending(outcome) => settled(&outcome).await,
            },
            Some(Ok(Appended::Wait(outcome))) => settled(&outcome).await,
            Some(Ok(Appended::Queued | Appended::Refused | Appended::Full(_))) => None,
            Some(Err((outcome, line))) => commit(journal, outcome, &line).await,
        };
        if accepted.is_none() {
            journal.failed(1);
        }
        accepted == Some(true) || !self.fail_closed
    }

    /// At shutdown: waits until every record appended so far was written and the network
    /// sinks' collectors took their spills, for at most `limit`. `false` if time ran out.
    pub async fn flush(&self, limit: Duration) -> bool {
        let Some(journal) = &self.journal else {
            return true;
        };
        let flushed = tokio::time::timeout(limit, async {
            // An empty line is a marker: batches are written in order, so once its batch
            // is done, so is every earlier one.
            let outcome = match journal.append(&[], true) {
                Appended::Write(writer) => match journal.write_inline(writer) {
                    Written::Done(_) => None,
                    Written::Pending(outcome) => Some(outcome),
                },
                Appended::Wait(outcome) => Some(outcome),
                Appended::Full(outcome) => {
                    outcome.accepted().await;
                    // Anything appended before this point was in that batch or an earlier one.
                    None
                }
                Appended::Queued | Appended::Refused => None,
            };
            if let Some(outcome) = outcome {
                outcome.accepted().await;
            }
            // Bounded by the timeout around it.
            while !self.spills.iter().all(network::SpillHandle::is_empty) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        flushed.is_ok()
    }

    /// Records a lifecycle event without waiting (the event has no caller to hold back).
    pub fn event(&self, record: AuditRecord) {
        let Some(journal) = &self.journal else {
            return;
        };
        let appended = LINE.with_borrow_mut(|line| {
            line.clear();
            serde_json::to_writer(&mut *line, &record).ok()?;
            line.push(b'\n');
            Some(journal.append(line, false))
        });
        match appended {
            Some(Appended::Write(writer)) => {
                // A batch handed to a blocking thread is settled there; no one waits for it.
                let _ = journal.write_inline(writer);
            }
            Some(Appended::Refused) => {
                journal.failed(1);
                tracing::error!("audit batch full: a lifecycle event was not recorded");
            }
            _ => {}
        }
    }
}

/// Waits for a batch's outcome; `None` after `ACCEPT_TIMEOUT`.
async fn settled(outcome: &journal::Outcome) -> Option<bool> {
    tokio::time::timeout(ACCEPT_TIMEOUT, outcome.accepted())
        .await
        .ok()
}

/// The slow path of a record that found the open batch full: wait for that batch to be
/// written, then append again, all within `ACCEPT_TIMEOUT`.
async fn commit(journal: &Arc<Journal>, full: Arc<journal::Outcome>, line: &[u8]) -> Option<bool> {
    let deadline = tokio::time::Instant::now() + ACCEPT_TIMEOUT;
    let mut waiting = full;
    loop {
        tokio::time::timeout_at(deadline, waiting.accepted())
            .await
            .ok()?;
        let outcome = match journal.append(line, true) {
            Appended::Full(outcome) => {
                waiting = outcome;
                continue;
            }
            Appended::Write(writer) => match journal.write_inline(writer) {
                Written::Done(accepted) => return Some(accepted),
                Written::Pending(outcome) => outcome,
            },
            Appended::Wait(outcome) => outcome,
            Appended::Queued | Appended::Refused => return None,
        };
        return tokio::time::timeout_at(deadline, outcome.accepted())
            .await
            .ok();
    }
}

/// Reads the 32-byte key, or creates it (mode 0600) from the system's randomness.
fn load_or_create_key(file: &Path) -> Result<hmac::Key, AuditError> {
    let err = |problem: String| AuditError::Key {
        file: file.to_owned(),
        problem,
    };
    match std::fs::read(file) {
        Ok(bytes) if bytes.len() >= 32 => Ok(hmac::Key::new(hmac::HMAC_SHA256, &bytes)),
        Ok(_) => Err(err("shorter than 32 bytes".into())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut key = [0u8; 32];
            ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut key)
                .map_err(|_| err("no randomness available".into()))?;
            use std::io::Write;
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(file)
                .and_then(|mut f| f.write_all(&key))
                .map_err(|e| err(e.to_string()))?;
            Ok(hmac::Key::new(hmac::HMAC_SHA256, &key))
        }
        Err(e) => Err(err(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_created_once_and_hmacs_are_stable_and_prefixed() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("hmac.key");
        let a = Auditor::start(&[], &key, true).unwrap();
        let b = Auditor::start(&[], &key, true).unwrap();
        let tag = a.hmac("s.secret-token");
        assert!(tag.starts_with("hmac-sha256:") && !tag.contains("secret"));
        assert_eq!(tag, b.hmac("s.secret-token"));
        assert_ne!(a.next_request_id(), a.next_request_id());
    }
}
