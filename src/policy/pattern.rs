//! Vault's path patterns: exact, trailing-`*` prefix glob, `+` segment wildcards (optionally
//! ending in a prefix glob), and the five-rule priority that picks one non-exact rule.

use std::cmp::Ordering;

/// How a pattern matches, decided exactly as Vault's policy parser does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatternKind {
    /// No wildcard: the request path must be equal.
    Exact,
    /// Ends in `*` and has no `+` segment: the request path must start with the rest.
    Prefix,
    /// Has a `+` segment (`+`, `+/…`, or `…/+…`); may end in a prefix glob.
    Segments,
}

/// A compiled path pattern (templates already substituted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    text: String,
    kind: PatternKind,
    /// Whether the pattern ends in `*`: only the last character is ever special that way.
    trailing_glob: bool,
}

impl Pattern {
    pub fn new(text: &str) -> Pattern {
        // Vault's test: a `+` counts as a wildcard only where it starts a segment; `a+b` and
        // `x/*/y` are literal text.
        let segments = text == "+" || text.contains("/+") || text.starts_with("+/");
        let trailing_glob = text.ends_with('*');
        let kind = if segments {
            PatternKind::Segments
        } else if trailing_glob {
            PatternKind::Prefix
        } else {
            PatternKind::Exact
        };
        Pattern {
            text: text.to_owned(),
            kind,
            trailing_glob,
        }
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn kind(&self) -> PatternKind {
        self.kind
    }

    /// The pattern without its trailing `*` (Vault's `wcPath`, or the prefix-tree key).
    pub fn stem(&self) -> &str {
        if self.trailing_glob {
            &self.text[..self.text.len() - 1]
        } else {
            &self.text
        }
    }

    /// Whether `path` matches this pattern on its own (priority aside).
    pub fn matches(&self, path: &str) -> bool {
        match self.kind {
            PatternKind::Exact => self.text == path,
            PatternKind::Prefix => path.starts_with(self.stem()),
            PatternKind::Segments => self.segment_match(path).is_some(),
        }
    }

    /// Vault's segment-wildcard match: returns the number of `+` segments consumed.
    fn segment_match(&self, path: &str) -> Option<usize> {
        let rule: Vec<&str> = self.stem().split('/').collect();
        let request: Vec<&str> = path.split('/').collect();
        if request.len() < rule.len() || (!self.trailing_glob && request.len() != rule.len()) {
            return None;
        }
        let last = rule.len() - 1;
        let mut wildcards = 0;
        for (i, (part, got)) in rule.iter().zip(&request).enumerate() {
            if *part == "+" {
                // `+` accepts any one segment, the empty one included (`a//c` matches `a/+/c`).
                wildcards += 1;
            } else if part == got || (self.trailing_glob && i == last && got.starts_with(part)) {
                continue;
            } else {
                return None;
            }
        }
        Some(wildcards)
    }

    /// The priority of this pattern as a candidate for `path`, if it matches it.
    /// Only meaningful for non-exact patterns, which are the ones that compete.
    pub fn candidate(&self, path: &str) -> Option<Priority> {
        match self.kind {
            PatternKind::Exact => None,
            PatternKind::Prefix => path.starts_with(self.stem()).then(|| Priority {
                first_wildcard: self.stem().len(),
                trailing_glob: true,
                wildcards: 0,
                stem: self.stem().to_owned(),
            }),
            PatternKind::Segments => self.segment_match(path).map(|wildcards| Priority {
                // Vault uses the byte index of the first `+` anywhere in the rule.
                first_wildcard: self.text.find('+').unwrap_or(self.text.len()),
                trailing_glob: self.trailing_glob,
                wildcards,
                stem: self.stem().to_owned(),
            }),
        }
    }
}

/// How specific a matching non-exact rule is; the greatest wins and is used alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Priority {
    first_wildcard: usize,
    trailing_glob: bool,
    wildcards: usize,
    stem: String,
}

impl Ord for Priority {
    /// Vault's five rules, each only consulted when the previous ones tie: an earlier first
    /// `+`/`*` is lower; ending in `*` is lower; more `+` segments is lower; shorter is lower;
    /// lexicographically smaller is lower.
    fn cmp(&self, other: &Priority) -> Ordering {
        self.first_wildcard
            .cmp(&other.first_wildcard)
            .then_with(|| other.trailing_glob.cmp(&self.trailing_glob))
            .then_with(|| other.wildcards.cmp(&self.wildcards))
            .then_with(|| self.stem.len().cmp(&other.stem.len()))
            .then_with(|| self.stem.cmp(&other.stem))
    }
}

impl PartialOrd for Priority {
    fn partial_cmp(&self, other: &Priority) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests;
