"""Generates the seed corpora of fuzz/corpus/ from the OpenTelemetry Python SDK's own requests.

Run from the repository root with the SDK installed (the workspace's .venv):
    .venv/bin/python fuzz/seeds/gen.py
Spans, log records and metrics are produced through the SDK, encoded with the OTLP exporters'
encoder (`opentelemetry.exporter.otlp.proto.common`, the bytes the OTLP exporters send), and
converted to OTLP/JSON (hex ids, integer enums) for the JSON target.
"""
import base64, gzip, json, os, struct, sys, zlib, logging

from google.protobuf.json_format import MessageToDict
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor, InMemoryLogExporter
from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "corpus")
res = Resource.create({"service.name": "checkout", "host.name": "node-1", "k8s.pod.uid": "abc"})


def write(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


# --- traces
span_exp = InMemorySpanExporter()
tp = TracerProvider(resource=res)
tp.add_span_processor(SimpleSpanProcessor(span_exp))
tracer = tp.get_tracer("shop.checkout", "1.2.3")
with tracer.start_as_current_span("POST /checkout", kind=trace.SpanKind.SERVER,
                                  attributes={"http.method": "POST", "http.status_code": 500,
                                              "retry": True, "ratio": 0.25,
                                              "tags": ["a", "b"], "ints": [1, 2, 3]}) as s:
    s.add_event("exception", {"exception.message": "card 4111-1111-1111-1111 declined"})
    with tracer.start_as_current_span("SELECT orders", kind=trace.SpanKind.CLIENT) as c:
        c.set_attribute("db.statement", "select * from orders where email='a@b.c'")
        c.set_status(Status(StatusCode.ERROR, "timeout"))
    link_ctx = c.get_span_context()
with tracer.start_as_current_span("worker", links=[trace.Link(link_ctx, {"l": 1})]):
    pass
spans = span_exp.get_finished_spans()
traces = [encode_spans(spans[:1]), encode_spans(spans)]

# --- metrics
reader = InMemoryMetricReader()
mp = MeterProvider(resource=res, metric_readers=[reader])
m = mp.get_meter("shop.metrics", "0.1")
cnt = m.create_counter("requests", unit="1", description="requests served")
hist = m.create_histogram("latency", unit="ms")
ud = m.create_up_down_counter("queue.depth")
from opentelemetry.metrics import Observation
m.create_observable_gauge("cpu", callbacks=[lambda o: [Observation(0.5, {"cpu": "0"}), Observation(0.7, {"cpu": "1"})]])
for i in range(5):
    cnt.add(1 + i, {"route": "/checkout", "code": str(200 + i)})
    hist.record(3.5 * i, {"route": "/checkout"})
    ud.add(-i, {"q": "orders"})
metrics = [encode_metrics(reader.get_metrics_data())]
cnt.add(7, {"route": "/cart"})
metrics.append(encode_metrics(reader.get_metrics_data()))

# --- logs
log_exp = InMemoryLogExporter()
lp = LoggerProvider(resource=res)
lp.add_log_record_processor(SimpleLogRecordProcessor(log_exp))
log = logging.getLogger("shop")
log.setLevel(logging.DEBUG)
log.addHandler(LoggingHandler(level=logging.DEBUG, logger_provider=lp))
log.propagate = False
log.info("order %s placed", 42)
with tracer.start_as_current_span("in-span"):
    log.error("payment failed for user@example.com", extra={"order.id": 42, "amount": 9.99})
log.warning("disk at 91%%")
logs_batch = log_exp.get_finished_logs()
logs = [encode_logs(logs_batch[:1]), encode_logs(logs_batch)]


def strip_code_attributes(request):
    """Drops `code.*` attributes (this script's path on the machine that ran it)."""
    for rl in request.resource_logs:
        for sl in rl.scope_logs:
            for rec in sl.log_records:
                keep = [kv for kv in rec.attributes if not kv.key.startswith("code.")]
                del rec.attributes[:]
                rec.attributes.extend(keep)
    return request


logs = [strip_code_attributes(r) for r in logs]


def to_json(msg):
    """OTLP/JSON: lowerCamelCase, integer enums, hex trace/span ids, int64 as strings."""
    d = MessageToDict(msg, use_integers_for_enums=True)

    def fix(x):
        if isinstance(x, dict):
            for k, v in list(x.items()):
                if k in ("traceId", "spanId", "parentSpanId") and isinstance(v, str):
                    x[k] = base64.b64decode(v).hex()
                else:
                    fix(v)
        elif isinstance(x, list):
            for v in x:
                fix(v)
    fix(d)
    return json.dumps(d).encode()


def frame(flag, payload):
    return bytes([flag]) + struct.pack(">I", len(payload)) + payload


signals = [("traces", traces), ("logs", logs), ("metrics", metrics)]
for sig_i, (sig, msgs) in enumerate(signals):
    for i, msg in enumerate(msgs):
        pb = msg.SerializeToString()
        js = to_json(msg)
        write("wire_validate", f"{sig}-{i}.pb", pb)
        # edit/splice/split: one parameter byte, then the request.
        if sig != "metrics":
            write("wire_edit", f"{sig}-{i}.pb", bytes([sig_i + 4 * i]) + pb)
            write("wire_splice", f"{sig}-{i}.pb", bytes([sig_i + 4 * i]) + pb)
        write("wire_split", f"{sig}-{i}.pb", bytes([sig_i + 4 * (i + 1)]) + pb)
        # JSON: one byte choosing the signal, then the body.
        write("otlp_json", f"{sig}-{i}.json", bytes([sig_i]) + js)
        # gRPC: codec byte, limit byte, then the unary body (plain and compressed).
        write("grpc_frame", f"{sig}-{i}-identity", bytes([0, 255]) + frame(0, pb))
        write("grpc_frame", f"{sig}-{i}-gzip", bytes([1, 255]) + frame(1, gzip.compress(pb)))
        write("grpc_frame", f"{sig}-{i}-deflate", bytes([2, 255]) + frame(1, zlib.compress(pb)))
# zstd (the SDK's Python has no zstd module): the `zstd` command line, when installed.
import shutil, subprocess
if shutil.which("zstd"):
    for sig, msgs in signals:
        pb = msgs[-1].SerializeToString()
        z = subprocess.run(["zstd", "-q", "-c", "-"], input=pb, capture_output=True, check=True).stdout
        write("grpc_frame", f"{sig}-{len(msgs) - 1}-zstd", bytes([3, 255]) + frame(1, z))
print("ok")
