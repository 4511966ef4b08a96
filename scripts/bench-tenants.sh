#!/usr/bin/env bash
# Tenant-scaling curve for issue #8: req/s through vaultgate (mTLS, audit on) against the
# number of distinct callers, 1 -> 1,000. Each caller is its own tenant `t<i>` with service
# `svc`, its own client certificate (vaultgate certs init), tenant policy file and Vault token
# (auth = "token_file"), and reads its own ~300-byte secret. examples/tenant_load.rs keeps one
# connection per caller and drives them all from a fixed number of workers, so concurrency is
# the same at every point of the curve. Rewrites its own marked section of docs/benchmarks.md
# and draws docs/img/bench-tenants.svg (req/s and peak RSS against callers).
#
#   scripts/bench-tenants.sh            # callers 1 10 100 1000, 3 rounds x 3 s, 16 workers
#   scripts/bench-tenants.sh --quick    # 1 round x 2 s
#   options: --callers "1 10 100 1000"  --workers N  --rounds N  --duration SECONDS  --no-doc
#            --perf LABEL: perf-record vaultgate during each point's last round and write
#            docs/profiles/tenants-<N>-callers-LABEL.txt (needs perf, as scripts/profile.sh)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

rounds=3 duration=3 callers="1 10 100 1000" workers=16 write_doc=1 mode=full perf_label=
command_line="scripts/bench-tenants.sh${*:+ $*}"
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) rounds=1 duration=2 mode=quick ;;
    --callers) callers="$2"; shift ;;
    --workers) workers="$2"; shift ;;
    --rounds) rounds="$2"; shift ;;
    --duration) duration="$2"; shift ;;
    --no-doc) write_doc=0 ;;
    --perf) perf_label="$2"; shift ;;
    -h | --help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
max=0
for n in $callers; do [ "$n" -gt "$max" ] && max=$n; done

work="$root/.bench-tenants"
. "$root/scripts/bench-common.sh"
ensure_matplotlib
mkdir -p "$work/tokens" "$work/policies"

bao_port="$(free_port)" vg_port="$(free_port)"
start_openbao "$bao_port"

# One Vault policy for all callers; per-caller least privilege is vaultgate's job here.
"$bao" policy write bench-tenants - >/dev/null <<'HCL'
path "secret/data/*"          { capabilities = ["read"] }
path "auth/token/lookup-self" { capabilities = ["read"] }
path "auth/token/renew-self"  { capabilities = ["update"] }
path "auth/token/revoke-self" { capabilities = ["update"] }
HCL
echo "==> $max callers: secrets, tokens, tenant policies, client certificates" >&2
# Secrets and tokens through the HTTP API (one CLI process per call would take minutes).
python3 - "$BAO_ADDR" "$max" "$work" <<'PY'
import json, sys, urllib.request
addr, n, work = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def call(path, body):
    req = urllib.request.Request(addr + path, data=json.dumps(body).encode(), method="POST",
                                 headers={"X-Vault-Token": "root"})
    with urllib.request.urlopen(req) as r:
        return json.load(r) if r.status == 200 else None
data = {"username": "svc", "password": "Vg3x9-kQ2m-Lr7w-Pz4t", "options": "x" * 200}
for i in range(n):
    call(f"/v1/secret/data/t{i}/svc/db", {"data": data})
    tok = call("/v1/auth/token/create", {"policies": ["bench-tenants"], "no_default_policy": True,
                                         "ttl": "4h"})["auth"]["client_token"]
    with open(f"{work}/tokens/t{i}", "w") as f:
        f.write(tok)
    with open(f"{work}/policies/t{i}.hcl", "w") as f:
        f.write('path "secret/data/{{tenant}}/{{service}}/*" { capabilities = ["read"] }\n')
PY
services=()
for i in $(seq 0 $((max - 1))); do services+=(--service "t$i/svc"); done
"$vg" certs init --dir "$work/certs" "${services[@]}" >/dev/null

tenants_config() { # tenants_config [CACHE_TOML]: every t<i>/svc with its token file
  vault_listener_toml
  cat <<TOML

[policies]
dir = "policies"

[limits]
max_connections = $((max + workers + 64))
TOML
  audit_toml
  for i in $(seq 0 $((max - 1))); do
    printf '\n[[service]]\nname = "t%s/svc"\nauth = "token_file"\ntoken_file = "tokens/t%s"\n' "$i" "$i"
  done
  printf '%s\n' "${1:-}"
}
start_vaultgate "$vg_port" tenants_config
client=(--cacert "$work/certs/ca.pem" --cert "$work/certs/t0-svc.pem" --key "$work/certs/t0-svc-key.pem")
wait_for vaultgate "https://127.0.0.1:$vg_port/v1/sys/health" "${client[@]}"
for _ in $(seq 1 100); do # token_file principals are checked at start; bounded wait
  code="$(curl -s -o /dev/null -w '%{http_code}' "${client[@]}" \
    "https://127.0.0.1:$vg_port/v1/secret/data/t0/svc/db")"
  [ "$code" = 200 ] && break
  sleep 0.2
done
[ "$code" = 200 ] || { echo "!! vaultgate answered $code; logs in $work" >&2; exit 1; }

cat >"$work/tenants.json" <<JSON
{"driver": "$tenant_load", "addr": "127.0.0.1:$vg_port", "ca": "$work/certs/ca.pem",
 "certs": "$work/certs", "callers": [$(echo "$callers" | sed 's/ \+/, /g')],
 "workers": $workers, "rounds": $rounds, "duration": $duration, "mode": "$mode",
 "command": "$command_line", "cache": "$([ -n "$cache_toml" ] && echo on || echo absent)",
 "pid": $vg_pid, "openbao_pid": $bao_pid, "work": "$work", "write_doc": $write_doc,
 "doc": "$root/docs/benchmarks.md", "perf": "$perf_label"}
JSON
# In the background so that a signal reaches the EXIT trap at once (bash runs traps only
# between foreground commands); the measuring script stops its own load generator on SIGTERM.
python3 "$root/scripts/bench_tenants.py" "$work/tenants.json" &
pids+=($!)
wait $!
