//! Sending to a cluster's active node, and what a request does when that node fails it: an
//! answer proving the node did not process the request (refused connection, "sealed", a
//! standby without a leader, a redirect to another configured node) sends it again to the
//! node the health check finds active; a connection lost after sending resends only reads.

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

/// The largest error body read to tell a refusal from a real error.
const MAX_ERROR_BODY: usize = 64 * 1024;

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
}

impl Failure {
    /// The node's state as the failure shows it.
    fn node_state(&self) -> NodeState {
        match self {
            Failure::NotConnected(_) | Failure::Broken(_) => NodeState::Unreachable,
            Failure::Refused { state, .. } => *state,
        }
    }

    /// Whether sending the request again cannot apply it twice: it provably did not reach
    /// a handler, or it is a read (a write whose answer was lost may have been applied).
    fn resendable(&self, idempotent: bool) -> bool {
        match self {
            Failure::NotConnected(_) | Failure::Refused { .. } => true,
            Failure::Broken(_) => idempotent,
        }
    }

    fn into_error(self, idempotent: bool) -> UpstreamError {
        match self {
            Failure::NotConnected(why) => UpstreamError::Down(why),
            Failure::Broken(why) if idempotent => UpstreamError::Unreachable(why),
            Failure::Broken(why) => UpstreamError::Unreachable(format!(
                "{why}; the request may have reached Vault, so it was not sent again"
            )),
            Failure::Refused { said, .. } => UpstreamError::NoActiveNode(said),
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
        let mut resends = 0;
        loop {
            let (node, address) = cluster
                .active(deadline)
                .await
                .map_err(|snapshot| UpstreamError::NoActiveNode(snapshot.describe()))?;
            let uri = format!("{address}{target}");
            let req = request(method.clone(), &uri, headers.clone(), body.clone())?;
            let failure = match tokio::time::timeout_at(deadline, self.client.request(req)).await {
                Err(_) => {
                    // Slow is not down: the check decides whether the node still serves.
                    cluster.recheck();
                    return Err(UpstreamError::Timeout(self.timeout));
                }
                Ok(Err(e)) if e.is_connect() => {
                    Failure::NotConnected(format!("{address}: {}", error_chain(&e)))
                }
                Ok(Err(e)) => Failure::Broken(format!("{address}: {}", error_chain(&e))),
                Ok(Ok(resp)) => match self.examine(cluster, resp, deadline).await {
                    Ok(answer) => return Ok(answer),
                    Err(failure) => failure,
                },
            };
            cluster.report(node, failure.node_state());
            if resends < MAX_RESENDS && failure.resendable(idempotent) {
                resends += 1;
                continue;
            }
            return Err(failure.into_error(idempotent));
        }
    }

    /// Vault's answer, unless it says the node does not serve requests. Only error answers
    /// that could say so are read here (they are small); every other body streams on.
    async fn examine(
        &self,
        cluster: &Cluster,
        resp: Response<Incoming>,
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
        // A refusal is a small JSON body with its length declared; anything else streams on
        // untouched, whatever its status.
        let small = resp
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<usize>().ok())
            .is_some_and(|n| n <= MAX_ERROR_BODY);
        let could_refuse = matches!(
            status,
            StatusCode::INTERNAL_SERVER_ERROR | StatusCode::SERVICE_UNAVAILABLE
        );
        if !(could_refuse && small) {
            return Ok(self.streamed(resp));
        }
        let (parts, body) = resp.into_parts();
        let read = Limited::new(body, MAX_ERROR_BODY).collect();
        let bytes = match tokio::time::timeout_at(deadline, read).await {
            Ok(Ok(collected)) => collected.to_bytes(),
            Ok(Err(e)) => return Err(Failure::Broken(format!("reading an error answer: {e}"))),
            Err(_) => return Err(Failure::Broken("reading an error answer: timed out".into())),
        };
        if let Some((state, said)) = not_serving(&bytes) {
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
        assert!(broken.resendable(true));
        assert!(!broken.resendable(false));
        let err = broken.into_error(false).to_string();
        assert!(err.contains("may have reached Vault"), "{err}");
        let refused = Failure::Refused {
            state: NodeState::Sealed,
            said: "Vault is sealed".into(),
        };
        assert!(refused.resendable(false));
        assert_eq!(refused.node_state(), NodeState::Sealed);
        assert!(Failure::NotConnected("refused".into()).resendable(false));
        assert_eq!(
            Failure::NotConnected("x".into()).into_error(false).status(),
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
