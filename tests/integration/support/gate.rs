//! `Gate`: a vaultgate started in-process on a free loopback port in front of a test OpenBao,
//! with one AppRole identity per service, mTLS from the test PKI and a policy directory.

use std::path::{Path, PathBuf};
use std::time::Duration;

use std::collections::HashMap;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use vaultgate::app::{App, Tuning};
use vaultgate::cache::ReadCache;
use vaultgate::config::Config;
use vaultgate::discovery::Discovery;
use vaultgate::principal::cell::TokenCell;
use vaultgate::principal::renewer::Timing;
use vaultgate::reload::Lockdown;

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
    pub lockdown: Lockdown,
    pub cache: Arc<ReadCache>,
    pub discovery: Arc<Discovery>,
}

impl Gate {
    /// Starts vaultgate for `services` (e.g. `["acme/billing"]`) with the repo's `policies/`.
    pub async fn start(bao: &OpenBao, pki: &Pki, services: &[&str]) -> Gate {
        Gate::builder(bao, pki).services(services).start().await
    }

    /// A gate in front of `bao`, configured step by step: AppRole services, token-file
    /// services, the policy folder, the `[vault]` table's body and extra config text.
    /// `bao` is the dev server, or any `Seed` (a raft cluster) given its `[vault]` table with
    /// `.vault(...)`.
    pub fn builder<'a, S: Seed>(bao: &'a S, pki: &'a Pki) -> GateBuilder<'a, S> {
        GateBuilder {
            bao,
            pki,
            services: Vec::new(),
            token_services: Vec::new(),
            policies: Path::new(env!("CARGO_MANIFEST_DIR")).join("policies"),
            vault: bao.vault_table(),
            extra: String::new(),
            service_policy: BROAD_VAULT_POLICY.to_owned(),
        }
    }

    /// Starts vaultgate from a config file already written into `dir`.
    pub async fn start_file(dir: tempfile::TempDir, config_file: &Path) -> Gate {
        let config = Config::load(config_file).unwrap();
        let callers = config.callers();
        // A token is re-checked on the first refusal: tests revoke tokens and need not wait
        // out the production 2 s during which a fresh token is trusted.
        let tuning = Tuning {
            renewer: Timing {
                fresh: Duration::ZERO,
                ..Timing::default()
            },
            ..Tuning::default()
        };
        let app = App::start_with(config, tuning).await.unwrap();
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
        let cache = app.shared().cache.clone();
        let discovery = app.shared().discovery.clone();
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
            discovery,
        }
    }

    /// Waits until vaultgate has read the server's namespaces and mounts once with every
    /// service logged in (a read that starts after this call).
    pub async fn discovered(&self) {
        // A read already under way may have started before the caller's change: wait for
        // it, then for one that surely started afterwards.
        for _ in 0..2 {
            let seen = self.discovery.rounds();
            self.discovery.stale();
            let mut waited = 0;
            while self.discovery.rounds() == seen {
                assert!(
                    waited < 400,
                    "vaultgate did not read the server within 10 s"
                );
                tokio::time::sleep(Duration::from_millis(25)).await;
                waited += 1;
            }
        }
    }

    /// The `[vault]` table body tests use unless they say otherwise.
    pub fn default_vault(bao: &OpenBao) -> String {
        format!("address = \"{}\"\ntimeout = \"10s\"\n", bao.addr())
    }

    async fn write_config<S: Seed>(
        b: &GateBuilder<'_, S>,
    ) -> (tempfile::TempDir, std::path::PathBuf) {
        let (bao, pki, policies, extra) = (b.bao, b.pki, &b.policies, &b.extra);
        let vault = b
            .vault
            .as_deref()
            .expect("a Vault without an address of its own needs .vault(...)");
        let dir = tempfile::tempdir().unwrap();
        bao.write_policy("vaultgate-test-broad", &b.service_policy)
            .await;
        bao.enable_approle().await;
        let mut toml = Gate::base_config(vault, pki, policies);
        for service in &b.services {
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
        for (service, token) in &b.token_services {
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

    /// The environment a Vault CLI of `service` runs with to go through this gate.
    pub fn cli_env(&self, pki: &Pki, service: &str) -> Vec<(&'static str, String)> {
        let (cert, key) = pki.client(service);
        vec![
            ("VAULT_ADDR", self.url()),
            ("VAULT_CACERT", pki.ca_cert().display().to_string()),
            ("VAULT_CLIENT_CERT", cert.display().to_string()),
            ("VAULT_CLIENT_KEY", key.display().to_string()),
        ]
    }

    /// Revokes the token vaultgate holds for `service` behind its back, as an operator or an
    /// expiry would; returns the revoked token.
    pub async fn revoke_token(&self, bao: &OpenBao, service: &str) -> String {
        let old = self.token(service);
        let (status, body) = bao
            .api(
                "POST",
                "auth/token/revoke",
                Some(serde_json::json!({ "token": old })),
                "root",
            )
            .await;
        assert_eq!(status, 204, "revoke: {body}");
        old
    }

    /// Stops vaultgate and waits for it to drain.
    pub async fn stop(mut self) {
        self.stop.cancel();
        if let Some(t) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(15), t).await;
        }
    }
}

/// What a test gate is made of; see `Gate::builder`.
pub struct GateBuilder<'a, S: Seed = OpenBao> {
    bao: &'a S,
    pki: &'a Pki,
    services: Vec<String>,
    token_services: Vec<(String, String)>,
    policies: PathBuf,
    vault: Option<String>,
    extra: String,
    service_policy: String,
}

impl<S: Seed> GateBuilder<'_, S> {
    /// Services that log in with AppRole (roles created in OpenBao for them).
    pub fn services(mut self, services: &[&str]) -> Self {
        self.services = services.iter().map(|s| (*s).to_owned()).collect();
        self
    }

    /// Services that use a given token from a file: (name, token).
    pub fn token_services(mut self, services: &[(&str, &str)]) -> Self {
        self.token_services = services
            .iter()
            .map(|(s, t)| ((*s).to_owned(), (*t).to_owned()))
            .collect();
        self
    }

    pub fn policies(mut self, dir: &Path) -> Self {
        self.policies = dir.to_owned();
        self
    }

    /// The `[vault]` table's body (address, timeouts), instead of `Gate::default_vault`.
    pub fn vault(mut self, body: &str) -> Self {
        self.vault = Some(body.to_owned());
        self
    }

    /// The Vault policy of the AppRole services' tokens (`vaultgate-test-broad`), instead of
    /// `BROAD_VAULT_POLICY`; keep it broader than the tenant policies, so that every deny is
    /// vaultgate's own.
    pub fn service_policy(mut self, hcl: &str) -> Self {
        self.service_policy = hcl.to_owned();
        self
    }

    /// Config text appended after the services (`[limits]`, `[audit]`, ...).
    pub fn extra(mut self, text: &str) -> Self {
        self.extra = text.to_owned();
        self
    }

    /// Configures OpenBao (AppRoles) and writes the config into a fresh folder; returns the
    /// folder and the file, for in-process or binary runs.
    pub async fn write(self) -> (tempfile::TempDir, PathBuf) {
        Gate::write_config(&self).await
    }

    pub async fn start(self) -> Gate {
        let (dir, config_file) = Gate::write_config(&self).await;
        Gate::start_file(dir, &config_file).await
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}
