# Tenant-wide policy for acme: applies to every acme service. {{tenant}} and {{service}}
# are replaced by the calling service's names, so each service only reaches its own subtree.
# The whole KV v2 lifecycle of `bao kv`: put/get/patch/delete (data), list and metadata
# get/put/delete (metadata), undelete, destroy and rollback (a read and a write of data).

# Each service reads and writes its own KV v2 secrets, and may soft-delete them.
path "secret/data/{{tenant}}/{{service}}/*" {
  capabilities = ["read", "create", "update", "patch", "delete"]
  comment      = "service-owned secrets"
}

# Version history, settings (max versions, custom metadata) and key listing under the
# service's own subtree; "delete" here removes every version permanently, which services need
# to retire a secret.
path "secret/metadata/{{tenant}}/{{service}}/*" {
  capabilities = ["read", "list", "create", "update", "patch", "delete"]
}

# Soft-delete chosen versions, bring them back, or destroy them for good. Vault asks only
# "update" here, whether or not the secret exists (these endpoints have no existence check).
path "secret/delete/{{tenant}}/{{service}}/*" {
  capabilities = ["update"]
}
path "secret/undelete/{{tenant}}/{{service}}/*" {
  capabilities = ["update"]
}
path "secret/destroy/{{tenant}}/{{service}}/*" {
  capabilities = ["update"]
}

# Listing the service's root folder, so `bao kv list secret/<tenant>/<service>` works.
path "secret/metadata/{{tenant}}/{{service}}" {
  capabilities = ["list"]
}

# The admin secret is held by the platform team only: an exact deny beats the glob above.
path "secret/data/{{tenant}}/{{service}}/admin" {
  capabilities = ["deny"]
}
