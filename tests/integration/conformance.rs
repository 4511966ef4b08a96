//! [policy] acceptance: vaultgate's policy engine agrees with OpenBao. One policy text is
//! loaded into OpenBao (as the only policy on a token) and into `PolicySet`; a few hundred
//! generated (method, path) requests are decided by both, and every allow/deny must match,
//! except where vaultgate is stricter on purpose (policies/README.md), which each case names.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use bytes::Bytes;
use serde_json::json;
use vaultgate::identity::Caller;
use vaultgate::policy::{Decision, PolicySet};
use vaultgate::vault::operation::{ClassifyLimits, Operation};

use crate::support::openbao::OpenBao;

/// Helpers hand failures of the test's own plumbing to the test function, which panics.
pub(crate) type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// The policy under test, as (pattern, capabilities) in file order. Kept as data so that the
/// test can say which capabilities the deciding rule had without trusting vaultgate's text.
const RULES: &[(&str, &[&str])] = &[
    // An exact rule beats every glob, and an exact deny beats the glob it sits under.
    ("secret/data/app/config", &["read"]),
    (
        "secret/data/app/*",
        &["read", "create", "update", "delete", "patch"],
    ),
    ("secret/data/app/admin", &["deny"]),
    // Overlapping globs of different lengths: the longest one decides alone.
    ("secret/data/app/team/*", &["read"]),
    ("secret/data/app/team/lead/*", &["deny"]),
    // `*` inside a segment is a prefix glob on the segment.
    ("secret/data/pfx*", &["read", "list"]),
    ("secret/data/pfxa*", &["delete"]),
    // `+` matches exactly one segment, without a trailing `*` the segment count must match.
    ("secret/data/+", &["read"]),
    ("secret/data/+/shared", &["read"]),
    ("secret/data/+/+/deep", &["read", "create", "update"]),
    // `+` combined with a trailing `*` on the last segment.
    ("secret/data/team/+/cfg*", &["read", "patch"]),
    // Same first wildcard position: a rule without trailing `*` outranks one with it, and
    // among two trailing-`*` rules the one with fewer `+` wins.
    ("secret/data/svc/*", &["list"]),
    ("secret/data/svc/+/cfg", &["read"]),
    ("secret/data/svc/+/log*", &["read"]),
    // Ties on the first wildcard: the longer rule wins, then the lexicographically larger.
    ("secret/data/len/+/ab*", &["read"]),
    ("secret/data/len/+/abc*", &["deny"]),
    ("secret/data/pri/+/a/+", &["read"]),
    ("secret/data/pri/+/+/b", &["deny"]),
    // A `+` later than a prefix glob's `*` outranks it.
    ("secret/data/mix*", &["read"]),
    ("secret/data/mix/+/z", &["deny"]),
    // `*` that is not the last character is a literal.
    ("secret/data/lit/*/x", &["read"]),
    // A lower-priority deny does not take effect: `x/*` has its wildcard later than `+/priv`.
    ("secret/data/x/*", &["read"]),
    ("secret/data/+/priv", &["deny"]),
    // Writes where only one of create/update is granted (existence decides in OpenBao).
    ("secret/data/once/*", &["create", "read"]),
    ("secret/data/upd/*", &["update"]),
    // LIST falls back to the rule without the trailing `/`, for exact and `+` rules.
    ("secret/metadata/listme", &["list"]),
    ("secret/metadata/+/listable", &["list"]),
    ("secret/metadata/app/*", &["list", "read", "delete"]),
    ("secret/metadata/app/team/*", &["deny"]),
    // A list tries the path with its `/` first: the deny glob decides before the `+` rule
    // the trimmed path would reach (GHSA-xp3c-3jw3-4vcr).
    ("secret/metadata/fb/+", &["list"]),
    ("secret/metadata/fb/*", &["deny"]),
    // An exact rule written with the trailing `/` a list carries.
    ("secret/metadata/dir/", &["list"]),
    // KV v1: a shallow list glob under deeper write globs.
    ("kv/*", &["list"]),
    ("kv/create-only/*", &["create"]),
    ("kv/update-only/*", &["update", "read"]),
    ("kv/both/*", &["create", "update", "read", "list", "delete"]),
    ("kv/both/locked", &["deny"]),
    // The same path in two stanzas: capabilities are OR-ed, and a deny wins alone.
    ("kv/merged/*", &["read"]),
    ("kv/merged/*", &["create", "update"]),
    ("kv/mergedeny", &["read", "create", "update"]),
    ("kv/mergedeny", &["deny"]),
    // Sensitive endpoints: vaultgate honours only exact rules there.
    (
        "cubbyhole/*",
        &["read", "create", "update", "delete", "list"],
    ),
    ("cubbyhole/exact", &["read", "create", "update"]),
    ("sys/policies/acl/*", &["read", "list"]),
    ("sys/policies/acl/default", &["read"]),
    ("auth/token/lookup-self", &["read"]),
];

/// Paths probed with every method: exact hits, children, grandchildren, siblings, strings
/// that are a prefix of a glob, `+` positions, and the literal `*`.
const PATHS: &[&str] = &[
    "secret/data/app/config",
    "secret/data/app/admin",
    "secret/data/app/other",
    "secret/data/app/a/b/c",
    "secret/data/app",
    "secret/data/app/team",
    "secret/data/app/team/a",
    "secret/data/app/team/lead",
    "secret/data/app/team/lead/x",
    "secret/data/app/team/lead/x/y",
    "secret/data/app/priv",
    "secret/data/app/shared",
    // Ordinary escapes are decoded once by both before matching; case is significant.
    "secret/data/app/%63onfig",
    "secret/data/%61pp/admin",
    "secret/data/app/caf%C3%A9",
    "secret/data/App/other",
    "secret/data/pf",
    "secret/data/pfx",
    "secret/data/pfxb",
    "secret/data/pfxa",
    "secret/data/pfxab/c",
    "secret/data/pfxsecret/deep",
    "secret/data/a/shared",
    "secret/data/b/shared",
    "secret/data/shared",
    "secret/data/a/shared/more",
    "secret/data/a/b/shared",
    "secret/data/+/shared",
    "secret/data/*/shared",
    "secret/data/q",
    "secret/data/p/q/deep",
    "secret/data/p/deep",
    "secret/data/p/q/r/deep",
    "secret/data/x/q/deep",
    "secret/data/team/t1/cfg",
    "secret/data/team/t1/cfgx",
    "secret/data/team/t1/cfg/sub",
    "secret/data/team/t1/cf",
    "secret/data/team/t1/t2/cfg",
    "secret/data/team/cfg",
    "secret/data/svc/s1/cfg",
    "secret/data/svc/s1/logs",
    "secret/data/svc/s1/other",
    "secret/data/svc",
    "secret/data/len/q/abcd",
    "secret/data/len/q/abc",
    "secret/data/len/q/abx",
    "secret/data/pri/z/a/b",
    "secret/data/pri/z/a/c",
    "secret/data/pri/z/y/b",
    "secret/data/mix/q/z",
    "secret/data/mix/q/y",
    "secret/data/mixy/q/z",
    "secret/data/lit/*/x",
    "secret/data/lit/q/x",
    "secret/data/lit/*/y",
    "secret/data/x/priv",
    "secret/data/y/priv",
    "secret/data/x/other",
    "secret/data/x",
    "secret/data/once/seeded",
    "secret/data/once/new",
    "secret/data/upd/seeded",
    "secret/data/upd/new",
    "secret/data/nomatch/z",
    "secret/metadata/listme",
    "secret/metadata/listme/child",
    "secret/metadata/app",
    "secret/metadata/app/a",
    "secret/metadata/app/team",
    "secret/metadata/app/team/b",
    "secret/metadata/team/listable",
    "secret/metadata/team/listable/x",
    "secret/metadata/other",
    "kv",
    "kv/create-only",
    "kv/create-only/existing",
    "kv/create-only/new",
    "kv/update-only/existing",
    "kv/update-only/new",
    "kv/both",
    "kv/both/a",
    "kv/both/locked",
    "kv/merged",
    "kv/merged/a",
    "kv/mergedeny",
    "kv/nothing/z",
    "cubbyhole",
    "cubbyhole/exact",
    "cubbyhole/other",
    "sys/policies/acl",
    "sys/policies/acl/default",
    "sys/policies/acl/nosuch",
    "auth/token/lookup-self",
];

/// LIST with the trailing `/` already given: Vault appends it anyway, so the answer must
/// be the same as without it.
const LIST_SLASH: &[&str] = &[
    "secret/metadata/listme/",
    "secret/metadata/app/",
    "secret/metadata/app/team/",
    "secret/metadata/team/listable/",
    "secret/metadata/fb/q/",
    "secret/metadata/dir/",
    "secret/data/pfx/",
    "secret/data/svc/",
    "kv/",
    "kv/both/",
    "kv/create-only/",
    "cubbyhole/",
];

/// Targets classify refuses: a trailing `/` outside LIST and encoded empty segments, both of
/// which let OpenBao's ACL see a path the backend then reads differently (semantics §0.1).
const AMBIGUOUS: &[&str] = &[
    "secret/data/app/admin/",
    "secret/data/app/config/",
    "kv/both/locked/",
    "kv/mergedeny/",
    "secret/data/app%2F%2Fadmin",
    "secret/data/app/%2Fadmin",
    "secret/data/y%2Fpriv",
    "secret/data/nomatch/z/",
];

/// A few paths also asked with HEAD and HELP, which have their own rules in both.
const HEAD_HELP: &[&str] = &[
    "secret/data/app/config",
    "secret/data/app/admin",
    "secret/data/app/other",
    "secret/data/nomatch/z",
    "secret/metadata/listme",
    "kv/both/a",
    "kv/mergedeny",
    "cubbyhole/exact",
    "cubbyhole/other",
];

/// Vaultgate demands an exact rule under these prefixes (a subset of its sensitive list,
/// restated here so that the test does not take the engine's word for it).
const SENSITIVE: &[&str] = &["cubbyhole/", "sys/policies/", "auth/token/"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Read,
    /// GET `?list=true`.
    ListQuery,
    /// The LIST method.
    List,
    Post,
    Put,
    Patch,
    Delete,
    Head,
    /// GET `?help=1`.
    Help,
}

impl Kind {
    pub(crate) fn method(self) -> &'static str {
        match self {
            Kind::Read | Kind::ListQuery | Kind::Help => "GET",
            Kind::List => "LIST",
            Kind::Post => "POST",
            Kind::Put => "PUT",
            Kind::Patch => "PATCH",
            Kind::Delete => "DELETE",
            Kind::Head => "HEAD",
        }
    }

    pub(crate) fn query(self) -> &'static str {
        match self {
            Kind::ListQuery => "?list=true",
            Kind::Help => "?help=1",
            _ => "",
        }
    }

    /// Content type and body; PATCH needs merge-patch or OpenBao answers 415 before the ACL.
    pub(crate) fn body(self) -> Option<(&'static str, &'static str)> {
        const BODY: &str = r#"{"data":{"k":"v"}}"#;
        match self {
            Kind::Post | Kind::Put => Some(("application/json", BODY)),
            Kind::Patch => Some(("application/merge-patch+json", BODY)),
            _ => None,
        }
    }

    pub(crate) fn is_write(self) -> bool {
        matches!(self, Kind::Post | Kind::Put)
    }
}

const EVERY: [Kind; 7] = [
    Kind::Read,
    Kind::ListQuery,
    Kind::List,
    Kind::Patch,
    Kind::Post,
    Kind::Put,
    Kind::Delete,
];

#[derive(Debug)]
pub(crate) struct Case {
    pub(crate) kind: Kind,
    /// Path after `/v1/`, still percent-encoded as sent.
    pub(crate) path: String,
}

impl Case {
    pub(crate) fn target(&self) -> String {
        format!("/v1/{}{}", self.path, self.kind.query())
    }
}

impl std::fmt::Display for Case {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.kind.method(), self.target())
    }
}

/// Methods in a fixed order per path, so that existence (and thus OpenBao's create/update
/// choice) evolves the same way on every run: the first write to a new key creates it.
fn cases() -> Vec<Case> {
    let mut out = Vec::new();
    let mut add = |paths: &[&str], kinds: &[Kind]| {
        for path in paths {
            for &kind in kinds {
                out.push(Case {
                    kind,
                    path: (*path).to_owned(),
                });
            }
        }
    };
    add(PATHS, &EVERY);
    add(LIST_SLASH, &[Kind::ListQuery, Kind::List]);
    add(AMBIGUOUS, &[Kind::Read, Kind::Post, Kind::Delete]);
    add(HEAD_HELP, &[Kind::Head, Kind::Help]);
    out
}

fn policy_hcl() -> String {
    RULES
        .iter()
        .map(|(pattern, caps)| {
            let caps: Vec<String> = caps.iter().map(|c| format!("{c:?}")).collect();
            format!(
                "path \"{pattern}\" {{\n  capabilities = [{}]\n}}\n",
                caps.join(", ")
            )
        })
        .collect()
}

/// The merged capabilities of a pattern, from `RULES`: OR-ed, with deny alone.
fn capabilities(pattern: &str) -> BTreeSet<&'static str> {
    let caps: BTreeSet<&'static str> = RULES
        .iter()
        .filter(|(p, _)| *p == pattern)
        .flat_map(|(_, caps)| caps.iter().copied())
        .collect();
    if caps.contains("deny") {
        BTreeSet::from(["deny"])
    } else {
        caps
    }
}

fn is_glob(pattern: &str) -> bool {
    pattern.ends_with('*') || pattern.split('/').any(|s| s == "+")
}

pub(crate) enum Proxy {
    Allowed,
    Denied(Decision),
    Refused(String),
}

impl std::fmt::Display for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Proxy::Allowed => write!(f, "allows"),
            Proxy::Denied(decision) => write!(f, "denies ({})", decision.reason),
            Proxy::Refused(reason) => write!(f, "refuses ({reason})"),
        }
    }
}

pub(crate) fn proxy(set: &PolicySet, caller: &Caller, case: &Case) -> Result<Proxy> {
    let mut request = http::Request::builder()
        .method(case.kind.method())
        .uri(case.target());
    let mut body = Bytes::new();
    if let Some((content_type, text)) = case.kind.body() {
        request = request.header(http::header::CONTENT_TYPE, content_type);
        body = Bytes::from_static(text.as_bytes());
    }
    let (parts, ()) = request.body(())?.into_parts();
    Ok(
        match Operation::classify(&parts, body, &ClassifyLimits::default()) {
            Err(e) => Proxy::Refused(e.to_string()),
            Ok(op) => {
                let decision = set.evaluate_offline(caller, &op);
                if decision.allowed {
                    Proxy::Allowed
                } else {
                    Proxy::Denied(decision)
                }
            }
        },
    )
}

/// OpenBao's ACL answer: `Some(true)` allowed, `Some(false)` denied, `None` when a 403 is
/// not an ACL denial (which would make the comparison meaningless).
#[derive(Debug)]
pub(crate) struct Bao {
    pub(crate) status: u16,
    pub(crate) acl_allowed: Option<bool>,
    /// Set when OpenBao answered before its ACL ran, and how the answer was read then.
    pub(crate) note: Option<&'static str>,
    /// OpenBao's error text, if any.
    pub(crate) error: String,
}

pub(crate) async fn openbao(
    client: &reqwest::Client,
    bao: &OpenBao,
    token: &str,
    case: &Case,
) -> Result<Bao> {
    let method = reqwest::Method::from_bytes(case.kind.method().as_bytes())?;
    let mut request = client
        .request(method, format!("{}{}", bao.addr(), case.target()))
        .header("X-Vault-Token", token);
    if let Some((content_type, text)) = case.kind.body() {
        request = request
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(text);
    }
    let response = request.send().await?;
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    let error = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v["errors"][0].as_str().map(str::to_owned))
        .map(|e| e.split_whitespace().collect::<Vec<_>>().join(" "))
        .unwrap_or_default();
    let mut note = None;
    let acl_allowed = match status {
        // A HEAD answer has no body to read the reason from; OpenBao's ACL refuses HEAD.
        403 if case.kind == Kind::Head => Some(false),
        403 if error.contains("permission denied") => Some(false),
        403 => None,
        // OpenBao refuses a write to a path ending in `/` before its ACL runs.
        400 if case.kind.is_write() && error.contains("cannot write to a path ending in '/'") => {
            note = Some("refused before its ACL");
            Some(false)
        }
        // A write runs the backend's existence check before the ACL, and a failing check
        // answers 500 without any ACL decision (`POST cubbyhole` is "missing path"; the KV v1
        // mount root, `POST kv`, answers 400 "missing path"). Ask OpenBao's own ACL for the
        // token's capabilities on the path instead.
        400 | 500 if case.kind.is_write() && (status == 500 || error == "missing path") => {
            let caps = token_capabilities(bao, token, &acl_path(case)).await?;
            let granted = caps.iter().any(|c| c == "create" || c == "update");
            note = Some(if granted {
                "failed before its ACL; sys/capabilities grants create or update"
            } else {
                "failed before its ACL; sys/capabilities grants neither create nor update"
            });
            Some(granted)
        }
        // Anything else got past the ACL: 404, 405, 400 and 500 come from the backend.
        _ => Some(true),
    };
    Ok(Bao {
        status,
        acl_allowed,
        note,
        error,
    })
}

impl std::fmt::Display for Bao {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.status)?;
        if !self.error.is_empty() && self.status != 403 {
            write!(f, " {:?}", self.error)?;
        }
        match self.note {
            Some(note) => write!(f, " ({note})"),
            None => Ok(()),
        }
    }
}

/// OpenBao's `sys/capabilities` for the token on one path, asked with the root token.
pub(crate) async fn token_capabilities(
    bao: &OpenBao,
    token: &str,
    path: &str,
) -> Result<Vec<String>> {
    let (status, body) = bao
        .api(
            "POST",
            "sys/capabilities",
            Some(json!({"token": token, "paths": [path]})),
            "root",
        )
        .await;
    assert_eq!(status, 200, "sys/capabilities: {body}");
    Ok(serde_json::from_value(body["capabilities"].clone())?)
}

/// The path OpenBao's ACL sees: decoded once, with the `/` a list appends.
pub(crate) fn acl_path(case: &Case) -> String {
    // Every generated path decodes to UTF-8, so the lossy form is the exact one.
    let mut path = percent_encoding::percent_decode_str(&case.path)
        .decode_utf8_lossy()
        .into_owned();
    if matches!(case.kind, Kind::ListQuery | Kind::List) && !path.ends_with('/') {
        path.push('/');
    }
    path
}

pub(crate) enum Verdict {
    Agree,
    /// A difference vaultgate makes on purpose, with the reason.
    Deliberate(&'static str),
    Mismatch(String),
}

pub(crate) const WRITES: &str = "proxy stricter: writes need create and update";
pub(crate) const AMBIGUOUS_REASON: &str = "refused as ambiguous";
pub(crate) const SENSITIVE_REASON: &str = "proxy stricter: sensitive endpoint needs an exact rule";
pub(crate) const HELP_REASON: &str = "proxy stricter: help needs read";

/// `capabilities` gives the merged capabilities of a pattern in the policy under test.
pub(crate) fn judge(
    case: &Case,
    proxy: &Proxy,
    bao: &Bao,
    capabilities: &dyn Fn(&str) -> BTreeSet<&'static str>,
) -> Verdict {
    let Some(bao_allowed) = bao.acl_allowed else {
        return Verdict::Mismatch(format!(
            "OpenBao answered {} without an ACL denial",
            bao.status
        ));
    };
    let decision = match (proxy, bao_allowed) {
        (Proxy::Allowed, true) | (Proxy::Denied(_) | Proxy::Refused(_), false) => {
            return Verdict::Agree
        }
        // Never allow what Vault denies: no reason can excuse this.
        (Proxy::Allowed, false) => {
            return Verdict::Mismatch("proxy allows what OpenBao denies".to_owned())
        }
        (Proxy::Refused(_), true) => return Verdict::Deliberate(AMBIGUOUS_REASON),
        (Proxy::Denied(decision), true) => decision,
    };
    // From here on the proxy denies what OpenBao allowed; only documented reasons excuse it.
    if case.kind == Kind::Help {
        return Verdict::Deliberate(HELP_REASON);
    }
    let Some(rule) = &decision.rule else {
        return Verdict::Mismatch(format!("proxy: {}", decision.reason));
    };
    let caps = capabilities(&rule.pattern);
    if case.kind.is_write() && caps.contains("create") != caps.contains("update") {
        return Verdict::Deliberate(WRITES);
    }
    let needed = match case.kind {
        Kind::Read => "read",
        Kind::ListQuery | Kind::List => "list",
        Kind::Patch => "patch",
        Kind::Delete => "delete",
        _ => "",
    };
    let path = acl_path(case);
    let sensitive = SENSITIVE
        .iter()
        .any(|p| path.starts_with(p) || path == p.trim_end_matches('/'));
    if sensitive && is_glob(&rule.pattern) && (case.kind.is_write() || caps.contains(needed)) {
        return Verdict::Deliberate(SENSITIVE_REASON);
    }
    Verdict::Mismatch(format!("proxy: {}", decision.reason))
}

async fn setup(bao: &OpenBao) -> String {
    let (status, body) = bao
        .api(
            "POST",
            "sys/mounts/kv",
            Some(json!({"type": "kv", "options": {"version": "1"}})),
            "root",
        )
        .await;
    assert_eq!(status, 204, "mount kv/: {body}");
    // Existing keys, so that create-only and update-only writes go both ways in OpenBao.
    for key in [
        "kv/create-only/existing",
        "kv/update-only/existing",
        "kv/both/a",
        "kv/merged/a",
    ] {
        let (status, body) = bao
            .api("POST", key, Some(json!({"k": "seed"})), "root")
            .await;
        assert_eq!(status, 204, "seed {key}: {body}");
    }
    for key in [
        "app/config",
        "app/admin",
        "once/seeded",
        "upd/seeded",
        "team/t1/cfg",
    ] {
        bao.kv_put(key, json!({"k": "seed"})).await;
    }
    bao.write_policy("conformance", &policy_hcl()).await;
    bao.create_token(&["conformance"], true).await
}

#[tokio::test]
async fn policy_decisions_agree_with_openbao() {
    let bao = OpenBao::start().await;
    let token = setup(&bao).await;
    let caller = Caller::new("acme", "billing").unwrap();
    let set = PolicySet::from_sources(
        vec![(PathBuf::from("acme.hcl"), policy_hcl())],
        std::slice::from_ref(&caller),
    )
    .unwrap();
    // A 307 must stay a 307: following it would answer for another path.
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    let cases = cases();
    let mut agreements = 0;
    let mut both_allow = 0;
    let mut refused_both_deny = 0;
    let mut before_acl = 0;
    let mut deliberate: BTreeMap<&str, usize> = BTreeMap::new();
    let mut mismatches = Vec::new();
    for case in &cases {
        let proxy = proxy(&set, &caller, case).unwrap();
        let bao_answer = openbao(&client, &bao, &token, case).await.unwrap();
        before_acl += usize::from(bao_answer.note.is_some());
        match judge(case, &proxy, &bao_answer, &capabilities) {
            Verdict::Agree => {
                if std::env::var_os("CONFORMANCE_VERBOSE").is_some() {
                    println!("agree: {case}: proxy {proxy}, OpenBao {bao_answer}");
                }
                agreements += 1;
                both_allow += usize::from(matches!(proxy, Proxy::Allowed));
                refused_both_deny += usize::from(matches!(proxy, Proxy::Refused(_)));
            }
            Verdict::Deliberate(reason) => {
                *deliberate.entry(reason).or_default() += 1;
                println!(
                    "differs on purpose ({reason}): {case}: proxy {proxy}, OpenBao {bao_answer}"
                );
            }
            Verdict::Mismatch(why) => {
                mismatches.push(format!(
                    "{case}: {why}; proxy {proxy}, OpenBao {bao_answer}"
                ));
            }
        }
    }

    println!(
        "conformance: {} cases, {agreements} agree ({both_allow} both allow, {} both deny, \
         {refused_both_deny} of those refused by classify, {before_acl} answered by \
         OpenBao before its ACL), {} deliberate differences, {} mismatches",
        cases.len(),
        agreements - both_allow,
        deliberate.values().sum::<usize>(),
        mismatches.len()
    );
    for (reason, n) in &deliberate {
        println!("  {n:4}  {reason}");
    }
    for m in &mismatches {
        println!("MISMATCH {m}");
    }
    assert!(cases.len() >= 200, "only {} cases", cases.len());
    // A token that OpenBao refused outright would make every case a trivial deny.
    assert!(both_allow >= 50, "only {both_allow} cases allowed by both");
    // Each documented difference must still be exercised, or the policy above lost a case.
    for reason in [WRITES, AMBIGUOUS_REASON, SENSITIVE_REASON, HELP_REASON] {
        assert!(deliberate.contains_key(reason), "no case shows: {reason}");
    }
    assert!(
        mismatches.is_empty(),
        "{} unexplained differences:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}
