//! The OTLP protobuf size of the same synthetic data (the reference of the "disk per span <= 1/4
//! of its OTLP size" target): one export request per simulated minute and signal, grouped per
//! resource (service or host) as an SDK or a collector batch sends them.

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, metric, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Status};
use prost::Message;

use crate::workload::{Generator, MinuteData, OPS, SERIES, SERVICES};

fn kv(k: &str, v: any_value::Value) -> KeyValue {
    KeyValue {
        key: k.to_string(),
        value: Some(AnyValue { value: Some(v) }),
        ..Default::default()
    }
}
fn s(v: &str) -> any_value::Value {
    any_value::Value::StringValue(v.to_string())
}
fn resource(name: &str) -> Option<Resource> {
    Some(Resource {
        attributes: vec![
            kv("service.name", s(name)),
            kv("service.version", s("1.4.2")),
            kv("host.name", s(&format!("{name}-7d9f8c6b5-x2x4z"))),
            kv("telemetry.sdk.name", s("opentelemetry")),
            kv("telemetry.sdk.language", s("rust")),
            kv("telemetry.sdk.version", s("0.33.1")),
        ],
        ..Default::default()
    })
}
fn scope() -> Option<InstrumentationScope> {
    Some(InstrumentationScope {
        name: "shop".into(),
        version: "1.0".into(),
        ..Default::default()
    })
}

/// OTLP bytes of one minute's (spans, points, logs).
fn minute_sizes(d: &MinuteData) -> (usize, usize, usize) {
    let mut rs = Vec::new();
    let mut rl = Vec::new();
    for (i, name) in SERVICES.iter().enumerate() {
        let spans = d
            .spans
            .iter()
            .filter(|x| usize::from(x.service) == i)
            .map(|x| opentelemetry_proto::tonic::trace::v1::Span {
                trace_id: x.trace_id.to_vec(),
                span_id: x.span_id.to_vec(),
                parent_span_id: if x.parent == [0; 8] {
                    Vec::new()
                } else {
                    x.parent.to_vec()
                },
                name: OPS[usize::from(x.name)].to_string(),
                kind: i32::from(x.kind),
                start_time_unix_nano: x.start as u64,
                end_time_unix_nano: (x.start + x.dur) as u64,
                attributes: x
                    .attrs
                    .split('\x1f')
                    .filter_map(|a| a.split_once('='))
                    .map(|(k, v)| match v.parse::<i64>() {
                        Ok(n) if k.ends_with("status_code") => kv(k, any_value::Value::IntValue(n)),
                        _ => kv(k, s(v)),
                    })
                    .collect(),
                status: Some(Status {
                    code: i32::from(x.status),
                    ..Default::default()
                }),
                ..Default::default()
            })
            .collect();
        rs.push(ResourceSpans {
            resource: resource(name),
            scope_spans: vec![ScopeSpans {
                scope: scope(),
                spans,
                ..Default::default()
            }],
            ..Default::default()
        });
        let logs = d
            .logs
            .iter()
            .filter(|x| usize::from(x.service) == i)
            .map(|x| LogRecord {
                time_unix_nano: x.ts as u64,
                observed_time_unix_nano: x.ts as u64,
                severity_number: i32::from(x.severity),
                severity_text: if x.severity >= 17 { "ERROR" } else { "INFO" }.into(),
                body: Some(AnyValue {
                    value: Some(s(&x.body)),
                }),
                trace_id: x.trace_id.to_vec(),
                span_id: x.span_id.to_vec(),
                flags: 1,
                ..Default::default()
            })
            .collect();
        rl.push(ResourceLogs {
            resource: resource(name),
            scope_logs: vec![ScopeLogs {
                scope: scope(),
                log_records: logs,
                ..Default::default()
            }],
            ..Default::default()
        });
    }
    // Metrics: 10 hosts x 25 metric names x 8 label sets, one gauge per name and host.
    let mut rm = Vec::new();
    for host in 0..10u32 {
        let mut metrics = Vec::new();
        for name in 0..25u32 {
            let points = d
                .points
                .iter()
                .filter(|p| p.series / 200 == host && (p.series % 200) / 8 == name)
                .map(|p| NumberDataPoint {
                    attributes: vec![
                        kv("device", s(&format!("dev{}", p.series % 4))),
                        kv("state", s(["user", "system"][(p.series % 8 / 4) as usize])),
                    ],
                    start_time_unix_nano: crate::workload::T0 as u64,
                    time_unix_nano: p.ts as u64,
                    value: Some(number_data_point::Value::AsDouble(p.value)),
                    ..Default::default()
                })
                .collect();
            metrics.push(Metric {
                name: format!("system.metric_{name:02}.usage"),
                unit: "By".into(),
                data: Some(metric::Data::Gauge(Gauge {
                    data_points: points,
                })),
                ..Default::default()
            });
        }
        rm.push(ResourceMetrics {
            resource: resource(&format!("host-{host}")),
            scope_metrics: vec![ScopeMetrics {
                scope: scope(),
                metrics,
                ..Default::default()
            }],
            ..Default::default()
        });
    }
    debug_assert_eq!(SERIES, 2000);
    let t = ExportTraceServiceRequest { resource_spans: rs }.encoded_len();
    let m = ExportMetricsServiceRequest {
        resource_metrics: rm,
    }
    .encoded_len();
    let l = ExportLogsServiceRequest { resource_logs: rl }.encoded_len();
    (t, m, l)
}

/// OTLP bytes per (span, point, log) over the first `minutes` minutes of the workload.
pub fn bytes_per_item(spans_total: u64, minutes: i64) -> (f64, f64, f64) {
    let mut g = Generator::new(spans_total);
    let (mut n, mut b) = ((0usize, 0usize, 0usize), (0usize, 0usize, 0usize));
    for m in 0..minutes {
        let d = g.minute(m);
        let (t, p, l) = minute_sizes(&d);
        b = (b.0 + t, b.1 + p, b.2 + l);
        n = (
            n.0 + d.spans.len(),
            n.1 + d.points.len(),
            n.2 + d.logs.len(),
        );
    }
    (
        b.0 as f64 / n.0 as f64,
        b.1 as f64 / n.1 as f64,
        b.2 as f64 / n.2 as f64,
    )
}
