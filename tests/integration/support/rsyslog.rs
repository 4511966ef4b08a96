//! `Rsyslog`: a real rsyslogd (Debian's package) run unprivileged with its own config in a
//! temp dir: `imtcp` on a free loopback port (plain or TLS) and `imuxsock` on a socket of its
//! own, writing each message it receives as one line of header fields and MSG to a file.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How the collector listens.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Listen {
    Tcp,
    /// TLS with the given PKI's server certificate (rsyslog's gtls driver).
    Tls,
}

pub struct Rsyslog {
    child: Option<Child>,
    pub port: u16,
    pub dir: tempfile::TempDir,
    conf: PathBuf,
}

/// One received message: the fields rsyslog parsed out of the RFC 5424 header, and MSG.
#[derive(Debug)]
pub struct Received {
    pub facility: String,
    pub severity: String,
    pub app_name: String,
    pub procid: String,
    pub msgid: String,
    pub structured_data: String,
    pub msg: String,
}

fn rsyslogd() -> PathBuf {
    let bin = PathBuf::from("/usr/sbin/rsyslogd");
    assert!(
        bin.exists(),
        "rsyslogd not found: scripts/test.sh installs Debian's rsyslog and rsyslog-gnutls \
         (scripts/install-rsyslog.sh, as root)"
    );
    bin
}

impl Rsyslog {
    /// Starts rsyslogd and waits until its TCP port accepts connections. With `Listen::Tls`
    /// it presents `cert`/`key` (for 127.0.0.1) signed by `ca`.
    pub async fn start(listen: Listen, tls: Option<(&Path, &Path, &Path)>) -> Rsyslog {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("rsyslog.conf");
        let mut rsyslog = Rsyslog {
            child: None,
            port: super::openbao::free_port(),
            dir,
            conf,
        };
        rsyslog.write_conf(listen, tls);
        rsyslog.restart().await;
        rsyslog
    }

    fn write_conf(&self, listen: Listen, tls: Option<(&Path, &Path, &Path)>) {
        let d = self.dir.path().display();
        let (global_tls, driver) = match (listen, tls) {
            (Listen::Tls, Some((ca, cert, key))) => (
                format!(
                    "global(DefaultNetstreamDriverCAFile=\"{}\" \
                     DefaultNetstreamDriverCertFile=\"{}\" \
                     DefaultNetstreamDriverKeyFile=\"{}\")\n",
                    ca.display(),
                    cert.display(),
                    key.display()
                ),
                " StreamDriver.Name=\"gtls\" StreamDriver.Mode=\"1\" \
                 StreamDriver.AuthMode=\"anon\""
                    .to_owned(),
            ),
            (Listen::Tls, None) => panic!("TLS needs (ca, cert, key)"),
            (Listen::Tcp, _) => (String::new(), String::new()),
        };
        // Records are bigger than rsyslog's default 8 KiB message limit allows for in theory.
        let conf = format!(
            "global(workDirectory=\"{d}\" maxMessageSize=\"64k\")\n{global_tls}\
             module(load=\"imtcp\"{driver})\n\
             input(type=\"imtcp\" port=\"{port}\" address=\"127.0.0.1\")\n\
             module(load=\"imuxsock\" SysSock.Use=\"off\")\n\
             input(type=\"imuxsock\" Socket=\"{d}/log.sock\" UseSpecialParser=\"off\" \
             ParseHostname=\"on\")\n\
             template(name=\"rec\" type=\"string\" string=\"%syslogfacility-text% \
             %syslogseverity-text% %app-name% %procid% %msgid% %structured-data% %msg%\\n\")\n\
             action(type=\"omfile\" file=\"{d}/received.log\" template=\"rec\")\n",
            port = self.port,
        );
        std::fs::write(&self.conf, conf).unwrap();
    }

    /// The local datagram socket (`imuxsock`).
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("log.sock")
    }

    /// Starts (again) on the same port and socket, and waits until both are there.
    pub async fn restart(&mut self) {
        assert!(self.child.is_none(), "already running");
        let log = std::fs::File::create(self.dir.path().join("rsyslogd.out")).unwrap();
        let child = Command::new(rsyslogd())
            .arg("-n")
            .arg("-f")
            .arg(&self.conf)
            .arg("-i")
            .arg(self.dir.path().join("rsyslogd.pid"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start rsyslogd");
        self.child = Some(child);
        let started = Instant::now();
        loop {
            let tcp = std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok();
            if tcp && self.socket().exists() {
                return;
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                panic!("rsyslogd exited ({status}): {}", self.output());
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "rsyslogd did not listen within 20 s: {}",
                self.output()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops rsyslogd as a service manager does (SIGTERM: it writes out its queue) and
    /// waits for it to exit.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
        child.wait().unwrap();
    }

    /// What rsyslogd itself printed (errors about its config, TLS, ...).
    pub fn output(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("rsyslogd.out")).unwrap_or_default()
    }

    /// Every message received so far, in order.
    pub fn received(&self) -> Vec<Received> {
        let text =
            std::fs::read_to_string(self.dir.path().join("received.log")).unwrap_or_default();
        text.lines()
            .filter_map(|line| {
                let mut f = line.splitn(7, ' ');
                Some(Received {
                    facility: f.next()?.to_owned(),
                    severity: f.next()?.to_owned(),
                    app_name: f.next()?.to_owned(),
                    procid: f.next()?.to_owned(),
                    msgid: f.next()?.to_owned(),
                    structured_data: f.next()?.to_owned(),
                    msg: f.next()?.to_owned(),
                })
            })
            .collect()
    }

    /// Waits (bounded) until at least `n` messages arrived; returns them all.
    pub async fn wait_for(&self, n: usize, limit: Duration) -> Vec<Received> {
        let started = Instant::now();
        loop {
            let got = self.received();
            if got.len() >= n || started.elapsed() > limit {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
