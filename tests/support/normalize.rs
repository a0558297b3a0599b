//! What the sink received, flattened into one JSON object per span, data point or log record,
//! in the shape `tests/python/send.py` prints, so the two can be compared as multisets.
//!
//! Values are tagged with their OTLP type: `{"s": ..}`, `{"b": ..}`, `{"i": ..}`, `{"d": ..}`,
//! `{"a": [..]}`, `{"kv": {..}}`, `{"bytes": hex}`.

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{metric::Data, number_data_point};
use opentelemetry_proto::tonic::resource::v1::Resource;
use serde_json::{Map, Value, json};

/// An `AnyValue`, tagged with its type.
pub(crate) fn any_value(v: Option<&AnyValue>) -> Value {
    use any_value::Value as V;
    match v.and_then(|v| v.value.as_ref()) {
        None => Value::Null,
        Some(V::StringValue(s)) => json!({ "s": s }),
        Some(V::BoolValue(b)) => json!({ "b": b }),
        Some(V::IntValue(i)) => json!({ "i": i }),
        Some(V::DoubleValue(d)) => json!({ "d": d }),
        Some(V::ArrayValue(a)) => {
            json!({ "a": a.values.iter().map(|v| any_value(Some(v))).collect::<Vec<_>>() })
        }
        Some(V::KvlistValue(kv)) => json!({ "kv": attributes(&kv.values) }),
        Some(V::BytesValue(b)) => json!({ "bytes": hex::encode(b) }),
        #[allow(unreachable_patterns)]
        Some(other) => json!({ "unsupported": format!("{other:?}") }),
    }
}

/// Attributes as an object keyed by attribute name.
pub(crate) fn attributes(kvs: &[KeyValue]) -> Value {
    let mut map = Map::new();
    for kv in kvs {
        map.insert(kv.key.clone(), any_value(kv.value.as_ref()));
    }
    Value::Object(map)
}

fn resource(r: Option<&Resource>) -> Value {
    attributes(r.map(|r| &r.attributes[..]).unwrap_or(&[]))
}

fn scope(s: Option<&InstrumentationScope>) -> Value {
    json!({
        "name": s.map(|s| s.name.as_str()).unwrap_or(""),
        "version": s.map(|s| s.version.as_str()).unwrap_or(""),
    })
}

fn id(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

/// One object per span.
pub(crate) fn spans(requests: &[ExportTraceServiceRequest]) -> Vec<Value> {
    let mut out = Vec::new();
    for rs in requests.iter().flat_map(|r| &r.resource_spans) {
        for ss in &rs.scope_spans {
            for s in &ss.spans {
                let status = s.status.as_ref();
                out.push(json!({
                    "trace_id": id(&s.trace_id),
                    "span_id": id(&s.span_id),
                    "parent_span_id": id(&s.parent_span_id),
                    "name": s.name,
                    "kind": s.kind,
                    "start": s.start_time_unix_nano,
                    "end": s.end_time_unix_nano,
                    "attributes": attributes(&s.attributes),
                    "events": s.events.iter().map(|e| json!({
                        "name": e.name,
                        "time": e.time_unix_nano,
                        "attributes": attributes(&e.attributes),
                    })).collect::<Vec<_>>(),
                    "links": s.links.iter().map(|l| json!({
                        "trace_id": id(&l.trace_id),
                        "span_id": id(&l.span_id),
                        "attributes": attributes(&l.attributes),
                    })).collect::<Vec<_>>(),
                    "status": {
                        "code": status.map(|s| s.code).unwrap_or(0),
                        "message": status.map(|s| s.message.as_str()).unwrap_or(""),
                    },
                    "resource": resource(rs.resource.as_ref()),
                    "scope": scope(ss.scope.as_ref()),
                }));
            }
        }
    }
    out
}

fn number(v: Option<&number_data_point::Value>) -> Value {
    match v {
        Some(number_data_point::Value::AsInt(i)) => json!({ "i": i }),
        Some(number_data_point::Value::AsDouble(d)) => json!({ "d": d }),
        None => Value::Null,
    }
}

/// One object per metric data point.
pub(crate) fn points(requests: &[ExportMetricsServiceRequest]) -> Vec<Value> {
    let mut out = Vec::new();
    for rm in requests.iter().flat_map(|r| &r.resource_metrics) {
        for sm in &rm.scope_metrics {
            for m in &sm.metrics {
                let base = |attrs: &[KeyValue], start: u64, time: u64| {
                    json!({
                        "resource": resource(rm.resource.as_ref()),
                        "scope": scope(sm.scope.as_ref()),
                        "metric": m.name,
                        "description": m.description,
                        "unit": m.unit,
                        "attributes": attributes(attrs),
                        "start": start,
                        "time": time,
                    })
                };
                let extend = |mut v: Value, extra: Value| {
                    if let (Some(obj), Value::Object(extra)) = (v.as_object_mut(), extra) {
                        obj.extend(extra);
                    }
                    v
                };
                match &m.data {
                    Some(Data::Sum(sum)) => {
                        for p in &sum.data_points {
                            out.push(extend(
                                base(&p.attributes, p.start_time_unix_nano, p.time_unix_nano),
                                json!({
                                    "kind": "sum",
                                    "monotonic": sum.is_monotonic,
                                    "temporality": sum.aggregation_temporality,
                                    "value": number(p.value.as_ref()),
                                }),
                            ));
                        }
                    }
                    Some(Data::Gauge(gauge)) => {
                        for p in &gauge.data_points {
                            out.push(extend(
                                base(&p.attributes, p.start_time_unix_nano, p.time_unix_nano),
                                json!({ "kind": "gauge", "value": number(p.value.as_ref()) }),
                            ));
                        }
                    }
                    Some(Data::Histogram(h)) => {
                        for p in &h.data_points {
                            out.push(extend(
                                base(&p.attributes, p.start_time_unix_nano, p.time_unix_nano),
                                json!({
                                    "kind": "histogram",
                                    "temporality": h.aggregation_temporality,
                                    "count": p.count,
                                    "sum": p.sum,
                                    "bucket_counts": p.bucket_counts,
                                    "bounds": p.explicit_bounds,
                                    "min": p.min,
                                    "max": p.max,
                                }),
                            ));
                        }
                    }
                    other => out.push(json!({ "unexpected metric data": format!("{other:?}") })),
                }
            }
        }
    }
    out
}

/// One object per log record.
pub(crate) fn log_records(requests: &[ExportLogsServiceRequest]) -> Vec<Value> {
    let mut out = Vec::new();
    for rl in requests.iter().flat_map(|r| &r.resource_logs) {
        for sl in &rl.scope_logs {
            for r in &sl.log_records {
                out.push(json!({
                    "resource": resource(rl.resource.as_ref()),
                    "scope": scope(sl.scope.as_ref()),
                    "time": r.time_unix_nano,
                    "observed_time": r.observed_time_unix_nano,
                    "severity_number": r.severity_number,
                    "severity_text": r.severity_text,
                    "body": any_value(r.body.as_ref()),
                    "attributes": attributes(&r.attributes),
                    "trace_id": id(&r.trace_id),
                    "span_id": id(&r.span_id),
                }));
            }
        }
    }
    out
}

/// A JSON value as text with object keys sorted at every level, so equal values print equally
/// whatever order their keys were inserted in.
pub(crate) fn canonical(v: &Value) -> String {
    fn write(v: &Value, out: &mut String) {
        match v {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                out.push('{');
                for (i, k) in keys.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&Value::String(k.clone()).to_string());
                    out.push(':');
                    write(&map[k], out);
                }
                out.push('}');
            }
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(item, out);
                }
                out.push(']');
            }
            other => out.push_str(&other.to_string()),
        }
    }
    let mut out = String::new();
    write(v, &mut out);
    out
}

/// Asserts that `actual` and `expected` hold the same items, each the same number of times.
pub(crate) fn assert_same_items(what: &str, actual: &[Value], expected: &[Value]) {
    let mut a: Vec<String> = actual.iter().map(canonical).collect();
    let mut e: Vec<String> = expected.iter().map(canonical).collect();
    a.sort();
    e.sort();
    if a != e {
        let missing: Vec<&String> = e.iter().filter(|x| !a.contains(x)).collect();
        let unexpected: Vec<&String> = a.iter().filter(|x| !e.contains(x)).collect();
        panic!(
            "{what}: the sink received {} items, the client emitted {}.\n\
             emitted but not received as sent ({}):\n{}\n\
             received but not emitted ({}):\n{}",
            a.len(),
            e.len(),
            missing.len(),
            missing
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join("\n"),
            unexpected.len(),
            unexpected
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join("\n"),
        );
    }
}
