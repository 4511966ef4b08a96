//! The failover test's load: per service a cached reader, an uncached reader and a writer,
//! each sequential, paced and bounded in count; what every request got; and the success
//! counters the test's steps wait on.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::support::pki::Pki;

/// A request still unanswered after this has hung: a failure, not a slow answer.
const HANG: Duration = Duration::from_secs(20);
/// Bounds on the load: requests per worker, and a pause between two of one worker's.
const MAX_PER_WORKER: usize = 5000;
const PACE: Duration = Duration::from_millis(5);
/// A step that has not reached its condition by then has failed.
pub const PHASE_LIMIT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Cached,
    Uncached,
    Write,
}

#[derive(Debug)]
pub struct Outcome {
    pub kind: Kind,
    pub started: Instant,
    pub took: Duration,
    /// 0 when no HTTP answer came (reset, hang).
    pub status: u16,
    pub id: Option<String>,
    pub body: Value,
    /// For a write: the path under `secret/data/` and the value written.
    pub wrote: Option<(String, u64)>,
}

struct Worker {
    kind: Kind,
    client: reqwest::Client,
    base: String,
    service: &'static str,
    name: String,
    successes: Arc<AtomicUsize>,
}

impl Worker {
    async fn run(self, stop: Arc<AtomicBool>) -> Vec<Outcome> {
        let mut out = Vec::new();
        let secrets = format!("{}/v1/secret/data/{}", self.base, self.service);
        for i in 0..MAX_PER_WORKER {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            let (req, wrote) = match self.kind {
                Kind::Cached => (self.client.get(format!("{secrets}/cached")), None),
                Kind::Uncached => (
                    self.client
                        .get(format!("{secrets}/fresh"))
                        .header("cache-control", "no-cache"),
                    None,
                ),
                Kind::Write => {
                    let path = format!("{}/{}-{i}", self.service, self.name);
                    let req = self
                        .client
                        .post(format!("{}/v1/secret/data/{path}", self.base))
                        .json(&json!({"data": {"n": i}}));
                    (req, Some((path, i as u64)))
                }
            };
            let started = Instant::now();
            let (status, id, body) = match req.timeout(HANG).send().await {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let id = resp
                        .headers()
                        .get("x-vaultgate-request-id")
                        .map(|v| v.to_str().unwrap().to_owned());
                    match resp.bytes().await {
                        Ok(b) => (
                            status,
                            id,
                            serde_json::from_slice(&b).unwrap_or(Value::Null),
                        ),
                        Err(e) => (0, id, json!(format!("{status} body: {e}"))),
                    }
                }
                Err(e) => (0, None, json!(e.to_string())),
            };
            if (200..300).contains(&status) {
                self.successes.fetch_add(1, Ordering::Relaxed);
            }
            out.push(Outcome {
                kind: self.kind,
                started,
                took: started.elapsed(),
                status,
                id,
                body,
                wrote,
            });
            tokio::time::sleep(PACE).await;
        }
        out
    }
}

/// Waits until `done()` holds, polling; panics naming `what` after `PHASE_LIMIT`.
pub async fn until(what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < PHASE_LIMIT,
            "{what}: not within {PHASE_LIMIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The six workers, running until `finish`.
pub struct Load {
    stop: Arc<AtomicBool>,
    progress: HashMap<String, Arc<AtomicUsize>>,
    tasks: Vec<tokio::task::JoinHandle<Vec<Outcome>>>,
}

impl Load {
    /// Starts the workers of each service (its client certificate from `pki`) against the
    /// vaultgate at `base`.
    pub fn start(pki: &Pki, base: &str, services: &[&'static str]) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let mut progress = HashMap::new();
        let mut tasks = Vec::new();
        for service in services {
            let client = pki.client_for(service);
            for kind in [Kind::Cached, Kind::Uncached, Kind::Write] {
                let name = format!("{}-{kind:?}", service.replace('/', "-")).to_lowercase();
                let successes = Arc::new(AtomicUsize::new(0));
                progress.insert(name.clone(), successes.clone());
                let worker = Worker {
                    kind,
                    client: client.clone(),
                    base: base.to_owned(),
                    service,
                    name,
                    successes,
                };
                tasks.push(tokio::spawn(worker.run(stop.clone())));
            }
        }
        Load {
            stop,
            progress,
            tasks,
        }
    }

    /// Waits until every worker has had `n` more successes than when this was called.
    pub async fn successes(&self, what: &str, n: usize) {
        let count = |c: &AtomicUsize| c.load(Ordering::Relaxed);
        let from: HashMap<&String, usize> =
            self.progress.iter().map(|(k, c)| (k, count(c))).collect();
        until(what, || {
            self.progress.iter().all(|(k, c)| count(c) >= from[k] + n)
        })
        .await;
    }

    /// Stops the workers; returns every request's outcome.
    pub async fn finish(self) -> Vec<Outcome> {
        self.stop.store(true, Ordering::Relaxed);
        let mut outcomes = Vec::new();
        for t in self.tasks {
            outcomes.extend(t.await.unwrap());
        }
        outcomes
    }
}
