#!/usr/bin/env bash
# Bounded soak: vaultgate (release build) in front of a real OpenBao dev server for N minutes
# (default 10) under a mixed workload with denials and malformed requests, a policy rewrite
# every 30 s and an OpenBao restart half-way. Prints requests, status counts, injected-fault
# answers, unexpected errors, RSS start/peak/end, fd counts and audit records vs requests;
# exits non-zero on an unexpected error or a request without its audit record.
# Not part of scripts/test.sh; its last figures live in docs/benchmarks.md.
#
#   scripts/soak.sh [--minutes N] [--workers N]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bao="$(scripts/install-openbao.sh | tail -n 1)"
echo "==> building vaultgate (release)" >&2
cargo build --release --quiet
PYTHONPATH="$root/.tools/python${PYTHONPATH:+:$PYTHONPATH}" exec python3 scripts/soak.py \
  --vaultgate "$root/target/release/vaultgate" --bao "$bao" "$@"
