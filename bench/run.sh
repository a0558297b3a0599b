#!/usr/bin/env bash
# Whole-process benchmark: loadgen -> {sink directly, rotel, lookout} -> counting sink.
#
# Usage: bench/run.sh            (from anywhere; paths are relative to the repo root)
# Environment knobs (defaults in brackets):
#   DURATION [12]        seconds of load per run
#   R [3]                repetitions (medians are reported)
#   TARGETS ["ceiling rotel lookout"]   also lookout-base (lookout's config run by LOOKOUT_BASE_BIN)
#                        and lookout-correlate (lookout with the correlate
#                        processor (enrichment mode) before batch; its window's traces and
#                        accounted bytes are scraped after the load (correlate.txt))
#                        and lookout-sample (the same with correlate in mode: sample; its
#                        held bytes and traces are scraped every 0.5 s during the load
#                        (sample_during.txt), its decisions after it (correlate.txt); spans per
#                        CPU-s count the spans it processed (accepted), and lost excludes the
#                        spans it dropped by decision)
#                        and lookout-workload (realistic traces for sampling: loadgen --workload
#                        traces --logs at WORKLOAD_RATE traces/s, 5-50 children over several services,
#                        slow / error / error-log traces; lookout runs latency_anomaly then correlate
#                        in mode: sample (SAMPLE_SETTINGS apply) in the traces pipeline and correlate
#                        in the logs pipeline; the sink tallies which traces arrived whole and the
#                        delay from each root's end to its arrival (sink.json "whole"))
#                        and lookout-lb (lookout with the loadbalancing exporter, routing by trace id
#                        to 3 sinks (static resolver, each backend the same otlp settings as
#                        lookout's exporter); delivered = the 3 sinks' spans added up)
#                        and lookout-redact (lookout with the redaction processor before batch:
#                        allow_all_keys, builtin_patterns [credit_card, email, bearer_token])
#                        and lookout-tls (lookout's gRPC receiver serving TLS with a self-signed
#                        P-256 certificate made by openssl for the run; loadgen --tls-ca)
#                        and lookout-auth (lookout's gRPC receiver with a bearertokenauth
#                        extension; loadgen sends the token: --header "authorization=Bearer ...")
#   REDACT_SETTINGS []   extra redaction settings for lookout-redact, e.g. "summary: info"
#   SAMPLE_SETTINGS []   extra correlate settings for lookout-sample, e.g. "max_held_bytes: 1073741824"
#   WORKLOAD_RATE [2000] traces per second of lookout-workload's loadgen (over all workers)
#   WORKLOAD_FLAGS ["--slow-percent 2 --error-percent 1 --error-log-percent 1 --warmup-traces 500"]
#                        the mix of lookout-workload's traces (loadgen flags)
#   CORRELATE_SETTINGS [] extra correlate settings for lookout-correlate, e.g. "max_bytes: 1073741824"
#   BATCH [512]          spans per loadgen request
#   CONCURRENCY [4]      loadgen requests in flight
#   FRESH_IDS [0]        1 = every request gets trace ids never sent before (loadgen
#                        --fresh-trace-ids), as production traffic does; needed for a fair
#                        lookout-correlate figure (otherwise its window sees the pool's traces again)
#   COLLECTOR_BATCH [8192], BATCH_TIMEOUT_MS [200]   collector batch settings (same for both)
#   COMPRESSION [gzip]   lookout exporter compression (rotel always gzips)
#   LEVEL [1]            lookout exporter compression level (gzip 1-12 via libdeflate; 6 gives
#                        about rotel's bytes per span)
#   COLLECTOR_CPU [0], LOAD_CPU [1]   cores for taskset pinning
#   PIN [1]              0 = nothing pinned: collector, loadgen and sink share both cores and the
#                        load generator is free to outrun the collector's exporter
#   DRAIN_MAX [20]       max seconds to wait for the collector to deliver everything it accepted
#   VERIFY [0]           1 = sink also fully decodes every trace request (costs sink CPU)
#   QUEUE_FSYNC []       every_batch or interval: lookout's exporter queue on disk (a persistent
#                        sending_queue in a file_storage directory in the run's folder)
#   NUM_CONSUMERS []     lookout's sending_queue num_consumers (a number or adaptive; default: Lookout's)
#   SKIP_BUILD [0]       1 = use existing target/release binaries
#   ROTEL_VERSION [0.0.1a15]
#   LOOKOUT_BIN [target/release/lookout]   collector binary to test as "lookout"
#   LOOKOUT_BASE_BIN []  a second build to test as "lookout-base" (add it to TARGETS) to compare
#                        two builds side by side in one run
#   ROTEL_BIN [rotel-agent from bench/.venv]
# Output: a markdown table on stdout; raw per-run files and summary.md under bench/results/<stamp>/.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
DURATION=${DURATION:-12}
R=${R:-3}
TARGETS=${TARGETS:-"ceiling rotel lookout"}
BATCH=${BATCH:-512}
CONCURRENCY=${CONCURRENCY:-4}
FRESH_IDS=${FRESH_IDS:-0}
LOADGEN_FLAGS=()
[[ $FRESH_IDS == 1 ]] && LOADGEN_FLAGS+=(--fresh-trace-ids)
COLLECTOR_BATCH=${COLLECTOR_BATCH:-8192}
BATCH_TIMEOUT_MS=${BATCH_TIMEOUT_MS:-200}
COMPRESSION=${COMPRESSION:-gzip}
LEVEL=${LEVEL:-1}
COLLECTOR_CPU=${COLLECTOR_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
PIN=${PIN:-1}
if [[ $PIN == 0 ]]; then COLLECTOR_CPU="" LOAD_CPU=""; fi
DRAIN_MAX=${DRAIN_MAX:-20}
SKIP_BUILD=${SKIP_BUILD:-0}
QUEUE_FSYNC=${QUEUE_FSYNC:-}
NUM_CONSUMERS=${NUM_CONSUMERS:-}
VERIFY=${VERIFY:-0}
SINK_FLAGS=()
[[ $VERIFY == 1 ]] && SINK_FLAGS+=(--verify)
ROTEL_VERSION=${ROTEL_VERSION:-0.0.1a15}
WORKLOAD_RATE=${WORKLOAD_RATE:-2000}
WORKLOAD_FLAGS=${WORKLOAD_FLAGS:-"--slow-percent 2 --error-percent 1 --error-log-percent 1 --warmup-traces 500"}

BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release
VENV=$HERE/.venv
OUT=$HERE/results/$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT"
# Bound on any single background process: load + drain + slack.
MAX_LIFE=$((DURATION + DRAIN_MAX + 60))

log() { echo "[bench $(date +%H:%M:%S)] $*" >&2; }

# ---- process bookkeeping: every background process is recorded and killed by PID ----------
declare -A LIVE=()     # pid -> 1 for processes we started and have not stopped yet
declare -A WATCHDOG=() # pid -> pid of its watchdog subshell
# The watchdogs block on a FIFO nobody writes to (bash builtin read -t), so they spawn no child.
mkfifo "$OUT/.watchdog"
exec 9<>"$OUT/.watchdog"
cleanup() {
  local p
  for p in "${!LIVE[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  sleep 0.3
  for p in "${!LIVE[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  for p in "${WATCHDOG[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  rm -f "$OUT/.watchdog"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start_bg, alive, stop_pid: process bookkeeping shared with the other bench scripts.
source "$HERE/procs.sh"

sink_spans() { jq -r '.spans // 0' "$1" 2>/dev/null || echo 0; }
# Spans counted by every sink of a run (count.json, and count2.json, count3.json for lookout-lb).
delivered_spans() {
  local n=0 f
  for f in "$1"/count.json "$1"/count2.json "$1"/count3.json; do
    [[ -f $f ]] && n=$((n + $(sink_spans "$f")))
  done
  echo "$n"
}

# ---- setup ----------------------------------------------------------------------------------
ROTEL=${ROTEL_BIN:-}
if [[ -z $ROTEL && " $TARGETS " == *" rotel "* ]]; then
  if [[ ! -x $VENV/bin/python ]]; then
    log "installing rotel==$ROTEL_VERSION into bench/.venv"
    python3 -m venv "$VENV"
    timeout 600 "$VENV/bin/pip" install -q "rotel==$ROTEL_VERSION"
  fi
  ROTEL=$("$VENV/bin/python" -c "import rotel, os; print(os.path.join(os.path.dirname(rotel.__file__), 'rotel-agent'))")
  chmod +x "$ROTEL"
fi

LOOKOUT_BUILT=1
if [[ $SKIP_BUILD != 1 ]]; then
  log "building lookout-bench and lookout-collector (release)"
  if ! (cd "$ROOT" && cargo build --release -p lookout-bench -p lookout-collector) >"$OUT/build.log" 2>&1; then
    log "building lookout-collector failed (see $OUT/build.log); building lookout-bench alone"
    LOOKOUT_BUILT=0
    (cd "$ROOT" && cargo build --release -p lookout-bench) >>"$OUT/build.log" 2>&1
  fi
fi
LOOKOUT=${LOOKOUT_BIN:-$BIN/lookout}
if [[ -n ${LOOKOUT_BIN:-} ]]; then LOOKOUT_BUILT=1; fi
[[ -x $LOOKOUT ]] || LOOKOUT_BUILT=0

{
  echo "date=$(date -u +%FT%TZ) duration=$DURATION reps=$R batch=$BATCH concurrency=$CONCURRENCY"
  echo "collector_batch=$COLLECTOR_BATCH timeout_ms=$BATCH_TIMEOUT_MS lookout_compression=$COMPRESSION lookout_level=$LEVEL"
  echo "pin=$PIN collector_cpu=${COLLECTOR_CPU:-none} load_cpu=${LOAD_CPU:-none} nproc=$(nproc) queue_fsync=${QUEUE_FSYNC:-memory} num_consumers=${NUM_CONSUMERS:-default}"
  echo "git=$(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo none)"
  [[ -n $ROTEL ]] && echo "rotel=$("$VENV/bin/pip" show rotel 2>/dev/null | awk '/^Version/ {print $2}')"
  true
} >"$OUT/env.txt"

# TLS material and a bearer token for lookout-tls / lookout-auth, made fresh for the run.
BENCH_TOKEN=bench-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
if [[ " $TARGETS " == *" lookout-tls "* ]]; then
  mkdir -p "$OUT/tls"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$OUT/tls/key.pem" -out "$OUT/tls/cert.pem" -days 2 -subj /CN=localhost \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    -addext "basicConstraints=critical,CA:FALSE" 2>"$OUT/tls/openssl.log"
fi

# ---- one run ----------------------------------------------------------------------------------
# run_one TARGET REP -> writes $OUT/<rep>-<target>/{meta.json,loadgen.json,sink.json,...}
run_one() {
  local target=$1 rep=$2
  local dir=$OUT/$rep-$target
  mkdir -p "$dir"
  local sink_port sink_http cport cport2 mport sink_pid attempt
  local sink_flags=("${SINK_FLAGS[@]}") load_flags=("${LOADGEN_FLAGS[@]}")
  if [[ $target == lookout-workload ]]; then
    sink_flags+=(--whole-traces)
    # shellcheck disable=SC2206 # WORKLOAD_FLAGS is a list of flags
    load_flags=(--workload traces --logs --traces-per-second "$WORKLOAD_RATE" $WORKLOAD_FLAGS)
  fi
  for attempt in 1 2 3; do
    read -r sink_port sink_http cport cport2 mport < <(free_ports 5)
    start_bg "$LOAD_CPU" "$dir/sink" "$BIN/sink" --listen "127.0.0.1:$sink_port" \
      --http-listen "127.0.0.1:$sink_http" --count-file "$dir/count.json" "${sink_flags[@]}"
    sink_pid=$BG_PID
    wait_port "$sink_port" "$sink_pid" 10 && break
    log "sink failed to start (attempt $attempt): $(tail -n 3 "$dir/sink.err")"
    stop_pid "$sink_pid"
    ((attempt == 3)) && return 1
  done
  local extra_sinks=() extra_ports=()
  if [[ $target == lookout-lb ]]; then
    local k port
    read -r -a extra_ports < <(free_ports 2)
    for k in 2 3; do
      port=${extra_ports[$((k - 2))]}
      start_bg "$LOAD_CPU" "$dir/sink$k" "$BIN/sink" --listen "127.0.0.1:$port" \
        --count-file "$dir/count$k.json"
      extra_sinks+=("$BG_PID")
      wait_port "$port" "$BG_PID" 10 || log "sink $k did not start: $(tail -n 3 "$dir/sink$k.err")"
    done
  fi

  local cpid="" target_port=$sink_port
  case $target in
    ceiling) ;;
    rotel)
      start_bg "$COLLECTOR_CPU" "$dir/collector" "$ROTEL" start \
        --otlp-grpc-endpoint "127.0.0.1:$cport" --otlp-http-endpoint "127.0.0.1:$cport2" \
        --exporter otlp --otlp-exporter-endpoint "http://127.0.0.1:$sink_port" \
        --otlp-exporter-protocol grpc \
        --batch-max-size "$COLLECTOR_BATCH" --batch-timeout "${BATCH_TIMEOUT_MS}ms" \
        --pid-file "$dir/rotel.pid" --log-file "$dir/rotel.log"
      cpid=$BG_PID target_port=$cport
      ;;
    lookout | lookout-base | lookout-correlate | lookout-sample | lookout-workload | lookout-redact | lookout-lb | lookout-tls | lookout-auth)
      local bin=$LOOKOUT processors="[batch]" correlate="" logs_pipeline="" grpc_extra="" extensions="" service_ext=""
      if [[ $target == lookout-sample ]]; then
        processors="[correlate, batch]"
        # Sample mode with its defaults (quiet_period 1s, max_wait 30s, normal_percent 10).
        correlate="  correlate: { mode: sample, num_traces: 100000${SAMPLE_SETTINGS:+, $SAMPLE_SETTINGS} }"
      fi
      if [[ $target == lookout-workload ]]; then
        processors="[latency_anomaly, correlate, batch]"
        correlate="  latency_anomaly: {}
  correlate: { mode: sample, num_traces: 100000${SAMPLE_SETTINGS:+, $SAMPLE_SETTINGS} }"
        logs_pipeline="    logs: { receivers: [otlp], processors: [correlate, batch], exporters: [otlp] }"
      fi
      if [[ $target == lookout-correlate ]]; then
        processors="[correlate, batch]"
        # Defaults but the window's size: 100,000 traces (FRESH_IDS=1 makes every trace new,
        # so the window fills and then evicts the least recently active trace per new one).
        correlate="  correlate: { num_traces: 100000${CORRELATE_SETTINGS:+, $CORRELATE_SETTINGS} }"
      fi
      if [[ $target == lookout-redact ]]; then
        processors="[redaction, batch]"
        # The `correlate` slot holds any extra processor's settings.
        correlate="  redaction: { allow_all_keys: true, builtin_patterns: [credit_card, email, bearer_token]${REDACT_SETTINGS:+, $REDACT_SETTINGS} }"
      fi
      if [[ $target == lookout-tls ]]; then
        grpc_extra=", tls: { cert_file: $OUT/tls/cert.pem, key_file: $OUT/tls/key.pem }"
      fi
      if [[ $target == lookout-auth ]]; then
        grpc_extra=", auth: { authenticator: bearertokenauth }"
        extensions="extensions:
  bearertokenauth: { token: $BENCH_TOKEN }"
        service_ext="  extensions: [bearertokenauth]"
      fi
      if [[ $target == lookout-base ]]; then bin=${LOOKOUT_BASE_BIN:-}; fi
      local exporter=otlp exporter_head="  otlp:
    endpoint: 127.0.0.1:$sink_port"
      if [[ $target == lookout-lb ]]; then
        # The same otlp settings under protocol: (4 more spaces), one backend per sink.
        exporter=loadbalancing exporter_head="  loadbalancing:
    routing_key: traceID
    resolver: { static: { hostnames: [127.0.0.1:$sink_port, 127.0.0.1:${extra_ports[0]}, 127.0.0.1:${extra_ports[1]}] } }
    protocol:
      otlp:"
      fi
      if [[ $LOOKOUT_BUILT != 1 || ! -x $bin ]]; then
        echo "{\"target\":\"$target\",\"rep\":$rep,\"skipped\":\"$target binary not built\"}" >"$dir/meta.json"
        stop_pid "$sink_pid"
        for p in "${extra_sinks[@]}"; do stop_pid "$p"; done
        log "SKIP lookout: binary not built (see $OUT/build.log)"
        return 0
      fi
      cat >"$dir/lookout.yaml" <<EOF
receivers:
  otlp:
    protocols:
      grpc: { endpoint: 127.0.0.1:$cport$grpc_extra }
$extensions
processors:
  batch: { send_batch_size: $COLLECTOR_BATCH, send_batch_max_size: $COLLECTOR_BATCH, timeout: ${BATCH_TIMEOUT_MS}ms }
$correlate
exporters:
$exporter_head
$(if [[ $target == lookout-lb ]]; then echo "        tls: { insecure: true }"; else echo "    tls: { insecure: true }"; fi)
$(if [[ $target == lookout-lb ]]; then echo "        compression: $COMPRESSION"; else echo "    compression: $COMPRESSION"; fi)
$(if [[ $target == lookout-lb ]]; then echo "        compression_params: { level: $LEVEL }"; else echo "    compression_params: { level: $LEVEL }"; fi)
service:
$service_ext
  telemetry: { metrics: { address: 127.0.0.1:$mport } }
  pipelines:
    traces: { receivers: [otlp], processors: $processors, exporters: [$exporter] }
$logs_pipeline
EOF
      local consumers=""
      [[ -n $NUM_CONSUMERS ]] && consumers="num_consumers: $NUM_CONSUMERS"
      if [[ -n $QUEUE_FSYNC ]]; then
        # The same config with the exporter's queue on disk.
        sed -i "s|^    compression_params:|    sending_queue: { storage: file_storage/q, fsync: $QUEUE_FSYNC${consumers:+, $consumers} }\n    compression_params:|; s|^service:\$|extensions:\n  file_storage/q: { directory: $dir/queue, create_directory: true }\nservice:\n  extensions: [file_storage/q]|" "$dir/lookout.yaml"
      elif [[ -n $consumers ]]; then
        sed -i "s|^    compression_params:|    sending_queue: { $consumers }\n    compression_params:|" "$dir/lookout.yaml"
      fi
      start_bg "$COLLECTOR_CPU" "$dir/collector" "$bin" --config "$dir/lookout.yaml"
      cpid=$BG_PID target_port=$cport
      ;;
    *) log "unknown target $target"; return 1 ;;
  esac

  if [[ -n $cpid ]] && ! wait_port "$target_port" "$cpid" 15; then
    local why
    why=$(tail -q -n 5 "$dir/collector.err" "$dir/collector.out" 2>/dev/null | tr '\n"\\' '   ' | cut -c1-400 || true)
    log "SKIP $target: collector did not start listening on $target_port: $why"
    echo "{\"target\":\"$target\",\"rep\":$rep,\"skipped\":\"did not start: $why\"}" >"$dir/meta.json"
    stop_pid "$cpid"
    stop_pid "$sink_pid"
    for p in "${extra_sinks[@]}"; do stop_pid "$p"; done
    return 0
  fi

  local cpu0=0
  [[ -n $cpid ]] && cpu0=$(cpu_of "$cpid")
  local t0=$SECONDS scraper=""
  if [[ $target == lookout-sample || $target == lookout-workload ]]; then
    (while sleep 0.5; do
      curl -s --max-time 2 "http://127.0.0.1:$mport/metrics" | grep '^lookout_correlate_sample_held' | tr '\n' ' '
      echo
    done) >"$dir/sample_during.txt" 2>/dev/null &
    scraper=$!
  fi
  local target_flags=()
  [[ $target == lookout-tls ]] && target_flags+=(--tls-ca "$OUT/tls/cert.pem")
  [[ $target == lookout-auth ]] && target_flags+=(--header "authorization=Bearer $BENCH_TOKEN")
  pinned "$LOAD_CPU" timeout $((DURATION + 60)) "$BIN/loadgen" --endpoint "127.0.0.1:$target_port" \
    --batch-size "$BATCH" --concurrency "$CONCURRENCY" --duration "$DURATION" \
    --seed "$rep" "${load_flags[@]}" "${target_flags[@]}" >"$dir/loadgen.json" 2>"$dir/loadgen.err" || log "loadgen exited non-zero ($target)"
  [[ -n $scraper ]] && kill "$scraper" 2>/dev/null
  local accepted
  accepted=$(jq -r '.spans_sent // 0' "$dir/loadgen.json" 2>/dev/null || echo 0)

  # Drain: wait until the sink saw everything accepted, or the count stops moving for 3 s.
  local delivered last_change=$SECONDS last=-1 drain_start=$SECONDS
  while :; do
    sleep 0.2
    delivered=$(delivered_spans "$dir")
    ((delivered >= accepted)) && break
    if ((delivered != last)); then last=$delivered last_change=$SECONDS; fi
    ((SECONDS - last_change >= 3)) && break
    ((SECONDS - drain_start >= DRAIN_MAX)) && break
  done
  sleep 0.3 # one more count-file period
  delivered=$(delivered_spans "$dir")
  local drain_s=$((SECONDS - drain_start))

  local cpu1=0 hwm=0 alive=1 window_traces=0 window_bytes=0 sampled_out=0 processed=$delivered
  if [[ $target == lookout-sample || $target == lookout-workload ]] && alive "$cpid"; then
    curl -s --max-time 5 "http://127.0.0.1:$mport/metrics" | grep '^lookout_correlate\|^lookout_latency_anomaly_tagged' >"$dir/correlate.txt" || true
    sampled_out=$(awk '/^lookout_correlate_sample_dropped_items_total.*item="spans"/ {print $2}' "$dir/correlate.txt")
    processed=$accepted
  fi
  if [[ $target == lookout-correlate ]] && alive "$cpid"; then
    curl -s --max-time 5 "http://127.0.0.1:$mport/metrics" | grep '^lookout_correlate' >"$dir/correlate.txt" || true
    window_traces=$(awk '/^lookout_correlate_traces/ {print $2}' "$dir/correlate.txt")
    window_bytes=$(awk '/^lookout_correlate_bytes/ {print $2}' "$dir/correlate.txt")
  fi
  if [[ -n $cpid ]]; then
    if alive "$cpid"; then
      cpu1=$(cpu_of "$cpid")
      hwm=$(hwm_kib "$cpid")
    else
      alive=0
      log "WARNING: $target died during the run"
    fi
    stop_pid "$cpid"
  fi
  stop_pid "$sink_pid"
  local p
  for p in "${extra_sinks[@]}"; do stop_pid "$p"; done
  cp "$dir/sink.out" "$dir/sink.json" 2>/dev/null || true
  local delivered_final
  delivered_final=$(jq -r '.spans // 0' "$dir/sink.json" 2>/dev/null || echo "$delivered")

  cat >"$dir/meta.json" <<EOF
{"target":"$target","rep":$rep,"accepted":$accepted,"delivered":$delivered,
 "delivered_after_stop":${delivered_final:-$delivered},"lost":$((accepted - delivered - ${sampled_out:-0})),
 "processed":${processed:-$delivered},"sampled_out":${sampled_out:-0},
 "collector_cpu_s":$(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN{printf "%.2f", b-a}'),
 "collector_peak_rss_kib":${hwm:-0},"collector_alive":$alive,"drain_s":$drain_s,
 "wall_s":$((SECONDS - t0)),"window_traces":${window_traces:-0},"window_bytes":${window_bytes:-0}}
EOF
  log "$target rep $rep: accepted=$accepted delivered=$delivered cpu=$(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN{print b-a}')s rss=${hwm}KiB"
}

for rep in $(seq "$R"); do
  for target in $TARGETS; do
    run_one "$target" "$rep" || log "run $target/$rep failed"
  done
done

python3 "$HERE/summarize.py" "$OUT" | tee "$OUT/summary.md"
log "raw results in ${OUT#"$ROOT"/}"
