//! Principals: the Vault identities vaultgate holds tokens for (one per service, and the
//! issuer that mints the `issued` services' tokens), their logins, the renewer task that owns
//! each token and the cell the rest of vaultgate reads it from.

pub mod auth;
pub mod cell;
pub mod renewer;

use crate::identity::Caller;
use cell::TokenCell;

/// Whom a principal's token serves.
#[derive(Debug, Clone)]
pub enum Role {
    /// The token a service's requests carry; `issuer` is the issuer's cell when the token
    /// is minted by it (`auth = "issued"`).
    Service {
        caller: Caller,
        issuer: Option<TokenCell>,
    },
    /// Mints child tokens for the `issued` services.
    Issuer,
}

/// One principal as readiness, metrics and the admin endpoints see it.
#[derive(Debug, Clone)]
pub struct Principal {
    /// `tenant/service`, or `issuer`.
    pub name: String,
    pub cell: TokenCell,
    /// The namespace its token was issued in.
    pub namespace: String,
    /// The service it serves; `None` for the issuer.
    pub service: Option<Caller>,
    /// vaultgate renews the leases it relays to the service (`renew_leases`).
    pub renew_leases: bool,
}
