//! Command-line interface: one module per subcommand; `main` only parses and dispatches.

pub mod certs;
pub mod config;
pub mod manual;
pub mod policy;
pub mod run;
pub mod verify;

use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand, ValueEnum};

use crate::config::{Config, ConfigError};
use crate::identity::Caller;

/// Said once, under the top-level help; each subcommand's help keeps `--log-format` to a line.
const LOGS: &str = "\
Logs:
  Logs go to stderr. --log-format (or VAULTGATE_LOG_FORMAT) chooses their format: `human`,
  one readable line per event, the default on a terminal; or `json`, one JSON object per
  line, the default otherwise. VAULTGATE_LOG filters them (default `info`, e.g.
  VAULTGATE_LOG=debug). --log-format works before or after the subcommand.";

#[derive(Debug, Parser)]
#[command(
    name = "vaultgate",
    version,
    about = "A policy-enforcing TLS proxy in front of Vault and OpenBao",
    after_long_help = LOGS
)]
pub struct Cli {
    /// Log format: human or json (see `vaultgate --help`).
    #[arg(
        long,
        global = true,
        env = "VAULTGATE_LOG_FORMAT",
        value_enum,
        value_name = "human|json",
        hide_possible_values = true
    )]
    pub log_format: Option<LogFormat>,
    #[command(subcommand)]
    pub command: Command,
}

/// How log lines are written to stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One readable line per event, for people at a terminal.
    Human,
    /// One JSON object per line, for log collectors.
    Json,
}

impl LogFormat {
    /// The format to use when none was asked for: people read terminals, machines read the rest.
    pub fn detect(stderr_is_terminal: bool) -> LogFormat {
        if stderr_is_terminal {
            LogFormat::Human
        } else {
            LogFormat::Json
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the proxy.
    Run {
        /// The configuration file.
        #[arg(long, short, default_value = "vaultgate.toml")]
        config: PathBuf,
    },
    /// Validate configuration files.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Development certificates.
    #[command(subcommand)]
    Certs(CertsCommand),
    /// Check an AppRole's credentials against Vault: log in, read a secret, rotate the token,
    /// read again and confirm the old token is rejected.
    Verify(verify::VerifyArgs),
    /// Check, explain and test tenant policies offline.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Print a shell completion script, e.g. `vaultgate completions bash >
    /// /etc/bash_completion.d/vaultgate`.
    Completions {
        /// The shell to complete in.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff), e.g. `vaultgate man > vaultgate.1; man ./vaultgate.1`.
    Man,
}

/// Where the policy commands read policies: a directory, or the one a configuration loads.
#[derive(Debug, Clone, clap::Args)]
pub struct PolicySource {
    /// The policy directory [default: policies].
    #[arg(long, value_name = "DIR", conflicts_with = "config")]
    pub dir: Option<PathBuf>,
    /// Use the policies this configuration file loads (its [policies] dir).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// Why the policy directory could not be found.
#[derive(Debug, thiserror::Error)]
pub enum PolicySourceError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(
        "no policies directory here; pass --dir DIR (a folder of <tenant>.hcl files) or \
         --config FILE (a vaultgate configuration)"
    )]
    NoDefault,
}

impl PolicySource {
    /// The directory to read; `legacy` is the positional directory `check` and `test` took
    /// in earlier releases.
    pub fn dir(&self, legacy: Option<&Path>) -> Result<PathBuf, PolicySourceError> {
        if let Some(dir) = self.dir.as_deref().or(legacy) {
            return Ok(dir.to_owned());
        }
        if let Some(config) = &self.config {
            return Ok(Config::policies_dir(config)?);
        }
        let default = Path::new("policies");
        if default.is_dir() {
            Ok(default.to_owned())
        } else {
            Err(PolicySourceError::NoDefault)
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Validate every policy file as the server would, and warn on risky grants.
    /// Exit 1 on any error, or on any warning with --strict.
    Check {
        #[command(flatten)]
        policies: PolicySource,
        // Earlier releases took the directory as a positional argument: still accepted,
        // no longer shown, so scripts keep working while the help shows one shape.
        #[arg(hide = true, conflicts_with_all = ["dir", "config"])]
        legacy_dir: Option<PathBuf>,
        /// Treat warnings as errors.
        #[arg(long)]
        strict: bool,
    },
    /// Show how one request is classified and decided for one caller.
    Explain {
        /// The calling service, as tenant/service.
        #[arg(long, value_parser = Caller::parse)]
        caller: Caller,
        #[command(flatten)]
        policies: PolicySource,
        /// The HTTP method, exactly as sent (GET, LIST, POST, ...).
        method: String,
        /// The request path, with or without /v1/, optionally with a query.
        path: String,
        /// A request header as NAME:VALUE; repeat for several.
        #[arg(long = "header", value_name = "NAME:VALUE")]
        headers: Vec<String>,
        /// A file holding the request body.
        #[arg(long)]
        body: Option<PathBuf>,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Run the policy unit tests in DIR/tests/*.toml; exit 1 on any failure.
    Test {
        /// Policies and, in their tests/ folder, the test files.
        #[command(flatten)]
        policies: PolicySource,
        // Earlier releases took the directory as a positional argument: still accepted,
        // no longer shown, so scripts keep working while the help shows one shape.
        #[arg(hide = true, conflicts_with_all = ["dir", "config"])]
        legacy_dir: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum CertsCommand {
    /// Create a dev CA (reused when present), a localhost server certificate and one client
    /// certificate per service.
    Init {
        /// Output directory.
        #[arg(long, default_value = "certs")]
        dir: PathBuf,
        /// A service as tenant/service; repeat for several.
        #[arg(long = "service")]
        services: Vec<String>,
        /// The SPIFFE trust domain written into client certificates.
        #[arg(long, default_value = "vaultgate.local")]
        trust_domain: String,
        /// Extra DNS names for the server certificate; repeat for several.
        #[arg(long = "host")]
        hosts: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Check a configuration file and the policies it points to; exit 1 on any error.
    Check {
        /// The configuration file.
        file: PathBuf,
    },
}
