//! Sudo as OpenBao enforces it: the root-protected special paths of the built-in `sys` and
//! token store backends and the sudo checks coded in handlers, each row citing where OpenBao
//! (internal/, at 2.7) declares it. Mounted backends' own root paths (PKI's `root`) come from
//! the server's OpenAPI document per mount (`semantics`); `MOUNTED` covers them while that
//! document is unknown.

use serde_json::{Map, Value};

/// One root-protected path, relative to its namespace.
struct Row {
    /// Vault's special-path syntax: a trailing `*` is a prefix glob, otherwise exact.
    pattern: &'static str,
    source: &'static str,
}

const ROOT_PATHS: &[Row] = &[
    row(
        "sys/auth/*",
        "vault/logical_system.go PathsSpecial.Root \"auth/*\"",
    ),
    row(
        "sys/remount",
        "vault/logical_system.go PathsSpecial.Root \"remount\"",
    ),
    row(
        "sys/audit",
        "vault/logical_system.go PathsSpecial.Root \"audit\"",
    ),
    row(
        "sys/audit/*",
        "vault/logical_system.go PathsSpecial.Root \"audit/*\"",
    ),
    row(
        "sys/raw",
        "vault/logical_system.go PathsSpecial.Root \"raw\"",
    ),
    row(
        "sys/raw/*",
        "vault/logical_system.go PathsSpecial.Root \"raw/*\"",
    ),
    row(
        "sys/rotate",
        "vault/logical_system.go PathsSpecial.Root \"rotate\"",
    ),
    row(
        "sys/rotate/keyring",
        "vault/logical_system.go PathsSpecial.Root \"rotate/keyring\"",
    ),
    row(
        "sys/rotate/root",
        "vault/logical_system.go PathsSpecial.Root \"rotate/root\"",
    ),
    row(
        "sys/config/cors",
        "vault/logical_system.go PathsSpecial.Root \"config/cors\"",
    ),
    row(
        "sys/config/auditing/*",
        "vault/logical_system.go PathsSpecial.Root \"config/auditing/*\"",
    ),
    row(
        "sys/config/ui/headers/*",
        "vault/logical_system.go PathsSpecial.Root \"config/ui/headers/*\"",
    ),
    row(
        "sys/plugins/catalog/*",
        "vault/logical_system.go PathsSpecial.Root \"plugins/catalog/*\"",
    ),
    row(
        "sys/revoke-prefix/*",
        "vault/logical_system.go PathsSpecial.Root \"revoke-prefix/*\"",
    ),
    row(
        "sys/revoke-force/*",
        "vault/logical_system.go PathsSpecial.Root \"revoke-force/*\"",
    ),
    row(
        "sys/leases/revoke-prefix/*",
        "vault/logical_system.go PathsSpecial.Root \"leases/revoke-prefix/*\"",
    ),
    row(
        "sys/leases/revoke-force/*",
        "vault/logical_system.go PathsSpecial.Root \"leases/revoke-force/*\"",
    ),
    row(
        "sys/leases/lookup/*",
        "vault/logical_system.go PathsSpecial.Root \"leases/lookup/*\"",
    ),
    row(
        "sys/leases",
        "vault/logical_system.go PathsSpecial.Root \"leases\"",
    ),
    row(
        "sys/internal/inspect/*",
        "vault/logical_system.go PathsSpecial.Root \"internal/inspect/*\"",
    ),
    row(
        "sys/seal",
        "vault/core.go sealInitCommon: RootPrivsRequired",
    ),
    row("sys/step-down", "vault/ha.go StepDown: RootPrivsRequired"),
    row(
        "auth/token/revoke-orphan",
        "vault/token_store.go handleRevokeOrphan: SudoPrivilege",
    ),
    row(
        "auth/token/revoke-orphan/*",
        "vault/token_store.go PathsSpecial.Root \"revoke-orphan/*\"",
    ),
    row(
        "auth/token/accessors*",
        "vault/token_store.go PathsSpecial.Root \"accessors*\"",
    ),
];

/// Root paths of built-in secrets engines, relative to wherever the engine is mounted.
const MOUNTED: &[Row] = &[
    row(
        "root",
        "builtin/logical/pki/backend.go PathsSpecial.Root \"root\"",
    ),
    row(
        "root/sign-self-issued",
        "builtin/logical/pki/backend.go PathsSpecial.Root \"root/sign-self-issued\"",
    ),
];

const fn row(pattern: &'static str, source: &'static str) -> Row {
    Row { pattern, source }
}

/// Token store endpoints whose handler asks for sudo depending on the request body
/// (vault/token_store.go handleCreateCommon, resolveTokenPolicies, parseAndMergeTTLPeriod).
const TOKEN_CREATE: &str = "auth/token/create";

fn matches(pattern: &str, path: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => path.starts_with(prefix),
        // A list's trailing `/` addresses the same special path.
        None => path.strip_suffix('/').unwrap_or(path) == pattern,
    }
}

/// Why `rel` (a path relative to its namespace, in the namespace `namespace_differs` says
/// whether the caller's token lives in) needs sudo whatever backend serves it, or `None`.
/// `params` are the request's top-level body keys, as Vault's handlers read them.
pub fn fixed(rel: &str, params: &Map<String, Value>, namespace_differs: bool) -> Option<String> {
    if let Some(r) = ROOT_PATHS.iter().find(|r| matches(r.pattern, rel)) {
        return Some(format!("root-protected path ({})", r.source));
    }
    if let Some(rest) = rel.strip_prefix("sys/namespaces/") {
        if rest.trim_end_matches('/').ends_with("/delete-sealed") {
            return Some(
                "deleting a sealed namespace needs sudo (vault/logical_system_namespaces_seals.go)"
                    .to_owned(),
            );
        }
        let unlock = rest == "api-lock/unlock" || rest.starts_with("api-lock/unlock/");
        if unlock && !params.contains_key("unlock_key") {
            return Some(
                "unlocking a namespace without its key needs sudo (vault/logical_system_namespaces.go)"
                    .to_owned(),
            );
        }
    }
    token_create(rel, params, namespace_differs)
}

/// Root paths of built-in engines at an unknown mount: `rel` ends with one of them after at
/// least one segment that could be the mount.
pub fn mounted_anywhere(rel: &str) -> Option<String> {
    let rel = rel.strip_suffix('/').unwrap_or(rel);
    MOUNTED.iter().find_map(|r| {
        let before = rel.strip_suffix(r.pattern)?.strip_suffix('/')?;
        (!before.is_empty())
            .then(|| format!("root-protected path of a mounted engine ({})", r.source))
    })
}

fn token_create(rel: &str, params: &Map<String, Value>, namespace_differs: bool) -> Option<String> {
    let rest = rel.strip_prefix(TOKEN_CREATE)?;
    // `create-orphan` is the sudo-free way to an orphan; `create/<role>` takes the role's.
    let with_role = match rest {
        "" => false,
        r if r.starts_with('/') => true,
        _ => return None,
    };
    let key = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    };
    let set = |name: &str| key(name).is_some_and(|v| !is_empty_value(v));
    let why = if namespace_differs {
        Some("creating a token in another namespace than its parent's")
    } else if set("id") {
        Some("choosing the token id")
    } else if !with_role && key("no_parent").is_some_and(is_true) {
        Some("creating an orphan token")
    } else if set("period") && key("period").is_some_and(|v| !is_zero_duration(v)) {
        Some("creating a periodic token")
    } else if !with_role && set("policies") {
        // Without sudo Vault checks the policies are a subset of the parent token's; the
        // proxy cannot see that set, so it asks for sudo whenever policies are named.
        Some("naming the child token's policies")
    } else {
        None
    };
    why.map(|w| format!("{w} needs sudo (vault/token_store.go handleCreateCommon)"))
}

fn is_empty_value(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty() || a.iter().all(is_empty_value),
        _ => false,
    }
}

/// Go's `strconv.ParseBool` truths, as Vault's field parser reads a bool from JSON or form.
fn is_true(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::String(s) => matches!(s.as_str(), "1" | "t" | "T" | "TRUE" | "true" | "True"),
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::Array(a) => a.first().is_some_and(is_true),
        _ => false,
    }
}

fn is_zero_duration(v: &Value) -> bool {
    match v {
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => {
            let t = s.trim();
            !t.is_empty()
                && t.trim_end_matches(|c: char| c.is_ascii_alphabetic())
                    .chars()
                    .all(|c| c == '0' || c == '.')
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn params(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn root_paths_follow_the_router_syntax() {
        let none = Map::new();
        for sudo in [
            "sys/auth/userpass",
            "sys/auth/x/tune",
            "sys/seal",
            "sys/step-down",
            "sys/leases",
            "sys/leases/",
            "sys/leases/lookup/",
            "sys/leases/lookup/database/creds/x",
            "sys/leases/revoke-prefix/auth/approle/login",
            "auth/token/revoke-orphan",
            "auth/token/accessors/",
            "sys/rotate/root",
            "sys/namespaces/a/b/delete-sealed",
        ] {
            assert!(fixed(sudo, &none, false).is_some(), "{sudo}");
        }
        for plain in [
            "sys/auth",
            "sys/leases/lookup",
            "sys/leases/renew",
            "sys/rotate/other",
            "sys/mounts/x",
            "secret/data/sys/seal",
            "auth/token/lookup-self",
            "sys/namespaces/a",
        ] {
            assert!(fixed(plain, &none, false).is_none(), "{plain}");
        }
    }

    #[test]
    fn token_creation_needs_sudo_exactly_where_the_handler_asks() {
        let create = |body: Value| fixed("auth/token/create", &params(body), false).is_some();
        assert!(create(json!({"no_parent": true})));
        assert!(create(json!({"no_parent": "true"})));
        assert!(!create(json!({"no_parent": false})));
        assert!(create(json!({"id": "s.mine"})));
        assert!(create(json!({"period": "1h"})));
        assert!(!create(json!({"period": "0"})));
        assert!(!create(json!({"period": 0})));
        assert!(create(json!({"policies": ["admin"]})));
        assert!(!create(json!({"ttl": "1h", "display_name": "x"})));
        assert!(fixed("auth/token/create", &Map::new(), true).is_some());
        // A role decides orphan-ness itself; create-orphan is the sudo-free orphan path.
        assert!(fixed(
            "auth/token/create/r",
            &params(json!({"no_parent": true})),
            false
        )
        .is_none());
        assert!(fixed(
            "auth/token/create-orphan",
            &params(json!({"no_parent": true})),
            false
        )
        .is_none());
        assert!(fixed("auth/token/create/r", &params(json!({"id": "x"})), false).is_some());
    }

    #[test]
    fn namespace_unlock_needs_sudo_only_without_a_key() {
        let with_key = params(json!({"unlock_key": "k"}));
        assert!(fixed("sys/namespaces/api-lock/unlock/a", &Map::new(), false).is_some());
        assert!(fixed("sys/namespaces/api-lock/unlock/a", &with_key, false).is_none());
    }

    #[test]
    fn mounted_engine_roots_match_at_any_mount() {
        assert!(mounted_anywhere("pki/root").is_some());
        assert!(mounted_anywhere("a/b/pki/root/sign-self-issued").is_some());
        assert!(mounted_anywhere("root").is_none());
        assert!(mounted_anywhere("pki/rooted").is_none());
        assert!(mounted_anywhere("pki/root/x").is_none());
    }
}
