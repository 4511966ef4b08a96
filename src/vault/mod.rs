//! Everything that speaks Vault: request classification, where the server lands a request
//! and what it requires there, tokens, logins and their renewal.

pub mod auth;
pub mod discovery;
pub mod operation;
pub mod placement;
pub mod renewer;
pub mod semantics;
pub mod sudo;
pub mod token;
