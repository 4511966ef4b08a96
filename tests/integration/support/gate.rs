//! `Gate`: a vaultgate started in-process on a free loopback port in front of a test OpenBao,
//! with one AppRole identity per service, mTLS from the test PKI and a policy directory.

use std::path::Path;
use std::time::Duration;

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use vaultgate::app::App;
use vaultgate::cache::ReadCache;
use vaultgate::config::Config;
use vaultgate::vault::renewer::TokenCell;

use super::openbao::OpenBao;
use super::pki::Pki;
use super::seed::Seed;

/// The Vault-side policy of every test service: deliberately broad, so that every deny seen
/// through the proxy is the proxy's own enforcement, not Vault's.
pub const BROAD_VAULT_POLICY: &str = r#"
path "secret/*" { capabilities = ["create", "read", "update", "patch", "delete", "list"] }
path "kv/*" { capabilities = ["create", "read", "update", "patch", "delete", "list"] }
path "sys/internal/ui/mounts/*" { capabilities = ["read"] }
path "cubbyhole/*" { capabilities = ["create", "read", "update", "delete", "list"] }
path "auth/token/lookup-self" { capabilities = ["read"] }
path "auth/token/renew-self" { capabilities = ["update"] }
path "auth/token/revoke-self" { capabilities = ["update"] }
path "auth/token/create" { capabilities = ["create", "update"] }
path "sys/wrapping/*" { capabilities = ["create", "read", "update"] }
"#;

pub struct Gate {
    /// Holds the config, credentials and token files for as long as vaultgate runs.
    _dir: tempfile::TempDir,
    pub address: String,
    /// The admin listener's address, when the config has an `[admin]` section.
    pub admin: Option<String>,
    stop: CancellationToken,
    task: Option<tokio::task::JoinHandle<()>>,
    /// Each service's token cell, by `tenant/service`.
    pub cells: HashMap<String, TokenCell>,
    pub lockdown: Arc<watch::Sender<bool>>,
    pub cache: Arc<ReadCache>,
}

impl Gate {
    /// Starts vaultgate for `services` (e.g. `["acme/billing"]`) with the repo's `policies/`.
    pub async fn start(bao: &OpenBao, pki: &Pki, services: &[&str]) -> Gate {
        let repo_policies = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
        Gate::start_with(bao, pki, services, &[], &repo_policies, "").await
    }

    /// Starts vaultgate with AppRole `services`, `token_file` services given as (name,
    /// token), a policy directory and extra config text appended.
    pub async fn start_with(
        bao: &OpenBao,
        pki: &Pki,
        services: &[&str],
        token_services: &[(&str, &str)],
        policies: &Path,
        extra: &str,
    ) -> Gate {
        let vault = Gate::default_vault(bao);
        Gate::start_tuned(bao, pki, services, token_services, policies, &vault, extra).await
    }

    /// Like `start_with`, with the `[vault]` table's body given (address, timeouts), for
    /// tests that put a relay in front of OpenBao or need short upstream timeouts.
    pub async fn start_tuned(
        bao: &impl Seed,
        pki: &Pki,
        services: &[&str],
        token_services: &[(&str, &str)],
        policies: &Path,
        vault: &str,
        extra: &str,
    ) -> Gate {
        let (dir, config_file) =
            Gate::write_config_tuned(bao, pki, services, token_services, policies, vault, extra)
                .await;
        Gate::start_file(dir, &config_file).await
    }

    /// Starts vaultgate from a config file already written into `dir`.
    pub async fn start_file(dir: tempfile::TempDir, config_file: &Path) -> Gate {
        let config = Config::load(config_file).unwrap();
        let callers = config.callers();
        let app = App::start(config).await.unwrap();
        assert!(
            app.wait_ready(Duration::from_secs(20)).await,
            "vaultgate services did not log in"
        );
        let address = app.addresses()[0].clone();
        let admin = app.admin_address().map(str::to_owned);
        let cells = callers
            .iter()
            .map(|c| (c.to_string(), app.token_cell(c).unwrap().clone()))
            .collect();
        let lockdown = app.lockdown_handle();
        let cache = app.cache().clone();
        let stop = app.shutdown_handle();
        let task = tokio::spawn(async move {
            app.run().await.unwrap();
        });
        Gate {
            _dir: dir,
            address,
            admin,
            stop,
            task: Some(task),
            cells,
            lockdown,
            cache,
        }
    }

    /// Configures OpenBao (AppRoles) and writes a vaultgate config into a fresh folder;
    /// returns the folder and the config file, for in-process or binary runs.
    pub async fn write_config(
        bao: &OpenBao,
        pki: &Pki,
        services: &[&str],
        token_services: &[(&str, &str)],
        policies: &Path,
        extra: &str,
    ) -> (tempfile::TempDir, std::path::PathBuf) {
        let vault = Gate::default_vault(bao);
        Gate::write_config_tuned(bao, pki, services, token_services, policies, &vault, extra).await
    }

    /// The `[vault]` table body tests use unless they say otherwise.
    pub fn default_vault(bao: &OpenBao) -> String {
        format!("address = \"{}\"\ntimeout = \"10s\"\n", bao.addr())
    }

    async fn write_config_tuned(
        bao: &impl Seed,
        pki: &Pki,
        services: &[&str],
        token_services: &[(&str, &str)],
        policies: &Path,
        vault: &str,
        extra: &str,
    ) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        bao.write_policy("vaultgate-test-broad", BROAD_VAULT_POLICY)
            .await;
        bao.enable_approle().await;
        let mut toml = Gate::base_config(vault, pki, policies);
        for service in services {
            let role = service.replace('/', "-");
            let (role_id, secret_id) = bao.approle(&role, &["vaultgate-test-broad"]).await;
            let role_file = dir.path().join(format!("{role}.role_id"));
            let secret_file = dir.path().join(format!("{role}.secret_id"));
            std::fs::write(&role_file, role_id).unwrap();
            std::fs::write(&secret_file, secret_id).unwrap();
            toml.push_str(&format!(
                "\n[[service]]\nname = \"{service}\"\nauth = \"approle\"\nrole_id_file = \"{}\"\nsecret_id_file = \"{}\"\n",
                role_file.display(),
                secret_file.display()
            ));
        }
        for (service, token) in token_services {
            let file = dir
                .path()
                .join(format!("{}.token", service.replace('/', "-")));
            std::fs::write(&file, format!("{token}\n")).unwrap();
            toml.push_str(&format!(
                "\n[[service]]\nname = \"{service}\"\nauth = \"token_file\"\ntoken_file = \"{}\"\n",
                file.display()
            ));
        }
        toml.push_str(extra);
        let config_file = dir.path().join("vaultgate.toml");
        std::fs::write(&config_file, &toml).unwrap();
        (dir, config_file)
    }

    /// The `[vault]`, `[[listener]]` and `[policies]` sections every test config starts with.
    /// `vault` is the `[vault]` section's body (address and timeouts).
    pub fn base_config(vault: &str, pki: &Pki, policies: &Path) -> String {
        format!(
            r#"
[vault]
{vault}
[[listener]]
address = "127.0.0.1:0"
tls_cert = "{cert}"
tls_key = "{key}"
client_ca = "{ca}"
trust_domain = "vaultgate.test"

[policies]
dir = "{policies}"
"#,
            vault = vault,
            cert = pki.server_cert().display(),
            key = pki.server_key().display(),
            ca = pki.ca_cert().display(),
            policies = policies.display(),
        )
    }

    /// `https://127.0.0.1:PORT`, what a service puts in `VAULT_ADDR`.
    pub fn url(&self) -> String {
        format!("https://{}", self.address)
    }

    /// The folder with the generated config and credential files.
    pub fn dir(&self) -> &Path {
        self._dir.path()
    }

    /// Restores every AppRole service of this gate in a restarted (empty) dev OpenBao with
    /// the same role and secret ids, as an operator restoring Vault would.
    pub async fn reseed(&self, bao: &OpenBao) {
        bao.write_policy("vaultgate-test-broad", BROAD_VAULT_POLICY)
            .await;
        bao.enable_approle().await;
        for entry in std::fs::read_dir(self.dir()).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "role_id") {
                let role = path.file_stem().unwrap().to_str().unwrap().to_owned();
                let role_id = std::fs::read_to_string(&path).unwrap();
                let secret_id = std::fs::read_to_string(path.with_extension("secret_id")).unwrap();
                bao.restore_approle(&role, &["vaultgate-test-broad"], &role_id, &secret_id)
                    .await;
            }
        }
    }

    /// The token vaultgate currently holds for a service (tests prove it never leaks).
    pub fn token(&self, service: &str) -> String {
        self.cells[service].current().unwrap().expose().to_owned()
    }

    /// Stops vaultgate and waits for it to drain.
    pub async fn stop(mut self) {
        self.stop.cancel();
        if let Some(t) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(15), t).await;
        }
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}
