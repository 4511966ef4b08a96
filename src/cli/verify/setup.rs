//! `vaultgate verify` set-up: the Vault connection, the names and the AppRole credentials,
//! taken from the environment and flags and checked before anything is sent to Vault.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use zeroize::Zeroizing;

use http::Method;
use serde_json::Value;

use super::report::answer;
use super::{Check, VerifyArgs};
use crate::config::VaultConfig;
use crate::principal::auth::{read_secret, AuthError};
use crate::vault::token::Token;

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("VAULT_ADDR is not set (e.g. http://127.0.0.1:8200 for the demo stack)")]
    NoAddress,
    #[error("VAULT_ADDR {address:?}: {problem}")]
    Address {
        address: String,
        problem: &'static str,
    },
    #[error(
        "VAULT_CACERT is required for an https VAULT_ADDR (the CA that signed Vault's certificate)"
    )]
    NoCaCert,
    #[error("{file}: {problem}")]
    File {
        file: PathBuf,
        problem: &'static str,
    },
    #[error("VAULT_CLIENT_CERT and VAULT_CLIENT_KEY must be set together")]
    HalfIdentity,
    #[error(
        "--auth cert logs in with the client certificate in VAULT_CLIENT_CERT and \
         VAULT_CLIENT_KEY, over an https VAULT_ADDR"
    )]
    NoClientCertificate,
    #[error("{what} {value:?}: {problem}")]
    Argument {
        what: &'static str,
        value: String,
        problem: &'static str,
    },
    #[error(
        "no AppRole credentials: set VAULT_ROLE_ID and VAULT_SECRET_ID, pass --role-id-file and \
         --secret-id-file, or set a bootstrap VAULT_TOKEN that may read the role id and create \
         secret ids"
    )]
    NoCredentials,
    #[error("the role id is given but no secret id (VAULT_SECRET_ID or --secret-id-file)")]
    NoSecretId,
    #[error("the secret id is given but no role id (VAULT_ROLE_ID or --role-id-file)")]
    NoRoleId,
    #[error(transparent)]
    Credential(#[from] AuthError),
}

/// The `VAULT_*` variables the check honours. Secrets stay in redacting or zeroizing types.
pub struct Environment {
    pub addr: Option<String>,
    pub ca_cert: Option<PathBuf>,
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    /// Empty for the root namespace.
    pub namespace: String,
    pub role_id: Option<Zeroizing<String>>,
    pub secret_id: Option<Zeroizing<String>>,
    /// A bootstrap token: mints credentials when none are given, and revokes by accessor.
    pub token: Option<Token>,
}

impl Environment {
    pub fn from_process() -> Environment {
        // An empty variable is treated as unset, as the Vault CLI does.
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        Environment {
            addr: var("VAULT_ADDR"),
            ca_cert: var("VAULT_CACERT").map(PathBuf::from),
            client_cert: var("VAULT_CLIENT_CERT").map(PathBuf::from),
            client_key: var("VAULT_CLIENT_KEY").map(PathBuf::from),
            namespace: var("VAULT_NAMESPACE").unwrap_or_default(),
            role_id: var("VAULT_ROLE_ID").map(|v| Zeroizing::new(v.trim().to_owned())),
            secret_id: var("VAULT_SECRET_ID").map(|v| Zeroizing::new(v.trim().to_owned())),
            token: var("VAULT_TOKEN").map(Token::new),
        }
    }
}

impl fmt::Debug for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let set = |v: bool| if v { "<set>" } else { "<unset>" };
        f.debug_struct("Environment")
            .field("addr", &self.addr)
            .field("ca_cert", &self.ca_cert)
            .field("client_cert", &self.client_cert)
            .field("client_key", &self.client_key)
            .field("namespace", &self.namespace)
            .field("role_id", &set(self.role_id.is_some()))
            .field("secret_id", &set(self.secret_id.is_some()))
            .field("token", &self.token)
            .finish()
    }
}

/// A role id and secret id held in memory for the two logins of the check.
pub struct AppRoleCredentials {
    pub role_id: Zeroizing<String>,
    pub secret_id: Zeroizing<String>,
}

impl fmt::Debug for AppRoleCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AppRoleCredentials(<redacted>)")
    }
}

/// Where the check's AppRole credentials come from.
#[derive(Debug)]
pub enum CredentialSource {
    /// Given by the operator; `origin` says how, for the report.
    Supplied {
        credentials: AppRoleCredentials,
        origin: String,
    },
    /// Read the role id and create a fresh secret id with the bootstrap `VAULT_TOKEN`.
    Bootstrap,
}

/// Each half may come from its file flag or its variable (the flag wins); both halves or
/// neither must be given, and neither falls back to a bootstrap token.
pub fn credential_source(
    args: &VerifyArgs,
    env: &Environment,
) -> Result<CredentialSource, SetupError> {
    let half = |file: &Option<PathBuf>,
                var: &Option<Zeroizing<String>>,
                var_name: &str|
     -> Result<Option<(Zeroizing<String>, String)>, SetupError> {
        match (file, var) {
            (Some(f), _) => Ok(Some((read_secret(f)?, f.display().to_string()))),
            (None, Some(v)) => Ok(Some((v.clone(), var_name.to_owned()))),
            (None, None) => Ok(None),
        }
    };
    let role_id = half(&args.role_id_file, &env.role_id, "VAULT_ROLE_ID")?;
    let secret_id = half(&args.secret_id_file, &env.secret_id, "VAULT_SECRET_ID")?;
    match (role_id, secret_id) {
        (Some((role_id, from_r)), Some((secret_id, from_s))) => Ok(CredentialSource::Supplied {
            credentials: AppRoleCredentials { role_id, secret_id },
            origin: format!("role id from {from_r}, secret id from {from_s}"),
        }),
        (None, None) if env.token.is_some() => Ok(CredentialSource::Bootstrap),
        (None, None) => Err(SetupError::NoCredentials),
        (Some(_), None) => Err(SetupError::NoSecretId),
        (None, Some(_)) => Err(SetupError::NoRoleId),
    }
}

/// The upstream settings for the check, from `VAULT_ADDR` and the TLS variables.
pub fn vault_config(env: &Environment) -> Result<VaultConfig, SetupError> {
    let raw = env.addr.as_deref().ok_or(SetupError::NoAddress)?;
    let address = raw.trim().trim_end_matches('/').to_owned();
    let bad = |problem| SetupError::Address {
        address: raw.to_owned(),
        problem,
    };
    let uri: http::Uri = address.parse().map_err(|_| bad("not a URL"))?;
    let https = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => false,
        _ => return Err(bad("must start with http:// or https://")),
    };
    if uri.authority().is_none() || !matches!(uri.path(), "" | "/") {
        return Err(bad("must be scheme://host:port with no path"));
    }
    let existing = |p: &PathBuf| {
        if p.is_file() {
            Ok(p.clone())
        } else {
            Err(SetupError::File {
                file: p.clone(),
                problem: "no such file",
            })
        }
    };
    // The upstream client trusts only the CA it is given: there is no system store to fall
    // back on, so an https address without VAULT_CACERT could never verify.
    let ca_cert = match (&env.ca_cert, https) {
        (Some(p), true) => Some(existing(p)?),
        (None, true) => return Err(SetupError::NoCaCert),
        (_, false) => None,
    };
    let client_identity = match (&env.client_cert, &env.client_key, https) {
        (_, _, false) | (None, None, _) => None,
        (Some(c), Some(k), true) => Some((existing(c)?, existing(k)?)),
        _ => return Err(SetupError::HalfIdentity),
    };
    Ok(VaultConfig {
        addresses: vec![address],
        cluster: false,
        ca_cert,
        client_identity,
        timeout: Duration::from_secs(30),
        connect_timeout: Duration::from_secs(10),
        namespaces: Vec::new(),
    })
}

/// A Vault API path as the operator gives it (`secret/data/api`), refused rather than
/// rewritten when Vault could read it differently than the report would say.
pub fn vault_path(what: &'static str, text: &str) -> Result<String, SetupError> {
    let path = text.trim_start_matches('/');
    let bad = |problem| SetupError::Argument {
        what,
        value: text.to_owned(),
        problem,
    };
    if path.is_empty() {
        return Err(bad("is empty"));
    }
    if !path
        .bytes()
        .all(|b| b.is_ascii_graphic() && !matches!(b, b'?' | b'#' | b'%' | b'\\'))
    {
        return Err(bad(
            "may contain only printable ASCII without spaces, '?', '#', '%' or '\\'",
        ));
    }
    if path
        .split('/')
        .any(|segment| matches!(segment, "" | "." | ".."))
    {
        return Err(bad("has an empty, '.' or '..' segment"));
    }
    Ok(path.to_owned())
}

/// An AppRole role name: one path segment.
pub fn role_name(text: &str) -> Result<String, SetupError> {
    let role = vault_path("role", text)?;
    if role.contains('/') {
        return Err(SetupError::Argument {
            what: "role",
            value: text.to_owned(),
            problem: "may not contain '/'",
        });
    }
    Ok(role)
}
impl Check {
    /// Reads the role id and creates a secret id with the bootstrap token, as an operator
    /// would by hand against the demo stack; the secret id is destroyed again in cleanup.
    pub(super) async fn mint(&mut self) -> Result<AppRoleCredentials, String> {
        let Some(boot) = self.bootstrap.clone() else {
            return Err("failed (no VAULT_TOKEN)".to_owned());
        };
        let base = format!("auth/{}/role/{}", self.mount, self.role);
        let refused = |target: &str, status, body: &Value| {
            format!(
                "failed (VAULT_TOKEN cannot use {target}: {}) — is role {} defined at mount \
                 {}, and may the bootstrap token read its role id and create secret ids?",
                answer(status, body),
                self.role,
                self.mount
            )
        };
        let target = format!("{base}/role-id");
        let (status, body) = self.call(Method::GET, &target, &boot, None).await?;
        let role_id = match body["data"]["role_id"].as_str() {
            Some(id) if status.is_success() => zeroize::Zeroizing::new(id.to_owned()),
            _ => return Err(refused(&target, status, &body)),
        };
        let target = format!("{base}/secret-id");
        let (status, body) = self.call(Method::POST, &target, &boot, None).await?;
        let secret_id = match body["data"]["secret_id"].as_str() {
            Some(id) if status.is_success() => zeroize::Zeroizing::new(id.to_owned()),
            _ => return Err(refused(&target, status, &body)),
        };
        self.minted_secret_id = body["data"]["secret_id_accessor"]
            .as_str()
            .map(str::to_owned);
        Ok(AppRoleCredentials { role_id, secret_id })
    }
}
