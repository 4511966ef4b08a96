//! Upstream identities in the configuration: how each `[[service]]` and the `[issuer]` log in
//! to Vault (AppRole, token file, JWT, AWS IAM, TLS certificate, or a child token minted by
//! the issuer).

use std::path::PathBuf;
use std::time::Duration;

use super::raw::RawPrincipal;
use super::{mount_name, Validator, Written};
use crate::identity::Caller;

#[derive(Debug, Clone)]
pub struct ServiceConfig {
    pub caller: Caller,
    pub principal: PrincipalConfig,
}

/// One upstream Vault identity.
#[derive(Debug, Clone)]
pub struct PrincipalConfig {
    pub auth: AuthConfig,
    /// Namespace used for logins; empty for root.
    pub namespace: String,
    /// Revoke the token on shutdown (default: yes for tokens vaultgate obtained itself, no
    /// for a token file someone else provides).
    pub revoke_on_shutdown: bool,
    /// vaultgate renews the leases it relayed to this service, up to their max TTL
    /// (`renew_leases`; services only).
    pub renew_leases: bool,
}

#[derive(Debug, Clone)]
pub enum AuthConfig {
    AppRole {
        mount: String,
        role_id_file: PathBuf,
        secret_id_file: PathBuf,
        /// Delete the secret id file once it was read (a one-shot, wrapped-in secret id).
        remove_secret_id_file: bool,
    },
    TokenFile {
        path: PathBuf,
    },
    Jwt {
        mount: String,
        role: String,
        jwt_file: PathBuf,
    },
    Aws(AwsLogin),
    Cert(CertLogin),
    Issued(IssueRequest),
}

/// Vault's `aws` auth method, IAM type: a `sts:GetCallerIdentity` request signed with the
/// host's AWS credentials, which Vault sends on to STS to learn who signed it.
#[derive(Debug, Clone)]
pub struct AwsLogin {
    pub mount: String,
    pub role: String,
    /// The region the request is signed for (SigV4 scope), and where the credential chain
    /// looks when it must ask AWS (web identity, assumed roles).
    pub region: String,
    /// `X-Vault-AWS-IAM-Server-ID`, signed with the request so it cannot be replayed at
    /// another Vault; must match the mount's `iam_server_id_header_value`.
    pub header_value: Option<String>,
    /// The STS URL the request is signed for (Vault must be configured for the same host).
    pub sts_endpoint: String,
    /// A profile of the shared AWS config files instead of `AWS_PROFILE` or `default`.
    pub profile: Option<String>,
}

/// Vault's `cert` auth method: the login's TLS connection presents this certificate.
#[derive(Debug, Clone)]
pub struct CertLogin {
    pub mount: String,
    /// The certificate role (`name` in Vault's API); none lets Vault try every role.
    pub role: Option<String>,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
}

/// What the issuer asks `auth/token/create` for, on behalf of one service.
#[derive(Debug, Clone)]
pub struct IssueRequest {
    pub policies: Vec<String>,
    pub ttl: Duration,
    pub explicit_max_ttl: Option<Duration>,
    /// `auth/token/create/<role>` instead of `auth/token/create`.
    pub token_role: Option<String>,
}

/// Which keys belong to which method, so a stray key is reported instead of ignored.
const KEYS: &[(&str, &[&str])] = &[
    (
        "approle",
        &[
            "role_id_file",
            "secret_id_file",
            "remove_secret_id_file",
            "mount",
        ],
    ),
    ("token_file", &["token_file"]),
    ("jwt", &["role", "jwt_file", "mount"]),
    (
        "aws",
        &[
            "role",
            "mount",
            "region",
            "header_value",
            "sts_endpoint",
            "profile",
        ],
    ),
    ("cert", &["role", "mount", "client_cert", "client_key"]),
    (
        "issued",
        &["policies", "ttl", "explicit_max_ttl", "token_role"],
    ),
];

impl Validator<'_> {
    /// The service's caller (when its name is valid) and its principal (when all of it is).
    pub(super) fn service(
        &self,
        i: usize,
        s: RawPrincipal,
    ) -> (Option<Caller>, Option<PrincipalConfig>) {
        let prefix = format!("service[{i}]");
        let name_key = format!("{prefix}.name");
        let caller = self
            .required(&name_key, s.name.clone(), " (tenant/service)")
            .and_then(|name| match Caller::parse(&name) {
                Ok(caller) => Some(caller),
                Err(e) => {
                    self.problem(&name_key, e.to_string());
                    None
                }
            });
        (caller, self.principal(&prefix, s, true))
    }

    pub(super) fn issuer(&self, s: RawPrincipal) -> Option<PrincipalConfig> {
        if s.name.is_some() {
            self.problem("issuer.name", "the issuer is not a service and has no name");
        }
        self.principal("issuer", s, false)
    }

    fn principal(
        &self,
        prefix: &str,
        s: RawPrincipal,
        may_be_issued: bool,
    ) -> Option<PrincipalConfig> {
        let key = |k: &str| format!("{prefix}.{k}");
        let supported = if may_be_issued {
            "\"approle\", \"token_file\", \"jwt\", \"aws\", \"cert\", \"issued\""
        } else {
            "\"approle\", \"token_file\", \"jwt\", \"aws\", \"cert\""
        };
        let method = self.required(&key("auth"), s.auth.clone(), &format!(" ({supported})"))?;
        let Some((_, allowed)) = KEYS
            .iter()
            .find(|(m, _)| *m == method && (may_be_issued || *m != "issued"))
        else {
            self.problem(
                key("auth"),
                format!("unknown auth method {method:?} (supported: {supported})"),
            );
            return None;
        };
        let present = [
            ("role_id_file", s.role_id_file.is_some()),
            ("secret_id_file", s.secret_id_file.is_some()),
            ("remove_secret_id_file", s.remove_secret_id_file.is_some()),
            ("token_file", s.token_file.is_some()),
            ("role", s.role.is_some()),
            ("jwt_file", s.jwt_file.is_some()),
            ("policies", s.policies.is_some()),
            ("ttl", s.ttl.is_some()),
            ("explicit_max_ttl", s.explicit_max_ttl.is_some()),
            ("token_role", s.token_role.is_some()),
            ("mount", s.mount.is_some()),
            ("region", s.region.is_some()),
            ("header_value", s.header_value.is_some()),
            ("sts_endpoint", s.sts_endpoint.is_some()),
            ("profile", s.profile.is_some()),
            ("client_cert", s.client_cert.is_some()),
            ("client_key", s.client_key.is_some()),
        ];
        for (stray, _) in present.iter().filter(|(k, p)| *p && !allowed.contains(k)) {
            self.problem(key(stray), format!("does not apply to auth = {method:?}"));
        }
        let file = |name: &str, v: Option<Written<PathBuf>>| {
            let why = format!(" for auth = {method:?}");
            self.required(&key(name), v, &why)
                .and_then(|p| self.existing(&key(name), &p))
        };
        let mount = |default: &str| {
            let written = self.value(&key("mount"), s.mount.clone());
            let name = mount_name(written.as_deref().unwrap_or(default));
            if name.is_none() {
                self.problem(key("mount"), "must be a plain mount path like \"approle\"");
            }
            name
        };
        let auth = match method.as_str() {
            "approle" => {
                let mount = mount("approle");
                let role_id_file = file("role_id_file", s.role_id_file);
                let secret_id_file = file("secret_id_file", s.secret_id_file);
                let remove = self.value(&key("remove_secret_id_file"), s.remove_secret_id_file);
                AuthConfig::AppRole {
                    mount: mount?,
                    role_id_file: role_id_file?,
                    secret_id_file: secret_id_file?,
                    remove_secret_id_file: remove.unwrap_or(false),
                }
            }
            "token_file" => AuthConfig::TokenFile {
                path: file("token_file", s.token_file)?,
            },
            "jwt" => {
                let mount = mount("jwt");
                let role = self
                    .required(&key("role"), s.role, " for auth = \"jwt\"")
                    .filter(|r| !r.is_empty());
                let jwt_file = file("jwt_file", s.jwt_file);
                AuthConfig::Jwt {
                    mount: mount?,
                    role: role?,
                    jwt_file: jwt_file?,
                }
            }
            "aws" => AuthConfig::Aws(self.aws_login(prefix, &s, mount("aws"))?),
            "cert" => {
                let mount = mount("cert");
                let role = self.value(&key("role"), s.role.clone());
                if role.as_deref() == Some("") {
                    self.problem(
                        key("role"),
                        "must not be empty (leave it out to try every role)",
                    );
                }
                let client_cert = file("client_cert", s.client_cert.clone());
                let client_key = file("client_key", s.client_key.clone());
                AuthConfig::Cert(CertLogin {
                    mount: mount?,
                    role: role.filter(|r| !r.is_empty()),
                    client_cert: client_cert?,
                    client_key: client_key?,
                })
            }
            _ => {
                let policies = self
                    .required(&key("policies"), s.policies, " for auth = \"issued\"")
                    .filter(|p| !p.is_empty());
                let ttl = self.duration(&key("ttl"), s.ttl, Duration::from_secs(3600));
                if ttl.is_zero() {
                    self.problem(key("ttl"), "must be greater than 0");
                }
                let explicit_max_ttl = s
                    .explicit_max_ttl
                    .map(|d| self.duration(&key("explicit_max_ttl"), Some(d), Duration::ZERO));
                let token_role = self.value(&key("token_role"), s.token_role);
                AuthConfig::Issued(IssueRequest {
                    policies: policies?,
                    ttl,
                    explicit_max_ttl,
                    token_role,
                })
            }
        };
        let namespace = match self.value(&key("namespace"), s.namespace).as_deref() {
            None | Some("") | Some("root") => String::new(),
            Some(ns) => match mount_name(ns) {
                Some(ns) => ns,
                None => {
                    self.problem(key("namespace"), format!("{ns:?} is not a namespace path"));
                    return None;
                }
            },
        };
        let obtained_here = !matches!(auth, AuthConfig::TokenFile { .. });
        let revoke = self.value(&key("revoke_on_shutdown"), s.revoke_on_shutdown);
        let renew_leases = self.value(&key("renew_leases"), s.renew_leases);
        if renew_leases.is_some() && !may_be_issued {
            self.problem(
                key("renew_leases"),
                "the issuer relays no requests and holds no leases; set it on a [[service]]",
            );
        }
        Some(PrincipalConfig {
            auth,
            namespace,
            revoke_on_shutdown: revoke.unwrap_or(obtained_here),
            renew_leases: renew_leases.unwrap_or(false),
        })
    }
}

impl Validator<'_> {
    /// The `auth = "aws"` keys: the role, and what the signed request is signed for.
    fn aws_login(&self, prefix: &str, s: &RawPrincipal, mount: Option<String>) -> Option<AwsLogin> {
        let key = |k: &str| format!("{prefix}.{k}");
        let role = self
            .required(&key("role"), s.role.clone(), " for auth = \"aws\"")
            .filter(|r| {
                if r.is_empty() {
                    self.problem(key("role"), "must not be empty");
                }
                !r.is_empty()
            });
        let region = self
            .value(&key("region"), s.region.clone())
            .unwrap_or_else(|| DEFAULT_AWS_REGION.to_owned());
        let region_ok = !region.is_empty()
            && region
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !region_ok {
            self.problem(
                key("region"),
                format!("{region:?} is not an AWS region name"),
            );
        }
        let header_value = self.value(&key("header_value"), s.header_value.clone());
        if let Some(v) = &header_value {
            if v.is_empty() || !v.bytes().all(|b| b == b' ' || b.is_ascii_graphic()) {
                self.problem(
                    key("header_value"),
                    "must be printable ASCII, not empty (leave it out to send none)",
                );
            }
        }
        let sts_endpoint = match self.value(&key("sts_endpoint"), s.sts_endpoint.clone()) {
            None => default_sts_endpoint(&region),
            Some(written) => {
                let endpoint = written.trim_end_matches('/').to_owned();
                if !plain_origin(&endpoint) {
                    self.problem(
                        key("sts_endpoint"),
                        format!("{written:?} must be http(s)://host[:port] with no path"),
                    );
                }
                endpoint
            }
        };
        let profile = self.value(&key("profile"), s.profile.clone());
        if profile.as_deref() == Some("") {
            self.problem(key("profile"), "must not be empty");
        }
        if !region_ok {
            return None;
        }
        Some(AwsLogin {
            mount: mount?,
            role: role?,
            region,
            header_value,
            sts_endpoint,
            profile: profile.filter(|p| !p.is_empty()),
        })
    }
}

/// The region the AWS SDKs and Vault's own AWS login helper sign for when none is set.
pub const DEFAULT_AWS_REGION: &str = "us-east-1";

/// STS where a region's requests go: the global endpoint for us-east-1 (what Vault's aws
/// auth method calls unless configured otherwise), the regional one elsewhere.
pub fn default_sts_endpoint(region: &str) -> String {
    if region == DEFAULT_AWS_REGION {
        "https://sts.amazonaws.com".to_owned()
    } else {
        format!("https://sts.{region}.amazonaws.com")
    }
}

/// `http(s)://host[:port]`, nothing after it.
fn plain_origin(url: &str) -> bool {
    match url.parse::<http::Uri>() {
        Ok(uri) => {
            matches!(uri.scheme_str(), Some("http" | "https"))
                && uri.authority().is_some()
                && matches!(uri.path(), "" | "/")
                && uri.query().is_none()
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests;
