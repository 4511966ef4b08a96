//! [auth-methods] `auth = "aws"` with a real moto as STS and IAM (it verifies every SigV4
//! signature) and a real OpenBao issuing the token. OpenBao ships no aws auth method, so the
//! login itself is answered by the plugin's steps in `support::aws_auth` (see there). vaultgate
//! runs as the real binary, its AWS credentials from a shared credentials file: a service reads
//! its secret, rotated keys are used at the next login, a wrong `header_value` is reported at
//! startup and in `/readyz`, no secret key reaches its logs (at trace level) or audit, and
//! `vaultgate verify --auth aws` checks such a role.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};

use crate::support::aws_auth::{AwsAuthMethod, AwsRole};
use crate::support::gate::{Gate, BROAD_VAULT_POLICY};
use crate::support::moto::{AccessKey, Moto, ACCOUNT};
use crate::support::openbao::{free_port, OpenBao};
use crate::support::pki::Pki;
use crate::support::poll_status;

const SERVER_ID: &str = "vault.vaultgate.test";
const ADMIN_TOKEN: &str = "admin-token-for-tests";

struct Stack {
    bao: OpenBao,
    moto: Moto,
    method: AwsAuthMethod,
    keys: [AccessKey; 2],
}

/// OpenBao with a secret and the broad policy; moto with the IAM user `billing` and two access
/// keys, signatures required from then on; the aws method binding role `billing` to it.
async fn stack() -> Stack {
    let bao = OpenBao::start().await;
    bao.kv_put("acme/billing/db", json!({"password": "pw"}))
        .await;
    bao.write_policy("vaultgate-test-broad", BROAD_VAULT_POLICY)
        .await;
    let moto = Moto::start().await;
    let arn = moto.create_user("billing").await;
    assert_eq!(arn, format!("arn:aws:iam::{ACCOUNT}:user/billing"));
    let keys = [
        moto.create_access_key("billing").await,
        moto.create_access_key("billing").await,
    ];
    moto.require_signatures().await;
    let role = AwsRole {
        bound_iam_principal_arn: arn,
        policies: vec!["vaultgate-test-broad".into()],
        ttl: "3s",
    };
    let method = AwsAuthMethod::start(
        bao.addr(),
        moto.url(),
        Some(SERVER_ID),
        &[("billing", role)],
    )
    .await;
    Stack {
        bao,
        moto,
        method,
        keys,
    }
}

fn write_credentials(file: &Path, key: &AccessKey) {
    let staging = file.with_extension("new");
    std::fs::write(
        &staging,
        format!(
            "[default]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
            key.id, key.secret
        ),
    )
    .unwrap();
    std::fs::rename(staging, file).unwrap();
}

/// vaultgate (the binary, trace logs) in front of the aws method, `acme/billing` logging in
/// with `header_value`; its AWS credentials only from `credentials` (no instance metadata).
struct Run {
    child: tokio::process::Child,
    dir: tempfile::TempDir,
    url: String,
    admin: String,
}

impl Run {
    async fn start(stack: &Stack, pki: &Pki, header_value: &str, key: &AccessKey) -> Run {
        let dir = tempfile::tempdir().unwrap();
        let credentials = dir.path().join("credentials");
        write_credentials(&credentials, key);
        let admin_token = dir.path().join("admin.token");
        std::fs::write(&admin_token, ADMIN_TOKEN).unwrap();
        let policies = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
        let (port, admin_port) = (free_port(), free_port());
        let vault = format!("address = \"{}\"\ntimeout = \"5s\"\n", stack.method.address);
        let config = Gate::base_config(&vault, pki, &policies)
            .replace("127.0.0.1:0", &format!("127.0.0.1:{port}"))
            + &format!(
                "\n[[service]]\nname = \"acme/billing\"\nauth = \"aws\"\nrole = \"billing\"\n\
                 header_value = \"{header_value}\"\nsts_endpoint = \"{}\"\n\
                 [audit]\nfile = \"{}\"\n[admin]\naddress = \"127.0.0.1:{admin_port}\"\n\
                 token_file = \"{}\"\n",
                stack.moto.url(),
                dir.path().join("audit.log").display(),
                admin_token.display()
            );
        let file = dir.path().join("vaultgate.toml");
        std::fs::write(&file, config).unwrap();
        let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_vaultgate"))
            .args(["run", "--log-format", "json", "--config"])
            .arg(&file)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", dir.path())
            .env("VAULTGATE_LOG", "trace")
            .env("AWS_SHARED_CREDENTIALS_FILE", &credentials)
            .env("AWS_CONFIG_FILE", dir.path().join("no-config"))
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .stderr(std::fs::File::create(dir.path().join("vaultgate.log")).unwrap())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        Run {
            child,
            url: format!("https://127.0.0.1:{port}/v1/secret/data/acme/billing/db"),
            admin: format!("http://127.0.0.1:{admin_port}"),
            dir,
        }
    }

    fn credentials(&self) -> PathBuf {
        self.dir.path().join("credentials")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("vaultgate.log")).unwrap_or_default()
    }

    fn audit(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("audit.log")).unwrap_or_default()
    }

    async fn readyz(&self) -> Value {
        let resp = reqwest::Client::new()
            .get(format!("{}/readyz", self.admin))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await;
        match resp {
            Ok(r) => r.json().await.unwrap_or_default(),
            Err(_) => Value::Null,
        }
    }

    /// Stops vaultgate (SIGTERM: it revokes its token) and waits for it to exit.
    async fn stop(mut self) -> (String, String) {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
        }
        let _ = tokio::time::timeout(Duration::from_secs(20), self.child.wait()).await;
        (self.log(), self.audit())
    }
}

/// Waits (at most 15 s) until `done` holds of the method's logins; returns them.
async fn logins_until(
    method: &AwsAuthMethod,
    done: impl Fn(&[crate::support::aws_auth::Attempt]) -> bool,
) -> Vec<crate::support::aws_auth::Attempt> {
    for _ in 0..150 {
        let seen = method.logins();
        if done(&seen) {
            return seen;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("logins never got there: {:#?}", method.logins());
}

#[tokio::test]
async fn an_aws_service_reads_its_secret_and_uses_rotated_keys_at_the_next_login() {
    let stack = stack().await;
    let pki = Pki::new(&["acme/billing"]);
    let run = Run::start(&stack, &pki, SERVER_ID, &stack.keys[0]).await;
    let client = pki.client_for("acme/billing");
    assert_eq!(poll_status(&client, &run.url, 200, 150).await, 200);
    let body: Value = client
        .get(&run.url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["data"]["data"]["password"], "pw");

    // The token is OpenBao's, with the role's policies, issued to a login signed by key 0.
    let seen = logins_until(&stack.method, |l| l.iter().any(|a| a.outcome.is_ok())).await;
    let first = seen.iter().find(|a| a.outcome.is_ok()).unwrap();
    assert_eq!(first.access_key_id, stack.keys[0].id);
    let accessor = first.outcome.clone().unwrap();
    let (status, token) = stack.bao.lookup_accessor(&accessor).await;
    assert_eq!(status, 200, "{token}");
    assert_eq!(token["data"]["policies"], json!(["vaultgate-test-broad"]));
    assert_eq!(
        token["data"]["meta"]["canonical_arn"],
        format!("arn:aws:iam::{ACCOUNT}:user/billing")
    );

    // Rotation: the new key goes into the credentials file and the old one is deleted in
    // IAM, so a login still signed with it would be refused by STS (moto).
    write_credentials(&run.credentials(), &stack.keys[1]);
    stack.moto.allow_unsigned().await;
    stack
        .moto
        .delete_access_key("billing", &stack.keys[0].id)
        .await;
    stack.moto.require_signatures().await;
    let before = stack.method.logins().len();
    let seen = logins_until(&stack.method, |l| {
        l[before..]
            .iter()
            .any(|a| a.access_key_id == stack.keys[1].id && a.outcome.is_ok())
    })
    .await;
    // Every login after the rotation was signed with the new key (or, for one already under
    // way, was refused), and reads go on.
    let fresh = client.get(&run.url).header("cache-control", "no-cache");
    assert_eq!(fresh.send().await.unwrap().status(), 200);
    let after: Vec<_> = seen[before..].iter().collect();
    assert!(
        after
            .iter()
            .skip_while(|a| a.access_key_id != stack.keys[1].id)
            .all(|a| a.access_key_id == stack.keys[1].id && a.outcome.is_ok()),
        "{after:#?}"
    );

    let ready = run.readyz().await;
    assert_eq!(ready["ready"], true, "{ready}");
    let (log, audit) = run.stop().await;
    assert!(log.contains("logged in to Vault"), "{log}");
    // The startup summary names the method.
    assert!(log.contains("service acme/billing: auth aws"), "{log}");
    assert!(audit.contains("\"login\""), "{audit}");
    // No secret key, at trace level, in the log or the audit stream.
    for key in &stack.keys {
        assert!(!log.contains(&key.secret), "secret key in the log");
        assert!(!audit.contains(&key.secret), "secret key in the audit");
    }
}

#[tokio::test]
async fn a_wrong_header_value_is_refused_by_vault_and_reported_at_startup_and_in_readyz() {
    let stack = stack().await;
    let pki = Pki::new(&["acme/billing"]);
    let run = Run::start(&stack, &pki, "some.other.vault", &stack.keys[0]).await;
    let mut ready = Value::Null;
    for _ in 0..150 {
        ready = run.readyz().await;
        let error = &ready["checks"]["tokens"]["services"]["acme/billing"]["error"];
        if error.as_str().is_some_and(|e| e.contains("refused")) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(ready["ready"], false, "{ready}");
    let error = ready["checks"]["tokens"]["services"]["acme/billing"]["error"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let expected = format!(
        "aws login refused by Vault (400): error validating X-Vault-AWS-IAM-Server-ID header: \
         expected \"{SERVER_ID}\" but got \"some.other.vault\" — header_value must equal \
         iam_server_id_header_value of auth/aws/config/client"
    );
    assert!(error.contains(&expected), "{ready}");
    // The method refused every login.
    assert!(stack.method.logins().iter().all(|a| a.outcome.is_err()));
    let (log, _) = run.stop().await;
    let failure = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["message"] == "login failed" && v["principal"] == "acme/billing")
        .unwrap_or_else(|| panic!("no login failure logged:\n{log}"));
    assert!(
        failure["error"].as_str().unwrap_or("").contains(&expected),
        "{failure}"
    );
    assert!(
        !log.contains(&stack.keys[0].secret),
        "secret key in the log"
    );
}

#[tokio::test]
async fn verify_checks_an_aws_role_with_the_credential_chain() {
    let stack = stack().await;
    let dir = tempfile::tempdir().unwrap();
    let credentials = dir.path().join("credentials");
    write_credentials(&credentials, &stack.keys[0]);
    let verify = |header_value: &'static str| {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_vaultgate"));
        command
            .args(["verify", "--auth", "aws", "--role", "billing"])
            .args(["--header-value", header_value, "--sts-endpoint"])
            .arg(stack.moto.url())
            .arg("secret/data/acme/billing/db")
            .env_clear()
            .env("HOME", dir.path())
            .env("VAULT_ADDR", &stack.method.address)
            .env("AWS_SHARED_CREDENTIALS_FILE", &credentials)
            .env("AWS_CONFIG_FILE", dir.path().join("no-config"))
            .env("AWS_EC2_METADATA_DISABLED", "true");
        command.output()
    };
    let out = verify(SERVER_ID).await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(
        stdout.contains("[1/5] log in with aws role billing (mount aws; AWS credential chain"),
        "{stdout}"
    );
    assert!(stdout.contains("[5/5] old token rejected: ok"), "{stdout}");
    assert!(!stdout.contains(&stack.keys[0].secret));

    let out = verify("some.other.vault").await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{out:?}");
    assert!(
        stdout.contains("failed (aws login refused by Vault (400): error validating X-Vault-AWS-IAM-Server-ID header"),
        "{stdout}"
    );
}
