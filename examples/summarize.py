#!/usr/bin/env python3
"""Summarises what the demo's collector wrote (OTLP/JSON lines in DEMO_DIR/out).

Usage: summarize.py DEMO_DIR

Prints, per service, requests/errors/latency from the services' own
http.server.request.duration histograms; what else arrived (metrics, OTLP logs,
file logs, host metrics); and one trace as a tree of spans with the log
records each span wrote, joined by trace and span id. Standard library only.
"""

import collections
import json
import os
import re
import sys

KIND = {0: "unspecified", 1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}
STATUS_ERROR = 2
# Written on spans by Lookout's latency_anomaly processor, when the config has it.
ATTR_ANOMALY = "lookout.latency.anomaly"


def lines(path):
    if not os.path.exists(path):
        return
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line:
                yield json.loads(line)


def value(v):
    """An OTLP/JSON AnyValue as a Python value."""
    if not v:
        return None
    for key in ("stringValue", "boolValue", "doubleValue"):
        if key in v:
            return v[key]
    if "intValue" in v:
        return int(v["intValue"])
    if "arrayValue" in v:
        return [value(x) for x in v["arrayValue"].get("values", [])]
    if "kvlistValue" in v:
        return attrs(v["kvlistValue"].get("values", []))
    return v


def attrs(kvs):
    return {kv["key"]: value(kv.get("value")) for kv in kvs or []}


def service_of(resource):
    return attrs((resource or {}).get("attributes")).get("service.name", "")


def load_spans(path):
    spans = []
    for req in lines(path):
        for rs in req.get("resourceSpans", []):
            service = service_of(rs.get("resource"))
            for ss in rs.get("scopeSpans", []):
                for s in ss.get("spans", []):
                    spans.append({
                        "service": service,
                        "trace": s.get("traceId", ""),
                        "id": s.get("spanId", ""),
                        "parent": s.get("parentSpanId", ""),
                        "name": s.get("name", ""),
                        "kind": KIND.get(s.get("kind", 0), "?"),
                        "start": int(s.get("startTimeUnixNano", 0)),
                        "end": int(s.get("endTimeUnixNano", 0)),
                        "error": (s.get("status") or {}).get("code") == STATUS_ERROR,
                        "attrs": attrs(s.get("attributes")),
                    })
    return spans


def load_logs(path):
    logs = []
    for req in lines(path):
        for rl in req.get("resourceLogs", []):
            service = service_of(rl.get("resource"))
            for sl in rl.get("scopeLogs", []):
                for r in sl.get("logRecords", []):
                    body = value(r.get("body"))
                    a = attrs(r.get("attributes"))
                    logs.append({
                        "service": service,
                        "trace": r.get("traceId", ""),
                        "span": r.get("spanId", ""),
                        "time": int(r.get("timeUnixNano") or r.get("observedTimeUnixNano") or 0),
                        "severity": r.get("severityText", ""),
                        # filelog keeps the raw line as the body; the parsed message is an attribute.
                        "message": a.get("message", body),
                        "attrs": a,
                    })
    return logs


def load_metrics(path):
    """Every data point as (service, scope, name, kind, point)."""
    out = []
    for req in lines(path):
        for rm in req.get("resourceMetrics", []):
            service = service_of(rm.get("resource"))
            for sm in rm.get("scopeMetrics", []):
                scope = (sm.get("scope") or {}).get("name", "")
                for m in sm.get("metrics", []):
                    for kind in ("sum", "gauge", "histogram", "exponentialHistogram", "summary"):
                        if kind in m:
                            for p in m[kind].get("dataPoints", []):
                                out.append((service, scope, m["name"], kind, p))
    return out


def ms(nanos):
    return nanos / 1e6


def quantile_from_buckets(bounds, counts, q):
    """The upper bound of the bucket holding quantile q (an estimate, as Prometheus does)."""
    total = sum(counts)
    if total == 0:
        return 0.0
    rank = q * total
    seen = 0
    for i, c in enumerate(counts):
        seen += c
        if seen >= rank:
            return bounds[i] if i < len(bounds) else float("inf")
    return float("inf")


def red_table(points):
    """Requests, errors and latency per service from http.server.request.duration.

    The SDK exports cumulative histograms, so the latest point of each series holds its totals.
    """
    latest = {}
    for service, _scope, name, kind, p in points:
        if name != "http.server.request.duration" or kind != "histogram":
            continue
        a = attrs(p.get("attributes"))
        key = (service, a.get("http.route", ""), a.get("http.response.status_code"))
        t = int(p.get("timeUnixNano", 0))
        if key not in latest or t >= latest[key][0]:
            latest[key] = (t, p)
    rows = collections.OrderedDict()
    for (service, route, status), (_t, p) in sorted(latest.items(), key=lambda kv: str(kv[0])):
        row = rows.setdefault((service, route), {"count": 0, "errors": 0, "sum": 0.0, "buckets": None, "bounds": None})
        count = int(p.get("count", 0))
        row["count"] += count
        if status is not None and int(status) >= 500:
            row["errors"] += count
        row["sum"] += float(p.get("sum", 0.0))
        counts = [int(c) for c in p.get("bucketCounts", [])]
        row["bounds"] = [float(b) for b in p.get("explicitBounds", [])]
        row["buckets"] = counts if row["buckets"] is None else [x + y for x, y in zip(row["buckets"], counts)]
    return rows


def print_tree(trace_spans, logs_by_span):
    children = collections.defaultdict(list)
    ids = {s["id"] for s in trace_spans}
    roots = []
    for s in trace_spans:
        if s["parent"] and s["parent"] in ids:
            children[s["parent"]].append(s)
        else:
            roots.append(s)
    t0 = min(s["start"] for s in trace_spans)

    def walk(s, depth):
        flag = "  ERROR" if s["error"] else ""
        if s["attrs"].get(ATTR_ANOMALY):
            ratio = s["attrs"].get("lookout.latency.ratio")
            ratio = f" x{float(ratio):.1f}" if ratio is not None else ""
            flag += f"  ANOMALY({s['attrs'].get('lookout.latency.kind', '?')}{ratio})"
        offset = ms(s["start"] - t0)
        print(f"  {'  ' * depth}{s['service']:<10} {s['name']:<34} +{offset:7.1f} ms {ms(s['end'] - s['start']):7.1f} ms  "
              f"span {s['id']}{flag}")
        for log in logs_by_span.get(s["id"], []):
            print(f"  {'  ' * depth}    log {log['severity']:<5} {log['message']}")
        for c in sorted(children[s["id"]], key=lambda c: c["start"]):
            walk(c, depth + 1)

    for r in sorted(roots, key=lambda r: r["start"]):
        walk(r, 0)


def episodes(stderr_path):
    """The anomaly episodes latency_anomaly's console notifier logged."""
    if not os.path.exists(stderr_path):
        return
    ansi = re.compile(r"\x1b\[[0-9;]*m")
    events = []
    with open(stderr_path, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = ansi.sub("", line)
            if "latency anomaly episode" not in line:
                continue
            status = re.search(r'status="?(\w+)', line)
            kind = re.search(r'kind="?(\w+)', line)
            key = re.search(r"key=(.*?) (?:baseline_ms|max_ratio|example_trace_ids)=", line)
            events.append((status.group(1) if status else "?", kind.group(1) if kind else "?",
                           key.group(1) if key else line.strip()))
    if events:
        print(f"\nAnomaly episodes on lookout's log ({stderr_path}): {len(events)} events")
        for status, kind, key in events[:8]:
            print(f"  {status:<9} {kind:<12} {key}")
        if len(events) > 8:
            print(f"  ... and {len(events) - 8} more")


def timeline(spans, buckets=10):
    """Median frontend latency over the run, from its server spans, as a text chart."""
    roots = sorted((s for s in spans if s["service"] == "frontend" and s["kind"] == "server"),
                   key=lambda s: s["start"])
    if len(roots) < buckets:
        return
    t0, t1 = roots[0]["start"], roots[-1]["start"]
    width = max(1, (t1 - t0) // buckets + 1)
    groups = collections.defaultdict(list)
    for s in roots:
        groups[(s["start"] - t0) // width].append(ms(s["end"] - s["start"]))
    medians = {i: sorted(d)[len(d) // 2] for i, d in groups.items()}
    top = max(medians.values()) or 1.0
    print("\nFrontend latency over the run (median of its server spans per slice):")
    for i in range(buckets):
        if i in medians:
            start = (i * width) / 1e9
            errors = sum(1 for s in roots if (s["start"] - t0) // width == i and s["error"])
            bar = "#" * max(1, round(40 * medians[i] / top))
            print(f"  +{start:5.1f}s {medians[i]:7.1f} ms {bar:<40} {len(groups[i]):>4} requests, {errors} failed")


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    demo = sys.argv[1]
    out = os.path.join(demo, "out")
    spans = load_spans(os.path.join(out, "traces.jsonl"))
    points = load_metrics(os.path.join(out, "metrics.jsonl"))
    otlp_logs = load_logs(os.path.join(out, "logs.jsonl"))
    file_logs = load_logs(os.path.join(out, "filelog.jsonl"))

    print("=" * 100)
    print(f"What arrived at Lookout (collector output in {out})")
    print("=" * 100)

    print("\nRequests, errors and latency per service (from the services' http.server.request.duration):")
    rows = red_table(points)
    if not rows:
        print("  (no http.server.request.duration points arrived)")
    else:
        print(f"  {'service':<10} {'route':<24} {'requests':>8} {'5xx':>5} {'mean ms':>8} {'p95 ms <=':>10}")
        for (service, route), r in rows.items():
            mean = 1000 * r["sum"] / r["count"] if r["count"] else 0.0
            p95 = 1000 * quantile_from_buckets(r["bounds"] or [], r["buckets"] or [], 0.95)
            print(f"  {service:<10} {route:<24} {r['count']:>8} {r['errors']:>5} {mean:>8.1f} {p95:>10.0f}")

    print("\nSpans:")
    traces = collections.defaultdict(list)
    for s in spans:
        traces[s["trace"]].append(s)
    per_service = collections.Counter(s["service"] for s in spans)
    errors = collections.Counter(s["service"] for s in spans if s["error"])
    print(f"  {len(spans)} spans in {len(traces)} traces")
    for service, n in sorted(per_service.items()):
        print(f"  {service:<10} {n:>6} spans, {errors[service]:>4} with status ERROR")

    timeline(spans)

    anomalous = [s for s in spans if s["attrs"].get(ATTR_ANOMALY)]
    if any(ATTR_ANOMALY in s["attrs"] for s in spans):
        print(f"\nLatency anomalies tagged by Lookout: {len(anomalous)} spans")
        kinds = collections.Counter((s["service"], s["name"], s["attrs"].get("lookout.latency.kind", "?"))
                                    for s in anomalous)
        for (service, name, kind), n in kinds.most_common(10):
            print(f"  {service:<10} {name:<34} {kind:<12} {n}")
        print("  (shift/spike/degradation: slow in itself; propagated: slow because a callee is)")
    episodes(os.path.join(demo, "logs", "lookout.stderr"))

    print("\nMetrics:")
    by_source = collections.defaultdict(collections.Counter)
    for service, scope, name, _kind, _p in points:
        source = service or scope
        by_source[source][name] += 1
    for source, names in sorted(by_source.items()):
        listed = ", ".join(f"{n} ({c})" for n, c in sorted(names.items()))
        print(f"  {source}: {listed}")
    if not points:
        print("  (none)")

    print("\nLogs:")
    sev = collections.defaultdict(collections.Counter)
    for log in otlp_logs:
        sev[log["service"]][log["severity"]] += 1
    print(f"  OTLP (lookout-sdk): {len(otlp_logs)} records, {sum(1 for l in otlp_logs if l['trace'])} with a trace id")
    for service, c in sorted(sev.items()):
        print(f"    {service:<10} " + ", ".join(f"{k} {v}" for k, v in sorted(c.items())))
    files = collections.Counter(l["attrs"].get("log.file.name", "?") for l in file_logs)
    print(f"  filelog (the services' JSON log files): {len(file_logs)} records, "
          f"{sum(1 for l in file_logs if l['trace'])} with a trace id parsed from the line")
    for name, n in sorted(files.items()):
        print(f"    {name:<20} {n}")

    # The most telling trace: the slowest one that failed, else the slowest one, among traces
    # that reached all three services.
    complete = [t for t in traces.values() if {"frontend", "checkout", "inventory"} <= {s["service"] for s in t}]
    failed = [t for t in traces.values() if any(s["error"] for s in t) and any(s["service"] == "frontend" for s in t)]

    def duration(t):
        return max(s["end"] for s in t) - min(s["start"] for s in t)

    logs_by_span = collections.defaultdict(list)
    for log in sorted(otlp_logs, key=lambda l: l["time"]):
        if log["span"]:
            logs_by_span[log["span"]].append(log)
    shown = []
    if complete:
        shown.append(("Slowest trace through all three services", max(complete, key=duration)))
    if failed:
        shown.append(("Slowest failed trace", max(failed, key=duration)))
    for title, t in shown:
        trace_id = t[0]["trace"]
        in_files = sum(1 for l in file_logs if l["trace"] == trace_id)
        print(f"\n{title}: {trace_id} ({ms(duration(t)):.1f} ms, {len(t)} spans; "
              f"log records from the SDK under the span that wrote them; {in_files} matching lines came in through filelog)")
        print_tree(t, logs_by_span)
    if not shown:
        print("\n(no complete trace arrived)")

    print("\nWhere to look:")
    print(f"  collector output (OTLP/JSON, one export request per line): {out}/{{traces,metrics,logs,filelog}}.jsonl")
    print(f"  the services' JSON logs: {demo}/logs/{{frontend,checkout,inventory}}.log.json")
    print(f"  stderr of lookout (debug exporter) and the services: {demo}/logs/*.stderr")
    if shown:
        trace_id = shown[-1][1][0]["trace"]
        print(f"  everything about one trace: grep -h {trace_id} {demo}/logs/*.log.json {out}/*.jsonl")


if __name__ == "__main__":
    main()
