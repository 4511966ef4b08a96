#!/usr/bin/env bash
# Side-by-side load harness (issues #8, #20): OpenBao direct (plain HTTP and its own TLS
# listener), `bao proxy` (the incumbent), vaultgate in its default configuration with a file
# audit sink (mTLS) and a bare hyper + rustls server (the machine's limit), all on loopback
# free ports, measured with oha at 1, 16 and 64 connections, targets alternating, repeated;
# plus the side-channel table: cached reads at 16 connections through four more vaultgates
# (audit off/on x VAULTGATE_LOG=warn/default, and the access log on). Prints the tables with
# ratios and the issue's targets, draws docs/img/bench-latency.svg and rewrites the marked
# section of docs/benchmarks.md. Installs what it needs (oha from crates.io, OpenBao via
# scripts/install-openbao.sh, matplotlib from PyPI); every process it starts is stopped on
# exit, and the script checks that none is left.
#
#   scripts/bench.sh              # full: 3 rounds x 3 s per cell, about 8 minutes
#   scripts/bench.sh --quick      # smoke: 1 round x 2 s per cell, about 2 minutes
#   options: --rounds N  --duration SECONDS  --conns "1 16 64"  --no-doc
#   BENCH_AUDIT=off: the headline vaultgate without an audit sink
#   BENCH_LOG=warn: the headline vaultgate at that VAULTGATE_LOG level (default: unset)
#   BENCH_SIDE=0: skip the side-channel vaultgates
#   BENCH_CACHE_TOML: vaultgate's [cache] section (default: `[cache]` if the build accepts it)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

rounds=3 duration=3 conns="1 16 64" write_doc=1 mode=full
command_line="scripts/bench.sh${*:+ $*}"
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) rounds=1 duration=2 mode=quick ;;
    --rounds) rounds="$2"; shift ;;
    --duration) duration="$2"; shift ;;
    --conns) conns="$2"; shift ;;
    --no-doc) write_doc=0 ;;
    -h | --help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

# Tools, the work folder, process bookkeeping (trap EXIT), free_port and wait_for.
work="$root/.bench"
. "$root/scripts/bench-common.sh"

bao_port="$(free_port)" proxy_port="$(free_port)" vg_port="$(free_port)" bare_port="$(free_port)"
bao_tls_port="$(free_port)"
ensure_matplotlib
make_certs

# --- OpenBao dev server (plain HTTP, and TLS with the same server certificate), seeded -------
start_openbao "$bao_port" "$bao_tls_port"
seed_openbao
# Separate secret ids for bao proxy and for the direct token, from the same role.
role=auth/approle/role/acme-billing
"$bao" read -field=role_id "$role/role-id" >"$work/secrets/proxy_role_id"
"$bao" write -f -field=secret_id "$role/secret-id" >"$work/secrets/proxy_secret_id"
direct_token="$("$bao" write -field=token auth/approle/login \
  role_id="$(cat "$work/secrets/acme-billing/role_id")" \
  secret_id="$("$bao" write -f -field=secret_id "$role/secret-id")")"
printf '%s' "$direct_token" >"$work/secrets/direct_token"
# The bare server answers with the exact bytes OpenBao returns for the measured read.
curl -sf -H "X-Vault-Token: $direct_token" "$BAO_ADDR/v1/secret/data/acme/billing/db" \
  >"$work/body.json"
unset BAO_TOKEN

# --- bao proxy: AppRole auto-auth, forced auto-auth token, TLS listener, no cache -----------
cat >"$work/bao-proxy.hcl" <<HCL
log_level = "warn"
vault { address = "$BAO_ADDR" }
auto_auth {
  method "approle" {
    config = {
      role_id_file_path = "$work/secrets/proxy_role_id"
      secret_id_file_path = "$work/secrets/proxy_secret_id"
      remove_secret_id_file_after_reading = false
    }
  }
}
api_proxy { use_auto_auth_token = "force" }
listener "tcp" {
  address = "127.0.0.1:$proxy_port"
  tls_cert_file = "$certs/localhost.pem"
  tls_key_file = "$certs/localhost-key.pem"
}
HCL
echo "==> bao proxy on https://127.0.0.1:$proxy_port" >&2
env -u BAO_ADDR "$bao" proxy -config="$work/bao-proxy.hcl" >"$work/bao-proxy.log" 2>&1 &
pids+=($!)
proxy_pid=$!

# --- vaultgate: mTLS, audit to a file (BENCH_AUDIT=off: none), the cache if built -------
start_vaultgate "$vg_port"

# --- side channels: the same vaultgate with audit off/on, logging at warn/default, access log
variants=()
if [ "${BENCH_SIDE:-1}" != 0 ]; then
  for v in "noaudit-warn off warn 0" "noaudit-default off '' 0" "audit-warn on warn 0" \
    "audit-access on '' 1"; do
    eval "set -- $v"
    port="$(free_port)"
    start_variant "vg-$1" "$port" "$2" "$3" "$4"
    variants+=("vg-$1 $port $variant_pid")
  done
fi

# --- the bare rustls server (same TLS and mTLS work, fixed body) ------------------------------
echo "==> bare rustls server on https://127.0.0.1:$bare_port" >&2
"$bare" "127.0.0.1:$bare_port" "$certs/localhost.pem" "$certs/localhost-key.pem" \
  "$work/body.json" "$certs/ca.pem" >"$work/bare.log" 2>&1 &
pids+=($!)
bare_pid=$!

wait_for "bao proxy" "https://127.0.0.1:$proxy_port/v1/sys/health" --cacert "$certs/ca.pem"
wait_for vaultgate "https://127.0.0.1:$vg_port/v1/sys/health" "${client[@]}"
wait_for "bare server" "https://127.0.0.1:$bare_port/" "${client[@]}"
wait_for "OpenBao TLS listener" "https://127.0.0.1:$bao_tls_port/v1/sys/health" --cacert "$certs/ca.pem"
for v in ${variants[@]+"${variants[@]}"}; do
  read -r name port _ <<<"$v"
  wait_for "$name" "https://127.0.0.1:$port/v1/sys/health" "${client[@]}"
done

# Sanity: every target answers the measured read with 200 before anything is timed.
read_path=/v1/secret/data/acme/billing/db
side_urls=()
for v in ${variants[@]+"${variants[@]}"}; do
  read -r _ port _ <<<"$v"
  side_urls+=("https://127.0.0.1:$port")
done
for t in "https://127.0.0.1:$vg_port" "https://127.0.0.1:$proxy_port" "$BAO_ADDR" \
  "https://127.0.0.1:$bao_tls_port" ${side_urls[@]+"${side_urls[@]}"}; do
  for _ in $(seq 1 50); do # the proxies log in asynchronously; bounded retry
    code="$(curl -s -o /dev/null -w '%{http_code}' "${client[@]}" \
      -H "X-Vault-Token: $direct_token" "$t$read_path")"
    [ "$code" = 200 ] && break
    sleep 0.2
  done
  [ "$code" = 200 ] || { echo "!! $t$read_path answered $code; logs in $work" >&2; exit 1; }
done
# What vaultgate says about its cache for a repeated read (recorded for the report).
curl -s -D - -o /dev/null "${client[@]}" "https://127.0.0.1:$vg_port$read_path" \
  | grep -i 'cache' >"$work/cache-headers.txt" || true

cat >"$work/targets.json" <<JSON
{
  "oha": "$oha",
  "mode": "$mode",
  "rounds": $rounds,
  "duration": $duration,
  "conns": [$(echo "$conns" | sed 's/ \+/, /g')],
  "command": "$command_line",
  "headline_log": "${BENCH_LOG:-}",
  "headline_audit": "${BENCH_AUDIT:-on}",
  "cache": "$( [ -n "$cache_toml" ] && echo on || echo absent)",
  "write_doc": $write_doc,
  "doc": "$root/docs/benchmarks.md",
  "work": "$work",
  "openbao_pid": $bao_pid,
  "openbao_version": "$("$bao" version | awk '{print $1, $2}')",
  "targets": [
    {"name": "vaultgate", "base": "https://127.0.0.1:$vg_port", "pid": $vg_pid,
     "audit": "$work/audit.log",
     "tls": ["--cacert", "$certs/ca.pem", "--cert", "$certs/acme-billing.pem",
             "--key", "$certs/acme-billing-key.pem"], "headers": [],
     "cases": ["cached", "uncached", "write", "denied", "mixed"]},
    {"name": "bao-proxy", "base": "https://127.0.0.1:$proxy_port", "pid": $proxy_pid,
     "tls": ["--cacert", "$certs/ca.pem"], "headers": [],
     "cases": ["uncached", "write", "denied", "mixed"]},
    {"name": "openbao", "base": "$BAO_ADDR", "pid": $bao_pid,
     "tls": [], "headers": ["X-Vault-Token: $direct_token"],
     "cases": ["uncached", "write", "denied", "mixed"]},
    {"name": "openbao-tls", "base": "https://127.0.0.1:$bao_tls_port", "pid": $bao_pid,
     "tls": ["--cacert", "$certs/ca.pem"], "headers": ["X-Vault-Token: $direct_token"],
     "cases": ["uncached"]},$(for v in ${variants[@]+"${variants[@]}"}; do
  read -r name port pid <<<"$v"
  printf '\n    {"name": "%s", "base": "https://127.0.0.1:%s", "pid": %s, "audit": "%s", "side": true,' \
    "$name" "$port" "$pid" "$work/$name/audit.log"
  printf '\n     "tls": ["--cacert", "%s", "--cert", "%s", "--key", "%s"], "headers": [], "cases": ["cached"]},' \
    "$certs/ca.pem" "$certs/acme-billing.pem" "$certs/acme-billing-key.pem"
done)
    {"name": "bare", "base": "https://127.0.0.1:$bare_port", "pid": $bare_pid,
     "tls": ["--cacert", "$certs/ca.pem", "--cert", "$certs/acme-billing.pem",
             "--key", "$certs/acme-billing-key.pem"], "headers": [],
     "cases": ["fixed"]}
  ]
}
JSON
# In the background so that a signal reaches the EXIT trap at once (bash runs traps only
# between foreground commands); the measuring script stops its own load generator on SIGTERM.
python3 "$root/scripts/bench_measure.py" "$work/targets.json" &
pids+=($!)
wait $!
