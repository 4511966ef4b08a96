//! Listening sockets and the streams they accept, TCP or Unix, for the service listeners and
//! the admin listener alike.

use std::net::IpAddr;

use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};

use crate::config::Bind;

/// A bound TCP or Unix listening socket.
#[derive(Debug)]
pub enum Socket {
    Tcp(TcpListener),
    Unix(UnixListener),
}

/// One accepted connection.
#[derive(Debug)]
pub enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

#[derive(Debug, thiserror::Error)]
#[error("listener {bind}: cannot bind: {source}")]
pub struct BindError {
    pub bind: String,
    pub source: std::io::Error,
}

/// Binds `bind` and returns the socket with its printable address (`ip:port` with the real
/// port when bound to port 0, or `unix:<path>`).
pub async fn bind(bind: &Bind) -> Result<(Socket, String), BindError> {
    match bind {
        Bind::Tcp(addr) => {
            let err = |source| BindError {
                bind: addr.to_string(),
                source,
            };
            let l = TcpListener::bind(addr).await.map_err(err)?;
            let local = l
                .local_addr()
                .map_or_else(|_| addr.to_string(), |a| a.to_string());
            Ok((Socket::Tcp(l), local))
        }
        Bind::Unix { path, mode } => {
            let err = |source| BindError {
                bind: path.display().to_string(),
                source,
            };
            // A stale socket file from a previous run would make bind fail.
            if path.exists() {
                std::fs::remove_file(path).map_err(err)?;
            }
            let l = UnixListener::bind(path).map_err(err)?;
            if let Some(m) = mode {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(*m)).map_err(err)?;
            }
            Ok((Socket::Unix(l), format!("unix:{}", path.display())))
        }
    }
}

impl Socket {
    /// The next connection with its peer (`ip:port`, or `unix`) and the peer's address.
    pub async fn accept(&self) -> std::io::Result<(Stream, String, Option<IpAddr>)> {
        match self {
            Socket::Tcp(l) => {
                let (s, peer) = l.accept().await?;
                let _ = s.set_nodelay(true);
                Ok((Stream::Tcp(s), peer.to_string(), Some(peer.ip())))
            }
            Socket::Unix(l) => {
                let (s, _) = l.accept().await?;
                Ok((Stream::Unix(s), "unix".to_owned(), None))
            }
        }
    }
}

impl Stream {
    /// Whether the peer has sent something already (a peek; nothing is consumed).
    pub fn has_bytes(&self) -> bool {
        let mut probe = [std::mem::MaybeUninit::<u8>::uninit(); 1];
        let peeked = match self {
            Stream::Tcp(s) => socket2::SockRef::from(s).peek(&mut probe),
            Stream::Unix(s) => socket2::SockRef::from(s).peek(&mut probe),
        };
        matches!(peeked, Ok(n) if n > 0)
    }

    /// Waits until the peer has sent something (or closed) and copies up to `buf.len()` of
    /// its first bytes without consuming them: a TCP peek may return fewer than sent so far,
    /// and on a Unix socket only the wait happens (0 copied).
    pub async fn first_bytes(&self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.peek(buf).await,
            Stream::Unix(s) => s.readable().await.map(|()| 0),
        }
    }
}
