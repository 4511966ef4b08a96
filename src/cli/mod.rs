//! Command-line interface: one module per subcommand; `main` only parses and dispatches.

pub mod config;
pub mod run;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "vaultgate",
    version,
    about = "A policy-enforcing TLS proxy in front of Vault and OpenBao"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
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
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Check a configuration file and the policies it points to; exit 1 on any error.
    Check {
        /// The configuration file.
        file: PathBuf,
    },
}
