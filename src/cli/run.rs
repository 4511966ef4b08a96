//! `vaultgate run`: start the proxy with the process's signals, and stop it gracefully on
//! SIGINT or SIGTERM.

use std::path::Path;

use crate::app::{App, AppError, Tuning};
use crate::config::{Config, ConfigError};

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    App(#[from] AppError),
}

pub async fn run(file: &Path) -> Result<(), RunError> {
    let config = Config::load(file)?;
    tracing::info!(
        file = %file.display(),
        listeners = config.listeners.len(),
        services = config.services.len(),
        "configuration loaded"
    );
    // `vaultgate run` owns the process: App's control task handles SIGHUP (reload),
    // SIGUSR1/SIGUSR2 (lockdown, unlock) and SIGTERM/SIGINT (graceful stop).
    let tuning = Tuning {
        signals: true,
        ..Tuning::default()
    };
    let app = App::start_with(config, tuning).await?;
    let summary = app.summary();
    summary.log(&summary.probe_vault().await);
    app.run().await?;
    tracing::info!("stopped");
    Ok(())
}
