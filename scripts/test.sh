#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs OpenBao (and hvac) into .tools/ when missing,
# then format and lint checks, the compose file check, then every test against a real OpenBao
# dev server (the demo script included).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/install-openbao.sh >/dev/null
cargo fmt --all -- --check
cargo clippy --locked --all-targets -- -D warnings
# The shipped policies must load as the server loads them (warnings print, errors fail).
cargo run --locked --quiet -- policy check --dir policies
# No container engine here: docker-compose.yml is validated by `docker-compose config` and
# checked against the files it names and the demo's config (installs docker-compose if missing).
scripts/check-compose.sh
cargo test --locked
# Time-boxed fuzzing (30 s per target, tools installed when missing) runs in CI only: from a
# clean machine the nightly toolchain, cargo-fuzz and the sanitizer build of the fuzz crate add
# about ten minutes, which would double a local run but fits CI's budget. `.ci/run` sets
# VAULTGATE_FUZZ=1 (so does any CI that sets CI=true); VAULTGATE_FUZZ=0 turns it off.
if [[ "${VAULTGATE_FUZZ:-${CI:-0}}" =~ ^(1|true)$ ]]; then
  scripts/fuzz.sh --ci
fi
