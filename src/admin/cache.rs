//! `POST /cache/clear`: an operator drops cached answers, all of them or by path prefix or by
//! service, with an audit event; unlike the incumbents' cache-clear, behind the admin token.

use http::{Response, StatusCode};
use serde_json::json;

use super::{admin_error, json_response, AdminBody};
use crate::audit::AuditRecord;
use crate::cache::ClearScope;
use crate::identity::Caller;
use crate::shared::Shared;

/// `?prefix=secret/data/acme/` or `?service=acme/billing`; nothing clears everything.
pub(super) fn clear(state: &Shared, query: Option<&str>, peer: &str) -> Response<AdminBody> {
    let pairs: Vec<(String, String)> = query
        .map(|q| {
            url_pairs(q)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default();
    let scope = match pairs.as_slice() {
        [] => ClearScope::All,
        [(k, v)] if k == "prefix" && !v.is_empty() => ClearScope::Prefix(v.clone()),
        [(k, v)] if k == "service" => match Caller::parse(v) {
            Ok(caller) => ClearScope::Service(caller),
            Err(e) => return admin_error(StatusCode::BAD_REQUEST, &e.to_string()),
        },
        _ => {
            return admin_error(
                StatusCode::BAD_REQUEST,
                "use no query (clear all), ?prefix=<path prefix> or ?service=<tenant/service>",
            )
        }
    };
    let removed = state.cache.clear(&scope);
    let described = match &scope {
        ClearScope::All => json!({ "scope": "all" }),
        ClearScope::Prefix(p) => json!({ "scope": "prefix", "prefix": p }),
        ClearScope::Service(c) => json!({ "scope": "service", "service": c.to_string() }),
    };
    tracing::warn!(%peer, scope = %described, removed, "admin action: cache clear");
    state.auditor.event(AuditRecord::event(
        "cache_clear",
        json!({ "by": "admin", "peer": peer, "detail": described, "removed": removed }),
    ));
    json_response(
        StatusCode::OK,
        &json!({ "removed": removed, "scope": described }),
    )
}

fn url_pairs(
    query: &str,
) -> impl Iterator<Item = (std::borrow::Cow<'_, str>, std::borrow::Cow<'_, str>)> {
    query.split('&').filter(|p| !p.is_empty()).map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let decode = |s| percent_encoding::percent_decode_str(s).decode_utf8_lossy();
        (decode(k), decode(v))
    })
}
