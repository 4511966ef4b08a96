//! Upstream identities in the configuration: how each `[[service]]` and the `[issuer]` log in
//! to Vault (AppRole, token file, JWT, or a child token minted by the issuer).

use std::path::PathBuf;
use std::time::Duration;

use super::raw::RawPrincipal;
use super::{mount_name, ConfigError, Validator};
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
    Issued(IssueRequest),
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
        "issued",
        &["policies", "ttl", "explicit_max_ttl", "token_role"],
    ),
];

impl Validator<'_> {
    pub(super) fn service(&self, i: usize, s: RawPrincipal) -> Result<ServiceConfig, ConfigError> {
        let prefix = format!("service[{i}]");
        let name = s
            .name
            .as_deref()
            .ok_or_else(|| self.err(format!("{prefix}.name"), "required"))?;
        let caller =
            Caller::parse(name).map_err(|e| self.err(format!("{prefix}.name"), e.to_string()))?;
        Ok(ServiceConfig {
            caller,
            principal: self.principal(&prefix, s, true)?,
        })
    }

    pub(super) fn issuer(&self, s: RawPrincipal) -> Result<PrincipalConfig, ConfigError> {
        if s.name.is_some() {
            return Err(self.err("issuer.name", "the issuer is not a service and has no name"));
        }
        self.principal("issuer", s, false)
    }

    fn principal(
        &self,
        prefix: &str,
        s: RawPrincipal,
        may_be_issued: bool,
    ) -> Result<PrincipalConfig, ConfigError> {
        let key = |k: &str| format!("{prefix}.{k}");
        let method = s.auth.as_str();
        let Some((_, allowed)) = KEYS
            .iter()
            .find(|(m, _)| *m == method && (may_be_issued || *m != "issued"))
        else {
            let supported = if may_be_issued {
                "\"approle\", \"token_file\", \"jwt\", \"issued\""
            } else {
                "\"approle\", \"token_file\", \"jwt\""
            };
            return Err(self.err(
                key("auth"),
                format!("unknown auth method {method:?} (supported: {supported})"),
            ));
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
        ];
        if let Some((stray, _)) = present.iter().find(|(k, p)| *p && !allowed.contains(k)) {
            return Err(self.err(key(stray), format!("does not apply to auth = {method:?}")));
        }
        let file = |name: &str, v: &Option<PathBuf>| {
            v.as_deref()
                .ok_or_else(|| self.err(key(name), format!("required for auth = {method:?}")))
                .and_then(|p| self.existing(&key(name), p))
        };
        let mount = |default: &str| {
            mount_name(s.mount.as_deref().unwrap_or(default)).ok_or_else(|| {
                self.err(key("mount"), "must be a plain mount path like \"approle\"")
            })
        };
        let auth = match method {
            "approle" => AuthConfig::AppRole {
                mount: mount("approle")?,
                role_id_file: file("role_id_file", &s.role_id_file)?,
                secret_id_file: file("secret_id_file", &s.secret_id_file)?,
                remove_secret_id_file: s.remove_secret_id_file.unwrap_or(false),
            },
            "token_file" => AuthConfig::TokenFile {
                path: file("token_file", &s.token_file)?,
            },
            "jwt" => AuthConfig::Jwt {
                mount: mount("jwt")?,
                role: s
                    .role
                    .clone()
                    .filter(|r| !r.is_empty())
                    .ok_or_else(|| self.err(key("role"), "required for auth = \"jwt\""))?,
                jwt_file: file("jwt_file", &s.jwt_file)?,
            },
            _ => {
                let policies = s
                    .policies
                    .clone()
                    .filter(|p| !p.is_empty())
                    .ok_or_else(|| self.err(key("policies"), "required for auth = \"issued\""))?;
                let ttl = self.duration(&key("ttl"), s.ttl.clone(), Duration::from_secs(3600))?;
                let explicit_max_ttl = s
                    .explicit_max_ttl
                    .clone()
                    .map(|d| self.duration(&key("explicit_max_ttl"), Some(d), Duration::ZERO))
                    .transpose()?;
                if ttl.is_zero() {
                    return Err(self.err(key("ttl"), "must be greater than 0"));
                }
                AuthConfig::Issued(IssueRequest {
                    policies,
                    ttl,
                    explicit_max_ttl,
                    token_role: s.token_role.clone(),
                })
            }
        };
        let namespace = match s.namespace.as_deref() {
            None | Some("") | Some("root") => String::new(),
            Some(ns) => mount_name(ns).ok_or_else(|| {
                self.err(key("namespace"), format!("{ns:?} is not a namespace path"))
            })?,
        };
        let obtained_here = !matches!(auth, AuthConfig::TokenFile { .. });
        Ok(PrincipalConfig {
            auth,
            namespace,
            revoke_on_shutdown: s.revoke_on_shutdown.unwrap_or(obtained_here),
        })
    }
}
