//! Configuration: `vaultgate.toml` -> raw serde types -> a validated `Config`. One pass finds
//! every problem of a file (unknown keys, wrong types, bad values, missing files), each named
//! by file, line and key; a TOML syntax error keeps the parser's line-and-caret picture.

mod admin;
mod audit;
mod cache;
mod limits;
mod listener;
mod log;
mod principal;
mod problems;
mod raw;
mod vault;
mod written;

pub use admin::{AdminConfig, AdminToken};
pub use cache::{CacheConfig, CachePathRule};
pub use limits::{Limits, RateLimit};
pub use listener::{Bind, ListenerConfig, ListenerIdentity, TlsFiles};
pub use log::LogConfig;
pub use principal::{
    default_sts_endpoint, AuthConfig, AwsLogin, CertLogin, IssueRequest, PrincipalConfig,
    ServiceConfig, DEFAULT_AWS_REGION,
};
pub use problems::Problem;
pub use vault::VaultConfig;

use std::path::{Path, PathBuf};
use std::time::Duration;

use problems::Problems;
use raw::RawConfig;
use written::{Expected, RawDuration, Written};

use crate::identity::Caller;

/// Why a configuration file was refused, always naming the file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    // The reason is in the message and deliberately not a `source`: `main` prints the
    // source chain after the message, which would say it twice.
    #[error("{}: cannot read: {error}", file.display())]
    Read {
        file: PathBuf,
        error: std::io::Error,
    },
    /// Not TOML, or a table of the wrong shape; the message is the parser's own, with the
    /// line, the column and a caret under the spot.
    #[error("{}: {message}", file.display())]
    Parse { file: PathBuf, message: String },
    /// Everything wrong with a file that parsed.
    #[error("{}", problems::render(file, problems))]
    Invalid {
        file: PathBuf,
        problems: Vec<Problem>,
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
    pub log: LogConfig,
}

/// Where audit records go; no sink means auditing is off.
#[derive(Debug, Clone)]
pub struct AuditConfig {
    pub sinks: Vec<crate::audit::SinkConfig>,
    pub hmac_key_file: PathBuf,
    /// Refuse (503) rather than answer a request whose record no sink accepted.
    pub fail_closed: bool,
}

impl Config {
    /// Reads and validates a configuration file. Relative paths inside it are resolved
    /// against the file's own directory, so a config works from any working directory.
    pub fn load(file: &Path) -> Result<Config, ConfigError> {
        Config::parse(file, &read(file)?)
    }

    pub fn parse(file: &Path, text: &str) -> Result<Config, ConfigError> {
        let raw = parse_raw(file, text)?;
        let validator = Validator {
            file,
            base: file.parent().unwrap_or(Path::new(".")),
            problems: raw.problems,
        };
        let config = validator.config(raw.config);
        let problems = validator.problems.into_sorted();
        match config {
            Some(config) if problems.is_empty() => Ok(config),
            _ => Err(ConfigError::Invalid {
                file: file.to_owned(),
                problems,
            }),
        }
    }

    /// The policy directory a configuration file names, without validating the rest of it:
    /// the policy tools check policies whatever state the certificates and secrets are in.
    pub fn policies_dir(file: &Path) -> Result<PathBuf, ConfigError> {
        let text = read(file)?;
        let raw = parse_raw(file, &text)?;
        let validator = Validator {
            file,
            base: file.parent().unwrap_or(Path::new(".")),
            problems: Problems::new(&text),
        };
        let dir = validator.policies_dir(raw.config.policies);
        match dir {
            Some(dir) if validator.problems.is_empty() => Ok(dir),
            _ => Err(ConfigError::Invalid {
                file: file.to_owned(),
                problems: validator.problems.into_sorted(),
            }),
        }
    }

    /// The callers of every configured service.
    pub fn callers(&self) -> Vec<Caller> {
        self.services.iter().map(|s| s.caller.clone()).collect()
    }
}

impl ConfigError {
    /// The problems to list one per line (a read or parse error is one).
    pub fn problems(&self) -> &[Problem] {
        match self {
            ConfigError::Invalid { problems, .. } => problems,
            _ => &[],
        }
    }
}

fn read(file: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(file).map_err(|error| ConfigError::Read {
        file: file.to_owned(),
        error,
    })
}

struct Parsed<'a> {
    config: RawConfig,
    problems: Problems<'a>,
}

/// TOML into the raw tables; keys nothing takes are collected as problems, not fatal.
fn parse_raw<'a>(file: &Path, text: &'a str) -> Result<Parsed<'a>, ConfigError> {
    let mut unknown = Vec::new();
    let config: RawConfig = serde_ignored::deserialize(toml::Deserializer::new(text), |path| {
        unknown.push(problems::key_path(&path));
    })
    .map_err(|e| ConfigError::Parse {
        file: file.to_owned(),
        message: e.to_string().trim_end().to_owned(),
    })?;
    let problems = Problems::new(text);
    for key in unknown {
        problems.unknown_key(key);
    }
    Ok(Parsed { config, problems })
}

/// Checks raw values into validated ones, noting every problem and carrying on past it: a
/// bad value is replaced by its default (or skipped) so the rest of the file is still checked.
struct Validator<'a> {
    file: &'a Path,
    base: &'a Path,
    problems: Problems<'a>,
}

impl Validator<'_> {
    pub(super) fn problem(&self, key: impl Into<String>, message: impl Into<String>) {
        self.problems.add(key.into(), message.into(), None);
    }

    /// The value when it has the right type; a wrong type is noted.
    pub(super) fn value<T: Expected>(&self, key: &str, v: Option<Written<T>>) -> Option<T> {
        match v?.into_result() {
            Ok(v) => Some(v),
            Err(message) => {
                self.problem(key, message);
                None
            }
        }
    }

    /// Like [`Validator::value`], and its absence is a problem too.
    pub(super) fn required<T: Expected>(
        &self,
        key: &str,
        v: Option<Written<T>>,
        why: &str,
    ) -> Option<T> {
        if v.is_none() {
            self.problem(key, format!("required{why}"));
        }
        self.value(key, v)
    }

    pub(super) fn path(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_owned()
        } else {
            self.base.join(p)
        }
    }

    /// A file the key names, resolved; one that does not exist is noted as missing.
    pub(super) fn existing(&self, key: &str, p: &Path) -> Option<PathBuf> {
        let full = self.path(p);
        if full.is_file() {
            Some(full)
        } else {
            let message = format!("file {} does not exist", full.display());
            self.problems.add(key.to_owned(), message, Some(full));
            None
        }
    }

    /// [`Validator::existing`] of an optional file key.
    pub(super) fn existing_file(&self, key: &str, v: Option<Written<PathBuf>>) -> Option<PathBuf> {
        self.value(key, v).and_then(|p| self.existing(key, &p))
    }

    pub(super) fn duration(
        &self,
        key: &str,
        value: Option<RawDuration>,
        default: Duration,
    ) -> Duration {
        match value.map(|v| v.read()) {
            None => default,
            Some(Ok(d)) => d,
            Some(Err(message)) => {
                self.problem(key, message);
                default
            }
        }
    }

    fn config(&self, raw: RawConfig) -> Option<Config> {
        let vault = match raw.vault {
            Some(v) => self.vault(v),
            None => {
                self.problem("vault", "the [vault] table is required");
                None
            }
        };
        if raw.service.is_empty() {
            self.problem("service", "at least one [[service]] is required");
        }
        let mut services = Vec::new();
        let mut callers: Vec<Caller> = Vec::new();
        let mut complete = true;
        // Each kept service's index in the file, for problems found after this loop.
        let mut written_at = Vec::new();
        for (i, s) in raw.service.into_iter().enumerate() {
            let (caller, principal) = self.service(i, s);
            if let Some(caller) = &caller {
                if callers.contains(caller) {
                    self.problem(
                        format!("service[{i}].name"),
                        format!("service {caller} is configured twice"),
                    );
                }
                callers.push(caller.clone());
            }
            match (caller, principal) {
                (Some(caller), Some(principal)) => {
                    written_at.push(i);
                    services.push(ServiceConfig { caller, principal })
                }
                _ => complete = false,
            }
        }
        let issuer = match raw.issuer {
            Some(i) => {
                let issuer = self.issuer(i);
                complete &= issuer.is_some();
                issuer
            }
            None => None,
        };
        let issued = services
            .iter()
            .position(|s| matches!(s.principal.auth, AuthConfig::Issued(_)));
        if let (Some(i), None) = (issued, &issuer) {
            self.problem(
                format!("service[{i}].auth"),
                "auth = \"issued\" needs an [issuer] section",
            );
        }
        if vault.as_ref().is_some_and(|v| !v.https()) {
            let certs = written_at.iter().zip(services.iter().map(|s| &s.principal));
            for (key, _) in certs
                .map(|(i, p)| (format!("service[{i}].auth"), p))
                .chain(issuer.iter().map(|p| ("issuer.auth".to_owned(), p)))
                .filter(|(_, p)| matches!(p.auth, AuthConfig::Cert(_)))
            {
                self.problem(
                    key,
                    "auth = \"cert\" needs an https [vault] address: Vault reads the client \
                     certificate from the TLS handshake",
                );
            }
        }
        if raw.listener.is_empty() {
            self.problem("listener", "at least one [[listener]] is required");
        }
        let listeners: Vec<_> = raw
            .listener
            .into_iter()
            .enumerate()
            .map(|(i, l)| self.listener(i, l, &callers))
            .collect();
        let policies_dir = self.policies_dir(raw.policies);
        let limits = self.limits(raw.limits);
        let cache = self.cache(raw.cache);
        let audit = self.audit(raw.audit);
        let admin = raw.admin.map(|a| self.admin(a));
        let log = self.log(raw.log);
        if !complete {
            return None;
        }
        Some(Config {
            file: self.file.to_owned(),
            audit: audit?,
            cache: cache?,
            admin: admin.map_or(Some(None), |a| a.map(Some))?,
            vault: vault?,
            listeners: listeners.into_iter().collect::<Option<Vec<_>>>()?,
            services,
            issuer,
            policies_dir: policies_dir?,
            limits: limits?,
            log,
        })
    }

    fn policies_dir(&self, raw: Option<raw::RawPolicies>) -> Option<PathBuf> {
        let dir = self.required(
            "policies.dir",
            raw.and_then(|p| p.dir),
            " (the folder of <tenant>.hcl policy files)",
        )?;
        let dir = self.path(&dir);
        if dir.is_dir() {
            Some(dir)
        } else {
            let message = format!("directory {} does not exist", dir.display());
            self.problems
                .add("policies.dir".to_owned(), message, Some(dir));
            None
        }
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

#[cfg(test)]
mod tests;
