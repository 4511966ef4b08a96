//! `Operation`: one Vault request classified exactly as Vault/OpenBao would read it, in one
//! canonical form that is both what the policy authorizes and what is forwarded upstream.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method};
use serde_json::{Map, Value};

/// Vault's capabilities (`deny` lives in policy rules only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Capability {
    Create,
    Read,
    Update,
    Patch,
    Delete,
    List,
    Scan,
    Sudo,
}

/// What the request does, before the existence check Vault would run for writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verb {
    /// GET
    Read,
    /// LIST, or GET with `?list=<true>`
    List,
    /// SCAN, or GET with `?scan=<true>` (OpenBao)
    Scan,
    /// POST/PUT: Vault decides create vs update by an existence check the proxy cannot see.
    Write,
    /// PATCH
    Patch,
    /// DELETE
    Delete,
    /// HELP, or any method with a non-empty `?help=`
    Help,
    /// HEAD
    Head,
}

/// Limits applied while classifying; defaults follow vault-semantics §3.5.
#[derive(Debug, Clone)]
pub struct ClassifyLimits {
    pub max_path_bytes: usize,
    pub max_segments: usize,
    pub max_json_depth: usize,
}

impl Default for ClassifyLimits {
    fn default() -> Self {
        ClassifyLimits {
            max_path_bytes: 4096,
            max_segments: 64,
            max_json_depth: 64,
        }
    }
}

/// A classified Vault request in canonical form.
#[derive(Debug, Clone)]
pub struct Operation {
    pub verb: Verb,
    /// Canonical namespace without leading/trailing `/`; empty for the root namespace.
    pub namespace: String,
    /// Percent-decoded path after `/v1/` (namespace not included), no leading `/`.
    /// List and scan paths end in exactly one `/`, as Vault appends it.
    pub path: String,
    /// `namespace + "/" + path` (or `path` in the root namespace): what rules match against.
    pub full_path: String,
    /// Decoded query pairs in order, `list`/`scan`/`help` removed. Empty for writes and patch
    /// (Vault ignores the query there).
    pub query: Vec<(String, String)>,
    /// Request data as Vault's ACL sees it for parameter constraints: the query for reads,
    /// lists and deletes (one value -> string, several -> array), the top-level keys of the
    /// JSON body for writes and patch.
    pub params: Map<String, Value>,
    /// The validated body for writes and patch (empty otherwise); forwarded byte for byte.
    pub body: Bytes,
    /// `X-Vault-Wrap-TTL` as asked by the caller.
    pub wrap_ttl: Option<Duration>,
    /// Caller headers that survive the allow-list and are forwarded upstream.
    pub forward_headers: HeaderMap,
}

/// Why a request was refused before authorization. Every variant is a caller error.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ClassifyError {
    /// The request could be read differently by Vault and by the proxy, or is malformed.
    #[error("{0}")]
    Ambiguous(String),
    #[error("unsupported method {0}")]
    Method(String),
    #[error("request path is longer than {limit} bytes or has more than {segments} segments")]
    PathTooLong { limit: usize, segments: usize },
    #[error("{0}")]
    MediaType(String),
}

impl ClassifyError {
    /// The HTTP status this refusal is answered with.
    pub fn status(&self) -> http::StatusCode {
        match self {
            ClassifyError::Ambiguous(_) => http::StatusCode::BAD_REQUEST,
            ClassifyError::Method(_) => http::StatusCode::METHOD_NOT_ALLOWED,
            ClassifyError::PathTooLong { .. } => http::StatusCode::URI_TOO_LONG,
            ClassifyError::MediaType(_) => http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
        }
    }
}

impl Operation {
    /// Classifies a request whose hop-by-hop headers are still present (this function
    /// refuses the ambiguous ones) and whose body was already read within the body limit.
    pub fn classify(
        _parts: &http::request::Parts,
        _body: Bytes,
        _limits: &ClassifyLimits,
    ) -> Result<Operation, ClassifyError> {
        Err(ClassifyError::Method(Method::GET.to_string()))
    }

    /// The origin-form target forwarded upstream: `/v1/` + percent-encoded `full_path`, and
    /// the query rebuilt from `query` (plus `list=true`/`scan=true`/`help=1` for those verbs).
    pub fn upstream_target(&self) -> String {
        String::new()
    }

    /// The method used upstream: GET for read/list/scan/help, POST for writes, PATCH,
    /// DELETE, HEAD.
    pub fn upstream_method(&self) -> Method {
        Method::GET
    }
}
