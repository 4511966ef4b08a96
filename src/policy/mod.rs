//! Tenant policies in Vault's own language: parsing, pattern matching and evaluation.
//!
//! Contract (implemented in `document`, `pattern`, `set`):
//! - `PolicySet::load(dir, callers)` reads `dir/<tenant>.hcl|.json` and
//!   `dir/<tenant>/<service>.hcl|.json`, substitutes `{{tenant}}`/`{{service}}`, merges
//!   rules like several Vault policies on one token, and compiles one ACL per caller.
//! - `PolicySet::evaluate(&Caller, &Operation) -> Decision`: default deny; a deny is a value.

pub mod document;
mod error;
pub mod pattern;
pub mod set;
pub mod store;

use crate::vault::write::WriteCondition;
use std::path::PathBuf;
use std::sync::Arc;

pub use error::{PolicyError, Problem};
pub use set::{PolicyFile, PolicySet, RuleView};
pub use store::{PolicyStore, ReloadStatus};

/// Where a rule came from: what a 403 body, `policy explain` and audit name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSource {
    pub file: Arc<PathBuf>,
    pub line: u32,
    pub pattern: String,
}

/// The outcome of evaluating one operation for one caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// The rule that decided, if any rule matched.
    pub rule: Option<RuleSource>,
    /// Human-readable reason, used verbatim in the 403 body.
    pub reason: String,
    /// What the proxy must make hold for an allowed write the rule grants only `create` or
    /// only `update` for.
    pub condition: Option<WriteCondition>,
    /// Forwarded without any token: an endpoint Vault serves to anyone.
    pub anonymous: bool,
}
