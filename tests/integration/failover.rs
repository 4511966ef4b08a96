//! [topology] Acceptance: vaultgate in front of a 3-node OpenBao raft cluster (TLS, HTTP/2)
//! under constant load from two services (cached reads, uncached reads, writes). The active
//! node is killed (SIGKILL): every request succeeds or gets a 5xx with a Vault-style error
//! within the timeout, service resumes on the new active node, every write that got a 2xx is
//! in Vault afterwards, the audit holds one record per request, tokens keep renewing (and
//! are revoked at shutdown, on the new active node). Then the old node comes back and
//! rejoins, and the active node is sealed (a graceful step-down): callers see no error at
//! all in either. Run with
//! `--nocapture` for the figures docs/benchmarks.md ("Failover") records.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use serde_json::{json, Value};

use crate::support::cluster::BaoCluster;
use crate::support::gate::Gate;
use crate::support::pki::Pki;

const SERVICES: [&str; 2] = ["acme/billing", "acme/orders"];
/// `[vault] timeout`: no answer may take (much) longer.
const TIMEOUT: Duration = Duration::from_secs(5);
/// A request still unanswered after this has hung: a failure, not a slow answer.
const HANG: Duration = Duration::from_secs(20);
/// Bounds on the load: requests per worker, and a pause between two of one worker's.
const MAX_PER_WORKER: usize = 5000;
const PACE: Duration = Duration::from_millis(5);
/// A phase that has not reached its condition by then has failed.
const PHASE_LIMIT: Duration = Duration::from_secs(60);
/// The token TTL: short, so renewals happen during the test (at about two thirds of it).
const TOKEN_TTL: u64 = 6;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Cached,
    Uncached,
    Write,
}

#[derive(Debug)]
struct Outcome {
    kind: Kind,
    started: Instant,
    took: Duration,
    /// 0 when no HTTP answer came (reset, hang).
    status: u16,
    id: Option<String>,
    body: Value,
    /// For a write: the path under `secret/data/` and the value written.
    wrote: Option<(String, u64)>,
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
async fn until(what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < PHASE_LIMIT,
            "{what}: not within {PHASE_LIMIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn admin_get(gate: &Gate, path: &str) -> String {
    reqwest::Client::new()
        .get(format!("http://{}{path}", gate.admin.as_ref().unwrap()))
        .bearer_auth("admin-token-0123456789")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

async fn vault_nodes(gate: &Gate) -> Value {
    let ready: Value = serde_json::from_str(&admin_get(gate, "/readyz").await).unwrap();
    ready["checks"]["vault"].clone()
}

#[tokio::test]
async fn killing_the_active_node_under_load_fails_over_and_the_rejoin_is_invisible() {
    let pki = Pki::new(&SERVICES);
    let tls = (pki.server_cert(), pki.server_key(), pki.ca_cert());
    let mut cluster = BaoCluster::start(Some(tls)).await;
    *cluster.approle_ttls.lock().unwrap() = (TOKEN_TTL, 3600);
    for service in SERVICES {
        cluster
            .kv_put(&format!("{service}/cached"), json!({"v": "cached"}))
            .await;
        cluster
            .kv_put(&format!("{service}/fresh"), json!({"v": "fresh"}))
            .await;
    }
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.jsonl");
    let gate = start_gate(&cluster, &pki, dir.path(), &audit).await;
    cluster.wait_voters().await;

    let stop = Arc::new(AtomicBool::new(false));
    let mut progress: HashMap<String, Arc<AtomicUsize>> = HashMap::new();
    let mut tasks = Vec::new();
    for service in SERVICES {
        let client = pki.client_for(service);
        for kind in [Kind::Cached, Kind::Uncached, Kind::Write] {
            let name = format!("{}-{kind:?}", service.replace('/', "-")).to_lowercase();
            let successes = Arc::new(AtomicUsize::new(0));
            progress.insert(name.clone(), successes.clone());
            let worker = Worker {
                kind,
                client: client.clone(),
                base: gate.url(),
                service,
                name,
                successes,
            };
            tasks.push(tokio::spawn(worker.run(stop.clone())));
        }
    }
    let each_past = |n: usize, from: &HashMap<String, usize>| {
        progress
            .iter()
            .all(|(k, v)| v.load(Ordering::Relaxed) >= from.get(k).copied().unwrap_or(0) + n)
    };
    let snapshot = || -> HashMap<String, usize> {
        progress
            .iter()
            .map(|(k, v)| (k.clone(), v.load(Ordering::Relaxed)))
            .collect()
    };
    until("warm-up: 50 answers per worker", || {
        each_past(50, &HashMap::new())
    })
    .await;

    // The kill. Who wins the election is raft's business: watch the others' health.
    let old = cluster.wait_active().await;
    let renewals_before: Vec<u64> = SERVICES
        .iter()
        .map(|s| gate.cells[*s].status().renewals)
        .collect();
    let (killed_at, killed_wall) = (Instant::now(), SystemTime::now());
    cluster.nodes[old].kill();
    let elected = loop {
        if let Some(i) = cluster.active().await {
            break i;
        }
        assert!(killed_at.elapsed() < PHASE_LIMIT, "no new leader");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let elected_at = Instant::now();
    assert_ne!(elected, old);
    let at_election = snapshot();
    until(
        "recovery: 30 successes per worker after the election",
        || each_past(30, &at_election),
    )
    .await;
    let recovered_at = Instant::now();

    // What vaultgate shows meanwhile: the new active node, the old one unreachable.
    let addresses = cluster.addresses();
    let vault = vault_nodes(&gate).await;
    assert_eq!(vault["ok"], true, "{vault}");
    assert_eq!(vault["active"], addresses[elected].as_str(), "{vault}");
    assert_eq!(vault["nodes"][&addresses[old]], "unreachable", "{vault}");
    let metrics = admin_get(&gate, "/metrics").await;
    let dead = format!(
        "vaultgate_vault_node_state{{node=\"{}\",state=\"unreachable\"}} 1",
        addresses[old]
    );
    assert!(metrics.contains(&dead), "{metrics}");
    let changes = metrics
        .lines()
        .find_map(|l| l.strip_prefix("vaultgate_vault_active_changes_total "))
        .and_then(|v| v.parse::<u64>().ok());
    assert!(changes.is_some_and(|n| n >= 1), "{metrics}");

    // The old node comes back sealed, is unsealed and rejoins as a standby.
    let rejoin_started = Instant::now();
    cluster.rejoin(old).await;
    let rejoined_at = Instant::now();
    let mut seen_standby = false;
    let started = Instant::now();
    while !seen_standby {
        assert!(
            started.elapsed() < PHASE_LIMIT,
            "vaultgate never saw the old node as a standby"
        );
        seen_standby = vault_nodes(&gate).await["nodes"][&addresses[old]] == "standby";
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let at_rejoin = snapshot();
    until("after the rejoin: 30 more successes per worker", || {
        each_past(30, &at_rejoin)
    })
    .await;
    // A graceful step-down: the active node is sealed. Requests that reach it before the
    // next health round are refused ("Vault is sealed") unprocessed, so sent again.
    let sealing = cluster.wait_active().await;
    // Sealing takes a moment: the node holds requests that arrive meanwhile, then refuses them.
    let sealed_at = Instant::now();
    let (status, body) = cluster.api("PUT", "sys/seal", None).await;
    assert_eq!(status, 204, "{body}");
    let at_seal = snapshot();
    until("after the seal: 30 more successes per worker", || {
        each_past(30, &at_seal)
    })
    .await;
    assert_ne!(cluster.wait_active().await, sealing);
    until("each service's token renewed since the kill", || {
        SERVICES
            .iter()
            .zip(&renewals_before)
            .all(|(s, before)| gate.cells[*s].status().renewals > *before)
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    let mut outcomes = Vec::new();
    for t in tasks {
        outcomes.extend(t.await.unwrap());
    }
    let renewals: Vec<u64> = SERVICES
        .iter()
        .map(|s| gate.cells[*s].status().renewals)
        .collect();
    let held = SERVICES.iter().all(|s| gate.cells[*s].current().is_some());
    let tokens: Vec<String> = SERVICES.iter().map(|s| gate.token(s)).collect();
    gate.stop().await;
    // Shutdown revoked both tokens on the new active node, as every token call goes there.
    let active = &cluster.nodes[cluster.wait_active().await];
    for token in &tokens {
        let (status, _) = active
            .api("GET", "auth/token/lookup-self", None, token)
            .await;
        assert_eq!(status, 403, "a service token outlived vaultgate's shutdown");
    }

    // Every answer: a success, or a 5xx in Vault's error shape, within the timeout.
    let mut errors: HashMap<(&str, Kind, u16), usize> = HashMap::new();
    for o in &outcomes {
        assert_ne!(o.status, 0, "no HTTP answer: {:?}", o);
        assert!(
            o.took < TIMEOUT + Duration::from_secs(3),
            "answered after {:?}: {o:?}",
            o.took
        );
        if (200..300).contains(&o.status) {
            continue;
        }
        assert!(o.status >= 500, "{o:?}");
        let first = o.body["errors"][0].as_str().unwrap_or_default();
        assert!(
            !first.is_empty(),
            "a {} without a Vault-style error: {o:?}",
            o.status
        );
        // In flight at the kill (a write whose answer was lost is not sent again) or sent
        // after it, or in flight at the seal (a write the stepping-down leader could not
        // commit: Vault's own 500); none before the kill, none around the rejoin.
        let ended = o.started + o.took;
        assert!(ended >= killed_at, "an error before the kill: {o:?}");
        let phase = if o.started < rejoin_started {
            "kill"
        } else {
            assert!(ended >= sealed_at, "an error around the rejoin: {o:?}");
            "seal"
        };
        *errors.entry((phase, o.kind, o.status)).or_default() += 1;
    }
    // Every write Vault acknowledged through vaultgate is there.
    let written: Vec<&(String, u64)> = outcomes
        .iter()
        .filter(|o| (200..300).contains(&o.status))
        .filter_map(|o| o.wrote.as_ref())
        .collect();
    assert!(written.len() > 100, "only {} writes", written.len());
    for (path, n) in &written {
        let (status, v) = active
            .api("GET", &format!("secret/data/{path}"), None, &cluster.root)
            .await;
        assert_eq!(
            (status, &v["data"]["data"]["n"]),
            (200, &json!(n)),
            "{path}"
        );
    }
    // The writes answered 5xx were in flight when the node died: Vault may have them or not.
    let mut lost = (0, 0);
    for o in outcomes.iter().filter(|o| o.status >= 500) {
        if let Some((path, _)) = &o.wrote {
            let (status, _) = active
                .api("GET", &format!("secret/data/{path}"), None, &cluster.root)
                .await;
            lost = (lost.0 + 1, lost.1 + usize::from(status == 200));
        }
    }
    // One audit record per request: every answer's id exactly once, and nothing else.
    let ids: Vec<&String> = outcomes.iter().filter_map(|o| o.id.as_ref()).collect();
    assert_eq!(ids.len(), outcomes.len(), "an answer without a request id");
    let mut recorded: HashMap<String, usize> = HashMap::new();
    for line in std::fs::read_to_string(&audit).unwrap().lines() {
        let record: Value = serde_json::from_str(line).unwrap();
        if record["type"] == "request" {
            *recorded
                .entry(record["request_id"].as_str().unwrap().to_owned())
                .or_default() += 1;
        }
    }
    assert_eq!(recorded.len(), ids.len(), "audit records vs answers");
    for id in ids {
        assert_eq!(recorded.get(id), Some(&1), "request {id}");
    }
    assert!(held, "a service lost its token");
    for ((s, before), after) in SERVICES.iter().zip(&renewals_before).zip(&renewals) {
        assert!(
            after > before,
            "{s}: no renewal after the kill ({before} -> {after})"
        );
    }

    // The new leader's own log: when raft elected it and when it began serving as the active
    // node (the test's polling above sees that later, by up to a polling round).
    let since_kill = |text: &str| {
        let at = cluster.nodes[elected].logged(text, killed_wall)?;
        Some(killed_at + at.duration_since(killed_wall).ok()?)
    };
    let leader = since_kill("entering leader state").unwrap_or(elected_at);
    let serving = since_kill("core: starting raft active node").unwrap_or(elected_at);
    report(
        &outcomes,
        &errors,
        lost,
        &Timeline {
            killed: killed_at,
            leader,
            serving,
            elected: elected_at,
            recovered: recovered_at,
            rejoin_started,
            rejoined: rejoined_at,
            sealed: sealed_at,
        },
    );
}

/// When each step of the test happened.
struct Timeline {
    killed: Instant,
    /// Raft elected the new leader (its log).
    leader: Instant,
    /// The new leader began serving as the active node (its log).
    serving: Instant,
    /// The test's polling first saw a survivor answer `sys/health` 200.
    elected: Instant,
    /// Every worker had 30 successes after the election.
    recovered: Instant,
    rejoin_started: Instant,
    /// The old node answered as a standby again.
    rejoined: Instant,
    sealed: Instant,
}

/// The figures docs/benchmarks.md records, printed for `--nocapture`.
fn report(
    outcomes: &[Outcome],
    errors: &HashMap<(&str, Kind, u16), usize>,
    (lost, applied): (usize, usize),
    t: &Timeline,
) {
    let ms = |d: Duration| d.as_millis();
    // Service resumed: the first success, per kind, of a request sent after the kill.
    let resumed = |kind: Kind| {
        outcomes
            .iter()
            .filter(|o| o.kind == kind && o.started >= t.killed && (200..300).contains(&o.status))
            .map(|o| o.started + o.took)
            .min()
            .map(|end| ms(end.saturating_duration_since(t.serving)))
    };
    let between = |from: Instant, to: Option<Instant>| {
        outcomes
            .iter()
            .filter(move |o| o.started >= from && to.map_or(true, |to| o.started < to))
    };
    let slowest = |from: Instant, to: Option<Instant>| {
        between(from, to)
            .map(|o| ms(o.took))
            .max()
            .unwrap_or_default()
    };
    // Around the rejoin: the requests answered before the seal began.
    let rejoin: Vec<&Outcome> = between(t.rejoin_started, None)
        .filter(|o| o.started + o.took < t.sealed)
        .collect();
    for o in outcomes.iter().filter(|o| o.status >= 500) {
        println!(
            "failover error: {:?} {} {}",
            o.kind, o.status, o.body["errors"][0]
        );
    }
    let total_errors: usize = errors.values().sum();
    println!(
        "failover: {} requests, {total_errors} errors {errors:?} ({lost} writes without an answer, \
         {applied} of them applied); kill: {} requests until the rejoin, new leader elected after {} ms \
         and active after {} ms (its log; seen by polling after {} ms), first success through \
         vaultgate after it was active: uncached read {:?} ms, write {:?} ms, slowest answer {} ms, \
         30 successes per worker after {} ms; rejoin (restart + unseal + standby) {} ms, \
         then {} requests, slowest {} ms; seal of the active node: {} requests, slowest {} ms",
        outcomes.len(),
        between(t.killed, Some(t.rejoin_started)).count(),
        ms(t.leader - t.killed),
        ms(t.serving - t.killed),
        ms(t.elected - t.killed),
        resumed(Kind::Uncached),
        resumed(Kind::Write),
        slowest(t.killed, Some(t.rejoin_started)),
        ms(t.recovered - t.killed),
        ms(t.rejoined - t.rejoin_started),
        rejoin.len(),
        rejoin.iter().map(|o| ms(o.took)).max().unwrap_or_default(),
        between(t.sealed, None).count(),
        slowest(t.sealed, None),
    );
}

async fn start_gate(cluster: &BaoCluster, pki: &Pki, dir: &Path, audit: &Path) -> Gate {
    let addresses: Vec<String> = cluster
        .addresses()
        .iter()
        .map(|a| format!("\"{a}\""))
        .collect();
    let vault = format!(
        "addresses = [{}]\nca_cert = \"{}\"\ntimeout = \"{}s\"\nconnect_timeout = \"1s\"\n",
        addresses.join(", "),
        pki.ca_cert().display(),
        TIMEOUT.as_secs()
    );
    let token_file = dir.join("admin.token");
    std::fs::write(&token_file, "admin-token-0123456789").unwrap();
    let extra = format!(
        "\n[audit]\nfile = \"{}\"\n\n[admin]\naddress = \"127.0.0.1:0\"\ntoken_file = \"{}\"\n",
        audit.display(),
        token_file.display()
    );
    let policies = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("policies");
    Gate::start_tuned(cluster, pki, &SERVICES, &[], &policies, &vault, &extra).await
}
