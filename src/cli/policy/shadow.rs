//! Shadowed denies (vault-semantics §1.3): a `deny` on a glob or `+` pattern is ignored
//! wherever a granting pattern with higher priority also matches, because Vault uses only the
//! highest-priority non-exact rule. The real ACL lookup decides; this module only finds
//! the paths to ask it about.

use crate::identity::Caller;
use crate::policy::pattern::{Pattern, PatternKind};
use crate::policy::{PolicySet, RuleSource};

use super::overlap::common_path;

/// A deny block that does not take effect on `example`, where `winner` decides instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShadowedDeny {
    pub deny: RuleSource,
    pub winner: RuleSource,
    pub example: String,
}

/// For each caller's merged rules: every non-exact deny D and every other non-exact rule R
/// that grants something. If some path matches both (the shortest one is taken), the ACL
/// lookup is asked which rule decides there; when it is a granting rule and not D, D is
/// shadowed on that path. Exact grants inside a deny glob are not reported: an exact rule
/// winning is the documented way to carve out an exception.
pub fn shadowed_denies(set: &PolicySet, callers: &[Caller]) -> Vec<ShadowedDeny> {
    let mut found = Vec::new();
    for caller in callers {
        let rules = set.rules(caller);
        let denies = rules
            .iter()
            .filter(|rule| rule.denies && rule.kind != PatternKind::Exact);
        for deny in denies {
            let Some(deny_source) = &deny.source else {
                continue;
            };
            let deny_pattern = Pattern::new(&deny.pattern);
            for other in &rules {
                if !other.grants || other.kind == PatternKind::Exact {
                    continue;
                }
                let Some(path) = common_path(&deny_pattern, &Pattern::new(&other.pattern)) else {
                    continue;
                };
                let Some(decisive) = set.decisive_rule(caller, &path, false) else {
                    continue;
                };
                if decisive.pattern == deny.pattern || !decisive.grants {
                    continue;
                }
                if let Some(winner) = decisive.source {
                    found.push(ShadowedDeny {
                        deny: deny_source.clone(),
                        winner,
                        example: path,
                    });
                }
            }
        }
    }
    // One report per (deny block, winning block), with the shortest example found for it.
    let key = |s: &ShadowedDeny| {
        (
            s.deny.file.clone(),
            s.deny.line,
            s.winner.file.clone(),
            s.winner.line,
        )
    };
    found.sort_by(|a, b| {
        key(a)
            .cmp(&key(b))
            .then_with(|| a.example.len().cmp(&b.example.len()))
            .then_with(|| a.example.cmp(&b.example))
    });
    found.dedup_by(|later, first| key(later) == key(first));
    found
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn shadowed(files: &[(&str, &str)], callers: &[&str]) -> Vec<(u32, u32, String)> {
        let callers: Vec<Caller> = callers.iter().map(|c| Caller::parse(c).unwrap()).collect();
        let sources = files
            .iter()
            .map(|(f, t)| (PathBuf::from(f), (*t).to_owned()))
            .collect();
        let set = PolicySet::from_sources(sources, &callers).unwrap();
        shadowed_denies(&set, &callers)
            .into_iter()
            .map(|s| (s.deny.line, s.winner.line, s.example))
            .collect()
    }

    #[test]
    fn the_classic_case_is_found() {
        let policy = "path \"secret/data/x/*\" { capabilities = [\"read\"] }\n\
                      path \"secret/data/+/priv\" { capabilities = [\"deny\"] }\n";
        assert_eq!(
            shadowed(&[("acme.hcl", policy)], &["acme/billing"]),
            vec![(2, 1, "secret/data/x/priv".to_owned())]
        );
    }

    #[test]
    fn a_deny_that_wins_on_priority_is_not_reported() {
        // Same first wildcard position, and a trailing `*` ranks lower: the deny decides.
        let policy = "path \"secret/data/*\" { capabilities = [\"read\"] }\n\
                      path \"secret/data/+/priv\" { capabilities = [\"deny\"] }\n\
                      path \"secret/data/team/*\" { capabilities = [\"deny\"] }\n\
                      path \"secret/data/team/open\" { capabilities = [\"read\"] }\n";
        assert_eq!(shadowed(&[("acme.hcl", policy)], &["acme/billing"]), vec![]);
    }

    #[test]
    fn a_service_file_grant_can_shadow_a_tenant_deny() {
        let tenant = "path \"secret/data/{{tenant}}/+/priv\" { capabilities = [\"deny\"] }\n";
        let service = "path \"secret/data/acme/billing/*\" { capabilities = [\"read\"] }\n";
        let found = shadowed(
            &[("acme.hcl", tenant), ("acme/billing.hcl", service)],
            &["acme/billing", "acme/shop"],
        );
        assert_eq!(
            found,
            vec![(1, 1, "secret/data/acme/billing/priv".to_owned())]
        );
    }
}
