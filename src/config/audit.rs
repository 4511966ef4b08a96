//! Validation of the `[audit]` section into sinks: file (rotation, fsync), stdout, network,
//! syslog (`[audit.syslog]`).

use std::time::Duration;

use super::raw::{RawAudit, RawSyslog};
use super::{AuditConfig, Validator};
use crate::audit::{
    syslog_facility, valid_syslog_tag, FileSinkConfig, Fsync, NetworkSinkConfig, NetworkTarget,
    SinkConfig, SyslogSinkConfig, SyslogTarget, SyslogTls,
};

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
        let syslog_set = a.syslog.is_some();
        if let Some(s) = a.syslog.and_then(|s| self.syslog(s)) {
            sinks.push(SinkConfig::Syslog(s));
        }
        if sinks.is_empty() && network.is_none() && !syslog_set {
            self.problem(
                "audit",
                "set file = \"...\", stdout = true, network = \"...\" and/or [audit.syslog]",
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

    fn syslog(&self, s: RawSyslog) -> Option<SyslogSinkConfig> {
        let key = |k: &str| format!("audit.syslog.{k}");
        let address = self.required(
            &key("address"),
            s.address,
            ": \"tcp://host:port\", \"tls://host:port\" or \"unix:/dev/log\"",
        );
        let target = address.as_deref().and_then(|a| {
            let target = SyslogTarget::parse(a);
            if target.is_none() {
                self.problem(
                    key("address"),
                    format!(
                        "{a:?} is not \"tcp://host:port\", \"tls://host:port\" or \"unix:/path\""
                    ),
                );
            }
            target
        });
        let facility = self
            .value(&key("facility"), s.facility)
            .unwrap_or_else(|| "auth".to_owned());
        if syslog_facility(&facility).is_none() {
            self.problem(
                key("facility"),
                format!("{facility:?} is not a syslog facility (auth, authpriv, daemon, local0 .. local7, ...)"),
            );
        }
        let tag = self
            .value(&key("tag"), s.tag)
            .unwrap_or_else(|| "vaultgate".to_owned());
        if !valid_syslog_tag(&tag) {
            self.problem(
                key("tag"),
                "1 to 48 printable ASCII characters without spaces (RFC 5424 APP-NAME)",
            );
        }
        let spill_bytes = self
            .value(&key("spill_bytes"), s.spill_bytes)
            .unwrap_or(SPILL_BYTES);
        if spill_bytes == 0 {
            self.problem(key("spill_bytes"), "must be positive");
        }
        let is_tls = matches!(target, Some(SyslogTarget::Tls(_)));
        let ca_cert = self.existing_file(&key("ca_cert"), s.ca_cert.clone());
        let client_cert = self.existing_file(&key("client_cert"), s.client_cert.clone());
        let client_key = self.existing_file(&key("client_key"), s.client_key.clone());
        let server_name = self.value(&key("server_name"), s.server_name.clone());
        if !is_tls {
            for (k, set) in [
                ("ca_cert", s.ca_cert.is_some()),
                ("server_name", s.server_name.is_some()),
                ("client_cert", s.client_cert.is_some()),
                ("client_key", s.client_key.is_some()),
            ] {
                if set && target.is_some() {
                    self.problem(key(k), "applies to a tls:// address only");
                }
            }
        } else if s.ca_cert.is_none() {
            self.problem(key("ca_cert"), "required with a tls:// address");
        }
        if s.client_cert.is_some() != s.client_key.is_some() {
            self.problem(key("client_cert"), "client_cert and client_key go together");
        }
        let target = target?;
        let tls = if is_tls {
            Some(SyslogTls {
                ca_cert: ca_cert?,
                server_name: server_name
                    .or_else(|| target.tls_host().map(str::to_owned))
                    .unwrap_or_default(),
                client_identity: client_cert.zip(client_key),
            })
        } else {
            None
        };
        Some(SyslogSinkConfig {
            target,
            tls,
            facility,
            tag,
            spill_bytes,
        })
    }
}
