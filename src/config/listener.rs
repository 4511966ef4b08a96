//! The `[[listener]]` sections: where vaultgate listens and how it tells callers apart,
//! validated into `ListenerConfig`.

use super::raw::RawListener;
use std::net::SocketAddr;
use std::path::PathBuf;

use super::Validator;
use crate::identity::Caller;

#[derive(Debug, Clone)]
pub enum Bind {
    Tcp(SocketAddr),
    Unix { path: PathBuf, mode: Option<u32> },
}

#[derive(Debug, Clone)]
pub struct ListenerConfig {
    pub bind: Bind,
    /// None when `tls_disable = true`.
    pub tls: Option<TlsFiles>,
    pub identity: ListenerIdentity,
}

#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// How callers on a listener are identified.
#[derive(Debug, Clone)]
pub enum ListenerIdentity {
    /// mTLS: the caller is read from a client certificate signed by this CA.
    ClientCertificate {
        client_ca: PathBuf,
        trust_domain: Option<String>,
    },
    /// Every connection on this listener is this caller.
    Fixed(Caller),
}

impl Validator<'_> {
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
