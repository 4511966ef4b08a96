//! Checks that depend on where the server lands a request, over every namespace split it
//! could make (#15): sensitive endpoints, sudo, the KV preflight and token self-operations.

use serde_json::json;

use super::super::tests::{caller, one, op};
use crate::policy::{Decision, PolicySet};
use crate::vault::operation::{Operation, Verb};
use crate::vault::placement::Placement;
use crate::vault::semantics::ServerSemantics;

fn decide(set: &PolicySet, op: &Operation, known: &ServerSemantics, home: &str) -> Decision {
    let placement = Placement::resolve(&op.full_path, known, home);
    set.evaluate(&caller("acme/billing"), op, &placement)
}

/// A server whose root has the `secret/` KV mount and a PKI at `pki-a/`, and namespace `a`.
fn known() -> ServerSemantics {
    let mut k = ServerSemantics::default();
    k.space_mut("").exists = Some(true);
    k.space_mut("").add_document(&json!({"paths": {
        "/secret/data/{path}": {"x-vault-createSupported": true},
        "/pki-a/root": {"x-vault-sudo": true},
        "/pki-a/issue/{role}": {},
    }}));
    k.space_mut("a").exists = Some(true);
    k
}

#[test]
fn a_namespace_in_the_path_does_not_hide_a_sensitive_endpoint() {
    let set = one(r#"path "a/*" { capabilities = ["create", "update", "read"] }"#);
    let create = op(Verb::Write, "a/auth/token/create");
    for semantics in [ServerSemantics::default(), known()] {
        let d = decide(&set, &create, &semantics, "");
        assert!(!d.allowed && d.reason.contains("sensitive"), "{}", d.reason);
    }
    let exact = one(r#"path "a/auth/token/create" { capabilities = ["create", "update"] }"#);
    assert!(decide(&exact, &create, &known(), "a").allowed);
    // From a token of the root namespace that creates a token in `a`: OpenBao asks sudo.
    let d = decide(&exact, &create, &known(), "");
    assert!(
        !d.allowed && d.reason.contains("another namespace"),
        "{}",
        d.reason
    );
}

#[test]
fn a_path_under_a_known_mount_is_not_a_namespace() {
    // `secret` is a mount, so `secret/data/x/identity/y` is a KV key, not `identity/` of a
    // namespace `secret/data/x`; unknown, it could be, and the glob does not reach it.
    let set = one(r#"path "secret/data/x/*" { capabilities = ["read"] }"#);
    let read = op(Verb::Read, "secret/data/x/identity/y");
    assert!(decide(&set, &read, &known(), "").allowed);
    assert!(!decide(&set, &read, &ServerSemantics::default(), "").allowed);
}

#[test]
fn sudo_comes_from_the_document_or_from_every_engine_when_unknown() {
    let set = one(r#"path "pki-a/*" { capabilities = ["delete", "create", "update"] }"#);
    let root = op(Verb::Delete, "pki-a/root");
    for semantics in [ServerSemantics::default(), known()] {
        let d = decide(&set, &root, &semantics, "");
        assert!(!d.allowed && d.reason.contains("sudo"), "{}", d.reason);
    }
    let issue = op(Verb::Write, "pki-a/issue/web");
    assert!(decide(&set, &issue, &known(), "").allowed);
    let sudo = one(r#"path "pki-a/root" { capabilities = ["delete", "sudo"] }"#);
    assert!(decide(&sudo, &root, &known(), "").allowed);
}

#[test]
fn the_kv_preflight_is_granted_only_where_the_split_is_certain() {
    let set = one(r#"path "secret/data/a/svc/*" { capabilities = ["read"] }"#);
    // Sent as X-Vault-Namespace `secret/data/a` + `sys/internal/ui/mounts/svc/x`: with
    // `secret` a known mount there is one split, the KV key, which the rule does not reach.
    let mut tricked = op(Verb::Read, "sys/internal/ui/mounts/svc/x");
    tricked.namespace = "secret/data/a".to_owned();
    tricked.full_path = "secret/data/a/sys/internal/ui/mounts/svc/x".to_owned();
    for semantics in [ServerSemantics::default(), known()] {
        assert!(!decide(&set, &tricked, &semantics, "").allowed);
    }
    let kv = one(r#"path "secret/data/acme/*" { capabilities = ["read"] }"#);
    let preflight = op(Verb::Read, "sys/internal/ui/mounts/secret/acme/x");
    assert!(decide(&kv, &preflight, &known(), "").allowed);
}

#[test]
fn token_self_operations_stay_in_the_tokens_namespace() {
    let set = one(r#"path "a/auth/token/lookup-self" { capabilities = ["read"] }"#);
    let lookup = op(Verb::Read, "a/auth/token/lookup-self");
    let d = decide(&set, &lookup, &known(), "");
    assert!(
        !d.allowed && d.reason.contains("own namespace"),
        "{}",
        d.reason
    );
    assert!(decide(&set, &lookup, &known(), "a").allowed);
}

#[test]
fn token_creation_with_sudo_parameters_needs_sudo() {
    let set = one(r#"path "auth/token/create" { capabilities = ["create", "update"] }"#);
    let mut orphan = op(Verb::Write, "auth/token/create");
    orphan.params = json!({"no_parent": true})
        .as_object()
        .cloned()
        .unwrap_or_default();
    let d = decide(&set, &orphan, &known(), "");
    assert!(!d.allowed && d.reason.contains("orphan"), "{}", d.reason);
    let plain = op(Verb::Write, "auth/token/create");
    assert!(decide(&set, &plain, &known(), "").allowed);
}

#[test]
fn reads_vault_serves_without_a_token_go_without_one() {
    let mut k = known();
    k.space_mut("").add_document(&json!({"paths": {
        "/pki-a/issuer/{issuer_ref}/der": {"x-vault-unauthenticated": true},
        "/sys/internal/ui/mounts/{path}": {"x-vault-unauthenticated": true},
    }}));
    let none = one(r#"path "nothing/*" { capabilities = ["read"] }"#);
    for path in [
        "sys/health",
        "sys/seal-status",
        "sys/leader",
        "sys/init",
        "sys/internal/specs/openapi",
        "pki-a/issuer/default/der",
    ] {
        let d = decide(&none, &op(Verb::Read, path), &k, "");
        assert!(d.allowed && d.anonymous, "{path}: {}", d.reason);
    }
    // A write to the same endpoint, or one the system backend answers more fully with a
    // token (the KV CLI's preflight), needs a rule and keeps the caller's token.
    for path in ["pki-a/issuer/default/der", "sys/init"] {
        let d = decide(&none, &op(Verb::Write, path), &k, "");
        assert!(!d.allowed && !d.anonymous, "{path}: {}", d.reason);
    }
    let d = decide(
        &none,
        &op(Verb::Read, "sys/internal/ui/mounts/secret"),
        &k,
        "",
    );
    assert!(!d.allowed && !d.anonymous, "{}", d.reason);
    let kv = one(r#"path "secret/data/*" { capabilities = ["read"] }"#);
    let d = decide(
        &kv,
        &op(Verb::Read, "sys/internal/ui/mounts/secret/x"),
        &k,
        "",
    );
    assert!(d.allowed && !d.anonymous, "{}", d.reason);
    // In a namespace `sys/health` is an ordinary path, not the status endpoint.
    let d = decide(&none, &op(Verb::Read, "a/sys/health"), &k, "");
    assert!(!d.anonymous, "{}", d.reason);
}

#[test]
fn kv2_version_writes_need_update_alone_and_no_probe() {
    // OpenBao asks `update` of KV v2 delete, undelete and destroy whether or not the key
    // exists (no existence check): no probe of the key, so a missing one is no refusal.
    let mut k = known();
    k.space_mut("").add_document(&json!({"paths": {
        "/secret/metadata/{path}": {"x-vault-createSupported": true},
        "/secret/delete/{path}": {"x-vault-createSupported": true},
        "/secret/undelete/{path}": {"x-vault-createSupported": true},
        "/secret/destroy/{path}": {"x-vault-createSupported": true},
    }}));
    let update = one(r#"path "secret/+/x" { capabilities = ["update"] }"#);
    let create = one(r#"path "secret/+/x" { capabilities = ["create"] }"#);
    for path in ["secret/delete/x", "secret/undelete/x", "secret/destroy/x"] {
        let d = decide(&update, &op(Verb::Write, path), &k, "");
        assert!(d.allowed && d.condition.is_none(), "{path}: {}", d.reason);
        let d = decide(&create, &op(Verb::Write, path), &k, "");
        assert!(!d.allowed, "{path}: {}", d.reason);
    }
    // The metadata has an existence check: update alone goes on only if the key exists.
    let d = decide(&update, &op(Verb::Write, "secret/metadata/x"), &k, "");
    assert!(d.allowed && d.condition.is_some(), "{}", d.reason);
}
