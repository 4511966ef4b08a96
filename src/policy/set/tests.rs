//! Rule lookup as verified against OpenBao (§1.3 consequences), merging, templating and
//! loading; helpers here are shared with the evaluation tests.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use http::HeaderMap;
use serde_json::Map;

use super::*;
use crate::vault::operation::Verb;

mod consequences;

pub(super) fn caller(name: &str) -> Caller {
    match Caller::parse(name) {
        Ok(c) => c,
        Err(err) => panic!("{err}"),
    }
}

pub(super) fn callers() -> Vec<Caller> {
    ["acme/billing", "acme/shop", "globex/web"]
        .iter()
        .map(|c| caller(c))
        .collect()
}

/// Policies from (file name, text) pairs, for the standard callers.
pub(super) fn policies(files: &[(&str, &str)]) -> PolicySet {
    let sources = files
        .iter()
        .map(|(f, t)| (PathBuf::from(f), (*t).to_owned()))
        .collect();
    match PolicySet::from_sources(sources, &callers()) {
        Ok(set) => set,
        Err(err) => panic!("{err}"),
    }
}

/// An operation in the root namespace (list and scan paths end in `/`, as classified).
pub(crate) fn op(verb: Verb, path: &str) -> Operation {
    Operation {
        verb,
        namespace: String::new(),
        path: path.to_owned(),
        full_path: path.to_owned(),
        query: Vec::new(),
        params: Map::new(),
        body: Bytes::new(),
        wrap_ttl: None,
        forward_headers: HeaderMap::new(),
    }
}

pub(super) fn allowed(set: &PolicySet, who: &str, verb: Verb, path: &str) -> bool {
    set.evaluate_offline(&caller(who), &op(verb, path)).allowed
}

pub(crate) fn one(text: &str) -> PolicySet {
    policies(&[("acme.hcl", text)])
}

#[test]
fn reasons_name_the_rule() {
    let set = one("path \"secret/data/*\" {\n  capabilities = [\"read\"]\n}\n\npath \"secret/data/no\" {\n  capabilities = [\"deny\"]\n}");
    let d = set.evaluate_offline(&caller("acme/billing"), &op(Verb::Read, "secret/data/x"));
    assert_eq!(d.reason, "rule \"secret/data/*\" at acme.hcl:1 grants read");
    assert_eq!(d.rule.as_ref().map(|r| r.line), Some(1));
    let d = set.evaluate_offline(&caller("acme/billing"), &op(Verb::Write, "secret/data/x"));
    assert_eq!(
        d.reason,
        "rule \"secret/data/*\" at acme.hcl:1 does not grant create and update"
    );
    let d = set.evaluate_offline(&caller("acme/billing"), &op(Verb::Read, "secret/data/no"));
    assert_eq!(d.reason, "rule \"secret/data/no\" at acme.hcl:5 denies");
    let d = set.evaluate_offline(&caller("acme/billing"), &op(Verb::Read, "kv/x"));
    assert_eq!(
        d.reason,
        "no rule matches \"kv/x\" for caller acme/billing (default deny)"
    );
    assert_eq!(d.rule, None);
    let d = set.evaluate_offline(&caller("nobody/x"), &op(Verb::Read, "secret/data/x"));
    assert!(!d.allowed && d.reason.contains("no policy for caller nobody/x"));
}

#[test]
fn writes_need_create_and_update() {
    let set = one(r#"path "a/*" { capabilities = ["create"] }
                     path "b/*" { capabilities = ["create", "update"] }"#);
    assert!(!allowed(&set, "acme/billing", Verb::Write, "a/x"));
    assert!(allowed(&set, "acme/billing", Verb::Write, "b/x"));
    assert!(!allowed(&set, "acme/billing", Verb::Patch, "b/x"));
    assert!(!allowed(&set, "acme/billing", Verb::Delete, "b/x"));
}

#[test]
fn merging_across_blocks_and_files() {
    let set = policies(&[
        ("acme.hcl", r#"path "secret/data/dup" { capabilities = ["read"] }
                        path "secret/data/dup2" { capabilities = ["read"] }"#),
        ("acme/billing.hcl", "path \"secret/data/dup2\" {\n capabilities = [\"create\", \"update\"]\n}\n\npath \"secret/data/dup\" {\n capabilities = [\"deny\"]\n}"),
    ]);
    let d = set.evaluate_offline(&caller("acme/billing"), &op(Verb::Read, "secret/data/dup"));
    assert!(!d.allowed);
    let source = d.rule.unwrap_or_else(|| panic!("no rule"));
    assert_eq!(
        (source.file.as_path(), source.line),
        (Path::new("acme/billing.hcl"), 5)
    );
    assert!(allowed(
        &set,
        "acme/billing",
        Verb::Read,
        "secret/data/dup2"
    ));
    assert!(allowed(
        &set,
        "acme/billing",
        Verb::Write,
        "secret/data/dup2"
    ));
    // The service file does not apply to another service of the tenant.
    assert!(allowed(&set, "acme/shop", Verb::Read, "secret/data/dup"));
    assert!(!allowed(&set, "acme/shop", Verb::Write, "secret/data/dup2"));
    assert!(!allowed(&set, "globex/web", Verb::Read, "secret/data/dup2"));
}

#[test]
fn templates_substitute_the_caller_in_parameter_values_too() {
    let set = one(r#"path "sys/leases/renew" {
  capabilities = ["update"]
  allowed_parameters = { "lease_id" = ["database/creds/{{tenant}}-{{service}}/*"], "increment" = [] }
}"#);
    let renew = |who: &str, lease: &str| {
        let mut op = op(Verb::Write, "sys/leases/renew");
        op.params = serde_json::json!({ "lease_id": lease })
            .as_object()
            .cloned()
            .unwrap_or_default();
        set.evaluate_offline(&caller(who), &op).allowed
    };
    assert!(renew("acme/billing", "database/creds/acme-billing/abc"));
    assert!(!renew("acme/billing", "database/creds/acme-shop/abc"));
    assert!(renew("acme/shop", "database/creds/acme-shop/abc"));
}

#[test]
fn templates_substitute_the_caller() {
    let set = one(r#"path "secret/data/{{tenant}}/{{service}}/*" { capabilities = ["read"] }"#);
    assert!(allowed(
        &set,
        "acme/billing",
        Verb::Read,
        "secret/data/acme/billing/x"
    ));
    assert!(!allowed(
        &set,
        "acme/billing",
        Verb::Read,
        "secret/data/acme/shop/x"
    ));
    assert!(allowed(
        &set,
        "acme/shop",
        Verb::Read,
        "secret/data/acme/shop/x"
    ));
    assert!(!allowed(
        &set,
        "globex/web",
        Verb::Read,
        "secret/data/globex/web/x"
    ));
    let d = set.evaluate_offline(
        &caller("acme/shop"),
        &op(Verb::Read, "secret/data/acme/shop/x"),
    );
    assert_eq!(
        d.rule.map(|r| r.pattern).as_deref(),
        Some("secret/data/acme/shop/*")
    );
}

#[test]
fn expired_paths_are_dropped() {
    let set = one("path \"old/*\" {\n capabilities = [\"read\"]\n expiration = \"2001-01-01T00:00:00Z\"\n}\npath \"new/*\" {\n capabilities = [\"read\"]\n expiration = \"2999-01-01T00:00:00+02:00\"\n}");
    assert!(!allowed(&set, "acme/billing", Verb::Read, "old/x"));
    assert!(allowed(&set, "acme/billing", Verb::Read, "new/x"));
}

#[test]
fn from_sources_rejects_other_names() {
    for bad in [
        "policies/acme/billing.hcl",
        "acme.txt",
        "/acme.hcl",
        "Acme.hcl",
    ] {
        let result = PolicySet::from_sources(vec![(PathBuf::from(bad), String::new())], &callers());
        assert!(matches!(result, Err(PolicyError::FileName { .. })), "{bad}");
    }
}

#[test]
fn a_malformed_file_fails_the_whole_load() {
    let sources = vec![
        (
            PathBuf::from("acme.hcl"),
            r#"path "a" { capabilities = ["read"] }"#.to_owned(),
        ),
        (
            PathBuf::from("globex.hcl"),
            r#"path "a" { capabilities = ["READ"] }"#.to_owned(),
        ),
    ];
    let err = PolicySet::from_sources(sources, &callers())
        .err()
        .map(|e| e.to_string());
    assert_eq!(
        err.as_deref(),
        Some("globex.hcl:1: unknown capability \"READ\"")
    );
}

#[test]
fn load_reads_the_directory_layout() {
    let dir = match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(err) => panic!("{err}"),
    };
    let write = |rel: &str, text: &str| {
        let path = dir.path().join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("{e}"));
        }
        std::fs::write(path, text).unwrap_or_else(|e| panic!("{e}"));
    };
    write("acme.hcl", r#"path "t/*" { capabilities = ["read"] }"#);
    write(
        "acme/billing.json",
        r#"{"path": {"s/*": {"capabilities": ["read"]}}}"#,
    );
    write("README.md", "not a policy");
    write("globex.toml", "not = 'a policy'");
    write("tests/broken.hcl", "this is not hcl {");
    let set = match PolicySet::load(dir.path(), &callers()) {
        Ok(set) => set,
        Err(err) => panic!("{err}"),
    };
    assert!(allowed(&set, "acme/billing", Verb::Read, "t/x"));
    assert!(allowed(&set, "acme/billing", Verb::Read, "s/x"));
    assert!(!allowed(&set, "acme/shop", Verb::Read, "s/x"));
    assert!(!set.knows(&caller("globex/web")));
    write("acme/shop.hcl", r#"path "a" { capabilities = ["nope"] }"#);
    let err = PolicySet::load(dir.path(), &callers())
        .err()
        .map(|e| e.to_string());
    assert!(err.is_some_and(|e| e.ends_with("acme/shop.hcl:1: unknown capability \"nope\"")));
}

#[test]
fn example_policies() {
    let set = match PolicySet::load(Path::new("policies"), &callers()) {
        Ok(set) => set,
        Err(err) => panic!("{err}"),
    };
    let billing = "acme/billing";
    assert!(allowed(
        &set,
        billing,
        Verb::Read,
        "secret/data/acme/billing/db"
    ));
    assert!(allowed(
        &set,
        billing,
        Verb::Write,
        "secret/data/acme/billing/db"
    ));
    assert!(allowed(
        &set,
        billing,
        Verb::Delete,
        "secret/metadata/acme/billing/db"
    ));
    assert!(allowed(
        &set,
        billing,
        Verb::List,
        "secret/metadata/acme/billing/"
    ));
    assert!(allowed(
        &set,
        billing,
        Verb::Read,
        "sys/internal/ui/mounts/secret/acme/billing/db"
    ));
    assert!(!allowed(
        &set,
        billing,
        Verb::Read,
        "secret/data/acme/billing/admin"
    ));
    assert!(!allowed(
        &set,
        billing,
        Verb::Read,
        "secret/data/acme/shop/db"
    ));
    assert!(!allowed(&set, billing, Verb::List, "secret/metadata/acme/"));
    assert!(allowed(
        &set,
        "globex/web",
        Verb::Write,
        "secret/data/globex/web/k"
    ));
    assert!(!allowed(
        &set,
        "globex/web",
        Verb::Delete,
        "secret/data/globex/web/k"
    ));
}
