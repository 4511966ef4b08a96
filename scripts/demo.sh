#!/usr/bin/env bash
# One command demo: a local OpenBao dev server configured by examples/openbao-setup.sh (two
# tenants, one AppRole per service), dev certificates from `vaultgate certs init`, vaultgate
# running examples/vaultgate.toml with policies/ (the same files docker-compose.yml uses;
# only the two ports move, DEMO_BAO_PORT and DEMO_VAULTGATE_PORT), and requests through it
# with the bao CLI and curl. Everything lives in .demo/ and is stopped on exit (pass --keep
# to leave both servers running). VAULTGATE_BIN skips the release build and DEMO_DIR moves
# .demo/ (tests use both).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
keep=false
[ "${1:-}" = "--keep" ] && keep=true

bao="$(scripts/install-openbao.sh --no-hvac | tail -n 1)"
if [ -n "${VAULTGATE_BIN:-}" ]; then
  vg="$VAULTGATE_BIN"
else
  echo "==> building vaultgate (release)"
  cargo build --release --quiet
  vg="$root/target/release/vaultgate"
fi

demo="${DEMO_DIR:-$root/.demo}"
rm -rf "$demo" && mkdir -p "$demo/secrets"
bao_port="${DEMO_BAO_PORT:-18200}"
vg_port="${DEMO_VAULTGATE_PORT:-18300}"
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

echo "==> configuring OpenBao: AppRole, demo secrets for acme and globex, one role per service"
# The same setup the docker-compose stack runs.
PATH="$(dirname "$bao"):$PATH" SECRETS_DIR="$demo/secrets" sh examples/openbao-setup.sh

echo "==> dev certificates"
echo "\$ vaultgate certs init --dir .demo/certs --service acme/billing --service globex/ledger"
"$vg" certs init --dir "$demo/certs" --service acme/billing --service globex/ledger

# The admin listener's bearer token: random, readable by its owner only.
(umask 077 && head -c 24 /dev/urandom | base64 >"$demo/admin.token")
admin_port=18301

echo "==> configuration: examples/vaultgate.toml with the demo's ports and an [admin] listener, policies/"
sed -e "s|127.0.0.1:8200|127.0.0.1:$bao_port|" -e "s|127.0.0.1:8300|127.0.0.1:$vg_port|" \
  examples/vaultgate.toml >"$demo/vaultgate.toml"
printf '\n[admin]\naddress = "127.0.0.1:%s"\ntoken_file = "admin.token"\n' "$admin_port" >>"$demo/vaultgate.toml"
ln -s "$root/policies" "$demo/policies"
"$vg" config check "$demo/vaultgate.toml"

echo "==> starting vaultgate on https://127.0.0.1:$vg_port"
"$vg" run --config "$demo/vaultgate.toml" --log-format human >"$demo/vaultgate.log" 2>&1 &
pids+=($!)
unset BAO_ADDR BAO_TOKEN
export VAULT_ADDR="https://127.0.0.1:$vg_port" VAULT_CACERT="$demo/certs/ca.pem" \
  VAULT_CLIENT_CERT="$demo/certs/acme-billing.pem" VAULT_CLIENT_KEY="$demo/certs/acme-billing-key.pem"
# Up once a service's own read goes through (listener bound and the AppRole logged in).
for _ in $(seq 1 100); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' --cacert "$VAULT_CACERT" --cert "$VAULT_CLIENT_CERT" \
    --key "$VAULT_CLIENT_KEY" "$VAULT_ADDR/v1/secret/data/acme/billing/db")" = 200 ] && break
  sleep 0.2
done

run() { echo; echo "\$ bao ${*:2}"; "$@" 2>&1 || true; }
echo
echo "The bao CLI below has no token: only VAULT_ADDR, VAULT_CACERT and a client certificate"
echo "for acme/billing. vaultgate injects the service's own AppRole token."
run "$bao" kv get -mount=secret acme/billing/db
run "$bao" kv put -mount=secret acme/billing/api key=written-by-the-demo
run "$bao" kv list -mount=secret acme/billing
run "$bao" kv get -mount=secret acme/web/key
run "$bao" token lookup
echo
echo "globex/ledger, with its own certificate, reads its own secret and not acme's:"
echo "\$ curl --cacert ca.pem --cert globex-ledger.pem --key globex-ledger-key.pem \$VAULT_ADDR/v1/secret/data/globex/ledger/db"
curl -s --cacert "$VAULT_CACERT" --cert "$demo/certs/globex-ledger.pem" --key "$demo/certs/globex-ledger-key.pem" \
  -w '  -> HTTP %{http_code}\n' "$VAULT_ADDR/v1/secret/data/globex/ledger/db"
curl -s --cacert "$VAULT_CACERT" --cert "$demo/certs/globex-ledger.pem" --key "$demo/certs/globex-ledger-key.pem" \
  -w '  -> HTTP %{http_code}\n' "$VAULT_ADDR/v1/secret/data/acme/billing/db"
echo
echo "\$ curl --path-as-is .../v1/secret/data/acme/billing/../../web/key   (an ambiguous path)"
curl -s --path-as-is --cacert "$VAULT_CACERT" --cert "$VAULT_CLIENT_CERT" --key "$VAULT_CLIENT_KEY" \
  -w '  -> HTTP %{http_code}\n' "$VAULT_ADDR/v1/secret/data/acme/billing/../../web/key"
echo
echo "==> vaultgate's startup summary (.demo/vaultgate.log)"
grep -E "listener |service |policy set digest|vault .* version" "$demo/vaultgate.log" || true
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
