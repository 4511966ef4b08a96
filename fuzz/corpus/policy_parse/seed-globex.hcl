# Tenant-wide policy for globex: applies to every globex service. {{tenant}} and {{service}}
# are replaced by the calling service's names, so each service only reaches its own subtree.

# Each service reads its own KV v2 secrets and may write them (create and update together).
# globex does not grant delete: retiring a secret goes through the platform team.
path "secret/data/{{tenant}}/{{service}}/*" {
  capabilities = ["read", "create", "update", "patch"]
}

# Version history and key listing under the service's own subtree, read-only.
path "secret/metadata/{{tenant}}/{{service}}/*" {
  capabilities = ["read", "list"]
}

# Listing the service's root folder, so `bao kv list secret/<tenant>/<service>` works.
path "secret/metadata/{{tenant}}/{{service}}" {
  capabilities = ["list"]
}

# The admin secret is held by the platform team only: an exact deny beats the glob above.
path "secret/data/{{tenant}}/{{service}}/admin" {
  capabilities = ["deny"]
}
