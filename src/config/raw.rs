//! The configuration file exactly as written. Tables are serde structs; every value is kept
//! as `Written<T>` so that a wrong type is one reported problem, not the end of the check,
//! and unknown keys are collected by the parent module. Validation into `Config` happens there.

use std::path::PathBuf;

use serde::Deserialize;

use super::written::{RawDuration, Written};

#[derive(Debug, Deserialize)]
#[serde(expecting = "a configuration file with [vault], [[listener]], [[service]] and [policies]")]
pub struct RawConfig {
    pub vault: Option<RawVault>,
    #[serde(default)]
    pub listener: Vec<RawListener>,
    #[serde(default)]
    pub service: Vec<RawPrincipal>,
    pub issuer: Option<RawPrincipal>,
    pub policies: Option<RawPolicies>,
    #[serde(default)]
    pub limits: RawLimits,
    pub audit: Option<RawAudit>,
    pub cache: Option<RawCache>,
    pub admin: Option<RawAdmin>,
    pub log: Option<RawLog>,
}

#[derive(Debug, Deserialize)]
#[serde(expecting = "the [log] table")]
pub struct RawLog {
    pub requests: Option<Written<bool>>,
}

#[derive(Debug, Deserialize)]
#[serde(expecting = "the [admin] table")]
pub struct RawAdmin {
    pub address: Option<Written<String>>,
    pub unix: Option<Written<PathBuf>>,
    pub mode: Option<Written<String>>,
    pub token_file: Option<Written<PathBuf>>,
}

#[derive(Debug, Deserialize)]
#[serde(expecting = "the [audit] table")]
pub struct RawAudit {
    pub file: Option<Written<PathBuf>>,
    pub stdout: Option<Written<bool>>,
    pub hmac_key_file: Option<Written<PathBuf>>,
    pub fail_closed: Option<Written<bool>>,
    /// `tcp://host:port` or `unix:/path`: JSON lines to a SIEM collector.
    pub network: Option<Written<String>>,
    pub spill_bytes: Option<Written<usize>>,
    pub rotate_bytes: Option<Written<u64>>,
    pub rotate_keep: Option<Written<usize>>,
    pub fsync: Option<Written<String>>,
    pub fsync_interval: Option<RawDuration>,
    pub syslog: Option<RawSyslog>,
}

#[derive(Debug, Deserialize)]
#[serde(expecting = "the [audit.syslog] table")]
pub struct RawSyslog {
    /// `tcp://host:port`, `tls://host:port` or `unix:/dev/log`.
    pub address: Option<Written<String>>,
    pub facility: Option<Written<String>>,
    pub tag: Option<Written<String>>,
    pub ca_cert: Option<Written<PathBuf>>,
    pub server_name: Option<Written<String>>,
    pub client_cert: Option<Written<PathBuf>>,
    pub client_key: Option<Written<PathBuf>>,
    pub spill_bytes: Option<Written<usize>>,
}

#[derive(Debug, Deserialize)]
#[serde(expecting = "the [vault] table")]
pub struct RawVault {
    pub address: Option<Written<String>>,
    pub addresses: Option<Written<Vec<String>>>,
    pub ca_cert: Option<Written<PathBuf>>,
    pub client_cert: Option<Written<PathBuf>>,
    pub client_key: Option<Written<PathBuf>>,
    pub timeout: Option<RawDuration>,
    pub connect_timeout: Option<RawDuration>,
    pub namespaces: Option<Written<Vec<String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(expecting = "a [[listener]] table")]
pub struct RawListener {
    pub address: Option<Written<String>>,
    pub unix: Option<Written<PathBuf>>,
    pub mode: Option<Written<String>>,
    pub tls_cert: Option<Written<PathBuf>>,
    pub tls_key: Option<Written<PathBuf>>,
    pub client_ca: Option<Written<PathBuf>>,
    pub trust_domain: Option<Written<String>>,
    pub caller: Option<Written<String>>,
    pub tls_disable: Option<Written<bool>>,
}

/// How one upstream identity logs in; `[[service]]` entries and the `[issuer]` share it
/// (`name` is the service's; the issuer has none).
#[derive(Debug, Default, Deserialize)]
#[serde(expecting = "a [[service]] or [issuer] table")]
pub struct RawPrincipal {
    pub name: Option<Written<String>>,
    pub auth: Option<Written<String>>,
    pub role_id_file: Option<Written<PathBuf>>,
    pub secret_id_file: Option<Written<PathBuf>>,
    pub remove_secret_id_file: Option<Written<bool>>,
    pub token_file: Option<Written<PathBuf>>,
    pub role: Option<Written<String>>,
    pub jwt_file: Option<Written<PathBuf>>,
    pub policies: Option<Written<Vec<String>>>,
    pub ttl: Option<RawDuration>,
    pub explicit_max_ttl: Option<RawDuration>,
    pub token_role: Option<Written<String>>,
    pub mount: Option<Written<String>>,
    pub namespace: Option<Written<String>>,
    pub revoke_on_shutdown: Option<Written<bool>>,
    pub renew_leases: Option<Written<bool>>,
    pub region: Option<Written<String>>,
    pub header_value: Option<Written<String>>,
    pub sts_endpoint: Option<Written<String>>,
    pub profile: Option<Written<String>>,
    pub client_cert: Option<Written<PathBuf>>,
    pub client_key: Option<Written<PathBuf>>,
}

#[derive(Debug, Deserialize)]
#[serde(expecting = "the [policies] table")]
pub struct RawPolicies {
    pub dir: Option<Written<PathBuf>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(expecting = "the [limits] table")]
pub struct RawLimits {
    pub max_connections: Option<Written<usize>>,
    pub handshake_timeout: Option<RawDuration>,
    pub header_read_timeout: Option<RawDuration>,
    pub max_header_bytes: Option<Written<usize>>,
    pub max_path_bytes: Option<Written<usize>>,
    pub max_segments: Option<Written<usize>>,
    pub max_body_bytes: Option<Written<usize>>,
    pub max_json_depth: Option<Written<usize>>,
    pub max_concurrent_streams: Option<Written<u32>>,
    pub max_requests_per_caller: Option<Written<usize>>,
    pub max_connections_per_caller: Option<Written<usize>>,
    pub rate_per_caller: Option<Written<f64>>,
    pub rate_burst_per_caller: Option<Written<u32>>,
    pub idle_timeout: Option<RawDuration>,
    pub max_unidentified_connections: Option<Written<usize>>,
    pub max_unidentified_per_peer: Option<Written<usize>>,
}

#[derive(Debug, Deserialize)]
#[serde(expecting = "the [cache] table")]
pub struct RawCache {
    pub enabled: Option<Written<bool>>,
    pub ttl: Option<RawDuration>,
    pub max_bytes: Option<Written<u64>>,
    pub stale_if_error: Option<RawDuration>,
    #[serde(default)]
    pub path: Vec<RawCachePath>,
}

#[derive(Debug, Deserialize)]
#[serde(expecting = "a [[cache.path]] table")]
pub struct RawCachePath {
    pub pattern: Option<Written<String>>,
    pub ttl: Option<RawDuration>,
    pub stale_if_error: Option<RawDuration>,
}

/// The keys a table takes, for "unknown key" messages; `section` is the key path of the
/// table with list indices removed (`listener`, `cache.path`, or empty for the top level).
pub fn keys_of(section: &str) -> &'static [&'static str] {
    match section {
        "" => field_names::<RawConfig>(),
        "vault" => field_names::<RawVault>(),
        "listener" => field_names::<RawListener>(),
        "service" | "issuer" => field_names::<RawPrincipal>(),
        "policies" => field_names::<RawPolicies>(),
        "limits" => field_names::<RawLimits>(),
        "audit" => field_names::<RawAudit>(),
        "audit.syslog" => field_names::<RawSyslog>(),
        "cache" => field_names::<RawCache>(),
        "cache.path" => field_names::<RawCachePath>(),
        "admin" => field_names::<RawAdmin>(),
        "log" => field_names::<RawLog>(),
        _ => &[],
    }
}

/// The field names of a derived `Deserialize` struct, straight from serde, so the list in a
/// message can never drift from the struct: serde hands them to `deserialize_struct`.
fn field_names<'de, T: Deserialize<'de>>() -> &'static [&'static str] {
    use serde::de::{Error as _, Visitor};
    type ProbeError = serde::de::value::Error;

    struct Probe<'a>(&'a mut &'static [&'static str]);

    impl<'de> serde::Deserializer<'de> for Probe<'_> {
        type Error = ProbeError;

        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, ProbeError> {
            Err(ProbeError::custom("not a struct"))
        }

        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _name: &'static str,
            fields: &'static [&'static str],
            _visitor: V,
        ) -> Result<V::Value, ProbeError> {
            *self.0 = fields;
            Err(ProbeError::custom("only the field names were wanted"))
        }

        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map enum
            identifier ignored_any
        }
    }

    let mut fields: &'static [&'static str] = &[];
    // The probe always ends in an error once it has the names.
    let _ = T::deserialize(Probe(&mut fields));
    fields
}
