//! The `[log]` section: what vaultgate writes to stderr besides its startup and error lines.

use super::raw::RawLog;
use super::Validator;

/// Logging choices that live in the file (the level and format come from the environment).
#[derive(Debug, Clone, Copy, Default)]
pub struct LogConfig {
    /// One `info` line per request (the access log). Off by default: the audit record already
    /// holds every fact of it, and formatting and writing a line on the request's path cost
    /// about as much as serving a cached read.
    pub requests: bool,
}

impl Validator<'_> {
    pub(super) fn log(&self, raw: Option<RawLog>) -> LogConfig {
        let Some(raw) = raw else {
            return LogConfig::default();
        };
        LogConfig {
            requests: self.value("log.requests", raw.requests).unwrap_or(false),
        }
    }
}
