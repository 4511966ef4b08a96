#!/usr/bin/env bash
# Heap allocations per request (issue #8's allocation budget), counted by valgrind's DHAT on
# the release binary: for each case, vaultgate runs twice under DHAT, serving N1 and then N2
# requests on one connection, and the difference in allocated blocks over N2 - N1 is the cost
# of one request, with start-up and shutdown cancelled out. Audit on, cache on, mTLS.
# Needs valgrind (apt-get install valgrind); everything else as scripts/bench.sh.
#
#   scripts/alloc-per-request.sh [--n1 200] [--n2 1200] [--sites] [--cases "cached denied uncached"]
#   --sites: also list the allocation sites per request (scripts/alloc_sites.py), from a build
#            with line tables in target/profiling (as scripts/profile.sh uses)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
n1=200 n2=1200 show_sites=0 cases="cached denied uncached"
while [ $# -gt 0 ]; do
  case "$1" in
    --n1) n1="$2"; shift ;;
    --n2) n2="$2"; shift ;;
    --sites) show_sites=1 ;;
    --cases) cases="$2"; shift ;;
    -h | --help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
command -v valgrind >/dev/null || { echo "valgrind is required (apt-get install valgrind)" >&2; exit 1; }

work="$root/.bench-alloc"
if [ "$show_sites" = 1 ]; then
  # Function names and inlined frames for the sites; a target folder of its own.
  export CARGO_PROFILE_RELEASE_DEBUG=line-tables-only
  export CARGO_TARGET_DIR="$root/target/profiling"
  bench_build=""
fi
. "$root/scripts/bench-common.sh"

start_openbao "$(free_port)"
seed_openbao
make_certs
unset BAO_TOKEN

# blocks CASE N: vaultgate under DHAT serves N requests of CASE; prints the blocks allocated.
blocks() {
  local case="$1" n="$2" port
  port="$(free_port)"
  vg_port="$port" vg_config "[cache]" >"$work/vaultgate.toml"
  (cd "$work" && exec env -u VAULTGATE_LOG valgrind --tool=dhat --read-inline-info=yes \
    --dhat-out-file="$work/dhat-$case-$n.json" \
    "$vg" run --config vaultgate.toml) >"$work/dhat-$case-$n.log" 2>&1 &
  local pid=$!
  pids+=("$pid")
  # Under valgrind start-up is slow: a longer bounded wait than wait_for's.
  local up=0
  for _ in $(seq 1 300); do
    if curl -s -o /dev/null "${client[@]}" "https://127.0.0.1:$port/v1/sys/health"; then up=1; break; fi
    sleep 0.2
  done
  [ "$up" = 1 ] || { echo "!! vaultgate under valgrind did not come up" >&2; return 1; }
  local url="https://127.0.0.1:$port/v1/secret/data/acme/billing/db" extra=()
  case "$case" in
    cached) ;;
    uncached) extra=(-H "Cache-Control: no-cache") ;;
    denied) url="https://127.0.0.1:$port/v1/secret/data/globex/ledger/db" ;;
  esac
  # Warm: the first answer fills the cache and the connection pools in both runs alike.
  curl -s -o /dev/null "${client[@]}" "$url"
  # Discovery re-reads the server's OpenAPI documents 1 s after start while a login is
  # under way (thousands of allocations): let it settle so it lands in neither count.
  sleep 4
  "$oha" --no-tui -n "$n" -c 1 --cacert "$work/certs/ca.pem" \
    --cert "$work/certs/acme-billing.pem" --key "$work/certs/acme-billing-key.pem" \
    "${extra[@]}" "$url" >"$work/oha-$case-$n.txt"
  kill -TERM "$pid"
  for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  wait "$pid" 2>/dev/null || true
  grep -oE 'Total: +[0-9,]+ bytes in [0-9,]+ blocks' "$work/dhat-$case-$n.log" |
    sed -E 's/.* in ([0-9,]+) blocks/\1/; s/,//g'
}

printf '\n| case | blocks at %s requests | blocks at %s requests | allocations per request |\n|---|---:|---:|---:|\n' "$n1" "$n2"
for case in $cases; do
  a="$(blocks "$case" "$n1")"
  b="$(blocks "$case" "$n2")"
  printf '| %s | %s | %s | %s |\n' "$case" "$a" "$b" \
    "$(python3 -c "print(round(($b - $a) / ($n2 - $n1), 1))")"
done
if [ "$show_sites" = 1 ]; then
  for case in $cases; do
    echo
    echo "### $case: allocation sites per request"
    python3 "$root/scripts/alloc_sites.py" "$work/dhat-$case-$n1.json" "$work/dhat-$case-$n2.json" "$n1" "$n2"
  done
fi
