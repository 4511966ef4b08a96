//! `ProxyError`: every way a request fails, with whose fault it is, and the one mapping of
//! errors to Vault-style HTTP responses.

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};
use http_body_util::{BodyExt, Full};

use super::ProxyBody;
use crate::budget::BudgetError;
use crate::connection::Unidentified;
pub use crate::fault::Side;
use crate::upstream::UpstreamError;
use crate::vault::operation::ClassifyError;

#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("{0}")]
    Identity(#[from] Unidentified),
    /// Refused before authorization: never cleaned or redirected (vault-semantics §3.5).
    #[error("request refused: {0}")]
    Classify(#[from] ClassifyError),
    #[error("connection limit reached; retry shortly")]
    ConnectionLimit,
    #[error("locked down by an operator: every request is refused and every token revoked")]
    Lockdown,
    #[error("request headers exceed the limit of {limit} bytes")]
    HeadersTooLarge { limit: usize },
    #[error("request has more than {limit} header fields")]
    TooManyHeaders { limit: usize },
    #[error("request body exceeds the limit of {limit} bytes")]
    BodyTooLarge { limit: usize },
    #[error("cannot read the request body: {0}")]
    Body(String),
    #[error("no Vault token is available yet for service {service}; retry shortly")]
    NoToken { service: String },
    #[error("upstream Vault: {0}")]
    Upstream(#[from] UpstreamError),
    #[error(
        "upstream Vault answered with a redirect ({status}); vaultgate never follows redirects"
    )]
    Redirect { status: u16 },
    #[error(transparent)]
    Budget(#[from] BudgetError),
    /// An HTTP/1 head the framing guard flagged (duplicate `Content-Length`, bare LF, ...).
    #[error("ambiguous request framing: {0}")]
    Framing(&'static str),
    /// The failure of a concurrent identical request this one waited for, with its side.
    #[error("{message}")]
    Shared {
        status: StatusCode,
        message: String,
        side: Side,
    },
}

impl ProxyError {
    pub fn side(&self) -> Side {
        match self {
            ProxyError::Identity(_)
            | ProxyError::Classify(_)
            | ProxyError::HeadersTooLarge { .. }
            | ProxyError::TooManyHeaders { .. }
            | ProxyError::BodyTooLarge { .. }
            | ProxyError::Body(_)
            | ProxyError::Framing(_)
            | ProxyError::Budget(_) => Side::Caller,
            ProxyError::Upstream(u) => u.side(),
            ProxyError::Redirect { .. } => Side::Upstream,
            ProxyError::Shared { side, .. } => *side,
            ProxyError::NoToken { .. } | ProxyError::ConnectionLimit | ProxyError::Lockdown => {
                Side::Internal
            }
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ProxyError::Identity(_) => StatusCode::FORBIDDEN,
            ProxyError::Classify(c) => c.status(),
            ProxyError::HeadersTooLarge { .. } | ProxyError::TooManyHeaders { .. } => {
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
            }
            ProxyError::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ProxyError::Body(_) | ProxyError::Framing(_) => StatusCode::BAD_REQUEST,
            ProxyError::Budget(_) => StatusCode::TOO_MANY_REQUESTS,
            ProxyError::NoToken { .. } | ProxyError::ConnectionLimit | ProxyError::Lockdown => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ProxyError::Upstream(u) => u.status(),
            ProxyError::Redirect { .. } => StatusCode::BAD_GATEWAY,
            ProxyError::Shared { status, .. } => *status,
        }
    }

    pub fn to_response(&self) -> Response<ProxyBody> {
        let prefix = match self.side() {
            Side::Upstream => "vaultgate: upstream error: ",
            _ => "vaultgate: ",
        };
        let mut resp = vault_error(self.status(), &format!("{prefix}{self}"));
        let retry_after = match self {
            ProxyError::Budget(over) => Some(over.retry_after()),
            _ => None,
        };
        if let Some(secs) = retry_after {
            resp.headers_mut()
                .insert(http::header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if matches!(
            self,
            ProxyError::ConnectionLimit
                | ProxyError::Budget(BudgetError::Connections { .. })
                | ProxyError::Framing(_)
                | ProxyError::Identity(_)
        ) {
            resp.headers_mut()
                .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
        }
        resp
    }
}

/// A response in Vault's own error shape, `{"errors":["..."]}`, so clients print it as usual.
pub fn vault_error(status: StatusCode, message: &str) -> Response<ProxyBody> {
    let body = serde_json::json!({ "errors": [message] }).to_string();
    let mut resp = Response::new(
        Full::new(Bytes::from(body))
            .map_err(|e| match e {})
            .boxed_unsync(),
    );
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}
