//! `vaultgate certs init`: a development CA, a server certificate for localhost and one client
//! certificate per service carrying the SPIFFE URI SAN that `identity` reads.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SanType,
};

use crate::identity::Caller;

#[derive(Debug, thiserror::Error)]
pub enum CertsError {
    #[error("{file}: {source}")]
    Io {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("{file}: {problem}")]
    Certificate { file: PathBuf, problem: String },
}

/// Where `init` wrote (or found) each file.
#[derive(Debug, Clone)]
pub struct CertPaths {
    pub ca_cert: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    /// Per service: (caller, certificate, key).
    pub clients: Vec<(Caller, PathBuf, PathBuf)>,
}

/// Writes the dev PKI into `dir`. An existing `ca.pem`/`ca-key.pem` is reused, so adding a
/// service later keeps earlier certificates valid; everything else is (re)issued.
/// `hosts` are extra DNS names for the server certificate (e.g. a compose service name).
pub fn init(
    dir: &Path,
    services: &[Caller],
    trust_domain: &str,
    hosts: &[String],
) -> Result<CertPaths, CertsError> {
    std::fs::create_dir_all(dir).map_err(|source| CertsError::Io {
        file: dir.to_owned(),
        source,
    })?;
    let ca_cert_file = dir.join("ca.pem");
    let ca_key_file = dir.join("ca-key.pem");
    let (ca, ca_key) = if ca_cert_file.exists() && ca_key_file.exists() {
        let key = KeyPair::from_pem(&read(&ca_key_file)?).map_err(cert_err(&ca_key_file))?;
        // Re-signing the stored parameters with the stored key yields an issuer whose
        // signatures verify against the CA certificate already on disk.
        let ca = CertificateParams::from_ca_cert_pem(&read(&ca_cert_file)?)
            .and_then(|params| params.self_signed(&key))
            .map_err(cert_err(&ca_cert_file))?;
        (ca, key)
    } else {
        let key = KeyPair::generate().map_err(cert_err(&ca_key_file))?;
        let mut params = CertificateParams::default();
        params.distinguished_name = name("vaultgate development CA");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = params.self_signed(&key).map_err(cert_err(&ca_cert_file))?;
        write(&ca_cert_file, &ca.pem(), false)?;
        write(&ca_key_file, &key.serialize_pem(), true)?;
        (ca, key)
    };

    let server_cert = dir.join("localhost.pem");
    let server_key = dir.join("localhost-key.pem");
    let mut sans = vec![
        SanType::DnsName("localhost".try_into().map_err(cert_err(&server_cert))?),
        SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        SanType::IpAddress(IpAddr::V6(Ipv6Addr::LOCALHOST)),
    ];
    for host in hosts {
        sans.push(SanType::DnsName(
            host.as_str().try_into().map_err(cert_err(&server_cert))?,
        ));
    }
    issue(
        "localhost",
        sans,
        ExtendedKeyUsagePurpose::ServerAuth,
        (&ca, &ca_key),
        (&server_cert, &server_key),
    )?;

    let mut clients = Vec::new();
    for caller in services {
        let stem = format!("{}-{}", caller.tenant(), caller.service());
        let cert = dir.join(format!("{stem}.pem"));
        let key = dir.join(format!("{stem}-key.pem"));
        let uri = format!(
            "spiffe://{trust_domain}/tenant/{}/service/{}",
            caller.tenant(),
            caller.service()
        );
        let san = SanType::URI(uri.as_str().try_into().map_err(cert_err(&cert))?);
        issue(
            &caller.to_string(),
            vec![san],
            ExtendedKeyUsagePurpose::ClientAuth,
            (&ca, &ca_key),
            (&cert, &key),
        )?;
        clients.push((caller.clone(), cert, key));
    }
    Ok(CertPaths {
        ca_cert: ca_cert_file,
        server_cert,
        server_key,
        clients,
    })
}

fn issue(
    common_name: &str,
    sans: Vec<SanType>,
    usage: ExtendedKeyUsagePurpose,
    (ca, ca_key): (&rcgen::Certificate, &KeyPair),
    (cert_file, key_file): (&Path, &Path),
) -> Result<(), CertsError> {
    let key = KeyPair::generate().map_err(cert_err(key_file))?;
    let mut params = CertificateParams::default();
    params.distinguished_name = name(common_name);
    params.subject_alt_names = sans;
    params.extended_key_usages = vec![usage];
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    let cert = params
        .signed_by(&key, ca, ca_key)
        .map_err(cert_err(cert_file))?;
    write(cert_file, &cert.pem(), false)?;
    write(key_file, &key.serialize_pem(), true)
}

fn name(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    dn
}

fn cert_err<E: std::fmt::Display>(file: &Path) -> impl Fn(E) -> CertsError + '_ {
    move |e| CertsError::Certificate {
        file: file.to_owned(),
        problem: e.to_string(),
    }
}

fn read(file: &Path) -> Result<String, CertsError> {
    std::fs::read_to_string(file).map_err(|source| CertsError::Io {
        file: file.to_owned(),
        source,
    })
}

/// Writes a file; keys are created with mode 0600 from the start, never world-readable.
fn write(file: &Path, text: &str, private: bool) -> Result<(), CertsError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let io = |source| CertsError::Io {
        file: file.to_owned(),
        source,
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    if private {
        options.mode(0o600);
    }
    options
        .open(file)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::caller_from_certificate;

    fn der(file: &Path) -> Vec<u8> {
        crate::pem::read_certs(file).unwrap()[0].to_vec()
    }

    #[test]
    fn client_certificates_carry_their_caller_and_the_ca_survives_a_rerun() {
        let dir = tempfile::tempdir().unwrap();
        let billing = Caller::parse("acme/billing").unwrap();
        let first = init(
            dir.path(),
            std::slice::from_ref(&billing),
            "example.org",
            &[],
        )
        .unwrap();
        let (_, cert, key) = &first.clients[0];
        assert_eq!(
            caller_from_certificate(&der(cert), Some("example.org")).unwrap(),
            billing
        );
        assert!(caller_from_certificate(&der(cert), Some("other.org")).is_err());
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);

        let ca_before = std::fs::read(&first.ca_cert).unwrap();
        let web = Caller::parse("acme/web").unwrap();
        init(dir.path(), &[web], "example.org", &[]).unwrap();
        assert_eq!(std::fs::read(&first.ca_cert).unwrap(), ca_before);
    }
}
