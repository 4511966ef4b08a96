#!/usr/bin/env bash
# Validates docker-compose.yml without starting anything (scripts/compose-test.sh runs it):
#  1. `docker-compose config` (Debian's docker-compose package, installed with apt-get when
#     missing and we are root; `docker compose` v2 is used instead when present), also with
#     docker-compose.offline.yml on top;
#  2. every file or folder the compose file mounts or builds from exists;
#  3. the compose stack and scripts/demo.sh run the same config and policies
#     (examples/vaultgate.toml, policies/, examples/openbao-setup.sh).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

compose=()
if command -v docker-compose >/dev/null 2>&1; then
    compose=(docker-compose)
elif command -v docker >/dev/null 2>&1 && docker compose version >/dev/null 2>&1; then
    compose=(docker compose)
elif [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "installing docker-compose from Debian" >&2
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y -qq --no-install-recommends docker-compose >/dev/null 2>&1; then
        apt-get update -qq >/dev/null
        apt-get install -y -qq --no-install-recommends docker-compose >/dev/null
    fi
    compose=(docker-compose)
else
    echo "check-compose: no docker-compose and cannot install it (needs root and apt-get)" >&2
    exit 1
fi

# 1. The compose tool's own validation (schema, references between services, interpolation).
"${compose[@]}" -f docker-compose.yml config -q
echo "docker-compose.yml: valid ($("${compose[@]}" version --short 2>/dev/null || echo "${compose[*]}"))"
# The offline override names only images, on top of the same file.
VAULTGATE_IMAGE=check VAULTGATE_OPENBAO_IMAGE=check \
    "${compose[@]}" -f docker-compose.yml -f docker-compose.offline.yml config -q
echo "docker-compose.offline.yml: valid on top of docker-compose.yml"

# 2 and 3. The normalized file from the tool, read with the PyYAML it depends on.
python=python3
for candidate in /usr/bin/python3 python3; do
    if "$candidate" -c 'import yaml' 2>/dev/null; then
        python="$candidate"
        break
    fi
done
"$python" - <<'PY'
import os, sys, yaml

root = os.getcwd()
with open("docker-compose.yml") as f:
    doc = yaml.safe_load(f)
problems = []

def local(source):
    return source.startswith(("./", "../", "/")) or source == "."

mounts = {}
for name, svc in doc["services"].items():
    build = svc.get("build")
    if build is not None:
        context = build if isinstance(build, str) else build.get("context", ".")
        dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
        if not os.path.isfile(os.path.join(root, context, dockerfile)):
            problems.append(f"{name}: build file {context}/{dockerfile} is missing")
    for volume in svc.get("volumes", []):
        source = volume.split(":")[0] if isinstance(volume, str) else volume.get("source", "")
        if local(source):
            mounts.setdefault(name, []).append(os.path.normpath(source))
            if not os.path.exists(os.path.join(root, source)):
                problems.append(f"{name}: mounted {source} does not exist")
        elif source not in doc.get("volumes", {}):
            problems.append(f"{name}: volume {source} is not declared")
    for env_file in svc.get("env_file", []) if isinstance(svc.get("env_file"), list) else []:
        if not os.path.isfile(env_file):
            problems.append(f"{name}: env_file {env_file} is missing")

# Same config and policies as the native demo.
for needed in ["examples/vaultgate.toml", "policies"]:
    if needed not in mounts.get("vaultgate", []):
        problems.append(f"vaultgate does not mount ./{needed}")
if "examples/openbao-setup.sh" not in mounts.get("setup", []):
    problems.append("setup does not mount ./examples/openbao-setup.sh")
demo = open("scripts/demo.sh").read()
for needed in ["examples/vaultgate.toml", '"$root/policies"', "examples/openbao-setup.sh"]:
    if needed not in demo:
        problems.append(f"scripts/demo.sh does not use {needed}")
# The Dockerfile copies what the build and the default config need.
dockerfile = open("Dockerfile").read()
for path in ["benches", "src", "policies", "examples/vaultgate.toml"]:
    if f"COPY {path} " not in dockerfile:
        problems.append(f"Dockerfile does not copy {path}")

for p in problems:
    print(f"docker-compose.yml: {p}", file=sys.stderr)
if problems:
    sys.exit(1)
print(f"docker-compose.yml: {len(doc['services'])} services, every referenced file exists, "
      "same config and policies as scripts/demo.sh")
PY
