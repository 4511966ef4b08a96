//! Reloads and signals in one place. `Control` is the one task, owned by `App`, that turns
//! SIGHUP, SIGUSR1/SIGUSR2 and SIGTERM/SIGINT (and the admin endpoint's lockdown requests)
//! into a reload notice, the lockdown state and shutdown, each on a `watch` channel the
//! policy store, the TLS configurations, the audit sinks and the renewers subscribe to.
//! `FileWatch` is the one debounced file watch (notify-debouncer-mini) they all use.

use std::path::PathBuf;
use std::time::Duration;

use notify::RecursiveMode;
use notify_debouncer_mini::{new_debouncer, DebounceEventResult, Debouncer};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

/// Changes within this window are one reload: an editor's save, a certificate and its key,
/// or the kubelet's swap of a `..data` link are several events.
pub const DEBOUNCE: Duration = Duration::from_millis(200);

#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error("cannot watch {}: {source}", path.display())]
    Watch {
        path: PathBuf,
        source: notify::Error,
    },
    #[error("cannot install the {signal} handler: {source}")]
    Signal {
        signal: &'static str,
        source: std::io::Error,
    },
}

/// A debounced watch over some paths; `changed` completes once per burst of changes.
pub struct FileWatch {
    _debouncer: Debouncer<notify::RecommendedWatcher>,
    events: mpsc::UnboundedReceiver<()>,
}

impl std::fmt::Debug for FileWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileWatch").finish_non_exhaustive()
    }
}

impl FileWatch {
    /// Watches each path (a directory: its entries, recursively when asked).
    pub fn new(paths: &[PathBuf], recursive: bool) -> Result<FileWatch, ReloadError> {
        let (tx, events) = mpsc::unbounded_channel();
        let mut debouncer = new_debouncer(DEBOUNCE, move |result: DebounceEventResult| {
            if result.is_ok() {
                let _ = tx.send(());
            }
        })
        .map_err(|source| ReloadError::Watch {
            path: paths.first().cloned().unwrap_or_default(),
            source,
        })?;
        let mode = if recursive {
            RecursiveMode::Recursive
        } else {
            RecursiveMode::NonRecursive
        };
        for path in paths {
            debouncer
                .watcher()
                .watch(path, mode)
                .map_err(|source| ReloadError::Watch {
                    path: path.clone(),
                    source,
                })?;
        }
        Ok(FileWatch {
            _debouncer: debouncer,
            events,
        })
    }

    /// Completes after the next burst of changes; pending for ever if the watcher died.
    pub async fn changed(&mut self) {
        if self.events.recv().await.is_none() {
            std::future::pending::<()>().await;
        }
        while self.events.try_recv().is_ok() {}
    }
}

/// Waits for the next change of an optional watch (pending for ever without one).
pub async fn changed(watch: &mut Option<FileWatch>) {
    match watch {
        Some(w) => w.changed().await,
        None => std::future::pending().await,
    }
}

/// The lockdown state as everyone but the control task holds it: read it, wait for changes,
/// and ask for a change (the control task is the only writer).
#[derive(Debug, Clone)]
pub struct Lockdown {
    state: watch::Receiver<bool>,
    asks: mpsc::Sender<bool>,
}

impl Lockdown {
    pub fn is_on(&self) -> bool {
        *self.state.borrow()
    }

    /// A receiver of the state, to wait on changes.
    pub fn subscribe(&self) -> watch::Receiver<bool> {
        self.state.clone()
    }

    /// Asks for lockdown (`true`) or unlock and waits until it is in force.
    pub async fn set(&self, on: bool) {
        if self.asks.send(on).await.is_ok() {
            let mut state = self.state.clone();
            let _ = state.wait_for(|s| *s == on).await;
        }
    }
}

/// The one writer of the reload notice and the lockdown state.
#[derive(Debug)]
pub struct Control {
    reload: watch::Sender<u64>,
    lockdown: watch::Sender<bool>,
    asks: mpsc::Receiver<bool>,
    handle: Lockdown,
    shutdown: CancellationToken,
}

impl Control {
    pub fn new(shutdown: CancellationToken) -> Control {
        let (reload, _) = watch::channel(0);
        let (lockdown, state) = watch::channel(false);
        let (ask, asks) = mpsc::channel(16);
        Control {
            reload,
            lockdown,
            asks,
            handle: Lockdown { state, asks: ask },
            shutdown,
        }
    }

    /// Notices of a reload request (SIGHUP): every subscriber re-reads its files.
    pub fn reloads(&self) -> watch::Receiver<u64> {
        self.reload.subscribe()
    }

    pub fn lockdown(&self) -> Lockdown {
        self.handle.clone()
    }

    /// Serves lockdown requests until shutdown; with `signals`, also the process's signals
    /// (only `vaultgate run` installs them: in a test process they would outlive the app).
    pub async fn run(mut self, signals: bool) -> Result<(), ReloadError> {
        let mut os = if signals {
            Some(OsSignals::install()?)
        } else {
            None
        };
        loop {
            tokio::select! {
                () = self.shutdown.cancelled() => return Ok(()),
                Some(on) = self.asks.recv() => self.set_lockdown(on, "admin"),
                event = os_signal(&mut os) => match event {
                    Event::Reload => {
                        tracing::info!("SIGHUP: reloading policies and TLS, reopening audit files");
                        self.reload.send_modify(|n| *n += 1);
                    }
                    Event::Lockdown(on) => self.set_lockdown(on, if on { "SIGUSR1" } else { "SIGUSR2" }),
                    Event::Stop(name) => {
                        tracing::info!("{name}: shutting down");
                        self.shutdown.cancel();
                    }
                },
            }
        }
    }

    fn set_lockdown(&self, on: bool, by: &str) {
        if on {
            tracing::warn!("{by}: lockdown, refusing every request and revoking every token");
        } else {
            tracing::warn!("{by}: unlock, logging in afresh");
        }
        self.lockdown.send_replace(on);
    }
}

enum Event {
    Reload,
    Lockdown(bool),
    Stop(&'static str),
}

struct OsSignals {
    hup: tokio::signal::unix::Signal,
    usr1: tokio::signal::unix::Signal,
    usr2: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl OsSignals {
    fn install() -> Result<OsSignals, ReloadError> {
        let on = |kind: SignalKind, name: &'static str| {
            signal(kind).map_err(|source| ReloadError::Signal {
                signal: name,
                source,
            })
        };
        Ok(OsSignals {
            hup: on(SignalKind::hangup(), "SIGHUP")?,
            usr1: on(SignalKind::user_defined1(), "SIGUSR1")?,
            usr2: on(SignalKind::user_defined2(), "SIGUSR2")?,
            term: on(SignalKind::terminate(), "SIGTERM")?,
            int: on(SignalKind::interrupt(), "SIGINT")?,
        })
    }
}

async fn os_signal(os: &mut Option<OsSignals>) -> Event {
    let Some(s) = os else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = s.hup.recv() => Event::Reload,
        _ = s.usr1.recv() => Event::Lockdown(true),
        _ = s.usr2.recv() => Event::Lockdown(false),
        _ = s.term.recv() => Event::Stop("SIGTERM"),
        _ = s.int.recv() => Event::Stop("SIGINT"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn lockdown_requests_go_through_the_one_writer() {
        let stop = CancellationToken::new();
        let control = Control::new(stop.clone());
        let lockdown = control.lockdown();
        let task = tokio::spawn(control.run(false));
        assert!(!lockdown.is_on());
        lockdown.set(true).await;
        assert!(lockdown.is_on());
        lockdown.set(false).await;
        assert!(!lockdown.is_on());
        stop.cancel();
        assert!(task.await.unwrap().is_ok());
    }

    #[tokio::test]
    async fn a_write_below_a_watched_directory_is_seen() {
        let dir = tempfile::tempdir().unwrap();
        let mut watch = FileWatch::new(&[dir.path().to_owned()], false).unwrap();
        for i in 0..5 {
            std::fs::write(dir.path().join(format!("f{i}")), "x").unwrap();
        }
        tokio::time::timeout(Duration::from_secs(5), watch.changed())
            .await
            .expect("no change seen");
    }
}
