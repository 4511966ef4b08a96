#!/bin/sh
# Configures a fresh OpenBao for scripts/demo.sh and docker-compose.yml alike: AppRole, demo
# secrets for two tenants, and for each demo service a least-privilege Vault policy and an
# AppRole whose role_id/secret_id go to $SECRETS_DIR/<tenant>-<service>/ (default /secrets,
# the compose volume), the layout examples/vaultgate.toml reads. Needs `bao` on PATH and
# BAO_ADDR/BAO_TOKEN set. With SECRETS_OWNER=uid:gid the files are handed to that user (the
# compose stack's non-root vaultgate).
set -eu
secrets="${SECRETS_DIR:-/secrets}"

bao auth enable approle >/dev/null 2>&1 || true
bao kv put -mount=secret acme/billing/db password=demo-db-password >/dev/null
bao kv put -mount=secret acme/web/key api_key=web-api-key >/dev/null
bao kv put -mount=secret globex/ledger/db password=globex-ledger-password >/dev/null

# One AppRole per service; its Vault policy is as narrow as the vaultgate rules in policies/.
for service in acme/billing globex/ledger; do
  name="$(echo "$service" | tr / -)"
  bao policy write "$name" - >/dev/null <<HCL
path "secret/data/$service/*"     { capabilities = ["create", "read", "update", "patch", "delete"] }
path "secret/metadata/$service/*" { capabilities = ["read", "list", "delete"] }
path "secret/metadata/$service"   { capabilities = ["list"] }
path "sys/internal/ui/mounts/*"   { capabilities = ["read"] }
# vaultgate manages the token itself: renew before expiry, check it, revoke on exit.
path "auth/token/lookup-self"     { capabilities = ["read"] }
path "auth/token/renew-self"      { capabilities = ["update"] }
path "auth/token/revoke-self"     { capabilities = ["update"] }
HCL
  bao write auth/approle/role/"$name" token_policies="$name" \
    token_no_default_policy=true token_ttl=1h token_max_ttl=4h >/dev/null
  mkdir -p "$secrets/$name"
  (umask 077
    bao read -field=role_id auth/approle/role/"$name"/role-id >"$secrets/$name/role_id"
    bao write -f -field=secret_id auth/approle/role/"$name"/secret-id >"$secrets/$name/secret_id")
  if [ -n "${SECRETS_OWNER:-}" ]; then chown -R "$SECRETS_OWNER" "$secrets/$name"; fi
  echo "AppRole $name: credentials in $secrets/$name/"
done
