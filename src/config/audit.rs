//! Validation of the `[audit]` section into sinks: file (rotation, fsync), stdout, network.

use std::time::Duration;

use super::raw::RawAudit;
use super::{AuditConfig, Validator};
use crate::audit::{FileSinkConfig, Fsync, NetworkSinkConfig, NetworkTarget, SinkConfig};

/// Default spill: about 100,000 typical records (~600 bytes each) while a collector restarts.
const SPILL_BYTES: usize = 64 * 1024 * 1024;
const ROTATE_KEEP: usize = 5;
const FSYNC_INTERVAL: Duration = Duration::from_secs(1);

impl Validator<'_> {
    pub(super) fn audit(&self, raw: Option<RawAudit>) -> Option<AuditConfig> {
        let Some(a) = raw else {
            return Some(AuditConfig {
                sinks: Vec::new(),
                hmac_key_file: self.base.join("audit-hmac.key"),
                fail_closed: true,
            });
        };
        let key = |k: &str| format!("audit.{k}");
        let file = self.value(&key("file"), a.file);
        let stdout = self.value(&key("stdout"), a.stdout).unwrap_or(false);
        let network = self.value(&key("network"), a.network);
        let spill_bytes = self.value(&key("spill_bytes"), a.spill_bytes);
        let rotate_bytes = self.value(&key("rotate_bytes"), a.rotate_bytes);
        let rotate_keep = self.value(&key("rotate_keep"), a.rotate_keep);
        let fsync_mode = self.value(&key("fsync"), a.fsync);
        let file_only = |k: &str, set: bool| {
            if set && file.is_none() {
                self.problem(key(k), "applies to the file sink: set file = \"...\" too");
            }
        };
        file_only("rotate_bytes", rotate_bytes.is_some());
        file_only("rotate_keep", rotate_keep.is_some());
        file_only("fsync", fsync_mode.is_some());
        file_only("fsync_interval", a.fsync_interval.is_some());
        if spill_bytes.is_some() && network.is_none() {
            self.problem(
                key("spill_bytes"),
                "applies to the network sink: set network = \"...\" too",
            );
        }
        if rotate_bytes == Some(0) {
            self.problem(key("rotate_bytes"), "must be positive");
        }
        if rotate_keep.is_some() && rotate_bytes.is_none() {
            self.problem(key("rotate_keep"), "needs rotate_bytes");
        }
        let fsync = match fsync_mode.as_deref() {
            None | Some("never") => Fsync::Never,
            Some("always") => Fsync::Always,
            Some("interval") => Fsync::Interval(self.duration(
                &key("fsync_interval"),
                a.fsync_interval.clone(),
                FSYNC_INTERVAL,
            )),
            Some(other) => {
                self.problem(
                    key("fsync"),
                    format!("{other:?} is not one of \"never\", \"always\", \"interval\""),
                );
                Fsync::Never
            }
        };
        if a.fsync_interval.is_some() && !matches!(fsync, Fsync::Interval(_)) {
            self.problem(key("fsync_interval"), "needs fsync = \"interval\"");
        }
        let mut sinks = Vec::new();
        if let Some(f) = &file {
            sinks.push(SinkConfig::File(FileSinkConfig {
                path: self.path(f),
                rotate_bytes,
                rotate_keep: rotate_keep.unwrap_or(ROTATE_KEEP),
                fsync,
            }));
        }
        if stdout {
            sinks.push(SinkConfig::Stdout);
        }
        if let Some(n) = &network {
            let spill_bytes = spill_bytes.unwrap_or(SPILL_BYTES);
            if spill_bytes == 0 {
                self.problem(key("spill_bytes"), "must be positive");
            }
            match NetworkTarget::parse(n) {
                Some(target) => sinks.push(SinkConfig::Network(NetworkSinkConfig {
                    target,
                    spill_bytes,
                })),
                None => self.problem(
                    key("network"),
                    format!("{n:?} is not \"tcp://host:port\" or \"unix:/path\""),
                ),
            }
        }
        if sinks.is_empty() && network.is_none() {
            self.problem(
                "audit",
                "set file = \"...\", stdout = true and/or network = \"...\"",
            );
        }
        let hmac_key_file = self
            .value(&key("hmac_key_file"), a.hmac_key_file)
            .map_or_else(|| self.base.join("audit-hmac.key"), |k| self.path(&k));
        Some(AuditConfig {
            sinks,
            hmac_key_file,
            fail_closed: self
                .value(&key("fail_closed"), a.fail_closed)
                .unwrap_or(true),
        })
    }
}
