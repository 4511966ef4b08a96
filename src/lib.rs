//! vaultgate: a local, policy-enforcing TLS proxy in front of HashiCorp Vault and OpenBao.

pub mod identity;
pub mod policy;
pub mod vault;
