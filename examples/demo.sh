#!/usr/bin/env bash
# One command for the Lookout demo: builds lookout and the example shop, starts the collector
# with examples/configs/demo.yaml and the three services (frontend -> checkout -> inventory) on
# free loopback ports, drives orders for a bounded time, stops everything, and prints what
# arrived: per-service request/error/latency figures, one trace with its logs, and the files.
#
#   examples/demo.sh                      # 20 s of traffic; inventory +100 ms, 5% of its calls fail
#   DURATION=60 RATE=50 examples/demo.sh
#   FAULTY=checkout INJECT_LATENCY_MS=300 INJECT_ERROR_RATE=0.1 examples/demo.sh
#   DEMO_DIR=/tmp/shop-demo examples/demo.sh   # keep the output somewhere known
#
# Knobs (environment):
#   DURATION           seconds of traffic (default 20)
#   RATE               orders per second (default 20)
#   FAULTY             the service that gets the faults: frontend, checkout or inventory (default inventory)
#   INJECT_LATENCY_MS  latency added to each of its requests (default 100)
#   INJECT_ERROR_RATE  fraction of its requests failed with a 500 (default 0.05)
#   INJECT_AFTER_SECS  seconds after it starts before the faults begin (default DURATION/4), so the
#                      traffic starts healthy and the change shows
#   DEMO_DIR           where config, logs and collector output go (default: a new temp dir)
#   CARGO_PROFILE      cargo profile to build (default dev)
#
# Needs bash, cargo and python3. Only listens on 127.0.0.1.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DURATION="${DURATION:-20}"
RATE="${RATE:-20}"
FAULTY="${FAULTY:-inventory}"
INJECT_LATENCY_MS="${INJECT_LATENCY_MS:-100}"
INJECT_ERROR_RATE="${INJECT_ERROR_RATE:-0.05}"
case "$DURATION" in
  ''|*[!0-9]*) echo "DURATION must be a whole number of seconds, not '$DURATION'" >&2; exit 2 ;;
esac
INJECT_AFTER_SECS="${INJECT_AFTER_SECS:-$((DURATION / 4))}"
CARGO_PROFILE="${CARGO_PROFILE:-dev}"

for tool in cargo python3; do
  command -v "$tool" >/dev/null || { echo "demo.sh needs $tool on PATH" >&2; exit 2; }
done

case "$FAULTY" in
  frontend|checkout|inventory) ;;
  *) echo "FAULTY must be frontend, checkout or inventory, not '$FAULTY'" >&2; exit 2 ;;
esac

echo "==> building lookout and the example shop (cargo --profile $CARGO_PROFILE)"
(cd "$ROOT" && cargo build --profile "$CARGO_PROFILE" -p lookout-collector --bin lookout -p lookout-example-shop --bin shop)
TARGET_DIR="$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
PROFILE_DIR="$CARGO_PROFILE"
[ "$CARGO_PROFILE" = dev ] && PROFILE_DIR=debug
BIN="$TARGET_DIR/$PROFILE_DIR"

DEMO_DIR="${DEMO_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/lookout-demo.XXXXXX")}"
mkdir -p "$DEMO_DIR"
DEMO_DIR="$(cd "$DEMO_DIR" && pwd)"
rm -rf "$DEMO_DIR/logs" "$DEMO_DIR/out" "$DEMO_DIR/state"
mkdir -p "$DEMO_DIR/logs" "$DEMO_DIR/out" "$DEMO_DIR/state"
export DEMO_DIR

free_ports() {
  python3 - "$1" <<'EOF'
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}
read -r DEMO_OTLP_GRPC_PORT DEMO_OTLP_HTTP_PORT DEMO_HEALTH_PORT DEMO_METRICS_PORT < <(free_ports 4)
export DEMO_OTLP_GRPC_PORT DEMO_OTLP_HTTP_PORT DEMO_HEALTH_PORT DEMO_METRICS_PORT

PIDS=()
cleanup() {
  # Anything still running here failed to stop in time: kill it by its PID.
  for pid in "${PIDS[@]}"; do
    kill -KILL "$pid" 2>/dev/null || true
  done
}
trap cleanup EXIT

# stop_pid NAME PID: SIGTERM, then wait up to 15 s (services flush telemetry, lookout drains).
stop_pid() {
  local name="$1" pid="$2"
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 150); do
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    sleep 0.1
  done
  echo "warning: $name (pid $pid) did not stop within 15 s; killing it" >&2
  kill -KILL "$pid" 2>/dev/null || true
}

# wait_for PID WHAT COMMAND...: polls COMMAND for up to 30 s while PID lives.
wait_for() {
  local pid="$1" what="$2"
  shift 2
  for _ in $(seq 300); do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "error: $what exited early; see $DEMO_DIR/logs" >&2
      exit 1
    fi
    "$@" && return 0
    sleep 0.1
  done
  echo "error: timed out waiting for $what; see $DEMO_DIR/logs" >&2
  exit 1
}

healthy() {
  python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)' \
    "http://127.0.0.1:$DEMO_HEALTH_PORT/" 2>/dev/null
}

echo "==> starting lookout (OTLP gRPC 127.0.0.1:$DEMO_OTLP_GRPC_PORT), output in $DEMO_DIR"
RUST_LOG="${RUST_LOG:-info}" "$BIN/lookout" --config "$ROOT/examples/configs/demo.yaml" \
  >"$DEMO_DIR/logs/lookout.stdout" 2>"$DEMO_DIR/logs/lookout.stderr" &
LOOKOUT_PID=$!
PIDS+=("$LOOKOUT_PID")
wait_for "$LOOKOUT_PID" lookout healthy

export OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$DEMO_OTLP_GRPC_PORT"
export OTEL_METRIC_EXPORT_INTERVAL="${OTEL_METRIC_EXPORT_INTERVAL:-5000}"

# start_service NAME ARGS...: starts `shop NAME` on a free port, sets URL_<NAME>.
start_service() {
  local name="$1"
  shift
  local latency=0 errors=0 after=0
  if [ "$name" = "$FAULTY" ]; then
    latency="$INJECT_LATENCY_MS"
    errors="$INJECT_ERROR_RATE"
    after="$INJECT_AFTER_SECS"
  fi
  INJECT_LATENCY_MS="$latency" INJECT_ERROR_RATE="$errors" INJECT_AFTER_SECS="$after" RUST_LOG="${RUST_LOG:-info}" \
    "$BIN/shop" "$name" --listen 127.0.0.1:0 --log-file "$DEMO_DIR/logs/$name.log.json" "$@" \
    >"$DEMO_DIR/logs/$name.stdout" 2>"$DEMO_DIR/logs/$name.stderr" &
  local pid=$!
  PIDS+=("$pid")
  eval "PID_$name=$pid"
  wait_for "$pid" "$name" grep -q '^listening on ' "$DEMO_DIR/logs/$name.stdout"
  local url
  url="$(sed -n 's/^listening on //p' "$DEMO_DIR/logs/$name.stdout" | head -n1)"
  eval "URL_$name=$url"
  echo "    $name: $url (pid $pid, inject_latency_ms=$latency, inject_error_rate=$errors, from ${after}s)"
}

echo "==> starting the shop"
start_service inventory
start_service checkout --inventory-url "$URL_inventory"
start_service frontend --checkout-url "$URL_checkout"

echo "==> driving orders for ${DURATION}s at ${RATE}/s"
"$BIN/shop" loadgen --target "$URL_frontend" --duration-secs "$DURATION" --rate "$RATE" \
  | tee "$DEMO_DIR/out/loadgen.txt"

echo "==> stopping the services (SIGTERM: they flush telemetry), then lookout (it drains)"
# Callers first, so nothing calls a service that is already gone.
for name in frontend checkout inventory; do
  eval "stop_pid $name \$PID_$name"
done
# Let filelog read the last lines the services wrote while stopping.
sleep 1
stop_pid lookout "$LOOKOUT_PID"

echo
python3 "$ROOT/examples/summarize.py" "$DEMO_DIR"

echo
echo "What to notice (the faults began ${INJECT_AFTER_SECS}s after $FAULTY started):"
if [ "$INJECT_LATENCY_MS" != 0 ]; then
  echo "  - $FAULTY adds ${INJECT_LATENCY_MS} ms to each request it serves: the latency chart steps up when the faults"
  echo "    begin, and the 'injected latency' spans in the trace show where the time goes; every caller upstream"
  echo "    inherits it (compare the services' mean latency in the table)."
  echo "  - Lookout's latency_anomaly processor tags $FAULTY's slow spans as the cause (shift or spike) and its"
  echo "    callers' as 'propagated': see ANOMALY(...) in the trace, and the episodes it logged."
fi
if [ "$INJECT_ERROR_RATE" != 0 ] && [ "$INJECT_ERROR_RATE" != 0.0 ]; then
  echo "  - $FAULTY fails ${INJECT_ERROR_RATE} of its requests with a 500: in the failed trace the ERROR status climbs"
  echo "    from its server span to the frontend (502), and the 'injected failure' log sits under the span that failed."
fi
echo "  - Every log line is listed under the span that wrote it. The same lines also came in through the filelog"
echo "    receiver from the services' JSON log files, carrying the same trace_id/span_id."
if [ "$FAULTY" = inventory ]; then
  echo "  - Try: FAULTY=checkout INJECT_LATENCY_MS=300 INJECT_ERROR_RATE=0 $0"
else
  echo "  - Try: FAULTY=inventory INJECT_LATENCY_MS=0 INJECT_ERROR_RATE=0.3 $0"
fi
