//! The configuration file exactly as written: serde types that refuse unknown keys.
//! Validation into `Config` happens in the parent module.

use std::path::PathBuf;

use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub vault: RawVault,
    #[serde(default)]
    pub listener: Vec<RawListener>,
    #[serde(default)]
    pub service: Vec<RawPrincipal>,
    pub issuer: Option<RawPrincipal>,
    pub policies: RawPolicies,
    #[serde(default)]
    pub limits: RawLimits,
    pub audit: Option<RawAudit>,
    pub cache: Option<RawCache>,
    pub admin: Option<RawAdmin>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAdmin {
    pub address: Option<String>,
    pub unix: Option<PathBuf>,
    pub mode: Option<String>,
    pub token_file: PathBuf,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAudit {
    pub file: Option<PathBuf>,
    #[serde(default)]
    pub stdout: bool,
    pub hmac_key_file: Option<PathBuf>,
    pub fail_closed: Option<bool>,
    /// `tcp://host:port` or `unix:/path`: JSON lines to a SIEM collector.
    pub network: Option<String>,
    pub spill_bytes: Option<usize>,
    pub rotate_bytes: Option<u64>,
    pub rotate_keep: Option<usize>,
    pub fsync: Option<String>,
    pub fsync_interval: Option<RawDuration>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawVault {
    pub address: Option<String>,
    pub addresses: Option<Vec<String>>,
    pub ca_cert: Option<PathBuf>,
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    pub timeout: Option<RawDuration>,
    pub connect_timeout: Option<RawDuration>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawListener {
    pub address: Option<String>,
    pub unix: Option<PathBuf>,
    pub mode: Option<String>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub client_ca: Option<PathBuf>,
    pub trust_domain: Option<String>,
    pub caller: Option<String>,
    #[serde(default)]
    pub tls_disable: bool,
}

/// How one upstream identity logs in; `[[service]]` entries and the `[issuer]` share it
/// (`name` is the service's; the issuer has none).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPrincipal {
    pub name: Option<String>,
    pub auth: String,
    pub role_id_file: Option<PathBuf>,
    pub secret_id_file: Option<PathBuf>,
    pub remove_secret_id_file: Option<bool>,
    pub token_file: Option<PathBuf>,
    pub role: Option<String>,
    pub jwt_file: Option<PathBuf>,
    pub policies: Option<Vec<String>>,
    pub ttl: Option<RawDuration>,
    pub explicit_max_ttl: Option<RawDuration>,
    pub token_role: Option<String>,
    pub mount: Option<String>,
    pub namespace: Option<String>,
    pub revoke_on_shutdown: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPolicies {
    pub dir: PathBuf,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLimits {
    pub max_connections: Option<usize>,
    pub handshake_timeout: Option<RawDuration>,
    pub header_read_timeout: Option<RawDuration>,
    pub max_header_bytes: Option<usize>,
    pub max_path_bytes: Option<usize>,
    pub max_segments: Option<usize>,
    pub max_body_bytes: Option<usize>,
    pub max_json_depth: Option<usize>,
    pub max_concurrent_streams: Option<u32>,
    pub max_requests_per_caller: Option<usize>,
    pub max_connections_per_caller: Option<usize>,
    pub rate_per_caller: Option<f64>,
    pub rate_burst_per_caller: Option<u32>,
    pub idle_timeout: Option<RawDuration>,
}

/// A duration as users write it: seconds as a number, or `"500ms"`, `"30s"`, `"5m"`, `"1h"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum RawDuration {
    Seconds(u64),
    Text(String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCache {
    pub enabled: Option<bool>,
    pub ttl: Option<RawDuration>,
    pub max_bytes: Option<u64>,
    pub stale_if_error: Option<RawDuration>,
    #[serde(default)]
    pub path: Vec<RawCachePath>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCachePath {
    pub pattern: String,
    pub ttl: Option<RawDuration>,
    pub stale_if_error: Option<RawDuration>,
}
