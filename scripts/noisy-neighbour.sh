#!/usr/bin/env bash
# Noisy-neighbour measurement for issue #9 (a measurement, not a timed test): does one caller
# at full speed push another caller's p99 latency above 2x its unloaded value? vaultgate
# (release, mTLS, audit on to a file, [cache] defaults) serves two AppRole services of tenant
# acme, each with its own client certificate and its own secret: acme/web (quiet: oha, 1
# connection, fixed rate) and acme/batch (noisy: oha, 64 connections, no rate limit). Each
# round measures the quiet caller unloaded, then loaded, for a cached read and for an uncached
# one (Cache-Control: no-cache); medians over the rounds. Rewrites its own marked section of
# docs/benchmarks.md.
#
#   scripts/noisy-neighbour.sh              # 3 rounds x 10 s per case, quiet at 200 req/s
#   scripts/noisy-neighbour.sh --quick      # 1 round x 5 s
#   options: --rounds N  --duration SECONDS  --rate REQ_PER_S  --noisy-connections N
#            --config-extra FILE (TOML lines appended inside [limits]; or NOISY_LIMITS_TOML)
#            --no-doc
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

rounds=3 duration=10 rate=200 noisy_conns=64 write_doc=1 mode=full
limits_extra="${NOISY_LIMITS_TOML-}"
command_line="scripts/noisy-neighbour.sh${*:+ $*}"
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) rounds=1 duration=5 mode=quick ;;
    --rounds) rounds="$2"; shift ;;
    --duration) duration="$2"; shift ;;
    --rate) rate="$2"; shift ;;
    --noisy-connections) noisy_conns="$2"; shift ;;
    --config-extra) limits_extra="$(cat "$2")"; shift ;;
    --no-doc) write_doc=0 ;;
    -h | --help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

work="$root/.bench-noisy"
. "$root/scripts/bench-common.sh"

bao_port="$(free_port)" vg_port="$(free_port)"
start_openbao "$bao_port"

# --- OpenBao: one least-privilege AppRole per service, as examples/openbao-setup.sh does ------
"$bao" auth enable approle >/dev/null
pad="$(printf 'x%.0s' $(seq 1 200))"
for service in acme/web acme/batch; do
  name="$(echo "$service" | tr / -)"
  "$bao" kv put -mount=secret "$service/db" username="$name" \
    password=Vg3x9-kQ2m-Lr7w-Pz4t options="$pad" >/dev/null
  "$bao" policy write "$name" - >/dev/null <<HCL
path "secret/data/$service/*"     { capabilities = ["read"] }
path "auth/token/lookup-self"     { capabilities = ["read"] }
path "auth/token/renew-self"      { capabilities = ["update"] }
path "auth/token/revoke-self"     { capabilities = ["update"] }
HCL
  "$bao" write "auth/approle/role/$name" token_policies="$name" \
    token_no_default_policy=true token_ttl=1h token_max_ttl=4h >/dev/null
  mkdir -p "$work/secrets/$name"
  (umask 077
    "$bao" read -field=role_id "auth/approle/role/$name/role-id" >"$work/secrets/$name/role_id"
    "$bao" write -f -field=secret_id "auth/approle/role/$name/secret-id" \
      >"$work/secrets/$name/secret_id")
done
unset BAO_TOKEN
"$vg" certs init --dir "$work/certs" --service acme/web --service acme/batch >/dev/null

# --- vaultgate ---------------------------------------------------------------------------
noisy_config() { # noisy_config [CACHE_TOML]: both services; $limits_extra inside [limits]
  vault_listener_toml
  approle_service_toml acme/web
  approle_service_toml acme/batch
  printf '\n[policies]\ndir = "%s"\n' "$root/policies"
  audit_toml
  printf '%s\n\n[limits]\n%s\n' "${1:-}" "$limits_extra"
}
start_vaultgate "$vg_port" noisy_config
base="https://127.0.0.1:$vg_port"
for svc in web batch; do
  client=(--cacert "$work/certs/ca.pem" --cert "$work/certs/acme-$svc.pem"
    --key "$work/certs/acme-$svc-key.pem")
  wait_for vaultgate "$base/v1/sys/health" "${client[@]}"
  code=""
  for _ in $(seq 1 100); do # AppRole login happens at start; bounded wait for a 200
    code="$(curl -s -o /dev/null -w '%{http_code}' "${client[@]}" "$base/v1/secret/data/acme/$svc/db")"
    [ "$code" = 200 ] && break
    sleep 0.2
  done
  [ "$code" = 200 ] || { echo "!! acme/$svc read answered $code; logs in $work" >&2; exit 1; }
done

cat >"$work/noisy.json" <<JSON
{"oha": "$oha", "base": "$base", "certs": "$work/certs", "rounds": $rounds,
 "duration": $duration, "rate": $rate, "noisy_conns": $noisy_conns, "mode": "$mode",
 "command": "$command_line", "limits": $(python3 -c 'import json,sys; print(json.dumps(sys.argv[1]))' "$limits_extra"),
 "pid": $vg_pid, "openbao_pid": $bao_pid, "work": "$work", "write_doc": $write_doc,
 "doc": "$root/docs/benchmarks.md"}
JSON
# In the background so that a signal reaches the EXIT trap at once; the measuring script
# stops its load generators on SIGTERM.
python3 "$root/scripts/noisy_neighbour.py" "$work/noisy.json" &
pids+=($!)
wait $!
