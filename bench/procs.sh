# Process bookkeeping for the bench scripts (sourced, not run): free loopback ports, waiting for
# a port, CPU-seconds and peak RSS of a PID; every background process is recorded in LIVE,
# watched by a watchdog that kills it after MAX_LIFE seconds (the watchdogs block on fd 9, a
# FIFO nobody writes to), and stopped by PID.
# Expects: associative arrays LIVE and WATCHDOG, MAX_LIFE, and fd 9 open on the FIFO.

# start_bg CPU LOGPREFIX CMD...  -> sets BG_PID; a watchdog kills it after MAX_LIFE seconds.
# An empty CPU runs the command unpinned.
start_bg() {
  local cpu=$1 prefix=$2
  shift 2
  # Not through `pinned`: $! must be the command's own PID, not a subshell's.
  local pin=()
  [[ -n $cpu ]] && pin=(taskset -c "$cpu")
  "${pin[@]}" "$@" >"$prefix.out" 2>"$prefix.err" 9<&- &
  BG_PID=$!
  LIVE[$BG_PID]=1
  (read -r -t "$MAX_LIFE" -u 9 || kill -KILL "$BG_PID" 2>/dev/null) &
  WATCHDOG[$BG_PID]=$!
  disown "$!" # no job-control chatter when it is killed
}

# pinned CPU CMD...: runs CMD on core CPU, or unpinned when CPU is empty.
pinned() {
  local cpu=$1
  shift
  if [[ -n $cpu ]]; then
    taskset -c "$cpu" "$@"
  else
    "$@"
  fi
}

# alive PID: the process exists and is not a zombie.
alive() {
  local s
  s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  s=${s##*) }
  [[ ${s:0:1} != Z ]]
}

# stop_pid PID: TERM, wait up to 5 s, then KILL; also ends its watchdog.
stop_pid() {
  local p=$1 i
  if kill -TERM "$p" 2>/dev/null; then
    for i in $(seq 50); do
      alive "$p" || break
      sleep 0.1
    done
    kill -KILL "$p" 2>/dev/null || true
  fi
  wait "$p" 2>/dev/null || true
  unset "LIVE[$p]"
  if [[ -n ${WATCHDOG[$p]:-} ]]; then
    kill -KILL "${WATCHDOG[$p]}" 2>/dev/null || true
    unset "WATCHDOG[$p]"
  fi
}

free_ports() { # prints N free loopback ports, picked below the usual ephemeral range (32768+)
  # so that sockets left over from earlier runs (TIME_WAIT etc.) cannot hold them.
  python3 - "$1" <<'EOF'
import random, socket, sys
want, ports = int(sys.argv[1]), []
for port in random.sample(range(20000, 32000), 400):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
        ports.append(port)
    except OSError:
        pass
    finally:
        s.close()
    if len(ports) == want:
        break
print(" ".join(map(str, ports)))
EOF
}

# wait_port PORT PID SECS: succeed once PORT accepts connections, fail if PID dies or time runs out.
wait_port() {
  local port=$1 pid=$2 deadline=$((SECONDS + $3))
  while ((SECONDS < deadline)); do
    alive "$pid" || return 1
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  return 1
}

cpu_of() { # utime+stime seconds of PID
  awk -v hz="$(getconf CLK_TCK)" '{ sub(/.*\) /, ""); split($0, f, " "); printf "%.2f", (f[12] + f[13]) / hz }' "/proc/$1/stat"
}
hwm_kib() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }
