//! `Collector`: an in-test SIEM collector on a loopback TCP port that keeps every JSON line
//! it receives, and can be stopped and restarted on the same port.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub struct Collector {
    pub port: u16,
    lines: Arc<Mutex<Vec<String>>>,
    stop: CancellationToken,
    accept: Option<tokio::task::JoinHandle<()>>,
}

impl Collector {
    pub async fn start() -> Collector {
        let mut c = Collector {
            port: super::openbao::free_port(),
            lines: Arc::default(),
            stop: CancellationToken::new(),
            accept: None,
        };
        c.restart().await;
        c
    }

    /// The lines received so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// Stops as a collector does on SIGTERM: the port closes at once (connections are
    /// refused) and open connections are half-closed, then read until the sender closes.
    pub async fn stop(&mut self) {
        self.stop.cancel();
        if let Some(t) = self.accept.take() {
            t.await.unwrap();
        }
    }

    /// Listens again on the same port.
    pub async fn restart(&mut self) {
        self.stop = CancellationToken::new();
        let listener = TcpListener::bind(("127.0.0.1", self.port)).await.unwrap();
        let (lines, stop) = (self.lines.clone(), self.stop.clone());
        self.accept = Some(tokio::spawn(async move {
            loop {
                let stream = tokio::select! {
                    () = stop.cancelled() => return,
                    s = listener.accept() => s.unwrap().0,
                };
                let (lines, stop) = (lines.clone(), stop.clone());
                tokio::spawn(async move {
                    let (read, mut write) = stream.into_split();
                    let mut reader = BufReader::new(read).lines();
                    let mut stopping = false;
                    // Bounded: a sender that never closes is cut off after a minute.
                    let _ = tokio::time::timeout(Duration::from_secs(60), async {
                        loop {
                            tokio::select! {
                                () = stop.cancelled(), if !stopping => {
                                    stopping = true;
                                    let _ = write.shutdown().await;
                                }
                                line = reader.next_line() => match line {
                                    Ok(Some(l)) => lines.lock().unwrap().push(l),
                                    _ => return,
                                },
                            }
                        }
                    })
                    .await;
                });
            }
        }));
    }
}
