//! How one case is judged: OpenBao's answer to the policy's token against vaultgate's, and
//! the deliberate differences, each checked against OpenBao's own view before it excuses a
//! denial (docs/security.md lists them with vaultgate's reasons).

use crate::conformance::token_capabilities;
use crate::support::differential::Sent;

use super::requests::Request;
use super::world::World;

/// Why a denial by vaultgate of what OpenBao allows is on purpose, and what must hold.
pub struct Deliberate {
    pub name: &'static str,
    /// Part of vaultgate's 403 reason.
    pub reason: &'static str,
    endpoints: &'static [&'static str],
    confirm: Confirm,
}

#[derive(Clone, Copy)]
enum Confirm {
    /// The request's value of the parameter vaultgate names holds a JSON number, which
    /// OpenBao's `reflect.DeepEqual` never matches with a policy's number.
    Number,
    /// OpenBao's `sys/capabilities` on the path grants exactly one of create and update.
    OneSided,
    /// It grants create and not update.
    CreateOnly,
    /// OpenBao's ACL let it through, and KV v2 refused it on its check-and-set: the write
    /// could not be applied either way.
    CasRefused,
}

const NEEDS_BOTH: &str = "which vaultgate cannot check for this endpoint, so a write needs both";

pub const DELIBERATE: &[Deliberate] = &[
    Deliberate {
        name: "KV v1 write under a rule granting only create or only update",
        reason: NEEDS_BOTH,
        endpoints: &["kv1 write"],
        confirm: Confirm::OneSided,
    },
    Deliberate {
        name: "KV v2 metadata write under a rule granting only create",
        reason: NEEDS_BOTH,
        endpoints: &["kv2 metadata write"],
        confirm: Confirm::CreateOnly,
    },
    Deliberate {
        name: "transit encrypt under a rule granting only create",
        reason: NEEDS_BOTH,
        endpoints: &["transit encrypt"],
        confirm: Confirm::CreateOnly,
    },
    Deliberate {
        name: "KV v2 data write with options.cas > 0 under a rule granting only create",
        reason: "the rule grants create only: a write with cas > 0 updates",
        endpoints: &["kv2 data write"],
        confirm: Confirm::CasRefused,
    },
    Deliberate {
        name: "a number in denied_parameters, denied by value",
        reason: "\" is denied",
        endpoints: &[],
        confirm: Confirm::Number,
    },
];

pub enum Verdict {
    BothAllow,
    BothDeny,
    Deliberate(&'static str),
    /// vaultgate allows what OpenBao denies: it forwarded the request (whatever Vault then
    /// answered) where OpenBao's ACL refused it.
    Bypass,
    Unexplained(String),
}

pub fn is_2xx(sent: &Sent) -> bool {
    (200..300).contains(&sent.status)
}

/// What vaultgate's 403 says after its prefix.
fn reason(via: &Sent) -> String {
    let error = serde_json::from_str::<serde_json::Value>(&via.text)
        .ok()
        .and_then(|v| v["errors"][0].as_str().map(str::to_owned))
        .unwrap_or_else(|| via.text.clone());
    error
        .trim_start_matches("permission denied by vaultgate: ")
        .to_owned()
}

pub async fn judge(world: &World, request: &Request, bao: &Sent, via: &Sent) -> Verdict {
    if bao.status == 403 && !bao.acl_denied() {
        return Verdict::Unexplained("OpenBao answered 403 without an ACL denial".into());
    }
    if !via.by_vaultgate() && via.acl_denied() {
        return Verdict::Unexplained("Vault refused vaultgate's own token".into());
    }
    match (via.by_vaultgate(), bao.acl_denied()) {
        (false, false) => return Verdict::BothAllow,
        (true, true) => return Verdict::BothDeny,
        (false, true) => return Verdict::Bypass,
        (true, false) => {}
    }
    // vaultgate refused what OpenBao allowed: only a documented difference excuses it.
    let why = reason(via);
    if via.status != 403 {
        return Verdict::Unexplained(format!("vaultgate answered {}: {why}", via.status));
    }
    let Some(known) = DELIBERATE.iter().find(|d| {
        why.contains(d.reason)
            && (d.endpoints.is_empty() || d.endpoints.contains(&request.endpoint))
    }) else {
        return Verdict::Unexplained(format!("vaultgate denies: {why}"));
    };
    let confirmed = match known.confirm {
        Confirm::CasRefused => !is_2xx(bao) && cas_refused(bao),
        Confirm::Number => denied_number(request, &why),
        one_sided => {
            let caps = token_capabilities(&world.bao, &world.token, &request.acl_path())
                .await
                .unwrap();
            let (create, update) = (has(&caps, "create"), has(&caps, "update"));
            match one_sided {
                Confirm::CreateOnly => create && !update,
                _ => create != update,
            }
        }
    };
    if confirmed {
        Verdict::Deliberate(known.name)
    } else {
        Verdict::Unexplained(format!(
            "vaultgate denies ({why}), excused as \"{}\", which OpenBao does not bear out",
            known.name
        ))
    }
}

/// Whether the body's value of the parameter named in `why` (`parameter "x" is denied`)
/// holds a number.
fn denied_number(request: &Request, why: &str) -> bool {
    fn number(v: &serde_json::Value) -> bool {
        match v {
            serde_json::Value::Number(_) => true,
            serde_json::Value::Array(items) => items.iter().any(number),
            serde_json::Value::Object(map) => map.values().any(number),
            _ => false,
        }
    }
    let name = why
        .split("parameter \"")
        .nth(1)
        .and_then(|r| r.split('"').next());
    let body = request
        .body
        .as_deref()
        .and_then(|b| serde_json::from_str::<serde_json::Value>(b).ok());
    match (name, body) {
        (Some(name), Some(body)) => body.get(name).is_some_and(number),
        _ => false,
    }
}

fn cas_refused(sent: &Sent) -> bool {
    sent.status == 400 && sent.text.contains("check-and-set")
}

pub fn has(caps: &[String], cap: &str) -> bool {
    caps.iter().any(|c| c == cap)
}
