#!/usr/bin/env bash
# What one vaultgate sidecar costs, against what the same requests cost OpenBao itself: CPU
# seconds per 10,000 forwarded (uncached) reads for vaultgate and for OpenBao, read from
# /proc/<pid>/stat around a bounded wrk run on loopback, and both processes' CPU while idle
# (renewals, discovery reads), against OpenBao's idle CPU before vaultgate started. For docs/deployment.md ("How many sidecars per Vault").
# Usage: scripts/sidecar-cost.sh [SECONDS_PER_RUN (10)] [IDLE_SECONDS (65; over 60 takes in
# one discovery refresh)]
# Needs wrk (Debian's package; installed with apt-get as root when missing) and builds the
# release binary. Everything it starts is stopped on exit.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
seconds="${1:-10}"
idle="${2:-65}"

if ! command -v wrk >/dev/null 2>&1; then
    [[ "$(id -u)" == 0 ]] || { echo "sidecar-cost: needs wrk" >&2; exit 1; }
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk >/dev/null
fi
bao="$(scripts/install-openbao.sh --no-hvac | tail -n 1)"
cargo build --release --locked --quiet --bin vaultgate
vg="${CARGO_TARGET_DIR:-$root/target}/release/vaultgate"

work="$(mktemp -d)"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
until_ok() { # until_ok URL [curl options]: bounded readiness poll (30 s)
    local url="$1"
    shift
    for _ in $(seq 1 150); do
        curl -sf -o /dev/null "$@" "$url" && return 0
        sleep 0.2
    done
    echo "sidecar-cost: $url did not answer" >&2
    return 1
}
hz="$(getconf CLK_TCK)"
cpu() { # cpu PID: user+system CPU seconds so far
    awk -v hz="$hz" '{printf "%.3f\n", ($14 + $15) / hz}' "/proc/$1/stat"
}
requests() { sed -nE 's/^ *([0-9]+) requests in.*/\1/p' "$1"; }

bao_port="$(free_port)"
"$bao" server -dev -dev-root-token-id=root -dev-listen-address="127.0.0.1:$bao_port" \
    -log-level=warn >"$work/openbao.log" 2>&1 &
bao_pid=$!
pids+=("$bao_pid")
export BAO_ADDR="http://127.0.0.1:$bao_port" BAO_TOKEN=root
until_ok "$BAO_ADDR/v1/sys/health"
PATH="$(dirname "$bao"):$PATH" SECRETS_DIR="$work/secrets" sh examples/openbao-setup.sh >/dev/null

# OpenBao's own idle CPU, before any vaultgate exists: the baseline for the idle window below.
bao0="$(cpu "$bao_pid")"
sleep "$idle" # the idle window being measured, not a wait for anything
bao_alone="$(awk -v a="$bao0" -v b="$(cpu "$bao_pid")" 'BEGIN {printf "%.2f", b - a}')"

vg_port="$(free_port)"
cat >"$work/vaultgate.toml" <<TOML
[vault]
address = "$BAO_ADDR"

# A sidecar's listener: plaintext on loopback, every connection is the pod's one service.
[[listener]]
address = "127.0.0.1:$vg_port"
tls_disable = true
caller = "acme/billing"

[[service]]
name = "acme/billing"
auth = "approle"
role_id_file = "secrets/acme-billing/role_id"
secret_id_file = "secrets/acme-billing/secret_id"

[policies]
dir = "$root/policies"

[audit]
file = "audit.jsonl"

# Every read is forwarded: the cost measured is the forwarding path's.
[cache]
enabled = false
TOML
(cd "$work" && VAULTGATE_LOG=warn exec "$vg" run --config vaultgate.toml) >"$work/vaultgate.log" 2>&1 &
vg_pid=$!
pids+=("$vg_pid")
path=/v1/secret/data/acme/billing/db
until_ok "http://127.0.0.1:$vg_port$path"

# The same read, direct with a token of the same Vault policy, and through vaultgate.
token="$("$bao" token create -policy=acme-billing -no-default-policy -field=token)"
printf 'wrk.headers["X-Vault-Token"] = "%s"\n' "$token" >"$work/token.lua"
run() { # run NAME URL [wrk options]: prints NAME requests vg_cpu bao_cpu
    local name="$1" url="$2"
    shift 2
    local vg0 bao0
    vg0="$(cpu "$vg_pid")"
    bao0="$(cpu "$bao_pid")"
    wrk -t 2 -c 8 -d "${seconds}s" --timeout 5s "$@" "$url" >"$work/$name.wrk"
    echo "$name $(requests "$work/$name.wrk") $(cpu "$vg_pid") $vg0 $(cpu "$bao_pid") $bao0"
}
{
    run direct "$BAO_ADDR$path" -s "$work/token.lua"
    run vaultgate "http://127.0.0.1:$vg_port$path"
} >"$work/runs"
vg0="$(cpu "$vg_pid")"
bao0="$(cpu "$bao_pid")"
sleep "$idle" # the idle window being measured, not a wait for anything
vg_idle="$(awk -v a="$vg0" -v b="$(cpu "$vg_pid")" 'BEGIN {printf "%.2f", b - a}')"
bao_idle="$(awk -v a="$bao0" -v b="$(cpu "$bao_pid")" 'BEGIN {printf "%.2f", b - a}')"
audited="$(grep -c '"type":"request"' "$work/audit.jsonl")"

echo "vaultgate $(git describe --always --dirty), OpenBao $("$bao" version | head -1 | cut -d' ' -f2)," \
    "$(nproc) cores, wrk -t2 -c8 -d${seconds}s per run, cache off, audit to a file"
echo
echo "| run | requests | req/s | vaultgate CPU s / 10k | OpenBao CPU s / 10k |"
echo "|---|---|---|---|---|"
while read -r name n vg1 vg0 bao1 bao0; do
    awk -v name="$name" -v n="$n" -v s="$seconds" -v vg="$(awk -v a="$vg0" -v b="$vg1" 'BEGIN{print b-a}')" \
        -v bao="$(awk -v a="$bao0" -v b="$bao1" 'BEGIN{print b-a}')" 'BEGIN {
        label = (name == "direct") ? "direct to OpenBao" : "through vaultgate"
        vgc = (name == "direct") ? "–" : sprintf("%.2f", vg / n * 10000)
        printf "| %s | %d | %.0f | %s | %.2f |\n", label, n, n / s, vgc, bao / n * 10000
    }'
done <"$work/runs"
echo
echo "idle ${idle} s: OpenBao alone ${bao_alone} CPU s; with one idle vaultgate (after the runs)" \
    "OpenBao ${bao_idle} CPU s and vaultgate ${vg_idle} CPU s; requests audited: $audited"
