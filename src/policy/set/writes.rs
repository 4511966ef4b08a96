//! What a write needs from its deciding rule: `update` where Vault runs no existence check,
//! both `create` and `update` where it runs one vaultgate cannot settle, and just the one the
//! rule grants, with a condition the proxy enforces, where it can (KV v2 check-and-set, a
//! read of the target). Vault itself asks exactly one of the two.

use crate::vault::operation::{Capability, Operation};
use crate::vault::placement::Placement;
use crate::vault::write::{Write, WriteCondition};

use super::acl::Rule;

/// What the rule's grant covers: the capabilities used and any condition on the write.
pub(super) struct Covered {
    pub used: &'static [Capability],
    pub condition: Option<WriteCondition>,
}

/// Decides a POST/PUT under `rule`; `Err` says which capability is missing and why.
pub(super) fn write(rule: &Rule, op: &Operation, placement: &Placement) -> Result<Covered, String> {
    let create = rule.grants.contains(Capability::Create);
    let update = rule.grants.contains(Capability::Update);
    let full = op.full_path.as_str();
    let kinds: Vec<Write> = placement.splits().iter().map(|s| s.write(full)).collect();
    if kinds.iter().all(|k| *k == Write::Update) {
        return if update {
            Ok(Covered {
                used: &[Capability::Update],
                condition: None,
            })
        } else {
            Err("does not grant update (this endpoint has no existence check: every write is an update)".to_owned())
        };
    }
    if create && update {
        return Ok(Covered {
            used: &[Capability::Create, Capability::Update],
            condition: None,
        });
    }
    if !create && !update {
        let settles = kinds.iter().any(|k| *k != Write::Unsettled);
        return Err(if settles {
            "does not grant create or update".to_owned()
        } else {
            "does not grant create and update".to_owned()
        });
    }
    let (only, missing) = if create {
        (&[Capability::Create][..], "update")
    } else {
        (&[Capability::Update][..], "create")
    };
    let settled = match (placement.unique(), kinds.as_slice()) {
        (Some(split), [kind]) => {
            let path = split.path(full);
            let prefix = &full[..full.len() - path.len()];
            kind.condition(prefix, path, create)
        }
        _ => None,
    };
    match settled {
        Some(condition) => Ok(Covered {
            used: only,
            condition: Some(condition),
        }),
        None => Err(format!(
            "does not grant {missing}: Vault decides create or update here by whether the \
             target exists, which vaultgate cannot check for this endpoint, so a write needs \
             both"
        )),
    }
}
