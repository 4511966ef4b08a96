//! `vaultgate policy test [DIR]`: the security team's policy unit tests, `DIR/tests/*.toml`,
//! each a list of `[[case]]` requests with the decision they must get from `DIR`'s policies.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use serde::Deserialize;

use crate::identity::Caller;
use crate::policy::{PolicyError, PolicySet};

use super::explain::{explain, ExplainRequest};

/// Why the tests could not run at all; a malformed test file is reported and counted instead.
#[derive(Debug, thiserror::Error)]
pub enum TestError {
    #[error("{}", dir.display())]
    List {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: no *.toml test files", dir.display())]
    Empty { dir: PathBuf },
    #[error(transparent)]
    Policy(#[from] PolicyError),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestFile {
    #[serde(default)]
    case: Vec<Case>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: Option<String>,
    caller: String,
    method: String,
    path: String,
    expect: Expect,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    /// A JSON request body, for writes.
    body: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Expect {
    Allow,
    Deny,
    Refuse,
}

impl Expect {
    fn as_str(self) -> &'static str {
        match self {
            Expect::Allow => "allow",
            Expect::Deny => "deny",
            Expect::Refuse => "refuse",
        }
    }
}

/// What a test run found.
#[derive(Debug, Default)]
pub struct TestReport {
    pub passed: usize,
    /// One line per failing case, with the explanation.
    pub failures: Vec<String>,
    /// One line per test file that could not be read or understood.
    pub malformed: Vec<String>,
}

impl TestReport {
    pub fn failed(&self) -> bool {
        !self.failures.is_empty() || !self.malformed.is_empty()
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        for line in self.malformed.iter().chain(&self.failures) {
            out.push_str(line);
            out.push('\n');
        }
        out.push_str(&format!(
            "{} passed, {} failed\n",
            self.passed,
            self.failures.len()
        ));
        if !self.malformed.is_empty() {
            out.push_str(&format!(
                "{} malformed test file(s)\n",
                self.malformed.len()
            ));
        }
        out
    }
}

/// Test files in name order.
fn test_files(dir: &Path) -> Result<Vec<PathBuf>, TestError> {
    let tests = dir.join("tests");
    let error = |source| TestError::List {
        dir: tests.clone(),
        source,
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(&tests).map_err(error)? {
        let path = entry.map_err(error)?.path();
        if path.extension().is_some_and(|ext| ext == "toml") && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    if files.is_empty() {
        return Err(TestError::Empty { dir: tests });
    }
    Ok(files)
}

/// A test file's cases with their callers parsed, or what is wrong with the file.
fn read_cases(file: &Path) -> Result<Vec<(Case, Caller)>, String> {
    let text = std::fs::read_to_string(file).map_err(|e| e.to_string())?;
    let parsed: TestFile = toml::from_str(&text).map_err(|e| e.to_string().trim().to_owned())?;
    if parsed.case.is_empty() {
        return Err("no [[case]] entries".to_owned());
    }
    parsed
        .case
        .into_iter()
        .enumerate()
        .map(|(i, case)| match Caller::parse(&case.caller) {
            Ok(caller) => Ok((case, caller)),
            Err(e) => Err(format!("case {}: {e}", i + 1)),
        })
        .collect()
}

pub fn run(dir: &Path) -> Result<TestReport, TestError> {
    let mut report = TestReport::default();
    let mut suites = Vec::new();
    for file in test_files(dir)? {
        match read_cases(&file) {
            Ok(cases) => suites.push((file, cases)),
            Err(problem) => report
                .malformed
                .push(format!("error: {}: {problem}", file.display())),
        }
    }
    let mut callers: Vec<Caller> = suites
        .iter()
        .flat_map(|(_, cases)| cases.iter().map(|(_, caller)| caller.clone()))
        .collect();
    callers.sort();
    callers.dedup();
    let set = PolicySet::load(dir, &callers)?;
    for (file, cases) in suites {
        for (i, (case, caller)) in cases.into_iter().enumerate() {
            let label = match &case.name {
                Some(name) => format!("{} case {} ({name})", file.display(), i + 1),
                None => format!("{} case {}", file.display(), i + 1),
            };
            let request = ExplainRequest {
                caller,
                method: case.method.clone(),
                path: case.path.clone(),
                headers: case.headers.into_iter().collect(),
                body: case.body.map(Bytes::from).unwrap_or_default(),
            };
            let line = match explain(&set, &request) {
                Ok(got) if got.decision == case.expect.as_str() => {
                    report.passed += 1;
                    continue;
                }
                Ok(got) => format!(
                    "FAIL {label}: {} {} as {}: expected {}, got {}",
                    case.method,
                    case.path,
                    case.caller,
                    case.expect.as_str(),
                    got.summary()
                ),
                Err(e) => format!("FAIL {label}: {e}"),
            };
            report.failures.push(line);
        }
    }
    Ok(report)
}
