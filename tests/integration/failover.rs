//! [topology] Acceptance: vaultgate in front of a 3-node OpenBao raft cluster (TLS, HTTP/2)
//! under constant load from two services (cached reads, uncached reads, writes). The active
//! node is killed (SIGKILL): every request succeeds or gets a 5xx with a Vault-style error
//! within the timeout, service resumes on the new active node, every write that got a 2xx is
//! in Vault afterwards, the audit holds one record per request, tokens keep renewing (and
//! are revoked at shutdown, on the new active node). Then the old node comes back and
//! rejoins: callers see no error. Last, the active node is sealed (a graceful step-down).
//! Run with `--nocapture` for the figures docs/benchmarks.md ("Failover") records.

mod figures;
mod load;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use serde_json::{json, Value};

use crate::support::cluster::BaoCluster;
use crate::support::gate::Gate;
use crate::support::pki::Pki;
use crate::support::raft::RaftNode;
use figures::{report, Timeline};
use load::{until, Kind, Load, Outcome, PHASE_LIMIT};

const SERVICES: [&str; 2] = ["acme/billing", "acme/orders"];
/// `[vault] timeout`: no answer may take (much) longer.
const TIMEOUT: Duration = Duration::from_secs(5);
/// The token TTL: short, so renewals happen during the test (at about two thirds of it).
const TOKEN_TTL: u64 = 6;

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

    let load = Load::start(&pki, &gate.url(), &SERVICES);
    load.successes("warm-up: 50 successes per worker", 50).await;

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
    load.successes("recovery: 30 successes per worker after the election", 30)
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
    load.successes("after the rejoin: 30 more successes per worker", 30)
        .await;
    // A graceful step-down: the active node is sealed. Requests that reach it before the
    // next health round are refused ("Vault is sealed") unprocessed, so sent again.
    let sealing = cluster.wait_active().await;
    // Sealing takes a moment: the node holds requests that arrive meanwhile, then refuses them.
    let sealed_at = Instant::now();
    let (status, body) = cluster.api("PUT", "sys/seal", None).await;
    assert_eq!(status, 204, "{body}");
    load.successes("after the seal: 30 more successes per worker", 30)
        .await;
    assert_ne!(cluster.wait_active().await, sealing);
    until("each service's token renewed since the kill", || {
        SERVICES
            .iter()
            .zip(&renewals_before)
            .all(|(s, before)| gate.cells[*s].status().renewals > *before)
    })
    .await;
    let outcomes = load.finish().await;
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

    let errors = check_answers(&outcomes, killed_at, rejoin_started, sealed_at);
    let lost = check_writes(active, &cluster.root, &outcomes).await;
    check_audit(&audit, &outcomes);
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

/// Every answer: a success, or a 5xx in Vault's error shape, within the timeout, and only
/// around the kill and the seal. Returns the errors by step, kind and status.
fn check_answers(
    outcomes: &[Outcome],
    killed_at: Instant,
    rejoin_started: Instant,
    sealed_at: Instant,
) -> HashMap<(&'static str, Kind, u16), usize> {
    let mut errors = HashMap::new();
    for o in outcomes {
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
    errors
}

/// Every write Vault acknowledged through vaultgate is there; returns how many writes got
/// a 5xx and how many of those Vault has anyway.
async fn check_writes(active: &RaftNode, root: &str, outcomes: &[Outcome]) -> (usize, usize) {
    let written: Vec<&(String, u64)> = outcomes
        .iter()
        .filter(|o| (200..300).contains(&o.status))
        .filter_map(|o| o.wrote.as_ref())
        .collect();
    assert!(written.len() > 100, "only {} writes", written.len());
    for (path, n) in &written {
        let (status, v) = active
            .api("GET", &format!("secret/data/{path}"), None, root)
            .await;
        assert_eq!(
            (status, &v["data"]["data"]["n"]),
            (200, &json!(n)),
            "{path}"
        );
    }
    // The writes answered 5xx were in flight when a node died or stepped down: Vault may
    // have them or not.
    let mut lost = (0, 0);
    for o in outcomes.iter().filter(|o| o.status >= 500) {
        if let Some((path, _)) = &o.wrote {
            let (status, _) = active
                .api("GET", &format!("secret/data/{path}"), None, root)
                .await;
            lost = (lost.0 + 1, lost.1 + usize::from(status == 200));
        }
    }
    lost
}

/// One audit record per request: every answer's id exactly once, and nothing else.
fn check_audit(audit: &Path, outcomes: &[Outcome]) {
    let ids: Vec<&String> = outcomes.iter().filter_map(|o| o.id.as_ref()).collect();
    assert_eq!(ids.len(), outcomes.len(), "an answer without a request id");
    let mut recorded: HashMap<String, usize> = HashMap::new();
    for line in std::fs::read_to_string(audit).unwrap().lines() {
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
    Gate::builder(cluster, pki)
        .services(&SERVICES)
        .policies(&policies)
        .vault(&vault)
        .extra(&extra)
        .start()
        .await
}
