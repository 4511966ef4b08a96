//! Which requests act on leases, and on which one: Vault's `sys/leases/renew`, `revoke` and
//! `lookup` (the lease id in the body or, for renew and revoke, in the URL), the legacy
//! `sys/renew` and `sys/revoke`, and the operations that act on every lease under a prefix.
//! Paths are relative to the namespace the request lands in. No I/O.

use serde_json::{Map, Value};

use super::operation::Verb;

/// What a call does to the one lease it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseAction {
    Renew,
    Revoke,
    Lookup,
}

impl LeaseAction {
    pub fn as_str(self) -> &'static str {
        match self {
            LeaseAction::Renew => "renewed",
            LeaseAction::Revoke => "revoked",
            LeaseAction::Lookup => "lookup",
        }
    }
}

/// A request on Vault's lease endpoints.
#[derive(Clone, PartialEq, Eq)]
pub enum LeaseCall {
    /// One lease. `endpoint` is the body form's path (what the policy must allow and what
    /// is forwarded); `from_url` says the id came in the URL and the request must be
    /// rewritten to that form.
    One {
        action: LeaseAction,
        id: String,
        endpoint: &'static str,
        from_url: bool,
    },
    /// Every lease under a prefix (revoke-prefix, revoke-force, a lookup listing): no single
    /// caller can be shown to own them all.
    Prefix { endpoint: &'static str },
}

impl std::fmt::Debug for LeaseCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LeaseCall::One {
                action, endpoint, ..
            } => write!(f, "LeaseCall::One({action:?} on {endpoint}, <lease id>)"),
            LeaseCall::Prefix { endpoint } => write!(f, "LeaseCall::Prefix({endpoint})"),
        }
    }
}

/// Endpoints that take one lease id; the URL form appends it after a `/`. Vault keeps the
/// legacy `sys/renew` and `sys/revoke` (OpenBao removed them); both are listed so a policy
/// written for either is judged the same way.
const ONE: [(&str, LeaseAction, bool); 5] = [
    ("sys/leases/renew", LeaseAction::Renew, true),
    ("sys/leases/revoke", LeaseAction::Revoke, true),
    ("sys/leases/lookup", LeaseAction::Lookup, false),
    ("sys/renew", LeaseAction::Renew, true),
    ("sys/revoke", LeaseAction::Revoke, true),
];

/// Endpoints that act on every lease under a prefix (OpenBao's `logical_system_paths.go`
/// `leasePaths`; Vault's legacy `revoke-prefix` and `revoke-force`).
const PREFIX: [&str; 5] = [
    "sys/leases/revoke-prefix/",
    "sys/leases/revoke-force/",
    "sys/leases/lookup/",
    "sys/revoke-prefix/",
    "sys/revoke-force/",
];

/// The lease call `path` makes, if any. `Err` is an ambiguity the request is refused for:
/// Vault reads the body's `lease_id` before the URL's, so two different ids, a spelling
/// Vault would ignore, or a non-string id could make it act on another lease than the one
/// checked.
pub fn call(
    path: &str,
    verb: Verb,
    params: &Map<String, Value>,
) -> Result<Option<LeaseCall>, String> {
    for endpoint in PREFIX {
        let bare = endpoint.trim_end_matches('/');
        // `sys/leases/lookup` itself is the one-lease lookup; the others have no bare form.
        if path.starts_with(endpoint) || (path == bare && bare != "sys/leases/lookup") {
            return Ok(Some(LeaseCall::Prefix { endpoint: bare }));
        }
    }
    for (endpoint, action, url_form) in ONE {
        let url_id = match path.strip_prefix(endpoint) {
            Some("") => None,
            Some(rest) if url_form => match rest.strip_prefix('/') {
                Some(id) => Some(id),
                None => continue,
            },
            _ => continue,
        };
        if verb != Verb::Write {
            // Vault serves only updates here; anything else is its 405, judged by policy.
            return Ok(None);
        }
        let body_id = body_lease_id(params)?;
        let id = match (body_id, url_id) {
            (Some(b), Some(u)) if !b.is_empty() && !u.is_empty() && b != u => {
                return Err("the body's lease_id and the URL name different leases".to_owned())
            }
            (Some(b), _) if !b.is_empty() => b.to_owned(),
            (_, Some(u)) if !u.is_empty() => u.to_owned(),
            _ => return Err("lease_id must be specified".to_owned()),
        };
        return Ok(Some(LeaseCall::One {
            action,
            id,
            endpoint,
            from_url: url_id.is_some(),
        }));
    }
    Ok(None)
}

/// The body's `lease_id`, refusing spellings Vault would not read as it (another case,
/// `url_lease_id`, which the URL's capture overrides) and values it would convert.
fn body_lease_id(params: &Map<String, Value>) -> Result<Option<&str>, String> {
    for (key, value) in params {
        let lower = key.to_ascii_lowercase();
        if lower == "url_lease_id" {
            return Err("url_lease_id in the body; send lease_id".to_owned());
        }
        if lower == "lease_id" && key != "lease_id" {
            return Err(format!("{key:?} in the body; Vault reads only lease_id"));
        }
        if key == "lease_id" && !value.is_string() {
            return Err("lease_id must be a string".to_owned());
        }
    }
    Ok(params.get("lease_id").and_then(Value::as_str))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn params(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    fn one(path: &str, body: Value) -> (LeaseAction, String, &'static str, bool) {
        match call(path, Verb::Write, &params(body)) {
            Ok(Some(LeaseCall::One {
                action,
                id,
                endpoint,
                from_url,
            })) => (action, id, endpoint, from_url),
            other => panic!("{path}: {other:?}"),
        }
    }

    #[test]
    fn body_and_url_forms_name_the_lease_vault_acts_on() {
        let id = "database/creds/ro/AbC123";
        assert_eq!(
            one("sys/leases/renew", json!({"lease_id": id, "increment": 60})),
            (LeaseAction::Renew, id.to_owned(), "sys/leases/renew", false)
        );
        assert_eq!(
            one(&format!("sys/leases/revoke/{id}"), json!({"sync": true})),
            (
                LeaseAction::Revoke,
                id.to_owned(),
                "sys/leases/revoke",
                true
            )
        );
        assert_eq!(
            one("sys/leases/lookup", json!({"lease_id": id})),
            (
                LeaseAction::Lookup,
                id.to_owned(),
                "sys/leases/lookup",
                false
            )
        );
        assert_eq!(
            one(&format!("sys/renew/{id}"), json!({})),
            (LeaseAction::Renew, id.to_owned(), "sys/renew", true)
        );
        assert_eq!(
            one(&format!("sys/revoke/{id}"), json!({"lease_id": id})),
            (LeaseAction::Revoke, id.to_owned(), "sys/revoke", true)
        );
    }

    #[test]
    fn the_body_id_wins_as_in_vault_and_a_conflict_is_refused() {
        // handleRenew reads lease_id first and the URL only when it is empty.
        let (_, id, _, _) = one("sys/leases/renew/", json!({"lease_id": "a/b"}));
        assert_eq!(id, "a/b");
        let none = params(json!({"lease_id": "x/other"}));
        assert!(call("sys/leases/renew/x/mine", Verb::Write, &none).is_err());
        for body in [
            json!({"Lease_Id": "x/other"}),
            json!({"url_lease_id": "x/other"}),
            json!({"lease_id": 7}),
            json!({}),
        ] {
            let p = params(body.clone());
            assert!(call("sys/leases/renew", Verb::Write, &p).is_err(), "{body}");
        }
    }

    #[test]
    fn prefix_operations_and_lookalikes() {
        for path in [
            "sys/leases/revoke-prefix/database/creds",
            "sys/leases/revoke-force/database",
            "sys/leases/lookup/",
            "sys/leases/lookup/database/creds/",
            "sys/revoke-prefix/auth/approle",
            "sys/revoke-force/x",
        ] {
            let got = call(path, Verb::List, &Map::new());
            assert!(matches!(got, Ok(Some(LeaseCall::Prefix { .. }))), "{path}");
        }
        for path in [
            "sys/leases/renewals",
            "sys/leases/tidy",
            "sys/leases/count",
            "secret/data/sys/leases/renew",
            "sys/renewal",
        ] {
            let p = params(json!({"lease_id": "a"}));
            assert_eq!(call(path, Verb::Write, &p), Ok(None), "{path}");
        }
        // A read of a renew path is Vault's 405, judged by policy like any other path.
        assert_eq!(
            call("sys/leases/renew/x", Verb::Read, &Map::new()),
            Ok(None)
        );
        // Lookup has no URL form: the path is the prefix listing.
        assert!(matches!(
            call("sys/leases/lookup/x", Verb::Write, &Map::new()),
            Ok(Some(LeaseCall::Prefix { .. }))
        ));
    }
}
