//! What the store keeps of each item: a span summary, a log record, a metric point, decoded
//! from an OTLP export request.

use prost::Message;
use serde_json::Value as Json;

use lookout_proto::otlp::collector::{logs, metrics, trace};
use lookout_proto::otlp::common::v1::{AnyValue, KeyValue, any_value};
use lookout_proto::otlp::metrics::v1::metric;

use super::events::{self, EventRow};
use crate::core::Signal;

/// Attributes whose key starts with this are the latency detector's verdict, kept apart.
const VERDICT_PREFIX: &str = "lookout.latency.";

/// One span, as the trace views need it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SpanRow {
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
    /// All zeroes for a root span.
    pub parent: [u8; 8],
    pub service: String,
    pub name: String,
    /// OTLP `SpanKind`.
    pub kind: u8,
    /// Unix nanoseconds.
    pub start: i64,
    /// Nanoseconds.
    pub dur: i64,
    /// OTLP status code: 0 unset, 1 ok, 2 error.
    pub status: u8,
    /// The `lookout.latency.*` attributes, a JSON object.
    pub verdict: String,
    /// The other span attributes, a JSON object.
    pub attrs: String,
}

/// One log record.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LogRow {
    /// Unix nanoseconds (the observed time when the record has no time).
    pub ts: i64,
    /// All zeroes when the record names no trace.
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
    pub service: String,
    pub severity: u8,
    pub severity_text: String,
    pub body: String,
    /// A JSON object.
    pub attrs: String,
}

/// One metric value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PointRow {
    /// [`series_id`] of `name` and `labels`.
    pub series: u64,
    pub name: String,
    /// Resource and point attributes, a JSON object with sorted keys.
    pub labels: String,
    /// Unix nanoseconds.
    pub ts: i64,
    pub value: f64,
}

/// The rows of one batch.
#[derive(Debug, Default)]
pub(crate) struct Rows {
    pub spans: Vec<SpanRow>,
    pub logs: Vec<LogRow>,
    pub points: Vec<PointRow>,
    /// The log records that are events (also in `logs`): `events.rs`.
    pub events: Vec<EventRow>,
}

/// A batch that is not the OTLP it claims to be.
#[derive(Debug, thiserror::Error)]
#[error("cannot decode the {signal} batch: {source}")]
pub(crate) struct DecodeError {
    signal: &'static str,
    source: prost::DecodeError,
}

/// Decodes one export request of `signal`.
pub(crate) fn decode(signal: Signal, payload: &[u8]) -> Result<Rows, DecodeError> {
    let bad = |source| DecodeError {
        signal: signal.as_str(),
        source,
    };
    let mut rows = Rows::default();
    match signal {
        Signal::Traces => {
            let req = trace::v1::ExportTraceServiceRequest::decode(payload).map_err(bad)?;
            spans(req, &mut rows.spans);
        }
        Signal::Logs => {
            let req = logs::v1::ExportLogsServiceRequest::decode(payload).map_err(bad)?;
            log_records(req, &mut rows.logs, &mut rows.events);
        }
        Signal::Metrics => {
            let req = metrics::v1::ExportMetricsServiceRequest::decode(payload).map_err(bad)?;
            points(&req, &mut rows.points);
        }
    }
    Ok(rows)
}

fn ns(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn id<const N: usize>(bytes: &[u8]) -> [u8; N] {
    bytes.try_into().unwrap_or([0; N])
}

fn service_of(attributes: &[KeyValue]) -> String {
    attributes
        .iter()
        .find(|kv| kv.key == "service.name")
        .map(|kv| text(kv.value.as_ref()))
        .unwrap_or_else(|| "unknown_service".to_string())
}

/// The spans of `req`, their strings moved out of it rather than copied.
fn spans(req: trace::v1::ExportTraceServiceRequest, out: &mut Vec<SpanRow>) {
    out.reserve(
        req.resource_spans
            .iter()
            .flat_map(|rs| &rs.scope_spans)
            .map(|ss| ss.spans.len())
            .sum(),
    );
    for rs in req.resource_spans {
        let service = service_of(rs.resource.as_ref().map_or(&[][..], |r| &r.attributes));
        for ss in rs.scope_spans {
            for span in ss.spans {
                let (verdict, attrs): (Vec<&KeyValue>, Vec<&KeyValue>) = span
                    .attributes
                    .iter()
                    .partition(|kv| kv.key.starts_with(VERDICT_PREFIX));
                let start = ns(span.start_time_unix_nano);
                out.push(SpanRow {
                    trace_id: id(&span.trace_id),
                    span_id: id(&span.span_id),
                    parent: id(&span.parent_span_id),
                    service: service.clone(),
                    name: span.name,
                    kind: u8::try_from(span.kind).unwrap_or(0),
                    start,
                    dur: ns(span.end_time_unix_nano).saturating_sub(start).max(0),
                    status: span
                        .status
                        .as_ref()
                        .map_or(0, |s| u8::try_from(s.code).unwrap_or(0)),
                    verdict: object_text(verdict.into_iter()),
                    attrs: object_text(attrs.into_iter()),
                });
            }
        }
    }
}

/// The log records of `req`, their strings moved out of it rather than copied.
fn log_records(
    req: logs::v1::ExportLogsServiceRequest,
    out: &mut Vec<LogRow>,
    events: &mut Vec<EventRow>,
) {
    for rl in req.resource_logs {
        let service = service_of(rl.resource.as_ref().map_or(&[][..], |r| &r.attributes));
        for sl in rl.scope_logs {
            for rec in sl.log_records {
                let ts = if rec.time_unix_nano != 0 {
                    rec.time_unix_nano
                } else {
                    rec.observed_time_unix_nano
                };
                let attrs = object_text(rec.attributes.iter());
                let row = LogRow {
                    ts: ns(ts),
                    trace_id: id(&rec.trace_id),
                    span_id: id(&rec.span_id),
                    service: service.clone(),
                    severity: u8::try_from(rec.severity_number).unwrap_or(0),
                    severity_text: rec.severity_text,
                    body: into_text(rec.body),
                    attrs,
                };
                if events::is_event(&rec.event_name) {
                    events.push(EventRow {
                        ts: row.ts,
                        name: rec.event_name,
                        service: row.service.clone(),
                        trace_id: row.trace_id,
                        body: row.body.clone(),
                        attrs: row.attrs.clone(),
                    });
                }
                out.push(row);
            }
        }
    }
}

fn points(req: &metrics::v1::ExportMetricsServiceRequest, out: &mut Vec<PointRow>) {
    for rm in &req.resource_metrics {
        let resource = rm.resource.as_ref().map_or(&[][..], |r| &r.attributes);
        for sm in &rm.scope_metrics {
            for m in &sm.metrics {
                let mut push = |name: String, attrs: &[KeyValue], ts: u64, value: f64| {
                    let labels = labels(resource, attrs);
                    out.push(PointRow {
                        series: series_id(&name, &labels),
                        name,
                        labels,
                        ts: ns(ts),
                        value,
                    });
                };
                let number = |p: &lookout_proto::otlp::metrics::v1::NumberDataPoint| {
                    use lookout_proto::otlp::metrics::v1::number_data_point::Value;
                    match p.value {
                        Some(Value::AsDouble(d)) => d,
                        Some(Value::AsInt(i)) => i as f64,
                        None => f64::NAN,
                    }
                };
                match &m.data {
                    Some(metric::Data::Gauge(g)) => {
                        for p in &g.data_points {
                            push(m.name.clone(), &p.attributes, p.time_unix_nano, number(p));
                        }
                    }
                    Some(metric::Data::Sum(s)) => {
                        for p in &s.data_points {
                            push(m.name.clone(), &p.attributes, p.time_unix_nano, number(p));
                        }
                    }
                    Some(metric::Data::Histogram(h)) => {
                        for p in &h.data_points {
                            let t = p.time_unix_nano;
                            push(
                                format!("{}_count", m.name),
                                &p.attributes,
                                t,
                                p.count as f64,
                            );
                            push(
                                format!("{}_sum", m.name),
                                &p.attributes,
                                t,
                                p.sum.unwrap_or(f64::NAN),
                            );
                        }
                    }
                    Some(metric::Data::ExponentialHistogram(h)) => {
                        for p in &h.data_points {
                            let t = p.time_unix_nano;
                            push(
                                format!("{}_count", m.name),
                                &p.attributes,
                                t,
                                p.count as f64,
                            );
                            push(
                                format!("{}_sum", m.name),
                                &p.attributes,
                                t,
                                p.sum.unwrap_or(f64::NAN),
                            );
                        }
                    }
                    Some(metric::Data::Summary(s)) => {
                        for p in &s.data_points {
                            let t = p.time_unix_nano;
                            push(
                                format!("{}_count", m.name),
                                &p.attributes,
                                t,
                                p.count as f64,
                            );
                            push(format!("{}_sum", m.name), &p.attributes, t, p.sum);
                        }
                    }
                    None => {}
                }
            }
        }
    }
    // NaN values (a histogram without a sum) say nothing: not kept.
    out.retain(|p| !p.value.is_nan());
}

/// Resource attributes then point attributes (which win on a clash), keys sorted.
fn labels(resource: &[KeyValue], attrs: &[KeyValue]) -> String {
    object_text(resource.iter().chain(attrs))
}

/// A series' identity: FNV-1a over its name and labels (stable across versions and runs).
pub(crate) fn series_id(name: &str, labels: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes().chain([0]).chain(labels.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// `object(kvs).to_string()` (a JSON object, keys sorted, the last of equal keys kept),
/// written directly when every value is a string, a boolean, an integer or empty (the
/// common case) instead of through a `Json` tree of copied keys and values.
fn object_text<'a>(kvs: impl Iterator<Item = &'a KeyValue>) -> String {
    let mut kvs: Vec<&KeyValue> = kvs.collect();
    if !kvs.iter().all(|kv| scalar(kv.value.as_ref())) {
        return object(kvs.into_iter()).to_string();
    }
    // Stable: of equal keys the last given stays last, and is the one kept.
    kvs.sort_by(|a, b| a.key.cmp(&b.key));
    let mut out: Vec<u8> = Vec::with_capacity(2 + kvs.len() * 32);
    out.push(b'{');
    for (i, kv) in kvs.iter().enumerate() {
        if kvs.get(i + 1).is_some_and(|next| next.key == kv.key) {
            continue;
        }
        if out.len() > 1 {
            out.push(b',');
        }
        push_json_str(&mut out, &kv.key);
        out.push(b':');
        match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
            Some(any_value::Value::StringValue(s)) => push_json_str(&mut out, s),
            Some(any_value::Value::BoolValue(b)) => {
                out.extend_from_slice(if *b { b"true" } else { b"false" })
            }
            Some(any_value::Value::IntValue(i)) => out.extend_from_slice(i.to_string().as_bytes()),
            _ => out.extend_from_slice(b"null"),
        }
    }
    out.push(b'}');
    // Only UTF-8 went in (keys and strings are `String`s, the rest ASCII).
    String::from_utf8(out).unwrap_or_default()
}

/// Whether [`object_text`] writes this value itself.
fn scalar(value: Option<&AnyValue>) -> bool {
    matches!(
        value.and_then(|v| v.value.as_ref()),
        None | Some(
            any_value::Value::StringValue(_)
                | any_value::Value::BoolValue(_)
                | any_value::Value::IntValue(_)
                | any_value::Value::StringValueStrindex(_)
        )
    )
}

/// `s` as a JSON string, escaped as `serde_json` escapes it.
fn push_json_str(out: &mut Vec<u8>, s: &str) {
    // Writing to a Vec cannot fail, and a &str always serializes.
    let _ = serde_json::to_writer(&mut *out, s);
}

fn object<'a>(kvs: impl Iterator<Item = &'a KeyValue>) -> Json {
    Json::Object(
        kvs.map(|kv| (kv.key.clone(), kv.value.as_ref().map_or(Json::Null, json)))
            .collect(),
    )
}

/// [`text`], a string moved rather than copied.
fn into_text(value: Option<AnyValue>) -> String {
    match value {
        Some(AnyValue {
            value: Some(any_value::Value::StringValue(s)),
        }) => s,
        other => text(other.as_ref()),
    }
}

/// An attribute's value as text (strings unquoted, composites as JSON).
fn text(value: Option<&AnyValue>) -> String {
    match value.and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        None => String::new(),
        Some(_) => value.map_or(Json::Null, json).to_string(),
    }
}

fn json(value: &AnyValue) -> Json {
    match &value.value {
        Some(any_value::Value::StringValue(s)) => Json::String(s.clone()),
        Some(any_value::Value::BoolValue(b)) => Json::Bool(*b),
        Some(any_value::Value::IntValue(i)) => Json::from(*i),
        Some(any_value::Value::DoubleValue(d)) => Json::from(*d),
        Some(any_value::Value::BytesValue(b)) => Json::String(hex::encode(b)),
        Some(any_value::Value::ArrayValue(a)) => Json::Array(a.values.iter().map(json).collect()),
        Some(any_value::Value::KvlistValue(kv)) => object(kv.values.iter()),
        Some(any_value::Value::StringValueStrindex(_)) | None => Json::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(key: &str, value: Option<any_value::Value>) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: value.map(|v| AnyValue { value: Some(v) }),
            ..Default::default()
        }
    }

    #[test]
    fn object_text_writes_what_the_json_tree_writes() {
        use any_value::Value as V;
        let s = |v: &str| Some(V::StringValue(v.into()));
        let cases: Vec<Vec<KeyValue>> = vec![
            vec![],
            vec![kv("b", s("2")), kv("a", s("1"))],
            // Equal keys: the last wins, wherever they are.
            vec![kv("k", s("first")), kv("a", None), kv("k", s("last"))],
            vec![
                kv("q\"uote\n", s("tab\t \u{1} é \u{1F600} </")),
                kv("n", Some(V::IntValue(-42))),
                kv("t", Some(V::BoolValue(true))),
                kv("f", Some(V::BoolValue(false))),
                kv("e", Some(V::StringValueStrindex(3))),
                kv("", None),
            ],
            // Not all scalar: the tree writes it.
            vec![kv("d", Some(V::DoubleValue(1.5))), kv("a", s("x"))],
            vec![kv("b", Some(V::BytesValue(vec![1, 255])))],
        ];
        for kvs in cases {
            let want = object(kvs.iter()).to_string();
            assert_eq!(object_text(kvs.iter()), want, "{kvs:?}");
        }
    }
}
