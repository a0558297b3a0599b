#!/usr/bin/env python3
"""Sends the spans of tests/correlate.rs through the OpenTelemetry Python SDK's real OTLP/gRPC
exporter, with ids the test chose in advance (so it can write log lines before the spans exist).

    correlate_spans.py --endpoint 127.0.0.1:PORT --traces N [--verdict]

Trace i (0-based) has trace id C0FFEE0000000000 followed by i+1 as 16 hex digits; its root span
`GET /order/i` has span id 1000+16*i+1 and its child `db.query` 1000+16*i+2 (hex). With --verdict, trace 0's `db.query` carries the latency_anomaly verdict
(`lookout.latency.anomaly=true`, `lookout.latency.kind=spike`), as a tagging tier would send it.
Exits non-zero if an export fails.
"""

import argparse
import sys

from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.trace import SpanKind

# send.py's exporter wrapper: records failed exports in send.FAILURES.
from send import FAILURES, CheckedSpans


class Planned(IdGenerator):
    """Hands out the ids the test planned, in the order the SDK asks for them."""

    def __init__(self):
        self.trace_ids = []
        self.span_ids = []

    def generate_trace_id(self):
        return self.trace_ids.pop(0)

    def generate_span_id(self):
        return self.span_ids.pop(0)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--traces", type=int, required=True)
    parser.add_argument("--verdict", action="store_true")
    args = parser.parse_args()

    ids = Planned()
    resource = Resource.create(
        {"service.name": "orders", "service.version": "3.1", "host.name": "web-7"}
    )
    provider = TracerProvider(resource=resource, id_generator=ids)
    exporter = OTLPSpanExporter(endpoint=args.endpoint, insecure=True, timeout=10)
    provider.add_span_processor(SimpleSpanProcessor(CheckedSpans(exporter)))
    tracer = provider.get_tracer("correlate-test")
    for i in range(args.traces):
        ids.trace_ids.append((0xC0FFEE0000000000 << 64) | (i + 1))
        ids.span_ids.extend([0x1000 + 16 * i + 1, 0x1000 + 16 * i + 2])
        with tracer.start_as_current_span(f"GET /order/{i}", kind=SpanKind.SERVER):
            with tracer.start_as_current_span("db.query", kind=SpanKind.CLIENT) as child:
                if args.verdict and i == 0:
                    child.set_attribute("lookout.latency.anomaly", True)
                    child.set_attribute("lookout.latency.kind", "spike")
    provider.shutdown()
    if FAILURES:
        print("\n".join(FAILURES), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
