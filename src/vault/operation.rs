//! `Operation`: one Vault request classified exactly as Vault/OpenBao would read it, in one
//! canonical form that is both what the policy authorizes and what is forwarded upstream.

mod body;
mod headers;
mod query;
mod target;
#[cfg(test)]
mod tests;

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

/// The method as Vault dispatches on it, before the query can turn a GET into a list or scan.
#[derive(Debug, Clone, Copy)]
enum MethodKind {
    Get,
    Fixed(Verb),
}

impl MethodKind {
    /// Method names are case-sensitive in Vault (`get` is 405), and `http` keeps extension
    /// methods byte for byte, so an exact string match is the same test Vault makes.
    fn of(method: &Method) -> Result<MethodKind, ClassifyError> {
        let kind = match method.as_str() {
            "GET" => MethodKind::Get,
            "LIST" => MethodKind::Fixed(Verb::List),
            "SCAN" => MethodKind::Fixed(Verb::Scan),
            "POST" | "PUT" => MethodKind::Fixed(Verb::Write),
            "PATCH" => MethodKind::Fixed(Verb::Patch),
            "DELETE" => MethodKind::Fixed(Verb::Delete),
            "HEAD" => MethodKind::Fixed(Verb::Head),
            "HELP" => MethodKind::Fixed(Verb::Help),
            other => return Err(ClassifyError::Method(other.to_owned())),
        };
        Ok(kind)
    }

    /// Applies the query the way Vault does: a non-empty `help` wins over every method (its
    /// help wrapper runs before dispatch); `list`/`scan` only change a GET.
    fn verb(self, query: &query::ParsedQuery) -> Result<Verb, ClassifyError> {
        if query.list == Some(true) && query.scan == Some(true) {
            return Err(ambiguous("list and scan are both true"));
        }
        if query.help {
            return Ok(Verb::Help);
        }
        Ok(match self {
            MethodKind::Fixed(verb) => verb,
            MethodKind::Get if query.list == Some(true) => Verb::List,
            MethodKind::Get if query.scan == Some(true) => Verb::Scan,
            MethodKind::Get => Verb::Read,
        })
    }
}

fn ambiguous(reason: impl Into<String>) -> ClassifyError {
    ClassifyError::Ambiguous(reason.into())
}

/// `/v1/` + a full path as forwarded upstream, percent-encoded.
pub fn upstream_path(full_path: &str) -> String {
    format!("/v1/{}", target::encode_path(full_path))
}

impl Operation {
    /// Classifies a request whose hop-by-hop headers are still present (this function
    /// refuses the ambiguous ones) and whose body was already read within the body limit.
    pub fn classify(
        parts: &http::request::Parts,
        body: Bytes,
        limits: &ClassifyLimits,
    ) -> Result<Operation, ClassifyError> {
        let kind = MethodKind::of(&parts.method)?;
        target::check_form(&parts.uri, parts.version)?;
        let raw_rest = target::raw_rest(parts.uri.path(), limits)?;
        let raw_query = parts.uri.query().unwrap_or("");
        target::check_raw(raw_query)?;
        let parsed = query::parse(raw_query)?;
        let verb = kind.verb(&parsed)?;
        let listing = matches!(verb, Verb::List | Verb::Scan);
        let path = target::canonical_path(&target::decode(raw_rest)?, listing)?;

        headers::check(&parts.headers)?;
        let namespace = headers::namespace(&parts.headers)?;
        let wrap_ttl = headers::wrap_ttl(&parts.headers)?;
        let full_path = if namespace.is_empty() {
            path.clone()
        } else {
            format!("{namespace}/{path}")
        };
        // The namespace moves into the forwarded path, so the limits that protect Vault from
        // long paths must hold for the combination too, not only for the caller's path.
        target::check_limits(&full_path, limits)?;

        // A form is forwarded rebuilt as JSON, and says so.
        let mut form = false;
        let (query, params, body) = match verb {
            // Vault reads writes and patches from the body only and ignores the query.
            Verb::Write | Verb::Patch => {
                let (params, rebuilt) = body::params(
                    &parts.headers,
                    &body,
                    limits.max_json_depth,
                    verb == Verb::Patch,
                )?;
                if rebuilt.is_some() {
                    form = true;
                }
                (Vec::new(), params, rebuilt.unwrap_or(body))
            }
            // Every other verb ignores the body, so it is dropped rather than forwarded.
            _ => {
                let params = query::params(&parsed.pairs);
                body::check_case_collisions(&params)?;
                (parsed.pairs, params, Bytes::new())
            }
        };
        Ok(Operation {
            verb,
            namespace,
            path,
            full_path,
            query,
            params,
            body,
            wrap_ttl,
            forward_headers: headers::forwarded(&parts.headers, form),
        })
    }

    /// The origin-form target forwarded upstream: `/v1/` + percent-encoded `full_path`, and
    /// the query rebuilt from `query` (plus `list=true`/`scan=true`/`help=1` for those verbs).
    pub fn upstream_target(&self) -> String {
        let mut out = String::from("/v1/");
        out.push_str(&target::encode_path(&self.full_path));
        let mut pairs: Vec<String> = self
            .query
            .iter()
            .map(|(k, v)| {
                format!(
                    "{}={}",
                    target::encode_component(k),
                    target::encode_component(v)
                )
            })
            .collect();
        match self.verb {
            Verb::List => pairs.push("list=true".to_owned()),
            Verb::Scan => pairs.push("scan=true".to_owned()),
            Verb::Help => pairs.push("help=1".to_owned()),
            _ => {}
        }
        if !pairs.is_empty() {
            out.push('?');
            out.push_str(&pairs.join("&"));
        }
        out
    }

    /// The method used upstream: GET for read/list/scan/help, POST for writes, PATCH,
    /// DELETE, HEAD.
    pub fn upstream_method(&self) -> Method {
        match self.verb {
            Verb::Read | Verb::List | Verb::Scan | Verb::Help => Method::GET,
            Verb::Write => Method::POST,
            Verb::Patch => Method::PATCH,
            Verb::Delete => Method::DELETE,
            Verb::Head => Method::HEAD,
        }
    }
}
