#!/usr/bin/env python3
"""Sends the traces of tests/correlate_sample.rs through the OpenTelemetry Python SDK's real
OTLP/gRPC exporter, with ids the test chose in advance.

    sample_spans.py --endpoint 127.0.0.1:PORT --traces N --error-every K
    sample_spans.py --endpoint 127.0.0.1:PORT --late I,J,...

Trace i (0-based) has trace id 5A4D000000000000 followed by i+1 as 16 hex digits; its root
`GET /cart/i` has span id 2000+16*i+1 and its three children 2000+16*i+2..4 (hex). Every K-th
trace (i % K == 0) has a child with status ERROR. With --late, each listed trace gets one more
child (span id 2000+16*i+9), parented to its root, sent as a remote child. Exits non-zero if an
export fails.
"""

import argparse
import sys

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode, TraceFlags

# send.py's exporter wrapper: records failed exports in send.FAILURES.
from send import FAILURES, CheckedSpans

PREFIX = 0x5A4D000000000000


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
    parser.add_argument("--traces", type=int, default=0)
    parser.add_argument("--error-every", type=int, default=0)
    parser.add_argument("--late", default="")
    args = parser.parse_args()

    ids = Planned()
    resource = Resource.create({"service.name": "cart", "host.name": "web-3"})
    provider = TracerProvider(resource=resource, id_generator=ids)
    exporter = OTLPSpanExporter(endpoint=args.endpoint, insecure=True, timeout=10)
    provider.add_span_processor(
        BatchSpanProcessor(
            CheckedSpans(exporter),
            max_queue_size=1 << 20,
            max_export_batch_size=512,
            schedule_delay_millis=50,
        )
    )
    tracer = provider.get_tracer("sample-test")
    for i in range(args.traces):
        ids.trace_ids.append((PREFIX << 64) | (i + 1))
        ids.span_ids.extend(0x2000 + 16 * i + k for k in range(1, 5))
        with tracer.start_as_current_span(f"GET /cart/{i}", kind=SpanKind.SERVER):
            for k in range(3):
                with tracer.start_as_current_span(f"step {k}", kind=SpanKind.CLIENT) as span:
                    if k == 1 and args.error_every and i % args.error_every == 0:
                        span.set_status(Status(StatusCode.ERROR, "failed"))
    for i in (int(x) for x in args.late.split(",") if x):
        root = SpanContext(
            trace_id=(PREFIX << 64) | (i + 1),
            span_id=0x2000 + 16 * i + 1,
            is_remote=True,
            trace_flags=TraceFlags(TraceFlags.SAMPLED),
        )
        ids.span_ids.append(0x2000 + 16 * i + 9)
        parent = trace.set_span_in_context(NonRecordingSpan(root))
        with tracer.start_as_current_span("late", context=parent, kind=SpanKind.CLIENT):
            pass
    provider.shutdown()
    if FAILURES:
        print("\n".join(FAILURES), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
