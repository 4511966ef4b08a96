//! Real client programs the tests drive: Python with hvac (in `.tools/python`, installed with
//! OpenBao by `scripts/install-openbao.sh`), Node.js, curl, and the client scripts kept in
//! `tests/clients/`.

use std::path::{Path, PathBuf};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Where hvac is installed; installs it (with OpenBao) when missing.
pub fn hvac_pythonpath() -> PathBuf {
    let dir = repo().join(".tools/python");
    if !dir.join("hvac").exists() {
        let status = std::process::Command::new(repo().join("scripts/install-openbao.sh"))
            .stdout(std::process::Stdio::null())
            .status()
            .expect("run scripts/install-openbao.sh");
        assert!(status.success(), "scripts/install-openbao.sh failed");
    }
    dir
}

/// `python3` with hvac importable.
pub fn hvac_python() -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new("python3");
    cmd.env("PYTHONPATH", hvac_pythonpath()).kill_on_drop(true);
    cmd
}

/// A script of `tests/clients/`, e.g. `client_script("vault_client.js")`.
pub fn client_script(name: &str) -> PathBuf {
    repo().join("tests/clients").join(name)
}

/// Whether `program --version` runs (curl, node).
pub fn installed(program: &str) -> bool {
    std::process::Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}
