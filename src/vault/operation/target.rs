//! The request target: origin-form, the `/v1/` prefix, size limits, one percent-decoding of
//! the path and the segment rules, plus the encoding used to rebuild the upstream target.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use super::{ambiguous, ClassifyError, ClassifyLimits};

const PREFIX: &str = "/v1/";

/// Everything but RFC 3986 unreserved characters is escaped in query keys and values.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The same for the path, where `/` stays the separator it already is in `full_path`.
const PATH: &AsciiSet = &COMPONENT.remove(b'/');

/// HTTP/1.x absolute-form names a host the proxy must never route by; HTTP/2 always carries
/// `:scheme`/`:authority`, which `http` folds into the URI, so only HTTP/1.x is checked.
pub(super) fn check_form(uri: &http::Uri, version: http::Version) -> Result<(), ClassifyError> {
    let http1 = matches!(
        version,
        http::Version::HTTP_09 | http::Version::HTTP_10 | http::Version::HTTP_11
    );
    if http1 && (uri.scheme().is_some() || uri.authority().is_some()) {
        return Err(ambiguous("absolute-form request target is not accepted"));
    }
    Ok(())
}

/// Returns the still-encoded path after `/v1/` once the prefix, the limits and the raw bytes
/// are checked. Vault answers 404 without the exact prefix; we refuse instead.
pub(super) fn raw_rest<'a>(
    path: &'a str,
    limits: &ClassifyLimits,
) -> Result<&'a str, ClassifyError> {
    let Some(rest) = path.strip_prefix(PREFIX) else {
        return Err(ambiguous("request path must start with /v1/"));
    };
    // Limits come before any decoding work: Vault's cost grows with the path (§3.2 #31).
    if path.len() > limits.max_path_bytes || rest.split('/').count() > limits.max_segments {
        return Err(too_long(limits));
    }
    check_raw(path)?;
    Ok(rest)
}

/// Raw `\` and raw non-ASCII have no single reading across HTTP stacks; `http` already
/// refused raw controls and spaces and removed any `#fragment`.
pub(super) fn check_raw(raw: &str) -> Result<(), ClassifyError> {
    if raw.contains('\\') {
        return Err(ambiguous("raw backslash in request target"));
    }
    if !raw.is_ascii() {
        return Err(ambiguous("raw non-ASCII byte in request target"));
    }
    Ok(())
}

/// Applies the length and segment limits to the path that will be forwarded.
pub(super) fn check_limits(full_path: &str, limits: &ClassifyLimits) -> Result<(), ClassifyError> {
    if PREFIX.len() + full_path.len() > limits.max_path_bytes
        || full_path.split('/').count() > limits.max_segments
    {
        return Err(too_long(limits));
    }
    Ok(())
}

fn too_long(limits: &ClassifyLimits) -> ClassifyError {
    ClassifyError::PathTooLong {
        limit: limits.max_path_bytes,
        segments: limits.max_segments,
    }
}

/// Percent-decodes the path exactly once, as Vault does, refusing the escapes Vault would
/// route differently from the raw form (`%2F`, `%2E`, `%5C`) and anything Vault's printable
/// check or a later backend could read in another way.
pub(super) fn decode(raw: &str) -> Result<String, ClassifyError> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b != b'%' {
            out.push(b);
            i += 1;
            continue;
        }
        let decoded = bytes
            .get(i + 1..i + 3)
            .and_then(|pair| Some(hex(pair[0])? << 4 | hex(pair[1])?))
            .ok_or_else(|| ambiguous("invalid percent-escape in path"))?;
        if matches!(decoded, b'/' | b'.' | b'\\') {
            return Err(ambiguous(
                "encoded '/', '.' or '\\' in path is read differently by Vault",
            ));
        }
        out.push(decoded);
        i += 3;
    }
    let path = String::from_utf8(out).map_err(|_| ambiguous("decoded path is not UTF-8"))?;
    if let Some(c) = path.chars().find(|&c| is_refused_char(c)) {
        return Err(ambiguous(format!(
            "path contains the non-printable character U+{:04X}",
            u32::from(c)
        )));
    }
    Ok(path)
}

/// Checks the decoded segments and returns the canonical path. Empty segments are refused
/// because Vault's ACL sees `a//b` while KV v2 collapses it (§0.1); dot segments because
/// Vault either redirects or, in older versions, cleans them after the ACL (§0.2).
pub(super) fn canonical_path(decoded: &str, listing: bool) -> Result<String, ClassifyError> {
    // Only a list or scan may carry one trailing `/`; Vault appends it there anyway.
    let body = match decoded.strip_suffix('/') {
        Some(stripped) if listing => stripped,
        _ => decoded,
    };
    if body.is_empty() {
        return Err(ambiguous("empty path after /v1/"));
    }
    for segment in body.split('/') {
        if segment.is_empty() {
            return Err(ambiguous("empty path segment"));
        }
        if segment == "." || segment == ".." {
            return Err(ambiguous("relative path segment"));
        }
    }
    Ok(if listing {
        format!("{body}/")
    } else {
        body.to_owned()
    })
}

pub(super) fn encode_path(path: &str) -> String {
    utf8_percent_encode(path, PATH).to_string()
}

pub(super) fn encode_component(s: &str) -> String {
    utf8_percent_encode(s, COMPONENT).to_string()
}

pub(super) fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// What Vault's `unicode.IsPrint` check refuses, or what could render or compare as something
/// else: controls (C0, DEL, C1), whitespace other than the ASCII space, format characters,
/// private-use characters and noncharacters. Unassigned code points are left to Vault, which
/// refuses them itself, so they can never be read two ways.
fn is_refused_char(c: char) -> bool {
    let cp = u32::from(c);
    c.is_control()
        || (c.is_whitespace() && c != ' ')
        || is_format(cp)
        || matches!(cp, 0xE000..=0xF8FF | 0xF0000..=0xFFFFD | 0x100000..=0x10FFFD)
        || matches!(cp, 0xFDD0..=0xFDEF)
        || cp & 0xFFFE == 0xFFFE
}

/// Unicode general category Cf.
fn is_format(cp: u32) -> bool {
    matches!(
        cp,
        0x00AD
            | 0x0600..=0x0605
            | 0x061C
            | 0x06DD
            | 0x070F
            | 0x0890..=0x0891
            | 0x08E2
            | 0x180E
            | 0x200B..=0x200F
            | 0x202A..=0x202E
            | 0x2060..=0x2064
            | 0x2066..=0x206F
            | 0xFEFF
            | 0xFFF9..=0xFFFB
            | 0x110BD
            | 0x110CD
            | 0x13430..=0x1343F
            | 0x1BCA0..=0x1BCA3
            | 0x1D173..=0x1D17A
            | 0xE0001
            | 0xE0020..=0xE007F
    )
}
