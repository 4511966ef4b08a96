//! The `[vault]` section: one node (`address`) or the nodes of an HA cluster (`addresses`),
//! the TLS material towards them, the timeouts and the namespaces callers use, validated
//! into `VaultConfig`.

use std::path::PathBuf;
use std::time::Duration;

use super::raw::RawVault;
use super::{mount_name, Validator};
use crate::vault::semantics::could_be_namespace;

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
    /// Namespaces callers use besides the services' own: their existence and mounts are read
    /// from Vault so requests into them are placed exactly.
    pub namespaces: Vec<String>,
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

    /// Whether Vault is reached over TLS (every node, when any is: one CA serves them all).
    pub fn https(&self) -> bool {
        self.addresses.iter().any(|a| a.starts_with("https://"))
    }
}

impl Validator<'_> {
    pub(super) fn vault(&self, v: RawVault) -> Option<VaultConfig> {
        let timeout = self.duration("vault.timeout", v.timeout, Duration::from_secs(30));
        let connect_timeout = self.duration(
            "vault.connect_timeout",
            v.connect_timeout,
            Duration::from_secs(5),
        );
        let ca_cert = self.existing_file("vault.ca_cert", v.ca_cert.clone());
        let client_cert = self.value("vault.client_cert", v.client_cert);
        let client_key = self.value("vault.client_key", v.client_key);
        let client_identity = match (client_cert, client_key) {
            (None, None) => None,
            (Some(c), Some(k)) => Some((
                self.existing("vault.client_cert", &c),
                self.existing("vault.client_key", &k),
            )),
            _ => {
                self.problem(
                    "vault.client_cert",
                    "client_cert and client_key go together",
                );
                None
            }
        };
        let namespaces = self.namespaces(v.namespaces);
        let one = self.value("vault.address", v.address);
        let list = self.value("vault.addresses", v.addresses);
        let (addresses, cluster) = match (one, list) {
            (Some(one), None) => (vec![self.node_address("vault.address", &one)?], false),
            (None, Some(list)) => (self.node_addresses(&list)?, true),
            (Some(_), Some(_)) => {
                self.problem(
                    "vault.addresses",
                    "set exactly one of address (one node) or addresses (the nodes of a cluster)",
                );
                return None;
            }
            (None, None) => {
                self.problem(
                    "vault.address",
                    "required: address (http(s)://host:port of Vault) or addresses (the nodes \
                     of a cluster)",
                );
                return None;
            }
        };
        let https = addresses.iter().any(|a| a.starts_with("https://"));
        if https && v.ca_cert.is_none() {
            self.problem(
                "vault.ca_cert",
                "required for an https address (the CA that signed Vault's certificate)",
            );
        }
        let client_identity = match client_identity {
            None => None,
            Some((Some(c), Some(k))) => Some((c, k)),
            Some(_) => return None,
        };
        if https && ca_cert.is_none() {
            return None;
        }
        Some(VaultConfig {
            addresses,
            cluster,
            ca_cert,
            client_identity,
            timeout,
            connect_timeout,
            namespaces,
        })
    }

    fn namespaces(&self, raw: Option<super::written::Written<Vec<String>>>) -> Vec<String> {
        let mut namespaces = Vec::new();
        for ns in self.value("vault.namespaces", raw).unwrap_or_default() {
            match mount_name(&ns).filter(|n| n.split('/').all(could_be_namespace)) {
                Some(name) => namespaces.push(name),
                None => self.problem(
                    "vault.namespaces",
                    format!("{ns:?} is not a namespace path"),
                ),
            }
        }
        namespaces
    }

    fn node_addresses(&self, list: &[String]) -> Option<Vec<String>> {
        if list.is_empty() {
            self.problem("vault.addresses", "lists no node");
            return None;
        }
        let mut nodes: Vec<String> = Vec::with_capacity(list.len());
        let mut complete = true;
        for (i, a) in list.iter().enumerate() {
            let key = format!("vault.addresses[{i}]");
            let Some(node) = self.node_address(&key, a) else {
                complete = false;
                continue;
            };
            // Redirects are matched against these names: one node listed twice (in any
            // spelling) would be probed twice and counted twice.
            if nodes.iter().any(|n| n.eq_ignore_ascii_case(&node)) {
                self.problem(key, format!("{node} is listed twice"));
                complete = false;
            }
            nodes.push(node);
        }
        complete.then_some(nodes)
    }

    fn node_address(&self, key: &str, address: &str) -> Option<String> {
        let address = address.trim_end_matches('/').to_owned();
        let Ok(uri) = address.parse::<http::Uri>() else {
            self.problem(key, format!("{address:?} is not a URL"));
            return None;
        };
        if !matches!(uri.scheme_str(), Some("http" | "https")) {
            self.problem(key, "must start with http:// or https://");
            return None;
        }
        let bare = uri.path() == "/" || uri.path().is_empty();
        if uri.authority().is_none() || !bare || uri.query().is_some() {
            self.problem(key, "must be scheme://host:port with no path");
            return None;
        }
        Some(address)
    }
}
