//! `PolicyError`: why a policy file or directory was refused. Every variant names the file,
//! and every problem inside a file names its 1-based line, so a security reviewer can jump there.

use std::path::PathBuf;

/// Why loading policies failed. A failed load leaves the caller's last good `PolicySet` in place.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// Something is wrong inside one policy file.
    #[error("{}:{line}: {problem}", file.display())]
    Invalid {
        file: PathBuf,
        line: u32,
        problem: Problem,
    },
    /// The file or directory could not be read.
    #[error("{}: {source}", file.display())]
    Read {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A source handed to `PolicySet::from_sources` is not named like a policy file.
    #[error("{}: policy files are named <tenant>.hcl|.json or <tenant>/<service>.hcl|.json", file.display())]
    FileName { file: PathBuf },
}

/// What is wrong at one line of a policy file.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum Problem {
    #[error("syntax error: {0}")]
    Syntax(String),
    #[error("unknown top-level key {0:?} (only \"name\" and \"path\" are allowed)")]
    UnknownTopLevelKey(String),
    #[error("unknown key {0:?} in path block")]
    UnknownKey(String),
    #[error("{0:?} is not supported by vaultgate")]
    Unsupported(String),
    #[error("unknown capability {0:?}")]
    UnknownCapability(String),
    #[error("unknown legacy policy {0:?} (expected \"read\", \"write\", \"sudo\" or \"deny\")")]
    UnknownLegacyPolicy(String),
    #[error("path {0:?}: invalid use of wildcards ('+*' is forbidden)")]
    PlusStar(String),
    #[error("path {pattern:?}: unknown template {template:?} (only {{{{tenant}}}} and {{{{service}}}} are supported)")]
    Template { pattern: String, template: String },
    #[error("a path block needs exactly one pattern label, like path \"secret/data/*\" {{ ... }}")]
    Label,
    #[error("{key:?} must be {expected}")]
    Type { key: String, expected: &'static str },
    #[error("{key:?}: invalid duration: {reason}; durations are {accepted}", accepted = crate::duration::ACCEPTED)]
    Duration {
        key: String,
        reason: crate::duration::DurationError,
    },
    #[error("invalid expiration {0:?}: expected an RFC 3339 timestamp")]
    Expiration(String),
    #[error("max_wrapping_ttl cannot be less than min_wrapping_ttl")]
    WrappingBounds,
    #[error("expressions (variables, functions, interpolation) are not allowed in policies")]
    Expression,
    #[error("{0:?} appears twice in one object: OpenBao joins the two, vaultgate's HCL reader would keep only the last; write it once")]
    RepeatedKey(String),
    #[error("parameters {0:?} and {1:?} differ only in case: Vault keeps one of the two (which one varies), so write one")]
    ParameterCase(String, String),
}
