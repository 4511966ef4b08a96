//! Leases vaultgate relayed: who they were issued to and under which token (`Leases`, the
//! registry), what an answer grants (`Grant`), and the opt-in renewal of a service's leases
//! (`renewal`). Lease ids are held like secrets: whoever has one can renew or revoke the
//! credential it stands for, so they are never in `Debug`, logs or audit (only their HMAC).

pub mod registry;
pub mod renewal;

pub use registry::{Due, Leases, Minted};

use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::time::Duration;

use serde::Deserialize;
use zeroize::Zeroizing;

/// How many leases one vaultgate tracks at most; past that a new lease is relayed but not
/// tracked (its owner cannot manage it through vaultgate: the safe side) and a warning says
/// so. An entry is a few hundred bytes, so this bounds the registry to tens of MiB.
pub const CAPACITY: usize = 100_000;

/// A lease id, e.g. `database/creds/ro/AbC…`.
#[derive(Clone)]
pub struct LeaseId(Zeroizing<String>);

impl LeaseId {
    pub fn new(id: &str) -> LeaseId {
        LeaseId(Zeroizing::new(id.to_owned()))
    }

    /// The id itself; call only where it is put on the wire to Vault or into an HMAC.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for LeaseId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LeaseId(<redacted>)")
    }
}

impl PartialEq for LeaseId {
    fn eq(&self, other: &LeaseId) -> bool {
        self.expose() == other.expose()
    }
}

impl Eq for LeaseId {}

// Hashes as the `str` it holds, so the registry is looked up by `&str`.
impl Hash for LeaseId {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.expose().hash(state);
    }
}

impl Borrow<str> for LeaseId {
    fn borrow(&self) -> &str {
        self.expose()
    }
}

/// What a Vault answer grants: its top-level `lease_id` (non-empty), `lease_duration` and
/// `renewable`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub id: LeaseId,
    pub ttl: Duration,
    pub renewable: bool,
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(default, borrow)]
    lease_id: Option<std::borrow::Cow<'a, str>>,
    #[serde(default)]
    lease_duration: Option<u64>,
    #[serde(default)]
    renewable: Option<bool>,
}

impl Grant {
    /// The lease an answer body carries, if it is a JSON object with a non-empty
    /// `lease_id`. Nested `data` is skipped, never kept.
    pub fn from_answer(body: &[u8]) -> Option<Grant> {
        let envelope: Envelope<'_> = serde_json::from_slice(body).ok()?;
        let id = envelope.lease_id.filter(|id| !id.is_empty())?;
        let id = LeaseId(Zeroizing::new(id.into_owned()));
        Some(Grant {
            id,
            ttl: Duration::from_secs(envelope.lease_duration.unwrap_or(0)),
            renewable: envelope.renewable.unwrap_or(false),
        })
    }

    /// The TTL a renewal answer granted (`lease_duration`), whatever its `lease_id`.
    pub fn ttl_of(body: &[u8]) -> Option<Duration> {
        let envelope: Envelope<'_> = serde_json::from_slice(body).ok()?;
        envelope.lease_duration.map(Duration::from_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_grants_its_top_level_lease_only() {
        let body = br#"{"request_id":"r","lease_id":"database/creds/ro/x1","renewable":true,
            "lease_duration":3600,"data":{"username":"v-ro","password":"p"}}"#;
        let grant = Grant::from_answer(body).expect("a lease");
        assert_eq!(grant.id.expose(), "database/creds/ro/x1");
        assert_eq!(grant.ttl, Duration::from_secs(3600));
        assert!(grant.renewable);
        for none in [
            &br#"{"lease_id":"","data":{"lease_id":"inner"}}"#[..],
            br#"{"data":{"lease_id":"inner"}}"#,
            br#"not json"#,
            br#"[1]"#,
        ] {
            assert_eq!(Grant::from_answer(none), None);
        }
        assert_eq!(format!("{:?}", grant.id), "LeaseId(<redacted>)");
        assert!(!format!("{grant:?}").contains("x1"));
    }
}
