//! `/tokens`: what each principal's token is doing, from its `TokenCell`: whether one is
//! held, TTL left, counts and the last error. Never the token or its accessor.

use serde_json::{json, Value};

use crate::shared::Shared;

/// Per principal: whether it holds a token, TTL left, counts and the last refresh. Never the
/// token or its accessor.
pub(super) fn view(state: &Shared) -> Value {
    let locked = state.lockdown.is_on();
    let principals: serde_json::Map<String, Value> = state
        .principals
        .iter()
        .map(|p| {
            let s = p.cell.status();
            let held = p.cell.current().is_some();
            let condition = match (held, s.consecutive_failures) {
                (true, 0) => "held",
                (true, _) => "held_refresh_failing",
                (false, _) if locked => "locked_down",
                (false, _) => "none",
            };
            let view = json!({
                "state": condition,
                "service": p.service.is_some(),
                "ttl_remaining_s": s.ttl_remaining().filter(|_| held).map(|t| t.as_secs()),
                "next_refresh_in_s": s.next_refresh_in.map(|t| t.as_secs()),
                "logins": s.logins,
                "renewals": s.renewals,
                "revocations": s.revocations,
                "failures": s.failures,
                "consecutive_failures": s.consecutive_failures,
                "last_error": s.last_error,
            });
            (p.name.clone(), view)
        })
        .collect();
    json!({ "lockdown": locked, "principals": principals })
}
