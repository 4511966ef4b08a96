//! `TokenApi`: what a renewer asks Vault (logins, and its token's own lookup, renewal and
//! revocation), so that the renewer's logic runs against a scripted Vault in unit tests.

use std::future::Future;

use super::super::auth::{self, AuthError, Login, TokenCall, TokenCheck};
use crate::config::AuthConfig;
use crate::identity::Caller;
use crate::upstream::{Upstream, UpstreamError};
use crate::vault::token::Token;

/// What a renewer asks Vault: logins and its token's own lookup, renewal and revocation.
pub trait TokenApi: std::fmt::Debug + Send + Sync + 'static {
    fn login(
        &self,
        auth: &AuthConfig,
        namespace: &str,
        issuer: Option<&Token>,
        owner: Option<&Caller>,
    ) -> impl Future<Output = Result<Login, AuthError>> + Send;

    fn call(
        &self,
        namespace: &str,
        token: &Token,
        call: TokenCall,
    ) -> impl Future<Output = Result<TokenCheck, UpstreamError>> + Send;

    /// Renews `token`, over `via` when its login asked for its own connection (a cert
    /// login's token renews only where the certificate is presented).
    fn renew(
        &self,
        via: Option<&Upstream>,
        namespace: &str,
        token: &Token,
    ) -> impl Future<Output = Result<TokenCheck, UpstreamError>> + Send;

    /// The issuer revokes a child token it minted (when the child cannot revoke itself).
    fn revoke_child(
        &self,
        namespace: &str,
        issuer: &Token,
        child: &Token,
    ) -> impl Future<Output = Result<TokenCheck, UpstreamError>> + Send;
}

/// `TokenApi` over the pooled client to Vault.
#[derive(Debug, Clone)]
pub struct VaultTokens(pub Upstream);

impl TokenApi for VaultTokens {
    async fn login(
        &self,
        auth: &AuthConfig,
        namespace: &str,
        issuer: Option<&Token>,
        owner: Option<&Caller>,
    ) -> Result<Login, AuthError> {
        auth::login(auth, namespace, &self.0, issuer, owner).await
    }

    async fn call(
        &self,
        namespace: &str,
        token: &Token,
        call: TokenCall,
    ) -> Result<TokenCheck, UpstreamError> {
        auth::token_call(&self.0, namespace, token, call).await
    }

    async fn renew(
        &self,
        via: Option<&Upstream>,
        namespace: &str,
        token: &Token,
    ) -> Result<TokenCheck, UpstreamError> {
        auth::token_call(via.unwrap_or(&self.0), namespace, token, TokenCall::Renew).await
    }

    async fn revoke_child(
        &self,
        namespace: &str,
        issuer: &Token,
        child: &Token,
    ) -> Result<TokenCheck, UpstreamError> {
        auth::revoke_child(&self.0, namespace, issuer, child).await
    }
}
