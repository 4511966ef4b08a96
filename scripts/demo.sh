#!/usr/bin/env bash
# One command demo: a local OpenBao dev server, an AppRole identity for acme/billing,
# dev certificates, vaultgate in front, and three requests through it with the bao CLI:
# an allowed read, a denied read and a refused ambiguous path. Everything lives in .demo/
# and is stopped on exit (pass --keep to leave both servers running).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
keep=false
[ "${1:-}" = "--keep" ] && keep=true

bao="$(scripts/install-openbao.sh --no-hvac | tail -n 1)"
echo "==> building vaultgate (release)"
cargo build --release --quiet
vg="$root/target/release/vaultgate"

demo="$root/.demo"
rm -rf "$demo" && mkdir -p "$demo/secrets"
bao_port=18200
vg_port=18300
pids=()
cleanup() {
  if ! $keep; then
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
  fi
}
trap cleanup EXIT

echo "==> starting OpenBao dev server on 127.0.0.1:$bao_port"
"$bao" server -dev -dev-root-token-id=root -dev-listen-address="127.0.0.1:$bao_port" \
  >"$demo/openbao.log" 2>&1 &
pids+=($!)
export BAO_ADDR="http://127.0.0.1:$bao_port" BAO_TOKEN=root
for _ in $(seq 1 100); do "$bao" status >/dev/null 2>&1 && break; sleep 0.2; done
"$bao" status >/dev/null

echo "==> configuring OpenBao: secrets, a least-privilege policy, an AppRole for acme/billing"
# The same setup the docker-compose stack runs.
PATH="$(dirname "$bao"):$PATH" SECRETS_DIR="$demo/secrets" \
  sh examples/compose/openbao-setup.sh >/dev/null

echo "==> dev certificates (vaultgate certs init)"
"$vg" certs init --dir "$demo/certs" --service acme/billing >/dev/null

# The admin listener's bearer token: random, readable by its owner only.
(umask 077 && head -c 24 /dev/urandom | base64 >"$demo/admin.token")
admin_port=18301

cat >"$demo/vaultgate.toml" <<TOML
[vault]
address = "http://127.0.0.1:$bao_port"

[[listener]]
address = "127.0.0.1:$vg_port"
tls_cert = "certs/localhost.pem"
tls_key = "certs/localhost-key.pem"
client_ca = "certs/ca.pem"

[[service]]
name = "acme/billing"
auth = "approle"
role_id_file = "secrets/role_id"
secret_id_file = "secrets/secret_id"

[policies]
dir = "$root/policies"

[admin]
address = "127.0.0.1:$admin_port"
token_file = "admin.token"
TOML

echo "==> starting vaultgate on https://127.0.0.1:$vg_port"
VAULTGATE_LOG=warn "$vg" run --config "$demo/vaultgate.toml" >"$demo/vaultgate.log" 2>&1 &
pids+=($!)
unset BAO_ADDR BAO_TOKEN
export VAULT_ADDR="https://127.0.0.1:$vg_port" VAULT_CACERT="$demo/certs/ca.pem" \
  VAULT_CLIENT_CERT="$demo/certs/acme-billing.pem" VAULT_CLIENT_KEY="$demo/certs/acme-billing-key.pem"
for _ in $(seq 1 100); do
  curl -s --cacert "$VAULT_CACERT" "$VAULT_ADDR/v1/sys/health" >/dev/null 2>&1 && break
  sleep 0.2
done

run() { echo; echo "\$ $*"; "$@" || true; }
echo
echo "The bao CLI below has no token: only VAULT_ADDR, VAULT_CACERT and a client certificate"
echo "for acme/billing. vaultgate injects the service's own AppRole token."
run "$bao" kv get -mount=secret acme/billing/db
run "$bao" kv get -mount=secret acme/web/key
echo
echo "\$ curl --path-as-is .../v1/secret/data/acme/billing/../../web/key   (an ambiguous path)"
curl -s --path-as-is --cacert "$VAULT_CACERT" --cert "$VAULT_CLIENT_CERT" --key "$VAULT_CLIENT_KEY" \
  -w '  -> HTTP %{http_code}\n' "$VAULT_ADDR/v1/secret/data/acme/billing/../../web/key"
echo
admin="http://127.0.0.1:$admin_port"
auth="Authorization: Bearer $(cat "$demo/admin.token")"
echo "The admin listener (loopback only, bearer token from .demo/admin.token):"
echo "\$ curl $admin/readyz                       (no token)"
curl -s -w '  -> HTTP %{http_code}\n' "$admin/readyz"
echo "\$ curl -H 'Authorization: Bearer ...' $admin/readyz"
curl -s -H "$auth" -w '  -> HTTP %{http_code}\n' "$admin/readyz"
echo "\$ curl -H 'Authorization: Bearer ...' $admin/metrics | grep ^vaultgate_requests_total"
curl -s -H "$auth" "$admin/metrics" | grep '^vaultgate_requests_total' || true
echo
if $keep; then
  echo "Left running (pids ${pids[*]}); environment for your own requests:"
  echo "  export VAULT_ADDR=$VAULT_ADDR VAULT_CACERT=$VAULT_CACERT"
  echo "  export VAULT_CLIENT_CERT=$VAULT_CLIENT_CERT VAULT_CLIENT_KEY=$VAULT_CLIENT_KEY"
  echo "Admin: curl -H \"Authorization: Bearer \$(cat $demo/admin.token)\" $admin/tokens"
  trap - EXIT
else
  echo "Done; logs in .demo/. Run with --keep to leave the servers up."
fi
