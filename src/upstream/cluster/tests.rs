//! The health task and the wait for an active node on tokio's paused clock, with scripted
//! `sys/health` answers.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use super::*;

/// Answers each node's probe from a script of (from this instant on, node states).
struct Script {
    start: Instant,
    /// Sorted by offset; the last entry whose offset has passed applies.
    phases: Mutex<Vec<(Duration, Vec<NodeState>)>>,
    probes: AtomicUsize,
    /// How long each probe takes.
    latency: Duration,
}

impl Script {
    fn new(phases: Vec<(Duration, Vec<NodeState>)>) -> Arc<Script> {
        Arc::new(Script {
            start: Instant::now(),
            phases: Mutex::new(phases),
            probes: AtomicUsize::new(0),
            latency: Duration::from_millis(1),
        })
    }

    fn state(&self, node: usize) -> NodeState {
        let elapsed = self.start.elapsed();
        let phases = self.phases.lock().unwrap();
        let (_, states) = phases
            .iter()
            .rev()
            .find(|(from, _)| *from <= elapsed)
            .unwrap();
        states[node]
    }
}

impl Probe for Script {
    /// `Unknown` in the script stands for a node that never answers (its host is gone).
    async fn health(&self, address: Arc<str>) -> Health {
        self.probes.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(self.latency).await;
        let node = ADDRESSES.iter().position(|a| **a == *address).unwrap();
        let state = self.state(node);
        if state == NodeState::Unknown {
            std::future::pending::<()>().await;
        }
        Health {
            state,
            version: Some("2.7.2".into()),
        }
    }
}

const ADDRESSES: [&str; 3] = ["http://n1:8200", "http://n2:8200", "http://n3:8200"];
const SECOND: Duration = Duration::from_secs(1);

use NodeState::{Active, Sealed, Standby, Uninitialized, Unknown, Unreachable};

fn start(script: &Arc<Script>) -> (Arc<Cluster>, CancellationToken) {
    let addresses: Vec<String> = ADDRESSES.iter().map(|a| a.to_string()).collect();
    let cluster = Arc::new(Cluster::new(&addresses, HealthTiming::default()));
    let stop = CancellationToken::new();
    let (c, p, s) = (cluster.clone(), script.clone(), stop.clone());
    tokio::spawn(async move { c.watch(p, s).await });
    (cluster, stop)
}

#[tokio::test(start_paused = true)]
async fn requests_go_to_the_node_that_says_it_is_active() {
    let script = Script::new(vec![(Duration::ZERO, vec![Standby, Active, Standby])]);
    let (cluster, stop) = start(&script);
    let (node, address) = cluster.active(Instant::now() + SECOND).await.unwrap();
    assert_eq!((node, &*address), (1, "http://n2:8200"));
    let snapshot = cluster.snapshot();
    assert_eq!(
        snapshot.describe(),
        "http://n1:8200: standby, http://n2:8200: active, http://n3:8200: standby"
    );
    assert_eq!(snapshot.nodes[1].version.as_deref(), Some("2.7.2"));
    stop.cancel();
}

#[tokio::test(start_paused = true)]
async fn a_request_waits_through_an_election_for_the_new_active_node() {
    // n1 dies at 10 s; the standbys elect n3 two seconds later.
    let script = Script::new(vec![
        (Duration::ZERO, vec![Active, Standby, Standby]),
        (10 * SECOND, vec![Unreachable, Standby, Standby]),
        (12 * SECOND, vec![Unreachable, Standby, Active]),
    ]);
    let (cluster, stop) = start(&script);
    assert_eq!(cluster.active(Instant::now() + SECOND).await.unwrap().0, 0);
    tokio::time::sleep(10 * SECOND - script.start.elapsed()).await;
    // A request finds n1 gone: it reports it, and waits.
    cluster.report(0, Unreachable);
    let asked = Instant::now();
    let (node, _) = cluster.active(asked + 30 * SECOND).await.unwrap();
    assert_eq!(node, 2);
    let waited = asked.elapsed();
    // Found by the first round after the election: rounds are a searching interval apart.
    let timing = HealthTiming::default();
    assert!(waited >= 2 * SECOND, "{waited:?}");
    assert!(
        waited <= 2 * SECOND + timing.searching_interval + 10 * script.latency,
        "{waited:?}"
    );
    assert_eq!(cluster.snapshot().active_changes, 1);
    stop.cancel();
}

#[tokio::test(start_paused = true)]
async fn a_silent_old_leader_does_not_hold_back_the_new_one() {
    // n1's host vanishes at 9 s (its probes never answer); n2 is elected at 9.5 s.
    let script = Script::new(vec![
        (Duration::ZERO, vec![Active, Standby, Standby]),
        (9 * SECOND, vec![Unknown, Standby, Standby]),
        (9 * SECOND + SECOND / 2, vec![Unknown, Active, Standby]),
    ]);
    let (cluster, stop) = start(&script);
    assert_eq!(cluster.active(Instant::now() + SECOND).await.unwrap().0, 0);
    // The round at 10 s hears n2 claim to be active, a fresher claim than n1's from 5 s,
    // and publishes it before n1's probe gives up (at 12 s): requests move at once.
    tokio::time::sleep(10 * SECOND + SECOND / 10 - script.start.elapsed()).await;
    let (node, _) = cluster.active(Instant::now()).await.unwrap();
    assert_eq!(node, 1);
    assert_eq!(
        cluster.snapshot().nodes[0].state,
        Active,
        "n1's probe is still out"
    );
    tokio::time::sleep(2 * SECOND).await;
    assert_eq!(cluster.snapshot().nodes[0].state, Unreachable);
    assert_eq!(cluster.active(Instant::now()).await.unwrap().0, 1);
    stop.cancel();
}

#[tokio::test(start_paused = true)]
async fn with_no_active_node_a_request_waits_the_election_wait_and_no_longer() {
    let script = Script::new(vec![(Duration::ZERO, vec![Sealed, Uninitialized, Standby])]);
    let (cluster, stop) = start(&script);
    let asked = Instant::now();
    let none = cluster.active(asked + 60 * SECOND).await.unwrap_err();
    assert_eq!(asked.elapsed(), HealthTiming::default().election_wait);
    assert_eq!(
        none.describe(),
        "http://n1:8200: sealed, http://n2:8200: uninitialized, http://n3:8200: standby"
    );
    // And never past the request's own deadline.
    let asked = Instant::now();
    cluster.active(asked + SECOND).await.unwrap_err();
    assert_eq!(asked.elapsed(), SECOND);
    stop.cancel();
}

#[tokio::test(start_paused = true)]
async fn sealed_and_uninitialized_nodes_are_never_chosen() {
    let script = Script::new(vec![
        (Duration::ZERO, vec![Sealed, Uninitialized, Active]),
        (5 * SECOND, vec![Sealed, Uninitialized, Unreachable]),
    ]);
    let (cluster, stop) = start(&script);
    for _ in 0..50 {
        match cluster.active(Instant::now() + SECOND).await {
            Ok((node, _)) => assert_eq!(node, 2),
            Err(snapshot) => assert_eq!(snapshot.active, None),
        }
        tokio::time::sleep(SECOND / 5).await;
    }
    stop.cancel();
}

#[tokio::test(start_paused = true)]
async fn steady_checks_are_an_interval_apart_and_reports_coalesce_min_gap_apart() {
    let script = Script::new(vec![(Duration::ZERO, vec![Active, Standby, Standby])]);
    let (cluster, stop) = start(&script);
    cluster.active(Instant::now() + SECOND).await.unwrap();
    tokio::time::sleep(62 * SECOND - script.start.elapsed()).await;
    let rounds = cluster.snapshot().checks;
    // One at once, then one every 5 s: 0 s, 5 s, ... 60 s.
    assert_eq!(rounds, 13, "{rounds} rounds in 62 s");
    // A thousand failures reported within 50 ms make rounds min_gap apart at most: three in
    // the 300 ms that follow, not a thousand.
    for i in 0..1000 {
        cluster.report(1, Unreachable);
        if i % 100 == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    tokio::time::sleep(HealthTiming::default().min_gap * 3).await;
    let after = cluster.snapshot().checks - rounds;
    assert!(
        (1..=3).contains(&after),
        "{after} rounds after a storm of reports"
    );
    // The rounds corrected the reports: the standby answered.
    assert_eq!(cluster.snapshot().nodes[1].state, Standby);
    assert_eq!(
        script.probes.load(Ordering::Relaxed) as u64,
        3 * cluster.snapshot().checks
    );
    stop.cancel();
}

#[tokio::test(start_paused = true)]
async fn a_failure_reported_during_a_round_is_not_undone_by_that_round() {
    // Each probe takes 1 s here: the report lands while the round is in flight.
    let mut script = Script::new(vec![(Duration::ZERO, vec![Active, Standby, Standby])]);
    Arc::get_mut(&mut script).unwrap().latency = SECOND;
    let (cluster, stop) = start(&script);
    cluster.active(Instant::now() + 5 * SECOND).await.unwrap();
    // The round after the first starts at 1 s + 5 s; report in its middle.
    tokio::time::sleep(6 * SECOND + SECOND / 2 - script.start.elapsed()).await;
    cluster.report(0, Unreachable);
    tokio::time::sleep(SECOND).await;
    assert_eq!(
        cluster.snapshot().nodes[0].state,
        Unreachable,
        "the older probe kept out"
    );
    // The round the report asked for starts after it and restores the node.
    tokio::time::sleep(2 * SECOND).await;
    assert_eq!(cluster.snapshot().nodes[0].state, Active);
    stop.cancel();
}

#[test]
fn a_redirect_matches_a_configured_node_whatever_the_case() {
    let addresses: Vec<String> = ADDRESSES.iter().map(|a| a.to_string()).collect();
    let cluster = Cluster::new(&addresses, HealthTiming::default());
    assert_eq!(cluster.node_at("HTTP://N2:8200"), Some(1));
    assert_eq!(cluster.node_at("http://n2:8201"), None);
    assert_eq!(cluster.node_at("http://evil:8200"), None);
}
