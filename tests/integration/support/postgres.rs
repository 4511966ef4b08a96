//! `Postgres`: a real PostgreSQL server (Debian's packages) run as the `postgres` user in a
//! temp dir on a free loopback port, with password logins, stopped on drop; and OpenBao's
//! built-in database engine configured against it.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::openbao::{free_port, OpenBao};

/// The superuser's password: OpenBao's database engine logs in with it to create and drop
/// the users it mints, and the tests with it to look at `pg_roles`.
pub const SUPERUSER_PASSWORD: &str = "vaultgate-test-superuser";

/// The database engine's connection name (`database/config/pg`).
pub const CONNECTION: &str = "pg";

pub struct Postgres {
    child: Option<Child>,
    pub port: u16,
    /// Owned by the `postgres` user; holds the cluster, its socket and its log.
    dir: tempfile::TempDir,
}

/// The server binaries of the highest PostgreSQL version installed.
fn bin_dir() -> PathBuf {
    let versions = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|v| Path::new(&format!("/usr/lib/postgresql/{v}/bin/postgres")).exists());
    let Some(version) = versions.max() else {
        panic!(
            "no PostgreSQL server under /usr/lib/postgresql: scripts/test.sh installs Debian's \
             postgresql (scripts/install-postgresql.sh, as root)"
        );
    };
    PathBuf::from(format!("/usr/lib/postgresql/{version}/bin"))
}

/// The `postgres` user's (uid, gid): initdb and the server refuse to run as root.
fn postgres_ids() -> (u32, u32) {
    let id = |flag: &str| -> u32 {
        let out = Command::new("id")
            .args([flag, "postgres"])
            .output()
            .expect("run id");
        assert!(
            out.status.success(),
            "no `postgres` user (Debian's postgresql package creates it)"
        );
        String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
    };
    (id("-u"), id("-g"))
}

/// A command run as the `postgres` user with a clean environment.
fn as_postgres(program: PathBuf, dir: &Path) -> Command {
    let (uid, gid) = postgres_ids();
    let mut command = Command::new(program);
    command
        .uid(uid)
        .gid(gid)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", dir)
        .env("LC_ALL", "C.UTF-8");
    command
}

impl Postgres {
    /// Creates a cluster in a fresh temp dir and starts it; returns once the superuser can log
    /// in over TCP.
    pub async fn start() -> Postgres {
        let dir = tempfile::tempdir().unwrap();
        let (uid, gid) = postgres_ids();
        std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).unwrap();
        let password_file = dir.path().join("superuser.pw");
        std::fs::write(&password_file, SUPERUSER_PASSWORD).unwrap();
        std::os::unix::fs::chown(&password_file, Some(uid), Some(gid)).unwrap();
        let data = dir.path().join("data");
        // --no-sync: the cluster lives for one test; durability buys nothing here.
        let mut initdb = as_postgres(bin_dir().join("initdb"), dir.path());
        initdb
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                "postgres",
                "--auth=scram-sha-256",
                "-E",
                "UTF8",
                "--no-sync",
            ])
            .arg(format!("--pwfile={}", password_file.display()));
        // Async, so that an OpenBao started alongside keeps coming up meanwhile.
        let initdb = tokio::process::Command::from(initdb)
            .output()
            .await
            .expect("run initdb");
        assert!(
            initdb.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&initdb.stderr)
        );
        let mut postgres = Postgres {
            child: None,
            port: 0,
            dir,
        };
        // A port picked free can be taken by a parallel test before the server binds it: the
        // server then exits, and another port is tried.
        for _ in 0..5 {
            postgres.port = free_port();
            postgres.child = Some(postgres.spawn());
            if postgres.wait_ready(Duration::from_secs(30)).await {
                return postgres;
            }
            postgres.stop();
        }
        panic!(
            "PostgreSQL did not start: {}",
            std::fs::read_to_string(postgres.dir.path().join("postgres.log")).unwrap_or_default()
        );
    }

    fn spawn(&self) -> Child {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("postgres.log"))
            .unwrap();
        as_postgres(bin_dir().join("postgres"), self.dir.path())
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-c", "listen_addresses=127.0.0.1"])
            .args(["-p", &self.port.to_string()])
            // Its own socket folder: Debian's /var/run/postgresql may be missing or shared.
            .arg("-k")
            .arg(self.dir.path())
            // Small and fast: many test clusters run side by side and none needs durability.
            .args(["-c", "fsync=off", "-c", "shared_buffers=16MB"])
            .args(["-c", "max_connections=40"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start postgres")
    }

    /// Polls until the superuser logs in (so the answer comes from this server, not from a
    /// parallel test's that took the port); false when the server exited or time ran out.
    async fn wait_ready(&mut self, limit: Duration) -> bool {
        let started = Instant::now();
        while started.elapsed() < limit {
            if let Some(Ok(Some(_))) = self.child.as_mut().map(Child::try_wait) {
                return false;
            }
            if self.can_login("postgres", SUPERUSER_PASSWORD).await {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }

    /// The server's URL as OpenBao's database engine takes it: the credentials are templates
    /// it fills with the connection's username and password.
    pub fn url(&self) -> String {
        format!(
            "postgresql://{{{{username}}}}:{{{{password}}}}@127.0.0.1:{}/postgres?sslmode=disable",
            self.port
        )
    }

    /// Runs `sql` with psql as `user`; the output (tuples only, unaligned) or psql's error.
    pub async fn psql(&self, user: &str, password: &str, sql: &str) -> Result<String, String> {
        let out = tokio::process::Command::new("/usr/bin/psql")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["-U", user, "-d", "postgres"])
            // No psqlrc, tuples only, unaligned, quiet; stop at the first error.
            .args(["-X", "-t", "-A", "-q", "-v", "ON_ERROR_STOP=1", "-c", sql])
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("PGPASSWORD", password)
            .env("PGCONNECT_TIMEOUT", "5")
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output()
            .await
            .expect("run psql");
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
        }
    }

    /// Whether `user` can log in with `password` now (what an application's pool would do).
    pub async fn can_login(&self, user: &str, password: &str) -> bool {
        self.psql(user, password, "SELECT 1").await.as_deref() == Ok("1")
    }

    /// Whether a role named `user` exists (`pg_roles`, asked as the superuser).
    pub async fn role_exists(&self, user: &str) -> bool {
        let sql = format!(
            "SELECT count(*) FROM pg_roles WHERE rolname = '{}'",
            user.replace('\'', "''")
        );
        match self.psql("postgres", SUPERUSER_PASSWORD, &sql).await {
            Ok(n) => n == "1",
            Err(e) => panic!("pg_roles query failed: {e}"),
        }
    }

    /// Enables the database engine at `database/` on `bao` with a connection to this server
    /// (`database/config/pg`) that every role may use.
    pub async fn connect(&self, bao: &OpenBao) {
        root(
            bao,
            "POST",
            "sys/mounts/database",
            json!({ "type": "database" }),
        )
        .await;
        root(
            bao,
            "POST",
            &format!("database/config/{CONNECTION}"),
            json!({
                "plugin_name": "postgresql-database-plugin",
                "connection_url": self.url(),
                "username": "postgres",
                "password": SUPERUSER_PASSWORD,
                "allowed_roles": "*",
            }),
        )
        .await;
    }

    /// Sends SIGINT (PostgreSQL's fast shutdown) and waits up to 10 s, then kills.
    fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status();
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// A database role on `bao` minting PostgreSQL users that expire with their lease:
/// `default_ttl` and `max_ttl` as Vault durations (`"5s"`, `"1h"`).
pub async fn database_role(bao: &OpenBao, role: &str, default_ttl: &str, max_ttl: &str) {
    root(
        bao,
        "POST",
        &format!("database/roles/{role}"),
        json!({
            "db_name": CONNECTION,
            "creation_statements": [
                "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';"
            ],
            "default_ttl": default_ttl,
            "max_ttl": max_ttl,
        }),
    )
    .await;
}

async fn root(bao: &OpenBao, method: &str, path: &str, body: Value) {
    let (status, answer) = bao.api(method, path, Some(body), "root").await;
    assert!(status < 300, "{method} {path}: {status} {answer}");
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop();
    }
}
