//! What one Vault node says about itself in `sys/health` (`NodeState`), and `Snapshot`: every
//! configured node's last known state and which one requests go to.

use std::sync::Arc;

use serde_json::Value;
use tokio::time::Instant;

/// A node's role as its own `sys/health` answer states it (status code and body agreeing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeState {
    /// Not checked yet.
    Unknown,
    /// 200: initialized, unsealed and active; the only node requests are sent to.
    Active,
    /// 429: an unsealed standby.
    Standby,
    /// 473: a performance standby (Vault Enterprise); serves some reads, not the active node.
    PerformanceStandby,
    /// 472: a disaster-recovery secondary (Vault Enterprise).
    DrSecondary,
    /// 501: never initialized.
    Uninitialized,
    /// 503: sealed (or still starting).
    Sealed,
    /// No answer: refused, reset or silent past the probe timeout.
    Unreachable,
    /// An answer that is not a Vault health answer vaultgate knows (wrong status, or a body
    /// that contradicts it): never trusted with requests.
    Unexpected(u16),
}

impl NodeState {
    /// Reads a `sys/health` answer (asked without `standbyok` and friends, so the status code
    /// carries the role). The body must agree with the code: a 200 from something that is
    /// not an unsealed active Vault does not make it the active node.
    pub fn from_health(status: u16, body: &Value) -> NodeState {
        let flag = |name: &str| body.get(name).and_then(Value::as_bool);
        let (initialized, sealed, standby) = (flag("initialized"), flag("sealed"), flag("standby"));
        match status {
            200 if initialized == Some(true) && sealed == Some(false) && standby == Some(false) => {
                NodeState::Active
            }
            429 if sealed == Some(false) && standby == Some(true) => NodeState::Standby,
            473 if sealed == Some(false) => NodeState::PerformanceStandby,
            472 => NodeState::DrSecondary,
            501 if initialized == Some(false) => NodeState::Uninitialized,
            503 if sealed.is_some() => NodeState::Sealed,
            other => NodeState::Unexpected(other),
        }
    }

    /// The label `/readyz` and `/metrics` show.
    pub fn as_str(self) -> &'static str {
        match self {
            NodeState::Unknown => "unknown",
            NodeState::Active => "active",
            NodeState::Standby => "standby",
            NodeState::PerformanceStandby => "performance_standby",
            NodeState::DrSecondary => "dr_secondary",
            NodeState::Uninitialized => "uninitialized",
            NodeState::Sealed => "sealed",
            NodeState::Unreachable => "unreachable",
            NodeState::Unexpected(_) => "unexpected",
        }
    }

    /// Every label, for metrics that show one series per state.
    pub const LABELS: [&'static str; 9] = [
        "unknown",
        "active",
        "standby",
        "performance_standby",
        "dr_secondary",
        "uninitialized",
        "sealed",
        "unreachable",
        "unexpected",
    ];
}

/// One configured node as last seen.
#[derive(Debug, Clone)]
pub struct NodeStatus {
    /// As configured: `scheme://host:port`.
    pub address: Arc<str>,
    pub state: NodeState,
    /// The version its last health answer reported.
    pub version: Option<String>,
    /// When a request's failure on this node was reported; a health probe that started
    /// before then cannot undo it.
    pub(super) reported: Option<Instant>,
    /// When the probe that gave `state` started: of two nodes claiming to be active, the
    /// fresher claim wins.
    pub(super) seen: Option<Instant>,
}

/// Every node's state and the one requests go to. Replaced whole, never edited in place.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// In configuration order.
    pub nodes: Vec<NodeStatus>,
    /// Index of the node requests go to: an `Active` one.
    pub active: Option<usize>,
    /// The last node requests went to, across the gaps with none.
    last_active: Option<usize>,
    /// How many times the node requests go to changed to another one (failovers seen).
    pub active_changes: u64,
    /// Completed rounds of health checks.
    pub checks: u64,
}

impl Snapshot {
    pub(super) fn new(addresses: &[String]) -> Snapshot {
        Snapshot {
            nodes: addresses
                .iter()
                .map(|a| NodeStatus {
                    address: a.as_str().into(),
                    state: NodeState::Unknown,
                    version: None,
                    reported: None,
                    seen: None,
                })
                .collect(),
            active: None,
            last_active: None,
            active_changes: 0,
            checks: 0,
        }
    }

    /// Picks the node requests go to among those claiming to be active: the current one,
    /// unless another's claim is fresher (an old leader cut off from its peers believes it
    /// leads until its lease runs out; the node elected since answered later).
    pub(super) fn elect(&mut self) {
        let claims = |i: &usize| self.nodes[*i].state == NodeState::Active;
        let seen = |i: usize| self.nodes[i].seen;
        let freshest = (0..self.nodes.len())
            .filter(claims)
            .max_by_key(|i| (seen(*i), std::cmp::Reverse(*i)));
        self.active = match (self.active.filter(claims), freshest) {
            (Some(current), Some(other)) if seen(current) >= seen(other) => Some(current),
            (_, freshest) => freshest,
        };
        if let Some(now) = self.active {
            if self.last_active.is_some_and(|before| before != now) {
                self.active_changes += 1;
            }
            self.last_active = Some(now);
        }
    }

    /// `https://a: active, https://b: sealed, ...`, for errors and logs.
    pub fn describe(&self) -> String {
        self.nodes
            .iter()
            .map(|n| format!("{}: {}", n.address, n.state.as_str()))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::Duration;

    #[test]
    fn health_answers_as_openbao_2_7_gives_them() {
        // Bodies as a 3-node raft cluster of OpenBao 2.7.2 answered them (trimmed).
        let cases = [
            (
                200,
                json!({"initialized": true, "sealed": false, "standby": false}),
                NodeState::Active,
            ),
            (
                429,
                json!({"initialized": true, "sealed": false, "standby": true}),
                NodeState::Standby,
            ),
            (
                503,
                json!({"initialized": true, "sealed": true, "standby": true}),
                NodeState::Sealed,
            ),
            (
                501,
                json!({"initialized": false, "sealed": true, "standby": true}),
                NodeState::Uninitialized,
            ),
            (
                473,
                json!({"initialized": true, "sealed": false, "standby": true}),
                NodeState::PerformanceStandby,
            ),
            (
                472,
                json!({"initialized": true, "sealed": false, "standby": false}),
                NodeState::DrSecondary,
            ),
        ];
        for (status, body, want) in cases {
            assert_eq!(
                NodeState::from_health(status, &body),
                want,
                "{status} {body}"
            );
        }
    }

    #[test]
    fn an_answer_whose_body_contradicts_its_status_is_not_trusted() {
        // A 200 from a load balancer's own page, or a standby asked with standbyok=true.
        assert_eq!(
            NodeState::from_health(200, &json!({})),
            NodeState::Unexpected(200)
        );
        let standby_ok = json!({"initialized": true, "sealed": false, "standby": true});
        assert_eq!(
            NodeState::from_health(200, &standby_ok),
            NodeState::Unexpected(200)
        );
        assert_eq!(
            NodeState::from_health(404, &Value::Null),
            NodeState::Unexpected(404)
        );
        assert_eq!(
            NodeState::from_health(429, &json!({"sealed": true})),
            NodeState::Unexpected(429)
        );
    }

    #[test]
    fn every_state_has_its_metrics_label() {
        let all = [
            NodeState::Unknown,
            NodeState::Active,
            NodeState::Standby,
            NodeState::PerformanceStandby,
            NodeState::DrSecondary,
            NodeState::Uninitialized,
            NodeState::Sealed,
            NodeState::Unreachable,
            NodeState::Unexpected(418),
        ];
        let labels: Vec<&str> = all.iter().map(|s| s.as_str()).collect();
        assert_eq!(labels, NodeState::LABELS);
    }

    #[test]
    fn the_fresher_claim_to_be_active_wins_and_changes_are_counted() {
        let mut s = Snapshot::new(&["http://a".into(), "http://b".into(), "http://c".into()]);
        let t0 = Instant::now();
        let claim = |s: &mut Snapshot, i: usize, state: NodeState, after: u64| {
            s.nodes[i].state = state;
            s.nodes[i].seen = Some(t0 + Duration::from_secs(after));
            s.elect();
        };
        claim(&mut s, 1, NodeState::Active, 0);
        assert_eq!(
            (s.active, s.active_changes),
            (Some(1), 0),
            "the first pick is no change"
        );
        // Two claims from the same round: the current node stays.
        claim(&mut s, 0, NodeState::Active, 0);
        assert_eq!((s.active, s.active_changes), (Some(1), 0));
        // A later claim by another node: it was elected since.
        claim(&mut s, 2, NodeState::Active, 1);
        assert_eq!((s.active, s.active_changes), (Some(2), 1));
        claim(&mut s, 2, NodeState::Unreachable, 2);
        assert_eq!(
            (s.active, s.active_changes),
            (Some(0), 2),
            "claims of one age: config order"
        );
        claim(&mut s, 0, NodeState::Sealed, 3);
        assert_eq!((s.active, s.active_changes), (Some(1), 3));
        claim(&mut s, 1, NodeState::Standby, 3);
        assert_eq!(s.active, None);
        claim(&mut s, 2, NodeState::Active, 4);
        assert_eq!(
            (s.active, s.active_changes),
            (Some(2), 4),
            "a gap with none is one change"
        );
        assert_eq!(
            s.describe(),
            "http://a: sealed, http://b: standby, http://c: active"
        );
    }
}
