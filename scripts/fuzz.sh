#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for SECONDS each (default 60), installing cargo-fuzz
# if it is missing, and prints one summary line per target (runs, coverage, corpus size).
# Exits non-zero as soon as a target crashes; libFuzzer leaves the reproducer under
# fuzz/artifacts/<target>/ and `cargo fuzz run <target> <file>` replays it.
#
# cargo-fuzz needs nightly for -Zsanitizer=address. Without a nightly toolchain the stable
# one is used with RUSTC_BOOTSTRAP=1, which unlocks the same flags.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root/fuzz"
seconds="${1:-60}"

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "==> installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

if rustup run nightly rustc --version >/dev/null 2>&1; then
  toolchain=(+nightly)
else
  toolchain=()
  export RUSTC_BOOTSTRAP=1
fi

mkdir -p logs
for target in $(cargo fuzz list); do
  mkdir -p "corpus/$target"
  echo "==> fuzzing $target for ${seconds}s"
  log="logs/$target.log"
  # libFuzzer writes new inputs into the corpus directory; only seed-* files are committed.
  if ! cargo "${toolchain[@]}" fuzz run "$target" "corpus/$target" -- \
      -max_total_time="$seconds" -print_final_stats=1 >"$log" 2>&1; then
    tail -n 40 "$log"
    echo "==> $target crashed; reproducer in fuzz/artifacts/$target/, full log in fuzz/$log" >&2
    exit 1
  fi
  runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")"
  done_line="$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1)"
  echo "    $target: ${runs:-?} runs in ${seconds}s; ${done_line:-no DONE line, see fuzz/$log}"
done
