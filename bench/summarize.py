#!/usr/bin/env python3
"""Summarise a bench/run.sh results directory as a markdown table (medians over repetitions)."""
import json
import statistics
import sys
from pathlib import Path


def load(path):
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(v, digits=0, scale=1.0):
    if v is None:
        return "—"
    v = v * scale
    return f"{v:,.{digits}f}"


def main(out):
    out = Path(out)
    runs, skipped = {}, {}
    for d in sorted(p for p in out.iterdir() if p.is_dir()):
        meta = load(d / "meta.json")
        if not meta:
            continue
        target = meta["target"]
        if "skipped" in meta:
            skipped.setdefault(target, meta["skipped"])
            continue
        lg, sk = load(d / "loadgen.json"), load(d / "sink.json")
        elapsed = lg.get("elapsed_s") or None
        cpu = meta.get("collector_cpu_s") or None
        runs.setdefault(target, []).append({
            "throughput": meta["delivered"] / elapsed if elapsed else None,
            "cpu": cpu if target != "ceiling" else None,
            "per_cpu": meta.get("processed", meta["delivered"]) / cpu if cpu and target != "ceiling" else None,
            "rss": meta.get("collector_peak_rss_kib") / 1024 if target != "ceiling" else None,
            "p50": lg.get("latency_ms", {}).get("p50"),
            "p99": lg.get("latency_ms", {}).get("p99"),
            "lost": meta.get("lost"),
            "delivered": meta.get("delivered"),
            "retries": lg.get("retries"),
            "failed": lg.get("requests_failed"),
            "lg_cpu": lg.get("cpu_seconds"),
            "sink_cpu": sk.get("cpu_seconds"),
            "wire_bps": sk["bytes_on_wire"] / sk["spans"] if sk.get("spans") and "bytes_on_wire" in sk else None,
            "window_traces": meta.get("window_traces") or None,
            "bytes_per_trace": meta["window_bytes"] / meta["window_traces"]
            if meta.get("window_traces") else None,
        })
    env = (out / "env.txt").read_text().split() if (out / "env.txt").exists() else []
    print(f"Settings: {' '.join(env)}\n")
    print("| target | runs | spans delivered/s | collector CPU-s | spans per collector CPU-s "
          "| collector peak RSS MiB | loadgen p50 / p99 ms | lost (max) | retries / failed "
          "| loadgen CPU-s | sink CPU-s | bytes/span into sink |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    summary = {}
    for target in ["ceiling", "rotel", "lookout"] + sorted(set(runs) - {"ceiling", "rotel", "lookout"}):
        if target not in runs:
            if target in skipped:
                print(f"| {target} | 0 | skipped: {skipped[target][:120]} |||||||||")
            continue
        rs = runs[target]
        m = {k: med([r[k] for r in rs]) for k in rs[0]}
        summary[target] = m
        lost_max = max((r["lost"] or 0) for r in rs)
        retries = sum(r["retries"] or 0 for r in rs)
        failed = sum(r["failed"] or 0 for r in rs)
        print(f"| {target} | {len(rs)} | {fmt(m['throughput'])} | {fmt(m['cpu'], 2)} "
              f"| {fmt(m['per_cpu'])} | {fmt(m['rss'], 1)} | {fmt(m['p50'], 2)} / {fmt(m['p99'], 2)} "
              f"| {fmt(m['lost'])} ({lost_max:,}) | {retries} / {failed} | {fmt(m['lg_cpu'], 2)} "
              f"| {fmt(m['sink_cpu'], 2)} | {fmt(m['wire_bps'], 1)} |")
    for subject, base in [("lookout", "rotel"), ("lookout", "lookout-base"), ("lookout-correlate", "lookout"), ("lookout-sample", "lookout")]:
        if base not in summary or subject not in summary:
            continue
        a, b = summary[subject], summary[base]

        def ratio(k):
            return f"{a[k] / b[k]:.2f}×" if a[k] and b[k] else "—"

        print()
        print(f"{subject} / {base} (medians): spans per CPU-s {ratio('per_cpu')}, "
              f"throughput {ratio('throughput')}, peak RSS {ratio('rss')}, p99 latency {ratio('p99')}")
    if "lookout-correlate" in summary and summary["lookout-correlate"]["window_traces"]:
        m = summary["lookout-correlate"]
        print(f"\ncorrelate window after the load (medians): {fmt(m['window_traces'])} traces held, "
              f"{fmt(m['bytes_per_trace'])} accounted bytes per trace")
    print("\nMedians over runs; lost = spans accepted by the collector (loadgen OK responses) minus "
          "spans counted at the sink after the drain wait. CPU-s = utime+stime over the load + drain window. "
          "bytes/span into sink = bytes on the wire (compressed gRPC frames) received by the sink per span.")


if __name__ == "__main__":
    main(sys.argv[1])
