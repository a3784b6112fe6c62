#!/usr/bin/env bash
# The hello example, running: an echo application on 127.0.0.1:8000 behind Envoy
# with envoy-test-configs/hello.yaml (listener 127.0.0.1:10000, admin 127.0.0.1:9901).
# Ctrl-C stops both. `make run-hello` builds what it needs and runs this script.
#
# Needs dist/hello.wasm (`make build`), the echo server
# (`cargo build -p wasmesh-e2e --bin echo-server`) and Envoy (`make envoy`, or set ENVOY_BIN).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

ENVOY_BIN=${ENVOY_BIN:-.venv/bin/envoy}
ECHO_SERVER=${ECHO_SERVER:-${CARGO_TARGET_DIR:-target}/debug/echo-server}
CONFIG=envoy-test-configs/hello.yaml
ENVOY_LOG=${TMPDIR:-/tmp}/wasmesh-hello-envoy.log
# Envoy's hot-restart id; below 100, so never one the e2e tests use.
BASE_ID=9

missing() {
  echo "run-hello: $1 not found; $2" >&2
  exit 1
}
[[ -f dist/hello.wasm ]] || missing dist/hello.wasm "run \`make build\`"
[[ -x $ECHO_SERVER ]] || missing "$ECHO_SERVER" "run \`cargo build -p wasmesh-e2e --bin echo-server\`"
command -v "$ENVOY_BIN" >/dev/null || missing "$ENVOY_BIN" "run \`make envoy\` or set ENVOY_BIN"

pids=()
names=()
stop() {
  trap - EXIT INT TERM
  if ((${#pids[@]})); then
    kill "${pids[@]}" 2>/dev/null || true
    wait "${pids[@]}" 2>/dev/null || true
  fi
  # Envoy never removes its hot-restart shared memory itself.
  if [[ " ${names[*]} " == *" Envoy "* ]]; then
    rm -f "/dev/shm/envoy_shared_memory_$((BASE_ID * 10))"
  fi
}
trap stop EXIT
trap 'echo "run-hello: stopping" >&2; exit 130' INT
trap 'exit 143' TERM

# Whether something accepts TCP connections on 127.0.0.1:$1.
listening() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Waits until port $1 accepts connections while process $2 ($3) runs.
wait_for_port() {
  local port=$1 pid=$2 what=$3
  for _ in $(seq 200); do
    listening "$port" && return 0
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "run-hello: $what exited during start" >&2
      return 1
    fi
    sleep 0.1
  done
  echo "run-hello: $what does not listen on port $port after 20 s" >&2
  return 1
}

for port in 8000 10000 9901; do
  if listening "$port"; then
    echo "run-hello: port $port is in use; stop whatever listens there first" >&2
    exit 1
  fi
done

"$ECHO_SERVER" 8000 &
pids+=($!)
names+=("the echo server")
wait_for_port 8000 "$!" "the echo server"

echo "run-hello: starting Envoy (log: $ENVOY_LOG)"
: >"$ENVOY_LOG"
"$ENVOY_BIN" -c "$CONFIG" --concurrency 1 --base-id "$BASE_ID" -l info \
  --log-path "$ENVOY_LOG" &
pids+=($!)
names+=(Envoy)
if ! wait_for_port 10000 "$!" Envoy; then
  echo "--- last lines of $ENVOY_LOG:" >&2
  grep -v '\]   ' "$ENVOY_LOG" | tail -n 15 >&2 || true
  exit 1
fi

cat <<'EOF'

Envoy listens on 127.0.0.1:10000 with the hello filter in front of the echo server. Try:

  curl -s http://127.0.0.1:10000/anything        # forwarded: the app echoes the x-hello header it got
  curl -s http://127.0.0.1:10000/hello           # answered by the filter: {"greeting":"hello from wasmesh"}
  curl -s http://127.0.0.1:9901/stats/prometheus | grep wasmesh_hello

Ctrl-C stops both.

EOF

# Until Ctrl-C, or until one of the two exits.
wait -n "${pids[@]}" || true
for i in "${!pids[@]}"; do
  kill -0 "${pids[$i]}" 2>/dev/null || echo "run-hello: ${names[$i]} exited" >&2
done
echo "run-hello: stopping" >&2
