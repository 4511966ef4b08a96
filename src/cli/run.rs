//! `vaultgate run`: start the proxy and stop it gracefully on SIGINT or SIGTERM.

use std::path::Path;

use tokio::signal::unix::{signal, SignalKind};

use crate::app::{App, AppError};
use crate::config::{Config, ConfigError};

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    App(#[from] AppError),
    #[error("cannot install signal handlers: {0}")]
    Signals(std::io::Error),
}

pub async fn run(file: &Path) -> Result<(), RunError> {
    let config = Config::load(file)?;
    tracing::info!(
        file = %file.display(),
        listeners = config.listeners.len(),
        services = config.services.len(),
        "configuration loaded"
    );
    let app = App::start(config).await?;
    let summary = app.summary();
    summary.log(&summary.probe_vault().await);
    let stop = app.shutdown_handle();
    let lockdown = app.lockdown_handle();
    let mut term = signal(SignalKind::terminate()).map_err(RunError::Signals)?;
    let mut int = signal(SignalKind::interrupt()).map_err(RunError::Signals)?;
    // Incident response without the admin listener: SIGUSR1 locks down (deny everything,
    // revoke every token), SIGUSR2 unlocks (fresh logins).
    let mut usr1 = signal(SignalKind::user_defined1()).map_err(RunError::Signals)?;
    let mut usr2 = signal(SignalKind::user_defined2()).map_err(RunError::Signals)?;
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
                _ = int.recv() => tracing::info!("SIGINT: shutting down"),
                _ = usr1.recv() => {
                    tracing::warn!("SIGUSR1: lockdown, refusing every request and revoking every token");
                    lockdown.send_replace(true);
                    continue;
                }
                _ = usr2.recv() => {
                    tracing::warn!("SIGUSR2: unlock, logging in afresh");
                    lockdown.send_replace(false);
                    continue;
                }
                () = stop.cancelled() => return,
            }
            stop.cancel();
            return;
        }
    });
    app.run().await?;
    tracing::info!("stopped");
    Ok(())
}
