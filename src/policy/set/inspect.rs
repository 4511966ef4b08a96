//! Read-only views of a compiled `PolicySet` for the security team's offline commands
//! (`vaultgate policy check|explain`): which files a directory holds, which rules a caller
//! has, and which of them match a path. Nothing here takes part in `evaluate`.

use std::path::{Path, PathBuf};

use super::{discover, PolicySet, Scope};
use crate::identity::Caller;
use crate::policy::error::PolicyError;
use crate::policy::pattern::PatternKind;
use crate::policy::RuleSource;

use super::acl::Rule;

/// A policy file `PolicySet::load` would read, and whom it applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyFile {
    pub path: PathBuf,
    pub tenant: String,
    /// `None` for a tenant-wide file, which applies to every service of the tenant.
    pub service: Option<String>,
}

/// One merged rule of a caller's ACL: every block with this (substituted) path string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleView {
    pub pattern: String,
    pub kind: PatternKind,
    /// The merged rule denies (some block on this path string said `deny`).
    pub denies: bool,
    /// The merged rule grants at least one capability and does not deny.
    pub grants: bool,
    /// The block a decision by this rule names: the one that said `deny` if it denies.
    pub source: Option<RuleSource>,
    /// Every contributing block, in load order.
    pub sources: Vec<RuleSource>,
}

impl RuleView {
    fn of(rule: &Rule) -> RuleView {
        RuleView {
            pattern: rule.pattern.as_str().to_owned(),
            kind: rule.pattern.kind(),
            denies: rule.grants.is_deny(),
            grants: rule.grants.grants_any(),
            source: rule.source().cloned(),
            sources: rule.sources.clone(),
        }
    }
}

impl PolicySet {
    /// The files `load(dir, ..)` reads, in the same order, without reading them.
    pub fn files(dir: &Path) -> Result<Vec<PolicyFile>, PolicyError> {
        Ok(discover(dir)?
            .into_iter()
            .map(|(path, scope)| match scope {
                Scope::Tenant(tenant) => PolicyFile {
                    path,
                    tenant,
                    service: None,
                },
                Scope::Service(tenant, service) => PolicyFile {
                    path,
                    tenant,
                    service: Some(service),
                },
            })
            .collect())
    }

    /// Every merged rule the caller has, ordered by pattern.
    pub fn rules(&self, caller: &Caller) -> Vec<RuleView> {
        let mut rules: Vec<RuleView> = self
            .acls
            .get(caller)
            .into_iter()
            .flat_map(|acl| acl.rules())
            .map(RuleView::of)
            .collect();
        rules.sort_by(|a, b| a.pattern.cmp(&b.pattern));
        rules
    }

    /// The one rule Vault's lookup picks for `full_path` (the rule `evaluate` starts from),
    /// or `None` when no rule matches. `listing` is true for LIST and SCAN.
    pub fn decisive_rule(
        &self,
        caller: &Caller,
        full_path: &str,
        listing: bool,
    ) -> Option<RuleView> {
        self.acls
            .get(caller)?
            .decisive(full_path, listing)
            .map(RuleView::of)
    }

    /// Every rule whose pattern matches `full_path` (or, for a listing, the path without its
    /// trailing `/`), whether or not it is the one that decides; ordered by pattern.
    pub fn matching_rules(&self, caller: &Caller, full_path: &str, listing: bool) -> Vec<RuleView> {
        let trimmed = full_path.strip_suffix('/').filter(|_| listing);
        let mut rules: Vec<RuleView> = self
            .acls
            .get(caller)
            .into_iter()
            .flat_map(|acl| acl.rules())
            .filter(|rule| {
                rule.pattern.matches(full_path) || trimmed.is_some_and(|t| rule.pattern.matches(t))
            })
            .map(RuleView::of)
            .collect();
        rules.sort_by(|a, b| a.pattern.cmp(&b.pattern));
        rules
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{caller, policies};

    #[test]
    fn matching_and_decisive_rules() {
        let set = policies(&[(
            "acme.hcl",
            r#"
path "secret/data/x/*" { capabilities = ["read"] }
path "secret/data/+/priv" { capabilities = ["deny"] }
path "secret/data/y/priv" { capabilities = ["read"] }
"#,
        )]);
        let who = caller("acme/billing");
        let decisive = set.decisive_rule(&who, "secret/data/x/priv", false);
        assert_eq!(
            decisive.map(|r| r.pattern),
            Some("secret/data/x/*".to_owned())
        );
        let matching: Vec<String> = set
            .matching_rules(&who, "secret/data/x/priv", false)
            .into_iter()
            .map(|r| r.pattern)
            .collect();
        assert_eq!(matching, ["secret/data/+/priv", "secret/data/x/*"]);
        let deny = set
            .rules(&who)
            .into_iter()
            .find(|r| r.denies)
            .and_then(|r| r.source);
        assert_eq!(deny.map(|s| s.line), Some(3));
        assert!(set.rules(&caller("globex/web")).is_empty());
    }
}
