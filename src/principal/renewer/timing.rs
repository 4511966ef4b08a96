//! The renewer's clock: its timing parameters, and when a token is refreshed.

use std::time::{Duration, SystemTime};

/// The renewer's clock: how long to back off, when a token is too young to re-check, and
/// how often a token file is looked at.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub first_backoff: Duration,
    pub max_backoff: Duration,
    /// A token this young is not re-checked when a request is refused: Vault's 403 is then
    /// a policy denial, and re-logging in on every denial would flood Vault with logins.
    pub fresh: Duration,
    pub token_file_poll: Duration,
}

impl Default for Timing {
    fn default() -> Timing {
        Timing {
            first_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(300),
            fresh: Duration::from_secs(2),
            token_file_poll: Duration::from_secs(1),
        }
    }
}

/// About two thirds of the TTL, minus up to 10% jitter so many proxies do not renew in
/// lock-step, and never sooner than 200 ms.
pub(super) fn refresh_after(ttl: Duration) -> Duration {
    jittered(ttl * 2 / 3).max(Duration::from_millis(200))
}

pub(super) fn jittered(d: Duration) -> Duration {
    // Sub-second clock noise is jitter enough; no RNG dependency for this.
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |t| t.subsec_nanos());
    let tenth = d / 10;
    d - tenth.mul_f64(f64::from(nanos % 1000) / 1000.0)
}
