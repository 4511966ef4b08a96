//! The syslog sink's message form: each audit record as the MSG of one RFC 5424 message
//! (header by `syslog_fmt`), octet-counted as RFC 6587 frames TCP syslog, and where the
//! collector listens (`tcp://`, `tls://`, or the local datagram socket `unix:`).

use std::io::Write;
use std::path::PathBuf;

use memchr::memmem;
use syslog_fmt::{v5424, Facility, Severity};

/// Where the collector listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyslogTarget {
    /// `tcp://host:port`: RFC 6587 octet-counted frames over TCP.
    Tcp(String),
    /// `tls://host:port`: the same frames inside TLS (RFC 5425).
    Tls(String),
    /// `unix:/dev/log`: one message per datagram on the local syslog socket.
    Unix(PathBuf),
}

impl SyslogTarget {
    /// Parses the `[audit.syslog] address` value; `None` when it is none of the three forms.
    pub fn parse(text: &str) -> Option<SyslogTarget> {
        let host_port = |addr: &str| {
            let (host, port) = addr.rsplit_once(':')?;
            (!host.is_empty() && port.parse::<u16>().is_ok()).then(|| addr.to_owned())
        };
        if let Some(addr) = text.strip_prefix("tcp://") {
            host_port(addr).map(SyslogTarget::Tcp)
        } else if let Some(addr) = text.strip_prefix("tls://") {
            host_port(addr).map(SyslogTarget::Tls)
        } else {
            let path = text.strip_prefix("unix:")?;
            (!path.is_empty()).then(|| SyslogTarget::Unix(PathBuf::from(path)))
        }
    }

    /// The host a `tls://` certificate is checked against (without brackets for IPv6).
    pub fn tls_host(&self) -> Option<&str> {
        match self {
            SyslogTarget::Tls(addr) => addr
                .rsplit_once(':')
                .map(|(host, _)| host.trim_start_matches('[').trim_end_matches(']')),
            _ => None,
        }
    }
}

impl std::fmt::Display for SyslogTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SyslogTarget::Tcp(a) => write!(f, "syslog tcp://{a}"),
            SyslogTarget::Tls(a) => write!(f, "syslog tls://{a}"),
            SyslogTarget::Unix(p) => write!(f, "syslog unix:{}", p.display()),
        }
    }
}

/// TLS towards a `tls://` collector: the CA that signed its certificate, and optionally a
/// client certificate for collectors that ask for one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyslogTls {
    pub ca_cert: PathBuf,
    /// The name the collector's certificate must carry; the address's host by default.
    pub server_name: String,
    pub client_identity: Option<(PathBuf, PathBuf)>,
}

/// A syslog sink's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyslogSinkConfig {
    pub target: SyslogTarget,
    /// Required for `tls://`, unused otherwise.
    pub tls: Option<SyslogTls>,
    /// One of RFC 5424's facility names (`auth`, `local0`, ...).
    pub facility: String,
    /// The APP-NAME field.
    pub tag: String,
    /// The most bytes held while the collector is away; beyond it this sink refuses records.
    pub spill_bytes: usize,
}

/// The facility for a name as syslog.conf writes it (any case, as Vault's `facility`
/// option takes `AUTH`); `None` for an unknown name.
pub fn facility(name: &str) -> Option<Facility> {
    Some(match name.to_ascii_lowercase().as_str() {
        "kern" => Facility::Kern,
        "user" => Facility::User,
        "mail" => Facility::Mail,
        "daemon" => Facility::Daemon,
        "auth" => Facility::Auth,
        "syslog" => Facility::Syslog,
        "lpr" => Facility::Lpr,
        "news" => Facility::News,
        "uucp" => Facility::Uucp,
        "cron" => Facility::Cron,
        "authpriv" => Facility::Authpriv,
        "ftp" => Facility::Ftp,
        "local0" => Facility::Local0,
        "local1" => Facility::Local1,
        "local2" => Facility::Local2,
        "local3" => Facility::Local3,
        "local4" => Facility::Local4,
        "local5" => Facility::Local5,
        "local6" => Facility::Local6,
        "local7" => Facility::Local7,
        _ => return None,
    })
}

/// Whether `tag` is a valid APP-NAME: 1 to 48 printable US-ASCII characters, no space.
pub fn valid_tag(tag: &str) -> bool {
    (1..=48).contains(&tag.len()) && tag.bytes().all(|b| (33..=126).contains(&b))
}

/// The largest message this sink sends. A bigger record is refused rather than cut, so a
/// collector never stores half a JSON object; a local datagram socket could not carry more.
pub const MAX_MESSAGE: usize = 64 * 1024;

/// Turns batches of JSON lines into octet-counted RFC 5424 messages.
#[derive(Debug)]
pub(super) struct Framer {
    header: v5424::Formatter,
}

impl Framer {
    pub(super) fn new(config: &SyslogSinkConfig) -> Framer {
        let hostname = hostname();
        let pid = std::process::id().to_string();
        let header = v5424::Config {
            facility: facility(&config.facility).unwrap_or(Facility::Auth),
            hostname: Some(&hostname),
            app_name: Some(&config.tag),
            proc_id: Some(&pid),
        }
        .into_formatter();
        Framer { header }
    }

    /// Appends one frame per line of `batch` to `out`: `LEN SP <PRI>1 TIMESTAMP HOSTNAME
    /// APP-NAME PROCID MSGID - JSON`. MSGID is the record's `type` (`request` or `event`).
    /// Nothing is appended when a record is too large, so a batch is taken whole or not at all.
    pub(super) fn frame(&self, batch: &[u8], out: &mut Vec<u8>) -> std::io::Result<()> {
        let timestamp = timestamp();
        let start = out.len();
        let mut message = Vec::with_capacity(1024);
        for line in batch.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            message.clear();
            // Records open with version, time and type: the type is within the first bytes.
            let head = &line[..line.len().min(96)];
            let msg_id = if memmem::find(head, br#""type":"event""#).is_some() {
                "event"
            } else {
                "request"
            };
            // Bytes, not &str: a UTF-8 MSG would get a BOM, which JSON readers choke on.
            self.header.write_without_data(
                &mut message,
                Severity::Info,
                timestamp.as_str(),
                line,
                Some(msg_id),
            )?;
            if message.len() > MAX_MESSAGE {
                out.truncate(start);
                return Err(std::io::Error::other(format!(
                    "a record of {} bytes exceeds the syslog message limit ({MAX_MESSAGE})",
                    message.len()
                )));
            }
            write!(out, "{} ", message.len())?;
            out.extend_from_slice(&message);
        }
        Ok(())
    }
}

/// The first frame of `bytes`: (its message, the bytes the frame takes); `None` while the
/// frame is incomplete. Frames come from [`Framer::frame`], so a malformed one cannot occur.
pub(super) fn first_frame(bytes: &[u8]) -> Option<(&[u8], usize)> {
    let space = memchr::memchr(b' ', &bytes[..bytes.len().min(12)])?;
    let len: usize = std::str::from_utf8(&bytes[..space]).ok()?.parse().ok()?;
    let end = space + 1 + len;
    (bytes.len() >= end).then(|| (&bytes[space + 1..end], end))
}

/// RFC 5424 TIMESTAMP: RFC 3339 in UTC with microseconds (the most the RFC allows).
fn timestamp() -> String {
    let now = time::OffsetDateTime::now_utc();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second(),
        now.microsecond()
    )
}

/// HOSTNAME: the kernel's host name, printable ASCII only; `-` (NILVALUE) when unknown.
fn hostname() -> String {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let name: String = name
        .trim()
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(255)
        .collect();
    if name.is_empty() {
        "-".to_owned()
    } else {
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framer(facility: &str, tag: &str) -> Framer {
        Framer::new(&SyslogSinkConfig {
            target: SyslogTarget::Tcp("127.0.0.1:514".into()),
            tls: None,
            facility: facility.into(),
            tag: tag.into(),
            spill_bytes: 1024,
        })
    }

    #[test]
    fn targets_parse() {
        assert_eq!(
            SyslogTarget::parse("tcp://127.0.0.1:514"),
            Some(SyslogTarget::Tcp("127.0.0.1:514".into()))
        );
        let tls = SyslogTarget::parse("tls://[::1]:6514").unwrap();
        assert_eq!(tls.tls_host(), Some("::1"));
        assert_eq!(
            SyslogTarget::parse("unix:/dev/log"),
            Some(SyslogTarget::Unix("/dev/log".into()))
        );
        for bad in ["udp://x:514", "tcp://x", "tls://:1", "unix:", "/dev/log"] {
            assert_eq!(SyslogTarget::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn each_line_becomes_one_octet_counted_rfc5424_message() {
        let f = framer("auth", "vaultgate");
        let batch = b"{\"version\":1,\"time\":\"t\",\"type\":\"request\",\"x\":\"\xc3\xa9\"}\n\
                      {\"version\":1,\"time\":\"t\",\"type\":\"event\"}\n";
        let mut out = Vec::new();
        f.frame(batch, &mut out).unwrap();
        let (first, used) = first_frame(&out).unwrap();
        let (second, rest) = first_frame(&out[used..]).unwrap();
        assert_eq!(used + rest, out.len(), "two frames and nothing else");
        let text = String::from_utf8(first.to_vec()).unwrap();
        // auth (4) * 8 + info (6) = 38; version 1.
        assert!(text.starts_with("<38>1 "), "{text}");
        let fields: Vec<&str> = text.splitn(8, ' ').collect();
        assert!(fields[1].ends_with('Z') && fields[1].len() == 27, "{text}");
        assert_eq!(fields[3], "vaultgate");
        assert_eq!(fields[4], std::process::id().to_string());
        assert_eq!((fields[5], fields[6]), ("request", "-"));
        // The JSON record follows unchanged, with no BOM.
        assert_eq!(
            fields[7].as_bytes(),
            &batch[..batch.iter().position(|b| *b == b'\n').unwrap()]
        );
        let second = String::from_utf8(second.to_vec()).unwrap();
        assert!(second.contains(" event - {"), "{second}");
        // local7 (23) * 8 + 6 = 190.
        let mut out = Vec::new();
        framer("local7", "x").frame(batch, &mut out).unwrap();
        assert!(first_frame(&out).unwrap().0.starts_with(b"<190>1 "));
    }

    #[test]
    fn the_length_prefix_counts_bytes_and_incomplete_frames_wait() {
        let mut out = Vec::new();
        framer("auth", "v")
            .frame("{\"é\":\"ü\"}\n".as_bytes(), &mut out)
            .unwrap();
        let (msg, used) = first_frame(&out).unwrap();
        let prefix: usize =
            std::str::from_utf8(&out[..out.iter().position(|b| *b == b' ').unwrap()])
                .unwrap()
                .parse()
                .unwrap();
        assert_eq!(prefix, msg.len());
        assert_eq!(used, out.len());
        assert_eq!(first_frame(&out[..out.len() - 1]), None);
        assert_eq!(first_frame(b"12"), None);
    }

    #[test]
    fn an_oversized_record_refuses_the_whole_batch() {
        let f = framer("auth", "v");
        let mut out = b"kept".to_vec();
        let big = format!("{{\"a\":1}}\n{{\"b\":\"{}\"}}\n", "x".repeat(MAX_MESSAGE));
        assert!(f.frame(big.as_bytes(), &mut out).is_err());
        assert_eq!(out, b"kept");
    }

    #[test]
    fn facilities_and_tags() {
        assert_eq!(facility("auth").map(|f| f as u8), Some(4 << 3));
        assert_eq!(facility("LOCAL0").map(|f| f as u8), Some(16 << 3));
        assert!(facility("security").is_none());
        assert!(valid_tag("vaultgate") && !valid_tag("") && !valid_tag("a b"));
        assert!(!valid_tag(&"a".repeat(49)));
    }
}
