//! Risky grants in one parsed policy file: rules that are valid but that a security reviewer
//! should look at twice. Each finding names file, line and the pattern as written.

use std::fmt;
use std::path::PathBuf;

use crate::policy::document::{PathRule, PolicyDocument};
use crate::policy::pattern::Pattern;
use crate::policy::PolicyFile;
use crate::vault::operation::Capability;

use super::overlap::common_path;

/// The service name substituted for `{{service}}` when a tenant-wide file is examined on its
/// own: a rule is checked for every service, and a literal name reads well in examples.
pub const ANY_SERVICE: &str = "any-service";

/// One `policy check` warning.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Warning {
    pub file: PathBuf,
    pub line: u32,
    /// The pattern as written in the file, templates included.
    pub pattern: String,
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: path {:?}: {}",
            self.file.display(),
            self.line,
            self.pattern,
            self.message
        )
    }
}

/// Areas where a grant hands out the proxy's token or shared state (vault-semantics §5), as
/// patterns, with how a warning names them.
const AREAS: &[(&str, &str)] = &[
    (
        "auth/token/*",
        "auth/token/ (reveals, renews and mints tokens)",
    ),
    (
        "sys/wrapping/*",
        "sys/wrapping/ (unwraps any wrapping token with the proxy's token)",
    ),
    (
        "cubbyhole/*",
        "cubbyhole/ (one store shared by every tenant behind the proxy's token)",
    ),
    (
        "identity/*",
        "identity/ (acts on the proxy's entity, mints identity tokens)",
    ),
    ("auth/+/login*", "auth/*/login (mints a fresh Vault token)"),
    ("sys/*", "sys/ (server operation endpoints)"),
];

/// Vault's calls on one lease, URL forms included: Vault authorizes them by path alone.
const LEASE_CALLS: &[&str] = &[
    "sys/leases/renew*",
    "sys/leases/revoke*",
    "sys/leases/lookup",
    "sys/renew*",
    "sys/revoke*",
];

/// KV v2 addresses one mount through these second segments, so `secret/data/*` is as wide as
/// `secret/*`.
const KV_API: &[&str] = &[
    "data", "metadata", "delete", "undelete", "destroy", "subkeys",
];

/// Every risky-grant warning for one file; deny-only rules are only checked for a literal
/// `*`, which makes a deny cover less than it seems to.
pub fn warnings(file: &PolicyFile, document: &PolicyDocument) -> Vec<Warning> {
    let mut out = Vec::new();
    for rule in &document.rules {
        let mut warn = |message: String| {
            out.push(Warning {
                file: file.path.clone(),
                line: rule.line,
                pattern: rule.pattern.clone(),
                message,
            });
        };
        if let Some(position) = literal_star(&rule.pattern) {
            warn(format!(
                "the `*` at byte {position} is a literal character, not a wildcard: Vault treats `*` as a glob only at the end"
            ));
        }
        if !rule.grants.grants_any() {
            continue;
        }
        let reached = sensitive_areas(file, rule);
        if !reached.is_empty() {
            warn(format!("grants access to {}", reached.join(", ")));
        }
        if acts_on_leases_by_path(file, rule) {
            warn("grants lease calls by path alone: Vault checks no ownership (any lease id is renewed or revoked), so vaultgate adds it: only leases it relayed to the calling service, never a prefix".to_owned());
        }
        if rule.min_wrapping_ttl.is_some() || rule.max_wrapping_ttl.is_some() {
            warn("sets response-wrapping TTLs: a wrapping token is a bearer credential anyone holding it can unwrap".to_owned());
        }
        if rule.grants.contains(Capability::Sudo) {
            warn("grants sudo, which opens root-protected endpoints".to_owned());
        }
        if near_mount_root(&rule.pattern) {
            warn("glob at or near a mount root: it grants everything below, including paths other tenants and services use".to_owned());
        }
        if file.service.is_none()
            && !rule.pattern.contains("{{tenant}}")
            && !rule.pattern.contains(file.tenant.as_str())
        {
            warn(format!(
                "names neither {{{{tenant}}}} nor {:?} but is in a tenant-wide file: it applies to every service of {} and reaches paths outside the tenant's own",
                file.tenant, file.tenant
            ));
        }
    }
    out
}

/// The byte index of a `*` that is not the last character.
fn literal_star(pattern: &str) -> Option<usize> {
    pattern
        .char_indices()
        .find(|(i, c)| *c == '*' && i + 1 < pattern.len())
        .map(|(i, _)| i)
}

/// The pattern as one caller of this file would have it.
pub fn substituted(file: &PolicyFile, pattern: &str) -> String {
    pattern.replace("{{tenant}}", &file.tenant).replace(
        "{{service}}",
        file.service.as_deref().unwrap_or(ANY_SERVICE),
    )
}

fn sensitive_areas(file: &PolicyFile, rule: &PathRule) -> Vec<&'static str> {
    let pattern = Pattern::new(&substituted(file, &rule.pattern));
    AREAS
        .iter()
        .filter(|(area, _)| common_path(&pattern, &Pattern::new(area)).is_some())
        .map(|(_, label)| *label)
        .collect()
}

/// A trailing `*` with at most one segment before it that narrows anything: `+` narrows
/// nothing, and a KV v2 API segment is part of the mount's root.
fn near_mount_root(pattern: &str) -> bool {
    let Some(stem) = pattern.strip_suffix('*') else {
        return false;
    };
    // Segments before the one the `*` sits in; `secret/da*` has one, `secret/data/*` two.
    let mut complete: Vec<&str> = stem.split('/').collect();
    complete.pop();
    let narrowing = complete
        .iter()
        .enumerate()
        .filter(|(i, segment)| **segment != "+" && !(*i == 1 && KV_API.contains(segment)))
        .count();
    narrowing <= 1
}

/// The rule reaches a lease call and does not narrow `lease_id` by its parameters.
fn acts_on_leases_by_path(file: &PolicyFile, rule: &PathRule) -> bool {
    let pattern = Pattern::new(&substituted(file, &rule.pattern));
    let narrowed = rule
        .allowed_parameters
        .as_ref()
        .is_some_and(|p| p.keys().any(|k| k.eq_ignore_ascii_case("lease_id")));
    !narrowed
        && LEASE_CALLS
            .iter()
            .any(|call| common_path(&pattern, &Pattern::new(call)).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_root_globs() {
        for wide in [
            "*",
            "secret/*",
            "secret/data/*",
            "secret/da*",
            "secret/data/+/*",
        ] {
            assert!(near_mount_root(wide), "{wide}");
        }
        for narrow in [
            "secret/data/acme/*",
            "secret/data/{{tenant}}/*",
            "secret/x",
            "a/b/c*",
        ] {
            assert!(!near_mount_root(narrow), "{narrow}");
        }
    }

    #[test]
    fn literal_stars() {
        assert_eq!(literal_star("a/*/b"), Some(2));
        assert_eq!(literal_star("a/b/*"), None);
        assert_eq!(literal_star("a"), None);
    }
}
