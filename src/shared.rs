//! `Shared`: the long-lived parts `App` builds once and hands to the proxy and the admin
//! listener. Each piece is owned by its own module (the policy store, the renewers behind
//! the cells, the cache, the discovery task, the control task behind `Lockdown`); here they
//! are only gathered so that the wiring is one value, not a list of arguments.

use std::sync::Arc;

use crate::audit::Auditor;
use crate::budget::Budgets;
use crate::cache::ReadCache;
use crate::config::Limits;
use crate::discovery::Discovery;
use crate::lease::Leases;
use crate::metrics::Metrics;
use crate::policy::PolicyStore;
use crate::principal::Principal;
use crate::reload::Lockdown;
use crate::upstream::Upstream;

#[derive(Debug)]
pub struct Shared {
    pub policies: Arc<PolicyStore>,
    /// Every principal: the services' and the issuer's.
    pub principals: Vec<Principal>,
    pub upstream: Upstream,
    pub auditor: Auditor,
    pub cache: Arc<ReadCache>,
    pub metrics: Arc<Metrics>,
    pub budgets: Arc<Budgets>,
    pub discovery: Arc<Discovery>,
    /// Leases relayed to services (`src/lease`).
    pub leases: Arc<Leases>,
    pub limits: Arc<Limits>,
    pub lockdown: Lockdown,
    /// `[log] requests`: write the access log line of each request.
    pub log_requests: bool,
}
