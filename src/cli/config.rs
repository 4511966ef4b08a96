//! `vaultgate config check FILE`: validate a configuration and the policies it loads,
//! exactly as `run` would, without contacting Vault.

use std::path::Path;

use crate::config::{Config, ConfigError};
use crate::policy::{PolicyError, PolicySet};

#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Policy(#[from] PolicyError),
}

/// Returns a one-line summary of what the file configures.
pub fn check(file: &Path) -> Result<String, CheckError> {
    let config = Config::load(file)?;
    PolicySet::load(&config.policies_dir, &config.callers())?;
    Ok(format!(
        "{}: ok ({} listener(s), {} service(s), policies from {})",
        file.display(),
        config.listeners.len(),
        config.services.len(),
        config.policies_dir.display()
    ))
}
