//! The network sinks: JSON lines to a SIEM collector over TCP or a Unix socket, and RFC 5424
//! messages to a syslog collector. Records are accepted into a bounded in-memory spill; a
//! shipper thread sends them, reconnecting with backoff, and drops bytes from the spill only
//! after the socket took them.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

use super::syslog::{Framer, SyslogSinkConfig, SyslogTarget};
use super::transport::{Conn, Endpoint};

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

pub(super) struct NetworkSink {
    shared: Shared,
    name: String,
    spill_bytes: usize,
    /// Syslog sinks turn each line into a frame; JSON-lines sinks send the lines as they are.
    framer: Option<Framer>,
    /// The framed batch, reused.
    framed: Vec<u8>,
}

/// The most bytes handed to the socket in one write.
const CHUNK: usize = 256 * 1024;
const BACKOFF_START: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_secs(2);
/// After the writer is gone, delivery of the rest is tried for this long.
const DRAIN_ON_CLOSE: Duration = Duration::from_secs(10);

impl NetworkSink {
    /// Starts the shipper thread. The collector need not be up yet: records wait in the spill.
    pub(super) fn start(config: NetworkSinkConfig) -> std::io::Result<NetworkSink> {
        let endpoint = match &config.target {
            NetworkTarget::Tcp(a) => Endpoint::Tcp(a.clone()),
            NetworkTarget::Unix(p) => Endpoint::UnixStream(p.clone()),
        };
        let name = config.target.to_string();
        NetworkSink::spawn(name, endpoint, config.spill_bytes, None)
    }

    /// A syslog sink; fails when its TLS files cannot be read.
    pub(super) fn start_syslog(config: &SyslogSinkConfig) -> std::io::Result<NetworkSink> {
        let endpoint = match (&config.target, &config.tls) {
            (SyslogTarget::Tcp(a), _) => Endpoint::Tcp(a.clone()),
            (SyslogTarget::Unix(p), _) => Endpoint::UnixDatagram(p.clone()),
            (SyslogTarget::Tls(a), Some(tls)) => Endpoint::tls(a, tls)?,
            (SyslogTarget::Tls(_), None) => {
                return Err(std::io::Error::other("tls:// needs a CA certificate"))
            }
        };
        let framer = Framer::new(config);
        let name = config.target.to_string();
        NetworkSink::spawn(name, endpoint, config.spill_bytes, Some(framer))
    }

    fn spawn(
        name: String,
        endpoint: Endpoint,
        spill_bytes: usize,
        framer: Option<Framer>,
    ) -> std::io::Result<NetworkSink> {
        let shared: Shared = Arc::default();
        let (s, shipper_name) = (shared.clone(), name.clone());
        std::thread::Builder::new()
            .name("audit-shipper".into())
            .spawn(move || ship(&s, &endpoint, &shipper_name))?;
        Ok(NetworkSink {
            shared,
            name,
            spill_bytes,
            framer,
            framed: Vec::new(),
        })
    }

    pub(super) fn name(&self) -> String {
        self.name.clone()
    }

    /// A handle to see, at shutdown, whether the collector has taken everything.
    pub(super) fn spill(&self) -> SpillHandle {
        SpillHandle(self.shared.clone())
    }

    /// Accepts the batch into the spill, or refuses it whole when the spill is full.
    pub(super) fn write(&mut self, batch: &[u8]) -> std::io::Result<()> {
        let batch = match &self.framer {
            None => batch,
            Some(framer) => {
                self.framed.clear();
                framer.frame(batch, &mut self.framed)?;
                &self.framed
            }
        };
        let (lock, ready) = &*self.shared;
        let mut spill = lock.lock().unwrap_or_else(PoisonError::into_inner);
        if spill.bytes.len() + batch.len() > self.spill_bytes {
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

/// The shipper loop: wait for bytes, (re)connect, send a chunk, drop it from the spill.
fn ship(shared: &Shared, endpoint: &Endpoint, target: &str) {
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
        let mut failure: Option<std::io::Error> = None;
        if conn.as_mut().is_some_and(Conn::peer_closed) {
            conn = None;
        }
        let live = match conn.as_mut() {
            Some(c) => Some(c),
            None => match Conn::connect(endpoint) {
                Ok(c) => {
                    tracing::info!(sink = %target, "audit collector connected");
                    Some(conn.insert(c))
                }
                Err(e) => {
                    failure = Some(e);
                    None
                }
            },
        };
        let (taken, result) = match live {
            Some(c) => c.send(&chunk),
            None => (0, Ok(())),
        };
        if taken > 0 {
            let mut spill = lock.lock().unwrap_or_else(PoisonError::into_inner);
            spill.bytes.drain(..taken);
        }
        if let Err(e) = result {
            failure = Some(e);
        }
        if failure.is_none() && taken > 0 {
            backoff = BACKOFF_START;
        } else {
            if conn.take().is_some() || backoff == BACKOFF_START {
                let error = failure.map_or_else(|| "no frame sent".to_owned(), |e| e.to_string());
                tracing::warn!(sink = %target, %error, "audit collector unreachable; spilling");
            }
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

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
