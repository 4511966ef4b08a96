//! `HttpProbe`: one node's unauthenticated `sys/health`, over the same pooled client the
//! requests use, so each check also keeps a warm connection to every node.

use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request};
use http_body_util::{BodyExt, Full, Limited};
use serde_json::Value;

use super::cluster::{Health, Probe};
use super::node::NodeState;
use super::HttpClient;

/// A health answer is a few hundred bytes; anything far larger is not one.
const MAX_HEALTH_BODY: usize = 64 * 1024;

#[derive(Debug)]
pub(super) struct HttpProbe {
    client: HttpClient,
}

impl HttpProbe {
    pub(super) fn new(client: HttpClient) -> HttpProbe {
        HttpProbe { client }
    }
}

impl Probe for HttpProbe {
    /// Asked without `standbyok` and the like, so the status code carries the role; the
    /// caller bounds it in time.
    async fn health(&self, address: Arc<str>) -> Health {
        let unreachable = Health {
            state: NodeState::Unreachable,
            version: None,
        };
        let Ok(req) = Request::builder()
            .method(Method::GET)
            .uri(format!("{address}/v1/sys/health"))
            .body(Full::new(Bytes::new()))
        else {
            return unreachable;
        };
        let Ok(resp) = self.client.request(req).await else {
            return unreachable;
        };
        let status = resp.status().as_u16();
        let body = match Limited::new(resp.into_body(), MAX_HEALTH_BODY)
            .collect()
            .await
        {
            Ok(b) => serde_json::from_slice(&b.to_bytes()).unwrap_or(Value::Null),
            Err(_) => return unreachable,
        };
        Health {
            state: NodeState::from_health(status, &body),
            version: body["version"].as_str().map(str::to_owned),
        }
    }
}
