//! A real Rust client: the `opentelemetry-otlp` exporter (tonic, zstd) sends spans to lookout's
//! OTLP/gRPC receiver; lookout exports them over OTLP/gRPC with zstd to the test sink. Every span
//! arrives once with ids, names, timestamps, attributes, events, links, status, resource and
//! scope intact (compared with the SDK's in-memory exporter's copy of the same spans).

mod support;

use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry::trace::{
    Link, SpanContext, SpanId, SpanKind, Status, TraceContextExt, TraceFlags, TraceId, TraceState,
    Tracer, TracerProvider as _,
};
use opentelemetry::{Array, InstrumentationScope, KeyValue, Value as OtelValue};
use opentelemetry_otlp::{WithExportConfig, WithTonicConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use serde_json::{Map, Value, json};
use support::normalize::{self, assert_same_items};
use support::sink::Sink;
use support::{Lookout, otlp_exporter, simple_config};

fn nanos(t: SystemTime) -> u64 {
    u64::try_from(t.duration_since(UNIX_EPOCH).expect("after 1970").as_nanos()).expect("fits")
}

fn value(v: &OtelValue) -> Value {
    match v {
        OtelValue::Bool(b) => json!({ "b": b }),
        OtelValue::I64(i) => json!({ "i": i }),
        OtelValue::F64(d) => json!({ "d": d }),
        OtelValue::String(s) => json!({ "s": s.as_str() }),
        OtelValue::Array(Array::Bool(a)) => {
            json!({ "a": a.iter().map(|b| json!({ "b": b })).collect::<Vec<_>>() })
        }
        OtelValue::Array(Array::I64(a)) => {
            json!({ "a": a.iter().map(|i| json!({ "i": i })).collect::<Vec<_>>() })
        }
        OtelValue::Array(Array::F64(a)) => {
            json!({ "a": a.iter().map(|d| json!({ "d": d })).collect::<Vec<_>>() })
        }
        OtelValue::Array(Array::String(a)) => {
            json!({ "a": a.iter().map(|s| json!({ "s": s.as_str() })).collect::<Vec<_>>() })
        }
        other => json!({ "unsupported": format!("{other:?}") }),
    }
}

fn attributes<'a>(kvs: impl IntoIterator<Item = &'a KeyValue>) -> Value {
    let mut map = Map::new();
    for kv in kvs {
        map.insert(kv.key.to_string(), value(&kv.value));
    }
    Value::Object(map)
}

/// The span as the SDK handed it to its exporters, in the shape of [`normalize::spans`].
fn expected(span: &SpanData, resource: &Resource) -> Value {
    let kind = match span.span_kind {
        SpanKind::Internal => 1,
        SpanKind::Server => 2,
        SpanKind::Client => 3,
        SpanKind::Producer => 4,
        SpanKind::Consumer => 5,
    };
    let (code, message) = match &span.status {
        Status::Unset => (0, String::new()),
        Status::Ok => (1, String::new()),
        Status::Error { description } => (2, description.to_string()),
    };
    let mut res = Map::new();
    for (k, v) in resource.iter() {
        res.insert(k.to_string(), value(v));
    }
    json!({
        "trace_id": span.span_context.trace_id().to_string(),
        "span_id": span.span_context.span_id().to_string(),
        "parent_span_id": if span.parent_span_id == SpanId::INVALID { String::new() } else { span.parent_span_id.to_string() },
        "name": span.name,
        "kind": kind,
        "start": nanos(span.start_time),
        "end": nanos(span.end_time),
        "attributes": attributes(&span.attributes),
        "events": span.events.iter().map(|e| json!({
            "name": e.name,
            "time": nanos(e.timestamp),
            "attributes": attributes(&e.attributes),
        })).collect::<Vec<_>>(),
        "links": span.links.iter().map(|l| json!({
            "trace_id": l.span_context.trace_id().to_string(),
            "span_id": l.span_context.span_id().to_string(),
            "attributes": attributes(&l.attributes),
        })).collect::<Vec<_>>(),
        "status": { "code": code, "message": message },
        "resource": Value::Object(res),
        "scope": {
            "name": span.instrumentation_scope.name(),
            "version": span.instrumentation_scope.version().unwrap_or(""),
        },
    })
}

/// Emits the spans through a provider with the real OTLP exporter and an in-memory copy.
fn emit(grpc_port: u16) -> (Vec<SpanData>, Resource) {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(format!("http://127.0.0.1:{grpc_port}"))
        .with_compression(opentelemetry_otlp::Compression::Zstd)
        .build()
        .expect("build the OTLP exporter");
    let memory = InMemorySpanExporter::default();
    let resource = Resource::builder_empty()
        .with_service_name("lookout-rust-peer")
        .with_attribute(KeyValue::new("deployment.replicas", 2))
        .build();
    let provider = SdkTracerProvider::builder()
        .with_resource(resource.clone())
        .with_simple_exporter(memory.clone())
        .with_simple_exporter(exporter)
        .build();
    let tracer = provider.tracer_with_scope(
        InstrumentationScope::builder("lookout.tests.rust")
            .with_version("0.9.1")
            .build(),
    );
    let linked = SpanContext::new(
        TraceId::from_hex("5b8efff798038103d269b633813fc60c").expect("hex"),
        SpanId::from_hex("eee19b7ec3c1b174").expect("hex"),
        TraceFlags::SAMPLED,
        true,
        TraceState::default(),
    );
    tracer.in_span("rust-root", |cx| {
        let span = cx.span();
        span.set_attribute(KeyValue::new("http.method", "GET"));
        span.set_attribute(KeyValue::new("retries", 3));
        span.set_attribute(KeyValue::new("ratio", 0.75));
        span.set_attribute(KeyValue::new("cached", true));
        span.set_attribute(KeyValue::new(
            "tags",
            OtelValue::Array(Array::String(vec!["x".into(), "ÿ".into()])),
        ));
        span.add_event("started", vec![KeyValue::new("step", 1)]);
        span.add_link(linked.clone(), vec![KeyValue::new("link.why", "retry")]);
        span.set_status(Status::error("rust boom"));
        let child = tracer
            .span_builder("rust-child")
            .with_kind(SpanKind::Client)
            .with_links(vec![Link::with_context(linked.clone())])
            .start(&tracer);
        drop(child);
    });
    provider.force_flush().expect("flush the provider");
    // Read before shutdown: shutting the in-memory exporter down clears it.
    let spans = memory.get_finished_spans().expect("in-memory spans");
    provider.shutdown().expect("shut down the provider");
    (spans, resource)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opentelemetry_otlp_grpc_to_lookout_to_sink() {
    let sink = Sink::start().await;
    let lookout = Lookout::start(|p| {
        simple_config(
            p,
            "    timeout: 50ms\n",
            &otlp_exporter("otlp", sink.port, "zstd"),
            "[otlp]",
        )
    })
    .await;
    let port = lookout.ports.grpc;
    // The SDK's simple processor blocks on each export: run it off the async workers.
    let (spans, resource) = tokio::task::spawn_blocking(move || emit(port))
        .await
        .expect("the client ran");
    assert_eq!(spans.len(), 2, "the client emitted two spans");
    let accepted = lookout.metrics().await.value(
        "lookout_receiver_accepted_spans_total",
        &[("receiver", "otlp"), ("transport", "grpc")],
    );
    assert_eq!(accepted, 2.0, "lookout accepted both spans over gRPC");
    lookout.stop_ok().await;
    let want: Vec<Value> = spans.iter().map(|s| expected(s, &resource)).collect();
    assert_same_items(
        "rust client spans",
        &normalize::spans(&sink.traces()),
        &want,
    );
    let encodings = sink.encodings();
    assert!(
        !encodings.is_empty() && encodings.iter().all(|e| e == "zstd"),
        "lookout's exporter was configured for zstd, sink saw {encodings:?}"
    );
}
