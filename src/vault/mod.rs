//! Vault's request semantics, with no I/O: how a request is classified, where the server
//! lands it and what it requires there (sudo, existence checks), and the `Token` type.

pub mod lease;
pub mod operation;
pub mod placement;
pub mod semantics;
pub mod sudo;
pub mod token;
pub mod write;
