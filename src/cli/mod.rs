//! Command-line interface: one module per subcommand; `main` only parses and dispatches.

pub mod certs;
pub mod config;
pub mod policy;
pub mod run;
pub mod verify;

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use crate::identity::Caller;

#[derive(Debug, Parser)]
#[command(
    name = "vaultgate",
    version,
    about = "A policy-enforcing TLS proxy in front of Vault and OpenBao"
)]
pub struct Cli {
    /// Log line format; default: human on a terminal, JSON otherwise.
    #[arg(long, global = true, env = "VAULTGATE_LOG_FORMAT", value_enum)]
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
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Validate every policy file as the server would, and warn on risky grants.
    /// Exit 1 on any error, or on any warning with --strict.
    Check {
        /// The policy directory.
        #[arg(default_value = "policies")]
        dir: PathBuf,
        /// Treat warnings as errors.
        #[arg(long)]
        strict: bool,
    },
    /// Show how one request is classified and decided for one caller.
    Explain {
        /// The calling service, as tenant/service.
        #[arg(long, value_parser = Caller::parse)]
        caller: Caller,
        /// The policy directory.
        #[arg(long, default_value = "policies")]
        dir: PathBuf,
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
        /// The policy directory (tests are read from its tests/ directory).
        #[arg(default_value = "policies")]
        dir: PathBuf,
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
