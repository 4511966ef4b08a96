//! The renewer's clock: its timing parameters, and when a token is refreshed.

use std::time::Duration;

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
    /// How often a replaced token kept for its leases is checked for leases still live.
    pub retired_check: Duration,
}

impl Default for Timing {
    fn default() -> Timing {
        Timing {
            first_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(300),
            fresh: Duration::from_secs(2),
            token_file_poll: Duration::from_secs(1),
            retired_check: Duration::from_secs(1),
        }
    }
}

pub(super) use crate::duration::{jittered, refresh_after};
