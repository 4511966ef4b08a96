//! [policy] acceptance, generated: random policies and random requests, decided by
//! vaultgate's `PolicySet` and by a real OpenBao token carrying the same policy text.
//!
//! Each seed gets a fresh OpenBao, a policy of 15–30 rules over a tiny alphabet (so paths
//! collide: exact rules, trailing `*` at every depth and inside a segment, `+` with and
//! without a trailing `*`, deny, repeated path strings, list-only rules for the LIST
//! fallback), and 3,000 requests over the same alphabet, half of them aimed near a rule.
//! Every disagreement must be one of the documented deliberate refusals
//! (`conformance::judge`), and the writes and help excuses are checked against OpenBao's own
//! `sys/capabilities`; vaultgate allowing what OpenBao denies is always a failure.
//! `CONFORMANCE_VERBOSE=1` prints every deliberate difference.
//!
//! One fixed seed always runs, plus two seeds taken from the clock, each printed.
//! `CONFORMANCE_SEED=<n>[,<n>...]` replaces the clock seeds, to replay a failure: a seed's
//! policy and its first requests depend only on the seed, and each seed starts from a fresh
//! OpenBao, so a replay sees the same answers.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Instant;

use serde_json::json;
use vaultgate::identity::Caller;
use vaultgate::policy::PolicySet;

use crate::conformance::{
    self, Case, Kind, Proxy, Verdict, AMBIGUOUS_REASON, HELP_REASON, SENSITIVE_REASON, WRITES,
};
use crate::support::differential::{self, Rng, Rule};
use crate::support::openbao::OpenBao;

const FIXED_SEED: u64 = 0x5eed_c0de_2024_0001;
/// Requests over all seeds of a default run (one fixed and two clock seeds).
const TOTAL_CASES: usize = 9_000;
const MIN_CASES_PER_SEED: usize = 3_000;

/// Segments shared by rules and requests; `ab` starts like `a`, so `a*` covers both.
const SEGMENTS: &[&str] = &["a", "b", "ab", "x", "priv"];

/// Where rules are rooted. `secret/+/` makes one rule cover KV v2 data and metadata.
const RULE_MOUNTS: &[(&str, usize)] = &[
    ("secret/data/", 8),
    ("secret/metadata/", 5),
    ("kv/", 8),
    ("cubbyhole/", 1),
    ("secret/+/", 1),
];

const REQUEST_MOUNTS: &[(&str, usize)] = &[
    ("secret/data/", 8),
    ("secret/metadata/", 5),
    ("kv/", 8),
    ("cubbyhole/", 1),
];

/// Capability groups a rule draws from; create and update also come alone.
const CAPABILITY_GROUPS: &[&[&str]] = &[
    &["read"],
    &["read"],
    &["list"],
    &["create", "update"],
    &["create", "update"],
    &["update"],
    &["create"],
    &["delete"],
    &["patch"],
];

fn segments(rng: &mut Rng, n: usize, plus_percent: usize) -> Vec<&'static str> {
    (0..n)
        .map(|_| {
            if rng.chance(plus_percent) {
                "+"
            } else {
                *rng.pick(SEGMENTS)
            }
        })
        .collect()
}

fn pattern(rng: &mut Rng) -> String {
    let mount = rng.weighted(RULE_MOUNTS);
    let n = rng.weighted(&[(0, 2), (1, 5), (2, 5), (3, 2)]);
    let segs = segments(rng, n, 20);
    let joined = segs.join("/");
    let last = segs.last().copied();
    match (rng.below(10), last) {
        // No segment: only a glob at the mount root makes sense (`kv/*`, `secret/data/*`).
        (_, None) => format!("{mount}*"),
        // Exact (or `+` without a trailing `*`), sometimes with the `/` a list carries.
        (0..=3, Some(_)) => {
            if rng.chance(10) {
                format!("{mount}{joined}/")
            } else {
                format!("{mount}{joined}")
            }
        }
        // A glob inside the last segment: `kv/a*`, `kv/a/p*`, or just `kv/ab*`. `+*` is
        // refused by both, so a `+` takes a `/*` instead.
        (4..=6, Some(last)) if last != "+" => {
            let keep = rng.below(last.len() + 1);
            let head = &segs[..segs.len() - 1];
            let prefix = &last[..keep];
            if head.is_empty() {
                format!("{mount}{prefix}*")
            } else {
                format!("{mount}{}/{prefix}*", head.join("/"))
            }
        }
        _ => format!("{mount}{joined}/*"),
    }
}

fn capabilities(rng: &mut Rng) -> Vec<&'static str> {
    if rng.chance(14) {
        return vec!["deny"];
    }
    let groups = rng.weighted(&[(1, 5), (2, 4), (3, 2)]);
    let mut caps: Vec<&'static str> = Vec::new();
    for _ in 0..groups {
        for cap in *rng.pick(CAPABILITY_GROUPS) {
            if !caps.contains(cap) {
                caps.push(*cap);
            }
        }
    }
    caps
}

fn policy(rng: &mut Rng) -> Vec<Rule> {
    let count = 15 + rng.below(16);
    let mut rules: Vec<Rule> = Vec::with_capacity(count);
    while rules.len() < count {
        let rule = if !rules.is_empty() && rng.chance(12) {
            // The same path string again: capabilities OR-ed, a deny wins alone.
            Rule::new(rng.pick(&rules).pattern.clone(), capabilities(rng))
        } else if rng.chance(12) {
            // A list-only rule on a metadata path, reached by LIST through the fallback that
            // trims the `/` a list appends (`secret/metadata/a` grants `LIST …/a/`).
            let n = 1 + rng.below(2);
            let mut pattern = format!("secret/metadata/{}", segments(rng, n, 15).join("/"));
            if rng.chance(15) {
                pattern.push('/');
            }
            Rule::new(pattern, vec!["list"])
        } else {
            Rule::new(pattern(rng), capabilities(rng))
        };
        rules.push(rule);
    }
    rules
}

/// Merged capabilities of one pattern string: OR-ed, with deny alone.
fn merged(rules: &[Rule], pattern: &str) -> BTreeSet<&'static str> {
    let caps: BTreeSet<&'static str> = rules
        .iter()
        .filter(|rule| rule.pattern == pattern)
        .flat_map(|rule| rule.caps.iter().copied())
        .collect();
    if caps.contains("deny") {
        BTreeSet::from(["deny"])
    } else {
        caps
    }
}

/// A path some rule of the policy reaches, or nearly: `+` filled in, the `*` completed,
/// then perhaps cut to its parent or given a child.
fn near_rule(rng: &mut Rng, rules: &[Rule]) -> String {
    let pattern = &rng.pick(rules).pattern;
    let tokens: Vec<&str> = pattern.split('/').collect();
    let mut out: Vec<String> = Vec::new();
    for (i, token) in tokens.iter().enumerate() {
        if *token == "+" {
            let fill = if i == 1 && tokens[0] == "secret" {
                *rng.pick(&["data", "metadata"])
            } else {
                *rng.pick(SEGMENTS)
            };
            out.push(fill.to_owned());
        } else if let Some(prefix) = token.strip_suffix('*') {
            let mut completion = *rng.pick(&["", "", "b", "c", "x/a", "/b"]);
            if prefix.is_empty() {
                // No empty segment: `kv/a/*` completes to `kv/a/b`, not `kv/a//b`.
                completion = completion.trim_start_matches('/');
            }
            out.push(format!("{prefix}{completion}"));
        } else {
            out.push((*token).to_owned());
        }
    }
    let mut path = out.join("/").trim_end_matches('/').to_owned();
    match rng.below(6) {
        0 => {
            if let Some((parent, _)) = path.rsplit_once('/') {
                path = parent.to_owned();
            }
        }
        1 => {
            path.push('/');
            path.push_str(rng.pick::<&str>(SEGMENTS));
        }
        _ => {}
    }
    path
}

fn request(rng: &mut Rng, rules: &[Rule]) -> Case {
    let kind = rng.weighted(&[
        (Kind::Read, 24),
        (Kind::List, 14),
        (Kind::ListQuery, 4),
        (Kind::Post, 20),
        (Kind::Put, 4),
        (Kind::Patch, 10),
        (Kind::Delete, 10),
        (Kind::Help, 2),
        (Kind::Head, 1),
    ]);
    let mut path = if rng.chance(50) {
        near_rule(rng, rules)
    } else {
        random_path(rng)
    };
    let listing = matches!(kind, Kind::List | Kind::ListQuery);
    // A list may carry its `/` already; elsewhere a trailing `/` is refused as ambiguous.
    if (listing && rng.chance(25)) || (!listing && rng.chance(3)) {
        path.push('/');
    }
    Case { kind, path }
}

fn random_path(rng: &mut Rng) -> String {
    let mount = rng.weighted(REQUEST_MOUNTS);
    let n = rng.weighted(&[(0, 1), (1, 6), (2, 6), (3, 4), (4, 1)]);
    let segs: Vec<&str> = (0..n)
        .map(|_| {
            // Mostly the rules' alphabet; now and then a name no rule spells, or the literal
            // characters that are wildcards in a rule.
            rng.weighted(&[
                ("a", 6),
                ("b", 6),
                ("ab", 5),
                ("x", 5),
                ("priv", 5),
                ("abc", 2),
                ("zz", 2),
                ("+", 1),
                ("a*", 1),
            ])
        })
        .collect();
    if segs.is_empty() {
        mount.trim_end_matches('/').to_owned()
    } else {
        format!("{mount}{}", segs.join("/"))
    }
}

/// Keys that exist before the requests run, so that writes go both ways in OpenBao.
async fn seed_data(bao: &OpenBao, rng: &mut Rng) {
    for _ in 0..12 {
        let n = 1 + rng.below(3);
        let key = segments(rng, n, 0).join("/");
        if rng.chance(50) {
            bao.kv_put(&key, json!({"k": "seed"})).await;
        } else {
            let (status, body) = bao
                .api(
                    "POST",
                    &format!("kv/{key}"),
                    Some(json!({"k": "seed"})),
                    "root",
                )
                .await;
            assert_eq!(status, 204, "seed kv/{key}: {body}");
        }
    }
}

#[derive(Default)]
struct Tally {
    cases: usize,
    agreements: usize,
    both_allow: usize,
    before_acl: usize,
    deliberate: BTreeMap<&'static str, usize>,
    mismatches: Vec<String>,
}

async fn run_seed(seed: u64, cases: usize, client: &reqwest::Client) -> (Tally, String) {
    let mut rng = Rng(seed);
    let rules = policy(&mut rng);
    let hcl = differential::hcl(&rules);

    let bao = OpenBao::start().await;
    let (status, body) = bao
        .api(
            "POST",
            "sys/mounts/kv",
            Some(json!({"type": "kv", "options": {"version": "1"}})),
            "root",
        )
        .await;
    assert_eq!(status, 204, "mount kv/: {body}");
    bao.write_policy("generated", &hcl).await;
    let token = bao.create_token(&["generated"], true).await;
    seed_data(&bao, &mut rng).await;

    let caller = Caller::new("acme", "billing").unwrap();
    let set = PolicySet::from_sources(
        vec![(PathBuf::from("acme.hcl"), hcl.clone())],
        std::slice::from_ref(&caller),
    )
    .unwrap_or_else(|e| panic!("seed {seed}: vaultgate refused the policy: {e}\n{hcl}"));
    let capabilities = |pattern: &str| merged(&rules, pattern);

    let mut tally = Tally::default();
    for _ in 0..cases {
        let case = request(&mut rng, &rules);
        let proxy = conformance::proxy(&set, &caller, &case).unwrap();
        let answer = conformance::openbao(client, &bao, &token, &case)
            .await
            .unwrap();
        tally.cases += 1;
        tally.before_acl += usize::from(answer.note.is_some());
        match conformance::judge(&case, &proxy, &answer, &capabilities) {
            Verdict::Agree => {
                tally.agreements += 1;
                tally.both_allow += usize::from(matches!(proxy, Proxy::Allowed));
            }
            Verdict::Deliberate(reason) if !confirmed(&bao, &token, &case, reason).await => {
                tally.mismatches.push(format!(
                    "{case}: proxy {proxy}, OpenBao {answer}; excused as \"{reason}\", but \
                     OpenBao's sys/capabilities on {:?} does not bear that out",
                    conformance::acl_path(&case)
                ));
            }
            Verdict::Deliberate(reason) => {
                if std::env::var_os("CONFORMANCE_VERBOSE").is_some() {
                    println!(
                        "differs on purpose ({reason}): {case}: proxy {proxy}, OpenBao {answer}"
                    );
                }
                *tally.deliberate.entry(reason).or_default() += 1;
            }
            Verdict::Mismatch(why) => tally
                .mismatches
                .push(format!("{case}: {why}; proxy {proxy}, OpenBao {answer}")),
        }
    }
    (tally, hcl)
}

/// A deliberate difference is excused by the rule vaultgate says decided; check the excuse
/// against OpenBao's own view of the token's capabilities on the path, so that vaultgate
/// picking the wrong rule cannot hide behind it.
async fn confirmed(bao: &OpenBao, token: &str, case: &Case, reason: &str) -> bool {
    let check = match reason {
        WRITES | HELP_REASON => reason,
        _ => return true,
    };
    let path = conformance::acl_path(case);
    let caps = conformance::token_capabilities(bao, token, &path)
        .await
        .unwrap();
    let has = |c: &str| caps.iter().any(|x| x == c);
    if check == WRITES {
        // The rule OpenBao applies grants exactly one of the two.
        has("create") != has("update")
    } else {
        // Help is denied for want of read, or because a pattern reaches a sensitive path.
        !has("read") || is_sensitive(&path)
    }
}

/// The sensitive prefixes the generated paths can reach.
fn is_sensitive(path: &str) -> bool {
    path == "cubbyhole" || path.starts_with("cubbyhole/")
}

#[tokio::test]
async fn generated_policy_decisions_agree_with_openbao() {
    let started = Instant::now();
    let seeds = differential::seeds(FIXED_SEED, "CONFORMANCE_SEED", 2);
    // Enough per seed that a default run reaches TOTAL_CASES; a replay with fewer seeds
    // runs more requests per seed, whose first ones are those of the default run.
    let per_seed = MIN_CASES_PER_SEED.max(TOTAL_CASES.div_ceil(seeds.len()));
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    let mut total = 0;
    let mut total_deliberate: BTreeMap<&str, usize> = BTreeMap::new();
    let mut failures = Vec::new();
    for &seed in &seeds {
        println!("conformance_gen: seed {seed} (replay with CONFORMANCE_SEED={seed})");
        let seed_started = Instant::now();
        let (tally, hcl) = run_seed(seed, per_seed, &client).await;
        println!(
            "conformance_gen: seed {seed}: {} cases in {:.1}s, {} agree ({} both allow, {} both \
             deny, {} answered by OpenBao before its ACL), {} deliberate differences, {} \
             unexplained",
            tally.cases,
            seed_started.elapsed().as_secs_f64(),
            tally.agreements,
            tally.both_allow,
            tally.agreements - tally.both_allow,
            tally.before_acl,
            tally.deliberate.values().sum::<usize>(),
            tally.mismatches.len()
        );
        for (reason, n) in &tally.deliberate {
            println!("  {n:5}  {reason}");
            *total_deliberate.entry(reason).or_default() += n;
        }
        // A policy under which nothing is allowed would compare nothing of interest.
        assert!(
            tally.both_allow >= tally.cases / 50,
            "seed {seed}: only {} of {} cases allowed by both\n{hcl}",
            tally.both_allow,
            tally.cases
        );
        total += tally.cases;
        if !tally.mismatches.is_empty() {
            let shown: Vec<&String> = tally.mismatches.iter().take(40).collect();
            failures.push(format!(
                "seed {seed} (CONFORMANCE_SEED={seed}): {} unexplained differences\npolicy:\n{hcl}\
                 cases:\n{}",
                tally.mismatches.len(),
                shown
                    .iter()
                    .map(|m| format!("  {m}"))
                    .collect::<Vec<_>>()
                    .join("\n")
            ));
        }
    }
    println!(
        "conformance_gen: {total} cases over {} seeds in {:.1}s; deliberate differences: {:?}",
        seeds.len(),
        started.elapsed().as_secs_f64(),
        total_deliberate
    );
    for reason in [WRITES, AMBIGUOUS_REASON, SENSITIVE_REASON, HELP_REASON] {
        if !total_deliberate.contains_key(reason) {
            println!("conformance_gen: no case this run shows: {reason}");
        }
    }
    assert!(total >= TOTAL_CASES, "only {total} cases");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
