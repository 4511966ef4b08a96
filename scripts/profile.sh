#!/usr/bin/env bash
# Where a read's CPU goes (issue #8): vaultgate built release with line tables, OpenBao and
# vaultgate started as scripts/bench.sh starts them (mTLS, audit to a file, cache on), oha
# reading the secret (cached, or with --uncached forwarded to OpenBao) with 16 connections
# while `perf record` samples vaultgate; writes the top of `perf report` to
# docs/profiles/<cached|uncached>-read-<label>.txt. perf.data stays in the work folder
# (.profile/, not in git); everything started here is stopped on exit.
#
#   scripts/profile.sh [--label NAME] [--duration SECONDS] [--conns N] [--uncached]
#   --uncached: every read sends Cache-Control: no-cache (the forward path to OpenBao)
#   needs perf (linux-tools) and kernel.perf_event_paranoid <= 1, or root
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
label=current duration=15 conns=16 read=cached nocache=()
while [ $# -gt 0 ]; do
  case "$1" in
    --label) label="$2"; shift ;;
    --duration) duration="$2"; shift ;;
    --conns) conns="$2"; shift ;;
    --uncached) read=uncached nocache=(-H "Cache-Control: no-cache") ;;
    -h | --help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

# perf must be able to attach to our own process: checked before anything is built or started.
command -v perf >/dev/null || { echo "!! perf not found (install linux-tools / perf)" >&2; exit 1; }
paranoid="$(cat /proc/sys/kernel/perf_event_paranoid 2>/dev/null || echo 3)"
if [ "$(id -u)" != 0 ] && [ "$paranoid" -gt 1 ]; then
  echo "!! kernel.perf_event_paranoid is $paranoid: perf cannot sample a process as this user." >&2
  echo "   As root: sysctl kernel.perf_event_paranoid=1 (this script does not use sudo)." >&2
  exit 1
fi

# Line tables for perf's DWARF unwinding, in a target folder of their own so that the plain
# release build that scripts/bench.sh measures is not rebuilt back and forth.
export CARGO_PROFILE_RELEASE_DEBUG=line-tables-only
export CARGO_TARGET_DIR="$root/target/profiling"
bench_build=""
work="$root/.profile"
. "$root/scripts/bench-common.sh"

start_openbao "$(free_port)"
seed_openbao
make_certs
unset BAO_TOKEN
start_vaultgate "$(free_port)"
base="https://127.0.0.1:$vg_port"
read_path=/v1/secret/data/acme/billing/db
wait_for vaultgate "$base/v1/sys/health" "${client[@]}"
for _ in $(seq 1 50); do # vaultgate logs in asynchronously; bounded retry
  code="$(curl -s -o /dev/null -w '%{http_code}' "${client[@]}" "$base$read_path")"
  [ "$code" = 200 ] && break
  sleep 0.2
done
[ "$code" = 200 ] || { echo "!! $base$read_path answered $code; logs in $work" >&2; exit 1; }

echo "==> oha: $read read, $conns connections, ${duration}s; perf record on vaultgate ($vg_pid)" >&2
"$oha" --no-tui --output-format json -z "$((duration + 2))s" -c "$conns" \
  "${client[@]}" ${nocache[@]+"${nocache[@]}"} "$base$read_path" >"$work/oha.json" 2>"$work/oha.err" &
pids+=($!)
oha_pid=$!
sleep 1 # past the connection set-up
# timeout bounds perf even if the target never exits; SIGINT makes it write perf.data.
timeout -s INT "$((duration + 10))s" perf record -F 499 -g --call-graph dwarf \
  -o "$work/perf.data" -p "$vg_pid" -- sleep "$duration" 2>"$work/perf-record.log" || {
  echo "!! perf record failed:" >&2
  cat "$work/perf-record.log" >&2
  exit 1
}
wait "$oha_pid" || true
rps="$(python3 -c 'import json,sys; print(round(json.load(open(sys.argv[1]))["summary"]["requestsPerSec"]))' "$work/oha.json" 2>/dev/null || echo "?")"

mkdir -p docs/profiles
out="docs/profiles/$read-read-$label.txt"
{
  echo "# scripts/profile.sh --label $label: $read read, $conns conns, ${duration}s, ~$rps req/s under perf"
  echo "# $(date -u +%FT%TZ), $(git rev-parse --short HEAD)$(git diff --quiet -- src || echo '+dirty'), load: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "# perf report --no-children --percent-limit 1.5 --stdio (call graphs cut; self time per symbol)"
  perf report -i "$work/perf.data" --no-children --percent-limit 1.5 --stdio -g none \
    --sort comm,dso,symbol 2>/dev/null | grep -v "^#" | grep -v "^$" \
    | sed -E "s/[[:space:]-]+$//" | head -n 40
} >"$out"
echo "==> $out" >&2
cat "$out"
