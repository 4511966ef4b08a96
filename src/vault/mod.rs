//! Everything that speaks Vault: request classification, tokens, logins and their renewal.

pub mod operation;
