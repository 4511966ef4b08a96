//! Turns one caller's ACL and one `Operation` into a `Decision`: Vault's rule lookup, the
//! capabilities the proxy requires per verb, sudo, wrapping and parameter constraints, plus
//! vaultgate's own stricter handling of endpoints that would leak the proxy's token.

use crate::identity::Caller;
use crate::policy::pattern::PatternKind;
use crate::policy::Decision;
use crate::vault::operation::{Capability, Operation, Verb};
use crate::vault::placement::{Facts, Placement};
use crate::vault::sudo;
use crate::vault::write::WriteCondition;

use super::acl::{Acl, Rule};
use super::{parameters, writes};
use served::unauthenticated;

mod served;

/// Endpoints (relative to the namespace) that hand out or act on the proxy's token, leak its
/// ACL, or operate the server. A glob must never reach them by accident, so only an exact
/// rule naming the path may allow them. An entry ending in `/` covers that path and below;
/// the others are plain string prefixes, so `sys/revoke` also covers `sys/revoke-prefix/…`
/// and `sys/capabilities` covers `sys/capabilities-self`.
const SENSITIVE: &[&str] = &[
    "auth/token/",
    "sys/wrapping/",
    "cubbyhole/",
    "sys/capabilities",
    "sys/internal/ui/resultant-acl",
    "sys/leases/",
    "sys/revoke",
    "sys/renew",
    "identity/",
    "sys/workflows/",
    "sys/audit",
    "sys/raw",
    "sys/pprof",
    "sys/monitor",
    "sys/in-flight-req",
    "sys/host-info",
    "sys/metrics",
    "sys/storage/raft/snapshot",
    "sys/generate-root",
    "sys/rekey",
    "sys/policy",
    "sys/policies/",
    "sys/mounts",
    "sys/auth",
    "sys/namespaces",
    "sys/seal",
    "sys/unseal",
    "sys/step-down",
    "sys/remount",
    "sys/rotate",
    "sys/plugins/",
    "sys/storage/",
    "sys/config/",
    "sys/quotas/",
];

const UI_MOUNTS: &str = "sys/internal/ui/mounts";

/// Whether `path` (relative to the namespace it lands in) is a sensitive endpoint.
pub(crate) fn is_sensitive(path: &str) -> bool {
    let listed = SENSITIVE.iter().any(|entry| match entry.strip_suffix('/') {
        Some(dir) => path == dir || path.starts_with(entry),
        None => path.starts_with(entry),
    });
    // Any login under an auth mount mints a fresh token independent of the proxy, whatever
    // the mount is called or how deep it is mounted.
    let login = path
        .strip_prefix("auth/")
        .is_some_and(|rest| rest.split('/').skip(1).any(|segment| segment == "login"));
    let bare_ui_mounts = path.trim_end_matches('/') == UI_MOUNTS;
    listed || login || bare_ui_mounts
}

/// OpenBao runs `auth/token/{lookup,renew,revoke}-self` on the token wherever the request
/// names it: in a namespace other than the token's own, its ACL checks the token's own
/// namespace's path, which no rule for the named path speaks for (found by the namespace
/// differential test). Such a request is refused rather than judged on the wrong path.
fn foreign_token_self<'a>(op: &'a Operation, placement: &Placement) -> Option<&'a str> {
    placement.splits().iter().find_map(|split| {
        let path = split.path(&op.full_path);
        let name = path.trim_end_matches('/').strip_prefix("auth/token/")?;
        (split.foreign && matches!(name, "lookup-self" | "renew-self" | "revoke-self"))
            .then(|| split.namespace(&op.full_path))
    })
}

/// The first place the request could land that is a sensitive endpoint.
fn sensitive_landing<'a>(op: &'a Operation, placement: &Placement) -> Option<&'a str> {
    placement
        .splits()
        .iter()
        .map(|s| s.path(&op.full_path))
        .find(|path| is_sensitive(path))
}

/// Why the request needs sudo wherever the server lands it, if it does anywhere: OpenBao's
/// fixed root paths and handler checks, the mounted engines' root paths as the server's
/// documents mark them, or, for a mount no document described, every built-in engine's.
fn sudo_needed(op: &Operation, placement: &Placement) -> Option<String> {
    placement.splits().iter().find_map(|split| {
        let path = split.path(&op.full_path);
        sudo::fixed(path, &op.params, split.foreign).or_else(|| match split.facts {
            Facts::Known { sudo: true, .. } => {
                Some("the server marks it sudo (x-vault-sudo)".to_owned())
            }
            Facts::Known { .. } => None,
            Facts::Unknown => sudo::mounted_anywhere(path),
        })
    })
}

/// What the proxy requires per verb; writes are decided in `writes`.
fn required(verb: Verb) -> &'static [Capability] {
    match verb {
        Verb::Read | Verb::Help => &[Capability::Read],
        Verb::List => &[Capability::List],
        Verb::Scan => &[Capability::Scan],
        Verb::Write => &[Capability::Create, Capability::Update],
        Verb::Patch => &[Capability::Patch],
        Verb::Delete => &[Capability::Delete],
        Verb::Head => &[],
    }
}

fn capability_name(capability: Capability) -> &'static str {
    match capability {
        Capability::Create => "create",
        Capability::Read => "read",
        Capability::Update => "update",
        Capability::Patch => "patch",
        Capability::Delete => "delete",
        Capability::List => "list",
        Capability::Scan => "scan",
        Capability::Sudo => "sudo",
    }
}

fn names(capabilities: &[Capability]) -> String {
    capabilities
        .iter()
        .map(|c| capability_name(*c))
        .collect::<Vec<_>>()
        .join(" and ")
}

fn label(rule: &Rule) -> String {
    match rule.source() {
        Some(source) => format!(
            "rule {:?} at {}:{}",
            rule.pattern.as_str(),
            source.file.display(),
            source.line
        ),
        None => format!("rule {:?}", rule.pattern.as_str()),
    }
}

pub(super) fn allow(rule: Option<&Rule>, reason: String) -> Decision {
    Decision {
        allowed: true,
        rule: rule.and_then(|r| r.source().cloned()),
        reason,
        condition: None,
        anonymous: false,
    }
}

fn deny(rule: Option<&Rule>, reason: String) -> Decision {
    Decision {
        allowed: false,
        rule: rule.and_then(|r| r.source().cloned()),
        reason,
        condition: None,
        anonymous: false,
    }
}

/// `GET sys/internal/ui/mounts/<p>` is the KV CLI's preflight. It is allowed when the caller
/// has some granting rule under the first segment of `<p>` in the same namespace, so that
/// `bao kv get` works without a rule for Vault's internal endpoint.
/// Only where the server's split is certain: `sys` cannot be a namespace, so a caller who
/// splits elsewhere (a KV key under `…/sys/internal/ui/mounts/`) never gets here.
fn kv_preflight<'a>(acl: &'a Acl, op: &Operation, placement: &Placement) -> Option<&'a Rule> {
    if op.verb != Verb::Read || op.wrap_ttl.is_some() {
        return None;
    }
    let split = placement.unique()?;
    let rest = split
        .path(&op.full_path)
        .strip_prefix(UI_MOUNTS)?
        .strip_prefix('/')?;
    let mount = rest.split('/').next().filter(|m| !m.is_empty())?;
    let namespace = split.namespace(&op.full_path);
    let prefix = if namespace.is_empty() {
        format!("{mount}/")
    } else {
        format!("{namespace}/{mount}/")
    };
    acl.rules()
        .find(|rule| rule.grants.grants_any() && rule.pattern.as_str().starts_with(&prefix))
}

pub(crate) fn evaluate(
    acl: Option<&Acl>,
    caller: &Caller,
    op: &Operation,
    placement: &Placement,
) -> Decision {
    if let Some(decision) = unauthenticated(op, placement) {
        return decision;
    }
    if op.verb == Verb::Head {
        return deny(
            None,
            "HEAD is denied: Vault's ACL refuses it for every non-root token".to_owned(),
        );
    }
    let Some(acl) = acl else {
        return deny(None, format!("no policy for caller {caller}"));
    };
    let listing = matches!(op.verb, Verb::List | Verb::Scan);
    let preflight = || {
        kv_preflight(acl, op, placement).map(|supporting| {
            allow(
                Some(supporting),
                format!(
                    "KV preflight allowed because {} grants access under that mount",
                    label(supporting)
                ),
            )
        })
    };
    let Some(rule) = acl.decisive(&op.full_path, listing) else {
        return preflight().unwrap_or_else(|| {
            deny(
                None,
                format!(
                    "no rule matches {:?} for caller {caller} (default deny)",
                    op.full_path
                ),
            )
        });
    };
    if rule.grants.is_deny() {
        return deny(Some(rule), format!("{} denies", label(rule)));
    }
    if let Some(namespace) = foreign_token_self(op, placement) {
        return deny(
            Some(rule),
            format!(
                "token self-operations act on the service's token in its own namespace, not in \
                 namespace {namespace:?}: address them in the service's namespace"
            ),
        );
    }
    if let Some(landing) = sensitive_landing(op, placement) {
        if rule.pattern.kind() != PatternKind::Exact {
            return deny(
                Some(rule),
                format!(
                    "{landing:?} is a sensitive endpoint: an exact rule naming it is required, and {} is a pattern",
                    label(rule)
                ),
            );
        }
    }
    let (needed, condition) = if op.verb == Verb::Write {
        match writes::write(rule, op, placement) {
            Ok(covered) => (covered.used, covered.condition),
            Err(why) => return deny(Some(rule), format!("{} {why}", label(rule))),
        }
    } else {
        (required(op.verb), None)
    };
    let missing: Vec<Capability> = needed
        .iter()
        .copied()
        .filter(|c| !rule.grants.contains(*c))
        .collect();
    if !missing.is_empty() {
        return preflight().unwrap_or_else(|| {
            deny(
                Some(rule),
                format!("{} does not grant {}", label(rule), names(&missing)),
            )
        });
    }
    if !rule.grants.contains(Capability::Sudo) {
        if let Some(why) = sudo_needed(op, placement) {
            return deny(
                Some(rule),
                format!(
                    "{} does not grant sudo, which this request needs: {why}",
                    label(rule)
                ),
            );
        }
    }
    if let Err(reason) = check_wrapping(rule, op) {
        return deny(Some(rule), format!("{}: {reason}", label(rule)));
    }
    if matches!(op.verb, Verb::Read | Verb::Write | Verb::Patch) {
        if let Err(refusal) = parameters::check(rule, &op.params) {
            return deny(
                Some(rule),
                format!("{}: {}", label(rule), refusal.describe()),
            );
        }
    }
    let mut decision = allow(
        Some(rule),
        format!("{} grants {}", label(rule), names(needed)),
    );
    if let Some(condition) = condition {
        decision.reason.push_str(match condition {
            WriteCondition::CasCreate { .. } => {
                " (if the key has no metadata, sent with cas=0: Vault refuses to overwrite)"
            }
            WriteCondition::CasUpdate { .. } => {
                " (sent with the current version as cas: Vault refuses to create)"
            }
            WriteCondition::MustExist { .. } => {
                " (if the target exists: a write there is an update)"
            }
        });
        decision.condition = Some(condition);
    }
    decision
}

/// vault-semantics §1.7: bounds make wrapping mandatory; without bounds vaultgate refuses
/// wrapping, since a wrapping token is a bearer credential the proxy cannot follow.
fn check_wrapping(rule: &Rule, op: &Operation) -> Result<(), String> {
    let (min, max) = (rule.min_wrapping_ttl, rule.max_wrapping_ttl);
    if min.is_none() && max.is_none() {
        return match op.wrap_ttl {
            Some(_) => Err("response wrapping not permitted by this rule".to_owned()),
            None => Ok(()),
        };
    }
    let Some(ttl) = op.wrap_ttl else {
        return Err("this rule requires response wrapping (X-Vault-Wrap-TTL)".to_owned());
    };
    if let (Some(min), Some(max)) = (min, max) {
        // Possible after merging even though each block was checked on its own.
        if max < min {
            return Err("merged wrapping bounds are empty (max below min)".to_owned());
        }
    }
    if min.is_some_and(|min| ttl < min) {
        return Err(format!(
            "wrapping TTL {}s is below min_wrapping_ttl",
            ttl.as_secs()
        ));
    }
    if max.is_some_and(|max| ttl > max) {
        return Err(format!(
            "wrapping TTL {}s is above max_wrapping_ttl",
            ttl.as_secs()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod splits;
#[cfg(test)]
mod tests;
