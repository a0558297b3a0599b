//! Routing on crafted requests, built and decoded with prost (independently of the wire code
//! under test).

use std::collections::HashMap;

use lookout_proto::otlp::collector::logs::v1::ExportLogsServiceRequest;
use lookout_proto::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use lookout_proto::otlp::collector::trace::v1::ExportTraceServiceRequest;
use lookout_proto::otlp::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value::Value};
use lookout_proto::otlp::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use lookout_proto::otlp::metrics::v1::{
    Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, metric::Data,
};
use lookout_proto::otlp::resource::v1::Resource;
use lookout_proto::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;

use super::super::ring::Ring;
use super::*;

fn resource(service: &str) -> Option<Resource> {
    Some(Resource {
        attributes: vec![KeyValue {
            key: "service.name".into(),
            value: Some(AnyValue {
                value: Some(Value::StringValue(service.into())),
            }),
            ..KeyValue::default()
        }],
        ..Resource::default()
    })
}

fn scope(name: &str) -> Option<InstrumentationScope> {
    Some(InstrumentationScope {
        name: name.into(),
        ..InstrumentationScope::default()
    })
}

fn tid(n: u64) -> Vec<u8> {
    let mut id = vec![0u8; 16];
    id[..8].copy_from_slice(&n.to_be_bytes());
    id[8..].copy_from_slice(&(!n).to_be_bytes());
    id
}

fn span(trace: u64, id: u64) -> Span {
    Span {
        trace_id: tid(trace),
        span_id: id.to_be_bytes().to_vec(),
        name: format!("op-{id}"),
        ..Span::default()
    }
}

/// Two services, two scopes each, spans of 40 traces spread over them.
fn traces() -> ExportTraceServiceRequest {
    let mut resource_spans = Vec::new();
    let mut id = 0;
    for service in ["checkout", "cart"] {
        let mut scope_spans = Vec::new();
        for lib in ["http", "db"] {
            let spans = (0..40)
                .map(|t| {
                    id += 1;
                    span(t, id)
                })
                .collect();
            scope_spans.push(ScopeSpans {
                scope: scope(lib),
                spans,
                schema_url: "https://opentelemetry.io/schemas/1.26.0".into(),
            });
        }
        resource_spans.push(ResourceSpans {
            resource: resource(service),
            scope_spans,
            schema_url: String::new(),
        });
    }
    ExportTraceServiceRequest { resource_spans }
}

fn ring() -> Ring {
    Ring::new(["a:4317", "b:4317", "c:4317"])
}

fn route_with(signal: Signal, key: RoutingKey, payload: &Bytes, items: usize) -> Vec<Piece> {
    let ring = ring();
    route(signal, key, payload, items, |h| ring.member(h).unwrap()).unwrap()
}

#[test]
fn spans_go_to_their_trace_ids_backend_under_their_resource_and_scope() {
    let request = traces();
    let payload = Bytes::from(request.encode_to_vec());
    let pieces = route_with(Signal::Traces, RoutingKey::TraceId, &payload, 160);
    assert_eq!(pieces.len(), 3, "40 traces reach all three backends");
    let ring = ring();
    let mut seen = 0;
    for piece in &pieces {
        let decoded = ExportTraceServiceRequest::decode(&piece.payload[..]).unwrap();
        let mut count = 0;
        for rs in &decoded.resource_spans {
            let service = rs.resource.as_ref().unwrap().attributes[0].clone();
            for ss in &rs.scope_spans {
                assert!(!ss.spans.is_empty(), "no empty scope levels");
                assert_eq!(ss.schema_url, "https://opentelemetry.io/schemas/1.26.0");
                for s in &ss.spans {
                    count += 1;
                    assert_eq!(ring.member(hash(&s.trace_id)), Some(piece.backend));
                    // Each span keeps the resource and scope it came from.
                    let original = request
                        .resource_spans
                        .iter()
                        .find(|r| r.scope_spans.iter().any(|x| x.spans.contains(s)))
                        .unwrap();
                    assert_eq!(original.resource.as_ref().unwrap().attributes[0], service);
                    let scope_of = original
                        .scope_spans
                        .iter()
                        .find(|x| x.spans.contains(s))
                        .unwrap();
                    assert_eq!(scope_of.scope, ss.scope);
                }
            }
        }
        assert_eq!(piece.items, count);
        seen += count;
    }
    assert_eq!(seen, 160, "every span in exactly one piece");
}

#[test]
fn a_request_for_one_backend_is_forwarded_without_a_copy() {
    let request = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: resource("checkout"),
            scope_spans: vec![ScopeSpans {
                scope: scope("http"),
                spans: (0..5).map(|i| span(7, i)).collect(),
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    };
    let payload = Bytes::from(request.encode_to_vec());
    let pieces = route_with(Signal::Traces, RoutingKey::TraceId, &payload, 5);
    assert_eq!(pieces.len(), 1);
    assert_eq!(
        pieces[0].payload.as_ptr(),
        payload.as_ptr(),
        "the same bytes"
    );
    assert_eq!(pieces[0].items, 5);
}

#[test]
fn logs_follow_their_trace_and_logs_without_one_follow_their_service() {
    let spans = Bytes::from(traces().encode_to_vec());
    let span_backend: HashMap<Vec<u8>, usize> =
        route_with(Signal::Traces, RoutingKey::TraceId, &spans, 160)
            .iter()
            .flat_map(|p| {
                let d = ExportTraceServiceRequest::decode(&p.payload[..]).unwrap();
                d.resource_spans
                    .into_iter()
                    .flat_map(|r| r.scope_spans)
                    .flat_map(|s| s.spans)
                    .map(|s| (s.trace_id, p.backend))
                    .collect::<Vec<_>>()
            })
            .collect();
    // A tailed file: no service.name, records with trace ids and some without.
    let mut records: Vec<LogRecord> = (0..40)
        .map(|t| LogRecord {
            trace_id: tid(t),
            body: Some(AnyValue {
                value: Some(Value::StringValue(format!("line {t}"))),
            }),
            ..LogRecord::default()
        })
        .collect();
    records.extend((0..10).map(|i| LogRecord {
        severity_text: format!("untraced {i}"),
        ..LogRecord::default()
    }));
    let request = ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: resource("worker"),
            scope_logs: vec![ScopeLogs {
                scope: None,
                log_records: records,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    };
    let payload = Bytes::from(request.encode_to_vec());
    let pieces = route_with(Signal::Logs, RoutingKey::TraceId, &payload, 50);
    let untraced_backend = ring().member(hash(b"worker")).unwrap();
    let mut total = 0;
    for piece in &pieces {
        let d = ExportLogsServiceRequest::decode(&piece.payload[..]).unwrap();
        for r in d
            .resource_logs
            .iter()
            .flat_map(|r| &r.scope_logs)
            .flat_map(|s| &s.log_records)
        {
            total += 1;
            if r.trace_id.is_empty() {
                assert_eq!(piece.backend, untraced_backend);
            } else {
                assert_eq!(
                    span_backend[&r.trace_id], piece.backend,
                    "a log meets its spans"
                );
            }
        }
    }
    assert_eq!(total, 50);
}

#[test]
fn routing_by_service_and_metrics_keep_resources_whole() {
    let payload = Bytes::from(traces().encode_to_vec());
    let pieces = route_with(Signal::Traces, RoutingKey::Service, &payload, 160);
    let ring = ring();
    let mut total = 0;
    for piece in &pieces {
        let d = ExportTraceServiceRequest::decode(&piece.payload[..]).unwrap();
        for rs in &d.resource_spans {
            let Some(Value::StringValue(name)) = rs.resource.as_ref().unwrap().attributes[0]
                .value
                .as_ref()
                .and_then(|v| v.value.clone())
            else {
                panic!("service.name")
            };
            assert_eq!(ring.member(hash(name.as_bytes())), Some(piece.backend));
            assert_eq!(rs.scope_spans.len(), 2, "whole resource level");
            total += rs.scope_spans.iter().map(|s| s.spans.len()).sum::<usize>();
        }
    }
    assert_eq!(total, 160);

    let metrics = ExportMetricsServiceRequest {
        resource_metrics: ["api", "web", "db", "queue"]
            .iter()
            .map(|service| ResourceMetrics {
                resource: resource(service),
                scope_metrics: vec![ScopeMetrics {
                    scope: scope("m"),
                    metrics: vec![Metric {
                        name: "up".into(),
                        data: Some(Data::Gauge(Gauge {
                            data_points: vec![NumberDataPoint::default(); 3],
                        })),
                        ..Metric::default()
                    }],
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            })
            .collect(),
    };
    let payload = Bytes::from(metrics.encode_to_vec());
    let pieces = route_with(Signal::Metrics, RoutingKey::TraceId, &payload, 12);
    assert_eq!(pieces.iter().map(|p| p.items).sum::<usize>(), 12);
    for piece in &pieces {
        let d = ExportMetricsServiceRequest::decode(&piece.payload[..]).unwrap();
        for rm in &d.resource_metrics {
            let Some(Value::StringValue(name)) = rm.resource.as_ref().unwrap().attributes[0]
                .value
                .as_ref()
                .and_then(|v| v.value.clone())
            else {
                panic!("service.name")
            };
            assert_eq!(ring.member(hash(name.as_bytes())), Some(piece.backend));
        }
    }
}
