//! `vaultgate verify --auth`: the auth method the check logs in with (AppRole, AWS IAM or a
//! TLS certificate), its credentials as given, and one login with them.

use std::fmt;

use super::setup::{AppRoleCredentials, Environment, SetupError};
use super::VerifyArgs;
use crate::config::{default_sts_endpoint, AwsLogin, CertLogin, DEFAULT_AWS_REGION};
use crate::principal::auth::{approle_login, aws, cert, Login};
use crate::upstream::Upstream;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum VerifyAuth {
    /// AppRole: role id and secret id.
    Approle,
    /// AWS IAM: a signed sts:GetCallerIdentity, credentials from the AWS SDK's chain.
    Aws,
    /// A TLS client certificate: VAULT_CLIENT_CERT and VAULT_CLIENT_KEY.
    Cert,
}

impl VerifyAuth {
    /// The mount when none is given: the method's own name, as Vault enables it.
    pub fn default_mount(self) -> &'static str {
        match self {
            VerifyAuth::Approle => "approle",
            VerifyAuth::Aws => "aws",
            VerifyAuth::Cert => "cert",
        }
    }
}

/// What the check logs in with.
pub enum Credentials {
    AppRole(AppRoleCredentials),
    Aws(AwsLogin),
    Cert(CertLogin),
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::AppRole(c) => c.fmt(f),
            // Names, paths and the region: nothing secret in either.
            Credentials::Aws(a) => a.fmt(f),
            Credentials::Cert(c) => c.fmt(f),
        }
    }
}

/// The aws or cert login as the flags and environment describe it, with where it comes
/// from for the report.
pub fn credentials(
    args: &VerifyArgs,
    env: &Environment,
    role: &str,
    mount: &str,
) -> Result<(Credentials, String), SetupError> {
    let aws_only = [
        ("--region", args.region.is_some()),
        ("--header-value", args.header_value.is_some()),
        ("--sts-endpoint", args.sts_endpoint.is_some()),
        ("--profile", args.profile.is_some()),
    ];
    if let (VerifyAuth::Approle | VerifyAuth::Cert, Some((flag, _))) =
        (args.auth, aws_only.iter().find(|(_, given)| *given))
    {
        return Err(SetupError::Argument {
            what: "flag",
            value: (*flag).to_owned(),
            problem: "applies to --auth aws only",
        });
    }
    match args.auth {
        VerifyAuth::Aws => {
            let region = args
                .region
                .as_deref()
                .unwrap_or(DEFAULT_AWS_REGION)
                .to_owned();
            let sts_endpoint = match &args.sts_endpoint {
                Some(e) => e.trim_end_matches('/').to_owned(),
                None => default_sts_endpoint(&region),
            };
            let origin = format!(
                "AWS credential chain{}, signed for {sts_endpoint} in {region}",
                args.profile
                    .as_deref()
                    .map(|p| format!(" (profile {p})"))
                    .unwrap_or_default()
            );
            let login = AwsLogin {
                mount: mount.to_owned(),
                role: role.to_owned(),
                region,
                header_value: args.header_value.clone(),
                sts_endpoint,
                profile: args.profile.clone(),
            };
            Ok((Credentials::Aws(login), origin))
        }
        _ => {
            let (Some(client_cert), Some(client_key)) = (&env.client_cert, &env.client_key) else {
                return Err(SetupError::NoClientCertificate);
            };
            let origin = format!("certificate {}", client_cert.display());
            let login = CertLogin {
                mount: mount.to_owned(),
                role: Some(role.to_owned()),
                client_cert: client_cert.clone(),
                client_key: client_key.clone(),
            };
            Ok((Credentials::Cert(login), origin))
        }
    }
}

/// One login; a refusal is the report's line, starting with its verdict.
pub async fn login(
    upstream: &Upstream,
    namespace: &str,
    mount: &str,
    credentials: &Credentials,
) -> Result<Login, String> {
    let result = match credentials {
        Credentials::AppRole(c) => {
            approle_login(upstream, namespace, mount, &c.role_id, &c.secret_id).await
        }
        Credentials::Aws(a) => aws::login(upstream, namespace, a).await,
        Credentials::Cert(c) => cert::login(upstream, namespace, c).await,
    };
    result.map_err(|e| format!("failed ({e})"))
}

/// How the report names the method: `AppRole`, `aws role`, `cert role`.
pub fn name(auth: VerifyAuth) -> &'static str {
    match auth {
        VerifyAuth::Approle => "AppRole",
        VerifyAuth::Aws => "aws role",
        VerifyAuth::Cert => "cert role",
    }
}
