//! Fuzzes `Pattern::matches` against a naive matcher written straight from vault-semantics
//! §1.2, so the two can only agree by both following the table, not by sharing code.
//!
//! Input: `PATTERN\nPATH` (UTF-8).

#![no_main]

use libfuzzer_sys::fuzz_target;
use vaultgate::policy::pattern::Pattern;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Some((pattern, path)) = text.split_once('\n') else {
        return;
    };
    // `+*` is refused when a policy is parsed (§1.2), so no compiled pattern contains it.
    if pattern.contains("+*") {
        return;
    }
    let expected = reference(pattern, path);
    let got = Pattern::new(pattern).matches(path);
    assert_eq!(got, expected, "pattern {pattern:?} on path {path:?}");
});

/// §1.2, read literally. `+` is a segment wildcard only as a whole segment, and a pattern
/// only has segment wildcards when `+` is the whole pattern or starts a segment; `*` is
/// special only as the last character.
fn reference(pattern: &str, path: &str) -> bool {
    let glob = pattern.ends_with('*');
    let stem = if glob {
        &pattern[..pattern.len() - 1]
    } else {
        pattern
    };
    let has_plus_segment = pattern == "+" || pattern.starts_with("+/") || pattern.contains("/+");
    if !has_plus_segment {
        // `a/b` exact; `a/b*` a plain string prefix (`a/b/*` does not match `a/b`).
        return if glob {
            path.starts_with(stem)
        } else {
            pattern == path
        };
    }
    // Walk the path with a byte cursor, one pattern segment at a time, instead of splitting
    // both sides the way the implementation does.
    let pattern_segments: Vec<&str> = stem.split('/').collect();
    let last = pattern_segments.len() - 1;
    let mut rest = path;
    for (i, want) in pattern_segments.iter().enumerate() {
        let end = rest.find('/').unwrap_or(rest.len());
        let got = &rest[..end];
        if i == last {
            let segment_ok = if *want == "+" {
                // One whole segment, possibly empty; a trailing glob after it cannot occur.
                true
            } else if glob {
                // The glob applies to the last segment only: its literal part is a prefix,
                // and anything (further segments included) may follow.
                got.starts_with(want)
            } else {
                got == *want
            };
            // Without a glob the segment counts must be equal: nothing may follow.
            return segment_ok && (glob || end == rest.len());
        }
        if *want != "+" && got != *want {
            return false;
        }
        // A non-last pattern segment needs a `/` after it in the path.
        if end == rest.len() {
            return false;
        }
        rest = &rest[end + 1..];
    }
    unreachable!("the last pattern segment always returns")
}
