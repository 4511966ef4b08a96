//! The `[vault]` section: one node (`address`) or the nodes of an HA cluster (`addresses`),
//! the TLS material towards them and the timeouts, validated into `VaultConfig`.

use std::path::PathBuf;
use std::time::Duration;

use super::raw::RawVault;
use super::{ConfigError, Validator};

#[derive(Debug, Clone)]
pub struct VaultConfig {
    /// Each node as `http(s)://host:port` without a trailing slash, in configuration order:
    /// one with `address`, the cluster's nodes with `addresses`.
    pub addresses: Vec<String>,
    /// Set by `addresses`: vaultgate tracks which node is active and sends requests there.
    /// With `address` it sends every request to that one node as it is.
    pub cluster: bool,
    pub ca_cert: Option<PathBuf>,
    pub client_identity: Option<(PathBuf, PathBuf)>,
    pub timeout: Duration,
    pub connect_timeout: Duration,
}

impl VaultConfig {
    /// The address, or the cluster's addresses, for log lines and messages.
    pub fn describe(&self) -> String {
        if self.cluster {
            format!("cluster [{}]", self.addresses.join(", "))
        } else {
            self.addresses.join(", ")
        }
    }
}

impl Validator<'_> {
    pub(super) fn vault(&self, v: RawVault) -> Result<VaultConfig, ConfigError> {
        let (addresses, cluster) =
            match (v.address, v.addresses) {
                (Some(one), None) => (vec![self.node_address("vault.address", &one)?], false),
                (None, Some(list)) => (self.node_addresses(&list)?, true),
                (Some(_), Some(_)) => return Err(self.err(
                    "vault.addresses",
                    "set exactly one of address (one node) or addresses (the nodes of a cluster)",
                )),
                (None, None) => {
                    return Err(self.err(
                        "vault.address",
                        "required: address (one node) or addresses (the nodes of a cluster)",
                    ))
                }
            };
        let https = addresses.iter().any(|a| a.starts_with("https://"));
        let ca_cert = v
            .ca_cert
            .as_deref()
            .map(|p| self.existing("vault.ca_cert", p))
            .transpose()?;
        if https && ca_cert.is_none() {
            return Err(self.err(
                "vault.ca_cert",
                "required for an https address (the CA that signed Vault's certificate)",
            ));
        }
        let client_identity = match (v.client_cert, v.client_key) {
            (None, None) => None,
            (Some(c), Some(k)) => Some((
                self.existing("vault.client_cert", &c)?,
                self.existing("vault.client_key", &k)?,
            )),
            _ => {
                return Err(self.err(
                    "vault.client_cert",
                    "client_cert and client_key go together",
                ))
            }
        };
        Ok(VaultConfig {
            addresses,
            cluster,
            ca_cert,
            client_identity,
            timeout: self.duration("vault.timeout", v.timeout, Duration::from_secs(30))?,
            connect_timeout: self.duration(
                "vault.connect_timeout",
                v.connect_timeout,
                Duration::from_secs(5),
            )?,
        })
    }

    fn node_addresses(&self, list: &[String]) -> Result<Vec<String>, ConfigError> {
        if list.is_empty() {
            return Err(self.err("vault.addresses", "lists no node"));
        }
        let mut nodes: Vec<String> = Vec::with_capacity(list.len());
        for (i, a) in list.iter().enumerate() {
            let key = format!("vault.addresses[{i}]");
            let node = self.node_address(&key, a)?;
            // Redirects are matched against these names: one node listed twice (in any
            // spelling) would be probed twice and counted twice.
            if nodes.iter().any(|n| n.eq_ignore_ascii_case(&node)) {
                return Err(self.err(key, format!("{node} is listed twice")));
            }
            nodes.push(node);
        }
        Ok(nodes)
    }

    fn node_address(&self, key: &str, address: &str) -> Result<String, ConfigError> {
        let address = address.trim_end_matches('/').to_owned();
        let uri: http::Uri = address
            .parse()
            .map_err(|_| self.err(key, format!("{address:?} is not a URL")))?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) {
            return Err(self.err(key, "must start with http:// or https://"));
        }
        let bare = uri.path() == "/" || uri.path().is_empty();
        if uri.authority().is_none() || !bare || uri.query().is_some() {
            return Err(self.err(key, "must be scheme://host:port with no path"));
        }
        Ok(address)
    }
}
