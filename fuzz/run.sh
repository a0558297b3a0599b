#!/usr/bin/env bash
# Runs every cargo-fuzz target of Lookout for N seconds each, one after the other.
#
#   fuzz/run.sh [SECONDS] [TARGET...]        (default: 60 seconds, every target)
#
# Needs a nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz --locked`) and a C++
# compiler (libFuzzer). Each target starts from its committed seeds (fuzz/corpus/<target>/seed-*,
# the Python SDK's requests; regenerate with `.venv/bin/python fuzz/seeds/gen.py`; queue_segment's
# are written by the segment log: run its binary once with LOOKOUT_FUZZ_WRITE_SEEDS=corpus/queue_segment)
# plus whatever earlier runs added to that folder. queue_segment writes a directory per input
# under $TMPDIR, which defaults here to /dev/shm when that is a writable tmpfs (4x the
# executions of a disk-backed /tmp); set TMPDIR to choose another place.
# Crashes land in fuzz/artifacts/<target>/; reproduce one with
#   cargo +nightly fuzz run <target> fuzz/artifacts/<target>/crash-…
# The script prints libFuzzer's final `#N` line (executions) per target and stops at the first
# failing target. Extra libFuzzer flags: FUZZ_ARGS="-jobs=2 -workers=2" fuzz/run.sh 600
# Built without a sanitizer by default (the code is safe Rust; ~2x the executions of ASan):
# SANITIZER=address fuzz/run.sh turns AddressSanitizer back on.
set -euo pipefail
cd "$(dirname "$0")"
secs="${1:-60}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(wire_validate wire_edit wire_split wire_splice otlp_json grpc_frame filelog_ops filelog_split queue_segment config)
fi
mkdir -p logs
if [ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then
  export TMPDIR=/dev/shm
fi
for t in "${targets[@]}"; do
  echo "== $t (${secs}s)"
  # -rss_limit_mb: the collector's targets must stay small; -max_len: requests of up to 64 KiB.
  cargo +nightly fuzz run -s "${SANITIZER:-none}" "$t" -- -max_total_time="$secs" -rss_limit_mb=2048 -max_len=65536 \
    -print_final_stats=1 ${FUZZ_ARGS:-} 2>&1 | tee "logs/$t.log" | grep -E '^#[0-9]+.*pulse|panicked|SUMMARY' || true
  if grep -qE 'SUMMARY|panicked|deadly signal' "logs/$t.log"; then
    echo "!! $t failed: see fuzz/logs/$t.log and fuzz/artifacts/$t/"; exit 1
  fi
  grep -E '^#[0-9]+' "logs/$t.log" | tail -1
done
