//! Request headers: refusing the ones Vault or an HTTP hop could read differently, the
//! namespace and wrap TTL the proxy re-sends itself, and the allow-list forwarded upstream.

use std::time::Duration;

use http::header::{
    ACCEPT, AUTHORIZATION, CONNECTION, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, HOST,
    TRANSFER_ENCODING, UPGRADE, USER_AGENT,
};
use http::{HeaderMap, HeaderName};

use super::{ambiguous, ClassifyError};
use crate::vault::semantics::could_be_namespace;

const X_VAULT_TOKEN: HeaderName = HeaderName::from_static("x-vault-token");
const X_VAULT_NAMESPACE: HeaderName = HeaderName::from_static("x-vault-namespace");
const X_VAULT_WRAP_TTL: HeaderName = HeaderName::from_static("x-vault-wrap-ttl");
const X_VAULT_REQUEST: HeaderName = HeaderName::from_static("x-vault-request");

/// Vault takes the first of repeated headers while other hops may take the last, so none of
/// these may appear twice.
const SINGLE: [HeaderName; 7] = [
    X_VAULT_TOKEN,
    AUTHORIZATION,
    CONTENT_LENGTH,
    X_VAULT_WRAP_TTL,
    CONTENT_TYPE,
    HOST,
    X_VAULT_NAMESPACE,
];

/// The only caller headers forwarded; the proxy sets token, namespace and wrap TTL itself.
const FORWARDED: [HeaderName; 4] = [CONTENT_TYPE, ACCEPT, USER_AGENT, X_VAULT_REQUEST];

/// Refuses header combinations that are ambiguous or that would change what Vault does
/// behind the policy's back.
pub(super) fn check(headers: &HeaderMap) -> Result<(), ClassifyError> {
    for name in &SINGLE {
        if headers.get_all(name).iter().nth(1).is_some() {
            return Err(ambiguous(format!("repeated {name} header")));
        }
    }
    // Vault prefers X-Vault-Token over a bearer token; two credentials are refused rather
    // than letting the reader's precedence pick one.
    let bearer = headers.get(AUTHORIZATION).is_some_and(|v| {
        v.as_bytes()
            .get(..7)
            .is_some_and(|p| p.eq_ignore_ascii_case(b"bearer "))
    });
    if bearer && headers.contains_key(X_VAULT_TOKEN) {
        return Err(ambiguous("both X-Vault-Token and Authorization: Bearer"));
    }
    // OpenBao logs in inside the request with these, under a token the policy never saw.
    if headers
        .keys()
        .any(|name| name.as_str().starts_with("x-vault-inline-auth"))
    {
        return Err(ambiguous("inline authentication headers are not accepted"));
    }
    if headers.contains_key(UPGRADE) {
        return Err(ambiguous("Upgrade is not accepted"));
    }
    // Go does not drop headers that `Connection` nominates, so a nominated header could be
    // removed by one hop and honoured by Vault.
    for token in list_tokens(headers, &CONNECTION)? {
        if !token.eq_ignore_ascii_case("close") && !token.eq_ignore_ascii_case("keep-alive") {
            return Err(ambiguous("Connection nominates a header"));
        }
    }
    // hyper resolves Content-Length + Transfer-Encoding by dropping Content-Length before
    // we see the request (RFC 9112 §6.3), so "both present" cannot be detected here. Every
    // request Transfer-Encoding is refused instead: bodies are small JSON that every Vault
    // client sends with Content-Length, and a framing the proxy and Vault could disagree on
    // never gets a chance to matter.
    if headers.contains_key(TRANSFER_ENCODING) {
        return Err(ambiguous(
            "request Transfer-Encoding is not accepted; send the body with Content-Length",
        ));
    }
    // Vault does not decompress; a compressed body would be parsed as something else.
    let encodings = list_tokens(headers, &CONTENT_ENCODING)
        .map_err(|_| ClassifyError::MediaType("unreadable Content-Encoding".to_owned()))?;
    if encodings
        .iter()
        .any(|token| !token.eq_ignore_ascii_case("identity"))
    {
        return Err(ClassifyError::MediaType(
            "request Content-Encoding is not supported".to_owned(),
        ));
    }
    Ok(())
}

/// The non-empty elements of a comma-separated header, across all of its instances.
fn list_tokens<'a>(
    headers: &'a HeaderMap,
    name: &HeaderName,
) -> Result<Vec<&'a str>, ClassifyError> {
    let mut tokens = Vec::new();
    for value in headers.get_all(name) {
        let value = value
            .to_str()
            .map_err(|_| ambiguous(format!("non-ASCII {name} header")))?;
        tokens.extend(
            value
                .split(',')
                .map(|t| t.trim_matches([' ', '\t']))
                .filter(|t| !t.is_empty()),
        );
    }
    Ok(tokens)
}

/// The canonical namespace: empty for root, otherwise segments joined by `/` without a
/// leading or trailing `/`. Anything `path.Clean` would change (`ns1/..` is root to Vault)
/// is refused rather than cleaned. Call after [`check`], which refuses repeats.
pub(super) fn namespace(headers: &HeaderMap) -> Result<String, ClassifyError> {
    let Some(value) = headers.get(X_VAULT_NAMESPACE) else {
        return Ok(String::new());
    };
    let value = value
        .to_str()
        .map_err(|_| ambiguous("non-ASCII X-Vault-Namespace"))?;
    let value = value.trim_matches(' ');
    let value = value.strip_prefix('/').unwrap_or(value);
    let value = value.strip_suffix('/').unwrap_or(value);
    if value.is_empty() || value == "root" {
        return Ok(String::new());
    }
    for (i, segment) in value.split('/').enumerate() {
        let bad = segment.is_empty()
            || segment == "."
            || segment == ".."
            // `root` names the root namespace only as the whole header; as a prefix Vault
            // finds no such namespace, so no rule should be asked about it.
            || (i == 0 && segment == "root")
            || segment
                .chars()
                .any(|c| c == '%' || c == '\\' || c.is_control() || c.is_whitespace());
        if bad {
            return Err(ambiguous("invalid X-Vault-Namespace"));
        }
        // OpenBao never names a namespace `sys`, `auth`… or with a wildcard: such a header
        // can only move part of a path into the namespace to dodge checks on the path.
        if !could_be_namespace(segment) {
            return Err(ambiguous(format!(
                "X-Vault-Namespace segment {segment:?} cannot name a namespace"
            )));
        }
    }
    Ok(value.to_owned())
}

/// `X-Vault-Wrap-TTL` parsed as Vault's `requestWrapInfo` does, with `ParseDurationSecond`
/// (negative refused); zero or empty means no wrapping. Call after [`check`], which refuses
/// repeats.
pub(super) fn wrap_ttl(headers: &HeaderMap) -> Result<Option<Duration>, ClassifyError> {
    let Some(value) = headers.get(X_VAULT_WRAP_TTL) else {
        return Ok(None);
    };
    let invalid = || ambiguous("invalid X-Vault-Wrap-TTL");
    // Go's header parsing drops the optional whitespace around a value.
    let value = value.to_str().map_err(|_| invalid())?.trim();
    let ttl = crate::duration::parse(value).map_err(|_| invalid())?;
    Ok((!ttl.is_zero()).then_some(ttl))
}

/// The caller headers on the allow-list, all instances in order.
pub(super) fn forwarded(headers: &HeaderMap, json_from_form: bool) -> HeaderMap {
    let mut out = HeaderMap::new();
    for name in &FORWARDED {
        for value in headers.get_all(name) {
            out.append(name.clone(), value.clone());
        }
    }
    if json_from_form {
        out.insert(
            CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
    }
    out
}
