//! Settles a write the deciding rule grants only `create` or only `update` for, as Vault
//! would decide it: a KV v2 write carries `options.cas` (0 to create, the current version to
//! update) so Vault itself refuses the other case; elsewhere the target is read first and
//! the write goes on only if it exists (an update).

use bytes::Bytes;
use http::{Method, StatusCode};
use serde_json::{Map, Value};

use super::Proxy;
use crate::identity::Caller;
use crate::vault::operation::{upstream_path, Operation};
use crate::vault::write::WriteCondition;

/// Why a conditional write is refused; answered 403 like any denial.
pub(super) type Refusal = String;

impl Proxy {
    /// Returns the body to forward, or why the write is refused.
    pub(super) async fn settle(
        &self,
        caller: &Caller,
        op: &Operation,
        condition: &WriteCondition,
    ) -> Result<Bytes, Refusal> {
        let mut body: Map<String, Value> = if op.body.is_empty() {
            Map::new()
        } else {
            serde_json::from_slice(&op.body)
                .map_err(|_| "a conditional write needs a JSON object body".to_owned())?
        };
        let asked = body
            .get("options")
            .and_then(|o| o.get("cas"))
            .map(|c| c.as_u64().ok_or("options.cas must be a whole number"))
            .transpose()?;
        let cas = match (condition, asked) {
            (WriteCondition::CasCreate, None | Some(0)) => 0,
            (WriteCondition::CasCreate, Some(_)) => {
                return Err("the rule grants create only: a write with cas > 0 updates".into())
            }
            (WriteCondition::CasUpdate { .. }, Some(0)) => {
                return Err("the rule grants update only: a write with cas = 0 creates".into())
            }
            (WriteCondition::CasUpdate { .. }, Some(version)) => version,
            (WriteCondition::CasUpdate { metadata }, None) => {
                let found = self.look(caller, metadata).await?;
                found["data"]["current_version"]
                    .as_u64()
                    .ok_or("the key's metadata has no current_version")?
            }
            (WriteCondition::MustExist { probe }, _) => {
                self.look(caller, probe).await?;
                return Ok(op.body.clone());
            }
        };
        let options = body
            .entry("options")
            .or_insert_with(|| Value::Object(Map::new()));
        let Value::Object(options) = options else {
            return Err("options must be an object".into());
        };
        options.insert("cas".into(), Value::from(cas));
        serde_json::to_vec(&body)
            .map(Bytes::from)
            .map_err(|e| format!("cannot rebuild the body: {e}"))
    }

    /// Reads `path` with the service's token: its answer when it exists, else why not.
    async fn look(&self, caller: &Caller, path: &str) -> Result<Value, Refusal> {
        let token = self
            .routes
            .get(caller)
            .and_then(|r| r.cell.current())
            .ok_or("no Vault token is available yet")?;
        let target = upstream_path(path);
        let answer = self
            .upstream
            .call_json(Method::GET, &target, "", Some(&token), None)
            .await;
        match answer {
            Ok((StatusCode::OK, value)) => Ok(value),
            Ok((StatusCode::NOT_FOUND, _)) => Err(format!(
                "{path:?} does not exist, so this write would create it, and the rule grants \
                 update only"
            )),
            Ok((status, _)) => Err(format!(
                "cannot tell whether the target exists: reading {path:?} answered {status}"
            )),
            Err(e) => Err(format!("cannot tell whether the target exists: {e}")),
        }
    }
}
