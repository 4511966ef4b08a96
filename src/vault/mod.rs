//! Everything that speaks Vault: request classification, tokens, logins and their renewal.

pub mod auth;
pub mod operation;
pub mod renewer;
pub mod token;
