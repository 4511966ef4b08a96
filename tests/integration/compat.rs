//! [clients] #16 item 7, the client compatibility matrix: the bao CLI, Python hvac, a Node.js
//! `VaultClient` on the plain `https` module and curl as Vault's API docs write it, on real
//! KV v2, transit and PKI engines of a real OpenBao. Every operation runs directly (an
//! OpenBao token carrying the tenant's policy), through vaultgate as `acme/billing` (whose
//! tenant policy allows it) and through vaultgate as `acme/web` (whose policy does not cover
//! `acme/billing`'s paths, keys and roles). The acceptance: the allowed caller gets what the
//! direct call got, and the denied caller gets 403, except on the status endpoints Vault
//! serves to anyone and the token self-operations vaultgate answers itself.
//!
//! `VAULTGATE_COMPAT_TABLE=<file>` writes the observed table as markdown (docs/clients.md
//! holds it); the test asserts behaviour only.

mod cli;
mod curl;
mod outcome;
mod scripts;
mod setup;

use std::future::Future;
use std::path::PathBuf;

use outcome::{Op, Row};
use setup::{Column, Fixture, ALLOWED, DENIED};

use crate::support::clients::{hvac_pythonpath, installed};
use crate::support::openbao::bao_binary;

/// Runs `run` directly, then through vaultgate as the allowed caller, then as the denied
/// caller (who aims at what the allowed run made), and pairs the outcomes into rows.
async fn rows<'a, F, Fut>(client: &'static str, fx: &'a Fixture, run: F) -> Vec<Row>
where
    F: Fn(&'a Fixture, Column) -> Fut,
    Fut: Future<Output = Vec<(Op, String)>>,
{
    let direct = run(fx, Column::Direct).await;
    let allowed = run(fx, Column::Allowed).await;
    let denied = run(fx, Column::Denied).await;
    assert!(direct.len() == allowed.len() && allowed.len() == denied.len());
    direct
        .into_iter()
        .zip(allowed)
        .zip(denied)
        .map(|(((op, direct), (_, allowed)), (_, denied))| Row {
            client,
            op,
            direct,
            allowed,
            denied,
        })
        .collect()
}

/// The versions the table was observed with, as one line.
async fn versions() -> String {
    async fn first_line(program: &str, args: &[&str], env: &[(&str, PathBuf)]) -> String {
        let out = tokio::process::Command::new(program)
            .args(args)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .output()
            .await
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        out.lines().next().unwrap_or("?").to_owned()
    }
    let bao = bao_binary().display().to_string();
    let hvac = "import importlib.metadata as m; print('hvac', m.version('hvac'))";
    let python = [("PYTHONPATH", hvac_pythonpath())];
    let parts = [
        first_line(&bao, &["version"], &[]).await,
        first_line("python3", &["-c", hvac], &python).await,
        format!("node {}", first_line("node", &["--version"], &[]).await),
        first_line("curl", &["--version"], &[]).await,
    ];
    let curl: Vec<&str> = parts[3].split_whitespace().take(2).collect();
    format!(
        "Observed with {}; {}; {}; {}.",
        parts[0].split(" (").next().unwrap_or("?"),
        parts[1],
        parts[2],
        curl.join(" ")
    )
}

#[tokio::test]
async fn every_client_operation_behaves_through_vaultgate_as_it_does_directly() {
    for program in ["curl", "node", "python3"] {
        assert!(
            installed(program),
            "the compatibility matrix needs {program} on PATH"
        );
    }
    let started = std::time::Instant::now();
    let fx = Fixture::start().await;
    let setup = started.elapsed();
    // The clients touch disjoint keys: run them side by side.
    let (bao, hvac, node, curl) = tokio::join!(
        cli::rows(&fx),
        scripts::hvac_rows(&fx),
        scripts::node_rows(&fx),
        curl::rows(&fx),
    );
    let rows: Vec<Row> = [bao, hvac, node, curl].concat();
    let table = outcome::markdown(&rows, ALLOWED, DENIED);
    eprintln!(
        "compat matrix: {} operations, setup {:.1} s, runs {:.1} s",
        rows.len(),
        setup.as_secs_f64(),
        (started.elapsed() - setup).as_secs_f64()
    );
    if let Ok(file) = std::env::var("VAULTGATE_COMPAT_TABLE") {
        std::fs::write(&file, format!("{}\n\n{table}", versions().await)).unwrap();
        eprintln!("compat matrix: table written to {file}");
    }
    let problems = outcome::problems(&rows);
    assert!(
        problems.is_empty(),
        "{} discrepancies:\n  {}\n\n{table}",
        problems.len(),
        problems.join("\n  ")
    );
    fx.gate.stop().await;
}
