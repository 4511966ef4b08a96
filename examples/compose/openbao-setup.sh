#!/bin/sh
# Configures a fresh OpenBao for the demo and the compose stack: demo secrets, the
# least-privilege Vault policy of acme/billing and its AppRole, whose role_id/secret_id are
# written to $SECRETS_DIR (default /secrets, the compose volume). Needs `bao` on PATH and
# BAO_ADDR/BAO_TOKEN set.
set -eu
secrets="${SECRETS_DIR:-/secrets}"
bao kv put -mount=secret acme/billing/db password=demo-db-password
bao kv put -mount=secret acme/web/key api_key=web-api-key
bao kv put -mount=secret globex/x value=globex-secret
bao policy write acme-billing - <<'HCL'
path "secret/data/acme/billing/*"     { capabilities = ["create", "read", "update", "patch", "delete"] }
path "secret/metadata/acme/billing/*" { capabilities = ["read", "list", "delete"] }
path "secret/metadata/acme/billing"   { capabilities = ["list"] }
path "sys/internal/ui/mounts/*"       { capabilities = ["read"] }
# vaultgate manages the token itself: renew before expiry, check it, revoke on exit.
path "auth/token/lookup-self"         { capabilities = ["read"] }
path "auth/token/renew-self"          { capabilities = ["update"] }
path "auth/token/revoke-self"         { capabilities = ["update"] }
HCL
bao auth enable approle || true
bao write auth/approle/role/acme-billing token_policies=acme-billing \
  token_no_default_policy=true token_ttl=1h token_max_ttl=4h
bao read -field=role_id auth/approle/role/acme-billing/role-id >"$secrets/role_id"
bao write -f -field=secret_id auth/approle/role/acme-billing/secret-id >"$secrets/secret_id"
chmod 600 "$secrets/role_id" "$secrets/secret_id"
