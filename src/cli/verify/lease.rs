//! The lease check of `vaultgate verify`: when the secret read is a lease (dynamic
//! credentials), Vault ends it with the token it was minted under, so a token that cannot
//! live as long as the lease makes the credential die early. Warned about, not failed.

use std::time::Duration;

use http::Method;
use serde_json::{json, Value};

use super::Check;
use crate::vault::token::Token;

/// The TTL of the lease a read answer carries, if it carries one.
pub fn lease_ttl(body: &Value) -> Option<Duration> {
    let id = body["lease_id"].as_str().filter(|id| !id.is_empty());
    id.and(body["lease_duration"].as_u64())
        .map(Duration::from_secs)
}

/// The warning for a token that can live `token_left` more (or forever, when periodic)
/// and a lease of `lease`.
pub fn shortfall(periodic: bool, token_left: Duration, lease: Duration) -> Option<String> {
    (!periodic && token_left < lease).then(|| {
        format!(
            "warning: the token can live {}s more but the lease it minted has {}s: Vault ends a \
             lease with its token, so the credential dies early; give the role a periodic token \
             (token_period) or a token_max_ttl above the leases' max_ttl",
            token_left.as_secs(),
            lease.as_secs()
        )
    })
}

impl Check {
    /// How long the token can still live, found by asking Vault to renew it for as long as
    /// the lease (Vault grants at most what its max TTL leaves); `None` when Vault would not
    /// say (renew-self refused).
    pub(super) async fn lease_warning(&self, token: &Token, lease: Duration) -> Option<String> {
        let (status, looked) = self
            .call(Method::GET, "auth/token/lookup-self", token, None)
            .await
            .ok()?;
        let periodic = status.is_success() && looked["data"]["period"].as_u64().unwrap_or(0) > 0;
        let body = json!({ "increment": lease.as_secs() });
        let (status, renewed) = self
            .call(Method::POST, "auth/token/renew-self", token, Some(&body))
            .await
            .ok()?;
        let left = renewed["auth"]["lease_duration"].as_u64();
        match left {
            Some(left) if status.is_success() => {
                shortfall(periodic, Duration::from_secs(left), lease)
            }
            _ => Some(
                "warning: the read minted a lease, and renew-self was refused, so whether the \
                 token outlives it is unknown"
                    .to_owned(),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_shorter_than_its_lease_is_warned_about_unless_periodic() {
        let lease = Duration::from_secs(3600);
        assert!(shortfall(false, Duration::from_secs(600), lease)
            .is_some_and(|w| w.contains("600s more") && w.contains("3600s")));
        assert_eq!(shortfall(false, lease, lease), None);
        assert_eq!(shortfall(true, Duration::from_secs(600), lease), None);
        let body = json!({"lease_id": "database/creds/ro/x", "lease_duration": 60});
        assert_eq!(lease_ttl(&body), Some(Duration::from_secs(60)));
        let kv = json!({"lease_id": "", "lease_duration": 2764800});
        assert_eq!(lease_ttl(&kv), None);
    }
}
