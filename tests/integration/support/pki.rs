//! `Pki`: the dev certificates of `vaultgate certs init` for tests, plus an unrelated rogue CA
//! with its own `acme/billing` client certificate.

use std::path::PathBuf;

use vaultgate::identity::Caller;

pub const TRUST_DOMAIN: &str = "vaultgate.test";

pub struct Pki {
    dir: tempfile::TempDir,
    rogue: tempfile::TempDir,
}

impl Pki {
    pub fn new(services: &[&str]) -> Pki {
        let callers: Vec<Caller> = services.iter().map(|s| Caller::parse(s).unwrap()).collect();
        let dir = tempfile::tempdir().unwrap();
        vaultgate::cli::certs::init(dir.path(), &callers, TRUST_DOMAIN, &[]).unwrap();
        let rogue = tempfile::tempdir().unwrap();
        let billing = Caller::parse("acme/billing").unwrap();
        vaultgate::cli::certs::init(rogue.path(), &[billing], TRUST_DOMAIN, &[]).unwrap();
        Pki { dir, rogue }
    }

    /// The folder `vaultgate certs init` wrote to (re-run it there to reissue certificates).
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }
    pub fn ca_cert(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }
    pub fn server_cert(&self) -> PathBuf {
        self.dir.path().join("localhost.pem")
    }
    pub fn server_key(&self) -> PathBuf {
        self.dir.path().join("localhost-key.pem")
    }
    /// (certificate, key) of a service, e.g. `client("acme/billing")`.
    pub fn client(&self, service: &str) -> (PathBuf, PathBuf) {
        let stem = service.replace('/', "-");
        (
            self.dir.path().join(format!("{stem}.pem")),
            self.dir.path().join(format!("{stem}-key.pem")),
        )
    }
    /// A client certificate for `acme/billing` signed by a CA vaultgate does not trust.
    pub fn rogue_client(&self) -> (PathBuf, PathBuf) {
        (
            self.rogue.path().join("acme-billing.pem"),
            self.rogue.path().join("acme-billing-key.pem"),
        )
    }

    /// A reqwest client trusting the dev CA, presenting `identity` (cert, key) if given.
    pub fn http(&self, identity: Option<(PathBuf, PathBuf)>) -> reqwest::Client {
        let ca = reqwest::Certificate::from_pem(&std::fs::read(self.ca_cert()).unwrap()).unwrap();
        let mut b = reqwest::Client::builder()
            .use_rustls_tls()
            .add_root_certificate(ca)
            .tls_info(true)
            .redirect(reqwest::redirect::Policy::none());
        if let Some((cert, key)) = identity {
            let mut pem = std::fs::read(cert).unwrap();
            pem.extend(std::fs::read(key).unwrap());
            b = b.identity(reqwest::Identity::from_pem(&pem).unwrap());
        }
        b.build().unwrap()
    }

    /// A client for a configured service.
    pub fn client_for(&self, service: &str) -> reqwest::Client {
        self.http(Some(self.client(service)))
    }

    /// A rustls client configuration as `service`, offering `alpn` (e.g. `b"h2"`); reuse
    /// one to resume TLS sessions.
    pub fn tls_config(
        &self,
        service: &str,
        alpn: &[u8],
    ) -> std::sync::Arc<tokio_rustls::rustls::ClientConfig> {
        use tokio_rustls::rustls;

        let mut roots = rustls::RootCertStore::empty();
        for c in vaultgate::pem::read_certs(&self.ca_cert()).unwrap() {
            roots.add(c).unwrap();
        }
        let (cert, key) = self.client(service);
        let chain = vaultgate::pem::read_certs(&cert).unwrap();
        let key = vaultgate::pem::read_key(&key).unwrap();
        let mut config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .unwrap();
        config.alpn_protocols = vec![alpn.to_vec()];
        std::sync::Arc::new(config)
    }

    /// A raw mTLS connection as `service`, offering `alpn`, for tests that write protocol
    /// bytes themselves.
    pub async fn connect_raw(
        &self,
        service: &str,
        address: &str,
        alpn: &[u8],
    ) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
        connect_with(self.tls_config(service, alpn), address).await
    }
}

/// A TLS connection to `address` (certificate name `localhost`) with `config`.
pub async fn connect_with(
    config: std::sync::Arc<tokio_rustls::rustls::ClientConfig>,
    address: &str,
) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    let connector = tokio_rustls::TlsConnector::from(config);
    let tcp = tokio::net::TcpStream::connect(address).await.unwrap();
    let name = tokio_rustls::rustls::pki_types::ServerName::try_from("localhost").unwrap();
    connector.connect(name, tcp).await.unwrap()
}
