//! The indexed lookup against the linear scan it replaced: for many generated rule sets and
//! paths, both must pick the same decisive rule (or none).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use super::*;
use crate::policy::document::{Grants, PathRule};
use crate::vault::operation::Capability;

/// Vault's lookup as it was written before the index: the longest matching prefix glob and
/// every `+` rule, scanned in full.
fn linear<'a>(acl: &'a Acl, path: &str) -> Option<&'a Rule> {
    let longest_prefix = acl
        .prefix
        .iter()
        .filter(|rule| rule.pattern.matches(path))
        .max_by_key(|rule| rule.pattern.stem().len());
    longest_prefix
        .into_iter()
        .chain(&acl.segments)
        .filter_map(|rule| rule.pattern.candidate(path).map(|p| (p, rule)))
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, rule)| rule)
}

/// A small deterministic generator, so a failure names a reproducible seed.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) % below as u64) as usize
    }

    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.next(from.len())]
    }
}

/// Few, short, overlapping segments so that rules and paths collide often; `+x`, `*` inside
/// a segment and empty segments cover the literal cases of §1.2.
const SEGMENTS: &[&str] = &["a", "ab", "b", "", "+", "+x", "a*b"];

fn rule(pattern: &str) -> Rule {
    let block = PathRule {
        pattern: pattern.to_owned(),
        line: 1,
        grants: Grants::NONE.with(Capability::Read),
        allowed_parameters: None,
        denied_parameters: None,
        required_parameters: Vec::new(),
        min_wrapping_ttl: None,
        max_wrapping_ttl: None,
        expires: None,
    };
    Rule::new(&block, pattern, &Arc::new(PathBuf::from("t.hcl")))
}

fn pattern(gen: &mut Lcg) -> String {
    let count = 1 + gen.next(4);
    let mut text = (0..count)
        .map(|_| gen.pick(SEGMENTS))
        .collect::<Vec<_>>()
        .join("/");
    if gen.next(2) == 0 {
        text.push('*');
    }
    text
}

fn path(gen: &mut Lcg) -> String {
    let count = 1 + gen.next(5);
    let mut text = (0..count)
        .map(|_| gen.pick(&["a", "ab", "abc", "b", "", "+", "+x", "a*b", "x"]))
        .collect::<Vec<_>>()
        .join("/");
    if gen.next(4) == 0 {
        text.push('/');
    }
    text
}

#[test]
fn index_picks_the_same_rule_as_the_linear_scan() {
    let mut gen = Lcg(0x5eed);
    for round in 0..3000 {
        // Merged by pattern text, as `PolicySet::compile` does before building an ACL.
        let mut rules = BTreeMap::new();
        for _ in 0..1 + gen.next(12) {
            let text = pattern(&mut gen);
            rules.insert(text.clone(), rule(&text));
        }
        let patterns: Vec<String> = rules.keys().cloned().collect();
        let acl = Acl::new(rules.into_values());
        for _ in 0..40 {
            let path = path(&mut gen);
            let want = linear(&acl, &path).map(|r| r.pattern.as_str());
            let got = acl.non_exact(&path).map(|r| r.pattern.as_str());
            assert_eq!(got, want, "round {round}: path {path:?} under {patterns:?}");
        }
    }
}
