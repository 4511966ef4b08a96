//! Configuration: `vaultgate.toml` -> raw serde types (unknown keys refused) -> a validated
//! `Config` whose every error names the file, the key and what is wrong.

mod admin;
mod audit;
mod cache;
mod limits;
mod principal;
mod raw;
mod vault;

pub use admin::{AdminConfig, AdminToken};
pub use cache::{CacheConfig, CachePathRule};
pub use limits::{Limits, RateLimit};
pub use principal::{AuthConfig, IssueRequest, PrincipalConfig, ServiceConfig};
pub use vault::VaultConfig;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use raw::{RawConfig, RawDuration, RawListener};

use crate::identity::Caller;

/// A configuration problem, always naming the file and, where there is one, the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: cannot read: {source}")]
    Read {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("{file}: {message}")]
    Parse { file: PathBuf, message: String },
    #[error("{file}: {key}: {problem}")]
    Invalid {
        file: PathBuf,
        key: String,
        problem: String,
    },
}

#[derive(Debug, Clone)]
pub struct Config {
    pub file: PathBuf,
    pub vault: VaultConfig,
    pub listeners: Vec<ListenerConfig>,
    pub services: Vec<ServiceConfig>,
    /// The principal that mints child tokens for `auth = "issued"` services.
    pub issuer: Option<PrincipalConfig>,
    pub policies_dir: PathBuf,
    pub limits: Limits,
    pub audit: AuditConfig,
    pub cache: CacheConfig,
    /// The admin listener; none when `[admin]` is absent.
    pub admin: Option<AdminConfig>,
}

/// Where audit records go; no sink means auditing is off.
#[derive(Debug, Clone)]
pub struct AuditConfig {
    pub sinks: Vec<crate::audit::SinkConfig>,
    pub hmac_key_file: PathBuf,
    /// Refuse (503) rather than answer a request whose record no sink accepted.
    pub fail_closed: bool,
}

#[derive(Debug, Clone)]
pub enum Bind {
    Tcp(SocketAddr),
    Unix { path: PathBuf, mode: Option<u32> },
}

#[derive(Debug, Clone)]
pub struct ListenerConfig {
    pub bind: Bind,
    /// None when `tls_disable = true`.
    pub tls: Option<TlsFiles>,
    pub identity: ListenerIdentity,
}

#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// How callers on a listener are identified.
#[derive(Debug, Clone)]
pub enum ListenerIdentity {
    /// mTLS: the caller is read from a client certificate signed by this CA.
    ClientCertificate {
        client_ca: PathBuf,
        trust_domain: Option<String>,
    },
    /// Every connection on this listener is this caller.
    Fixed(Caller),
}

impl Config {
    /// Reads and validates a configuration file. Relative paths inside it are resolved
    /// against the file's own directory, so a config works from any working directory.
    pub fn load(file: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(file).map_err(|source| ConfigError::Read {
            file: file.to_owned(),
            source,
        })?;
        Config::parse(file, &text)
    }

    pub fn parse(file: &Path, text: &str) -> Result<Config, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            file: file.to_owned(),
            message: e.to_string().trim_end().replace('\n', " "),
        })?;
        let base = file.parent().unwrap_or(Path::new("."));
        Validator { file, base }.config(raw)
    }

    /// The callers of every configured service.
    pub fn callers(&self) -> Vec<Caller> {
        self.services.iter().map(|s| s.caller.clone()).collect()
    }
}

struct Validator<'a> {
    file: &'a Path,
    base: &'a Path,
}

impl Validator<'_> {
    pub(super) fn err(&self, key: impl Into<String>, problem: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            file: self.file.to_owned(),
            key: key.into(),
            problem: problem.into(),
        }
    }

    pub(super) fn path(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_owned()
        } else {
            self.base.join(p)
        }
    }

    pub(super) fn existing(&self, key: &str, p: &Path) -> Result<PathBuf, ConfigError> {
        let full = self.path(p);
        if full.is_file() {
            Ok(full)
        } else {
            Err(self.err(key, format!("file {} does not exist", full.display())))
        }
    }

    pub(super) fn duration(
        &self,
        key: &str,
        value: Option<RawDuration>,
        default: Duration,
    ) -> Result<Duration, ConfigError> {
        match value {
            None => Ok(default),
            Some(RawDuration::Seconds(s)) => Ok(Duration::from_secs(s)),
            Some(RawDuration::Text(t)) => parse_duration(&t).ok_or_else(|| {
                self.err(
                    key,
                    format!("{t:?} is not a duration like \"30s\", \"5m\", \"500ms\""),
                )
            }),
        }
    }

    fn config(&self, raw: RawConfig) -> Result<Config, ConfigError> {
        let vault = self.vault(raw.vault)?;
        let mut services = Vec::new();
        for (i, s) in raw.service.into_iter().enumerate() {
            let svc = self.service(i, s)?;
            if services
                .iter()
                .any(|o: &ServiceConfig| o.caller == svc.caller)
            {
                return Err(self.err(
                    format!("service[{i}].name"),
                    format!("service {} is configured twice", svc.caller),
                ));
            }
            services.push(svc);
        }
        if services.is_empty() {
            return Err(self.err("service", "at least one [[service]] is required"));
        }
        let issuer = raw.issuer.map(|i| self.issuer(i)).transpose()?;
        let issued = services
            .iter()
            .position(|s| matches!(s.principal.auth, AuthConfig::Issued(_)));
        if let (Some(i), None) = (issued, &issuer) {
            return Err(self.err(
                format!("service[{i}].auth"),
                "auth = \"issued\" needs an [issuer] section",
            ));
        }
        if raw.listener.is_empty() {
            return Err(self.err("listener", "at least one [[listener]] is required"));
        }
        let listeners = raw
            .listener
            .into_iter()
            .enumerate()
            .map(|(i, l)| self.listener(i, l, &services))
            .collect::<Result<Vec<_>, _>>()?;
        let policies_dir = self.path(&raw.policies.dir);
        if !policies_dir.is_dir() {
            return Err(self.err(
                "policies.dir",
                format!("directory {} does not exist", policies_dir.display()),
            ));
        }
        let limits = self.limits(raw.limits)?;
        let cache = self.cache(raw.cache)?;
        let audit = self.audit(raw.audit)?;
        let admin = raw.admin.map(|a| self.admin(a)).transpose()?;
        Ok(Config {
            file: self.file.to_owned(),
            audit,
            cache,
            admin,
            vault,
            listeners,
            services,
            issuer,
            policies_dir,
            limits,
        })
    }

    fn listener(
        &self,
        i: usize,
        l: RawListener,
        services: &[ServiceConfig],
    ) -> Result<ListenerConfig, ConfigError> {
        let key = |k: &str| format!("listener[{i}].{k}");
        let bind = match (l.address, l.unix) {
            (Some(a), None) => {
                if l.mode.is_some() {
                    return Err(self.err(key("mode"), "only applies to a unix listener"));
                }
                Bind::Tcp(a.parse().map_err(|_| {
                    self.err(key("address"), format!("{a:?} is not an ip:port address"))
                })?)
            }
            (None, Some(p)) => {
                let mode = l
                    .mode
                    .map(|m| {
                        u32::from_str_radix(m.trim_start_matches("0o"), 8)
                            .ok()
                            .filter(|m| *m <= 0o777)
                            .ok_or_else(|| {
                                self.err(
                                    key("mode"),
                                    format!("{m:?} is not an octal mode like \"0660\""),
                                )
                            })
                    })
                    .transpose()?;
                Bind::Unix {
                    path: self.path(&p),
                    mode,
                }
            }
            _ => return Err(self.err(key("address"), "set exactly one of address or unix")),
        };
        let tls = if l.tls_disable {
            let local = match &bind {
                Bind::Tcp(a) => a.ip().is_loopback(),
                Bind::Unix { .. } => true,
            };
            if !local {
                return Err(self.err(
                    key("tls_disable"),
                    "refused: only a loopback address or a unix socket may run without TLS",
                ));
            }
            if l.tls_cert.is_some() || l.tls_key.is_some() || l.client_ca.is_some() {
                return Err(self.err(
                    key("tls_disable"),
                    "tls_cert, tls_key and client_ca make no sense with tls_disable = true",
                ));
            }
            None
        } else {
            let cert = l
                .tls_cert
                .ok_or_else(|| self.err(key("tls_cert"), "required unless tls_disable = true"))?;
            let k = l
                .tls_key
                .ok_or_else(|| self.err(key("tls_key"), "required unless tls_disable = true"))?;
            Some(TlsFiles {
                cert: self.existing(&key("tls_cert"), &cert)?,
                key: self.existing(&key("tls_key"), &k)?,
            })
        };
        let identity = match (l.client_ca, l.caller) {
            (Some(ca), None) => ListenerIdentity::ClientCertificate {
                client_ca: self.existing(&key("client_ca"), &ca)?,
                trust_domain: l.trust_domain,
            },
            (None, Some(c)) => {
                if l.trust_domain.is_some() {
                    return Err(self.err(key("trust_domain"), "only applies with client_ca"));
                }
                let caller =
                    Caller::parse(&c).map_err(|e| self.err(key("caller"), e.to_string()))?;
                if !services.iter().any(|s| s.caller == caller) {
                    return Err(self.err(
                        key("caller"),
                        format!("{caller} is not a configured [[service]]"),
                    ));
                }
                ListenerIdentity::Fixed(caller)
            }
            (Some(_), Some(_)) => {
                return Err(self.err(
                    key("caller"),
                    "set either client_ca (callers from certificates) or caller, not both",
                ))
            }
            (None, None) => {
                return Err(self.err(
                    key("client_ca"),
                    "set client_ca (callers from certificates) or caller (a fixed caller)",
                ))
            }
        };
        Ok(ListenerConfig {
            bind,
            tls,
            identity,
        })
    }
}

/// A mount or namespace path: segments of safe characters, no dot segments, no globs.
fn mount_name(s: &str) -> Option<String> {
    let s = s.trim_matches('/');
    let ok = !s.is_empty()
        && s.split('/').all(|seg| {
            !seg.is_empty()
                && seg != "."
                && seg != ".."
                && seg
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        });
    ok.then(|| s.to_owned())
}

/// Parses `"500ms"`, `"30s"`, `"5m"`, `"1h"` or a bare number of seconds.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().ok()?;
    match unit {
        "" | "s" => Some(Duration::from_secs(n)),
        "ms" => Some(Duration::from_millis(n)),
        "m" => n.checked_mul(60).map(Duration::from_secs),
        "h" => n.checked_mul(3600).map(Duration::from_secs),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
