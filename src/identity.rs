//! Who is calling: the `Caller` (tenant + service) behind one client connection, taken from
//! the client certificate's SPIFFE URI SAN or from the listener's fixed binding.

use std::fmt;

/// The tenant and service behind one client connection.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Caller {
    tenant: String,
    service: String,
}

/// Why a caller name or certificate was refused.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum IdentityError {
    #[error("caller {0:?} is not of the form <tenant>/<service>")]
    Shape(String),
    #[error("{part} {value:?} may only contain a-z, 0-9, '-' and '_' and must start with a letter or digit")]
    Name { part: &'static str, value: String },
    #[error("the client certificate has no URI SAN of the form spiffe://<trust-domain>/tenant/<tenant>/service/<service>")]
    NoSpiffeId,
    #[error("the client certificate names trust domain {found:?}, expected {expected:?}")]
    TrustDomain { found: String, expected: String },
    #[error("the client certificate could not be parsed")]
    Certificate,
}

impl Caller {
    /// Builds a caller from validated parts. Names are restricted so that substituting them
    /// into `{{tenant}}`/`{{service}}` policy templates can never add a glob, a `+`, a `/`
    /// or a dot segment (vault-semantics §1.8).
    pub fn new(tenant: &str, service: &str) -> Result<Caller, IdentityError> {
        check_name("tenant", tenant)?;
        check_name("service", service)?;
        Ok(Caller {
            tenant: tenant.to_owned(),
            service: service.to_owned(),
        })
    }

    /// Parses `tenant/service`.
    pub fn parse(name: &str) -> Result<Caller, IdentityError> {
        let (tenant, service) = name
            .split_once('/')
            .ok_or_else(|| IdentityError::Shape(name.to_owned()))?;
        Caller::new(tenant, service)
    }

    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    pub fn service(&self) -> &str {
        &self.service
    }
}

impl fmt::Display for Caller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.tenant, self.service)
    }
}

fn check_name(part: &'static str, value: &str) -> Result<(), IdentityError> {
    let ok = value.len() <= 64
        && value
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(IdentityError::Name {
            part,
            value: value.to_owned(),
        })
    }
}

/// Reads the caller from a DER client certificate: the first URI SAN of the form
/// `spiffe://<trust-domain>/tenant/<tenant>/service/<service>`. The chain itself was already
/// verified against the listener's `client_ca` by rustls.
pub fn caller_from_certificate(
    der: &[u8],
    trust_domain: Option<&str>,
) -> Result<Caller, IdentityError> {
    use x509_parser::extensions::GeneralName;
    let (_, cert) =
        x509_parser::parse_x509_certificate(der).map_err(|_| IdentityError::Certificate)?;
    let san = cert
        .subject_alternative_name()
        .map_err(|_| IdentityError::Certificate)?
        .ok_or(IdentityError::NoSpiffeId)?;
    for name in &san.value.general_names {
        let GeneralName::URI(uri) = name else {
            continue;
        };
        let Some(rest) = uri.strip_prefix("spiffe://") else {
            continue;
        };
        let Some((domain, path)) = rest.split_once('/') else {
            continue;
        };
        let parts: Vec<&str> = path.split('/').collect();
        if let ["tenant", tenant, "service", service] = parts.as_slice() {
            if let Some(expected) = trust_domain {
                if domain != expected {
                    return Err(IdentityError::TrustDomain {
                        found: domain.to_owned(),
                        expected: expected.to_owned(),
                    });
                }
            }
            return Caller::new(tenant, service);
        }
    }
    Err(IdentityError::NoSpiffeId)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_validates_names() {
        let c = Caller::parse("acme/billing").unwrap();
        assert_eq!((c.tenant(), c.service()), ("acme", "billing"));
        assert_eq!(c.to_string(), "acme/billing");
        for bad in [
            "acme", "acme/", "/x", "a/b/c", "acme/bi*", "a+/b", "../x", "Acme/b", "a/.b", "a/b%2f",
        ] {
            assert!(Caller::parse(bad).is_err(), "{bad} should be refused");
        }
    }
}
