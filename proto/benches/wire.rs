//! Wire-level OTLP vs prost on a realistic 512-span request.
//!
//! `cargo bench -p lookout-proto --bench wire -- --warm-up-time 1 --measurement-time 3`

// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use lookout_proto::otlp::collector::trace::v1::ExportTraceServiceRequest;
use lookout_proto::otlp::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use lookout_proto::otlp::resource::v1::Resource;
use lookout_proto::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span, Status, span};
use lookout_proto::wire::{
    SpanEdit, TracesView, append_span_attributes, split_traces, validate_traces,
    validate_traces_with,
};
use prost::Message;

const SPANS: usize = 512;

fn s(v: &str) -> Option<AnyValue> {
    Some(AnyValue {
        value: Some(any_value::Value::StringValue(v.into())),
    })
}

fn i(v: i64) -> Option<AnyValue> {
    Some(AnyValue {
        value: Some(any_value::Value::IntValue(v)),
    })
}

fn kv(key: &str, value: Option<AnyValue>) -> KeyValue {
    KeyValue {
        key: key.into(),
        value,
        key_strindex: 0,
    }
}

/// 4 services × 2 scopes × 64 spans; 10 attributes per span, like an HTTP/DB-instrumented app.
fn request() -> ExportTraceServiceRequest {
    let mut n = 0u64;
    let resource_spans = (0..4)
        .map(|r| ResourceSpans {
            resource: Some(Resource {
                attributes: vec![
                    kv("service.name", s(&format!("service-{r}"))),
                    kv("service.version", s("1.4.2")),
                    kv("host.name", s(&format!("ip-10-0-0-{r}.ec2.internal"))),
                    kv("telemetry.sdk.language", s("rust")),
                ],
                ..Default::default()
            }),
            scope_spans: (0..2)
                .map(|sc| ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name: format!("io.opentelemetry.scope-{sc}"),
                        version: "0.33.0".into(),
                        ..Default::default()
                    }),
                    spans: (0..SPANS / 8)
                        .map(|_| {
                            n += 1;
                            Span {
                                trace_id: (n / 8).to_le_bytes().repeat(2),
                                span_id: n.to_le_bytes().to_vec(),
                                parent_span_id: if n.is_multiple_of(8) {
                                    vec![]
                                } else {
                                    (n - 1).to_le_bytes().to_vec()
                                },
                                name: format!("GET /api/v1/orders/{}", n % 17),
                                kind: 2,
                                start_time_unix_nano: 1_700_000_000_000_000_000 + n * 1000,
                                end_time_unix_nano: 1_700_000_000_000_000_000 + n * 1000 + 250_000,
                                attributes: vec![
                                    kv("http.request.method", s("GET")),
                                    kv("url.path", s(&format!("/api/v1/orders/{}", n % 17))),
                                    kv("url.scheme", s("https")),
                                    kv("http.response.status_code", i(200)),
                                    kv("server.address", s("orders.internal")),
                                    kv("server.port", i(8443)),
                                    kv("network.protocol.version", s("1.1")),
                                    kv("user_agent.original", s("Mozilla/5.0 (X11; Linux x86_64)")),
                                    kv("client.address", s("10.1.2.3")),
                                    kv("db.system", s("postgresql")),
                                ],
                                events: if n.is_multiple_of(16) {
                                    vec![span::Event {
                                        time_unix_nano: 1,
                                        name: "exception".into(),
                                        ..Default::default()
                                    }]
                                } else {
                                    vec![]
                                },
                                status: Some(Status {
                                    code: 1,
                                    message: String::new(),
                                }),
                                ..Default::default()
                            }
                        })
                        .collect(),
                    schema_url: String::new(),
                })
                .collect(),
            schema_url: "https://opentelemetry.io/schemas/1.26.0".into(),
        })
        .collect();
    ExportTraceServiceRequest { resource_spans }
}

fn tag() -> Vec<KeyValue> {
    vec![kv("lookout.sampled", s("true")), kv("lookout.tier", i(2))]
}

fn bench(c: &mut Criterion) {
    let req = request();
    let buf = req.encode_to_vec();
    assert_eq!(validate_traces(&buf).map(|s| s.spans), Ok(SPANS));
    eprintln!(
        "request: {} bytes, {} bytes/span",
        buf.len(),
        buf.len() / SPANS
    );

    let mut g = c.benchmark_group("traces_512");
    g.throughput(Throughput::Elements(SPANS as u64));

    g.bench_function("validate_traces", |b| {
        b.iter(|| validate_traces(black_box(&buf)).map(|s| s.spans))
    });
    // The receiver's pass: the same, counting attributes and nesting against its limits.
    let limits = lookout_proto::Limits::default();
    g.bench_function("validate_traces_with_limits", |b| {
        b.iter(|| validate_traces_with(black_box(&buf), black_box(&limits)).map(|s| s.spans))
    });
    g.bench_function("prost_decode", |b| {
        b.iter(|| {
            ExportTraceServiceRequest::decode(black_box(&buf[..])).map(|r| r.resource_spans.len())
        })
    });

    g.bench_function("view_iterate", |b| {
        b.iter(|| {
            let mut acc = 0u64;
            for rs in TracesView::new(black_box(&buf)).resource_spans() {
                for ss in rs.unwrap().scope_spans() {
                    for sp in ss.unwrap().spans() {
                        let sp = sp.unwrap();
                        acc = acc.wrapping_add(
                            u64::from(sp.trace_id()[0])
                                + sp.name().len() as u64
                                + sp.start_time_unix_nano()
                                + sp.end_time_unix_nano(),
                        );
                    }
                }
            }
            acc
        })
    });
    g.bench_function("prost_decode_iterate", |b| {
        b.iter(|| {
            let r = ExportTraceServiceRequest::decode(black_box(&buf[..])).unwrap();
            let mut acc = 0u64;
            for sp in r
                .resource_spans
                .iter()
                .flat_map(|r| &r.scope_spans)
                .flat_map(|s| &s.spans)
            {
                acc = acc.wrapping_add(
                    u64::from(sp.trace_id[0])
                        + sp.name.len() as u64
                        + sp.start_time_unix_nano
                        + sp.end_time_unix_nano,
                );
            }
            acc
        })
    });

    // 5% of spans (every 20th) get two attributes.
    let locations: Vec<_> = TracesView::new(&buf)
        .resource_spans()
        .flat_map(|r| r.unwrap().scope_spans().collect::<Vec<_>>())
        .flat_map(|s| s.unwrap().spans().collect::<Vec<_>>())
        .map(|s| s.unwrap().location())
        .collect();
    g.bench_function("append_attributes_5pct", |b| {
        b.iter(|| {
            let edits: Vec<SpanEdit> = locations
                .iter()
                .step_by(20)
                .map(|&location| SpanEdit {
                    location,
                    attributes: tag(),
                })
                .collect();
            append_span_attributes(black_box(&buf), &edits).unwrap()
        })
    });
    g.bench_function("prost_decode_modify_encode_5pct", |b| {
        b.iter(|| {
            let mut r = ExportTraceServiceRequest::decode(black_box(&buf[..])).unwrap();
            for (n, sp) in r
                .resource_spans
                .iter_mut()
                .flat_map(|r| &mut r.scope_spans)
                .flat_map(|s| &mut s.spans)
                .enumerate()
            {
                if n % 20 == 0 {
                    sp.attributes.extend(tag());
                }
            }
            r.encode_to_vec()
        })
    });

    g.bench_function("split_traces_100", |b| {
        b.iter(|| split_traces(black_box(&buf), 100).unwrap())
    });
    g.bench_function("prost_split_100", |b| {
        b.iter(|| {
            // What a tree-based batch processor does: decode, regroup ≤100 spans per request, encode.
            let r = ExportTraceServiceRequest::decode(black_box(&buf[..])).unwrap();
            let mut chunks = Vec::new();
            let mut cur = ExportTraceServiceRequest::default();
            let mut count = 0;
            for rs in r.resource_spans {
                for ss in rs.scope_spans {
                    for sp in ss.spans {
                        if count == 100 {
                            chunks.push(std::mem::take(&mut cur).encode_to_vec());
                            count = 0;
                        }
                        let same_res = cur
                            .resource_spans
                            .last()
                            .is_some_and(|l| l.resource == rs.resource);
                        if !same_res {
                            cur.resource_spans.push(ResourceSpans {
                                resource: rs.resource.clone(),
                                scope_spans: vec![],
                                schema_url: rs.schema_url.clone(),
                            });
                        }
                        let last = cur.resource_spans.last_mut().unwrap();
                        if last.scope_spans.last().is_none_or(|l| l.scope != ss.scope) {
                            last.scope_spans.push(ScopeSpans {
                                scope: ss.scope.clone(),
                                spans: vec![],
                                schema_url: ss.schema_url.clone(),
                            });
                        }
                        last.scope_spans.last_mut().unwrap().spans.push(sp);
                        count += 1;
                    }
                }
            }
            chunks.push(cur.encode_to_vec());
            chunks
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
