//! Whether two Vault path patterns can match the same request path, answered with one such
//! path: `policy check` uses it to ask the real ACL lookup what happens there.

use std::collections::{HashMap, VecDeque};

use crate::policy::pattern::{Pattern, PatternKind};

/// A pattern as a deterministic automaton over the characters of a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    Char(char),
    /// A `+` segment. Only non-empty segments are generated: the proxy refuses empty ones, so
    /// a path with one could never reach the ACL.
    Segment,
    /// The trailing `*`: any rest, `/` included.
    Tail,
}

/// Position in the token list, and whether the current `+` segment has a character yet.
type State = (usize, bool);

/// A state of both automata at once.
type Pair = (State, State);

fn tokens(pattern: &Pattern) -> Vec<Token> {
    let mut out = Vec::new();
    match pattern.kind() {
        PatternKind::Exact => out.extend(pattern.as_str().chars().map(Token::Char)),
        PatternKind::Prefix => {
            out.extend(pattern.stem().chars().map(Token::Char));
            out.push(Token::Tail);
        }
        PatternKind::Segments => {
            // The same reading as the matcher: a segment that is exactly `+` is a wildcard,
            // anything else (`+x`, a literal `*`) is compared as text.
            for (i, part) in pattern.stem().split('/').enumerate() {
                if i > 0 {
                    out.push(Token::Char('/'));
                }
                if part == "+" {
                    out.push(Token::Segment);
                } else {
                    out.extend(part.chars().map(Token::Char));
                }
            }
            if pattern.as_str().ends_with('*') {
                out.push(Token::Tail);
            }
        }
    }
    out
}

fn step(tokens: &[Token], (pos, in_segment): State, c: char) -> Option<State> {
    match tokens.get(pos)? {
        Token::Tail => Some((pos, false)),
        Token::Char(x) => (c == *x).then_some((pos + 1, false)),
        Token::Segment if c != '/' => Some((pos, true)),
        // A `/` ends a non-empty `+` segment; the token after a `+` is always the `/`.
        Token::Segment if in_segment && tokens.get(pos + 1) == Some(&Token::Char('/')) => {
            Some((pos + 2, false))
        }
        Token::Segment => None,
    }
}

fn accepts(tokens: &[Token], (pos, in_segment): State) -> bool {
    match tokens.get(pos) {
        None | Some(Token::Tail) => true,
        Some(Token::Segment) => in_segment && pos + 1 == tokens.len(),
        Some(Token::Char(_)) => false,
    }
}

/// The shortest path (without empty segments) that both patterns match, if there is one.
/// Breadth-first search over the product of the two automata; the alphabet is every literal
/// character of either pattern, `/`, and one letter neither uses, which stands for "any
/// other character".
pub fn common_path(a: &Pattern, b: &Pattern) -> Option<String> {
    let (ta, tb) = (tokens(a), tokens(b));
    let mut alphabet: Vec<char> = Vec::new();
    let filler = ('a'..='z')
        .chain('0'..='9')
        .find(|c| !a.as_str().contains(*c) && !b.as_str().contains(*c))
        .unwrap_or('~');
    alphabet.push(filler);
    for token in ta.iter().chain(&tb) {
        if let Token::Char(c) = token {
            if !alphabet.contains(c) {
                alphabet.push(*c);
            }
        }
    }
    if !alphabet.contains(&'/') {
        alphabet.push('/');
    }
    let start: Pair = ((0, false), (0, false));
    let mut came_from: HashMap<Pair, Option<(Pair, char)>> = HashMap::new();
    came_from.insert(start, None);
    let mut queue = VecDeque::from([start]);
    while let Some(node) = queue.pop_front() {
        if accepts(&ta, node.0) && accepts(&tb, node.1) {
            let mut path = Vec::new();
            let mut at = node;
            while let Some(Some((prev, c))) = came_from.get(&at) {
                path.push(*c);
                at = *prev;
            }
            let path: String = path.into_iter().rev().collect();
            // The engine's own matcher has the last word on what the witness is.
            return (a.matches(&path) && b.matches(&path)).then_some(path);
        }
        for &c in &alphabet {
            let (Some(next_a), Some(next_b)) = (step(&ta, node.0, c), step(&tb, node.1, c)) else {
                continue;
            };
            let next = (next_a, next_b);
            if let std::collections::hash_map::Entry::Vacant(slot) = came_from.entry(next) {
                slot.insert(Some((node, c)));
                queue.push_back(next);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn common(a: &str, b: &str) -> Option<String> {
        common_path(&Pattern::new(a), &Pattern::new(b))
    }

    #[test]
    fn finds_the_classic_shadowed_deny_path() {
        assert_eq!(
            common("secret/data/+/priv", "secret/data/x/*").as_deref(),
            Some("secret/data/x/priv")
        );
    }

    #[test]
    fn disjoint_patterns_have_no_common_path() {
        assert_eq!(common("secret/data/a/*", "secret/data/b/*"), None);
        assert_eq!(common("a/+/c", "a/b/c/d"), None);
        // `*` in the middle is a literal character, not a wildcard.
        assert_eq!(common("a/*/c", "a/b/c"), None);
        // `+` never matches an empty segment here: the proxy refuses those paths.
        assert_eq!(common("a/+/c", "a//c"), None);
    }

    #[test]
    fn every_witness_matches_both() {
        let pairs = [
            ("*", "auth/token/*"),
            ("auth/+/login*", "auth/userpass/login/bob"),
            ("+/+", "sys/*"),
            ("secret/+/x*", "secret/data/*"),
            ("a/+", "a/b"),
        ];
        for (a, b) in pairs {
            let path = common(a, b).unwrap_or_else(|| panic!("{a} and {b} overlap"));
            assert!(Pattern::new(a).matches(&path) && Pattern::new(b).matches(&path));
        }
    }
}
