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
                })
                .collect(),
            active: None,
            last_active: None,
            active_changes: 0,
            checks: 0,
        }
    }

    /// Picks the node requests go to: the current one while it is still active (two nodes
    /// can both claim it for a moment around an election), else the first active one.
    pub(super) fn elect(&mut self) {
        let active = |i: &usize| self.nodes[*i].state == NodeState::Active;
        self.active = self
            .active
            .filter(active)
            .or_else(|| (0..self.nodes.len()).find(active));
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
    fn the_current_active_node_is_kept_while_two_claim_it_and_changes_are_counted() {
        let mut s = Snapshot::new(&["http://a".into(), "http://b".into(), "http://c".into()]);
        s.nodes[1].state = NodeState::Active;
        s.elect();
        assert_eq!(
            (s.active, s.active_changes),
            (Some(1), 0),
            "the first pick is no change"
        );
        s.nodes[0].state = NodeState::Active;
        s.elect();
        assert_eq!((s.active, s.active_changes), (Some(1), 0));
        s.nodes[1].state = NodeState::Unreachable;
        s.elect();
        assert_eq!((s.active, s.active_changes), (Some(0), 1));
        s.nodes[0].state = NodeState::Sealed;
        s.elect();
        assert_eq!(s.active, None);
        s.nodes[2].state = NodeState::Active;
        s.elect();
        assert_eq!(
            (s.active, s.active_changes),
            (Some(2), 2),
            "a gap with none is one change"
        );
        assert_eq!(
            s.describe(),
            "http://a: sealed, http://b: unreachable, http://c: active"
        );
    }
}
