//! Reads Vault serves without a token: allowed for any identified caller and forwarded
//! without one, so they can do no more than an anonymous client could.

use super::allow;
use crate::policy::Decision;
use crate::vault::operation::{Operation, Verb};
use crate::vault::placement::{Facts, Placement};

/// The reads Vault serves to anyone: the status endpoints OpenBao's http/handler.go routes
/// outside the logical router (`sys/init` only reads with GET, a PUT initializes), and the
/// server's OpenAPI document (`Unauthenticated` in vault/logical_system.go; without a token
/// it describes no mount a token could see). The rest of that list is writes (unseal,
/// rekey, generate-root, decode-token, mfa/validate, raft bootstrap), token-taking wrapping
/// endpoints, or answers that depend on the token (`internal/ui/mounts`); those need a rule.
const STATUS: [&str; 5] = [
    "sys/health",
    "sys/seal-status",
    "sys/leader",
    "sys/init",
    "sys/internal/specs/openapi",
];

/// Reads Vault serves without a token, for any identified caller, forwarded without one (so
/// they can do no more than an anonymous client): the status endpoints in the root
/// namespace (with a namespace the forwarded path is an ordinary path that a namespace
/// header could aim at a secret, found by the `http_front` fuzz target), and the endpoints a
/// mount's document marks `x-vault-unauthenticated` (PKI's CA and CRLs), where the split is
/// certain. Not the system backend's: those answer more with a token than without
/// (`sys/internal/ui/mounts/<p>` shows a mount to its token only, and is the KV CLI's
/// preflight), so they keep their token and need a rule (or the preflight allowance).
/// Not with wrapping, which needs a rule like any other request.
pub(super) fn unauthenticated(op: &Operation, placement: &Placement) -> Option<Decision> {
    if op.wrap_ttl.is_some() {
        return None;
    }
    let status = match op.verb {
        Verb::Head => op.full_path == "sys/health",
        Verb::Read => STATUS.contains(&op.full_path.as_str()),
        _ => false,
    };
    let mounted = op.verb == Verb::Read
        && placement.unique().is_some_and(|s| {
            matches!(
                s.facts,
                Facts::Known {
                    unauthenticated: true,
                    ..
                }
            ) && !s.path(&op.full_path).starts_with("sys/")
        });
    (status || mounted).then(|| {
        let mut decision = allow(
            None,
            format!(
                "{:?} is served without a token by Vault; forwarded without one",
                op.full_path
            ),
        );
        decision.anonymous = true;
        decision
    })
}
