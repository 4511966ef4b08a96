//! One policy file in Vault's own language (HCL or JSON) turned into `PathRule`s, with the
//! same keys, capability names and validation as Vault/OpenBao, and refusals for what vaultgate
//! cannot enforce.

mod depth;
mod syntax;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde_json::Value;

use crate::policy::error::{PolicyError, Problem};
use crate::vault::operation::Capability;
use syntax::{Entry, Node};

/// Policy file syntax, chosen by extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Hcl,
    Json,
}

impl Format {
    /// `.hcl` or `.json`; anything else is not a policy file.
    pub fn from_path(path: &Path) -> Option<Format> {
        match path.extension()?.to_str()? {
            "hcl" => Some(Format::Hcl),
            "json" => Some(Format::Json),
            _ => None,
        }
    }
}

/// The capabilities a rule grants, as a bit set; `deny` is a bit of its own.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Grants(u16);

impl Grants {
    const DENY: u16 = 1 << 15;

    /// The empty set.
    pub const NONE: Grants = Grants(0);

    fn bit(capability: Capability) -> u16 {
        1 << (capability as u16)
    }

    pub fn with(self, capability: Capability) -> Grants {
        Grants(self.0 | Grants::bit(capability))
    }

    pub fn deny() -> Grants {
        Grants(Grants::DENY)
    }

    pub fn contains(self, capability: Capability) -> bool {
        !self.is_deny() && self.0 & Grants::bit(capability) != 0
    }

    pub fn is_deny(self) -> bool {
        self.0 & Grants::DENY != 0
    }

    /// True when the rule grants at least one capability and does not deny.
    pub fn grants_any(self) -> bool {
        !self.is_deny() && self.0 != 0
    }

    /// Vault's merge: a bitwise OR, except that `deny` leaves nothing else.
    pub fn union(self, other: Grants) -> Grants {
        if self.is_deny() || other.is_deny() {
            Grants::deny()
        } else {
            Grants(self.0 | other.0)
        }
    }
}

/// Parameter name (lowercase, as Vault stores it) to allowed or denied values; an empty list
/// means "any value".
pub type ParameterMap = BTreeMap<String, Vec<Value>>;

/// One `path "<pattern>" { ... }` block, templates not yet substituted.
#[derive(Debug, Clone, PartialEq)]
pub struct PathRule {
    /// The pattern with one leading `/` stripped, as Vault does.
    pub pattern: String,
    /// 1-based line of the block.
    pub line: u32,
    pub grants: Grants,
    /// `None` when the block sets none (or an empty map, which Vault treats as unrestricted).
    pub allowed_parameters: Option<ParameterMap>,
    pub denied_parameters: Option<ParameterMap>,
    pub required_parameters: Vec<String>,
    pub min_wrapping_ttl: Option<Duration>,
    pub max_wrapping_ttl: Option<Duration>,
    /// After this instant the rule is dropped (OpenBao's `expiration`).
    pub expires: Option<SystemTime>,
}

/// A parsed policy file.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyDocument {
    pub file: PathBuf,
    pub name: Option<String>,
    pub rules: Vec<PathRule>,
}

/// Parses one policy file; `file` is only used to name it in errors.
pub fn parse(file: &Path, text: &str, format: Format) -> Result<PolicyDocument, PolicyError> {
    let invalid = |(line, problem): (u32, Problem)| PolicyError::Invalid {
        file: file.to_path_buf(),
        line,
        problem,
    };
    let root = match format {
        Format::Hcl => syntax::parse_hcl(text),
        Format::Json => syntax::parse_json(text),
    }
    .map_err(invalid)?;
    let Node::Object(entries) = root else {
        return Err(invalid((
            1,
            Problem::Syntax("expected an object".to_owned()),
        )));
    };
    let mut document = PolicyDocument {
        file: file.to_path_buf(),
        name: None,
        rules: Vec::new(),
    };
    for entry in entries {
        match entry.key.as_str() {
            "name" => document.name = Some(string(&entry).map_err(invalid)?),
            "path" => path_blocks(&entry, &mut document.rules).map_err(invalid)?,
            other => {
                return Err(invalid((
                    entry.line,
                    Problem::UnknownTopLevelKey(other.to_owned()),
                )))
            }
        }
    }
    Ok(document)
}

type Parsed<T> = Result<T, (u32, Problem)>;

fn type_error(entry: &Entry, expected: &'static str) -> (u32, Problem) {
    (
        entry.line,
        Problem::Type {
            key: entry.key.clone(),
            expected,
        },
    )
}

fn string(entry: &Entry) -> Parsed<String> {
    match &entry.value {
        Node::String(s) => Ok(s.clone()),
        _ => Err(type_error(entry, "a string")),
    }
}

fn strings(entry: &Entry) -> Parsed<Vec<String>> {
    let Node::Array(items) = &entry.value else {
        return Err(type_error(entry, "a list of strings"));
    };
    items
        .iter()
        .map(|item| match item {
            Node::String(s) => Ok(s.clone()),
            _ => Err(type_error(entry, "a list of strings")),
        })
        .collect()
}

/// `path` holds an object of pattern -> block; JSON may also give a list of such objects.
fn path_blocks(entry: &Entry, rules: &mut Vec<PathRule>) -> Parsed<()> {
    let objects: Vec<&Vec<Entry>> = match &entry.value {
        Node::Object(blocks) => vec![blocks],
        Node::Array(items) => items
            .iter()
            .map(|item| match item {
                Node::Object(blocks) => Ok(blocks),
                _ => Err(type_error(entry, "an object of path blocks")),
            })
            .collect::<Parsed<_>>()?,
        _ => return Err(type_error(entry, "an object of path blocks")),
    };
    for block in objects.into_iter().flatten() {
        rules.push(path_rule(block)?);
    }
    Ok(())
}

fn path_rule(block: &Entry) -> Parsed<PathRule> {
    let pattern = block.key.strip_prefix('/').unwrap_or(&block.key).to_owned();
    check_pattern(&pattern).map_err(|problem| (block.line, problem))?;
    let Node::Object(keys) = &block.value else {
        return Err(type_error(block, "a block of rule settings"));
    };
    let mut rule = PathRule {
        pattern,
        line: block.line,
        grants: Grants::NONE,
        allowed_parameters: None,
        denied_parameters: None,
        required_parameters: Vec::new(),
        min_wrapping_ttl: None,
        max_wrapping_ttl: None,
        expires: None,
    };
    for key in keys {
        match key.key.as_str() {
            "capabilities" => {
                for name in strings(key)? {
                    let grant = capability(&name)
                        .ok_or((key.line, Problem::UnknownCapability(name.clone())))?;
                    rule.grants = rule.grants.union(grant);
                }
            }
            "policy" => {
                let legacy = string(key)?;
                let grant = legacy_policy(&legacy)
                    .ok_or((key.line, Problem::UnknownLegacyPolicy(legacy.clone())))?;
                rule.grants = rule.grants.union(grant);
            }
            "allowed_parameters" => rule.allowed_parameters = parameters(key)?,
            "denied_parameters" => rule.denied_parameters = parameters(key)?,
            "required_parameters" => rule.required_parameters = strings(key)?,
            "min_wrapping_ttl" => rule.min_wrapping_ttl = duration(key)?,
            "max_wrapping_ttl" => rule.max_wrapping_ttl = duration(key)?,
            "comment" => {
                string(key)?;
            }
            "expiration" => rule.expires = Some(expiration(key)?),
            "mfa_methods"
            | "control_group"
            | "pagination_limit"
            | "list_scan_response_keys_filter_path" => {
                return Err((key.line, Problem::Unsupported(key.key.clone())))
            }
            other => return Err((key.line, Problem::UnknownKey(other.to_owned()))),
        }
    }
    if let (Some(min), Some(max)) = (rule.min_wrapping_ttl, rule.max_wrapping_ttl) {
        if max < min {
            return Err((block.line, Problem::WrappingBounds));
        }
    }
    Ok(rule)
}

/// Vault's checks on a path key, plus vaultgate's template check.
fn check_pattern(pattern: &str) -> Result<(), Problem> {
    if pattern.contains("+*") {
        return Err(Problem::PlusStar(pattern.to_owned()));
    }
    let mut rest = pattern;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start..];
        let template = match after.find("}}") {
            Some(end) => &after[..end + 2],
            None => after,
        };
        if template != "{{tenant}}" && template != "{{service}}" {
            return Err(Problem::Template {
                pattern: pattern.to_owned(),
                template: template.to_owned(),
            });
        }
        rest = &after[template.len()..];
    }
    Ok(())
}

/// Capability names are case-sensitive in Vault: `READ` is an error, not `read`.
fn capability(name: &str) -> Option<Grants> {
    let cap = match name {
        "deny" => return Some(Grants::deny()),
        "create" => Capability::Create,
        "read" => Capability::Read,
        "update" => Capability::Update,
        "patch" => Capability::Patch,
        "delete" => Capability::Delete,
        "list" => Capability::List,
        "scan" => Capability::Scan,
        "sudo" => Capability::Sudo,
        _ => return None,
    };
    Some(Grants::NONE.with(cap))
}

/// Legacy `policy = "..."` expansions (vault-semantics §1.1).
fn legacy_policy(name: &str) -> Option<Grants> {
    let read = Grants::NONE.with(Capability::Read).with(Capability::List);
    let write = read
        .with(Capability::Create)
        .with(Capability::Update)
        .with(Capability::Delete);
    match name {
        "read" => Some(read),
        "write" => Some(write),
        "sudo" => Some(write.with(Capability::Sudo)),
        "deny" => Some(Grants::deny()),
        _ => None,
    }
}

/// `{ "name" = [values...] }`; names lowercased as Vault stores them.
fn parameters(entry: &Entry) -> Parsed<Option<ParameterMap>> {
    const EXPECTED: &str = "a map of parameter name to a list of values";
    let Node::Object(params) = &entry.value else {
        return Err(type_error(entry, EXPECTED));
    };
    let mut map = ParameterMap::new();
    let mut spelled: BTreeMap<String, &str> = BTreeMap::new();
    for param in params {
        let Node::Array(values) = &param.value else {
            return Err(type_error(entry, EXPECTED));
        };
        // Vault lowercases the names into a Go map, so of two spellings of one name the
        // last one its (unordered) loop visits wins; joining them would allow more.
        let name = param.key.to_lowercase();
        if let Some(first) = spelled.insert(name.clone(), &param.key) {
            if first != param.key {
                let problem = Problem::ParameterCase(first.to_owned(), param.key.clone());
                return Err((param.line, problem));
            }
        }
        // A name repeated as written (JSON keeps both) is joined, as OpenBao's reader does.
        map.entry(name)
            .or_default()
            .extend(values.iter().map(json_value));
    }
    // An empty map restricts nothing in Vault, the same as an absent one.
    Ok((!map.is_empty()).then_some(map))
}

fn json_value(node: &Node) -> Value {
    match node {
        Node::Null => Value::Null,
        Node::Bool(b) => Value::Bool(*b),
        Node::Number(n) => Value::Number(n.clone()),
        Node::String(s) => Value::String(s.clone()),
        Node::Array(items) => Value::Array(items.iter().map(json_value).collect()),
        Node::Object(entries) => Value::Object(
            entries
                .iter()
                .map(|e| (e.key.clone(), json_value(&e.value)))
                .collect(),
        ),
    }
}

/// Read as Vault's policy parser does, with `ParseDurationSecond` (see [`crate::duration`]);
/// zero means "not set", as in Vault.
fn duration(entry: &Entry) -> Parsed<Option<Duration>> {
    let parsed = match &entry.value {
        Node::Number(n) => match n.as_i64() {
            Some(seconds) => crate::duration::from_seconds(seconds),
            None => crate::duration::from_seconds_f64(n.as_f64().unwrap_or(f64::NAN)),
        },
        Node::String(s) => crate::duration::parse(s),
        _ => return Err(type_error(entry, "a duration")),
    };
    let d = parsed.map_err(|reason| {
        (
            entry.line,
            Problem::Duration {
                key: entry.key.clone(),
                reason,
            },
        )
    })?;
    Ok((!d.is_zero()).then_some(d))
}

fn expiration(entry: &Entry) -> Parsed<SystemTime> {
    let text = string(entry)?;
    let parsed = time::OffsetDateTime::parse(&text, &time::format_description::well_known::Rfc3339)
        .map_err(|_| (entry.line, Problem::Expiration(text.clone())))?;
    Ok(SystemTime::from(parsed))
}
