#!/usr/bin/env python3
"""Sends the span and the log record of tests/redaction.rs through the OpenTelemetry Python
SDK's real OTLP/gRPC exporters: secrets (a card number, an email, a bearer token) in
attributes and in the log body, beside attributes that must pass untouched.

    redaction_send.py --endpoint 127.0.0.1:PORT

Exits non-zero if an export fails.
"""

import argparse
import sys

from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

# send.py's exporter wrappers: record failed exports in send.FAILURES.
from send import FAILURES, CheckedLogs, CheckedSpans

SECRETS = {
    "payment.card": "4111 1111 1111 1111",
    "user.email": "ann.lee@example.com",
    "http.request.header.authorization": "Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig",
    "note": "retry with bearer abc123XYZ please",
}
PLAIN = {
    "http.route": "/checkout/pay",
    "order.id": "1234567812345678",
    "retries": 3,
}
BODY = "charged 4111-1111-1111-1111 for ann.lee@example.com (Authorization: Bearer tok.en-42)"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoint", required=True)
    args = parser.parse_args()
    resource = Resource.create({"service.name": "shop", "owner.email": "ops@example.com"})

    traces = TracerProvider(resource=resource)
    exporter = OTLPSpanExporter(endpoint=args.endpoint, insecure=True, timeout=10)
    traces.add_span_processor(SimpleSpanProcessor(CheckedSpans(exporter)))
    with traces.get_tracer("redaction-test").start_as_current_span("POST /checkout/pay") as span:
        span.set_attributes({**SECRETS, **PLAIN})
    traces.shutdown()

    logs = LoggerProvider(resource=resource)
    exporter = OTLPLogExporter(endpoint=args.endpoint, insecure=True, timeout=10)
    logs.add_log_record_processor(SimpleLogRecordProcessor(CheckedLogs(exporter)))
    logs.get_logger("redaction-test").emit(
        severity_number=SeverityNumber.INFO,
        severity_text="INFO",
        body=BODY,
        attributes={**SECRETS, **PLAIN},
    )
    logs.shutdown()
    if FAILURES:
        print("\n".join(FAILURES), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
