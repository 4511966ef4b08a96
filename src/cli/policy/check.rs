//! `vaultgate policy check [DIR]`: every policy file parsed on its own with the server's
//! parser so that all broken files are reported, then the whole directory loaded exactly as
//! the server loads it, then warnings for risky grants.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::identity::Caller;
use crate::policy::document::{self, Format, PolicyDocument};
use crate::policy::{PolicyError, PolicyFile, PolicySet, RuleSource};

use super::risk::{self, Warning, ANY_SERVICE};
use super::shadow;

/// Why the check could not run at all (a broken file is a finding, not this).
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    // The source is printed by `main` as part of the error chain.
    #[error("cannot list policy files")]
    List(#[source] PolicyError),
}

/// What the check found.
#[derive(Debug, Default)]
pub struct CheckReport {
    pub files: usize,
    /// Each names file and line (`file:line: problem`), as the server's load error does.
    pub errors: Vec<String>,
    pub warnings: Vec<Warning>,
}

impl CheckReport {
    /// Whether the check fails: any error, or with `strict` any warning.
    pub fn failed(&self, strict: bool) -> bool {
        !self.errors.is_empty() || (strict && !self.warnings.is_empty())
    }

    /// The lines `policy check` prints: errors, warnings, then a summary.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for error in &self.errors {
            out.push_str(&format!("error: {error}\n"));
        }
        for warning in &self.warnings {
            out.push_str(&format!("warning: {warning}\n"));
        }
        out.push_str(&format!(
            "{} policy file(s): {} error(s), {} warning(s)\n",
            self.files,
            self.errors.len(),
            self.warnings.len()
        ));
        out
    }
}

pub fn check(dir: &Path) -> Result<CheckReport, CheckError> {
    let files = PolicySet::files(dir).map_err(CheckError::List)?;
    let mut report = CheckReport {
        files: files.len(),
        ..CheckReport::default()
    };
    let mut documents = Vec::new();
    for file in &files {
        match parse(&file.path) {
            Ok(document) => documents.push((file, document)),
            Err(error) => report.errors.push(error.to_string()),
        }
    }
    for (file, document) in &documents {
        report.warnings.extend(risk::warnings(file, document));
    }
    if report.errors.is_empty() {
        // The load the server runs, for every service a file names and one stand-in service
        // per tenant, so that merging and templating are checked too.
        let callers = callers(&files);
        match PolicySet::load(dir, &callers) {
            Ok(set) => report
                .warnings
                .extend(shadow_warnings(&set, &callers, &documents)),
            Err(error) => report.errors.push(error.to_string()),
        }
    }
    report.warnings.sort();
    report.warnings.dedup();
    Ok(report)
}

/// Reads and parses one file with the server's parser.
fn parse(path: &Path) -> Result<PolicyDocument, PolicyError> {
    let text = std::fs::read_to_string(path).map_err(|source| PolicyError::Read {
        file: path.to_path_buf(),
        source,
    })?;
    let format = Format::from_path(path).ok_or_else(|| PolicyError::FileName {
        file: path.to_path_buf(),
    })?;
    document::parse(path, &text, format)
}

fn callers(files: &[PolicyFile]) -> Vec<Caller> {
    let mut callers: Vec<Caller> = files
        .iter()
        .filter_map(|file| {
            Caller::new(&file.tenant, file.service.as_deref().unwrap_or(ANY_SERVICE)).ok()
        })
        .collect();
    callers.sort();
    callers.dedup();
    callers
}

fn shadow_warnings(
    set: &PolicySet,
    callers: &[Caller],
    documents: &[(&PolicyFile, PolicyDocument)],
) -> Vec<Warning> {
    // Warnings name the pattern as written, templates included, found by file and line.
    let written: HashMap<(&Path, u32), &str> = documents
        .iter()
        .flat_map(|(file, document)| {
            document
                .rules
                .iter()
                .map(|rule| ((file.path.as_path(), rule.line), rule.pattern.as_str()))
        })
        .collect();
    let as_written = |source: &RuleSource| -> String {
        written
            .get(&(source.file.as_path(), source.line))
            .map_or_else(|| source.pattern.clone(), |p| (*p).to_owned())
    };
    shadow::shadowed_denies(set, callers)
        .into_iter()
        .map(|shadowed| Warning {
            file: PathBuf::from(shadowed.deny.file.as_path()),
            line: shadowed.deny.line,
            pattern: as_written(&shadowed.deny),
            message: format!(
                "this deny does not take effect on {:?}: {:?} at {}:{} has higher priority there and is used alone (vault-semantics §1.3); add an exact deny or narrow the grant",
                shadowed.example,
                as_written(&shadowed.winner),
                shadowed.winner.file.display(),
                shadowed.winner.line
            ),
        })
        .collect()
}
