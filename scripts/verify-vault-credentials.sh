#!/usr/bin/env bash
# The seed's credential-rotation check: log in with an AppRole, read a secret, rotate the
# token, read again and confirm the old token is rejected. A thin wrapper over
# `vaultgate verify`; the VAULT_* environment passes through unchanged.
#
#   VAULT_ADDR=http://127.0.0.1:8200 VAULT_TOKEN=... \
#     scripts/verify-vault-credentials.sh my-app-role secret/data/api
#
# Credentials: VAULT_ROLE_ID + VAULT_SECRET_ID, or a bootstrap VAULT_TOKEN that may read the
# role id and create a secret id. VAULTGATE_BIN names a vaultgate binary to use instead of
# building one (tests use it to avoid a release build).
set -euo pipefail

usage() {
  echo "usage: $(basename "$0") ROLE PATH   (e.g. my-app-role secret/data/api)" >&2
  echo "  environment: VAULT_ADDR, VAULT_CACERT, VAULT_CLIENT_CERT, VAULT_CLIENT_KEY," >&2
  echo "  VAULT_NAMESPACE, VAULT_ROLE_ID + VAULT_SECRET_ID or VAULT_TOKEN, VAULTGATE_BIN" >&2
  exit 2
}

[ "$#" -eq 2 ] || usage
case "$1" in -*) usage ;; esac
role="$1"
path="$2"
[ -n "$role" ] && [ -n "$path" ] || usage

if [ -n "${VAULTGATE_BIN:-}" ]; then
  bin="$VAULTGATE_BIN"
else
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  bin="$root/target/release/vaultgate"
  # cargo decides whether anything changed; a no-op build is quick.
  (cd "$root" && cargo build --release --quiet)
fi
[ -x "$bin" ] || { echo "error: $bin is not an executable vaultgate" >&2; exit 1; }

exec "$bin" verify --role "$role" -- "$path"
