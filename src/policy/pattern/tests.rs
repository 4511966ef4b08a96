//! Pattern matching and priority, one row per behaviour verified against OpenBao (§1.2/§1.3).

use super::*;

#[test]
fn matching_follows_vault() {
    let table: &[(&str, &str, bool, &str)] = &[
        ("a/b", "a/b", true, "exact"),
        ("a/b", "a/b/", false, "exact is exact"),
        ("a/b", "a/bc", false, "exact is exact"),
        ("secret/data/pfx*", "secret/data/pfxa", true, "prefix glob"),
        (
            "secret/data/pfx*",
            "secret/data/pfxsecret/x",
            true,
            "prefix spans /",
        ),
        ("secret/data/pfx*", "secret/data/pf", false, "shorter path"),
        ("a/b/*", "a/b", false, "a/b/* does not match a/b"),
        ("a/b/*", "a/b/", true, "a/b/* matches a/b/"),
        ("a/b/*", "a/b/c/d", true, "and deeper"),
        (
            "secret/data/lit/*/x",
            "secret/data/lit/*/x",
            true,
            "inner * is literal",
        ),
        (
            "secret/data/lit/*/x",
            "secret/data/lit/q/x",
            false,
            "inner * is literal",
        ),
        (
            "secret/data/+/shared",
            "secret/data/team/shared",
            true,
            "+ one segment",
        ),
        (
            "secret/data/+/shared",
            "secret/data//shared",
            true,
            "+ matches empty",
        ),
        (
            "secret/data/+/shared",
            "secret/data/a/b/shared",
            false,
            "+ never spans /",
        ),
        (
            "secret/data/+/shared",
            "secret/data/a/shared/x",
            false,
            "segment count",
        ),
        ("a/+/c", "a/b", false, "segment count"),
        ("a/+x/c", "a/+x/c", true, "+x literal"),
        ("a/+x/c", "a/yx/c", false, "+x literal"),
        ("+", "anything", true, "bare +"),
        ("+", "a/b", false, "bare + is one segment"),
        ("+/b", "a/b", true, "leading +"),
        ("a/+/c*", "a/b/cd", true, "+ then prefix"),
        ("a/+/c*", "a/b/c/d/e", true, "+ then prefix spans"),
        ("a/+/c*", "a/b/d", false, "+ then prefix"),
        ("a/+/*", "a/b", false, "+/* needs the slash"),
        ("a/+/*", "a/b/", true, "+/* matches trailing slash"),
        ("a+b/c", "a+b/c", true, "a+ is not a wildcard"),
        ("*", "", true, "bare *"),
    ];
    for (pattern, path, expected, why) in table {
        assert_eq!(
            Pattern::new(pattern).matches(path),
            *expected,
            "{pattern} vs {path}: {why}"
        );
    }
}

#[test]
fn kinds() {
    assert_eq!(Pattern::new("a/b").kind(), PatternKind::Exact);
    assert_eq!(Pattern::new("a/*/b").kind(), PatternKind::Exact);
    assert_eq!(Pattern::new("a/b*").kind(), PatternKind::Prefix);
    assert_eq!(Pattern::new("a+/b*").kind(), PatternKind::Prefix);
    assert_eq!(Pattern::new("a/+/b").kind(), PatternKind::Segments);
    assert_eq!(Pattern::new("a/+x").kind(), PatternKind::Segments);
    assert_eq!(Pattern::new("a/+/b*").stem(), "a/+/b");
}

/// The candidate that wins for `path` among `patterns`.
fn winner<'a>(patterns: &[&'a str], path: &str) -> Option<&'a str> {
    patterns
        .iter()
        .filter_map(|p| Pattern::new(p).candidate(path).map(|prio| (prio, *p)))
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, p)| p)
}

#[test]
fn priority_rules() {
    // 1. the first wildcard later in the string wins
    assert_eq!(winner(&["foo/a*", "foo/+"], "foo/ab"), Some("foo/a*"));
    assert_eq!(
        winner(&["foo/bar/+/baz", "foo/+/bar/baz"], "foo/bar/bar/baz"),
        Some("foo/bar/+/baz")
    );
    assert_eq!(
        winner(
            &["secret/data/x/*", "secret/data/+/priv"],
            "secret/data/x/priv"
        ),
        Some("secret/data/x/*"),
        "a deny on the lower-priority + rule is ignored"
    );
    // 2. not ending in * wins
    assert_eq!(
        winner(&["foo/+/bar", "foo/+/ba*"], "foo/x/bar"),
        Some("foo/+/bar")
    );
    assert_eq!(winner(&["foo/+", "foo/*"], "foo/x"), Some("foo/+"));
    // 3. fewer + segments wins
    assert_eq!(
        winner(&["foo/+/bar/+", "foo/+/bar/baz"], "foo/x/bar/baz"),
        Some("foo/+/bar/baz")
    );
    // 4. longer wins
    assert_eq!(
        winner(&["foo/+/bar/ba*", "foo/+/bar/b*"], "foo/x/bar/baz"),
        Some("foo/+/bar/ba*")
    );
    // 5. lexicographically greater wins (only reachable with ties on everything else)
    let a = Pattern::new("a/+/b").candidate("a/x/b");
    let b = Pattern::new("a/+/c").candidate("a/x/c");
    assert!(a < b);
}
