# Tenant-wide policy for acme: applies to every acme service. {{tenant}} and {{service}}
# are replaced by the calling service's names, so each service only reaches its own subtree.
# Reads and writes need both "create" and "update" through vaultgate (it cannot see whether a
# secret already exists, so it asks for both).

# Each service reads and writes its own KV v2 secrets, and may soft-delete them.
path "secret/data/{{tenant}}/{{service}}/*" {
  capabilities = ["read", "create", "update", "patch", "delete"]
  comment      = "service-owned secrets"
}

# Version history and key listing under the service's own subtree; "delete" here removes every
# version permanently, which services need to retire a secret.
path "secret/metadata/{{tenant}}/{{service}}/*" {
  capabilities = ["read", "list", "delete"]
}

# Listing the service's root folder, so `bao kv list secret/<tenant>/<service>` works.
path "secret/metadata/{{tenant}}/{{service}}" {
  capabilities = ["list"]
}

# The admin secret is held by the platform team only: an exact deny beats the glob above.
path "secret/data/{{tenant}}/{{service}}/admin" {
  capabilities = ["deny"]
}
