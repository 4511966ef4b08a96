//! Parameter constraints, wrapping, sudo, sensitive and implicit endpoints.

use std::time::Duration;

use serde_json::{json, Value};

use super::super::tests::{allowed, caller, op, policies};
use crate::policy::PolicySet;
use crate::vault::operation::{Operation, Verb};

fn one(text: &str) -> PolicySet {
    policies(&[("acme.hcl", text)])
}

fn with_params(verb: Verb, path: &str, params: Value) -> Operation {
    let mut op = op(verb, path);
    if let Value::Object(map) = params {
        op.params = map;
    }
    op
}

fn decide(set: &PolicySet, op: &Operation) -> crate::policy::Decision {
    set.evaluate_offline(&caller("acme/billing"), op)
}

#[test]
fn parameter_constraints() {
    let set = one(r#"
path "req" {
  capabilities = ["read", "create", "update", "delete", "list"]
  required_parameters = ["owner"]
}
path "deny-all" {
  capabilities = ["read", "create", "update"]
  denied_parameters = { "*" = [] }
}
path "deny" {
  capabilities = ["read", "create", "update", "delete"]
  denied_parameters = { "SIZE" = ["huge", "*-tmp"], "color" = [["red"]], "debug" = [] }
}
path "allow" {
  capabilities = ["read", "create", "update"]
  allowed_parameters = { "color" = ["gr*"], "n" = [1] }
}
path "allow-any" {
  capabilities = ["read", "create", "update"]
  allowed_parameters = { "*" = [], "color" = ["green"] }
  denied_parameters = { "secret" = [] }
}
"#);
    let table: &[(Verb, &str, Value, bool, &str)] = &[
        (
            Verb::Write,
            "req",
            json!({"owner": 1}),
            true,
            "required present",
        ),
        (
            Verb::Write,
            "req",
            json!({"OWNER": 1}),
            false,
            "required key must be lowercase",
        ),
        (
            Verb::Write,
            "req",
            json!({}),
            false,
            "required checked before the no-data shortcut",
        ),
        (
            Verb::Delete,
            "req",
            json!({}),
            true,
            "not checked for delete",
        ),
        (Verb::List, "req/", json!({}), true, "not checked for list"),
        (
            Verb::Write,
            "deny-all",
            json!({"a": 1}),
            false,
            "* denies every parameter",
        ),
        (
            Verb::Write,
            "deny-all",
            json!({}),
            true,
            "no data is allowed",
        ),
        (
            Verb::Write,
            "deny",
            json!({"size": "huge"}),
            false,
            "denied value",
        ),
        (
            Verb::Write,
            "deny",
            json!({"Size": "huge"}),
            false,
            "names compare lowercase",
        ),
        (
            Verb::Write,
            "deny",
            json!({"size": "HUGE"}),
            true,
            "values are case-sensitive",
        ),
        (
            Verb::Write,
            "deny",
            json!({"size": "x-tmp"}),
            false,
            "leading * glob",
        ),
        (
            Verb::Write,
            "deny",
            json!({"size": "small"}),
            true,
            "other value",
        ),
        (
            Verb::Write,
            "deny",
            json!({"color": "red"}),
            true,
            "[\"red\"] is not \"red\"",
        ),
        (
            Verb::Write,
            "deny",
            json!({"color": ["red"]}),
            false,
            "deep equal",
        ),
        (
            Verb::Write,
            "deny",
            json!({"debug": false}),
            false,
            "empty list denies all values",
        ),
        (
            Verb::Delete,
            "deny",
            json!({"debug": true}),
            true,
            "not checked for delete",
        ),
        (
            Verb::Read,
            "deny",
            json!({"debug": "1"}),
            false,
            "checked for reads (query)",
        ),
        (
            Verb::Write,
            "allow",
            json!({"color": "green"}),
            true,
            "glob gr*",
        ),
        (
            Verb::Write,
            "allow",
            json!({"color": "blue"}),
            false,
            "not in list",
        ),
        (
            Verb::Write,
            "allow",
            json!({"other": 1}),
            false,
            "unlisted parameter",
        ),
        (
            Verb::Write,
            "allow",
            json!({"n": 1}),
            false,
            "an allowed number matches nothing, as in Vault",
        ),
        (
            Verb::Write,
            "allow-any",
            json!({"other": 1}),
            true,
            "\"*\" = [] allows the rest",
        ),
        (
            Verb::Write,
            "allow-any",
            json!({"color": "red"}),
            false,
            "listed names still checked",
        ),
        (
            Verb::Write,
            "allow-any",
            json!({"secret": 1}),
            false,
            "denied wins over allowed",
        ),
    ];
    for (verb, path, params, expected, why) in table {
        let d = decide(&set, &with_params(*verb, path, params.clone()));
        assert_eq!(d.allowed, *expected, "{path} {params}: {why}: {}", d.reason);
    }
}

#[test]
fn numbers_allow_nothing_and_deny_by_value() {
    // OpenBao 2.7.2 with the same rules: 403 for `max_versions` 5 and `versions` [2] under
    // the allowed lists (reflect.DeepEqual of the policy's int and the body's json.Number),
    // 204 for `true` and `["1"]`, and 204 for `max_versions` 5 under the denied list, which
    // vaultgate refuses on purpose.
    let set = one(r#"
path "allow" {
  capabilities = ["create", "update"]
  allowed_parameters = {
    "max_versions" = [5]
    "versions" = [[2], ["1"]]
    "cas_required" = [true]
  }
}
path "deny" {
  capabilities = ["create", "update"]
  denied_parameters = { "max_versions" = [5] }
}
"#);
    let check = |path: &str, params: Value| {
        decide(&set, &with_params(Verb::Write, path, params.clone())).allowed
    };
    assert!(!check("allow", json!({"max_versions": 5})));
    assert!(!check("allow", json!({"max_versions": 5.0})));
    assert!(!check("allow", json!({"versions": [2]})));
    assert!(check("allow", json!({"versions": ["1"]})));
    assert!(check("allow", json!({"cas_required": true})));
    assert!(!check("deny", json!({"max_versions": 5.0})));
    assert!(check("deny", json!({"max_versions": 3})));
}

#[test]
fn merged_parameter_lists() {
    let set = policies(&[
        ("acme.hcl", "path \"p\" {\n capabilities = [\"create\", \"update\"]\n allowed_parameters = { \"a\" = [\"x\"], \"b\" = [\"x\"] }\n required_parameters = [\"a\"]\n}"),
        ("acme/billing.hcl", "path \"p\" {\n capabilities = [\"read\"]\n allowed_parameters = { \"a\" = [\"y\"], \"b\" = [] }\n required_parameters = [\"b\"]\n}"),
    ]);
    let check = |params: Value| decide(&set, &with_params(Verb::Write, "p", params)).allowed;
    assert!(
        check(json!({"a": "y", "b": "anything"})),
        "lists concatenated; empty wins"
    );
    assert!(check(json!({"a": "x", "b": 1})));
    assert!(!check(json!({"a": "z", "b": 1})));
    assert!(!check(json!({"a": "x"})), "required lists are unioned");
}

#[test]
fn wrapping_bounds() {
    let set = one("path \"w\" {\n capabilities = [\"read\"]\n min_wrapping_ttl = \"60s\"\n max_wrapping_ttl = 300\n}\npath \"plain\" {\n capabilities = [\"read\"]\n}");
    let wrapped = |path: &str, ttl: Option<u64>| {
        let mut op = op(Verb::Read, path);
        op.wrap_ttl = ttl.map(Duration::from_secs);
        decide(&set, &op)
    };
    assert!(!wrapped("w", None).allowed, "wrapping is mandatory");
    assert!(!wrapped("w", Some(30)).allowed);
    assert!(wrapped("w", Some(120)).allowed);
    assert!(!wrapped("w", Some(600)).allowed);
    assert!(wrapped("plain", None).allowed);
    let d = wrapped("plain", Some(60));
    assert!(
        !d.allowed
            && d.reason
                .ends_with("response wrapping not permitted by this rule")
    );
}

#[test]
fn merged_wrapping_takes_smallest() {
    let set = policies(&[
        ("acme.hcl", "path \"w\" {\n capabilities = [\"read\"]\n min_wrapping_ttl = 100\n}"),
        ("acme/billing.hcl", "path \"w\" {\n capabilities = [\"read\"]\n min_wrapping_ttl = 10\n max_wrapping_ttl = 50\n}"),
    ]);
    let mut op = op(Verb::Read, "w");
    op.wrap_ttl = Some(Duration::from_secs(20));
    assert!(decide(&set, &op).allowed);
}

#[test]
fn sensitive_endpoints_need_an_exact_rule() {
    let set = one(r#"
path "auth/*" { capabilities = ["read", "create", "update"] }
path "auth/token/lookup-self" { capabilities = ["read"] }
path "cubbyhole/*" { capabilities = ["read"] }
path "sys/*" { capabilities = ["read", "create", "update", "list"] }
path "identity/+/x" { capabilities = ["read"] }
"#);
    let denied = [
        (Verb::Read, "auth/token/lookup"),
        (Verb::Write, "auth/token/renew-self"),
        (Verb::Write, "auth/userpass/login/bob"),
        (Verb::Write, "auth/my/nested/login"),
        (Verb::Read, "cubbyhole/x"),
        (Verb::Read, "identity/oidc/x"),
        (Verb::Read, "sys/capabilities-self"),
        (Verb::Write, "sys/wrapping/unwrap"),
        (Verb::Write, "sys/leases/renew"),
        (Verb::Write, "sys/revoke-prefix/x"),
        (Verb::Read, "sys/metrics"),
        (Verb::Read, "sys/internal/ui/resultant-acl"),
        (Verb::Read, "sys/internal/ui/mounts"),
        (Verb::Read, "sys/mounts"),
        (Verb::List, "sys/policies/acl/"),
        (Verb::Write, "sys/audit-hash/x"),
    ];
    for (verb, path) in denied {
        let d = decide(&set, &op(verb, path));
        assert!(!d.allowed, "{path}: {}", d.reason);
        assert!(d.reason.contains("exact rule"), "{path}: {}", d.reason);
    }
    assert!(allowed(
        &set,
        "acme/billing",
        Verb::Read,
        "auth/token/lookup-self"
    ));
    assert!(allowed(
        &set,
        "acme/billing",
        Verb::Read,
        "auth/userpass/users/bob"
    ));
    assert!(allowed(
        &set,
        "acme/billing",
        Verb::Read,
        "sys/tools/random"
    ));
}

/// Regression (fuzz/http_front): `GET /v1/sys/health` with `X-Vault-Namespace:
/// secret/data/acme/web` is forwarded as `/v1/secret/data/acme/web/sys/health` with the
/// service's token, so it must be decided as that path, not waved through as health.
#[test]
fn health_in_a_namespace_is_an_ordinary_path() {
    let set = one(r#"path "secret/data/acme/billing/*" { capabilities = ["read"] }"#);
    for (verb, path) in [
        (Verb::Read, "sys/health"),
        (Verb::Head, "sys/health"),
        (Verb::Read, "sys/seal-status"),
    ] {
        let mut op = op(verb, path);
        op.namespace = "secret/data/acme/web".to_owned();
        op.full_path = format!("secret/data/acme/web/{path}");
        assert!(!decide(&set, &op).allowed, "{verb:?} {path} in a namespace");
    }
}

#[test]
fn sensitive_paths_are_relative_to_the_namespace() {
    let set = one(r#"path "ns1/auth/*" { capabilities = ["read"] }"#);
    let mut op = op(Verb::Read, "auth/token/lookup-self");
    op.namespace = "ns1".to_owned();
    op.full_path = "ns1/auth/token/lookup-self".to_owned();
    assert!(!decide(&set, &op).allowed);
    op.path = "auth/approle/role".to_owned();
    op.full_path = "ns1/auth/approle/role".to_owned();
    assert!(decide(&set, &op).allowed);
}

#[test]
fn sudo_on_root_protected_paths() {
    let set = one(r#"
path "sys/rotate" { capabilities = ["create", "update"] }
path "sys/config/cors" { capabilities = ["read", "sudo"] }
"#);
    let d = decide(&set, &op(Verb::Write, "sys/rotate"));
    assert!(!d.allowed && d.reason.contains("sudo"), "{}", d.reason);
    assert!(allowed(&set, "acme/billing", Verb::Read, "sys/config/cors"));
}

#[test]
fn implicit_endpoints() {
    let set = one(r#"
path "secret/data/acme/*" { capabilities = ["read"] }
path "kv/x" { capabilities = ["deny"] }
"#);
    let who = "acme/billing";
    assert!(allowed(&set, who, Verb::Head, "sys/health"));
    assert!(allowed(&set, who, Verb::Read, "sys/health"));
    assert!(allowed(&set, who, Verb::Read, "sys/seal-status"));
    assert!(allowed(&set, "nobody/x", Verb::Read, "sys/health"));
    assert!(!allowed(&set, who, Verb::Head, "secret/data/acme/x"));
    assert!(!allowed(&set, who, Verb::Write, "sys/health"));
    assert!(allowed(
        &set,
        who,
        Verb::Read,
        "sys/internal/ui/mounts/secret/acme/x"
    ));
    assert!(!allowed(
        &set,
        who,
        Verb::Read,
        "sys/internal/ui/mounts/other/x"
    ));
    assert!(
        !allowed(&set, who, Verb::Read, "sys/internal/ui/mounts/kv/x"),
        "deny grants nothing"
    );
    assert!(!allowed(&set, who, Verb::Read, "sys/internal/ui/mounts/"));
    assert!(!allowed(&set, who, Verb::Read, "sys/internal/ui/mounts"));
    assert!(!allowed(
        &set,
        who,
        Verb::List,
        "sys/internal/ui/mounts/secret/"
    ));
    let mut in_ns = op(Verb::Read, "sys/internal/ui/mounts/secret/acme/x");
    in_ns.namespace = "ns1".to_owned();
    in_ns.full_path = format!("ns1/{}", in_ns.path);
    assert!(
        !decide(&set, &in_ns).allowed,
        "rules of another namespace do not count"
    );
}
