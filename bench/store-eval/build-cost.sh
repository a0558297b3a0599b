#!/usr/bin/env bash
# Build cost of each candidate engine: a clean `cargo build --release` of this crate with only that
# engine's feature (its own target dir, so nothing is shared between engines), and the size of the
# binary it produces against the baseline built with no engine.
#
#   bench/store-eval/build-cost.sh [ENGINES...]      (default: none sqlite fjall parquet)
#
# Prints a Markdown table: engine, wall time of the build, CPU time (user+sys) of the build and
# its compilers, binary size and size added to the baseline, unstripped and stripped. Use `nice` and an otherwise idle machine for comparable
# times; the CPU time is less sensitive to other load than the wall time.
set -euo pipefail
cd "$(dirname "$0")"
engines=("$@")
[ ${#engines[@]} -eq 0 ] && engines=(none sqlite fjall parquet)
out=target/build-cost
mkdir -p "$out"
cargo fetch --quiet
echo "| engine | build wall s | build CPU s | binary bytes | added bytes | stripped bytes | added stripped |"
echo "|---|---|---|---|---|---|---|"
base=""
sbase=""
for e in "${engines[@]}"; do
    dir="$out/$e"
    rm -rf "$dir"
    feat=()
    [ "$e" != none ] && feat=(--features "$e")
    /usr/bin/time -f "%e %U %S" -o "$out/$e.time" \
        cargo build --release --quiet --target-dir "$dir" "${feat[@]}" 2> "$out/$e.log"
    read -r wall user sys < "$out/$e.time"
    size=$(stat -c %s "$dir/release/store-eval")
    strip -o "$out/$e.stripped" "$dir/release/store-eval"
    ssize=$(stat -c %s "$out/$e.stripped")
    [ "$e" = none ] && base=$size && sbase=$ssize
    added=$([ -n "$base" ] && echo $((size - base)) || echo "?")
    sadded=$([ -n "$sbase" ] && echo $((ssize - sbase)) || echo "?")
    cpu=$(echo "$user + $sys" | bc)
    echo "| $e | $wall | $cpu | $size | $added | $ssize | $sadded |"
    rm -rf "$dir"
done
