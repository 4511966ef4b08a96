#!/usr/bin/env bash
# One command demo: a local OpenBao dev server configured by examples/openbao-setup.sh (two
# tenants, one AppRole per service), dev certificates from `vaultgate certs init`, vaultgate
# running examples/vaultgate.toml with policies/ (the same files docker-compose.yml uses;
# only the ports move) plus an admin listener, and requests through it with the bao CLI and
# curl. Everything lives in .demo/.
#
#   scripts/demo.sh            run it, then stop vaultgate (it revokes its tokens) and OpenBao
#   scripts/demo.sh --keep     leave both running; .demo/env holds the environment to use them
#   scripts/demo.sh --stop     stop a kept demo, vaultgate first
#
# Ports are picked free unless DEMO_BAO_PORT, DEMO_VAULTGATE_PORT or DEMO_ADMIN_PORT name
# them. VAULTGATE_BIN skips the release build and DEMO_DIR moves .demo/ (tests use both).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
demo="${DEMO_DIR:-$root/.demo}"
mode="${1:-run}"
case "$mode" in
  run | --keep | --stop) ;;
  *) echo "usage: $0 [--keep | --stop]" >&2; exit 2 ;;
esac

# vaultgate first, so it revokes its tokens while OpenBao can still answer; each is waited
# for (bounded) before the next goes.
stop_pid() {
  local name="$1" pid="$2" rc=0
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  # Our own child: wait reaps it (vaultgate bounds its own drain and revocation).
  wait "$pid" 2>/dev/null || rc=$?
  if [ "$rc" != 127 ]; then
    echo "==> $name stopped"
    return 0
  fi
  # Left by an earlier `--keep` run, so not our child: watch it go.
  for _ in $(seq 1 150); do
    kill -0 "$pid" 2>/dev/null || { echo "==> $name stopped"; return 0; }
    sleep 0.2
  done
  echo "==> $name did not stop within 30 s; killing it" >&2
  kill -KILL "$pid" 2>/dev/null || true
}
stop_demo() {
  [ -f "$demo/pids" ] || return 0
  # shellcheck disable=SC1091
  . "$demo/pids"
  stop_pid vaultgate "${vaultgate_pid:-}"
  stop_pid OpenBao "${openbao_pid:-}"
  rm -f "$demo/pids"
}

if [ "$mode" = --stop ]; then
  [ -f "$demo/pids" ] || { echo "no kept demo in $demo"; exit 0; }
  stop_demo
  exit 0
fi
keep=false
[ "$mode" = --keep ] && keep=true
if [ -f "$demo/pids" ]; then
  echo "==> stopping the demo left running in $demo"
  stop_demo
fi

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

echo "==> installing OpenBao into .tools/ (once)"
bao="$(scripts/install-openbao.sh --no-hvac | tail -n 1)"
if [ -n "${VAULTGATE_BIN:-}" ]; then
  vg="$VAULTGATE_BIN"
else
  echo "==> building vaultgate (cargo build --release; a few minutes the first time)"
  cargo build --release
  vg="$root/target/release/vaultgate"
fi

rm -rf "$demo" && mkdir -p "$demo/secrets"
bao_port="${DEMO_BAO_PORT:-$(free_port)}"
vg_port="${DEMO_VAULTGATE_PORT:-$(free_port)}"
admin_port="${DEMO_ADMIN_PORT:-$(free_port)}"
openbao_pid=""
vaultgate_pid=""
record_pids() {
  printf 'openbao_pid=%s\nvaultgate_pid=%s\n' "$openbao_pid" "$vaultgate_pid" >"$demo/pids"
}
on_exit() {
  if ! $keep || [ "${demo_ok:-false}" != true ]; then
    stop_demo
  fi
}
trap on_exit EXIT

echo "==> starting OpenBao dev server on 127.0.0.1:$bao_port"
"$bao" server -dev -dev-root-token-id=root -dev-listen-address="127.0.0.1:$bao_port" \
  >"$demo/openbao.log" 2>&1 &
openbao_pid=$!
record_pids
export BAO_ADDR="http://127.0.0.1:$bao_port" BAO_TOKEN=root
for _ in $(seq 1 100); do "$bao" status >/dev/null 2>&1 && break; sleep 0.2; done
"$bao" status >/dev/null || { echo "OpenBao did not start; see $demo/openbao.log" >&2; exit 1; }

echo "==> configuring OpenBao: AppRole, demo secrets for acme and globex, one role per service"
# The same setup the docker-compose stack runs.
PATH="$(dirname "$bao"):$PATH" SECRETS_DIR="$demo/secrets" sh examples/openbao-setup.sh

echo "==> dev certificates"
echo "\$ vaultgate certs init --dir .demo/certs --service acme/billing --service globex/ledger"
"$vg" certs init --dir "$demo/certs" --service acme/billing --service globex/ledger

# The admin listener's bearer token: random, readable by its owner only.
(umask 077 && head -c 24 /dev/urandom | base64 >"$demo/admin.token")

echo "==> configuration: examples/vaultgate.toml with the demo's ports and an [admin] listener, policies/"
sed -e "s|127.0.0.1:8200|127.0.0.1:$bao_port|" -e "s|127.0.0.1:8300|127.0.0.1:$vg_port|" \
  examples/vaultgate.toml >"$demo/vaultgate.toml"
printf '\n[admin]\naddress = "127.0.0.1:%s"\ntoken_file = "admin.token"\n' "$admin_port" >>"$demo/vaultgate.toml"
ln -s "$root/policies" "$demo/policies"
echo "\$ vaultgate config check .demo/vaultgate.toml"
"$vg" config check "$demo/vaultgate.toml"

echo "==> starting vaultgate on https://127.0.0.1:$vg_port (admin: http://127.0.0.1:$admin_port)"
"$vg" run --config "$demo/vaultgate.toml" --log-format human >"$demo/vaultgate.log" 2>&1 &
vaultgate_pid=$!
record_pids
unset BAO_ADDR BAO_TOKEN
export VAULT_ADDR="https://127.0.0.1:$vg_port" VAULT_CACERT="$demo/certs/ca.pem" \
  VAULT_CLIENT_CERT="$demo/certs/acme-billing.pem" VAULT_CLIENT_KEY="$demo/certs/acme-billing-key.pem"
# The environment the README's examples use, for `source .demo/env` in another shell.
cat >"$demo/env" <<ENV
# Written by scripts/demo.sh for the demo it left running; \`source .demo/env\` to use it.
unset BAO_ADDR BAO_TOKEN BAO_CACERT BAO_CLIENT_CERT BAO_CLIENT_KEY  # bao prefers BAO_* over VAULT_*
export PATH="$(dirname "$vg"):$(dirname "$bao"):\$PATH"  # vaultgate and the bao CLI
export VAULT_ADDR="$VAULT_ADDR"  # vaultgate's listener
export VAULT_CACERT="$VAULT_CACERT"
export VAULT_CLIENT_CERT="$VAULT_CLIENT_CERT"  # you are acme/billing
export VAULT_CLIENT_KEY="$VAULT_CLIENT_KEY"
export VAULTGATE_ADMIN="http://127.0.0.1:$admin_port"  # the admin listener
export OPENBAO_ADDR="http://127.0.0.1:$bao_port"  # OpenBao itself (root token: root)
ENV
# Up once a service's own read goes through (listener bound and the AppRole logged in).
up=false
for _ in $(seq 1 100); do
  if [ "$(curl -s -o /dev/null -w '%{http_code}' --cacert "$VAULT_CACERT" --cert "$VAULT_CLIENT_CERT" \
    --key "$VAULT_CLIENT_KEY" "$VAULT_ADDR/v1/secret/data/acme/billing/db")" = 200 ]; then
    up=true
    break
  fi
  kill -0 "$vaultgate_pid" 2>/dev/null || break
  sleep 0.2
done
if ! $up; then
  echo "vaultgate did not come up; the end of $demo/vaultgate.log:" >&2
  tail -n 20 "$demo/vaultgate.log" >&2
  exit 1
fi

run() { echo; echo "\$ bao ${*:2}"; "$@" 2>&1 || true; }
echo
echo "The bao CLI below has no token: only VAULT_ADDR, VAULT_CACERT and a client certificate"
echo "for acme/billing. vaultgate injects the service's own AppRole token."
run "$bao" kv get -mount=secret acme/billing/db
run "$bao" kv put -mount=secret acme/billing/api key=written-by-the-demo
run "$bao" kv list -mount=secret acme/billing
run "$bao" kv get -mount=secret acme/web/key
run "$bao" token lookup -field=display_name
run "$bao" token revoke -self
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
demo_ok=true
if $keep; then
  echo "Left running: vaultgate (pid $vaultgate_pid) and OpenBao (pid $openbao_pid). Their environment, in .demo/env:"
  sed -n 's/^\(unset\|export\) /  &/p' "$demo/env" | sed 's/  *#.*//'
  echo "Next: source .demo/env, then try the README's examples (bao kv get -mount=secret acme/billing/db);"
  echo "      scripts/demo.sh --stop stops both, vaultgate first."
else
  echo "==> stopping vaultgate (it revokes its tokens), then OpenBao"
  stop_demo
  echo "Next: scripts/demo.sh --keep leaves the stack up; then source .demo/env and try the README's"
  echo "      examples, or explain a decision offline: vaultgate policy explain --caller acme/billing GET secret/data/acme/billing/db"
fi
