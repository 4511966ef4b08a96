//! `vaultgate config check FILE`: validate a configuration and the policies it loads,
//! exactly as `run` would, without contacting Vault; every problem of the file in one report.

use std::path::{Path, PathBuf};

use crate::config::{Config, ConfigError, Problem};
use crate::policy::PolicySet;

/// What the check found: the text to print and whether it passed.
#[derive(Debug)]
pub struct CheckReport {
    pub text: String,
    pub ok: bool,
}

pub fn check(file: &Path) -> CheckReport {
    let config = match Config::load(file) {
        Ok(config) => config,
        Err(e) => return refused(file, &e),
    };
    if let Err(e) = PolicySet::load(&config.policies_dir, &config.callers()) {
        return CheckReport {
            text: format!(
                "error: {e}\n{}: 1 problem (in its policies)\n",
                file.display()
            ),
            ok: false,
        };
    }
    CheckReport {
        text: format!(
            "{}: ok ({} listener(s), {} service(s), policies from {})\n",
            file.display(),
            config.listeners.len(),
            config.services.len(),
            config.policies_dir.display()
        ),
        ok: true,
    }
}

fn refused(file: &Path, e: &ConfigError) -> CheckReport {
    let problems = e.problems();
    if problems.is_empty() {
        return CheckReport {
            text: format!("error: {e}\n"),
            ok: false,
        };
    }
    let mut text = String::new();
    for p in problems {
        text.push_str(&format!("error: {}\n", p.located(file)));
    }
    let n = problems.len();
    let plural = if n == 1 { "" } else { "s" };
    text.push_str(&format!("{}: {n} problem{plural}\n", file.display()));
    text.push_str(&notes(file, problems));
    CheckReport { text, ok: false }
}

/// What creates the files a configuration names but that do not exist yet.
fn notes(file: &Path, problems: &[Problem]) -> String {
    let missing: Vec<(&str, &PathBuf)> = problems
        .iter()
        .filter_map(|p| Some((p.key.as_str(), p.missing.as_ref()?)))
        .collect();
    if missing.is_empty() {
        return String::new();
    }
    let mut out = String::new();
    let certificate = |key: &str| {
        key.ends_with(".tls_cert") || key.ends_with(".tls_key") || key.ends_with(".client_ca")
    };
    let cert_dirs: Vec<&Path> = missing
        .iter()
        .filter(|(key, _)| certificate(key))
        .filter_map(|(_, path)| path.parent())
        .map(|dir| {
            if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            }
        })
        .collect();
    if let Some(dir) = cert_dirs.first() {
        out.push_str(&format!(
            "note: `vaultgate certs init --dir {} --service <tenant/service>...` writes dev \
             certificates there (ca.pem, localhost.pem, localhost-key.pem, one per service)\n",
            dir.display()
        ));
    }
    if shipped_example(file) {
        out.push_str(
            "note: this is the shipped example; scripts/demo.sh lays it out in .demo/ with \
             everything it names: certs/ (vaultgate certs init), secrets/ (AppRole \
             credentials from examples/openbao-setup.sh) and policies/ (a link to the \
             repository's policies/). After the demo: vaultgate config check \
             .demo/vaultgate.toml\n",
        );
    }
    out
}

/// `examples/vaultgate.toml` of a checkout, which names files only the demo creates.
fn shipped_example(file: &Path) -> bool {
    let Some(dir) = file.parent() else {
        return false;
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    file.file_name().is_some_and(|n| n == "vaultgate.toml")
        && dir
            .canonicalize()
            .is_ok_and(|d| d.ends_with("examples") && d.join("../scripts/demo.sh").is_file())
}
