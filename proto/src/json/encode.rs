//! prost → OTLP/JSON, written straight into the caller's buffer without an intermediate tree.

use std::io::Write as _;

use crate::otlp::collector::logs::v1::{ExportLogsServiceRequest, ExportLogsServiceResponse};
use crate::otlp::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use crate::otlp::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use crate::otlp::common::v1::{AnyValue, EntityRef, InstrumentationScope, KeyValue, any_value};
use crate::otlp::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use crate::otlp::metrics::v1::{
    Exemplar, ExponentialHistogramDataPoint, HistogramDataPoint, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, SummaryDataPoint, exemplar, exponential_histogram_data_point,
    metric, number_data_point, summary_data_point,
};
use crate::otlp::resource::v1::Resource;
use crate::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span, Status, span};

/// Deepest AnyValue nesting the encoder follows before writing `{}` instead. Only messages
/// built in code can get here (prost's decoder stops at 100 message levels), and the limit
/// exists to keep the recursion from exhausting the stack.
const MAX_ENCODE_DEPTH: usize = 256;

fn write_str(out: &mut Vec<u8>, s: &str) {
    // Writing into a Vec cannot fail, and serializing a &str has no other error path.
    let _ = serde_json::to_writer(&mut *out, s);
}

fn write_display(out: &mut Vec<u8>, n: impl std::fmt::Display) {
    // io::Write for Vec<u8> is infallible.
    let _ = write!(out, "{n}");
}

fn write_f64(out: &mut Vec<u8>, f: f64) {
    if f.is_nan() {
        out.extend_from_slice(b"\"NaN\"");
    } else if f == f64::INFINITY {
        out.extend_from_slice(b"\"Infinity\"");
    } else if f == f64::NEG_INFINITY {
        out.extend_from_slice(b"\"-Infinity\"");
    } else {
        // serde_json prints the shortest representation that parses back to the same bits.
        let _ = serde_json::to_writer(&mut *out, &f);
    }
}

fn write_hex(out: &mut Vec<u8>, bytes: &[u8]) {
    // Arithmetic instead of a digit table: no index to bound-check, same lowercase output.
    fn digit(nibble: u8) -> u8 {
        if nibble < 10 {
            b'0' + nibble
        } else {
            b'a' + (nibble - 10)
        }
    }
    out.push(b'"');
    for b in bytes {
        out.push(digit(b >> 4));
        out.push(digit(b & 0x0f));
    }
    out.push(b'"');
}

/// An open JSON object; members at their proto3 default are left out.
struct Obj<'a> {
    out: &'a mut Vec<u8>,
    empty: bool,
}

impl<'a> Obj<'a> {
    fn new(out: &'a mut Vec<u8>) -> Self {
        out.push(b'{');
        Obj { out, empty: true }
    }

    /// `k` is always one of our static field names, so it never needs escaping.
    fn key(&mut self, k: &str) -> &mut Vec<u8> {
        if !self.empty {
            self.out.push(b',');
        }
        self.empty = false;
        self.out.push(b'"');
        self.out.extend_from_slice(k.as_bytes());
        self.out.extend_from_slice(b"\":");
        self.out
    }

    fn str(&mut self, k: &str, v: &str) {
        if !v.is_empty() {
            write_str(self.key(k), v);
        }
    }

    fn bool(&mut self, k: &str, v: bool) {
        if v {
            self.key(k).extend_from_slice(b"true");
        }
    }

    fn u32(&mut self, k: &str, v: u32) {
        if v != 0 {
            write_display(self.key(k), v);
        }
    }

    fn i32(&mut self, k: &str, v: i32) {
        if v != 0 {
            write_display(self.key(k), v);
        }
    }

    /// 64-bit integers are strings in proto3 JSON so JavaScript readers keep every digit.
    fn u64(&mut self, k: &str, v: u64) {
        if v != 0 {
            let out = self.key(k);
            out.push(b'"');
            write_display(out, v);
            out.push(b'"');
        }
    }

    fn i64(&mut self, k: &str, v: i64) {
        if v != 0 {
            let out = self.key(k);
            out.push(b'"');
            write_display(out, v);
            out.push(b'"');
        }
    }

    fn f64(&mut self, k: &str, v: f64) {
        // -0.0 is omitted too: protobuf's binary encoding also drops it as a default.
        if v != 0.0 || v.is_nan() {
            write_f64(self.key(k), v);
        }
    }

    fn opt_f64(&mut self, k: &str, v: Option<f64>) {
        if let Some(v) = v {
            write_f64(self.key(k), v);
        }
    }

    fn id(&mut self, k: &str, v: &[u8]) {
        if !v.is_empty() {
            write_hex(self.key(k), v);
        }
    }

    fn list<T>(&mut self, k: &str, items: &[T], mut f: impl FnMut(&mut Vec<u8>, &T)) {
        if items.is_empty() {
            return;
        }
        let out = self.key(k);
        out.push(b'[');
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            f(out, item);
        }
        out.push(b']');
    }

    /// Message fields are written whenever present, even if empty, so presence survives a round trip.
    fn msg<T>(&mut self, k: &str, v: Option<&T>, f: impl FnOnce(&mut Vec<u8>, &T)) {
        if let Some(v) = v {
            f(self.key(k), v);
        }
    }

    fn end(self) {
        self.out.push(b'}');
    }
}

fn u64_string(out: &mut Vec<u8>, v: &u64) {
    out.push(b'"');
    write_display(out, v);
    out.push(b'"');
}

fn f64_item(out: &mut Vec<u8>, v: &f64) {
    write_f64(out, *v);
}

// ---- common ----

fn any_value(out: &mut Vec<u8>, v: &AnyValue, depth: usize) {
    let mut o = Obj::new(out);
    if depth <= MAX_ENCODE_DEPTH {
        match &v.value {
            None => {}
            Some(any_value::Value::StringValue(s)) => write_str(o.key("stringValue"), s),
            Some(any_value::Value::BoolValue(b)) => {
                let text: &[u8] = if *b { b"true" } else { b"false" };
                o.key("boolValue").extend_from_slice(text);
            }
            Some(any_value::Value::IntValue(i)) => {
                let out = o.key("intValue");
                out.push(b'"');
                write_display(out, i);
                out.push(b'"');
            }
            Some(any_value::Value::DoubleValue(d)) => write_f64(o.key("doubleValue"), *d),
            Some(any_value::Value::ArrayValue(a)) => {
                let mut inner = Obj::new(o.key("arrayValue"));
                inner.list("values", &a.values, |out, v| any_value(out, v, depth + 1));
                inner.end();
            }
            Some(any_value::Value::KvlistValue(kv)) => {
                let mut inner = Obj::new(o.key("kvlistValue"));
                inner.list("values", &kv.values, |out, v| key_value(out, v, depth + 1));
                inner.end();
            }
            Some(any_value::Value::BytesValue(b)) => {
                use base64::Engine as _;
                let encoded = base64::engine::general_purpose::STANDARD.encode(b);
                write_str(o.key("bytesValue"), &encoded);
            }
            Some(any_value::Value::StringValueStrindex(i)) => {
                write_display(o.key("stringValueStrindex"), i)
            }
        }
    }
    o.end();
}

fn key_value(out: &mut Vec<u8>, kv: &KeyValue, depth: usize) {
    let mut o = Obj::new(out);
    // Always written: a key-value without "key" reads oddly even though "" is the default.
    write_str(o.key("key"), &kv.key);
    o.msg("value", kv.value.as_ref(), |out, v| {
        any_value(out, v, depth)
    });
    o.i32("keyStrindex", kv.key_strindex);
    o.end();
}

fn attribute(out: &mut Vec<u8>, kv: &KeyValue) {
    key_value(out, kv, 1);
}

fn entity_ref(out: &mut Vec<u8>, e: &EntityRef) {
    let mut o = Obj::new(out);
    o.str("schemaUrl", &e.schema_url);
    o.str("type", &e.r#type);
    o.list("idKeys", &e.id_keys, |out, s| write_str(out, s));
    o.list("descriptionKeys", &e.description_keys, |out, s| {
        write_str(out, s)
    });
    o.end();
}

fn resource(out: &mut Vec<u8>, r: &Resource) {
    let mut o = Obj::new(out);
    o.list("attributes", &r.attributes, attribute);
    o.u32("droppedAttributesCount", r.dropped_attributes_count);
    o.list("entityRefs", &r.entity_refs, entity_ref);
    o.end();
}

fn scope(out: &mut Vec<u8>, s: &InstrumentationScope) {
    let mut o = Obj::new(out);
    o.str("name", &s.name);
    o.str("version", &s.version);
    o.list("attributes", &s.attributes, attribute);
    o.u32("droppedAttributesCount", s.dropped_attributes_count);
    o.end();
}

// ---- traces ----

pub(crate) fn traces(req: &ExportTraceServiceRequest, out: &mut Vec<u8>) {
    let mut o = Obj::new(out);
    o.list("resourceSpans", &req.resource_spans, resource_spans);
    o.end();
}

fn resource_spans(out: &mut Vec<u8>, rs: &ResourceSpans) {
    let mut o = Obj::new(out);
    o.msg("resource", rs.resource.as_ref(), resource);
    o.list("scopeSpans", &rs.scope_spans, scope_spans);
    o.str("schemaUrl", &rs.schema_url);
    o.end();
}

fn scope_spans(out: &mut Vec<u8>, ss: &ScopeSpans) {
    let mut o = Obj::new(out);
    o.msg("scope", ss.scope.as_ref(), scope);
    o.list("spans", &ss.spans, span);
    o.str("schemaUrl", &ss.schema_url);
    o.end();
}

fn span(out: &mut Vec<u8>, s: &Span) {
    let mut o = Obj::new(out);
    o.id("traceId", &s.trace_id);
    o.id("spanId", &s.span_id);
    o.str("traceState", &s.trace_state);
    o.id("parentSpanId", &s.parent_span_id);
    o.u32("flags", s.flags);
    o.str("name", &s.name);
    o.i32("kind", s.kind);
    o.u64("startTimeUnixNano", s.start_time_unix_nano);
    o.u64("endTimeUnixNano", s.end_time_unix_nano);
    o.list("attributes", &s.attributes, attribute);
    o.u32("droppedAttributesCount", s.dropped_attributes_count);
    o.list("events", &s.events, event);
    o.u32("droppedEventsCount", s.dropped_events_count);
    o.list("links", &s.links, link);
    o.u32("droppedLinksCount", s.dropped_links_count);
    o.msg("status", s.status.as_ref(), span_status);
    o.end();
}

fn event(out: &mut Vec<u8>, e: &span::Event) {
    let mut o = Obj::new(out);
    o.u64("timeUnixNano", e.time_unix_nano);
    o.str("name", &e.name);
    o.list("attributes", &e.attributes, attribute);
    o.u32("droppedAttributesCount", e.dropped_attributes_count);
    o.end();
}

fn link(out: &mut Vec<u8>, l: &span::Link) {
    let mut o = Obj::new(out);
    o.id("traceId", &l.trace_id);
    o.id("spanId", &l.span_id);
    o.str("traceState", &l.trace_state);
    o.list("attributes", &l.attributes, attribute);
    o.u32("droppedAttributesCount", l.dropped_attributes_count);
    o.u32("flags", l.flags);
    o.end();
}

fn span_status(out: &mut Vec<u8>, s: &Status) {
    let mut o = Obj::new(out);
    o.str("message", &s.message);
    o.i32("code", s.code);
    o.end();
}

// ---- logs ----

pub(crate) fn logs(req: &ExportLogsServiceRequest, out: &mut Vec<u8>) {
    let mut o = Obj::new(out);
    o.list("resourceLogs", &req.resource_logs, resource_logs);
    o.end();
}

fn resource_logs(out: &mut Vec<u8>, rl: &ResourceLogs) {
    let mut o = Obj::new(out);
    o.msg("resource", rl.resource.as_ref(), resource);
    o.list("scopeLogs", &rl.scope_logs, scope_logs);
    o.str("schemaUrl", &rl.schema_url);
    o.end();
}

fn scope_logs(out: &mut Vec<u8>, sl: &ScopeLogs) {
    let mut o = Obj::new(out);
    o.msg("scope", sl.scope.as_ref(), scope);
    o.list("logRecords", &sl.log_records, log_record);
    o.str("schemaUrl", &sl.schema_url);
    o.end();
}

fn log_record(out: &mut Vec<u8>, r: &LogRecord) {
    let mut o = Obj::new(out);
    o.u64("timeUnixNano", r.time_unix_nano);
    o.u64("observedTimeUnixNano", r.observed_time_unix_nano);
    o.i32("severityNumber", r.severity_number);
    o.str("severityText", &r.severity_text);
    o.msg("body", r.body.as_ref(), |out, v| any_value(out, v, 1));
    o.list("attributes", &r.attributes, attribute);
    o.u32("droppedAttributesCount", r.dropped_attributes_count);
    o.u32("flags", r.flags);
    o.id("traceId", &r.trace_id);
    o.id("spanId", &r.span_id);
    o.str("eventName", &r.event_name);
    o.end();
}

// ---- metrics ----

pub(crate) fn metrics(req: &ExportMetricsServiceRequest, out: &mut Vec<u8>) {
    let mut o = Obj::new(out);
    o.list("resourceMetrics", &req.resource_metrics, resource_metrics);
    o.end();
}

fn resource_metrics(out: &mut Vec<u8>, rm: &ResourceMetrics) {
    let mut o = Obj::new(out);
    o.msg("resource", rm.resource.as_ref(), resource);
    o.list("scopeMetrics", &rm.scope_metrics, scope_metrics);
    o.str("schemaUrl", &rm.schema_url);
    o.end();
}

fn scope_metrics(out: &mut Vec<u8>, sm: &ScopeMetrics) {
    let mut o = Obj::new(out);
    o.msg("scope", sm.scope.as_ref(), scope);
    o.list("metrics", &sm.metrics, metric);
    o.str("schemaUrl", &sm.schema_url);
    o.end();
}

fn metric(out: &mut Vec<u8>, m: &Metric) {
    let mut o = Obj::new(out);
    o.str("name", &m.name);
    o.str("description", &m.description);
    o.str("unit", &m.unit);
    o.list("metadata", &m.metadata, attribute);
    match &m.data {
        None => {}
        Some(metric::Data::Gauge(g)) => {
            let mut d = Obj::new(o.key("gauge"));
            d.list("dataPoints", &g.data_points, number_data_point);
            d.end();
        }
        Some(metric::Data::Sum(s)) => {
            let mut d = Obj::new(o.key("sum"));
            d.list("dataPoints", &s.data_points, number_data_point);
            d.i32("aggregationTemporality", s.aggregation_temporality);
            d.bool("isMonotonic", s.is_monotonic);
            d.end();
        }
        Some(metric::Data::Histogram(h)) => {
            let mut d = Obj::new(o.key("histogram"));
            d.list("dataPoints", &h.data_points, histogram_data_point);
            d.i32("aggregationTemporality", h.aggregation_temporality);
            d.end();
        }
        Some(metric::Data::ExponentialHistogram(h)) => {
            let mut d = Obj::new(o.key("exponentialHistogram"));
            d.list(
                "dataPoints",
                &h.data_points,
                exponential_histogram_data_point,
            );
            d.i32("aggregationTemporality", h.aggregation_temporality);
            d.end();
        }
        Some(metric::Data::Summary(s)) => {
            let mut d = Obj::new(o.key("summary"));
            d.list("dataPoints", &s.data_points, summary_data_point);
            d.end();
        }
    }
    o.end();
}

fn number_data_point(out: &mut Vec<u8>, p: &NumberDataPoint) {
    let mut o = Obj::new(out);
    o.list("attributes", &p.attributes, attribute);
    o.u64("startTimeUnixNano", p.start_time_unix_nano);
    o.u64("timeUnixNano", p.time_unix_nano);
    match p.value {
        None => {}
        // A oneof member is written even at its default, otherwise "0" would read back as "no value".
        Some(number_data_point::Value::AsDouble(d)) => write_f64(o.key("asDouble"), d),
        Some(number_data_point::Value::AsInt(i)) => i64_string(o.key("asInt"), i),
    }
    o.list("exemplars", &p.exemplars, exemplar);
    o.u32("flags", p.flags);
    o.end();
}

fn i64_string(out: &mut Vec<u8>, v: i64) {
    out.push(b'"');
    write_display(out, v);
    out.push(b'"');
}

fn histogram_data_point(out: &mut Vec<u8>, p: &HistogramDataPoint) {
    let mut o = Obj::new(out);
    o.list("attributes", &p.attributes, attribute);
    o.u64("startTimeUnixNano", p.start_time_unix_nano);
    o.u64("timeUnixNano", p.time_unix_nano);
    o.u64("count", p.count);
    o.opt_f64("sum", p.sum);
    o.list("bucketCounts", &p.bucket_counts, u64_string);
    o.list("explicitBounds", &p.explicit_bounds, f64_item);
    o.list("exemplars", &p.exemplars, exemplar);
    o.u32("flags", p.flags);
    o.opt_f64("min", p.min);
    o.opt_f64("max", p.max);
    o.end();
}

fn exponential_histogram_data_point(out: &mut Vec<u8>, p: &ExponentialHistogramDataPoint) {
    let mut o = Obj::new(out);
    o.list("attributes", &p.attributes, attribute);
    o.u64("startTimeUnixNano", p.start_time_unix_nano);
    o.u64("timeUnixNano", p.time_unix_nano);
    o.u64("count", p.count);
    o.opt_f64("sum", p.sum);
    o.i32("scale", p.scale);
    o.u64("zeroCount", p.zero_count);
    o.msg("positive", p.positive.as_ref(), buckets);
    o.msg("negative", p.negative.as_ref(), buckets);
    o.u32("flags", p.flags);
    o.list("exemplars", &p.exemplars, exemplar);
    o.opt_f64("min", p.min);
    o.opt_f64("max", p.max);
    o.f64("zeroThreshold", p.zero_threshold);
    o.end();
}

fn buckets(out: &mut Vec<u8>, b: &exponential_histogram_data_point::Buckets) {
    let mut o = Obj::new(out);
    o.i32("offset", b.offset);
    o.list("bucketCounts", &b.bucket_counts, u64_string);
    o.end();
}

fn summary_data_point(out: &mut Vec<u8>, p: &SummaryDataPoint) {
    let mut o = Obj::new(out);
    o.list("attributes", &p.attributes, attribute);
    o.u64("startTimeUnixNano", p.start_time_unix_nano);
    o.u64("timeUnixNano", p.time_unix_nano);
    o.u64("count", p.count);
    o.f64("sum", p.sum);
    o.list("quantileValues", &p.quantile_values, value_at_quantile);
    o.u32("flags", p.flags);
    o.end();
}

fn value_at_quantile(out: &mut Vec<u8>, q: &summary_data_point::ValueAtQuantile) {
    let mut o = Obj::new(out);
    o.f64("quantile", q.quantile);
    o.f64("value", q.value);
    o.end();
}

fn exemplar(out: &mut Vec<u8>, e: &Exemplar) {
    let mut o = Obj::new(out);
    o.list("filteredAttributes", &e.filtered_attributes, attribute);
    o.u64("timeUnixNano", e.time_unix_nano);
    match e.value {
        None => {}
        Some(exemplar::Value::AsDouble(d)) => write_f64(o.key("asDouble"), d),
        Some(exemplar::Value::AsInt(i)) => i64_string(o.key("asInt"), i),
    }
    o.id("spanId", &e.span_id);
    o.id("traceId", &e.trace_id);
    o.end();
}

// ---- responses ----

fn partial_success(out: &mut Vec<u8>, rejected_key: &str, rejected: i64, error_message: &str) {
    let mut o = Obj::new(out);
    o.i64(rejected_key, rejected);
    o.str("errorMessage", error_message);
    o.end();
}

pub(crate) fn trace_response(resp: &ExportTraceServiceResponse, out: &mut Vec<u8>) {
    let mut o = Obj::new(out);
    o.msg("partialSuccess", resp.partial_success.as_ref(), |out, p| {
        partial_success(out, "rejectedSpans", p.rejected_spans, &p.error_message)
    });
    o.end();
}

pub(crate) fn logs_response(resp: &ExportLogsServiceResponse, out: &mut Vec<u8>) {
    let mut o = Obj::new(out);
    o.msg("partialSuccess", resp.partial_success.as_ref(), |out, p| {
        partial_success(
            out,
            "rejectedLogRecords",
            p.rejected_log_records,
            &p.error_message,
        )
    });
    o.end();
}

pub(crate) fn metrics_response(resp: &ExportMetricsServiceResponse, out: &mut Vec<u8>) {
    let mut o = Obj::new(out);
    o.msg("partialSuccess", resp.partial_success.as_ref(), |out, p| {
        partial_success(
            out,
            "rejectedDataPoints",
            p.rejected_data_points,
            &p.error_message,
        )
    });
    o.end();
}

pub(crate) fn status(code: i32, message: &str, out: &mut Vec<u8>) {
    let mut o = Obj::new(out);
    // google.rpc.Status bodies always carry both members; clients look for them unconditionally.
    write_display(o.key("code"), code);
    write_str(o.key("message"), message);
    o.end();
}
