//! `Placement`: where Vault could execute a request. OpenBao strips the longest *existing*
//! namespace prefix from the full path (header namespace + path) and routes the rest inside
//! it, so how a caller splits a path between `X-Vault-Namespace` and the URL does not decide
//! where it lands: the server's namespaces do. Every split the server could make is listed,
//! pruned only by what `ServerSemantics` knows for certain.

use super::semantics::{could_be_namespace, ServerSemantics};
use super::write::Write;

/// One way the server could read the full path: namespace `full[..offset-1]` (root when
/// `offset` is 0) and the path `full[offset..]` inside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Split {
    offset: usize,
    /// The namespace differs from the one the caller's Vault token lives in.
    pub foreign: bool,
    pub facts: Facts,
}

/// What the server's documents say about the endpoint a split lands on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Facts {
    /// No document named the mount: nothing is known of the backend behind it.
    Unknown,
    Known {
        sudo: bool,
        /// How a write there is read: create or update.
        write: Write,
        /// Every matching endpoint is served without a token.
        unauthenticated: bool,
    },
}

impl Split {
    pub fn namespace<'a>(&self, full: &'a str) -> &'a str {
        full.get(..self.offset.saturating_sub(1)).unwrap_or("")
    }

    pub fn path<'a>(&self, full: &'a str) -> &'a str {
        full.get(self.offset..).unwrap_or("")
    }

    /// How a write that lands here is read (create or update).
    pub fn write(&self, full: &str) -> Write {
        if let Some(fixed) = Write::fixed(self.path(full)) {
            return fixed;
        }
        match self.facts {
            Facts::Known { write, .. } => write,
            Facts::Unknown => Write::Unsettled,
        }
    }
}

/// Every split of one full path the server could choose; never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    splits: Vec<Split>,
}

impl Placement {
    /// `full` is the canonical full path (no leading `/`); `home` the namespace the caller's
    /// token was issued in.
    pub fn resolve(full: &str, known: &ServerSemantics, home: &str) -> Placement {
        let mut splits = Vec::with_capacity(1);
        let mut offset: usize = 0;
        loop {
            let namespace = full.get(..offset.saturating_sub(1)).unwrap_or("");
            let path = full.get(offset..).unwrap_or("");
            let space = known.space(namespace);
            // The server goes one namespace deeper only into a child named by the next
            // segment, and only when a path remains after it.
            let child = path.split_once('/').and_then(|(segment, rest)| {
                let possible = known.namespaces_supported
                    && !rest.is_empty()
                    && could_be_namespace(segment)
                    && !space.is_some_and(|s| s.has_mount(segment));
                possible.then_some(offset + segment.len() + 1)
            });
            let exists = child.and_then(|next| {
                let name = full.get(..next - 1)?;
                known.space(name).and_then(|s| s.exists)
            });
            match (child, exists) {
                // The child exists: the server certainly routes deeper.
                (Some(next), Some(true)) => offset = next,
                (Some(next), None) => {
                    splits.push(split(offset, namespace, path, known, home));
                    offset = next;
                }
                _ => {
                    splits.push(split(offset, namespace, path, known, home));
                    return Placement { splits };
                }
            }
        }
    }

    pub fn splits(&self) -> &[Split] {
        &self.splits
    }

    /// The one split the server will use, when only one is possible.
    pub fn unique(&self) -> Option<&Split> {
        match self.splits.as_slice() {
            [only] => Some(only),
            _ => None,
        }
    }
}

fn split(offset: usize, namespace: &str, path: &str, known: &ServerSemantics, home: &str) -> Split {
    let space = known.space(namespace);
    let facts = match space.and_then(|s| s.endpoints(path).map(|e| (s, e))) {
        None => Facts::Unknown,
        Some((space, endpoints)) => {
            let (mut any, mut sudo, mut open) = (false, false, true);
            for e in endpoints {
                any = true;
                sudo |= e.sudo;
                open &= e.unauthenticated;
            }
            Facts::Known {
                sudo,
                write: space.write(path),
                unauthenticated: any && open,
            }
        }
    };
    Split {
        offset,
        foreign: namespace != home,
        facts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn known() -> ServerSemantics {
        let mut s = ServerSemantics::default();
        s.space_mut("").exists = Some(true);
        s.space_mut("").add_document(&json!({"paths": {
            "/secret/data/{path}": {"x-vault-createSupported": true},
            "/pki-a/root": {"x-vault-sudo": true},
        }}));
        s.space_mut("acme").exists = Some(true);
        s.space_mut("acme")
            .add_document(&json!({"paths": {"/kv/data/{path}": {}}}));
        s.space_mut("gone").exists = Some(false);
        s
    }

    fn paths(full: &str, known: &ServerSemantics) -> Vec<(String, String)> {
        Placement::resolve(full, known, "")
            .splits()
            .iter()
            .map(|s| (s.namespace(full).to_owned(), s.path(full).to_owned()))
            .collect()
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    }

    #[test]
    fn unknown_servers_give_every_split_a_namespace_could_make() {
        let none = ServerSemantics::default();
        assert_eq!(
            paths("a/auth/token/create", &none),
            pairs(&[("", "a/auth/token/create"), ("a", "auth/token/create")])
        );
        assert_eq!(
            paths("x/y/z", &none),
            pairs(&[("", "x/y/z"), ("x", "y/z"), ("x/y", "z")])
        );
        // Reserved names end the walk: no namespace is called `sys`.
        assert_eq!(
            paths("sys/leases/revoke-prefix/a", &none),
            pairs(&[("", "sys/leases/revoke-prefix/a")])
        );
        assert_eq!(
            paths("secret/metadata/", &none),
            pairs(&[("", "secret/metadata/"), ("secret", "metadata/")])
        );
    }

    #[test]
    fn known_mounts_and_namespaces_decide_the_split() {
        let k = known();
        // `secret` is a mount, so it cannot be a namespace.
        assert_eq!(
            paths("secret/data/a/sys/x", &k),
            pairs(&[("", "secret/data/a/sys/x")])
        );
        // `acme` exists: the server certainly routes into it, and `kv` is a mount there.
        assert_eq!(paths("acme/kv/data/x", &k), pairs(&[("acme", "kv/data/x")]));
        // Inside acme, `other` is unknown: it might be a child namespace.
        assert_eq!(
            paths("acme/other/auth/token/create", &k),
            pairs(&[
                ("acme", "other/auth/token/create"),
                ("acme/other", "auth/token/create")
            ])
        );
        assert_eq!(paths("gone/x/y", &k), pairs(&[("", "gone/x/y")]));
        let mut flat = k.clone();
        flat.namespaces_supported = false;
        assert_eq!(
            paths("a/auth/token/create", &flat),
            pairs(&[("", "a/auth/token/create")])
        );
    }

    #[test]
    fn facts_come_from_the_namespace_that_serves_the_split() {
        let k = known();
        let p = Placement::resolve("pki-a/root", &k, "");
        assert_eq!(
            p.unique().map(|s| s.facts),
            Some(Facts::Known {
                sudo: true,
                write: Write::Update,
                unauthenticated: false
            })
        );
        let p = Placement::resolve("secret/data/x", &k, "acme");
        let s = p.unique().copied();
        assert!(s.is_some_and(|s| s.foreign));
        assert!(matches!(
            s.map(|s| s.facts),
            Some(Facts::Known {
                // An existence check, but no `metadata/` beside it to settle it by.
                write: Write::Unsettled,
                ..
            })
        ));
        let p = Placement::resolve("other/x", &k, "");
        assert_eq!(p.splits()[0].facts, Facts::Unknown);
    }
}
