#!/usr/bin/env python3
"""Emits a known set of spans, metrics or logs through the OpenTelemetry Python SDK's real OTLP
exporter and prints, as one JSON document on stdout, exactly what was exported.

    send.py --protocol grpc|http|json --endpoint URL --signal traces|metrics|logs [--timeout S]
            [--tls]

--endpoint is `127.0.0.1:PORT` for grpc and `http://127.0.0.1:PORT` for http/json (the signal
path is appended). With --tls, the gRPC exporter is not forced to plain text: give
`https://127.0.0.1:PORT`, and the CA and client certificate through the SDK's own variables
(OTEL_EXPORTER_OTLP_CERTIFICATE, OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE,
OTEL_EXPORTER_OTLP_CLIENT_KEY); for http/json an https:// endpoint is enough. What was emitted is learned from the SDK itself, not re-stated: spans and
logs through the SDK's in-memory exporters running beside the OTLP one, metrics by recording
the MetricsData handed to the OTLP exporter. The script exits non-zero if any OTLP export
reports failure, so a test never compares against data that was not accepted.

The output shape (mirrored by the Rust integration test) tags every attribute value with its
type: {"s": str}, {"b": bool}, {"i": int}, {"d": float}, {"a": [...]}, {"kv": {...}}.
"""

import argparse
import json
import sys

from opentelemetry import trace
from opentelemetry._logs import SeverityNumber
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import (
    InMemoryLogRecordExporter,
    LogRecordExportResult,
    SimpleLogRecordProcessor,
)
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    Gauge,
    Histogram,
    MetricExporter,
    MetricExportResult,
    PeriodicExportingMetricReader,
    Sum,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import (
    Link,
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
)

FAILURES = []


def exporters(protocol, endpoint, timeout, tls=False):
    """The SDK's real OTLP exporters for the protocol: (span, metric, log). `timeout` (seconds)
    bounds each export, retries of retryable refusals included."""
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        kw = {"endpoint": endpoint, "timeout": timeout}
        if not tls:
            kw["insecure"] = True
        return OTLPSpanExporter, OTLPMetricExporter, OTLPLogExporter, kw, None
    if protocol == "http":
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter, OTLPMetricExporter, OTLPLogExporter, {"timeout": timeout}, endpoint
    if protocol == "json":
        from opentelemetry.exporter.otlp.json.http._log_exporter import OTLPLogExporter
        from opentelemetry.exporter.otlp.json.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.json.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter, OTLPMetricExporter, OTLPLogExporter, {"timeout": timeout}, endpoint
    raise SystemExit(f"unknown protocol {protocol}")


def make_exporter(cls, kw, base, path):
    if base is None:
        return cls(**kw)
    return cls(endpoint=base.rstrip("/") + path, **kw)


class CheckedSpans(SpanExporter):
    """Passes spans to the real exporter and remembers failures."""

    def __init__(self, inner):
        self.inner = inner

    def export(self, spans):
        result = self.inner.export(spans)
        if result != SpanExportResult.SUCCESS:
            FAILURES.append(f"span export returned {result}")
        return result

    def shutdown(self):
        self.inner.shutdown()

    def force_flush(self, timeout_millis=30000):
        return True


class CheckedLogs(InMemoryLogRecordExporter):
    """Passes log records to the real exporter and remembers failures."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def export(self, batch):
        result = self.inner.export(batch)
        if result != LogRecordExportResult.SUCCESS:
            FAILURES.append(f"log export returned {result}")
        return result

    def shutdown(self):
        self.inner.shutdown()


class TeeMetrics(MetricExporter):
    """Records each MetricsData handed to the real exporter, then exports it."""

    def __init__(self, inner):
        super().__init__(
            preferred_temporality=inner._preferred_temporality,
            preferred_aggregation=inner._preferred_aggregation,
        )
        self.inner = inner
        self.exported = []

    def export(self, metrics_data, timeout_millis=10_000, **kwargs):
        if any(sm.metrics for rm in metrics_data.resource_metrics for sm in rm.scope_metrics):
            self.exported.append(metrics_data)
        result = self.inner.export(metrics_data, timeout_millis=timeout_millis)
        if result != MetricExportResult.SUCCESS:
            FAILURES.append(f"metric export returned {result}")
        return result

    def force_flush(self, timeout_millis=10_000):
        return self.inner.force_flush(timeout_millis)

    def shutdown(self, timeout_millis=30_000, **kwargs):
        self.inner.shutdown()


def value(v):
    """An attribute or body value, tagged with its OTLP AnyValue type."""
    if isinstance(v, bool):
        return {"b": v}
    if isinstance(v, int):
        return {"i": v}
    if isinstance(v, float):
        return {"d": v}
    if isinstance(v, str):
        return {"s": v}
    if isinstance(v, (bytes, bytearray)):
        return {"bytes": bytes(v).hex()}
    if isinstance(v, dict):
        return {"kv": {k: value(x) for k, x in v.items()}}
    if isinstance(v, (list, tuple)):
        return {"a": [value(x) for x in v]}
    raise TypeError(f"unexpected value {v!r}")


def attrs(a):
    return {k: value(v) for k, v in (a or {}).items()}


def scope(s):
    return {"name": s.name, "version": s.version or ""}


RESOURCE = Resource.create(
    {
        "service.name": "lookout-python-peer",
        "service.instance.id": "peer-1",
        "deployment.replicas": 3,
        "host.arm": False,
    }
)


def send_traces(exp_cls, kw, base):
    memory = InMemorySpanExporter()
    real = CheckedSpans(make_exporter(exp_cls, kw, base, "/v1/traces"))
    provider = TracerProvider(resource=RESOURCE)
    provider.add_span_processor(SimpleSpanProcessor(memory))
    provider.add_span_processor(SimpleSpanProcessor(real))
    tracer = provider.get_tracer("lookout.tests.python", "1.2.3")
    linked = SpanContext(
        trace_id=0x5B8EFFF798038103D269B633813FC60C,
        span_id=0xEEE19B7EC3C1B174,
        is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
    )
    with tracer.start_as_current_span(
        "checkout",
        kind=SpanKind.SERVER,
        attributes={
            "http.method": "POST",
            "http.status_code": 201,
            "ratio": 0.25,
            "cache.hit": True,
            "tags": ["a", "b", "ünïcødé"],
            "sizes": [1, 2, 3],
            "weights": [0.5, 1.5],
            "flags": [True, False],
        },
        links=[Link(linked, {"link.kind": "follows", "link.n": 7})],
    ) as root:
        root.add_event("validated", {"items": 3, "note": "ok"}, timestamp=1_700_000_000_123_456_789)
        root.add_event("no-attrs")
        with tracer.start_as_current_span("db.query", kind=SpanKind.CLIENT) as child:
            child.set_attribute("db.statement", "SELECT 1")
            child.set_status(Status(StatusCode.ERROR, "boom"))
            with tracer.start_as_current_span("retry", kind=SpanKind.INTERNAL):
                pass
        with tracer.start_as_current_span("publish", kind=SpanKind.PRODUCER) as p:
            p.set_status(Status(StatusCode.OK))
        with tracer.start_as_current_span("consume", kind=SpanKind.CONSUMER):
            pass
    provider.shutdown()
    out = []
    for s in memory.get_finished_spans():
        out.append(
            {
                "trace_id": format(s.context.trace_id, "032x"),
                "span_id": format(s.context.span_id, "016x"),
                "parent_span_id": format(s.parent.span_id, "016x") if s.parent else "",
                "name": s.name,
                "kind": s.kind.value + 1,  # the API's INTERNAL=0 is OTLP's SPAN_KIND_INTERNAL=1
                "start": s.start_time,
                "end": s.end_time,
                "attributes": attrs(s.attributes),
                "events": [
                    {"name": e.name, "time": e.timestamp, "attributes": attrs(e.attributes)}
                    for e in s.events
                ],
                "links": [
                    {
                        "trace_id": format(l.context.trace_id, "032x"),
                        "span_id": format(l.context.span_id, "016x"),
                        "attributes": attrs(l.attributes),
                    }
                    for l in s.links
                ],
                "status": {
                    "code": s.status.status_code.value,
                    "message": s.status.description or "",
                },
                "resource": attrs(s.resource.attributes),
                "scope": scope(s.instrumentation_scope),
            }
        )
    return out


def send_metrics(exp_cls, kw, base):
    tee = TeeMetrics(make_exporter(exp_cls, kw, base, "/v1/metrics"))
    # A long interval: the one export happens at shutdown, after everything was recorded.
    reader = PeriodicExportingMetricReader(tee, export_interval_millis=3_600_000)
    provider = MeterProvider(resource=RESOURCE, metric_readers=[reader])
    meter = provider.get_meter("lookout.tests.python.meter", "4.5.6")
    counter = meter.create_counter("requests", unit="1", description="requests served")
    counter.add(5, {"route": "/a", "ok": True})
    counter.add(2, {"route": "/b", "ok": False})
    counter.add(1, {"route": "/a", "ok": True})
    updown = meter.create_up_down_counter("queue.depth", unit="{item}", description="queued")
    updown.add(10, {"queue": "q1"})
    updown.add(-4, {"queue": "q1"})
    hist = meter.create_histogram("latency", unit="ms", description="request latency")
    for v in (0.5, 3.0, 12.5, 250.0, 7.25):
        hist.record(v, {"route": "/a"})
    hist.record(99.0, {"route": "/b"})

    def observe(_options):
        from opentelemetry.metrics import Observation

        yield Observation(21.5, {"room": "kitchen"})
        yield Observation(-3, {"room": "cellar"})

    meter.create_observable_gauge("temperature", [observe], unit="Cel", description="room temp")
    provider.shutdown()
    out = []
    for md in tee.exported:
        for rm in md.resource_metrics:
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    for p in m.data.data_points:
                        point = {
                            "resource": attrs(rm.resource.attributes),
                            "scope": scope(sm.scope),
                            "metric": m.name,
                            "description": m.description or "",
                            "unit": m.unit or "",
                            "attributes": attrs(p.attributes),
                            "start": p.start_time_unix_nano or 0,
                            "time": p.time_unix_nano,
                        }
                        if isinstance(m.data, Sum):
                            point["kind"] = "sum"
                            point["monotonic"] = m.data.is_monotonic
                            point["temporality"] = m.data.aggregation_temporality.value
                            point["value"] = value(p.value)
                        elif isinstance(m.data, Gauge):
                            point["kind"] = "gauge"
                            point["value"] = value(p.value)
                        elif isinstance(m.data, Histogram):
                            point["kind"] = "histogram"
                            point["temporality"] = m.data.aggregation_temporality.value
                            point["count"] = p.count
                            point["sum"] = float(p.sum)
                            point["bucket_counts"] = list(p.bucket_counts)
                            point["bounds"] = [float(b) for b in p.explicit_bounds]
                            point["min"] = float(p.min)
                            point["max"] = float(p.max)
                        else:
                            raise TypeError(f"unexpected metric data {m.data!r}")
                        out.append(point)
    return out


def send_logs(exp_cls, kw, base):
    memory = InMemoryLogRecordExporter()
    real = CheckedLogs(make_exporter(exp_cls, kw, base, "/v1/logs"))
    provider = LoggerProvider(resource=RESOURCE)
    provider.add_log_record_processor(SimpleLogRecordProcessor(memory))
    provider.add_log_record_processor(SimpleLogRecordProcessor(real))
    logger = provider.get_logger("lookout.tests.python.logger", "7.8.9")
    ctx = trace.set_span_in_context(
        NonRecordingSpan(
            SpanContext(
                trace_id=0x0AF7651916CD43DD8448EB211C80319C,
                span_id=0xB7AD6B7169203331,
                is_remote=False,
                trace_flags=TraceFlags(TraceFlags.SAMPLED),
            )
        )
    )
    logger.emit(
        timestamp=1_700_000_001_000_000_001,
        context=ctx,
        severity_number=SeverityNumber.ERROR,
        severity_text="ERROR",
        body="payment failed: card declined",
        attributes={"user.id": 42, "amount": 12.75, "retry": False, "codes": ["E1", "E2"]},
    )
    logger.emit(
        timestamp=1_700_000_002_000_000_002,
        severity_number=SeverityNumber.INFO,
        severity_text="INFO",
        body={"event": "login", "attempt": 2, "ok": True},
        attributes={"component": "auth"},
    )
    logger.emit(
        severity_number=SeverityNumber.WARN,
        severity_text="WARN",
        body="no timestamp given; observed only",
    )
    provider.shutdown()
    out = []
    for r in memory.get_finished_logs():
        rec = r.log_record
        out.append(
            {
                "resource": attrs(r.resource.attributes),
                "scope": scope(r.instrumentation_scope),
                "time": rec.timestamp or 0,
                "observed_time": rec.observed_timestamp or 0,
                "severity_number": rec.severity_number.value if rec.severity_number else 0,
                "severity_text": rec.severity_text or "",
                "body": value(rec.body),
                "attributes": attrs(rec.attributes),
                "trace_id": format(rec.trace_id, "032x") if rec.trace_id else "",
                "span_id": format(rec.span_id, "016x") if rec.span_id else "",
            }
        )
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--protocol", required=True, choices=["grpc", "http", "json"])
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--signal", required=True, choices=["traces", "metrics", "logs"])
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument("--tls", action="store_true")
    args = parser.parse_args()
    span_cls, metric_cls, log_cls, kw, base = exporters(
        args.protocol, args.endpoint, args.timeout, args.tls
    )
    if args.signal == "traces":
        items = send_traces(span_cls, kw, base)
    elif args.signal == "metrics":
        items = send_metrics(metric_cls, kw, base)
    else:
        items = send_logs(log_cls, kw, base)
    if FAILURES:
        print("OTLP export failed: " + "; ".join(FAILURES), file=sys.stderr)
        return 1
    if not items:
        print("nothing was emitted", file=sys.stderr)
        return 1
    json.dump({"signal": args.signal, "protocol": args.protocol, "items": items}, sys.stdout, sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
