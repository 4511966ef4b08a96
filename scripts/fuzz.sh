#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ (or the ones named) for SECONDS each (default 60) and
# prints one summary line per target (runs, coverage, corpus size). Exits non-zero as soon as
# a target crashes; libFuzzer leaves the reproducer under fuzz/artifacts/<target>/ and
# `cargo +nightly fuzz run <target> <file>` replays it. A crash found becomes a regression test
# in the normal suite (src/vault/operation/tests.rs, src/policy/...), not only a corpus file.
#
#   scripts/fuzz.sh [--ci] [SECONDS] [TARGET...]
#
# --ci: 30 s per target unless SECONDS is given, and tools are installed when missing:
# the nightly toolchain through rustup (cargo-fuzz needs -Zsanitizer=address) and cargo-fuzz
# through `cargo install`. Only when that installation is impossible (no rustup, no network)
# does --ci skip, with a message saying why, and exit 0: fuzzing adds assurance on top of the
# test suite, and a runner that cannot install it must not fail the suite. Without --ci a
# missing tool is an error.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root/fuzz"

ci=0
seconds=""
targets=()
for arg in "$@"; do
  case "$arg" in
    --ci) ci=1 ;;
    -h | --help)
      sed -n '2,16p' "$0"
      exit 0
      ;;
    *[!0-9]*) targets+=("$arg") ;;
    *) seconds="$arg" ;;
  esac
done
if [[ -z "$seconds" ]]; then
  if [[ "$ci" == 1 ]]; then seconds=30; else seconds=60; fi
fi

# Says why fuzzing cannot run: fatal by hand, a skip in CI mode.
unavailable() {
  if [[ "$ci" == 1 ]]; then
    echo "==> SKIPPING fuzzing: $1" >&2
    exit 0
  fi
  echo "fuzz.sh: $1" >&2
  exit 1
}

toolchain=(+nightly)
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  if command -v rustup >/dev/null 2>&1 &&
    echo "==> installing the nightly toolchain (minimal profile)" &&
    rustup toolchain install nightly --profile minimal >&2; then
    :
  else
    # Stable with RUSTC_BOOTSTRAP=1 accepts the same -Z flags; a fallback, not the default.
    echo "==> no nightly toolchain; using stable with RUSTC_BOOTSTRAP=1" >&2
    toolchain=()
    export RUSTC_BOOTSTRAP=1
  fi
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "==> installing cargo-fuzz"
  cargo install cargo-fuzz --locked >&2 || unavailable "cannot install cargo-fuzz (cargo install failed)"
fi

if [[ ${#targets[@]} -eq 0 ]]; then
  mapfile -t targets < <(cargo fuzz list)
fi

mkdir -p logs
for target in "${targets[@]}"; do
  mkdir -p "corpus/$target"
  echo "==> fuzzing $target for ${seconds}s"
  log="logs/$target.log"
  # libFuzzer writes new inputs into the corpus directory; only seed-* files are committed.
  if ! cargo "${toolchain[@]}" fuzz run "$target" "corpus/$target" -- \
    -max_total_time="$seconds" -print_final_stats=1 >"$log" 2>&1; then
    tail -n 40 "$log"
    echo "==> $target crashed (or failed to build); reproducer in fuzz/artifacts/$target/, full log in fuzz/$log" >&2
    exit 1
  fi
  runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")"
  done_line="$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1)"
  echo "    $target: ${runs:-?} runs in ${seconds}s; ${done_line:-no DONE line, see fuzz/$log}"
done
