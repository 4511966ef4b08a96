//! `vaultgate verify --role ROLE PATH`: the seed's credential-rotation check. Logs in with an
//! AppRole (or, with `--auth`, AWS IAM or a TLS certificate), reads a secret, rotates the
//! token, reads again and proves the old token is dead. Prints one line per step; never a
//! token, secret id or secret value.

mod lease;
mod method;
mod report;
mod setup;
#[cfg(test)]
mod tests;

use std::path::PathBuf;

use http::{Method, StatusCode};
use serde_json::{json, Value};

use crate::principal::auth::Login;
use crate::upstream::{TlsError, Upstream, UpstreamError};
use crate::vault::token::{Accessor, Token};
use method::Credentials;
pub use method::VerifyAuth;
use report::{answer, describe_login, describe_secret, failed, fingerprint, ok};
pub use setup::SetupError;
use setup::{CredentialSource, Environment};

/// How many steps the check has; the report numbers them `[n/5]`.
pub(crate) const STEPS: u8 = 5;

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Environment: VAULT_ADDR (required), VAULT_CACERT (required for https), \
    VAULT_CLIENT_CERT and VAULT_CLIENT_KEY (mTLS), VAULT_NAMESPACE, VAULT_ROLE_ID and \
    VAULT_SECRET_ID (the role's credentials), VAULT_TOKEN (bootstrap: when no credentials are \
    given, reads the role id and creates a fresh secret id; also revokes by accessor when \
    revoke-self is refused). --auth aws: the AWS SDK's credential chain (AWS_* variables, \
    shared files, web identity, container or instance metadata). --auth cert: \
    VAULT_CLIENT_CERT and VAULT_CLIENT_KEY."
)]
pub struct VerifyArgs {
    /// The role whose credentials are checked, e.g. my-app-role (for cert, the certificate
    /// role).
    #[arg(long)]
    pub role: String,
    /// The secret to read, as an API path; for KV v2 include `data/`, e.g. secret/data/api.
    pub path: String,
    /// The auth method to log in with.
    #[arg(long, value_enum, default_value_t = VerifyAuth::Approle)]
    pub auth: VerifyAuth,
    /// Where the auth method is mounted (default: the method's name).
    #[arg(long, alias = "approle-mount")]
    pub mount: Option<String>,
    /// aws: the region the request is signed for [default: us-east-1].
    #[arg(long)]
    pub region: Option<String>,
    /// aws: the X-Vault-AWS-IAM-Server-ID header value the mount requires.
    #[arg(long)]
    pub header_value: Option<String>,
    /// aws: the STS URL the request is signed for [default: the region's].
    #[arg(long)]
    pub sts_endpoint: Option<String>,
    /// aws: the profile of the shared AWS config files.
    #[arg(long)]
    pub profile: Option<String>,
    /// A file holding the role id (instead of VAULT_ROLE_ID).
    #[arg(long)]
    pub role_id_file: Option<PathBuf>,
    /// A file holding the secret id (instead of VAULT_SECRET_ID).
    #[arg(long)]
    pub secret_id_file: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(transparent)]
    Setup(#[from] SetupError),
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    #[error("vault TLS: {0}")]
    UpstreamTls(#[from] TlsError),
    #[error("credential check failed at step {step}/{STEPS}")]
    Failed { step: u8 },
}

/// Runs the check with the process environment.
pub async fn run(args: &VerifyArgs) -> Result<(), VerifyError> {
    verify(args, &Environment::from_process()).await
}

pub async fn verify(args: &VerifyArgs, env: &Environment) -> Result<(), VerifyError> {
    let path = setup::vault_path("path", &args.path)?;
    let role = setup::role_name(&args.role)?;
    let mount = args
        .mount
        .as_deref()
        .unwrap_or(args.auth.default_mount())
        .trim_end_matches('/');
    let mount = setup::vault_path("--mount", mount)?;
    let config = setup::vault_config(env)?;
    let source = match args.auth {
        VerifyAuth::Approle => match setup::credential_source(args, env)? {
            CredentialSource::Supplied {
                credentials,
                origin,
            } => Some((Credentials::AppRole(credentials), origin)),
            CredentialSource::Bootstrap => None,
        },
        _ => {
            if args.auth == VerifyAuth::Cert && !config.https() {
                return Err(SetupError::NoClientCertificate.into());
            }
            Some(method::credentials(args, env, &role, &mount)?)
        }
    };
    let namespace = match env.namespace.as_str() {
        "" => String::new(),
        ns => format!(", namespace {ns}"),
    };
    println!(
        "verifying {} {role} (mount {mount}) on {path} at {}{namespace}",
        method::name(args.auth),
        config.describe()
    );
    let mut check = Check {
        upstream: Upstream::new(&config)?,
        auth: args.auth,
        namespace: env.namespace.clone(),
        role,
        mount,
        path,
        bootstrap: env.token.clone(),
        minted_secret_id: None,
        live: Vec::new(),
    };
    let outcome = check.steps(source).await;
    // Tokens and secret ids the check created are not handed to anyone: clean them up
    // whether or not the check passed.
    check.cleanup().await;
    match outcome {
        Ok(()) => {
            println!(
                "ok: {} can read {} and its tokens rotate",
                check.role, check.path
            );
            Ok(())
        }
        Err(step) => Err(VerifyError::Failed { step }),
    }
}

struct Check {
    upstream: Upstream,
    auth: VerifyAuth,
    namespace: String,
    role: String,
    mount: String,
    path: String,
    bootstrap: Option<Token>,
    /// The accessor of a secret id this run created with the bootstrap token.
    minted_secret_id: Option<String>,
    /// Tokens this run obtained and has not revoked yet.
    live: Vec<Login>,
}

impl Check {
    /// `source`: the credentials and where they came from; none means an AppRole bootstrap.
    async fn steps(&mut self, source: Option<(Credentials, String)>) -> Result<(), u8> {
        let (credentials, origin) = match source {
            Some(given) => given,
            None => {
                let label = self.login_label("role id and a new secret id from VAULT_TOKEN");
                (
                    Credentials::AppRole(self.mint().await.map_err(|r| failed(1, &label, &r))?),
                    "role id and a new secret id from VAULT_TOKEN".to_owned(),
                )
            }
        };
        let label = self.login_label(&origin);
        let first = self
            .login(&credentials)
            .await
            .map_err(|r| failed(1, &label, &r))?;
        ok(1, &label, &describe_login(&first));
        let old = first.token.clone();
        let old_accessor = first.token.accessor().cloned();
        let old_name = fingerprint(&first);
        self.live.push(first);

        let label = format!("read {}", self.path);
        let (keys, lease) = self.read(&old).await.map_err(|r| failed(2, &label, &r))?;
        ok(2, &label, &keys);
        if let Some(lease) = lease {
            if let Some(warning) = self.lease_warning(&old, lease).await {
                println!("{warning}");
            }
        }

        let label = "rotate (log in again, revoke the old token)";
        let second = self
            .login(&credentials)
            .await
            .map_err(|r| failed(3, label, &r))?;
        let new = second.token.clone();
        let new_name = fingerprint(&second);
        self.live.push(second);
        if new == old {
            return Err(failed(
                3,
                label,
                "failed (Vault answered the same token twice)",
            ));
        }
        let how = self
            .revoke(&old, old_accessor.as_ref())
            .await
            // The old token stays in `live`: cleanup tries again and says it is still valid.
            .map_err(|r| failed(3, label, &r))?;
        self.live.retain(|l| l.token != old);
        ok(
            3,
            label,
            &format!("new token {new_name}; old token {old_name} revoked with {how}"),
        );

        let label = format!("read {} with the new token", self.path);
        let (keys, _) = self.read(&new).await.map_err(|r| failed(4, &label, &r))?;
        ok(4, &label, &keys);

        let label = "old token rejected";
        let (status, body) = self
            .call(Method::GET, &self.path, &old, None)
            .await
            .map_err(|r| failed(5, label, &r))?;
        match status {
            StatusCode::FORBIDDEN => ok(
                5,
                label,
                &format!("read {} answered {}", self.path, answer(status, &body)),
            ),
            s if s.is_success() => {
                let r = format!(
                    "failed (the old token still reads {} after its revocation)",
                    self.path
                );
                return Err(failed(5, label, &r));
            }
            _ => {
                let r = format!("failed (expected 403, got {})", answer(status, &body));
                return Err(failed(5, label, &r));
            }
        }
        Ok(())
    }

    fn login_label(&self, origin: &str) -> String {
        format!(
            "log in with {} {} (mount {}; {origin})",
            method::name(self.auth),
            self.role,
            self.mount
        )
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        token: &Token,
        body: Option<&Value>,
    ) -> Result<(StatusCode, Value), String> {
        self.upstream
            .call_json(
                method,
                &format!("/v1/{path}"),
                &self.namespace,
                Some(token),
                body,
            )
            .await
            .map_err(|e| format!("failed ({e})"))
    }

    async fn login(&self, credentials: &Credentials) -> Result<Login, String> {
        method::login(&self.upstream, &self.namespace, &self.mount, credentials).await
    }

    /// Reads the path; on success describes the secret by its keys (never its values), with
    /// the TTL of the lease it minted, if it did.
    async fn read(&self, token: &Token) -> Result<(String, Option<std::time::Duration>), String> {
        let (status, body) = self.call(Method::GET, &self.path, token, None).await?;
        match status {
            s if s.is_success() => Ok((describe_secret(&body), lease::lease_ttl(&body))),
            StatusCode::FORBIDDEN => Err(format!(
                "denied ({}) — role {} cannot read this path",
                answer(status, &body),
                self.role
            )),
            StatusCode::NOT_FOUND => Err(format!(
                "not found ({}) — nothing is stored at {} (a KV v2 path needs data/ after the \
                 mount, e.g. secret/data/api)",
                answer(status, &body),
                self.path
            )),
            _ => Err(format!("failed ({})", answer(status, &body))),
        }
    }

    /// Revokes a token: itself first (`revoke-self`), else by accessor with the bootstrap
    /// token. Returns how it was revoked.
    async fn revoke(
        &self,
        token: &Token,
        accessor: Option<&Accessor>,
    ) -> Result<&'static str, String> {
        let (status, body) = self
            .call(Method::POST, "auth/token/revoke-self", token, None)
            .await?;
        if status.is_success() {
            return Ok("revoke-self");
        }
        let refused = answer(status, &body);
        let (Some(boot), Some(accessor)) = (&self.bootstrap, accessor) else {
            return Err(format!(
                "failed (revoke-self answered {refused}) — role {}'s token policy needs \
                 path \"auth/token/revoke-self\" {{ capabilities = [\"update\"] }}, or set a \
                 VAULT_TOKEN that may revoke by accessor",
                self.role
            ));
        };
        let (status, body) = self
            .call(
                Method::POST,
                "auth/token/revoke-accessor",
                boot,
                Some(&json!({ "accessor": accessor.expose() })),
            )
            .await?;
        if status.is_success() {
            Ok("revoke-accessor and VAULT_TOKEN (revoke-self was refused)")
        } else {
            Err(format!(
                "failed (revoke-self answered {refused}; revoke-accessor with VAULT_TOKEN \
                 answered {})",
                answer(status, &body)
            ))
        }
    }

    async fn cleanup(&mut self) {
        for login in std::mem::take(&mut self.live).iter().rev() {
            match self.revoke(&login.token, login.token.accessor()).await {
                Ok(_) => println!("cleanup: revoked this check's token {}", fingerprint(login)),
                Err(r) => println!(
                    "cleanup: token {} not revoked, it expires with its TTL: {r}",
                    fingerprint(login)
                ),
            }
        }
        let (Some(accessor), Some(boot)) = (self.minted_secret_id.take(), &self.bootstrap) else {
            return;
        };
        let target = format!(
            "auth/{}/role/{}/secret-id-accessor/destroy",
            self.mount, self.role
        );
        let body = json!({ "secret_id_accessor": accessor });
        match self.call(Method::POST, &target, boot, Some(&body)).await {
            Ok((s, _)) if s.is_success() => {
                println!("cleanup: destroyed the secret id created for this check")
            }
            Ok((s, b)) => println!(
                "cleanup: the secret id created for this check was not destroyed ({})",
                answer(s, &b)
            ),
            Err(r) => println!("cleanup: the secret id created for this check: {r}"),
        }
    }
}
