//! [security] #15 acceptance, generated: random policies over namespaced paths and random
//! requests whose full path is split at random between `X-Vault-Namespace` and the URL,
//! sent through a live vaultgate (whose service token may do anything, sudo included) and
//! judged against a real OpenBao with namespaces:
//! - (a) whatever vaultgate forwards, the same policy on a token in OpenBao allows;
//! - (b) wherever OpenBao lands a forwarded request (the test knows the namespaces), a
//!   sensitive endpoint was granted by an exact rule and a sudo path by a rule with `sudo`,
//!   whichever way the caller split the path.
//!
//! Every other seed runs with the namespaces declared (`[vault] namespaces`, so vaultgate
//! places requests exactly) and the others without (so it must assume every split).
//!
//! A fixed seed always runs, plus two from the clock, each printed; replay with
//! `CONFORMANCE_NS_SEED=<n>[,<n>...]`.

use serde_json::{json, Value};

use crate::support::differential::{self, hcl, matches, send, Rng, Rule, EVERYTHING};
use crate::support::gate::Gate;
use crate::support::openbao::OpenBao;
use crate::support::pki::Pki;

const FIXED_SEED: u64 = 0x5eed_0015_0000_0001;
/// Cases of a seed in a default run (three seeds); a replay of fewer seeds runs more each.
const CASES_PER_SEED: usize = 800;
const MIN_CASES: usize = 2_000;

/// Namespaces that exist on the server; `nosuch` is used in requests and never created.
const NAMESPACES: [&str; 3] = ["acme", "acme/team", "globex"];
const REQUEST_NAMESPACES: [&str; 5] = ["", "acme", "acme/team", "globex", "nosuch"];

/// Endpoints, relative to the namespace they land in: method, path, body, and what the test
/// itself holds them to (independently of vaultgate's tables).
struct Target {
    method: &'static str,
    path: &'static str,
    body: Option<&'static str>,
    sensitive: bool,
    sudo: bool,
}

const fn t(
    method: &'static str,
    path: &'static str,
    body: Option<&'static str>,
    sensitive: bool,
    sudo: bool,
) -> Target {
    Target {
        method,
        path,
        body,
        sensitive,
        sudo,
    }
}

const KV2: Option<&str> = Some(r#"{"data":{"k":"v"}}"#);
const TARGETS: &[Target] = &[
    t("GET", "kv/data/k1", None, false, false),
    t("POST", "kv/data/k1", KV2, false, false),
    t("GET", "kv/k1", None, false, false),
    t("POST", "kv/k1", Some(r#"{"k":"v"}"#), false, false),
    t("GET", "secret/data/k1", None, false, false),
    t(
        "GET",
        "secret/data/acme/sys/internal/ui/mounts/kv/x",
        None,
        false,
        false,
    ),
    t("GET", "sys/internal/ui/mounts/kv/x", None, false, false),
    t(
        "GET",
        "sys/internal/ui/mounts/secret/k1",
        None,
        false,
        false,
    ),
    t(
        "POST",
        "auth/token/create",
        Some(r#"{"policies":["none"],"ttl":"1m"}"#),
        true,
        true,
    ),
    t(
        "POST",
        "auth/token/create",
        Some(r#"{"ttl":"1m","no_default_policy":true}"#),
        true,
        false,
    ),
    t(
        "POST",
        "auth/token/create",
        Some(r#"{"no_parent":true,"ttl":"1m"}"#),
        true,
        true,
    ),
    t("GET", "auth/token/lookup-self", None, true, false),
    t("LIST", "auth/token/accessors", None, true, true),
    t("GET", "cubbyhole/c1", None, true, false),
    t("POST", "cubbyhole/c1", Some(r#"{"k":"v"}"#), true, false),
    t("GET", "identity/entity/name/e1", None, true, false),
    t(
        "POST",
        "sys/auth/m1",
        Some(r#"{"type":"userpass"}"#),
        true,
        true,
    ),
    t("GET", "sys/mounts", None, true, false),
    t("LIST", "sys/leases/lookup/kv", None, true, true),
    t(
        "POST",
        "sys/capabilities-self",
        Some(r#"{"paths":["kv/k1"]}"#),
        true,
        false,
    ),
    t("GET", "sys/audit", None, true, true),
    t("DELETE", "pki/root", None, false, true),
    t("GET", "pki/issuers", None, false, false),
];

const RULE_PREFIXES: [&str; 6] = ["", "acme/", "acme/team/", "globex/", "+/", "secret/data/"];
const RULE_TAILS: &[&str] = &[
    "*",
    "kv/*",
    "kv/data/*",
    "auth/token/create",
    "auth/token/*",
    "auth/*",
    "sys/*",
    "sys/leases/*",
    "sys/auth/*",
    "sys/internal/ui/mounts/*",
    "pki/*",
    "pki/root",
    "cubbyhole/*",
    "identity/*",
    "acme/*",
    "acme/sys/*",
    "auth/token/lookup-self",
    "sys/mounts",
    "sys/capabilities-self",
    "sys/audit",
    "sys/leases/lookup/*",
    "auth/token/accessors",
];
const CAPS: [&str; 6] = ["create", "read", "update", "delete", "list", "sudo"];

fn policy(rng: &mut Rng) -> Vec<Rule> {
    // Every policy allows some plain KV traffic, so each seed has forwarded cases to judge.
    let base = [
        ("kv/*", vec!["read", "create", "update", "list"]),
        ("acme/kv/*", vec!["read", "create", "update", "list"]),
        ("globex/*", vec!["read", "list"]),
    ]
    .into_iter()
    .map(|(pattern, caps)| Rule::new(pattern, caps));
    let generated: Vec<Rule> = (0..15 + rng.below(15))
        .map(|_| {
            // Globs over namespaces and engines, or an exact rule naming one target in one
            // namespace (what a sensitive endpoint needs).
            let pattern = if rng.chance(40) {
                let ns = *rng.pick(&REQUEST_NAMESPACES);
                let target = rng.pick(TARGETS).path;
                if ns.is_empty() {
                    target.to_owned()
                } else {
                    format!("{ns}/{target}")
                }
            } else {
                format!("{}{}", rng.pick(&RULE_PREFIXES), rng.pick(RULE_TAILS))
            };
            let caps = if rng.chance(8) {
                vec!["deny"]
            } else {
                CAPS.iter().copied().filter(|_| rng.chance(65)).collect()
            };
            Rule::new(pattern, caps)
        })
        .filter(|r| !r.caps.is_empty())
        .collect();
    base.chain(generated).collect()
}

/// The namespace OpenBao routes a full path into: the longest existing one before a path.
fn landing(full: &str) -> (&str, &str) {
    NAMESPACES
        .iter()
        .filter_map(|ns| {
            full.strip_prefix(ns)
                .and_then(|r| r.strip_prefix('/'))
                .map(|r| (*ns, r))
        })
        .max_by_key(|(ns, _)| ns.len())
        .unwrap_or(("", full))
}

async fn server() -> OpenBao {
    let bao = OpenBao::start().await;
    let ok = |(s, v): (u16, Value), what: &str| assert!(s < 300, "{what}: {s} {v}");
    let kv2 = json!({"type": "kv", "options": {"version": "2"}});
    let kv1 = json!({"type": "kv", "options": {"version": "1"}});
    ok(
        bao.api("POST", "sys/namespaces/acme", None, "root").await,
        "acme",
    );
    ok(
        bao.api("POST", "acme/sys/namespaces/team", None, "root")
            .await,
        "acme/team",
    );
    ok(
        bao.api("POST", "sys/namespaces/globex", None, "root").await,
        "globex",
    );
    ok(
        bao.api("POST", "sys/mounts/kv", Some(kv1.clone()), "root")
            .await,
        "kv",
    );
    ok(
        bao.api("POST", "acme/sys/mounts/kv", Some(kv2.clone()), "root")
            .await,
        "acme/kv",
    );
    ok(
        bao.api("POST", "acme/team/sys/mounts/kv", Some(kv1), "root")
            .await,
        "acme/team/kv",
    );
    ok(
        bao.api("POST", "globex/sys/mounts/kv", Some(kv2), "root")
            .await,
        "globex/kv",
    );
    for ns in ["", "acme/"] {
        ok(
            bao.api(
                "POST",
                &format!("{ns}sys/mounts/pki"),
                Some(json!({"type": "pki"})),
                "root",
            )
            .await,
            "pki",
        );
    }
    bao.write_policy("everything", EVERYTHING).await;
    bao
}

#[derive(Default)]
struct Tally {
    cases: usize,
    forwarded: usize,
    refused: usize,
    bypasses: Vec<String>,
}

async fn run_seed(seed: u64, declared: bool, cases: usize, pki: &Pki) -> Tally {
    let mut rng = Rng(seed);
    let rules = policy(&mut rng);
    let text = hcl(&rules);
    let bao = server().await;
    bao.write_policy("generated", &text).await;
    let policy_token = bao.create_token(&["generated"], true).await;
    let broad = bao.create_token(&["everything"], true).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("t.hcl"), &text).unwrap();
    let vault = Gate::default_vault(&bao)
        + if declared {
            "namespaces = [\"acme\", \"acme/team\", \"globex\"]\n"
        } else {
            ""
        };
    let gate = Gate::builder(&bao, pki)
        .token_services(&[("t/s", &broad)])
        .policies(dir.path())
        .vault(&vault)
        .start()
        .await;
    gate.discovered().await;
    let through = pki.client_for("t/s");
    let direct = reqwest::Client::new();
    let mut tally = Tally::default();
    for _ in 0..cases {
        let target = rng.pick(TARGETS);
        let ns = *rng.pick(&REQUEST_NAMESPACES);
        let full = if ns.is_empty() {
            target.path.to_owned()
        } else {
            format!("{ns}/{}", target.path)
        };
        let segments: Vec<&str> = full.split('/').collect();
        // Half the time at the namespace's own boundary (as clients send it), half anywhere.
        let cut = if rng.chance(50) && !ns.is_empty() {
            ns.split('/').count()
        } else {
            rng.below(segments.len())
        };
        let (header, path) = (segments[..cut].join("/"), segments[cut..].join("/"));
        let header = (!header.is_empty()).then_some(header);
        // (a) The request as it is forwarded (path form), with the policy's own token. A
        // write is asked first: it may change what exists, and so whether Vault reads the
        // next write as a create or an update; vaultgate's write then meets that state, and
        // counts only if Vault applied it (a check-and-set refusal applies nothing).
        let write = matches!(target.method, "POST" | "PUT");
        let bao_addr = bao.addr();
        let oracle = || {
            send(
                &direct,
                &bao_addr,
                target.method,
                None,
                &full,
                target.body,
                Some(&policy_token),
            )
        };
        let first = if write { Some(oracle().await) } else { None };
        let via = send(
            &through,
            &gate.url(),
            target.method,
            header.as_deref(),
            &path,
            target.body,
            None,
        )
        .await;
        tally.cases += 1;
        let forwarded = !via.by_vaultgate();
        if !forwarded {
            tally.refused += usize::from(via.status == 400);
            continue;
        }
        tally.forwarded += 1;
        let label = format!(
            "{} {full} (header {header:?}, path {path:?}) -> {}",
            target.method, via.status
        );
        if write && !(200..300).contains(&via.status) {
            continue;
        }
        let alone = match first {
            Some(alone) => alone,
            None => oracle().await,
        };
        if alone.acl_denied() {
            tally
                .bypasses
                .push(format!("{label}: OpenBao denies it under the same policy"));
        }
        // (b) Where it landed, checked against the policy text itself.
        // (b) Where it landed, checked against the policy text itself. A request into a
        // namespace that does not exist lands in root on a path no target names.
        let (landed, rel) = landing(&full);
        if rel != target.path {
            continue;
        }
        let exact = rules
            .iter()
            .any(|r| r.pattern == full && !r.caps.contains(&"deny"));
        if target.sensitive && !exact {
            tally.bypasses.push(format!(
                "{label}: sensitive {landed}:{rel} without an exact rule"
            ));
        }
        let sudo = rules
            .iter()
            .any(|r| matches(&r.pattern, &full) && r.caps.contains(&"sudo"));
        if target.sudo && !sudo {
            tally.bypasses.push(format!(
                "{label}: sudo path {landed}:{rel} without a sudo grant"
            ));
        }
    }
    gate.stop().await;
    if !tally.bypasses.is_empty() {
        println!("seed {seed} policy:\n{text}");
        for b in &tally.bypasses {
            println!("  {b}");
        }
    }
    tally
}

#[tokio::test]
async fn namespace_splits_never_allow_more_than_the_policy() {
    let pki = Pki::new(&["t/s"]);
    let (mut total, mut bypasses) = (0, Vec::new());
    let seeds = differential::seeds(FIXED_SEED, "CONFORMANCE_NS_SEED", 2);
    let per_seed = CASES_PER_SEED.max(MIN_CASES.div_ceil(seeds.len()));
    for (i, seed) in seeds.into_iter().enumerate() {
        let declared = i % 2 == 1;
        println!("conformance_ns: seed {seed} (CONFORMANCE_NS_SEED={seed}), namespaces declared: {declared}");
        let tally = run_seed(seed, declared, per_seed, &pki).await;
        println!(
            "conformance_ns: seed {seed}: {} cases, {} forwarded, {} refused as ambiguous, {} bypasses",
            tally.cases, tally.forwarded, tally.refused, tally.bypasses.len()
        );
        assert!(
            tally.forwarded >= tally.cases / 20,
            "seed {seed}: too few cases forwarded to judge"
        );
        total += tally.cases;
        bypasses.extend(
            tally
                .bypasses
                .into_iter()
                .map(|b| format!("seed {seed}: {b}")),
        );
    }
    assert!(total >= MIN_CASES, "only {total} cases");
    assert!(
        bypasses.is_empty(),
        "{} bypasses:\n{}",
        bypasses.len(),
        bypasses.join("\n")
    );
}
