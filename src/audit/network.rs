//! The network sink: JSON lines to a SIEM collector over TCP or a Unix socket. Records are
//! accepted into a bounded in-memory spill; a shipper thread sends them, reconnecting with
//! backoff, and drops bytes from the spill only after the socket took them.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

/// Where the collector listens: `tcp://host:port` or `unix:/path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetworkTarget {
    Tcp(String),
    Unix(PathBuf),
}

impl NetworkTarget {
    /// Parses the `network` value; `None` when it is neither form.
    pub fn parse(text: &str) -> Option<NetworkTarget> {
        if let Some(addr) = text.strip_prefix("tcp://") {
            let (host, port) = addr.rsplit_once(':')?;
            (!host.is_empty() && port.parse::<u16>().is_ok())
                .then(|| NetworkTarget::Tcp(addr.to_owned()))
        } else {
            let path = text.strip_prefix("unix:")?;
            (!path.is_empty()).then(|| NetworkTarget::Unix(PathBuf::from(path)))
        }
    }
}

impl std::fmt::Display for NetworkTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NetworkTarget::Tcp(a) => write!(f, "tcp://{a}"),
            NetworkTarget::Unix(p) => write!(f, "unix:{}", p.display()),
        }
    }
}

/// A network sink's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkSinkConfig {
    pub target: NetworkTarget,
    /// The most bytes held while the collector is away; beyond it this sink refuses records.
    pub spill_bytes: usize,
}

/// Bytes not yet taken by the collector, shared by the writer (producer) and the shipper.
#[derive(Debug, Default)]
struct Spill {
    bytes: VecDeque<u8>,
    /// The writer is gone: ship what is left, then stop.
    closed: bool,
}

type Shared = Arc<(Mutex<Spill>, Condvar)>;

/// Read-only view of a network sink's spill.
#[derive(Debug, Clone)]
pub(super) struct SpillHandle(Shared);

impl SpillHandle {
    pub(super) fn is_empty(&self) -> bool {
        let (lock, _) = &*self.0;
        lock.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .bytes
            .is_empty()
    }
}

#[derive(Debug)]
pub(super) struct NetworkSink {
    shared: Shared,
    config: NetworkSinkConfig,
}

/// The most bytes handed to the socket in one write.
const CHUNK: usize = 256 * 1024;
const BACKOFF_START: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_secs(2);
/// A collector that stops reading without closing is given up on (and reconnected) after
/// this, rather than holding the shipper forever while the spill fills.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// After the writer is gone, delivery of the rest is tried for this long.
const DRAIN_ON_CLOSE: Duration = Duration::from_secs(10);

impl NetworkSink {
    /// Starts the shipper thread. The collector need not be up yet: records wait in the spill.
    pub(super) fn start(config: NetworkSinkConfig) -> std::io::Result<NetworkSink> {
        let shared: Shared = Arc::default();
        let (s, target) = (shared.clone(), config.target.clone());
        std::thread::Builder::new()
            .name("audit-shipper".into())
            .spawn(move || ship(&s, &target))?;
        Ok(NetworkSink { shared, config })
    }

    pub(super) fn name(&self) -> String {
        self.config.target.to_string()
    }

    /// A handle to see, at shutdown, whether the collector has taken everything.
    pub(super) fn spill(&self) -> SpillHandle {
        SpillHandle(self.shared.clone())
    }

    /// Accepts the batch into the spill, or refuses it whole when the spill is full.
    pub(super) fn write(&mut self, batch: &[u8]) -> std::io::Result<()> {
        let (lock, ready) = &*self.shared;
        let mut spill = lock.lock().unwrap_or_else(PoisonError::into_inner);
        if spill.bytes.len() + batch.len() > self.config.spill_bytes {
            return Err(std::io::Error::other(format!(
                "spill full ({} bytes) while the collector is unreachable",
                spill.bytes.len()
            )));
        }
        spill.bytes.extend(batch);
        ready.notify_one();
        Ok(())
    }
}

impl Drop for NetworkSink {
    fn drop(&mut self) {
        let (lock, ready) = &*self.shared;
        lock.lock().unwrap_or_else(PoisonError::into_inner).closed = true;
        ready.notify_one();
    }
}

enum Conn {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Conn {
    fn connect(target: &NetworkTarget) -> std::io::Result<Conn> {
        Ok(match target {
            NetworkTarget::Tcp(a) => {
                let s = TcpStream::connect(a)?;
                s.set_nodelay(true)?;
                s.set_write_timeout(Some(WRITE_TIMEOUT))?;
                Conn::Tcp(s)
            }
            NetworkTarget::Unix(p) => {
                let s = UnixStream::connect(p)?;
                s.set_write_timeout(Some(WRITE_TIMEOUT))?;
                Conn::Unix(s)
            }
        })
    }

    fn set_nonblocking(&self, on: bool) -> std::io::Result<()> {
        match self {
            Conn::Tcp(s) => s.set_nonblocking(on),
            Conn::Unix(s) => s.set_nonblocking(on),
        }
    }

    /// Whether the collector closed its end. Checked before each write: writing into a
    /// socket the peer has closed "succeeds" and the bytes vanish. Anything the collector
    /// sends is read and ignored (the protocol has no replies).
    fn peer_closed(&mut self) -> bool {
        if self.set_nonblocking(true).is_err() {
            return true;
        }
        let mut buf = [0u8; 512];
        let closed = loop {
            match self.read(&mut buf) {
                Ok(0) => break true,
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break false,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => break true,
            }
        };
        closed || self.set_nonblocking(false).is_err()
    }
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Conn::Tcp(s) => s.read(buf),
            Conn::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Conn::Tcp(s) => s.write(buf),
            Conn::Unix(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Conn::Tcp(s) => s.flush(),
            Conn::Unix(s) => s.flush(),
        }
    }
}

/// The shipper loop: wait for bytes, (re)connect, send a chunk, drop it from the spill.
fn ship(shared: &Shared, target: &NetworkTarget) {
    let (lock, ready) = &**shared;
    let mut conn: Option<Conn> = None;
    let mut backoff = BACKOFF_START;
    let mut closed_at: Option<std::time::Instant> = None;
    loop {
        let chunk: Vec<u8> = {
            let mut spill = lock.lock().unwrap_or_else(PoisonError::into_inner);
            while spill.bytes.is_empty() && !spill.closed {
                spill = ready.wait(spill).unwrap_or_else(PoisonError::into_inner);
            }
            if spill.bytes.is_empty() {
                return;
            }
            if spill.closed {
                let since = *closed_at.get_or_insert_with(std::time::Instant::now);
                if since.elapsed() > DRAIN_ON_CLOSE {
                    tracing::error!(sink = %target, bytes = spill.bytes.len(),
                        "audit spill not delivered before shutdown");
                    return;
                }
            }
            let (front, back) = spill.bytes.as_slices();
            let mut chunk = front[..front.len().min(CHUNK)].to_vec();
            chunk.extend_from_slice(&back[..back.len().min(CHUNK - chunk.len())]);
            chunk
        };
        if conn.as_mut().is_some_and(Conn::peer_closed) {
            conn = None;
        }
        let live = match conn.as_mut() {
            Some(c) => Some(c),
            None => match Conn::connect(target) {
                Ok(c) => {
                    tracing::info!(sink = %target, "audit collector connected");
                    Some(conn.insert(c))
                }
                Err(_) => None,
            },
        };
        let sent = live.is_some_and(|c| c.write_all(&chunk).and_then(|()| c.flush()).is_ok());
        if sent {
            backoff = BACKOFF_START;
            let mut spill = lock.lock().unwrap_or_else(PoisonError::into_inner);
            spill.bytes.drain(..chunk.len());
        } else {
            if conn.take().is_some() || backoff == BACKOFF_START {
                tracing::warn!(sink = %target, "audit collector unreachable; spilling");
            }
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse() {
        assert_eq!(
            NetworkTarget::parse("tcp://127.0.0.1:9000"),
            Some(NetworkTarget::Tcp("127.0.0.1:9000".into()))
        );
        assert_eq!(
            NetworkTarget::parse("unix:/run/v.sock"),
            Some(NetworkTarget::Unix("/run/v.sock".into()))
        );
        for bad in ["tcp://host", "udp://x:1", "unix:", "/tmp/x", "tcp://:1"] {
            assert_eq!(NetworkTarget::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_full_spill_refuses_and_a_collector_drains_it() {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("c.sock");
        let mut sink = NetworkSink::start(NetworkSinkConfig {
            target: NetworkTarget::Unix(sock.clone()),
            spill_bytes: 10,
        })
        .unwrap();
        sink.write(b"abcd\n").unwrap();
        sink.write(b"efgh\n").unwrap();
        assert!(sink.write(b"x\n").is_err(), "the spill is bounded");
        let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        let (mut stream, _) = listener.accept().unwrap();
        let mut got = vec![0u8; 10];
        stream.read_exact(&mut got).unwrap();
        assert_eq!(got, b"abcd\nefgh\n");
    }
}
