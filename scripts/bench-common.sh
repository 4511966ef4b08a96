# Sourced by scripts/bench.sh and scripts/bench-tenants.sh (with $root and $work set): installs
# oha and OpenBao if absent, builds the release binaries, and keeps the list of processes the
# harness starts, all of which are stopped on exit with a check that none is left.
# --- tools -------------------------------------------------------------------------------
oha="$root/.tools/oha/bin/oha"
if [ ! -x "$oha" ]; then
  echo "==> installing oha from crates.io into .tools/oha" >&2
  cargo install oha --locked --root "$root/.tools/oha" >&2
fi
bao="$(scripts/install-openbao.sh --no-hvac | tail -n 1)"
echo "==> building vaultgate and the bare rustls server (release)" >&2
cargo build --release --quiet --bin vaultgate --example bare_tls --example tenant_load
vg="$root/target/release/vaultgate"
bare="$root/target/release/examples/bare_tls"
tenant_load="$root/target/release/examples/tenant_load"

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

start_openbao() { # start_openbao PORT: dev server, root token "root"; sets bao_pid, BAO_ADDR
  echo "==> OpenBao dev server on 127.0.0.1:$1" >&2
  "$bao" server -dev -dev-root-token-id=root -dev-listen-address="127.0.0.1:$1" \
    -log-level=warn >"$work/openbao.log" 2>&1 &
  pids+=($!)
  bao_pid=$!
  export BAO_ADDR="http://127.0.0.1:$1" BAO_TOKEN=root
  wait_for openbao "$BAO_ADDR/v1/sys/health"
}
