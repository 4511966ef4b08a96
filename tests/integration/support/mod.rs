//! Test support: a real OpenBao, the dev PKI, and vaultgate started in-process.

pub mod gate;
pub mod openbao;
pub mod pki;
