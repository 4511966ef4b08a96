//! Create or update: how Vault reads a POST/PUT where it lands. Vault asks `create` or
//! `update` by the backend's existence check, which the proxy cannot run; what it can tell
//! is which endpoints have none (always `update`) and, for KV v2 and transit keys, how to
//! settle the question exactly: KV v2 with check-and-set, the others by reading the target.

/// A write's landing as far as create-versus-update goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    /// No existence check (the `sys` backend, the token store, PKI issue, KV v2 `delete`,
    /// `undelete` and `destroy`, …): always `update` (OpenBao's `ExistenceCheck` is set on
    /// no path of the first two, nor on those KV v2 paths).
    Update,
    /// KV v2 `<mount>/data/<key>`; `mount` is the mount's length in the landing path.
    Kv2Data { mount: usize },
    /// KV v2 `<mount>/metadata/<key>`: the key exists when its metadata does
    /// (kv/path_metadata.go `metadataExistenceCheck`). `delete`, `undelete` and `destroy`
    /// have no existence check: [`Write::Update`].
    Kv2Key { mount: usize },
    /// transit `<mount>/encrypt/<name>`: the key exists (transit/path_encrypt.go
    /// `pathEncryptExistenceCheck`).
    TransitEncrypt { mount: usize },
    /// An existence check vaultgate cannot settle, or an endpoint nothing is known of.
    Unsettled,
}

/// What must hold for a write a rule grants only `create` or only `update` for; the proxy
/// makes it hold before (or by how) it forwards. Paths are full paths, as forwarded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteCondition {
    /// KV v2, `create` only: the key's `metadata` must not exist (Vault's existence check
    /// reads the metadata, which can exist without any version: `current_version` 0), and
    /// the write is sent with `options.cas = 0`, so Vault itself refuses it if a version
    /// was written meanwhile.
    CasCreate { metadata: String },
    /// KV v2, `update` only: sent with the key's current version as `options.cas`, read
    /// from `metadata` just before; Vault refuses it if the key is gone or changed.
    CasUpdate { metadata: String },
    /// `update` only where no check-and-set exists: the target (`probe`) must exist.
    MustExist { probe: String },
}

impl Write {
    /// The built-in backends whose writes are always updates, wherever they are mounted.
    pub fn fixed(path: &str) -> Option<Write> {
        let update = (path.starts_with("sys/") && !path.starts_with("sys/raw"))
            || path.starts_with("auth/token/");
        update.then_some(Write::Update)
    }

    /// What a rule granting only `create` (`create`) or only `update` needs to hold for
    /// this write; `prefix` is the full path before the landing path `path`. `None`: the
    /// write cannot be settled and needs both.
    pub fn condition(&self, prefix: &str, path: &str, create: bool) -> Option<WriteCondition> {
        let (mount, rest) = match *self {
            Write::Kv2Data { mount }
            | Write::Kv2Key { mount }
            | Write::TransitEncrypt { mount } => (path.get(..mount)?, path.get(mount + 1..)?),
            Write::Update | Write::Unsettled => return None,
        };
        let (_, key) = rest.split_once('/')?;
        match (*self, create) {
            (Write::Kv2Data { .. }, true) => Some(WriteCondition::CasCreate {
                metadata: format!("{prefix}{mount}/metadata/{key}"),
            }),
            (Write::Kv2Data { .. }, false) => Some(WriteCondition::CasUpdate {
                metadata: format!("{prefix}{mount}/metadata/{key}"),
            }),
            // Probing for absence would race with a concurrent create; Vault has no
            // check-and-set here, so a create-only grant cannot be made exact.
            (_, true) => None,
            (Write::Kv2Key { .. }, false) => Some(WriteCondition::MustExist {
                probe: format!("{prefix}{mount}/metadata/{key}"),
            }),
            (Write::TransitEncrypt { .. }, false) => Some(WriteCondition::MustExist {
                probe: format!("{prefix}{mount}/keys/{key}"),
            }),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_name_the_key_the_write_is_about() {
        let data = Write::Kv2Data { mount: 6 };
        assert_eq!(
            data.condition("", "secret/data/a/b", true),
            Some(WriteCondition::CasCreate {
                metadata: "secret/metadata/a/b".into()
            })
        );
        assert_eq!(
            data.condition("ns/", "secret/data/a/b", false),
            Some(WriteCondition::CasUpdate {
                metadata: "ns/secret/metadata/a/b".into()
            })
        );
        let metadata = Write::Kv2Key { mount: 7 };
        assert_eq!(
            metadata.condition("", "kv/team/metadata/x", false),
            Some(WriteCondition::MustExist {
                probe: "kv/team/metadata/x".into()
            })
        );
        assert_eq!(metadata.condition("", "kv/team/metadata/x", true), None);
        let encrypt = Write::TransitEncrypt { mount: 7 };
        assert_eq!(
            encrypt.condition("", "transit/encrypt/app", false),
            Some(WriteCondition::MustExist {
                probe: "transit/keys/app".into()
            })
        );
        assert_eq!(Write::Unsettled.condition("", "kv/x", false), None);
    }

    #[test]
    fn sys_and_the_token_store_always_update() {
        for path in [
            "sys/leases/renew",
            "sys/policies/acl/x",
            "auth/token/create",
        ] {
            assert_eq!(Write::fixed(path), Some(Write::Update), "{path}");
        }
        for path in ["sys/raw/x", "secret/data/x", "auth/approle/role/x"] {
            assert_eq!(Write::fixed(path), None, "{path}");
        }
    }
}
