//! What identifies a cached answer (service, verb, full path, query) and which logical
//! resources it depends on, so that a write can invalidate every answer it may change
//! however either of them split the path between namespace header and URL.

use std::hash::{BuildHasher, Hash};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::identity::Caller;
use crate::vault::operation::{Operation, Verb};
use crate::vault::placement::Placement;

/// One cached answer's identity. The caller stands for its upstream principal: every service
/// has its own token, so one service's answers are never served to another.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CacheKey {
    pub caller: Caller,
    list: bool,
    /// `full path ? canonical query`: one allocation per lookup. The path is forwarded with
    /// its namespace in it, so the same full path is the same request to Vault.
    target: Box<str>,
}

impl CacheKey {
    pub fn new(caller: &Caller, op: &Operation) -> CacheKey {
        let mut target = String::with_capacity(op.full_path.len() + 1);
        target.push_str(&op.full_path);
        // Vault reads the query in order-insensitive ways (`version=1`), so it is sorted.
        let mut query: Vec<&(String, String)> = op.query.iter().collect();
        query.sort();
        for (i, (k, v)) in query.into_iter().enumerate() {
            target.push(if i == 0 { '?' } else { '&' });
            target.push_str(k);
            target.push('=');
            target.push_str(v);
        }
        CacheKey {
            caller: caller.clone(),
            list: matches!(op.verb, Verb::List),
            target: target.into_boxed_str(),
        }
    }

    /// The full path (namespace included) without the query, for clearing by prefix.
    pub fn path(&self) -> &str {
        self.target.split_once('?').map_or(&self.target, |(p, _)| p)
    }

    /// Bytes this key costs in the cache budget.
    pub fn weight(&self) -> u64 {
        (self.target.len() + self.caller.tenant().len() + self.caller.service().len() + 48) as u64
    }
}

/// KV v2 puts an operation segment between the mount and the key: `secret/data/a/b`,
/// `secret/metadata/a/b` … all name key `a/b` of mount `secret`.
const KV2_OPERATIONS: [&str; 6] = [
    "data", "metadata", "delete", "undelete", "destroy", "subkeys",
];

/// Writes under these change what any token may read (policies, mounts, auth), so they
/// invalidate everything.
const GLOBAL_PREFIXES: [&str; 3] = ["sys/", "auth/", "identity/"];

/// A fixed table of generation counters indexed by the hash of a logical resource. A write
/// bumps its resources' counters; an entry remembers the counters it was fetched under and
/// is dead once any moved. Collisions only cost extra misses, memory is fixed, and a write
/// racing with a read in flight is caught because counters are read before the read is sent.
#[derive(Debug)]
pub struct Generations {
    counters: Box<[AtomicU64]>,
    hasher: std::collections::hash_map::RandomState,
}

/// Counter slots read before a fetch: (slot, generation).
pub type Stamps = Vec<(u32, u64)>;

const SLOTS: usize = 1 << 14;
/// Slot 0 is the global epoch every entry depends on.
const EPOCH: u32 = 0;

#[derive(Clone, Copy, Hash)]
enum Resource {
    Item,
    Directory,
    /// Everything under one mount's first segment: a write to a backend vaultgate does not
    /// model (anything but KV) may change any answer of that mount.
    Mount,
}

impl Default for Generations {
    fn default() -> Generations {
        Generations {
            counters: (0..SLOTS).map(|_| AtomicU64::new(0)).collect(),
            hasher: std::collections::hash_map::RandomState::new(),
        }
    }
}

impl Generations {
    fn slot(&self, kind: Resource, mount: &str, key: &str) -> u32 {
        let h = self
            .hasher
            .hash_one((kind, mount, key.trim_end_matches('/')));
        // Never 0: that is the epoch.
        (h % (SLOTS as u64 - 1)) as u32 + 1
    }

    /// The counters an answer to `op` depends on, read now.
    pub fn stamps(&self, op: &Operation, placement: &Placement) -> Stamps {
        let kind = if matches!(op.verb, Verb::List) {
            Resource::Directory
        } else {
            Resource::Item
        };
        let mut slots = vec![EPOCH];
        for (mount, key) in interpretations(&op.full_path) {
            slots.push(self.slot(kind, mount, key));
        }
        for root in mount_roots(op, placement) {
            slots.push(self.slot(Resource::Mount, root, ""));
        }
        slots
            .into_iter()
            .map(|s| (s, self.counters[s as usize].load(Ordering::Acquire)))
            .collect()
    }

    pub fn valid(&self, stamps: &Stamps) -> bool {
        stamps
            .iter()
            .all(|&(s, g)| self.counters[s as usize].load(Ordering::Acquire) == g)
    }

    /// Everything a write to `op`'s path may change: the item under every reading of the
    /// path (plain and KV v2) and the listing of each of its parent directories, and, where
    /// the path is not a KV v2 one, every answer under its mount.
    pub fn invalidate(&self, op: &Operation, placement: &Placement) {
        let bump = |s: u32| {
            self.counters[s as usize].fetch_add(1, Ordering::AcqRel);
        };
        let global = placement.splits().iter().any(|split| {
            let path = split.path(&op.full_path);
            GLOBAL_PREFIXES.iter().any(|p| path.starts_with(p))
        });
        if global {
            bump(EPOCH);
            return;
        }
        for (mount, key) in interpretations(&op.full_path) {
            bump(self.slot(Resource::Item, mount, key));
            // A key that is itself a directory (metadata delete of `a/`) changes its listing.
            bump(self.slot(Resource::Directory, mount, key));
            let mut dir = key.trim_end_matches('/');
            while let Some(cut) = dir.rfind('/') {
                dir = &dir[..cut];
                bump(self.slot(Resource::Directory, mount, dir));
            }
            bump(self.slot(Resource::Directory, mount, ""));
        }
        for (split, root) in placement.splits().iter().zip(mount_roots(op, placement)) {
            let kv2 = split
                .path(&op.full_path)
                .split('/')
                .nth(1)
                .is_some_and(|s| KV2_OPERATIONS.contains(&s));
            if !kv2 {
                bump(self.slot(Resource::Mount, root, ""));
            }
        }
    }

    /// Everything, for an operator's clear.
    pub fn invalidate_all(&self) {
        self.counters[EPOCH as usize].fetch_add(1, Ordering::AcqRel);
    }
}

/// For each split of the path, the namespace and the first segment of the path inside it:
/// the most a mount can be known to cover without asking the server.
fn mount_roots<'a>(op: &'a Operation, placement: &'a Placement) -> impl Iterator<Item = &'a str> {
    let full = op.full_path.as_str();
    placement.splits().iter().map(move |split| {
        let path = split.path(full);
        let first = path.split('/').next().unwrap_or("");
        let start = full.len() - path.len();
        full.get(..start + first.len()).unwrap_or(full)
    })
}

/// `(mount, key)` readings of a path: the whole path under no mount, and for every segment
/// after the first that is a KV v2 operation, the mount before it and the key after it.
fn interpretations(path: &str) -> Vec<(&str, &str)> {
    let mut out = vec![("", path)];
    let mut start = 0;
    for (index, segment) in path.split('/').enumerate() {
        let end = start + segment.len();
        if index > 0 && KV2_OPERATIONS.contains(&segment) {
            let key = path.get(end + 1..).unwrap_or("");
            out.push((&path[..start - 1], key));
        }
        start = end + 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::interpretations;

    #[test]
    fn kv2_paths_name_their_mount_and_key() {
        assert_eq!(
            interpretations("secret/data/a/b"),
            vec![("", "secret/data/a/b"), ("secret", "a/b")]
        );
        assert_eq!(
            interpretations("kv/team/metadata/"),
            vec![("", "kv/team/metadata/"), ("kv/team", "")]
        );
        assert_eq!(interpretations("data"), vec![("", "data")]);
    }
}
