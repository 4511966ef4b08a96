//! The `[vault]` and `[[listener]]` sections: where vaultgate forwards to, and where it
//! listens and how it tells callers apart, validated into `VaultConfig` and `ListenerConfig`.

use std::time::Duration;

use super::raw::{RawListener, RawVault};
use super::{mount_name, Bind, ListenerConfig, ListenerIdentity, TlsFiles, Validator, VaultConfig};
use crate::identity::Caller;
use crate::vault::semantics::could_be_namespace;

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
        let address = self
            .required(
                "vault.address",
                v.address,
                " (http(s)://host:port of Vault)",
            )?
            .trim_end_matches('/')
            .to_owned();
        let Ok(uri) = address.parse::<http::Uri>() else {
            self.problem("vault.address", format!("{address:?} is not a URL"));
            return None;
        };
        let https = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            _ => {
                self.problem("vault.address", "must start with http:// or https://");
                return None;
            }
        };
        if uri.authority().is_none() || uri.path() != "/" && !uri.path().is_empty() {
            self.problem("vault.address", "must be scheme://host:port with no path");
            return None;
        }
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
        let mut namespaces = Vec::new();
        for ns in self
            .value("vault.namespaces", v.namespaces)
            .unwrap_or_default()
        {
            match mount_name(&ns).filter(|n| n.split('/').all(could_be_namespace)) {
                Some(name) => namespaces.push(name),
                None => self.problem(
                    "vault.namespaces",
                    format!("{ns:?} is not a namespace path"),
                ),
            }
        }
        Some(VaultConfig {
            address,
            ca_cert,
            client_identity,
            timeout,
            connect_timeout,
            namespaces,
        })
    }

    pub(super) fn listener(
        &self,
        i: usize,
        l: RawListener,
        callers: &[Caller],
    ) -> Option<ListenerConfig> {
        let key = |k: &str| format!("listener[{i}].{k}");
        let address = self.value(&key("address"), l.address);
        let unix = self.value(&key("unix"), l.unix);
        let mode = self.value(&key("mode"), l.mode);
        let bind = match (address, unix) {
            (Some(a), None) => {
                if mode.is_some() {
                    self.problem(key("mode"), "only applies to a unix listener");
                }
                match a.parse() {
                    Ok(addr) => Some(Bind::Tcp(addr)),
                    Err(_) => {
                        self.problem(key("address"), format!("{a:?} is not an ip:port address"));
                        None
                    }
                }
            }
            (None, Some(p)) => {
                let mode = mode.and_then(|m| self.octal_mode(&key("mode"), &m, "0660"));
                Some(Bind::Unix {
                    path: self.path(&p),
                    mode,
                })
            }
            _ => {
                self.problem(key("address"), "set exactly one of address or unix");
                None
            }
        };
        let tls_disable = self
            .value(&key("tls_disable"), l.tls_disable)
            .unwrap_or(false);
        let tls_cert = self.value(&key("tls_cert"), l.tls_cert);
        let tls_key = self.value(&key("tls_key"), l.tls_key);
        let client_ca = self.value(&key("client_ca"), l.client_ca);
        let trust_domain = self.value(&key("trust_domain"), l.trust_domain);
        let caller = self.value(&key("caller"), l.caller);
        let tls = if tls_disable {
            let local = match &bind {
                Some(Bind::Tcp(a)) => a.ip().is_loopback(),
                Some(Bind::Unix { .. }) | None => true,
            };
            if !local {
                self.problem(
                    key("tls_disable"),
                    "refused: only a loopback address or a unix socket may run without TLS",
                );
            }
            if tls_cert.is_some() || tls_key.is_some() || client_ca.is_some() {
                self.problem(
                    key("tls_disable"),
                    "tls_cert, tls_key and client_ca make no sense with tls_disable = true",
                );
            }
            Some(None)
        } else {
            let file = |name: &str, v: Option<std::path::PathBuf>| match v {
                Some(p) => self.existing(&key(name), &p),
                None => {
                    self.problem(key(name), "required unless tls_disable = true");
                    None
                }
            };
            let cert = file("tls_cert", tls_cert);
            let k = file("tls_key", tls_key);
            match (cert, k) {
                (Some(cert), Some(key)) => Some(Some(TlsFiles { cert, key })),
                _ => None,
            }
        };
        let identity = match (client_ca, caller) {
            (Some(ca), None) => self.existing(&key("client_ca"), &ca).map(|client_ca| {
                ListenerIdentity::ClientCertificate {
                    client_ca,
                    trust_domain,
                }
            }),
            (None, Some(c)) => {
                if trust_domain.is_some() {
                    self.problem(key("trust_domain"), "only applies with client_ca");
                }
                match Caller::parse(&c) {
                    Ok(caller) if callers.contains(&caller) => {
                        Some(ListenerIdentity::Fixed(caller))
                    }
                    Ok(caller) => {
                        self.problem(
                            key("caller"),
                            format!("{caller} is not a configured [[service]]"),
                        );
                        None
                    }
                    Err(e) => {
                        self.problem(key("caller"), e.to_string());
                        None
                    }
                }
            }
            (Some(_), Some(_)) => {
                self.problem(
                    key("caller"),
                    "set either client_ca (callers from certificates) or caller, not both",
                );
                None
            }
            (None, None) => {
                self.problem(
                    key("client_ca"),
                    "set client_ca (callers from certificates) or caller (a fixed caller)",
                );
                None
            }
        };
        Some(ListenerConfig {
            bind: bind?,
            tls: tls?,
            identity: identity?,
        })
    }

    /// `"0660"` or `"0o660"`: permission bits in octal, at most `0777`.
    pub(super) fn octal_mode(&self, key: &str, m: &str, example: &str) -> Option<u32> {
        let mode = u32::from_str_radix(m.trim_start_matches("0o"), 8)
            .ok()
            .filter(|m| *m <= 0o777);
        if mode.is_none() {
            self.problem(
                key,
                format!("{m:?} is not an octal mode like \"{example}\""),
            );
        }
        mode
    }
}
