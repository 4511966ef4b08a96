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
