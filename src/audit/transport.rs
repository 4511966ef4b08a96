//! The sockets the network and syslog sinks ship through: TCP, TLS over TCP, a Unix stream
//! socket, and the local syslog datagram socket. Blocking I/O: the shipper is a thread.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

use super::syslog::{first_frame, SyslogTls};

/// A collector that stops reading without closing is given up on (and reconnected) after
/// this, rather than holding the shipper forever while the spill fills.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Where a shipper connects, with what it needs to do so.
#[derive(Clone)]
pub(super) enum Endpoint {
    Tcp(String),
    Tls {
        address: String,
        name: ServerName<'static>,
        config: Arc<rustls::ClientConfig>,
    },
    UnixStream(PathBuf),
    /// Frames from the spill are sent one message per datagram, without their length.
    UnixDatagram(PathBuf),
}

impl Endpoint {
    /// A `tls://` endpoint; fails (at startup) when a certificate or key cannot be read.
    pub(super) fn tls(address: &str, tls: &SyslogTls) -> std::io::Result<Endpoint> {
        let bad = |file: &Path, problem: String| {
            std::io::Error::other(format!("{}: {problem}", file.display()))
        };
        let mut roots = rustls::RootCertStore::empty();
        for cert in read_certs(&tls.ca_cert)? {
            roots
                .add(cert)
                .map_err(|e| bad(&tls.ca_cert, e.to_string()))?;
        }
        let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(std::io::Error::other)?
        .with_root_certificates(roots);
        let config = match &tls.client_identity {
            None => builder.with_no_client_auth(),
            Some((cert, key)) => {
                let chain = read_certs(cert)?;
                let key = PrivateKeyDer::from_pem_file(key)
                    .map_err(|e| bad(key, format!("no PEM private key: {e}")))?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| bad(cert, e.to_string()))?
            }
        };
        let name = ServerName::try_from(tls.server_name.clone()).map_err(|e| {
            std::io::Error::other(format!("server name {:?}: {e}", tls.server_name))
        })?;
        Ok(Endpoint::Tls {
            address: address.to_owned(),
            name,
            config: Arc::new(config),
        })
    }
}

fn read_certs(file: &Path) -> std::io::Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(file)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| std::io::Error::other(format!("{}: {e}", file.display())))?;
    if certs.is_empty() {
        return Err(std::io::Error::other(format!(
            "{}: contains no PEM certificate",
            file.display()
        )));
    }
    Ok(certs)
}

pub(super) enum Conn {
    Tcp(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
    Unix(UnixStream),
    Datagram(UnixDatagram),
}

fn tcp(address: &str) -> std::io::Result<TcpStream> {
    let mut last = std::io::Error::other(format!("{address} resolves to no address"));
    for addr in address.to_socket_addrs()? {
        match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
            Ok(s) => {
                s.set_nodelay(true)?;
                s.set_write_timeout(Some(WRITE_TIMEOUT))?;
                return Ok(s);
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}

impl Conn {
    pub(super) fn connect(endpoint: &Endpoint) -> std::io::Result<Conn> {
        Ok(match endpoint {
            Endpoint::Tcp(a) => Conn::Tcp(tcp(a)?),
            Endpoint::Tls {
                address,
                name,
                config,
            } => {
                let sock = tcp(address)?;
                sock.set_read_timeout(Some(CONNECT_TIMEOUT))?;
                let tls = rustls::ClientConnection::new(config.clone(), name.clone())
                    .map_err(std::io::Error::other)?;
                let mut stream = rustls::StreamOwned::new(tls, sock);
                // The handshake now, so a certificate problem is reported as a failed connect.
                while stream.conn.is_handshaking() {
                    stream.conn.complete_io(&mut stream.sock)?;
                }
                stream.sock.set_read_timeout(None)?;
                Conn::Tls(Box::new(stream))
            }
            Endpoint::UnixStream(p) => {
                let s = UnixStream::connect(p)?;
                s.set_write_timeout(Some(WRITE_TIMEOUT))?;
                Conn::Unix(s)
            }
            Endpoint::UnixDatagram(p) => {
                let s = UnixDatagram::unbound()?;
                s.connect(p)?;
                s.set_write_timeout(Some(WRITE_TIMEOUT))?;
                Conn::Datagram(s)
            }
        })
    }

    fn set_nonblocking(&self, on: bool) -> std::io::Result<()> {
        match self {
            Conn::Tcp(s) => s.set_nonblocking(on),
            Conn::Tls(s) => s.sock.set_nonblocking(on),
            Conn::Unix(s) => s.set_nonblocking(on),
            Conn::Datagram(s) => s.set_nonblocking(on),
        }
    }

    /// Whether the collector closed its end. Checked before each write: writing into a
    /// socket the peer has closed "succeeds" and the bytes vanish. Anything the collector
    /// sends is read and ignored (neither protocol has replies). A datagram socket has no
    /// such state: a gone receiver fails the send itself.
    pub(super) fn peer_closed(&mut self) -> bool {
        if matches!(self, Conn::Datagram(_)) {
            return false;
        }
        if self.set_nonblocking(true).is_err() {
            return true;
        }
        let mut buf = [0u8; 512];
        let closed = loop {
            let read = match self {
                Conn::Tcp(s) => s.read(&mut buf),
                Conn::Tls(s) => s.read(&mut buf),
                Conn::Unix(s) => s.read(&mut buf),
                Conn::Datagram(_) => break false,
            };
            match read {
                Ok(0) => break true,
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break false,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => break true,
            }
        };
        closed || self.set_nonblocking(false).is_err()
    }

    /// Sends `chunk`; returns how many of its bytes the collector took (to be dropped from
    /// the spill) and whether the connection is still good. A stream takes the chunk whole or
    /// is redone whole; a datagram socket takes complete frames one by one.
    pub(super) fn send(&mut self, chunk: &[u8]) -> (usize, std::io::Result<()>) {
        fn whole(w: &mut impl Write, chunk: &[u8]) -> (usize, std::io::Result<()>) {
            match w.write_all(chunk).and_then(|()| w.flush()) {
                Ok(()) => (chunk.len(), Ok(())),
                Err(e) => (0, Err(e)),
            }
        }
        match self {
            Conn::Tcp(s) => whole(s, chunk),
            Conn::Tls(s) => whole(s, chunk),
            Conn::Unix(s) => whole(s, chunk),
            Conn::Datagram(s) => {
                let mut taken = 0;
                while let Some((message, used)) = first_frame(&chunk[taken..]) {
                    if let Err(e) = s.send(message) {
                        return (taken, Err(e));
                    }
                    taken += used;
                }
                (taken, Ok(()))
            }
        }
    }
}
