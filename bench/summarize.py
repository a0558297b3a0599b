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
    for subject, base in [("lookout", "rotel"), ("lookout", "lookout-base"), ("lookout-correlate", "lookout"), ("lookout-sample", "lookout"), ("lookout-lb", "lookout")]:
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
    workload(out)
    print("\nMedians over runs; lost = spans accepted by the collector (loadgen OK responses) minus "
          "spans counted at the sink after the drain wait. CPU-s = utime+stime over the load + drain window. "
          "bytes/span into sink = bytes on the wire (compressed gRPC frames) received by the sink per span.")


def metric_sum(text, name, *labels):
    """Sum of the series of `name` whose line contains every one of `labels`."""
    total = 0.0
    for line in text.splitlines():
        line = line.strip()
        if line.startswith(name) and line[len(name):len(name) + 1] in "{ " and all(l in line for l in labels):
            try:
                total += float(line.rsplit(" ", 1)[1])
            except ValueError:
                pass
    return total


def workload(out):
    """Per run of lookout-workload: traces made vs arrived whole per class, tagged traces,
    root end -> arrival delay, kept fraction, held bytes per trace, early decisions."""
    rows = []
    for d in sorted(p for p in out.iterdir() if p.is_dir() and p.name.endswith("-lookout-workload")):
        lg, sk = load(d / "loadgen.json"), load(d / "sink.json")
        made = (lg.get("workload") or {}).get("traces_made") or {}
        whole = sk.get("whole") or {}
        if not made or not whole:
            continue
        text = (d / "correlate.txt").read_text() if (d / "correlate.txt").exists() else ""
        peak_bytes, peak_traces = 0.0, 0.0
        if (d / "sample_during.txt").exists():
            for line in (d / "sample_during.txt").read_text().splitlines():
                b = metric_sum(line.replace(" lookout_", "\nlookout_"), "lookout_correlate_sample_held_bytes")
                t = metric_sum(line.replace(" lookout_", "\nlookout_"), "lookout_correlate_sample_held_traces")
                if b > peak_bytes:
                    peak_bytes, peak_traces = b, t
        classes = whole.get("classes", {})
        cells = []
        for c in ["slow", "error", "error_log"]:
            w = classes.get(c, {})
            cells.append(f"{w.get('whole', 0):,} / {made.get(c, 0):,} ({w.get('partial', 0)} partial)")
        seen = sum(v.get("seen", 0) for v in classes.values())
        made_all = sum(made.values())
        normal = classes.get("normal", {})
        delay = whole.get("delay_ms", {})
        tagged = whole.get("tagged", {})
        rows.append(
            f"| {d.name} | {made_all:,} | " + " | ".join(cells)
            + f" | {tagged.get('whole', 0):,} ({tagged.get('partial', 0)} partial); spans {whole.get('tagged_spans', 0):,}"
            f" of {metric_sum(text, 'lookout_latency_anomaly_tagged_spans_total'):,.0f} tagged"
            f" | {normal.get('whole', 0):,} / {made.get('normal', 0):,} ({normal.get('partial', 0)} partial)"
            f" | {seen / made_all * 100 if made_all else 0:.1f} %"
            f" | {delay.get('p50', 0) / 1000:.3f} / {delay.get('p99', 0) / 1000:.3f} / {delay.get('max', 0) / 1000:.3f}"
            f" | {peak_bytes / peak_traces if peak_traces else 0:,.0f} ({peak_traces:,.0f} traces, {peak_bytes / 1048576:.1f} MiB)"
            f" | {metric_sum(text, 'lookout_correlate_sample_early_decisions_total'):,.0f} |")
    if not rows:
        return
    print("\nlookout-workload: traces made by loadgen vs arrived whole at the sink (whole = every span "
          "and log record made, none twice); tagged = traces with a span latency_anomaly tagged; "
          "delay = root span's end -> its arrival at the sink; held = at the peak of held bytes.\n")
    print("| run | traces made | slow whole / made | error whole / made | error-log whole / made "
          "| tagged traces whole | normal kept / made | kept fraction | delay p50 / p99 / max s "
          "| held bytes per trace | early decisions |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(r)


if __name__ == "__main__":
    main(sys.argv[1])
