//! `vaultgate policy check|explain|test`: the security team's offline tools, built on the
//! same parser, loader and `PolicySet::evaluate` the proxy runs.

pub mod check;
pub mod explain;
mod overlap;
mod risk;
mod shadow;
pub mod test;

use std::path::Path;
use std::process::ExitCode;

use bytes::Bytes;

use super::{PolicyCommand, PolicySourceError};
use crate::policy::{PolicyError, PolicySet};
use explain::ExplainRequest;

pub use risk::Warning;

/// Why a policy command could not produce its answer (findings and failures are answers).
#[derive(Debug, thiserror::Error)]
pub enum PolicyCommandError {
    #[error(transparent)]
    Check(#[from] check::CheckError),
    #[error(transparent)]
    Explain(#[from] explain::ExplainError),
    #[error(transparent)]
    Test(#[from] test::TestError),
    #[error(transparent)]
    Policy(#[from] PolicyError),
    #[error(transparent)]
    Source(#[from] PolicySourceError),
    #[error("{}", file.display())]
    Body {
        file: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot print JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// Runs one policy command, prints its report on stdout and returns the exit code:
/// 1 for errors, failed tests, or warnings under `--strict`.
pub fn run(command: PolicyCommand) -> Result<ExitCode, PolicyCommandError> {
    let failed = match command {
        PolicyCommand::Check {
            policies,
            legacy_dir,
            strict,
        } => {
            let report = check::check(&policies.dir(legacy_dir.as_deref())?)?;
            print!("{}", report.render());
            report.failed(strict)
        }
        PolicyCommand::Explain {
            caller,
            policies,
            method,
            path,
            headers,
            body,
            json,
        } => {
            let set = PolicySet::load(&policies.dir(None)?, std::slice::from_ref(&caller))?;
            let request = ExplainRequest {
                caller,
                method,
                path,
                headers: headers
                    .iter()
                    .map(|h| header(h))
                    .collect::<Result<_, _>>()?,
                body: match body {
                    Some(file) => read_body(&file)?,
                    None => Bytes::new(),
                },
            };
            let explanation = explain::explain(&set, &request)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&explanation)?);
            } else {
                print!("{}", explanation.render());
            }
            false
        }
        PolicyCommand::Test {
            policies,
            legacy_dir,
        } => {
            let report = test::run(&policies.dir(legacy_dir.as_deref())?)?;
            print!("{}", report.render());
            report.failed()
        }
    };
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// `NAME:VALUE`, optional whitespace after the colon, as curl takes it.
fn header(text: &str) -> Result<(String, String), explain::ExplainError> {
    let (name, value) = text
        .split_once(':')
        .ok_or_else(|| explain::ExplainError::HeaderShape(text.to_owned()))?;
    Ok((name.trim().to_owned(), value.trim_start().to_owned()))
}

fn read_body(file: &Path) -> Result<Bytes, PolicyCommandError> {
    std::fs::read(file)
        .map(Bytes::from)
        .map_err(|source| PolicyCommandError::Body {
            file: file.to_path_buf(),
            source,
        })
}
