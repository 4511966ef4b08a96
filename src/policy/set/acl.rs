//! One caller's compiled ACL: rules merged per identical path string like several Vault
//! policies on one token, and Vault's lookup that picks the single decisive rule for a path.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::policy::document::{Grants, ParameterMap, PathRule};
use crate::policy::pattern::{Pattern, PatternKind};
use crate::policy::RuleSource;

/// All blocks for one path string, merged (vault-semantics §1.4).
#[derive(Debug, Clone)]
pub(crate) struct Rule {
    pub pattern: Pattern,
    pub grants: Grants,
    pub allowed: Option<ParameterMap>,
    pub denied: Option<ParameterMap>,
    pub required: Vec<String>,
    pub min_wrapping_ttl: Option<Duration>,
    pub max_wrapping_ttl: Option<Duration>,
    /// Every block that contributed, in load order.
    pub sources: Vec<RuleSource>,
    /// Index into `sources` of the first block that said `deny`.
    deny_source: Option<usize>,
}

impl Rule {
    /// One block for one caller; `pattern` has its templates substituted.
    pub fn new(block: &PathRule, pattern: &str, file: &Arc<PathBuf>) -> Rule {
        let deny = block.grants.is_deny();
        Rule {
            pattern: Pattern::new(pattern),
            grants: block.grants,
            // Vault stores no parameter constraints on a deny block.
            allowed: if deny {
                None
            } else {
                block.allowed_parameters.clone()
            },
            denied: if deny {
                None
            } else {
                block.denied_parameters.clone()
            },
            required: block.required_parameters.clone(),
            min_wrapping_ttl: block.min_wrapping_ttl,
            max_wrapping_ttl: block.max_wrapping_ttl,
            sources: vec![RuleSource {
                file: Arc::clone(file),
                line: block.line,
                pattern: pattern.to_owned(),
            }],
            deny_source: deny.then_some(0),
        }
    }

    /// The source a decision names: the one that contributed `deny` if the rule denies.
    pub fn source(&self) -> Option<&RuleSource> {
        self.deny_source
            .and_then(|i| self.sources.get(i))
            .or_else(|| self.sources.first())
    }

    /// Merges another block for the same path string into this one.
    pub fn merge(&mut self, other: Rule) {
        let offset = self.sources.len();
        if self.deny_source.is_none() {
            self.deny_source = other.deny_source.map(|i| i + offset);
        }
        self.sources.extend(other.sources);
        self.grants = self.grants.union(other.grants);
        if self.grants.is_deny() {
            // Deny wins alone and clears parameter constraints, as in Vault.
            self.allowed = None;
            self.denied = None;
            return;
        }
        self.min_wrapping_ttl = smallest_set(self.min_wrapping_ttl, other.min_wrapping_ttl);
        self.max_wrapping_ttl = smallest_set(self.max_wrapping_ttl, other.max_wrapping_ttl);
        merge_parameters(&mut self.allowed, other.allowed);
        merge_parameters(&mut self.denied, other.denied);
        for name in other.required {
            if !self.required.contains(&name) {
                self.required.push(name);
            }
        }
    }
}

/// Vault keeps the smallest non-zero wrapping TTL when merging.
fn smallest_set(a: Option<Duration>, b: Option<Duration>) -> Option<Duration> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Value lists are concatenated; an empty list on either side ("any value") wins.
fn merge_parameters(into: &mut Option<ParameterMap>, other: Option<ParameterMap>) {
    let Some(other) = other else { return };
    let map = into.get_or_insert_with(ParameterMap::new);
    for (name, values) in other {
        match map.get_mut(&name) {
            Some(existing) if existing.is_empty() || values.is_empty() => existing.clear(),
            Some(existing) => existing.extend(values),
            None => {
                map.insert(name, values);
            }
        }
    }
}

/// The three rule tables Vault keeps per token.
#[derive(Debug, Default)]
pub(crate) struct Acl {
    exact: HashMap<String, Rule>,
    prefix: Vec<Rule>,
    segments: Vec<Rule>,
}

impl Acl {
    pub fn new(rules: impl IntoIterator<Item = Rule>) -> Acl {
        let mut acl = Acl::default();
        for rule in rules {
            match rule.pattern.kind() {
                PatternKind::Exact => {
                    acl.exact.insert(rule.pattern.as_str().to_owned(), rule);
                }
                PatternKind::Prefix => acl.prefix.push(rule),
                PatternKind::Segments => acl.segments.push(rule),
            }
        }
        acl
    }

    /// Every rule, for checks that look across the whole ACL.
    pub fn rules(&self) -> impl Iterator<Item = &Rule> {
        self.exact
            .values()
            .chain(&self.prefix)
            .chain(&self.segments)
    }

    /// Vault's `AllowOperation` lookup (vault-semantics §1.3, steps 3–6): the one rule that
    /// decides, or `None` (default deny). `listing` is true for LIST and SCAN.
    pub fn decisive(&self, path: &str, listing: bool) -> Option<&Rule> {
        if let Some(rule) = self.exact.get(path) {
            return Some(rule);
        }
        let trimmed = path.strip_suffix('/');
        if listing {
            if let Some(rule) = trimmed.and_then(|t| self.exact.get(t)) {
                return Some(rule);
            }
        }
        // The full path is tried before the trimmed one: trying the trimmed path first let a
        // LIST escape a deny on the child glob (GHSA-xp3c-3jw3-4vcr).
        if let Some(rule) = self.non_exact(path) {
            return Some(rule);
        }
        if listing {
            return trimmed.and_then(|t| self.non_exact(t));
        }
        None
    }

    /// The longest prefix glob and every matching `+` rule compete; the highest priority is
    /// used alone, so a `deny` on a lower-priority pattern does not apply (as in Vault).
    fn non_exact(&self, path: &str) -> Option<&Rule> {
        let longest_prefix = self
            .prefix
            .iter()
            .filter(|rule| rule.pattern.matches(path))
            .max_by_key(|rule| rule.pattern.stem().len());
        longest_prefix
            .into_iter()
            .chain(&self.segments)
            .filter_map(|rule| rule.pattern.candidate(path).map(|p| (p, rule)))
            .max_by(|a, b| a.0.cmp(&b.0))
            .map(|(_, rule)| rule)
    }
}
