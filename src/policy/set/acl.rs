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

    /// Replaces templates in the string values of the parameter constraints.
    pub fn substitute_parameters(&mut self, substitute: &dyn Fn(&str) -> String) {
        fn values(v: &serde_json::Value, substitute: &dyn Fn(&str) -> String) -> serde_json::Value {
            match v {
                serde_json::Value::String(s) => serde_json::Value::String(substitute(s)),
                serde_json::Value::Array(a) => {
                    serde_json::Value::Array(a.iter().map(|v| values(v, substitute)).collect())
                }
                other => other.clone(),
            }
        }
        for map in [&mut self.allowed, &mut self.denied].into_iter().flatten() {
            for list in map.values_mut() {
                for v in list.iter_mut() {
                    *v = values(v, substitute);
                }
            }
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

/// The three rule tables Vault keeps per token, plus an index over the two that are not
/// exact. Vault scans those linearly; with thousands of rules per caller that scan dominated
/// every request, so the lookup walks a segment trie instead and only compares the rules
/// that can still match. The decision is the same: the trie only skips rules whose literal
/// leading segments differ from the path's.
#[derive(Debug, Default)]
pub(crate) struct Acl {
    exact: HashMap<String, Rule>,
    prefix: Vec<Rule>,
    segments: Vec<Rule>,
    index: Node,
}

/// One trie node: the path's segments so far, each followed by a `/`.
#[derive(Debug, Default)]
struct Node {
    children: HashMap<String, Node>,
    /// Prefix globs whose stem is this node's segments plus `partial`, a beginning of the
    /// next segment (no `/`): `(partial, index into Acl::prefix)`, longest partial first.
    prefix: Vec<(String, usize)>,
    /// `+` rules (indices into `Acl::segments`) whose leading literal segments end here.
    segments: Vec<usize>,
}

impl Node {
    fn at(&mut self, segments: &[&str]) -> &mut Node {
        segments.iter().fold(self, |node, segment| {
            node.children.entry((*segment).to_owned()).or_default()
        })
    }
}

impl Acl {
    pub fn new(rules: impl IntoIterator<Item = Rule>) -> Acl {
        let mut acl = Acl::default();
        for rule in rules {
            match rule.pattern.kind() {
                PatternKind::Exact => {
                    acl.exact.insert(rule.pattern.as_str().to_owned(), rule);
                }
                PatternKind::Prefix => {
                    // `path.starts_with(stem)` holds exactly when the path has the stem's
                    // whole segments, each followed by `/`, and its next segment starts
                    // with the stem's last, partial one.
                    let stem = rule.pattern.stem();
                    let (whole, partial) = match stem.rsplit_once('/') {
                        Some((whole, partial)) => (whole.split('/').collect(), partial),
                        None => (Vec::new(), stem),
                    };
                    let entry = (partial.to_owned(), acl.prefix.len());
                    acl.index.at(&whole).prefix.push(entry);
                    acl.prefix.push(rule);
                }
                PatternKind::Segments => {
                    // The literal segments before the first `+`, never the last segment (a
                    // trailing glob makes it a partial match): every path the rule matches
                    // has these, each followed by `/`, so the walk always reaches this node.
                    let parts: Vec<&str> = rule.pattern.stem().split('/').collect();
                    let lead = parts
                        .iter()
                        .position(|part| *part == "+")
                        .unwrap_or(parts.len())
                        .min(parts.len() - 1);
                    let index = acl.segments.len();
                    acl.index.at(&parts[..lead]).segments.push(index);
                    acl.segments.push(rule);
                }
            }
        }
        acl.index.sort();
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
        let mut longest_prefix = None;
        let mut candidates: Vec<&Rule> = Vec::new();
        let mut node = &self.index;
        let mut rest = path;
        loop {
            let (segment, after) = match rest.split_once('/') {
                Some((segment, after)) => (segment, Some(after)),
                None => (rest, None),
            };
            // A deeper node's stems are longer than any shallower one's, so the last prefix
            // found on the walk is the longest.
            if let Some((_, i)) = node
                .prefix
                .iter()
                .find(|(partial, _)| segment.starts_with(partial.as_str()))
            {
                longest_prefix = self.prefix.get(*i);
            }
            candidates.extend(node.segments.iter().filter_map(|i| self.segments.get(*i)));
            match after.and_then(|after| Some((after, node.children.get(segment)?))) {
                Some((after, child)) => (rest, node) = (after, child),
                None => break,
            }
        }
        // The highest priority is unique (it ends in a comparison of the stems), so the order
        // the candidates are compared in cannot change which one wins.
        longest_prefix
            .into_iter()
            .chain(candidates)
            .filter_map(|rule| rule.pattern.candidate(path).map(|p| (p, rule)))
            .max_by(|a, b| a.0.cmp(&b.0))
            .map(|(_, rule)| rule)
    }
}

impl Node {
    /// Longest partial first, so the first prefix that matches at a node is the longest.
    fn sort(&mut self) {
        self.prefix
            .sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
        self.children.values_mut().for_each(Node::sort);
    }
}

#[cfg(test)]
mod tests;
