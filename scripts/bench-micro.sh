#!/usr/bin/env bash
# The in-process scaling curves (issue #20): the policy decision's cost against the number of
# rules (benches/decide.rs, group `evaluate`) and a cache hit's cost against the number of
# entries (benches/cache.rs, group `cache hit`), measured with criterion, then drawn as
# docs/img/bench-decide.svg and docs/img/bench-cache.svg and tabled in the marked section of
# docs/benchmarks.md. Installs matplotlib from PyPI into .tools/matplotlib when missing.
#
#   scripts/bench-micro.sh            # both curves, about 3 minutes
#   options: --quick (1 s warm-up, 2 s per point)  --no-doc
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
timing=(--warm-up-time 2 --measurement-time 4) write_doc=1 mode=full
command_line="scripts/bench-micro.sh${*:+ $*}"
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) timing=(--warm-up-time 1 --measurement-time 2) mode=quick ;;
    --no-doc) write_doc=0 ;;
    -h | --help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
PYTHONPATH="$root/.tools/matplotlib" python3 -c 'import matplotlib' 2>/dev/null || {
  echo "==> installing matplotlib from PyPI into .tools/matplotlib" >&2
  python3 -m pip install --quiet --disable-pip-version-check --no-warn-conflicts \
    --target "$root/.tools/matplotlib" matplotlib >&2 || echo "!! no matplotlib: plots skipped" >&2
}
load="$(cut -d' ' -f1-3 /proc/loadavg)"
echo "==> load average at start: $load" >&2
cargo bench --quiet --bench decide -- "${timing[@]}" evaluate >&2
cargo bench --quiet --bench cache -- "${timing[@]}" "cache hit" >&2
python3 "$root/scripts/bench_micro.py" "${CARGO_TARGET_DIR:-$root/target}/criterion" \
  "$command_line" "$mode" "$load" "$write_doc"
