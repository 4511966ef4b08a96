//! `PolicySet`: every tenant's and service's policy files, templated per caller, merged like
//! several Vault policies on one token, and compiled into one ACL per caller.

mod acl;
mod evaluate;
mod inspect;
mod parameters;
#[cfg(test)]
mod tests;
mod writes;

use std::collections::{BTreeMap, HashMap};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use crate::digest::Sha256Hex;
use crate::identity::Caller;
use crate::policy::document::{self, Format, PolicyDocument};
use crate::policy::error::PolicyError;
use crate::policy::Decision;
use crate::vault::operation::Operation;
use crate::vault::placement::Placement;
use crate::vault::semantics::ServerSemantics;
use acl::{Acl, Rule};

pub use inspect::{PolicyFile, RuleView};

/// Which callers a policy file applies to, decided by its file name.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Scope {
    /// `<tenant>.hcl`: every service of the tenant.
    Tenant(String),
    /// `<tenant>/<service>.hcl`: that one service.
    Service(String, String),
}

impl Scope {
    fn applies_to(&self, caller: &Caller) -> bool {
        match self {
            Scope::Tenant(tenant) => tenant == caller.tenant(),
            Scope::Service(tenant, service) => {
                tenant == caller.tenant() && service == caller.service()
            }
        }
    }
}

/// All compiled rules, one ACL per known caller. Cheap to share behind an `Arc`.
#[derive(Debug, Default)]
pub struct PolicySet {
    acls: HashMap<Caller, Acl>,
    /// SHA-256 over every loaded file's name and text: which set is in force.
    digest: String,
}

/// A directory that holds test fixtures next to the policies, not a tenant.
const FIXTURE_DIR: &str = "tests";

impl PolicySet {
    /// Reads `dir/<tenant>.hcl|.json` and `dir/<tenant>/<service>.hcl|.json`; other files,
    /// names that are not valid caller names, and a `tests/` directory are ignored.
    pub fn load(dir: &Path, callers: &[Caller]) -> Result<PolicySet, PolicyError> {
        let mut sources = Vec::new();
        for (path, scope) in discover(dir)? {
            let text = read(&path)?;
            sources.push((path, scope, text));
        }
        PolicySet::compile(sources, callers, SystemTime::now())
    }

    /// Like `load`, from (file name, text) pairs: `acme.hcl` applies to tenant `acme`,
    /// `acme/billing.json` to service `billing` of `acme`. Any other name is an error.
    pub fn from_sources(
        sources: Vec<(PathBuf, String)>,
        callers: &[Caller],
    ) -> Result<PolicySet, PolicyError> {
        let mut scoped = Vec::new();
        for (file, text) in sources {
            let parts: Vec<String> = file
                .components()
                .map(|c| match c {
                    Component::Normal(part) => part.to_str().map(str::to_owned),
                    _ => None,
                })
                .collect::<Option<_>>()
                .unwrap_or_default();
            let scope = match parts.as_slice() {
                [name] => policy_stem(name, &file).map(Scope::Tenant),
                [tenant, name] if valid_name(tenant) => {
                    policy_stem(name, &file).map(|s| Scope::Service(tenant.clone(), s))
                }
                _ => None,
            };
            let scope = scope.ok_or_else(|| PolicyError::FileName { file: file.clone() })?;
            scoped.push((file, scope, text));
        }
        PolicySet::compile(scoped, callers, SystemTime::now())
    }

    /// Decides one operation for one caller, wherever the server could land it; default
    /// deny.
    pub fn evaluate(&self, caller: &Caller, op: &Operation, placement: &Placement) -> Decision {
        evaluate::evaluate(self.acls.get(caller), caller, op, placement)
    }

    /// `evaluate` knowing nothing of the server (offline tools, tests): every namespace
    /// split is possible and every mount unknown, so the answer is the strictest one.
    pub fn evaluate_offline(&self, caller: &Caller, op: &Operation) -> Decision {
        let placement = Placement::resolve(&op.full_path, &ServerSemantics::default(), "");
        self.evaluate(caller, op, &placement)
    }

    /// SHA-256 (hex) of the files this set was compiled from.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// Whether any policy file applies to the caller.
    pub fn knows(&self, caller: &Caller) -> bool {
        self.acls.contains_key(caller)
    }

    fn compile(
        sources: Vec<(PathBuf, Scope, String)>,
        callers: &[Caller],
        now: SystemTime,
    ) -> Result<PolicySet, PolicyError> {
        let digest = {
            let mut hash = Sha256Hex::default();
            for (file, _, text) in &sources {
                hash.update(file.display().to_string().as_bytes());
                hash.update(&[0]);
                hash.update(text.as_bytes());
                hash.update(&[0]);
            }
            hash.finish()
        };
        // Every file is parsed, even one no caller uses yet: a malformed file fails the load.
        let documents = sources
            .into_iter()
            .map(|(file, scope, text)| {
                let format = Format::from_path(&file)
                    .ok_or_else(|| PolicyError::FileName { file: file.clone() })?;
                let document = document::parse(&file, &text, format)?;
                Ok((scope, Arc::new(file), document))
            })
            .collect::<Result<Vec<_>, PolicyError>>()?;
        let mut acls = HashMap::new();
        for caller in callers {
            let applying: Vec<_> = documents
                .iter()
                .filter(|(scope, _, _)| scope.applies_to(caller))
                .collect();
            if applying.is_empty() {
                continue;
            }
            // Keyed by the substituted pattern string: blocks on the same string merge.
            let mut merged: BTreeMap<String, Rule> = BTreeMap::new();
            for (_, file, document) in applying {
                for rule in caller_rules(document, file, caller, now) {
                    match merged.get_mut(rule.pattern.as_str()) {
                        Some(existing) => existing.merge(rule),
                        None => {
                            merged.insert(rule.pattern.as_str().to_owned(), rule);
                        }
                    }
                }
            }
            acls.insert(caller.clone(), Acl::new(merged.into_values()));
        }
        Ok(PolicySet { acls, digest })
    }
}

/// The policy files `load` reads from `dir`, in load order, with the callers they apply to.
fn discover(dir: &Path) -> Result<Vec<(PathBuf, Scope)>, PolicyError> {
    let mut found = Vec::new();
    for (name, path) in read_dir_sorted(dir)? {
        if path.is_dir() {
            if name == FIXTURE_DIR || !valid_name(&name) {
                continue;
            }
            for (file, inner) in read_dir_sorted(&path)? {
                let service = policy_stem(&file, &inner).filter(|_| inner.is_file());
                if let Some(service) = service {
                    found.push((inner, Scope::Service(name.clone(), service)));
                }
            }
        } else if let Some(tenant) = policy_stem(&name, &path) {
            found.push((path, Scope::Tenant(tenant)));
        }
    }
    Ok(found)
}

/// The document's live rules with `{{tenant}}`/`{{service}}` replaced by the caller's names,
/// which `Caller` has already restricted so that they cannot add a glob, `+` or `/`; in
/// paths, and (a vaultgate extension) in the string values of `allowed_parameters` and
/// `denied_parameters`.
fn caller_rules<'a>(
    document: &'a PolicyDocument,
    file: &'a Arc<PathBuf>,
    caller: &'a Caller,
    now: SystemTime,
) -> impl Iterator<Item = Rule> + 'a {
    document
        .rules
        .iter()
        .filter(move |rule| !matches!(rule.expires, Some(at) if at <= now))
        .map(move |rule| {
            let substitute = |s: &str| {
                s.replace("{{tenant}}", caller.tenant())
                    .replace("{{service}}", caller.service())
            };
            let mut compiled = Rule::new(rule, &substitute(&rule.pattern), file);
            compiled.substitute_parameters(&substitute);
            compiled
        })
}

/// Tenant and service names follow `Caller`'s rules, so a file that no caller could ever
/// match is ignored rather than half-applied.
fn valid_name(name: &str) -> bool {
    Caller::new(name, name).is_ok()
}

/// The stem of `<name>.hcl|.json` if it is a valid caller name part.
fn policy_stem(name: &str, path: &Path) -> Option<String> {
    Format::from_path(path)?;
    let stem = name.rsplit_once('.')?.0;
    valid_name(stem).then(|| stem.to_owned())
}

fn read(path: &Path) -> Result<String, PolicyError> {
    std::fs::read_to_string(path).map_err(|source| PolicyError::Read {
        file: path.to_path_buf(),
        source,
    })
}

/// Directory entries sorted by name, so loads are deterministic.
fn read_dir_sorted(dir: &Path) -> Result<Vec<(String, PathBuf)>, PolicyError> {
    let error = |source| PolicyError::Read {
        file: dir.to_path_buf(),
        source,
    };
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(error)? {
        let entry = entry.map_err(error)?;
        if let Some(name) = entry.file_name().to_str() {
            entries.push((name.to_owned(), entry.path()));
        }
    }
    entries.sort();
    Ok(entries)
}
