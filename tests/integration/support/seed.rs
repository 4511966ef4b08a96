//! `Seed`: what `Gate` needs from a Vault to give vaultgate's services their identities (the
//! broad test policy and one AppRole per service). The dev server and the raft cluster both
//! provide it.

use super::openbao::OpenBao;

pub trait Seed {
    async fn write_policy(&self, name: &str, hcl: &str);
    /// Enables AppRole at `approle/` (idempotent).
    async fn enable_approle(&self);
    /// A role whose tokens carry only `policies`; returns its (role_id, secret_id).
    async fn approle(&self, role: &str, policies: &[&str]) -> (String, String);
    /// The `[vault]` table's body that reaches it, when it has an address of its own.
    fn vault_table(&self) -> Option<String> {
        None
    }
}

impl Seed for OpenBao {
    async fn write_policy(&self, name: &str, hcl: &str) {
        OpenBao::write_policy(self, name, hcl).await;
    }
    async fn enable_approle(&self) {
        OpenBao::enable_approle(self).await;
    }
    async fn approle(&self, role: &str, policies: &[&str]) -> (String, String) {
        OpenBao::approle(self, role, policies).await
    }
    fn vault_table(&self) -> Option<String> {
        Some(super::gate::Gate::default_vault(self))
    }
}
