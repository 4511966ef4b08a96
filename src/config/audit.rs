//! Validation of the `[audit]` section into sinks: file (rotation, fsync), stdout, network.

use std::time::Duration;

use super::raw::RawAudit;
use super::{AuditConfig, ConfigError, Validator};
use crate::audit::{FileSinkConfig, Fsync, NetworkSinkConfig, NetworkTarget, SinkConfig};

/// Default spill: about 100,000 typical records (~600 bytes each) while a collector restarts.
const SPILL_BYTES: usize = 64 * 1024 * 1024;
const ROTATE_KEEP: usize = 5;
const FSYNC_INTERVAL: Duration = Duration::from_secs(1);

impl Validator<'_> {
    pub(super) fn audit(&self, raw: Option<RawAudit>) -> Result<AuditConfig, ConfigError> {
        let Some(a) = raw else {
            return Ok(AuditConfig {
                sinks: Vec::new(),
                hmac_key_file: self.base.join("audit-hmac.key"),
                fail_closed: true,
            });
        };
        let key = |k: &str| format!("audit.{k}");
        let file_only = |k: &str, set: bool| {
            if set && a.file.is_none() {
                Err(self.err(key(k), "applies to the file sink: set file = \"...\" too"))
            } else {
                Ok(())
            }
        };
        file_only("rotate_bytes", a.rotate_bytes.is_some())?;
        file_only("rotate_keep", a.rotate_keep.is_some())?;
        file_only("fsync", a.fsync.is_some())?;
        file_only("fsync_interval", a.fsync_interval.is_some())?;
        if a.spill_bytes.is_some() && a.network.is_none() {
            return Err(self.err(
                key("spill_bytes"),
                "applies to the network sink: set network = \"...\" too",
            ));
        }
        if a.rotate_bytes == Some(0) {
            return Err(self.err(key("rotate_bytes"), "must be positive"));
        }
        if a.rotate_keep.is_some() && a.rotate_bytes.is_none() {
            return Err(self.err(key("rotate_keep"), "needs rotate_bytes"));
        }
        let fsync = match a.fsync.as_deref() {
            None | Some("never") => Fsync::Never,
            Some("always") => Fsync::Always,
            Some("interval") => Fsync::Interval(self.duration(
                &key("fsync_interval"),
                a.fsync_interval.clone(),
                FSYNC_INTERVAL,
            )?),
            Some(other) => {
                return Err(self.err(
                    key("fsync"),
                    format!("{other:?} is not one of \"never\", \"always\", \"interval\""),
                ))
            }
        };
        if a.fsync_interval.is_some() && !matches!(fsync, Fsync::Interval(_)) {
            return Err(self.err(key("fsync_interval"), "needs fsync = \"interval\""));
        }
        let mut sinks = Vec::new();
        if let Some(f) = &a.file {
            sinks.push(SinkConfig::File(FileSinkConfig {
                path: self.path(f),
                rotate_bytes: a.rotate_bytes,
                rotate_keep: a.rotate_keep.unwrap_or(ROTATE_KEEP),
                fsync,
            }));
        }
        if a.stdout {
            sinks.push(SinkConfig::Stdout);
        }
        if let Some(n) = &a.network {
            let target = NetworkTarget::parse(n).ok_or_else(|| {
                self.err(
                    key("network"),
                    format!("{n:?} is not \"tcp://host:port\" or \"unix:/path\""),
                )
            })?;
            let spill_bytes = a.spill_bytes.unwrap_or(SPILL_BYTES);
            if spill_bytes == 0 {
                return Err(self.err(key("spill_bytes"), "must be positive"));
            }
            sinks.push(SinkConfig::Network(NetworkSinkConfig {
                target,
                spill_bytes,
            }));
        }
        if sinks.is_empty() {
            return Err(self.err(
                "audit",
                "set file = \"...\", stdout = true and/or network = \"...\"",
            ));
        }
        Ok(AuditConfig {
            sinks,
            hmac_key_file: a
                .hmac_key_file
                .map_or_else(|| self.base.join("audit-hmac.key"), |k| self.path(&k)),
            fail_closed: a.fail_closed.unwrap_or(true),
        })
    }
}
