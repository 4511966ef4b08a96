//! Every verified OpenBao consequence of Vault's lookup and priority (§1.2/§1.3), as a table.

use super::{caller, one, op};
use crate::vault::operation::Verb;

#[test]
fn vault_consequences() {
    use Verb::*;
    // (policy, verb, path, allowed, why)
    let table: &[(&str, Verb, &str, bool, &str)] = &[
        (
            r#"path "secret/data/team/*" { capabilities = ["deny"] }
               path "secret/data/team/open" { capabilities = ["read"] }"#,
            Read,
            "secret/data/team/open",
            true,
            "an exact rule wins over a glob deny",
        ),
        (
            r#"path "secret/data/x/*" { capabilities = ["read"] }
               path "secret/data/+/priv" { capabilities = ["deny"] }"#,
            Read,
            "secret/data/x/priv",
            true,
            "a deny on a lower-priority pattern is ignored",
        ),
        (
            r#"path "secret/data/+/priv" { capabilities = ["deny"] }
               path "secret/data/x/*" { capabilities = ["read"] }"#,
            Read,
            "secret/data/y/priv",
            false,
            "the + deny decides where the glob does not match",
        ),
        (
            r#"path "secret/data/app/*" { capabilities = ["read", "create", "update"] }
               path "secret/data/app/admin" { capabilities = ["deny"] }"#,
            Read,
            "secret/data/app/admin",
            false,
            "exact deny",
        ),
        (
            r#"path "secret/data/app/*" { capabilities = ["read", "create", "update"] }
               path "secret/data/app/admin" { capabilities = ["deny"] }"#,
            Read,
            "secret/data/app/admin/",
            true,
            "a trailing slash escapes the exact deny (as in Vault)",
        ),
        (
            r#"path "secret/data/app/*" { capabilities = ["read", "create", "update"] }
               path "secret/data/app/admin" { capabilities = ["deny"] }"#,
            Read,
            "secret/data/app//admin",
            true,
            "so does // (the classifier rejects it)",
        ),
        (
            r#"path "secret/metadata/*" { capabilities = ["list"] }
               path "secret/metadata/team/*" { capabilities = ["deny"] }"#,
            List,
            "secret/metadata/team/",
            false,
            "LIST honours a deny on the child glob (GHSA-xp3c)",
        ),
        (
            r#"path "secret/metadata/*" { capabilities = ["list"] }
               path "secret/metadata/team/*" { capabilities = ["deny"] }"#,
            List,
            "secret/metadata/other/",
            true,
            "LIST under the glob",
        ),
        (
            r#"path "kv/listme" { capabilities = ["list"] }"#,
            List,
            "kv/listme/",
            true,
            "LIST falls back to the slash-less exact rule",
        ),
        (
            r#"path "kv/listme" { capabilities = ["read"] }"#,
            Read,
            "kv/listme/",
            false,
            "that fallback is for LIST/SCAN only",
        ),
        (
            r#"path "secret/metadata/*" { capabilities = ["list", "scan"] }"#,
            Scan,
            "secret/metadata/",
            true,
            "SCAN needs scan",
        ),
        (
            r#"path "secret/metadata/*" { capabilities = ["list"] }"#,
            Scan,
            "secret/metadata/",
            false,
            "list does not grant scan",
        ),
        (
            r#"path "secret/data/lit/*/x" { capabilities = ["read"] }"#,
            Read,
            "secret/data/lit/q/x",
            false,
            "an inner * is literal",
        ),
        (
            r#"path "secret/data/+/shared" { capabilities = ["read"] }"#,
            Read,
            "secret/data//shared",
            true,
            "+ matches an empty segment",
        ),
        (
            r#"path "secret/data/pfx*" { capabilities = ["read"] }"#,
            Read,
            "secret/data/pfxsecret/x",
            true,
            "prefix glob",
        ),
        (
            r#"path "secret/data/*" { capabilities = ["read"] }
               path "secret/data/a/*" { capabilities = ["create", "update"] }"#,
            Read,
            "secret/data/a/x",
            false,
            "the longest prefix glob is used alone",
        ),
        (
            r#"path "secret/data/*" { capabilities = ["read"] }"#,
            Read,
            "secret/other",
            false,
            "default deny",
        ),
    ];
    for (text, verb, path, expected, why) in table {
        let set = one(text);
        let decision = set.evaluate_offline(&caller("acme/billing"), &op(*verb, path));
        assert_eq!(decision.allowed, *expected, "{why}: {}", decision.reason);
    }
}
