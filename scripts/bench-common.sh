# Sourced by scripts/bench.sh, bench-tenants.sh, alloc-per-request.sh and profile.sh (with
# $root and $work set): installs oha and OpenBao if absent, builds the release binaries, keeps
# the list of processes the harness starts, all of which are stopped on exit with a check that none is left.
# --- tools -------------------------------------------------------------------------------
oha="$root/.tools/oha/bin/oha"
if [ ! -x "$oha" ]; then
  echo "==> installing oha from crates.io into .tools/oha" >&2
  cargo install oha --locked --root "$root/.tools/oha" >&2
fi
bao="$(scripts/install-openbao.sh --no-hvac | tail -n 1)"
echo "==> building vaultgate and the bare rustls server (release)" >&2
# bench_build (set before sourcing) overrides what is built besides the binary.
read -ra build_extra <<<"${bench_build---example bare_tls --example tenant_load}"
cargo build --release --quiet --bin vaultgate "${build_extra[@]}"
release="${CARGO_TARGET_DIR:-$root/target}/release"
vg="$release/vaultgate"
bare="$release/examples/bare_tls"
tenant_load="$release/examples/tenant_load"

rm -rf "$work" && mkdir -p "$work/secrets"

# --- process bookkeeping: everything started here is stopped on exit -------------------------
pids=()
cleanup() {
  local rc=$?
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do
    # Bounded wait for each child to exit; SIGKILL if it ignores SIGTERM for 10 s.
    for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$p" 2>/dev/null && kill -9 "$p" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  local left=()
  for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && left+=("$p"); done
  # Anything else still running from the work folder (its paths are in every command line).
  local stray
  stray="$(pgrep -f -- "$work/" || true)"
  [ -n "$stray" ] && left+=($stray)
  if [ ${#left[@]} -gt 0 ]; then
    echo "!! processes left behind: ${left[*]}" >&2
    rc=1
  elif [ ${#pids[@]} -gt 0 ]; then
    echo "==> all ${#pids[@]} processes stopped (${pids[*]})" >&2
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
wait_for() { # wait_for NAME URL [curl options]: bounded readiness poll (20 s)
  local name="$1" url="$2"
  shift 2
  for _ in $(seq 1 100); do
    curl -s -o /dev/null "$@" "$url" && return 0
    sleep 0.2
  done
  echo "!! $name did not come up at $url; logs in $work" >&2
  return 1
}

start_openbao() { # start_openbao PORT [TLS_PORT]: dev server, root token "root"; sets bao_pid, BAO_ADDR
  # With TLS_PORT (and make_certs run first): a second listener with TLS on that port, the
  # server certificate vaultgate uses, for OpenBao direct over its own TLS listener.
  local extra=()
  if [ -n "${2:-}" ]; then
    cat >"$work/openbao-tls.hcl" <<HCL
listener "tcp" {
  address = "127.0.0.1:$2"
  tls_cert_file = "$certs/localhost.pem"
  tls_key_file = "$certs/localhost-key.pem"
}
HCL
    extra=(-config="$work/openbao-tls.hcl")
    echo "==> OpenBao dev server on 127.0.0.1:$1 (plain HTTP) and 127.0.0.1:$2 (TLS)" >&2
  else
    echo "==> OpenBao dev server on 127.0.0.1:$1" >&2
  fi
  "$bao" server -dev -dev-root-token-id=root -dev-listen-address="127.0.0.1:$1" \
    ${extra[@]+"${extra[@]}"} -log-level=warn >"$work/openbao.log" 2>&1 &
  pids+=($!)
  bao_pid=$!
  export BAO_ADDR="http://127.0.0.1:$1" BAO_TOKEN=root
  wait_for openbao "$BAO_ADDR/v1/sys/health"
}

seed_openbao() { # demo policy + AppRole, the measured secret and two more (BAO_TOKEN set)
  # Demo secrets, the least-privilege Vault policy acme-billing and its AppRole (the same setup
  # the demo and the compose stack use); role_id/secret_id land in $work/secrets.
  PATH="$(dirname "$bao"):$PATH" SECRETS_DIR="$work/secrets" \
    sh examples/openbao-setup.sh >/dev/null
  # The measured secret: about 300 bytes of KV v2 data; two more for the mixed case.
  pad="$(printf 'x%.0s' $(seq 1 200))"
  "$bao" kv put -mount=secret acme/billing/db username=billing-app \
    password=Vg3x9-kQ2m-Lr7w-Pz4t-Hn8c-Bf6y url=postgres://db.internal:5432/billing \
    options="$pad" >/dev/null
  "$bao" kv put -mount=secret acme/billing/api key=api-0123456789abcdef >/dev/null
  "$bao" kv put -mount=secret acme/billing/cfg mode=production >/dev/null
}

make_certs() { # CA, server and acme/billing client certificates; sets certs, client
  "$vg" certs init --dir "$work/certs" --service acme/billing >/dev/null
  certs="$work/certs"
  client=(--cacert "$certs/ca.pem" --cert "$certs/acme-billing.pem" --key "$certs/acme-billing-key.pem")
}

vault_listener_toml() { # the [vault] section and an mTLS [[listener]] on $vg_port
  cat <<TOML
[vault]
address = "$BAO_ADDR"

[[listener]]
address = "127.0.0.1:$vg_port"
tls_cert = "certs/localhost.pem"
tls_key = "certs/localhost-key.pem"
client_ca = "certs/ca.pem"
TOML
}

approle_service_toml() { # approle_service_toml T/S: a service logging in with secrets/T-S/*
  local dir="${1//\//-}"
  printf '\n[[service]]\nname = "%s"\nauth = "approle"\n' "$1"
  printf 'role_id_file = "secrets/%s/role_id"\nsecret_id_file = "secrets/%s/secret_id"\n' "$dir" "$dir"
}

audit_toml() { # [audit] to a file, or nothing with BENCH_AUDIT=off (the audit on/off comparison)
  if [ "${BENCH_AUDIT:-on}" = off ]; then
    printf '\n# audit off (BENCH_AUDIT=off)\n'
  else
    printf '\n[audit]\nfile = "audit.log"\n'
  fi
}

vg_config() { # vg_config [CACHE_TOML]: acme/billing on $vg_port, the repo's policies
  vault_listener_toml
  approle_service_toml acme/billing
  printf '\n[policies]\ndir = "%s"\n' "$root/policies"
  audit_toml
  printf '%s\n' "${1:-}"
}

ensure_matplotlib() { # the plots' library, from PyPI into .tools/matplotlib when missing
  PYTHONPATH="$root/.tools/matplotlib" python3 -c 'import matplotlib' 2>/dev/null && return 0
  echo "==> installing matplotlib from PyPI into .tools/matplotlib" >&2
  python3 -m pip install --quiet --disable-pip-version-check --no-warn-conflicts \
    --target "$root/.tools/matplotlib" matplotlib >&2 ||
    echo "!! matplotlib could not be installed: the tables are written, the plots skipped" >&2
}

start_vaultgate() { # start_vaultgate PORT [CONFIG_FN]: sets vg_port, vg_pid, cache_toml (for the report)
  vg_port="$1"
  local config="${2:-vg_config}" # called with the [cache] TOML; prints the whole config
  # BENCH_CACHE_TOML overrides the cache section; by default an empty [cache] table (the
  # defaults) is used if this build's config accepts it, so cached reads hit the cache as soon
  # as it exists and go upstream before.
  cache_toml="${BENCH_CACHE_TOML-[cache]}"
  "$config" "$cache_toml" >"$work/vaultgate.toml"
  if [ -n "$cache_toml" ] && ! "$vg" config check "$work/vaultgate.toml" >"$work/config-check.log" 2>&1; then
    echo "==> this vaultgate has no [cache] section: every read goes upstream" >&2
    cache_toml=""
    "$config" >"$work/vaultgate.toml"
  fi
  "$vg" config check "$work/vaultgate.toml" >/dev/null
  echo "==> vaultgate on https://127.0.0.1:$vg_port${BENCH_LOG:+ (VAULTGATE_LOG=$BENCH_LOG)}" >&2
  # The default configuration: VAULTGATE_LOG unset (info), no [log] section. BENCH_LOG sets a
  # level (e.g. warn) for the side-channel rows.
  (cd "$work" && exec env -u VAULTGATE_LOG ${BENCH_LOG:+VAULTGATE_LOG=$BENCH_LOG} "$vg" run --config vaultgate.toml) \
    >"$work/vaultgate.log" 2>&1 &
  pids+=($!)
  vg_pid=$!
}

start_variant() { # start_variant NAME PORT AUDIT(on|off) LOG(level|"") ACCESS(0|1): another vaultgate
  # in $work/NAME (sharing certs/ and secrets/) for the side-channel table; sets variant_pid.
  local dir="$work/$1"
  mkdir -p "$dir"
  ln -sfn "$work/certs" "$dir/certs"
  ln -sfn "$work/secrets" "$dir/secrets"
  {
    vg_port="$2" BENCH_AUDIT="$3" vg_config "${cache_toml:-}"
    [ "$5" = 1 ] && printf '\n[log]\nrequests = true\n'
  } >"$dir/vaultgate.toml"
  "$vg" config check "$dir/vaultgate.toml" >/dev/null
  echo "==> vaultgate ($1) on https://127.0.0.1:$2" >&2
  (cd "$dir" && exec env -u VAULTGATE_LOG ${4:+VAULTGATE_LOG=$4} "$vg" run --config vaultgate.toml) \
    >"$dir/vaultgate.log" 2>&1 &
  pids+=($!)
  variant_pid=$!
}
