#!/usr/bin/env bash
# Installs moto (the AWS service mock, with what its stand-alone server needs) into
# <repo>/.tools/moto: the tests run it as a local STS and IAM for `auth = "aws"`. Idempotent: a
# present install is kept. The last line of stdout is the folder to put on PYTHONPATH; the
# server runs as `PYTHONPATH=<folder> python3 -m moto.server -H 127.0.0.1 -p PORT`.
set -euo pipefail

# Pinned: the tests rely on its STS answers and its signature checks (reset-auth).
version="5.2.5"
script_dir="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)"
tools="$(cd -- "$script_dir/.." && pwd)/.tools"
target="$tools/moto"
python="${PYTHON:-python3}"
export PIP_ROOT_USER_ACTION=ignore

# Tests running in parallel may all find moto missing: one installs, the others wait for it.
mkdir -p "$tools"
exec 9>"$tools/.moto.lock"
flock 9

if [[ ! -f "$target/moto-$version.dist-info/METADATA" ]]; then
    echo "installing moto $version into $target" >&2
    # A scratch folder moved into place, so an interrupted install is never mistaken for one.
    staging="$(mktemp -d "$tools/.moto.XXXXXX")"
    trap 'rm -rf "$staging"' EXIT
    "$python" -m pip install --quiet --disable-pip-version-check --no-input \
        --target "$staging" "moto==$version" flask flask-cors >&2
    chmod 755 "$staging"
    rm -rf "$target"
    mv "$staging" "$target"
    trap - EXIT
fi

echo "$target"
