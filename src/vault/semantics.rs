//! `ServerSemantics`: what vaultgate knows of the server behind it, per namespace: whether the
//! namespace exists, and which mounted paths are sudo, may be creates (`createSupported`: a
//! Create callback, which matters only where an existence check stands behind it) or need no
//! token, read from the server's own OpenAPI document. Plain data; `discovery` fills it.

use std::collections::HashMap;

use serde_json::Value;

use super::write::Write;

/// Segments OpenBao refuses as namespace names (helper/namespace/namespace.go
/// `reservedNames`), so a path can never cross into a namespace through them.
pub const RESERVED_NAMES: [&str; 6] = ["root", "sys", "audit", "auth", "cubbyhole", "identity"];

/// Whether `segment` could name a namespace. Anything OpenBao's `Namespace.Validate` might
/// accept counts, so the answer errs towards "could": more splits are checked, never fewer.
pub fn could_be_namespace(segment: &str) -> bool {
    !segment.is_empty()
        && segment != "."
        && segment != ".."
        && !RESERVED_NAMES.contains(&segment)
        && !segment
            .chars()
            .any(|c| c == '+' || c == '*' || c.is_whitespace() || c.is_control())
}

/// One mounted path from an OpenAPI document, as a template over segments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathSpec {
    segments: Vec<Segment>,
    /// The template ends in `/`: a list endpoint such as `sys/leases/lookup/`.
    trailing_slash: bool,
    pub sudo: bool,
    pub create_supported: bool,
    pub unauthenticated: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    /// `{name}`: one segment, or the whole rest when it is the template's last segment
    /// (Vault's path-like fields are `.+`; reading every last field that way errs towards
    /// matching, which only adds checks).
    Field,
    /// A regular expression left in the template (KV v1's `^.*$`): the whole rest.
    Rest,
}

impl PathSpec {
    /// Parses `/mount/x/{field}` with its `x-vault-*` flags; `None` for an empty template.
    fn parse(template: &str, item: &Value) -> Option<PathSpec> {
        let template = template.strip_prefix('/').unwrap_or(template);
        let (body, trailing_slash) = match template.strip_suffix('/') {
            Some(body) => (body, true),
            None => (template, false),
        };
        if body.is_empty() {
            return None;
        }
        let segments = body
            .split('/')
            .map(|s| {
                if s.starts_with('{') && s.ends_with('}') {
                    Segment::Field
                } else if s.contains(['^', '$', '(', '*', '?', '[', '\\']) {
                    Segment::Rest
                } else {
                    Segment::Literal(s.to_owned())
                }
            })
            .collect();
        let flag = |name: &str| item.get(name).and_then(Value::as_bool).unwrap_or(false);
        Some(PathSpec {
            segments,
            trailing_slash,
            sudo: flag("x-vault-sudo"),
            create_supported: flag("x-vault-createSupported"),
            unauthenticated: flag("x-vault-unauthenticated"),
        })
    }

    /// `<mount literals>/<op>/{field}`: the operation and the mount's segments.
    fn operation(&self) -> Option<(&str, Vec<&str>)> {
        let [mount @ .., Segment::Literal(op), Segment::Field] = self.segments.as_slice() else {
            return None;
        };
        let mount = mount
            .iter()
            .map(|s| match s {
                Segment::Literal(l) => Some(l.as_str()),
                _ => None,
            })
            .collect::<Option<Vec<&str>>>()?;
        (!mount.is_empty()).then_some((op.as_str(), mount))
    }

    fn first(&self) -> Option<&str> {
        match self.segments.first() {
            Some(Segment::Literal(s)) => Some(s),
            _ => None,
        }
    }

    /// How `rel` (relative to the namespace, no leading `/`) fits this template: `Some(true)` slash for slash, `Some(false)` a path
    /// without the template's trailing slash (Vault's `…/?$` patterns are documented with
    /// it), `None` not at all.
    fn fit(&self, rel: &str) -> Option<bool> {
        let (body, slash) = match rel.strip_suffix('/') {
            Some(body) => (body, true),
            None => (rel, false),
        };
        // Walked, not collected: every request checks each endpoint of its mount (about
        // twenty for KV v2), and a vector per check was most of a cached read's allocations.
        let mut parts = body.split('/');
        for (i, segment) in self.segments.iter().enumerate() {
            let last = i + 1 == self.segments.len();
            let part = parts.next();
            match segment {
                Segment::Rest | Segment::Field if last => return part.is_some().then_some(true),
                Segment::Rest => return part.is_some().then_some(true),
                Segment::Field => {
                    if part.is_none_or(|p| p.is_empty()) {
                        return None;
                    }
                }
                Segment::Literal(lit) => {
                    if part != Some(lit.as_str()) {
                        return None;
                    }
                }
            }
        }
        if parts.next().is_some() {
            return None;
        }
        match (slash, self.trailing_slash) {
            (true, false) => None,
            (s, t) => Some(s == t),
        }
    }
}

/// What one namespace's documents say, merged over every principal that read one.
#[derive(Debug, Clone, Default)]
pub struct Space {
    /// `Some(true)` once the server answered for it, `Some(false)` when it said it has no
    /// such namespace, `None` when nobody asked or it could not be asked.
    pub exists: Option<bool>,
    /// First segment of every mounted path → its endpoints. Empty until a document was read.
    mounts: HashMap<String, Vec<PathSpec>>,
    documents: usize,
}

impl Space {
    /// Adds one OpenAPI document (`sys/internal/specs/openapi` as some principal sees it).
    /// Returns how many paths it held.
    pub fn add_document(&mut self, doc: &Value) -> usize {
        let Some(paths) = doc.get("paths").and_then(Value::as_object) else {
            return 0;
        };
        for (template, item) in paths {
            let Some(spec) = PathSpec::parse(template, item) else {
                continue;
            };
            let Some(first) = spec.first().map(str::to_owned) else {
                continue;
            };
            let list = self.mounts.entry(first).or_default();
            if !list.contains(&spec) {
                list.push(spec);
            }
        }
        self.documents += 1;
        paths.len()
    }

    /// Whether `segment` is the first segment of a mount here, so it cannot also be a child
    /// namespace (OpenBao refuses either one when the other exists: namespace_store.go
    /// "new namespace conflicts with existing mount", mount.go "existing mount at").
    pub fn has_mount(&self, segment: &str) -> bool {
        self.mounts.contains_key(segment)
    }

    /// The endpoints matching `rel`, or `None` when no document named its mount.
    pub fn endpoints<'a: 'r, 'r>(
        &'a self,
        rel: &'r str,
    ) -> Option<impl Iterator<Item = &'a PathSpec> + 'r> {
        let first = rel.split('/').next()?;
        let specs = self.mounts.get(first)?;
        // A template that fits exactly wins over one that needs its trailing slash: OpenBao
        // documents `sys/leases/lookup` (no sudo) beside `sys/leases/lookup/` (the sudo
        // listing), and only the first is the endpoint `sys/leases/lookup` reaches.
        let exact = specs.iter().any(|s| s.fit(rel) == Some(true));
        Some(specs.iter().filter(move |s| match s.fit(rel) {
            Some(fits) => fits || !exact,
            None => false,
        }))
    }

    pub fn documents(&self) -> usize {
        self.documents
    }

    /// How a write to `rel` is read: no existence check, one vaultgate can settle (KV v2,
    /// transit keys), or one it cannot (including a path no document describes).
    pub fn write(&self, rel: &str) -> Write {
        let Some(endpoints) = self.endpoints(rel) else {
            return Write::Unsettled;
        };
        let matched: Vec<&PathSpec> = endpoints.collect();
        if matched.is_empty() {
            return Write::Unsettled;
        }
        if matched.iter().all(|s| !s.create_supported) {
            return Write::Update;
        }
        matched
            .iter()
            .filter(|s| s.create_supported)
            .find_map(|s| self.settled(s))
            .unwrap_or(Write::Unsettled)
    }

    /// Recognizes `<mount>/<op>/{field}` of KV v2 and transit by the mount's other paths.
    fn settled(&self, spec: &PathSpec) -> Option<Write> {
        let (op, mount) = spec.operation()?;
        let first = mount.first()?;
        let has = |sibling: &str| {
            self.mounts.get(*first).is_some_and(|specs| {
                specs
                    .iter()
                    .any(|s| s.operation() == Some((sibling, mount.clone())))
            })
        };
        let len = mount.iter().map(|m| m.len() + 1).sum::<usize>() - 1;
        match op {
            "data" if has("metadata") => Some(Write::Kv2Data { mount: len }),
            "metadata" if has("data") => Some(Write::Kv2Key { mount: len }),
            // `createSupported` says a Create callback exists, not an existence check: these
            // have none (kv/path_delete.go, path_destroy.go), so Vault asks `update` whether
            // or not the key exists (HashiCorp's KV plugin registers them as updates only).
            "delete" | "undelete" | "destroy" if has("data") => Some(Write::Update),
            "encrypt" if has("keys") => Some(Write::TransitEncrypt { mount: len }),
            _ => None,
        }
    }
}

/// Everything known of the server; the root namespace is `""`.
#[derive(Debug, Clone)]
pub struct ServerSemantics {
    /// False only when the server was seen to ignore namespaces (HashiCorp Vault without
    /// Enterprise answers for a namespace that cannot exist).
    pub namespaces_supported: bool,
    spaces: HashMap<String, Space>,
}

impl Default for ServerSemantics {
    fn default() -> Self {
        ServerSemantics {
            namespaces_supported: true,
            spaces: HashMap::new(),
        }
    }
}

impl ServerSemantics {
    pub fn space(&self, namespace: &str) -> Option<&Space> {
        self.spaces.get(namespace)
    }

    pub fn space_mut(&mut self, namespace: &str) -> &mut Space {
        self.spaces.entry(namespace.to_owned()).or_default()
    }

    pub fn spaces(&self) -> impl Iterator<Item = (&str, &Space)> {
        self.spaces.iter().map(|(k, v)| (k.as_str(), v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn space(doc: Value) -> Space {
        let mut s = Space::default();
        s.add_document(&doc);
        s
    }

    #[test]
    fn templates_match_like_vault_routes() {
        let s = space(json!({"paths": {
            "/secret/data/{path}": {"x-vault-createSupported": true},
            "/pki-a/root": {"x-vault-sudo": true},
            "/pki-a/issue/{role}": {},
            "/pki-a/issuer/{issuer_ref}/der": {"x-vault-unauthenticated": true},
            "/kv/^.*$": {"x-vault-createSupported": true},
            "/sys/leases/lookup/": {"x-vault-sudo": true},
            "/sys/leases/lookup": {},
            "/secret/metadata/": {},
        }}));
        let flags = |rel: &str| -> Vec<(bool, bool, bool)> {
            s.endpoints(rel)
                .map(|e| {
                    e.map(|p| (p.sudo, p.create_supported, p.unauthenticated))
                        .collect()
                })
                .unwrap_or_default()
        };
        assert_eq!(flags("secret/data/a/b/c"), vec![(false, true, false)]);
        assert_eq!(flags("pki-a/root"), vec![(true, false, false)]);
        assert!(flags("pki-a/root/x").is_empty());
        assert_eq!(flags("pki-a/issue/web"), vec![(false, false, false)]);
        assert_eq!(
            flags("pki-a/issuer/default/der"),
            vec![(false, false, true)]
        );
        assert!(flags("pki-a/issuer/default/x").is_empty());
        assert_eq!(flags("kv/any/depth"), vec![(false, true, false)]);
        assert_eq!(flags("sys/leases/lookup/"), vec![(true, false, false)]);
        // The exact template, not the sudo listing that also fits without its slash.
        assert_eq!(flags("sys/leases/lookup"), vec![(false, false, false)]);
        // With no exact template, one documented with a trailing slash still fits.
        assert_eq!(flags("secret/metadata"), vec![(false, false, false)]);
        assert!(s.endpoints("other/x").is_none());
        assert!(s.has_mount("pki-a") && !s.has_mount("acme"));
    }

    #[test]
    fn writes_are_recognized_by_the_mounts_other_paths() {
        let s = space(json!({"paths": {
            "/kv/team/data/{path}": {"x-vault-createSupported": true},
            "/kv/team/metadata/{path}": {"x-vault-createSupported": true},
            "/kv/team/delete/{path}": {"x-vault-createSupported": true},
            "/kv/team/undelete/{path}": {"x-vault-createSupported": true},
            "/kv/team/destroy/{path}": {"x-vault-createSupported": true},
            "/transit/encrypt/{name}": {"x-vault-createSupported": true},
            "/transit/keys/{name}": {"x-vault-createSupported": true},
            "/transit/decrypt/{name}": {},
            "/odd/encrypt/{name}": {"x-vault-createSupported": true},
            "/pki/issue/{role}": {},
        }}));
        assert_eq!(s.write("kv/team/data/a/b"), Write::Kv2Data { mount: 7 });
        assert_eq!(s.write("kv/team/metadata/a"), Write::Kv2Key { mount: 7 });
        // Created or not, Vault reads these as updates: no existence check behind them.
        for op in ["delete", "undelete", "destroy"] {
            assert_eq!(s.write(&format!("kv/team/{op}/a")), Write::Update, "{op}");
        }
        assert_eq!(
            s.write("transit/encrypt/app"),
            Write::TransitEncrypt { mount: 7 }
        );
        assert_eq!(s.write("transit/decrypt/app"), Write::Update);
        assert_eq!(s.write("pki/issue/web"), Write::Update);
        // An existence check on a mount with no `keys/`: not settled.
        assert_eq!(s.write("odd/encrypt/x"), Write::Unsettled);
        assert_eq!(s.write("nowhere/x"), Write::Unsettled);
    }

    #[test]
    fn namespace_names_exclude_reserved_and_wildcards() {
        for ok in ["acme", "team-1", "é"] {
            assert!(could_be_namespace(ok), "{ok}");
        }
        for no in [
            "sys",
            "auth",
            "identity",
            "cubbyhole",
            "audit",
            "root",
            "a+b",
            "a*",
            "a b",
            "",
        ] {
            assert!(!could_be_namespace(no), "{no}");
        }
    }
}
