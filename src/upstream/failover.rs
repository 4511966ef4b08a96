//! Sending to a cluster's active node, and what a request does when that node fails it: an
//! answer proving the node did not process the request (refused connection, "sealed", a
//! standby without a leader, a redirect to another configured node) sends it again to the
//! node the health check finds active; a connection lost after sending (or while a small
//! answer is read whole) sends only reads again.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{header, Method, Response, StatusCode};
use http_body_util::{BodyExt, Either, Full, Limited};
use hyper::body::Incoming;
use tokio::time::Instant;

use super::cluster::Cluster;
use super::node::NodeState;
use super::{error_chain, request, Deadline, Upstream, UpstreamError, VaultBody};

/// Resends per request, at most: enough for a broken connection, then the dead node's
/// refused one, then the new active node.
const MAX_RESENDS: usize = 2;

/// The largest answer read whole before it is returned: an error that may be a refusal, or
/// a read's answer (so that a connection lost mid-answer still lets the read go again).
const MAX_BUFFERED: usize = 64 * 1024;

/// What OpenBao (2.7) and Vault answer, before any handler runs, on a node that does not
/// serve requests. Each `errors` entry is matched whole or as the end of a wrapped message
/// (`error performing token check: Vault is sealed`).
const NOT_SERVING: [(&str, NodeState); 2] = [
    ("Vault is sealed", NodeState::Sealed),
    (
        "local node not active but active cluster node not found",
        NodeState::Standby,
    ),
];

/// How an attempt at the node believed active failed.
#[derive(Debug)]
pub(super) enum Failure {
    /// No connection could be made: nothing was sent.
    NotConnected(String),
    /// The connection failed after the request may have been written.
    Broken(String),
    /// The node answered that it does not serve requests; it did not process this one.
    Refused { state: NodeState, said: String },
    /// No (whole) answer by the deadline.
    TimedOut,
}

impl Failure {
    /// The node's state as the failure shows it; none for a slow node (slow is not down:
    /// the health check decides whether it still serves).
    fn node_state(&self) -> Option<NodeState> {
        match self {
            Failure::NotConnected(_) | Failure::Broken(_) => Some(NodeState::Unreachable),
            Failure::Refused { state, .. } => Some(*state),
            Failure::TimedOut => None,
        }
    }

    /// Whether sending the request again cannot apply it twice: it provably did not reach
    /// a handler, or it is a read (a write whose answer was lost may have been applied),
    /// sent again after a lost answer once at most (`lost_before`).
    fn resendable(&self, idempotent: bool, lost_before: bool) -> bool {
        match self {
            Failure::NotConnected(_) | Failure::Refused { .. } => true,
            Failure::Broken(_) => idempotent && !lost_before,
            // The deadline has passed.
            Failure::TimedOut => false,
        }
    }

    fn into_error(self, node: Arc<str>, idempotent: bool, timeout: Duration) -> UpstreamError {
        match self {
            Failure::NotConnected(cause) => UpstreamError::Down { node, cause },
            Failure::Broken(cause) => UpstreamError::Lost {
                node,
                cause,
                maybe_applied: !idempotent,
            },
            Failure::Refused { said, .. } => UpstreamError::NoActiveNode(said),
            Failure::TimedOut => UpstreamError::Timeout(timeout),
        }
    }
}

/// A Vault `{"errors":[...]}` body that says the node does not serve requests.
pub(super) fn not_serving(body: &[u8]) -> Option<(NodeState, String)> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    value["errors"].as_array()?.iter().find_map(|e| {
        let text = e.as_str()?;
        NOT_SERVING.iter().find_map(|(phrase, state)| {
            let wrapped = text
                .strip_suffix(phrase)
                .is_some_and(|head| head.is_empty() || head.ends_with(": "));
            wrapped.then(|| (*state, text.to_owned()))
        })
    })
}

/// The `scheme://host:port` a redirect's `Location` points to; none when it is relative.
pub(super) fn redirect_origin(location: &str) -> Option<String> {
    let uri: http::Uri = location.parse().ok()?;
    Some(format!("{}://{}", uri.scheme_str()?, uri.authority()?))
}

impl Upstream {
    pub(super) async fn send_to_active(
        &self,
        cluster: &Cluster,
        method: Method,
        target: &str,
        headers: http::HeaderMap,
        body: Bytes,
    ) -> Result<Response<VaultBody>, UpstreamError> {
        let deadline = Instant::now() + self.timeout;
        let idempotent = matches!(method, Method::GET | Method::HEAD);
        let (mut resends, mut lost_before) = (0, false);
        loop {
            let (node, address) = cluster
                .active(deadline)
                .await
                .map_err(|snapshot| UpstreamError::NoActiveNode(snapshot.describe()))?;
            let uri = format!("{address}{target}");
            let req = request(method.clone(), &uri, headers.clone(), body.clone())?;
            let sent = tokio::time::timeout_at(deadline, self.client.request(req)).await;
            let failure = match sent {
                Err(_) => Failure::TimedOut,
                Ok(Err(e)) if e.is_connect() => Failure::NotConnected(error_chain(&e)),
                Ok(Err(e)) => Failure::Broken(error_chain(&e)),
                Ok(Ok(resp)) => match self.examine(cluster, resp, idempotent, deadline).await {
                    Ok(answer) => return Ok(answer),
                    Err(failure) => failure,
                },
            };
            match failure.node_state() {
                Some(state) => cluster.report(node, state),
                None => cluster.recheck(),
            }
            if resends < MAX_RESENDS && failure.resendable(idempotent, lost_before) {
                resends += 1;
                lost_before |= matches!(failure, Failure::Broken(_));
                continue;
            }
            return Err(failure.into_error(address, idempotent, self.timeout));
        }
    }

    /// Vault's answer, unless the node says it does not serve requests, or (for a read) the
    /// connection is lost before the whole of a small answer came.
    async fn examine(
        &self,
        cluster: &Cluster,
        resp: Response<Incoming>,
        idempotent: bool,
        deadline: Instant,
    ) -> Result<Response<VaultBody>, Failure> {
        let status = resp.status();
        if matches!(
            status,
            StatusCode::TEMPORARY_REDIRECT | StatusCode::PERMANENT_REDIRECT
        ) {
            let location = resp
                .headers()
                .get(header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .and_then(redirect_origin);
            // A standby points at the node it believes active. Only a configured node's
            // redirect means anything here; it is never followed, the health check decides
            // where the request goes. Any other redirect goes back as it came (and the
            // proxy refuses it).
            if let Some(origin) = location.filter(|o| cluster.node_at(o).is_some()) {
                return Err(Failure::Refused {
                    state: NodeState::Standby,
                    said: format!("a standby redirected to {origin}"),
                });
            }
        }
        // A refusal is a small JSON body with its length declared, and so is a typical read's
        // answer: those are read whole here. Anything else streams on untouched.
        let small = resp
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<usize>().ok())
            .is_some_and(|n| n <= MAX_BUFFERED);
        let could_refuse = matches!(
            status,
            StatusCode::INTERNAL_SERVER_ERROR | StatusCode::SERVICE_UNAVAILABLE
        );
        if !(small && (could_refuse || idempotent)) {
            return Ok(self.streamed(resp));
        }
        let (parts, body) = resp.into_parts();
        let read = Limited::new(body, MAX_BUFFERED).collect();
        let bytes = match tokio::time::timeout_at(deadline, read).await {
            Ok(Ok(collected)) => collected.to_bytes(),
            Ok(Err(e)) => return Err(Failure::Broken(format!("reading the answer: {e}"))),
            Err(_) => return Err(Failure::TimedOut),
        };
        if let Some((state, said)) = not_serving(&bytes).filter(|_| could_refuse) {
            return Err(Failure::Refused { state, said });
        }
        let body = Deadline::new(Either::Right(Full::new(bytes)), self.timeout);
        Ok(Response::from_parts(parts, body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_answers_of_a_node_that_does_not_serve_count_as_refusals() {
        let sealed = br#"{"errors":["Vault is sealed"]}"#;
        assert_eq!(not_serving(sealed).map(|r| r.0), Some(NodeState::Sealed));
        let wrapped = br#"{"errors":["error performing token check: Vault is sealed"]}"#;
        assert_eq!(not_serving(wrapped).map(|r| r.0), Some(NodeState::Sealed));
        let leaderless =
            br#"{"errors":["local node not active but active cluster node not found"]}"#;
        assert_eq!(
            not_serving(leaderless).map(|r| r.0),
            Some(NodeState::Standby)
        );
        // A backend's own failure may have changed something: it is Vault's answer.
        for body in [
            &br#"{"errors":["internal error"]}"#[..],
            br#"{"errors":["the database said: Vault is sealed soon"]}"#,
            br#"{"errors":["xVault is sealed"]}"#,
            br#"{"errors":[]}"#,
            b"Vault is sealed",
            b"",
        ] {
            assert_eq!(not_serving(body), None, "{}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn a_lost_answer_resends_reads_only_and_a_refusal_resends_anything() {
        let broken = Failure::Broken("reset".into());
        assert!(broken.resendable(true, false));
        assert!(
            !broken.resendable(true, true),
            "a read goes again once after a loss"
        );
        assert!(!broken.resendable(false, false));
        let err = broken.into_error("http://n1:8200".into(), false, Duration::from_secs(5));
        assert!(matches!(
            err,
            UpstreamError::Lost {
                maybe_applied: true,
                ..
            }
        ));
        let err = err.to_string();
        assert!(
            err.contains("http://n1:8200: reset") && err.contains("may have reached Vault"),
            "{err}"
        );
        let refused = Failure::Refused {
            state: NodeState::Sealed,
            said: "Vault is sealed".into(),
        };
        assert!(refused.resendable(false, true));
        assert_eq!(refused.node_state(), Some(NodeState::Sealed));
        assert!(
            !Failure::TimedOut.resendable(true, false),
            "the deadline has passed"
        );
        assert_eq!(Failure::TimedOut.node_state(), None, "slow is not down");
        assert!(Failure::NotConnected("refused".into()).resendable(false, true));
        assert_eq!(
            Failure::NotConnected("x".into())
                .into_error("http://n1:8200".into(), false, Duration::from_secs(5))
                .status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
    }

    #[test]
    fn redirects_are_matched_by_origin_and_relative_ones_by_none() {
        assert_eq!(
            redirect_origin("https://vault-2:8200/v1/secret/data/x").as_deref(),
            Some("https://vault-2:8200")
        );
        assert_eq!(redirect_origin("/v1/secret/data/x"), None);
        assert_eq!(redirect_origin("v1/x"), None);
    }
}
