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
    let app = App::start(config).await?;
    let stop = app.shutdown_handle();
    let mut term = signal(SignalKind::terminate()).map_err(RunError::Signals)?;
    let mut int = signal(SignalKind::interrupt()).map_err(RunError::Signals)?;
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
            _ = int.recv() => tracing::info!("SIGINT: shutting down"),
            () = stop.cancelled() => return,
        }
        stop.cancel();
    });
    app.run().await?;
    tracing::info!("stopped");
    Ok(())
}
