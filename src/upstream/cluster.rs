//! `Cluster`: the nodes of an HA Vault and which one is active. Its health task is the only
//! writer of the `Snapshot` (an `ArcSwap`, read once per request); requests that find a node
//! failing report it, which takes the node out of routing at once and asks for a check.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::node::{NodeState, Snapshot};

/// When and how long the health task checks. Parameters (not constants) so the routing can
/// be tested on tokio's paused clock.
#[derive(Debug, Clone, Copy)]
pub struct HealthTiming {
    /// Between rounds of checks while a node is active. Each round also keeps one pooled
    /// connection to every node warm for the moment it becomes active.
    pub interval: Duration,
    /// Between rounds while no node is active: an election is probably under way, and its
    /// end is what every waiting request needs to learn.
    pub searching_interval: Duration,
    /// The shortest gap between two rounds, however many failures requests report.
    pub min_gap: Duration,
    /// How long one node has to answer `sys/health`.
    pub probe_timeout: Duration,
    /// How long a request waits for an active node (within its own timeout) before it is
    /// answered 503: longer than a raft election, shorter than a client's patience.
    pub election_wait: Duration,
}

impl Default for HealthTiming {
    fn default() -> Self {
        HealthTiming {
            interval: Duration::from_secs(5),
            searching_interval: Duration::from_millis(250),
            min_gap: Duration::from_millis(100),
            probe_timeout: Duration::from_secs(2),
            election_wait: Duration::from_secs(10),
        }
    }
}

/// What one node's `sys/health` said.
#[derive(Debug, Clone)]
pub struct Health {
    pub state: NodeState,
    pub version: Option<String>,
}

/// Asks one node for its health; the real one is an HTTP call, tests script the answers.
pub trait Probe: Send + Sync + 'static {
    fn health(&self, address: Arc<str>) -> impl Future<Output = Health> + Send;
}

#[derive(Debug)]
pub struct Cluster {
    snapshot: ArcSwap<Snapshot>,
    /// Wakes requests waiting for an active node after every round and report.
    changed: Notify,
    /// Asks the health task for a round now (one stored permit: reports coalesce).
    recheck: Notify,
    timing: HealthTiming,
}

impl Cluster {
    pub fn new(addresses: &[String], timing: HealthTiming) -> Cluster {
        Cluster {
            snapshot: ArcSwap::from_pointee(Snapshot::new(addresses)),
            changed: Notify::new(),
            recheck: Notify::new(),
            timing,
        }
    }

    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.load_full()
    }

    /// The index of the node configured with this `scheme://host:port` (case-insensitive),
    /// the only places a redirect may point to for vaultgate to act on it.
    pub fn node_at(&self, origin: &str) -> Option<usize> {
        self.snapshot
            .load()
            .nodes
            .iter()
            .position(|n| n.address.eq_ignore_ascii_case(origin))
    }

    /// The active node, waiting for one (an election) until `deadline` or the election
    /// wait, whichever comes first. The error is the snapshot that had none.
    pub async fn active(&self, deadline: Instant) -> Result<(usize, Arc<str>), Arc<Snapshot>> {
        let give_up = deadline.min(Instant::now() + self.timing.election_wait);
        loop {
            // Registered before the snapshot is read, so a round finishing in between
            // still wakes this request.
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let snapshot = self.snapshot.load();
            if let Some(i) = snapshot.active {
                return Ok((i, snapshot.nodes[i].address.clone()));
            }
            if tokio::time::timeout_at(give_up, changed).await.is_err() {
                return Err(self.snapshot.load_full());
            }
        }
    }

    /// A request found `node` in `state` (refused, unreachable, not active): it leaves
    /// routing now, and the next round confirms or corrects that.
    pub fn report(&self, node: usize, state: NodeState) {
        let now = Instant::now();
        let before = self.snapshot.rcu(|current| {
            let mut next = Snapshot::clone(current);
            if let Some(n) = next.nodes.get_mut(node) {
                n.state = state;
                n.reported = Some(now);
            }
            next.elect();
            next
        });
        log_changes(&before, &self.snapshot.load());
        self.recheck.notify_one();
    }

    /// Asks for a round of checks without changing what is known (a timeout: slow is not
    /// down).
    pub fn recheck(&self) {
        self.recheck.notify_one();
    }

    /// The health task: a round of checks at once, then every `interval` (every
    /// `searching_interval` while no node is active, and on request, `min_gap` apart).
    pub async fn watch<P: Probe>(&self, probe: Arc<P>, stop: CancellationToken) {
        loop {
            let started = Instant::now();
            tokio::select! {
                () = stop.cancelled() => return,
                () = self.round(&probe) => {}
            }
            let pause = if self.snapshot.load().active.is_some() {
                self.timing.interval
            } else {
                self.timing.searching_interval
            };
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep_until(started + pause) => {}
                () = self.recheck.notified() => {
                    tokio::time::sleep_until(started + self.timing.min_gap).await;
                }
            }
        }
    }

    /// Probes every node at once and publishes what they said.
    async fn round<P: Probe>(&self, probe: &Arc<P>) {
        let started = Instant::now();
        let addresses: Vec<Arc<str>> = self
            .snapshot
            .load()
            .nodes
            .iter()
            .map(|n| n.address.clone())
            .collect();
        let mut probes = JoinSet::new();
        for (i, address) in addresses.into_iter().enumerate() {
            let (probe, limit) = (probe.clone(), self.timing.probe_timeout);
            probes.spawn(async move {
                let health = tokio::time::timeout(limit, probe.health(address))
                    .await
                    .unwrap_or(Health {
                        state: NodeState::Unreachable,
                        version: None,
                    });
                (i, health)
            });
        }
        // Each answer is published as it comes: a silent node (its probe waits out the probe
        // timeout) does not hold back the news of a new leader.
        while let Some(done) = probes.join_next().await {
            if let Ok((i, health)) = done {
                self.publish(started, i, health);
            }
        }
        self.snapshot.rcu(|current| {
            let mut next = Snapshot::clone(current);
            next.checks += 1;
            next
        });
        self.changed.notify_waiters();
    }

    /// What node `i` answered to a probe that left at `started`.
    fn publish(&self, started: Instant, i: usize, health: Health) {
        let before = self.snapshot.rcu(|current| {
            let mut next = Snapshot::clone(current);
            if let Some(node) = next.nodes.get_mut(i) {
                // A failure a request reported after this probe left is newer news.
                if node.reported.is_none_or(|at| at <= started) {
                    node.state = health.state;
                    node.seen = Some(started);
                    node.version = health.version.clone().or(node.version.take());
                }
            }
            next.elect();
            next
        });
        log_changes(&before, &self.snapshot.load());
        self.changed.notify_waiters();
    }
}

/// One line per node whose state changed and one when the active node changes, so the
/// operator's log tells the failover's story.
fn log_changes(before: &Snapshot, after: &Snapshot) {
    for (old, new) in before.nodes.iter().zip(&after.nodes) {
        if old.state != new.state {
            tracing::info!(node = %new.address, state = new.state.as_str(), was = old.state.as_str(), "vault node state");
        }
    }
    if before.active != after.active {
        match after.active {
            Some(i) => tracing::info!(node = %after.nodes[i].address, "vault active node"),
            None => {
                tracing::warn!(nodes = %after.describe(), "no active vault node; requests wait for one")
            }
        }
    }
}

#[cfg(test)]
mod tests;
