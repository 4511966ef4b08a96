#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs OpenBao (and hvac) and moto into .tools/ and
# Debian's rsyslog and PostgreSQL when missing, then format and lint checks, the compose file
# check, then every test against a real OpenBao dev server (the demo script and the README's
# examples included), then the compose stack for real where a Docker engine runs (skipped, and
# said so, elsewhere).
# Every stage runs even when an earlier one failed, so one run shows everything that is wrong;
# the run ends with one line per stage and a closing count, and exits non-zero when any stage
# failed.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

names=()
results=()
log="$(mktemp)"
trap 'rm -f "$log"' EXIT

# stage NAME COMMAND...: runs the command, its output shown as it goes, and records the result.
stage() {
  local name="$1"
  shift
  echo "==> $name: $*"
  local start=$SECONDS
  if "$@"; then
    results+=("passed")
  else
    results+=("FAILED")
  fi
  names+=("$name ($((SECONDS - start)) s)")
}

# The tests stage also counts test results from cargo's own "test result:" lines.
cargo_tests() {
  cargo test --locked 2>&1 | tee "$log"
}

stage "install OpenBao" bash -c 'scripts/install-openbao.sh >/dev/null'
# Debian's rsyslog for the syslog audit sink's tests (as root, with apt-get, when missing).
stage "install rsyslog" scripts/install-rsyslog.sh
# Debian's PostgreSQL for the lease tests' database engine (as root, with apt-get, when missing).
stage "install PostgreSQL" scripts/install-postgresql.sh
# moto: the local STS and IAM of the auth = "aws" tests.
stage "install moto" bash -c 'scripts/install-moto.sh >/dev/null'
stage "format" cargo fmt --all -- --check
stage "lints" cargo clippy --locked --all-targets -- -D warnings
# The fuzz crate is its own workspace: built and linted here on stable so that an API change
# breaks the normal run, not only the CI-only fuzz stage (which once failed to build for it).
stage "fuzz targets build" bash -c 'cargo fmt --manifest-path fuzz/Cargo.toml -- --check &&
  cargo clippy --locked --manifest-path fuzz/Cargo.toml --all-targets -- -D warnings'
# The shipped policies must load as the server loads them (warnings print, errors fail).
stage "shipped policies" cargo run --locked --quiet -- policy check --dir policies
# docker-compose.yml is validated by `docker-compose config` and checked against the files it
# names and the demo's config (installs docker-compose if missing), engine or not.
stage "compose file" scripts/check-compose.sh
stage "tests" cargo_tests
# The compose stack for real (images built locally, no registry), with docker compose v2 and
# docker-compose v1; after the tests, whose build gives it its vaultgate binary.
if docker info >/dev/null 2>&1; then
  stage "compose stack" scripts/compose-test.sh
else
  echo "==> compose stack: SKIPPED: no Docker engine here (docker info failed)"
  names+=("compose stack (no Docker engine)")
  results+=("skipped")
fi
# Time-boxed fuzzing (30 s per target, tools installed when missing) runs in CI only: from a
# clean machine the nightly toolchain, cargo-fuzz and the sanitizer build of the fuzz crate add
# about ten minutes, which would double a local run but fits CI's budget. `.ci/run` sets
# VAULTGATE_FUZZ=1 (so does any CI that sets CI=true); VAULTGATE_FUZZ=0 turns it off.
fuzz=false
if [[ "${VAULTGATE_FUZZ:-${CI:-0}}" =~ ^(1|true)$ ]]; then
  fuzz=true
  stage "fuzz" scripts/fuzz.sh --ci
fi

# Counts over every "test result:" line cargo printed (unit, integration and doc tests).
read -r tests_passed tests_failed < <(
  sed -nE 's/^test result: [A-Za-z]+\. ([0-9]+) passed; ([0-9]+) failed.*/\1 \2/p' "$log" |
    awk '{p += $1; f += $2} END {print p + 0, f + 0}'
)
passed=0
failed=0
skipped=0
echo
echo "==> summary"
for i in "${!names[@]}"; do
  printf '  %-8s %s\n' "${results[$i]}" "${names[$i]}"
  case "${results[$i]}" in
    passed) passed=$((passed + 1)) ;;
    skipped) skipped=$((skipped + 1)) ;;
    *) failed=$((failed + 1)) ;;
  esac
done
echo "  (cargo test: $tests_passed tests passed, $tests_failed failed)"
$fuzz || echo "  (fuzz: skipped; VAULTGATE_FUZZ=1 runs it)"
if [ "$skipped" -gt 0 ]; then
  echo "stages: $passed passed, $failed failed, $skipped skipped"
else
  echo "stages: $passed passed, $failed failed"
fi
[ "$failed" -eq 0 ]
