#!/usr/bin/env bash
# Installs Debian's postgresql (server binaries under /usr/lib/postgresql/<version>/bin, and
# psql) when missing, for the lease tests (tests/integration/leases.rs), which start their own
# PostgreSQL as the `postgres` user in a temp dir on a free loopback port. Needs root and
# apt-get to install; the system's postgresql service is neither configured nor started here.
set -euo pipefail

server_present() {
    compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null && [[ -x /usr/bin/psql ]]
}
if server_present; then
    exit 0
fi
if [[ "$(id -u)" != 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
    echo "install-postgresql: PostgreSQL is missing and cannot be installed" \
        "(needs root and apt-get); install Debian's postgresql, or the lease tests fail" >&2
    exit 1
fi
echo "installing postgresql from Debian" >&2
export DEBIAN_FRONTEND=noninteractive
# The package's postinst creates the `postgres` user the tests run the server as; policy-rc.d
# keeps it from starting the system's own cluster, which the tests do not use.
policy="/usr/sbin/policy-rc.d"
created_policy=0
if [[ ! -e "$policy" ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod +x "$policy"
    created_policy=1
fi
trap 'if [[ $created_policy == 1 ]]; then rm -f "$policy"; fi' EXIT
packages=(postgresql)
if ! apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null 2>&1; then
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
fi
