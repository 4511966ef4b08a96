//! Settles a write the deciding rule grants only `create` or only `update` for, as Vault
//! would decide it. Vault's existence check for KV v2 reads the key's metadata, which can
//! exist without any version (`current_version` 0, after a metadata write): so the metadata
//! is read first (it must be absent for a create, present for an update) and a KV v2 write
//! carries `options.cas` (0 to create, the current version to update), so that Vault itself
//! refuses a version written meanwhile; elsewhere the target must exist (an update).

use bytes::Bytes;
use http::{Method, StatusCode};
use serde_json::{Map, Value};

use super::Proxy;
use crate::identity::Caller;
use crate::vault::operation::{upstream_path, Operation};
use crate::vault::write::WriteCondition;

/// Why a conditional write is refused; answered 403 like any denial.
pub(super) type Refusal = String;

/// The `options.cas` a conditional write is sent with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cas {
    /// The body as the caller sent it.
    Keep,
    Set(u64),
    /// The `current_version` the read of the metadata showed.
    Current,
}

/// What a conditional write needs: the path read first and whether it must exist, and the
/// `cas` to send.
#[derive(Debug, PartialEq, Eq)]
struct Plan<'a> {
    read: Option<(&'a str, bool)>,
    cas: Cas,
}

/// The plan for `condition` when the caller asked for `options.cas` = `asked`.
fn plan(condition: &WriteCondition, asked: Option<u64>) -> Result<Plan<'_>, Refusal> {
    fn plan(read: Option<(&str, bool)>, cas: Cas) -> Plan<'_> {
        Plan { read, cas }
    }
    Ok(match (condition, asked) {
        (WriteCondition::CasCreate { metadata }, None | Some(0)) => {
            plan(Some((metadata, false)), Cas::Set(0))
        }
        (WriteCondition::CasCreate { .. }, Some(_)) => {
            return Err("the rule grants create only: a write with cas > 0 updates".into())
        }
        // The caller's own cas, once the metadata is there: cas = 0 also updates a key whose
        // metadata has no version yet. (Vault would refuse cas > 0 on a key without metadata
        // with a 400; vaultgate answers the 403 Vault's ACL gives.)
        (WriteCondition::CasUpdate { metadata }, Some(version)) => {
            plan(Some((metadata, true)), Cas::Set(version))
        }
        (WriteCondition::CasUpdate { metadata }, None) => {
            plan(Some((metadata, true)), Cas::Current)
        }
        (WriteCondition::MustExist { probe }, _) => plan(Some((probe, true)), Cas::Keep),
    })
}

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
        let plan = plan(condition, asked)?;
        let mut found = Value::Null;
        if let Some((path, must_exist)) = plan.read {
            match (self.look(caller, path).await?, must_exist) {
                (Some(value), true) => found = value,
                (None, false) => {}
                (None, true) => {
                    return Err(format!(
                        "{path:?} does not exist, so this write would create it, and the \
                         rule grants update only"
                    ))
                }
                (Some(_), false) => {
                    return Err(format!(
                        "{path:?} exists, so this write would update it, and the rule grants \
                         create only"
                    ))
                }
            }
        }
        let cas = match plan.cas {
            Cas::Keep => return Ok(op.body.clone()),
            Cas::Set(cas) => cas,
            Cas::Current => found["data"]["current_version"]
                .as_u64()
                .ok_or("the key's metadata has no current_version")?,
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

    /// Reads `path` with the service's token: its answer when it exists, `None` when Vault
    /// says it does not (404), else why it cannot tell.
    async fn look(&self, caller: &Caller, path: &str) -> Result<Option<Value>, Refusal> {
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
            Ok((StatusCode::OK, value)) => Ok(Some(value)),
            Ok((StatusCode::NOT_FOUND, _)) => Ok(None),
            Ok((status, _)) => Err(format!(
                "cannot tell whether the target exists: reading {path:?} answered {status}"
            )),
            Err(e) => Err(format!("cannot tell whether the target exists: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kv2_writes_read_the_metadata_as_vaults_existence_check_does() {
        let metadata = "secret/metadata/k".to_owned();
        let create = WriteCondition::CasCreate {
            metadata: metadata.clone(),
        };
        let update = WriteCondition::CasUpdate {
            metadata: metadata.clone(),
        };
        let m = metadata.as_str();
        // A create needs the metadata absent: it can exist with no version (current_version
        // 0), where cas = 0 succeeds and Vault calls the write an update (found by the
        // engines differential test: vaultgate forwarded it, OpenBao answered 403).
        for asked in [None, Some(0)] {
            let want = Plan {
                read: Some((m, false)),
                cas: Cas::Set(0),
            };
            assert_eq!(plan(&create, asked), Ok(want), "{asked:?}");
        }
        assert!(plan(&create, Some(2)).is_err());
        // cas = 0 under update only: an update of a key whose metadata has no version yet,
        // which Vault allows (it was refused outright).
        let want = Plan {
            read: Some((m, true)),
            cas: Cas::Set(0),
        };
        assert_eq!(plan(&update, Some(0)), Ok(want));
        let want = Plan {
            read: Some((m, true)),
            cas: Cas::Set(3),
        };
        assert_eq!(plan(&update, Some(3)), Ok(want));
        let want = Plan {
            read: Some((m, true)),
            cas: Cas::Current,
        };
        assert_eq!(plan(&update, None), Ok(want));
        let probe = WriteCondition::MustExist {
            probe: "transit/keys/k".into(),
        };
        let want = Plan {
            read: Some(("transit/keys/k", true)),
            cas: Cas::Keep,
        };
        assert_eq!(plan(&probe, None), Ok(want));
    }
}
