//! `Moto`: a real moto server (the AWS mock from PyPI) on a free loopback port, the STS and IAM
//! of the `auth = "aws"` tests. Set-up calls go in unsigned while signatures are not required;
//! once `require_signatures` is called, moto checks every request's SigV4 signature against
//! the secret key of the access key it names, as AWS does. Killed on drop.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::openbao::free_port;

/// The account moto puts every IAM principal in.
pub const ACCOUNT: &str = "123456789012";

pub struct Moto {
    child: Child,
    port: u16,
    http: reqwest::Client,
    _log: tempfile::TempDir,
}

/// An IAM user's access key as moto issued it.
pub struct AccessKey {
    pub id: String,
    pub secret: String,
}

/// The folder moto is installed in (`scripts/install-moto.sh`, run when missing).
fn moto_dir() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let output = Command::new(root.join("scripts/install-moto.sh"))
        .stderr(Stdio::inherit())
        .output()
        .expect("run scripts/install-moto.sh");
    assert!(output.status.success(), "scripts/install-moto.sh failed");
    let stdout = String::from_utf8(output.stdout).unwrap();
    PathBuf::from(
        stdout
            .lines()
            .last()
            .expect("install-moto.sh printed no folder"),
    )
}

impl Moto {
    pub async fn start() -> Moto {
        let dir = moto_dir();
        let http = reqwest::Client::new();
        // A port picked free can be taken before moto binds it: retry.
        for _ in 0..5 {
            let port = free_port();
            let log = tempfile::tempdir().unwrap();
            let out = std::fs::File::create(log.path().join("moto.log")).unwrap();
            let child = Command::new(std::env::var("PYTHON").unwrap_or("python3".into()))
                .args([
                    "-m",
                    "moto.server",
                    "-H",
                    "127.0.0.1",
                    "-p",
                    &port.to_string(),
                ])
                .env("PYTHONPATH", &dir)
                .stdout(out.try_clone().unwrap())
                .stderr(out)
                .spawn()
                .expect("start moto");
            let mut moto = Moto {
                child,
                port,
                http: http.clone(),
                _log: log,
            };
            if moto.wait_up(Duration::from_secs(30)).await {
                return moto;
            }
        }
        panic!("moto did not start");
    }

    async fn wait_up(&mut self, limit: Duration) -> bool {
        let started = Instant::now();
        while started.elapsed() < limit {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            let url = format!("{}/moto-api/", self.url());
            if self.http.get(&url).send().await.is_ok() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }

    /// `http://127.0.0.1:PORT`: the STS and IAM endpoint.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// From now on every request must carry a valid signature of an existing access key.
    pub async fn require_signatures(&self) {
        self.reset_auth("0").await;
    }

    /// Requests go in unsigned again (for set-up between signed phases).
    pub async fn allow_unsigned(&self) {
        self.reset_auth("inf").await;
    }

    async fn reset_auth(&self, count: &str) {
        let url = format!("{}/moto-api/reset-auth", self.url());
        let resp = self
            .http
            .post(url)
            .body(count.to_owned())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "moto reset-auth {count}");
    }

    /// One unsigned IAM action (only while signatures are not required); the XML answer.
    async fn iam(&self, form: &[(&str, &str)]) -> String {
        // moto routes by the service named in the credential scope; the signature is not
        // checked until `require_signatures`.
        let scope = "AWS4-HMAC-SHA256 Credential=AKIASETUP/20260101/us-east-1/iam/aws4_request, \
                     SignedHeaders=host, Signature=0";
        let resp = self
            .http
            .post(format!("{}/", self.url()))
            .header("authorization", scope)
            .form(
                &[("Version", "2010-05-08")]
                    .iter()
                    .chain(form)
                    .collect::<Vec<_>>(),
            )
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        assert!(status.is_success(), "IAM {form:?}: {status} {text}");
        text
    }

    /// Creates an IAM user; returns its ARN.
    pub async fn create_user(&self, name: &str) -> String {
        let answer = self
            .iam(&[("Action", "CreateUser"), ("UserName", name)])
            .await;
        element(&answer, "Arn")
    }

    pub async fn create_access_key(&self, user: &str) -> AccessKey {
        let answer = self
            .iam(&[("Action", "CreateAccessKey"), ("UserName", user)])
            .await;
        AccessKey {
            id: element(&answer, "AccessKeyId"),
            secret: element(&answer, "SecretAccessKey"),
        }
    }

    pub async fn delete_access_key(&self, user: &str, id: &str) {
        self.iam(&[
            ("Action", "DeleteAccessKey"),
            ("UserName", user),
            ("AccessKeyId", id),
        ])
        .await;
    }
}

/// The text of the first `<name>` element of an XML answer.
pub fn element(xml: &str, name: &str) -> String {
    let open = format!("<{name}>");
    let start = xml.find(&open).map(|i| i + open.len());
    let end = xml.find(&format!("</{name}>"));
    match (start, end) {
        (Some(s), Some(e)) if s <= e => xml[s..e].to_owned(),
        _ => panic!("no <{name}> in {xml}"),
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
